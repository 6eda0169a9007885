"""The HTTP API (``modeltrail serve``): a thin FastAPI layer over the library.

Every route authenticates with ``Authorization: Bearer <token>`` (tokens from ``modeltrail token
create``; only their hashes are stored) except ``/v1/health`` and the OpenAPI document. Authorisation is
the library's: the same roles, four-eyes and kill-switch rules as the CLI. Errors are JSON with a
message naming the field; internal errors return only an id that is logged server-side.
"""

import logging
import threading
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from .. import __version__
from ..errors import (
    ApprovalError,
    GateFailedError,
    LifecycleError,
    ModeltrailError,
    NotFoundError,
    PermissionDeniedError,
    SuspendedError,
    ValidationError,
)
from ..events import EventInput
from ..identity import Identity, resolve_identity
from ..trail import Trail, open_trail

log = logging.getLogger("modeltrail.server")

DEFAULT_MAX_BODY = 10 * 1024 * 1024
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Unauthorized(Exception):
    pass


class _BodyTooLarge(Exception):
    pass


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
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await _too_large(send, self.limit)


async def _too_large(send: Send, limit: int) -> None:
    body = orjson.dumps({"error": f"request body over the limit of {limit} bytes"})
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------------------- models


class EventIn(BaseModel):
    """One event to append; the actor defaults to the authenticated identity."""

    type: str
    system: str
    subject: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    refs: list[str] = Field(default_factory=list)
    actor: dict[str, str] | None = None


class EventBatch(BaseModel):
    """A batch appended atomically."""

    events: list[EventIn]


class ReceiptOut(BaseModel):
    """Acknowledgement of a durable append."""

    seq: int
    leaf_hash: str
    ts: str


class BatchOut(BaseModel):
    """Receipts of a batch, in order."""

    receipts: list[ReceiptOut]


class PredictIn(BaseModel):
    """One input (``features``) or several (``rows``), with optional data-subject references."""

    features: dict[str, Any] | None = None
    rows: list[dict[str, Any]] | None = None
    subject: str | None = None
    subjects: list[str | None] | None = None
    env: str = "production"


class LabelIn(BaseModel):
    """Ground truth for one decision."""

    decision_id: str
    actual: Any


class LabelsIn(BaseModel):
    """Ground truth for several decisions."""

    labels: list[LabelIn]


class ReviewIn(BaseModel):
    """A human review: accept, or override with a value; a reason is required."""

    accept: bool | None = None
    override: Any = None
    reason: str


class KillIn(BaseModel):
    """Suspend or resume a model (or one version) in an environment."""

    env: str
    reason: str
    version: int | None = None


# ------------------------------------------------------------------------------------------ app


