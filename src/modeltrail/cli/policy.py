"""``modeltrail policy validate|show``: check and display a policy file without opening a trail.

``validate`` is a check: exit 0 when the file is valid, 1 with the located error (``FILE:LINE: field: ...``)
on stderr when it is not. ``show`` prints the validated policy (``--json`` for machine use); an invalid
file there is bad input (exit 2), as for every other command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from modeltrail.errors import PolicyError
from modeltrail.policy.model import Policy, load_policy

__all__ = ["COMMANDS", "policy_group", "render_policy"]

_FILE = click.Path(exists=False, dir_okay=False, path_type=Path)


def _load_or_exit(path: Path, code: int) -> Policy:
    try:
        return load_policy(path)
    except PolicyError as exc:
        # One plain line, no rich markup: the message may contain brackets (``groups[0]``).
        click.echo(f"error: {exc}", err=True)
        sys.exit(code)


def render_policy(policy: Policy, console: Console) -> None:
    """Print a readable summary of ``policy``: header, one table of gates, then the other sections."""
    # Values from the file are escaped: rich would read "[...]" in them as markup.
    console.print(
        f"[bold]{escape(policy.system)}[/bold]  risk tier: [bold]{policy.risk_tier}[/bold]"
        f"  ({escape(policy.source)})"
    )
    if policy.protected_attributes:
        console.print(f"protected attributes: {', '.join(policy.protected_attributes)}", markup=False)
    if policy.refuses_deployment:
        console.print("[red]this policy refuses deployment[/red]")

    gates = Table(title="Gates", show_lines=True)
    gates.add_column("stage", no_wrap=True)
    for column in ("evidence", "thresholds", "approvals"):
        # Fold rather than truncate: a cut metric name is useless in a compliance listing.
        gates.add_column(column, overflow="fold")
    for stage, gate in policy.gates.items():
        thresholds = "\n".join(
            f"{t.metric} {t.describe()}" + (f" per {', '.join(t.groups)}" if t.groups else "")
            for t in gate.thresholds
        )
        approvals = ""
        if gate.approvals is not None:
            a = gate.approvals
            approvals = f"{a.min} of {', '.join(a.roles)}" + (" (four eyes)" if a.four_eyes else "")
        if gate.refuse:
            approvals = f"refused: {escape(gate.refuse)}"
        gates.add_row(stage, "\n".join(gate.evidence), thresholds, approvals)
    console.print(gates)

    if policy.oversight is not None:
        o = policy.oversight
        w = o.review_when
        triggers = []
        if w.confidence_below is not None:
            triggers.append(f"confidence below {w.confidence_below:g}")
        if w.outside_training_range:
            triggers.append("input outside the training range")
        triggers.extend(f"segment {s}" for s in w.segments)
        if w.sample_rate is not None:
            triggers.append(f"random sample of {w.sample_rate:g}")
        console.print(
            f"oversight: review when {'; '.join(triggers) or 'never'}; fallback {o.fallback}", markup=False
        )
    dp = policy.data_policy
    fields = ", ".join(f"{name}: {action}" for name, action in dp.fields.items())
    console.print(f"data policy: {fields + '; ' if fields else ''}other fields: {dp.default}", markup=False)
    roles = policy.roles.to_dict()
    console.print(
        "roles: " + "; ".join(f"{action}: {', '.join(r) or 'nobody'}" for action, r in roles.items()),
        markup=False,
    )
    if policy.users:
        console.print(
            "users: " + "; ".join(f"{u.id} ({', '.join(u.roles)})" for u in policy.users.values()),
            markup=False,
        )
    if policy.allow_impersonation:
        console.print("[yellow]allow_impersonation is on: --as is accepted (tests and demos only)[/yellow]")
    if policy.monitoring is not None:
        console.print(f"monitoring: {json.dumps(policy.monitoring.to_dict())}", markup=False)
    if policy.retention:
        console.print(
            "retention: " + "; ".join(f"{r.pattern}: {r.period}" for r in policy.retention), markup=False
        )
    if policy.checkpoint is not None:
        console.print(f"checkpoints: {json.dumps(policy.checkpoint.to_dict())}", markup=False)


@click.group("policy")
def policy_group() -> None:
    """Check and display policy files."""


@policy_group.command("validate")
@click.argument("file", type=_FILE)
def validate_command(file: Path) -> None:
    """Validate FILE against the policy schema; exit 1 with the line and field of the first error."""
    policy = _load_or_exit(file, 1)
    stages = ", ".join(policy.gates) or "none"
    click.echo(f"{file}: valid (system {policy.system}, risk tier {policy.risk_tier}, gates: {stages})")


@policy_group.command("show")
@click.argument("file", type=_FILE)
@click.option("--json", "as_json", is_flag=True, help="Print the normalised policy as JSON.")
def show_command(file: Path, as_json: bool) -> None:
    """Show the validated policy in FILE."""
    policy = _load_or_exit(file, 2)
    if as_json:
        click.echo(json.dumps(policy.to_dict(), indent=2))
        return
    render_policy(policy, Console(highlight=False))


COMMANDS: list[click.Command] = [policy_group]
