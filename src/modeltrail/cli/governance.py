"""CLI of the governance checks: ``modeltrail audit check`` (and ``modeltrail witness``)."""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from ..audit.check import check, dumps
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


COMMANDS: list[click.Command] = []


def _attach_audit_check() -> None:
    """Add ``check`` to the ``modeltrail audit`` group of the registry CLI, or expose our own group."""
    try:
        from .registry import audit_group
    except ImportError:
        COMMANDS.append(click.Group("audit", commands={"check": audit_check_cmd}, help="Audit the trail."))
        return
    audit_group.add_command(audit_check_cmd)


_attach_audit_check()
