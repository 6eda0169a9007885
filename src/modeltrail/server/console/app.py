"""Wiring of the console into the FastAPI app: static files, offline API docs, the pages' router, sign-in."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ...errors import ModeltrailError
from .. import errors
from .pages import LoginRequired, error_page, router

if TYPE_CHECKING:
    from fastapi import FastAPI

STATIC = Path(__file__).resolve().parent / "static"


async def _to_login(request: Request, exc: Exception) -> Response:
    """A page asked for without a session: to the sign-in page, then back (htmx gets a full redirect)."""
    assert isinstance(exc, LoginRequired)
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": "/login"})
    target = request.url.path if request.method == "GET" else "/"
    return RedirectResponse(f"/login?next={target}", status_code=303)


def install(app: FastAPI) -> None:
    """Serve the console at ``/`` and the API docs at ``/docs`` from vendored assets (no CDN)."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI for the API, its script and styles served from this server (works offline)."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="modeltrail API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )

    async def library_error(request: Request, exc: Exception) -> Response:
        # The API answers JSON; a console page answers a page saying what was refused.
        assert isinstance(exc, ModeltrailError)
        if request.url.path.startswith("/v1/") or "text/html" not in request.headers.get("accept", ""):
            return await errors.library_error(request, exc)
        return error_page(request, exc)

    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(ModeltrailError, library_error)
    app.include_router(router)
