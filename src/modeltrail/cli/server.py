"""``modeltrail serve``: run the HTTP API with uvicorn (the ``[server]`` extra)."""

from __future__ import annotations

import click

from ..errors import ModeltrailError
from ..speed import fast_switching
from .main import TrailContext, handle_errors, pass_ctx


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--max-body",
    type=click.IntRange(min=1024),
    default=10 * 1024 * 1024,
    show_default=True,
    help="Largest request body in bytes (larger ones get 413).",
)
@click.option(
    "--decision-writer",
    type=click.Choice(["thread", "process"]),
    default="thread",
    show_default=True,
    help="How predictions' decisions reach the ledger: a writer thread, or a child process (smaller latency tail).",
)
@pass_ctx
@handle_errors
def serve_cmd(tc: TrailContext, host: str, port: int, max_body: int, decision_writer: str) -> None:
    """Serve the HTTP API and the oversight console at / (sign in: `modeltrail console user add`); API docs at /docs."""
    try:
        import uvicorn

        from ..server import create_app
        from ..server.http11 import uvicorn_options
    except ImportError as exc:
        raise ModeltrailError(
            f"the HTTP API needs the server extra: pip install 'modeltrail[server]' ({exc})"
        ) from None
    app = create_app(tc.location, max_body_bytes=max_body, decision_writer=decision_writer)  # type: ignore[arg-type]
    with fast_switching():  # this process is ours: let the decision writer keep up (see modeltrail.speed)
        uvicorn.run(app, host=host, port=port, log_level="info", **uvicorn_options())


COMMANDS = [serve_cmd]
