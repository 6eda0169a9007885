"""CLI of the governance checks: ``modeltrail audit check`` (and ``modeltrail witness``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from ..audit.check import check, dumps
from ..governance.witnessing import cosign_with
from ..ledger.witness import Witness, WitnessConflict
from .main import TrailContext, console, err_console, handle_errors, pass_ctx


@click.command("check")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
@pass_ctx
@handle_errors
def audit_check_cmd(tc: TrailContext, as_json: bool) -> None:
    """Replay the ledger and list every broken governance rule with its seq. Exit 1 on any violation."""
    res = check(tc.trail())
    if as_json:
        click.echo(dumps(res))
    else:
        for v in res.violations:
            err_console.print(f"[red]{escape(v.kind)}[/red] event {v.seq} ({escape(v.type)}): {escape(v.message)}")
        for kind, n in res.truncated.items():
            err_console.print(f"  … and {n} more {escape(kind)}")
        for b in res.break_glass:
            err_console.print(f"[yellow]break-glass[/yellow] event {b.seq}: {escape(b.message)}")
        for note in res.notes:
            err_console.print(f"note: {escape(note)}")
        if res.ok:
            console.print(
                f"[green]OK[/green] {res.events_checked} events replayed, {res.governance_events} governance "
                "events, no rule broken"
            )
        else:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(res.kinds().items()))
            err_console.print(f"[red]FAILED[/red]: {kinds}")
    sys.exit(0 if res.ok else 1)


@click.group("witness")
def witness_group() -> None:
    """A cosigning witness (C2SP tlog-witness): run it as another user, ideally on another machine."""


_DIR = click.option(
    "--dir",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The witness's state folder (its key and what it last cosigned).",
)


@witness_group.command("init")
@_DIR
@click.option("--name", required=True, help="Witness name, a schema-less URL such as witness.example.org/w1.")
@handle_errors
def witness_init_cmd(folder: Path, name: str) -> None:
    """Create a witness and print its verifier key (give it to verifiers: `verify --witness KEY`)."""
    click.echo(Witness.create(folder, name).key.vkey())


@witness_group.command("follow")
@_DIR
@click.argument("origin")
@click.argument("verifier_key")
@handle_errors
def witness_follow_cmd(folder: Path, origin: str, verifier_key: str) -> None:
    """Follow the log ORIGIN whose checkpoints VERIFIER_KEY signs (see `modeltrail key show`)."""
    Witness(folder).follow(origin, verifier_key)
    err_console.print(f"following {escape(origin)}")


@witness_group.command("add-checkpoint")
@_DIR
@handle_errors
def witness_add_cmd(folder: Path) -> None:
    """Read an add-checkpoint request on stdin; print the cosignature, or exit 1 (409: the size it knows)."""
    body: bytes = sys.stdin.buffer.read()
    try:
        click.echo(Witness(folder).add_checkpoint(body), nl=False)
    except WitnessConflict as exc:
        click.echo(f"{exc.size}")
        err_console.print(f"conflict: {escape(str(exc))}")
        sys.exit(1)


@witness_group.command("cosign")
@_DIR
@pass_ctx
@handle_errors
def witness_cosign_cmd(tc: TrailContext, folder: Path) -> None:
    """Have the witness in --dir cosign this trail's latest checkpoint (kept in keys/cosigned/)."""
    click.echo(cosign_with(tc.trail(), Witness(folder)), nl=False)


@witness_group.command("serve")
@_DIR
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8423, show_default=True, type=int)
@handle_errors
def witness_serve_cmd(folder: Path, host: str, port: int) -> None:
    """Serve POST /add-checkpoint over HTTP (C2SP tlog-witness) until interrupted."""
    from ..ledger.witness_http import serve

    serve(Witness(folder), host, port)


#: ``audit check`` joins the ``modeltrail audit`` group of the registry CLI (the root group merges them).
COMMANDS: list[click.Command] = [
    witness_group,
    click.Group("audit", commands={"check": audit_check_cmd}, help="Questions an auditor asks of the trail."),
]