def create_app(trail_location: str | None = None, *, max_body_bytes: int = DEFAULT_MAX_BODY) -> Any:
    """Build the ASGI app serving the trail at ``trail_location`` (default: as ``modeltrail.open``)."""
    app = FastAPI(
        title="modeltrail",
        version=__version__,
        description="Tamper-evident audit trail for machine-learning systems: events, proofs, oversight.",
    )
    state: dict[str, Any] = {"trail": None, "guards": {}}
    lock = threading.RLock()

    def trail() -> Trail:
        with lock:
            if state["trail"] is None:
                state["trail"] = open_trail(trail_location)
            t: Trail = state["trail"]
            return t

    def policy_or_none(system: str | None = None) -> Any:
        from ..registry import current_policy

        try:
            return current_policy(trail(), system)
        except NotFoundError:
            return None

    def identity(request: Request) -> Identity:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Unauthorized("missing bearer token")
        try:
            return resolve_identity(trail(), policy_or_none(), token=token.strip())
        except PermissionDeniedError as exc:
            raise _Unauthorized(str(exc)) from None

    Auth = Annotated[Identity, Depends(identity)]

    @app.exception_handler(_Unauthorized)
    async def unauthorized(_: Request, exc: _Unauthorized) -> JSONResponse:
        return JSONResponse({"error": f"authentication required: {exc}"}, 401, {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse({"error": first.get("msg", "invalid request"), "field": field or None}, 422)

    @app.exception_handler(ModeltrailError)
    async def library_error(_: Request, exc: ModeltrailError) -> JSONResponse:
        status = 400
        if isinstance(exc, ValidationError):
            return JSONResponse({"error": exc.reason, "field": exc.field}, 422)
        if isinstance(exc, PermissionDeniedError):
            status = 403
        elif isinstance(exc, NotFoundError):
            status = 404
        elif isinstance(exc, ApprovalError | GateFailedError | LifecycleError):
            status = 409
        elif isinstance(exc, SuspendedError):
            status = 503
        return JSONResponse({"error": str(exc)}, status)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex
        log.exception("internal error %s on %s %s", error_id, request.method, request.url.path)
        return JSONResponse({"error": "internal error", "id": error_id}, 500)

    # -- health ----------------------------------------------------------------------------------

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        """Liveness: the trail opens and reports its size (no authentication)."""
        return {"status": "ok", "version": __version__, "size": trail().size()}

    # -- events -----------------------------------------------------------------------------------

    @app.post("/v1/events", response_model=BatchOut)
    async def ingest(request: Request, who: Auth) -> Response:
        """Append a batch of events atomically (all or none); each returns once durable."""
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise ValidationError(f"expected a JSON object: {exc}", field="body") from None
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            raise ValidationError("expected {'events': [ … ]}", field="events")
        actor = who.acting_as()
        inputs = []
        for i, e in enumerate(body["events"]):
            if not isinstance(e, dict):
                raise ValidationError("expected an event object", field=f"events[{i}]")
            claimed = e.get("actor")
            if claimed is not None and (not isinstance(claimed, dict) or claimed.get("id") != who.user_id):
                raise PermissionDeniedError(f"events[{i}].actor: you may only record events as {who.user_id}")
            for key in ("type", "system"):
                if key not in e:
                    raise ValidationError("is required", field=f"events[{i}].{key}")
            unknown = set(e) - {"type", "system", "subject", "payload", "refs", "actor"}
            if unknown:
                raise ValidationError(f"unknown keys {sorted(unknown)}", field=f"events[{i}]")
            inputs.append(EventInput(e["type"], e["system"], actor, e.get("subject"), e.get("payload"), e.get("refs")))
        receipts = trail().record_many(inputs)
        out = {"receipts": [{"seq": r.seq, "leaf_hash": r.leaf_hash, "ts": r.ts} for r in receipts]}
        return Response(orjson.dumps(out), media_type="application/json")

    @app.get("/v1/events")
    def list_events(
        who: Auth,
        type: str | None = None,
        subject: str | None = None,
        after_seq: int = -1,
        limit: int = 100,
    ) -> dict[str, Any]:
        """Events in seq order after ``after_seq`` (page with the last seq returned)."""
        limit = max(1, min(limit, 1000))
        events = list(trail().events(type, subject=subject, after_seq=after_seq, limit=limit))
        return {
            "events": [{"seq": e.seq, "leaf_hash": e.leaf_hash.hex(), "event": e.to_dict()} for e in events],
            "next_after_seq": events[-1].seq if events else None,
        }

    @app.get("/v1/events/{seq}")
    def get_event(seq: int, who: Auth) -> dict[str, Any]:
        """One event with its leaf hash."""
        e = trail().get_event(seq)
        return {"seq": e.seq, "leaf_hash": e.leaf_hash.hex(), "event": e.to_dict()}

    # -- checkpoints, proofs, verification -------------------------------------------------------------

    @app.post("/v1/checkpoint")
    def checkpoint(who: Auth) -> dict[str, Any]:
        """Sign a checkpoint of the current tree head."""
        cp = trail().checkpoint()
        return {"id": cp.id, "size": cp.size, "root": cp.root.hex(), "note": cp.note, "ts": cp.ts}

    @app.get("/v1/checkpoint/latest")
    def latest_checkpoint(who: Auth) -> dict[str, Any]:
        """The latest signed checkpoint."""
        cp = trail().latest_checkpoint()
        if cp is None:
            raise NotFoundError("no checkpoint yet")
        return {"id": cp.id, "size": cp.size, "root": cp.root.hex(), "note": cp.note, "ts": cp.ts}

    @app.get("/v1/proofs/inclusion/{seq}")
    def inclusion(seq: int, who: Auth, size: int | None = None) -> dict[str, Any]:
        """RFC 9162 inclusion proof of event ``seq`` (default: against the latest checkpoint)."""
        if size is not None and size < 1:
            raise ValidationError("expected a tree size of at least 1", field="size")
        result: dict[str, Any] = trail().inclusion_proof(seq, size)
        return result

    @app.get("/v1/proofs/consistency")
    def consistency(old: int, who: Auth, new: int | None = None) -> dict[str, Any]:
        """RFC 9162 consistency proof between two tree sizes."""
        result: dict[str, Any] = trail().consistency_proof(old, new)
        return result

    @app.get("/v1/verify")
    def verify(who: Auth) -> dict[str, Any]:
        """Recompute and check every event, node, checkpoint root and signature."""
        result: dict[str, Any] = trail().verify().to_dict()
        return result

    # -- serving and oversight --------------------------------------------------------------------

    def guard_for(name: str, version: int, env: str, who: Identity) -> Any:
        from ..runtime.guard import guard

        key = (name, version, env, who.user_id)
        with lock:
            g = state["guards"].get(key)
            if g is None:
                g = guard(trail(), f"{name}@{version}", env=env, actor=who.acting_as())
                state["guards"][key] = g
            return g

    @app.post("/v1/models/{name}/{version}/predict")
    def predict(name: str, version: int, body: PredictIn, who: Auth) -> dict[str, Any]:
        """Decide through the guard (data policy, review routing, kill switch); every decision is logged."""
        g = guard_for(name, version, body.env, who)
        if body.features is not None:
            decisions = [g.decide(body.features, subject=body.subject)]
        elif body.rows:
            decisions = g.decide_many(body.rows, subjects=body.subjects)
        else:
            raise ValidationError("give 'features' or a non-empty 'rows'", field="features")
        for d in decisions[-1:]:
            d.durable(timeout=30)
        return {"decisions": [orjson.loads(orjson.dumps(d.to_dict(), default=str)) for d in decisions]}

    @app.post("/v1/labels")
    def labels(body: LabelsIn, who: Auth) -> dict[str, Any]:
        """Ground-truth labels for earlier decisions."""
        from ..runtime.oversight import label

        receipts = [label(trail(), lab.decision_id, lab.actual, actor=who.acting_as()) for lab in body.labels]
        return {"receipts": [{"seq": r.seq, "leaf_hash": r.leaf_hash, "ts": r.ts} for r in receipts]}

    @app.get("/v1/review")
    def review_list(who: Auth, model: str | None = None, status: str = "pending", limit: int = 100) -> dict[str, Any]:
        """The human-review queue."""
        from ..runtime.oversight import review_queue

        items = review_queue(trail(), model=model, status=status)[: max(1, min(limit, 1000))]
        return {"items": [i.to_dict() for i in items]}

    @app.post("/v1/review/{decision_id}")
    def review_decide(decision_id: str, body: ReviewIn, who: Auth) -> dict[str, Any]:
        """Accept or override a routed decision (humans only)."""
        from ..runtime.oversight import review

        if who.kind != "human":
            raise PermissionDeniedError("reviews are made by people, not by services")
        if (body.accept is None) == (body.override is None):
            raise ValidationError("give either accept=true or an override value", field="accept")
        kw: dict[str, Any] = {"accept": True} if body.accept else {"override": body.override}
        r = review(trail(), decision_id, actor=who.acting_as(), reason=body.reason, **kw)
        return {"seq": r.seq, "leaf_hash": r.leaf_hash, "ts": r.ts}

    def kill(action: str, name: str, body: KillIn, who: Identity) -> dict[str, Any]:
        from ..registry import resume, suspend

        ref = name if body.version is None else f"{name}@{body.version}"
        fn = suspend if action == "suspend" else resume
        r = fn(trail(), ref, body.env, actor=who, reason=body.reason)
        return {"seq": r.seq, "leaf_hash": r.leaf_hash, "ts": r.ts}

    @app.post("/v1/models/{name}/suspend")
    def suspend_model(name: str, body: KillIn, who: Auth) -> dict[str, Any]:
        """Kill switch: every guard of the model falls back within a second (roles.suspend)."""
        return kill("suspend", name, body, who)

    @app.post("/v1/models/{name}/resume")
    def resume_model(name: str, body: KillIn, who: Auth) -> dict[str, Any]:
        """Resume a suspended model (roles.resume)."""
        return kill("resume", name, body, who)

    return BodyLimit(app, max_body_bytes) if max_body_bytes else app


def fastapi_app(app: Any) -> FastAPI:
    """The FastAPI object inside what :func:`create_app` returns (for its OpenAPI document)."""
    inner = app.app if isinstance(app, BodyLimit) else app
    assert isinstance(inner, FastAPI)
    return inner
