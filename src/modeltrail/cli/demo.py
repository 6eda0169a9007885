"""``modeltrail demo``: prints the story :func:`modeltrail.demo.run_demo` tells."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from .main import console, handle_errors


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("modeltrail-demo"),
    show_default=True,
    help="Working folder (created; an earlier demo folder is replaced; any other non-empty folder is refused).",
)
@click.option("--decisions", type=click.IntRange(min=10), default=20_000, show_default=True, help="Decisions to serve.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed: the same seed gives the same events.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of tables.")
@handle_errors
def demo_cmd(directory: Path, decisions: int, seed: int, as_json: bool) -> None:
    """Run the whole story on the real German Credit data: lineage, evidence, gates, approvals,
    serving with oversight, the kill switch, verification and a reconstructed decision."""
    from ..demo import run_demo

    def say(msg: str) -> None:
        if not as_json:
            console.print(msg, highlight=False)

    with Progress(
        TextColumn("  {task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=as_json,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done)

        result = run_demo(directory, decisions=decisions, seed=seed, say=say, progress=progress)
    console_users = _console_accounts(result.directory)
    if as_json:
        out = {
            "directory": str(result.directory),
            "seconds": round(result.seconds, 2),
            "counts": result.counts,
            "gates": result.gates,
            "deployed": result.deployed,
            "decisions": result.decisions,
            "routed_to_review": result.routed_to_review,
            "reviewed": result.reviewed,
            "overridden": result.overridden,
            "labelled": result.labelled,
            "fallback_decisions": result.fallback_decisions,
            "monitoring": result.monitoring,
            "verify_ok": result.verify_ok,
            "reconstructed_seqs": result.reconstructed.get("cited_seqs", []),
            "console": {"command": _console_command(result.directory), "users": console_users,
                        "password": DEMO_CONSOLE_PASSWORD if console_users else None},
        }  # fmt: skip
        click.echo(json.dumps(out, indent=2))
        return
    table = Table(title="What the ledger recorded", show_header=True, header_style="bold")
    table.add_column("event type")
    table.add_column("count", justify="right")
    for t, n in result.counts.items():
        table.add_row(t, f"{n:,}")
    table.add_row("[bold]total[/bold]", f"[bold]{sum(result.counts.values()):,}[/bold]")
    console.print(table)
    console.print(f"\nFinished in {result.seconds:.1f} s. Everything is in [bold]{result.directory}[/bold]:")
    console.print("  .modeltrail/   the trail (ledger.db, blobs/, keys/)")
    console.print("  reports/       evidence reports (JSON + HTML)")
    console.print("  policy.yaml    the policy the gates and the guard applied")
    console.print("\nNext, inside that folder:")
    for cmd in (
        "modeltrail log --type 'model.*'",
        f"modeltrail lineage {result.deployed} --up",
        "modeltrail verify",
        "modeltrail review list",
        "modeltrail monitor status",
        f"modeltrail status {result.deployed.removeprefix('model:')}",
        "modeltrail prove 1",
    ):
        console.print(f"  [cyan]{cmd}[/cyan]")
    if console_users:
        console.print("\nOpen the oversight console on this trail (then browse http://127.0.0.1:8000/):")
        console.print(f"  [cyan]{_console_command(result.directory)}[/cyan]")
        console.print(
            f"  sign in as {', '.join(console_users)} with the password [bold]{DEMO_CONSOLE_PASSWORD}[/bold] "
            "(demo accounts; roles from policy.yaml: bob and carol approve, erin has the kill switch, dave audits)"
        )
    else:
        console.print("\nThe oversight console needs the server extra: pip install 'modeltrail[server]'")


DEMO_CONSOLE_PASSWORD = "modeltrail-demo"
"""The demo users' console password: a demo trail only, never a real one."""
DEMO_CONSOLE_USERS = ("alice", "bob", "carol", "dave", "erin")


def _console_command(directory: Path) -> str:
    return f"modeltrail --trail {shlex.quote(str(directory))} serve"


def _console_accounts(directory: Path) -> list[str]:
    """Console accounts for the demo users (set by carol, who holds roles.tokens); [] without the server extra."""
    try:
        from ..server.console.auth import set_password
    except ImportError:
        return []
    from ..demo import CAROL, reopen

    with reopen(directory) as trail:
        for user in DEMO_CONSOLE_USERS:
            set_password(trail, user, DEMO_CONSOLE_PASSWORD, actor=CAROL)
    return list(DEMO_CONSOLE_USERS)


COMMANDS = [demo_cmd]
