"""The HTTP API (``modeltrail serve``): a thin FastAPI layer over the library.

The oversight console (:mod:`modeltrail.server.console`) is served at ``/`` beside the API, with its own
sign-in (sessions, not bearer tokens). Every API route authenticates with ``Authorization: Bearer <token>``
(tokens from ``modeltrail token create``; only their hashes are stored) except ``/v1/health`` and the
OpenAPI document. Authorisation is the library's: the same roles, four-eyes and kill-switch rules as the
CLI. Errors are JSON (``{"error": …, "field": …}``) with a message naming the field; internal errors
return only an id that is logged server-side.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, ClassVar, Literal

import orjson
from fastapi import FastAPI

from ..errors import ModeltrailError
from ..version import __version__
from . import console, errors
from .models import ErrorOut
from .routes import ROUTERS
from .state import AppState

DEFAULT_MAX_BODY = 10 * 1024 * 1024
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _BodyTooLarge(ModeltrailError):
    """A streamed (chunked) body passed the limit while the app read it.

    A library error with status 413, so that the app's error handler answers 413 when the route is the
    one reading (a plain exception would become a 500 there); raised before the app, the middleware answers.
    """

    http_status: ClassVar[int] = 413


class BodyLimit:
    """ASGI middleware: 413 before the app reads more than ``limit`` bytes (declared or streamed)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _too_large(send, self.limit)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge(f"request body over the limit of {self.limit} bytes")
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await _too_large(send, self.limit)


async def _too_large(send: Send, limit: int) -> None:
    body = orjson.dumps({"error": f"request body over the limit of {limit} bytes"})
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------------------------------ app


def create_app(
    trail_location: str | None = None,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    decision_writer: Literal["thread", "process"] = "thread",
) -> Any:
    """Build the ASGI app serving the trail at ``trail_location`` (default: as ``modeltrail.open``).

    ``decision_writer`` chooses how the predictions' decisions reach the ledger: the logger's writer
    thread, or a child process (``DecisionLogger(writer="process")``, smaller latency tail).
    The routes live in :mod:`modeltrail.server.routes` (one router per area), their shared state in
    :class:`~modeltrail.server.state.AppState` and the error responses in :mod:`modeltrail.server.errors`.
    """
    state = AppState(trail_location, decision_writer)
    app = FastAPI(
        # /docs is served by the console from vendored Swagger UI assets (works offline); no ReDoc (CDN only).
        docs_url=None,
        redoc_url=None,
        title="modeltrail",
        version=__version__,
        description="Tamper-evident audit trail for machine-learning systems: events, proofs, oversight.",
        responses={
            "4XX": {"model": ErrorOut, "description": "Refused: what is wrong and, for invalid input, the field"},
            "5XX": {"model": ErrorOut, "description": "Internal error (an id to find the log entry), or 503 suspended"},
        },
    )
    app.state.modeltrail = state
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    console.install(app)
    return BodyLimit(app, max_body_bytes) if max_body_bytes else app


def fastapi_app(app: Any) -> FastAPI:
    """The FastAPI object inside what :func:`create_app` returns (for its OpenAPI document)."""
    inner = app.app if isinstance(app, BodyLimit) else app
    assert isinstance(inner, FastAPI)
    return inner
