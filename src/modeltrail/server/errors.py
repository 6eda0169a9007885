"""Errors as JSON responses: one handler per kind, the status of library errors from the error class.

A :class:`~modeltrail.errors.ModeltrailError` answers with its class's ``http_status`` (422 with the
field for invalid input, 403, 404, 409, 503, else 400); unknown paths and methods, request-validation
failures and missing tokens answer in the same ``{"error": …, "field": …}`` shape; anything else is a
500 with only an id, the details going to the server log.
"""

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ModeltrailError, ValidationError
from .deps import Unauthorized

log = logging.getLogger("modeltrail.server")


async def unauthorized(_: Request, exc: Exception) -> JSONResponse:
    """401 with the reason and the scheme to use."""
    return JSONResponse({"error": f"authentication required: {exc}"}, 401, {"WWW-Authenticate": "Bearer"})


async def http_error(_: Request, exc: Exception) -> JSONResponse:
    """Unknown paths (404) and methods (405), in the same JSON shape as every other error."""
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse({"error": str(exc.detail)}, exc.status_code, exc.headers)


async def bad_request(_: Request, exc: Exception) -> JSONResponse:
    """422 naming the first invalid field of the request."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    field = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return JSONResponse({"error": first.get("msg", "invalid request"), "field": field or None}, 422)


async def library_error(_: Request, exc: Exception) -> JSONResponse:
    """A library error, with the status its class declares."""
    assert isinstance(exc, ModeltrailError)
    if isinstance(exc, ValidationError):
        return JSONResponse({"error": exc.reason, "field": exc.field}, exc.http_status)
    return JSONResponse({"error": str(exc)}, exc.http_status)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """500 with an id only; the traceback goes to the server log under that id."""
    error_id = uuid.uuid4().hex
    log.exception("internal error %s on %s %s", error_id, request.method, request.url.path)
    return JSONResponse({"error": "internal error", "id": error_id}, 500)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(Unauthorized, unauthorized)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(ModeltrailError, library_error)
    app.add_exception_handler(Exception, internal_error)
