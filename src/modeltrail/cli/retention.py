"""Retention, legal holds, erasure and subject access: ``retention plan|apply``, ``hold``, ``erase``, ``subject``.

A thin layer over :mod:`modeltrail.retention`. Who acts is resolved like for every privileged command
(API token, ``$MODELTRAIL_USER``, the trail config, or ``--actor`` where the policy allows impersonation);
the roles come from the policy (``roles.retention``, ``roles.holds``, ``roles.erasure``,
``roles.subject_access``). Bad input exits 2, a refusal (role, legal hold) exits 1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.markup import escape

from ..errors import ValidationError
from ..identity import Identity, local_identity
from ..trail import Trail
from .flags import impersonation_option
from .main import TrailContext, console, handle_errors, pass_ctx


def _who(trail: Trail, as_user: str | None) -> Identity:
    return local_identity(trail, as_user=as_user)


def _now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"expected an ISO 8601 time such as 2027-06-30T00:00:00Z, got {text!r}", field="--now"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


_NOW = click.option("--now", "now_text", metavar="TIME", help="Evaluate the rules as of TIME (ISO 8601; default: now).")


@click.group("retention")
def retention_group() -> None:
    """Retention schedules: what the policy's rules let go (plan) and the verifiable purge (apply)."""


@retention_group.command("plan")
@_NOW
@click.option("--system", help="Only this system.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@pass_ctx
@handle_errors
def plan_cmd(tc: TrailContext, now_text: str | None, system: str | None, as_json: bool) -> None:
    """Dry run: per system and rule, how many events have expired and their seq ranges; nothing changes."""
    from ..retention.rules import plan

    p = plan(tc.trail(), now=_now(now_text), system=system)
    if as_json:
        click.echo(json.dumps(p.to_dict(), indent=2))
        return
    if not p.batches:
        console.print(f"nothing has expired as of {p.now}")
    for b in p.batches:
        d = b.to_dict()
        ranges = ", ".join(f"{a}..{z}" if a != z else str(a) for a, z in d["ranges"][:6])
        more = " …" if len(d["ranges"]) > 6 else ""
        held = f"; {d['held']} kept by holds {', '.join(d['holds'])}" if d["held"] else ""
        console.print(
            f"{escape(b.system)}  {escape(b.pattern)} ({b.period}): {b.count} events, seq {ranges}{more}{held}",
            markup=False,
        )
    for s in p.no_policy:
        console.print(f"{s}: no policy registered, nothing expires", markup=False)


@retention_group.command("apply")
@_NOW
@click.option("--system", help="Only this system.")
@click.option(
    "--archive",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write what goes to FOLDER as JSON lines first (its SHA-256 is recorded).",
)
@click.option("--no-reclaim", is_flag=True, help="Do not vacuum afterwards.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@impersonation_option
@pass_ctx
@handle_errors
def apply_cmd(
    tc: TrailContext,
    now_text: str | None,
    system: str | None,
    archive: Path | None,
    no_reclaim: bool,
    as_json: bool,
    as_user: str | None,
) -> None:
    """Purge expired events: payloads go, leaf hashes stay, verify stays green; records retention.purged."""
    from ..retention.purge import apply

    t = tc.trail()
    res = apply(t, actor=_who(t, as_user), now=_now(now_text), system=system, archive=archive, reclaim=not no_reclaim)
    if as_json:
        click.echo(json.dumps(res.to_dict(), indent=2))
        return
    console.print(
        f"purged {res.purged} events ({res.bytes_removed} payload bytes; {res.bytes_reclaimed} bytes reclaimed); "
        f"recorded in events {', '.join(map(str, res.events)) or 'none'}",
        markup=False,
    )
    for a in res.archives:
        console.print(f"archive {a}", markup=False)


@retention_group.command("watch")
@click.option("--interval", type=float, default=86_400.0, show_default=True, help="Seconds between runs.")
@click.option("--runs", type=int, help="Stop after this many runs (default: until interrupted).")
@click.option(
    "--archive",
    type=click.Path(file_okay=False, path_type=Path),
    help="Archive what goes to FOLDER before each purge.",
)
@impersonation_option
@pass_ctx
@handle_errors
def watch_cmd(tc: TrailContext, interval: float, runs: int | None, archive: Path | None, as_user: str | None) -> None:
    """Apply the retention rules on a schedule (a legal hold is reported and retried at the next run)."""
    from ..errors import HoldError
    from ..retention.purge import PurgeResult, watch

    t = tc.trail()

    def report(res: PurgeResult | HoldError) -> None:
        if isinstance(res, HoldError):
            click.echo(f"held: {res}", err=True)
        else:
            click.echo(json.dumps({"purged": res.purged, "held": res.held, "events": res.events}))

    try:
        watch(t, actor=_who(t, as_user), interval=interval, runs=runs, archive=archive, on_result=report)
    except KeyboardInterrupt:
        pass


@click.group("hold")
def hold_group() -> None:
    """Legal holds: while one is in force, what it covers is neither purged nor erased."""


@hold_group.command("add")
@click.option("--system", help="Hold every event of this system.")
@click.option("--subject", help="Hold this data subject's records and block their erasure.")
@click.option("--reason", required=True, help="Why (case number, authority, request).")
@impersonation_option
@pass_ctx
@handle_errors
def hold_add_cmd(tc: TrailContext, system: str | None, subject: str | None, reason: str, as_user: str | None) -> None:
    """Place a legal hold on a system or a data subject (roles.holds)."""
    from ..retention.holds import place_hold

    t = tc.trail()
    h = place_hold(t, actor=_who(t, as_user), reason=reason, system=system, subject=subject)
    click.echo(json.dumps({"hold_id": h.id, "seq": h.placed_seq}))


@hold_group.command("remove")
@click.argument("hold_id")
@click.option("--reason", required=True, help="Why the hold ends.")
@impersonation_option
@pass_ctx
@handle_errors
def hold_remove_cmd(tc: TrailContext, hold_id: str, reason: str, as_user: str | None) -> None:
    """Release the legal hold HOLD_ID (roles.holds)."""
    from ..retention.holds import release_hold

    t = tc.trail()
    seq = release_hold(t, hold_id, actor=_who(t, as_user), reason=reason)
    click.echo(json.dumps({"hold_id": hold_id, "seq": seq}))


@hold_group.command("list")
@pass_ctx
@handle_errors
def hold_list_cmd(tc: TrailContext) -> None:
    """The legal holds in force."""
    from ..retention.holds import active_holds

    for h in active_holds(tc.trail()):
        click.echo(h.describe())


@click.command("erase")
@click.option("--subject", required=True, help="The data subject's identifier (as the data carries it).")
@click.option("--reason", required=True, help="Why (the request it answers); must not contain the identifier.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@impersonation_option
@pass_ctx
@handle_errors
def erase_cmd(tc: TrailContext, subject: str, reason: str, as_json: bool, as_user: str | None) -> None:
    """Erase a data subject (GDPR Art. 17): unlink, shred keys, purge what names them; records subject.erased."""
    from ..retention.erasure import erase

    t = tc.trail()
    res = erase(t, subject, actor=_who(t, as_user), reason=reason)
    if as_json:
        click.echo(json.dumps(res.to_dict(), indent=2))
        return
    console.print(
        f"erased: {res.decisions} decisions unlinked ({res.unlinked_tokens} pseudonym tokens), "
        f"{res.keys_shredded} data keys shredded, {res.blobs_deleted} sealed blobs deleted, {res.purged} events "
        f"purged; recorded as event {res.event_seq} ({res.erasure_id})",
        markup=False,
    )


@click.group("subject")
def subject_group() -> None:
    """Data subject requests: access and explanation (GDPR Art. 15, AI Act Art. 86)."""


@subject_group.command("export")
@click.argument("value")
@click.option("--format", "fmt", type=click.Choice(["json", "html"]), default="json", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@impersonation_option
@pass_ctx
@handle_errors
def subject_export_cmd(tc: TrailContext, value: str, fmt: str, output: Path | None, as_user: str | None) -> None:
    """Every decision about VALUE with model version, main reasons and human actions; request and answer recorded."""
    from ..retention.export import export_subject

    t = tc.trail()
    res = export_subject(t, value, actor=_who(t, as_user), fmt=fmt)
    if output is None:
        click.echo(res.content.decode("utf-8"), nl=False)
    else:
        output.write_bytes(res.content)
        click.echo(f"wrote {output} ({len(res.content)} bytes, sha256 {res.sha256}); events {res.request_seq}, "
                   f"{res.answer_seq}", err=True)


@click.group("export")
def export_group() -> None:
    """Standard exports (merged into ``modeltrail export``)."""


@export_group.command("ropa")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@pass_ctx
@handle_errors
def ropa_cmd(tc: TrailContext, fmt: str, output: Path | None) -> None:
    """The record of processing activities (GDPR Art. 30) from systems, data policies and retention rules."""
    from ..retention.ropa import record_of_processing, render

    text = render(record_of_processing(tc.trail()), fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


COMMANDS: list[click.Command] = [retention_group, hold_group, erase_cmd, subject_group, export_group]
