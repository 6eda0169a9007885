"""Runtime commands: ``review list``, ``review decide``, ``review stats``, ``label FILE.csv``, ``reveal``.

A thin layer over :mod:`modeltrail.runtime.oversight`. Who acts is resolved like every other command
(API token, ``$MODELTRAIL_USER``, the trail config, or ``--as`` where the policy allows it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from ..errors import NotFoundError, ValidationError
from ..identity import Identity, resolve_identity
from ..policy import Policy
from ..runtime import oversight
from ..trail import Trail
from .flags import impersonation_option
from .listing import Page, emit, listing_options
from .main import TrailContext, console, handle_errors, pass_ctx

# --actor USER (impersonation where the policy allows it); --as is its deprecated spelling.
_AS = impersonation_option


def _policy(trail: Trail, system: str | None) -> Policy | None:
    try:
        from ..registry.policy_store import current_policy

        return current_policy(trail, system)
    except NotFoundError:
        return None


def _identity(trail: Trail, system: str | None, as_user: str | None) -> tuple[Identity, Policy | None]:
    policy = _policy(trail, system)
    return resolve_identity(trail, policy, as_user=as_user), policy


def _parse_value(text: str) -> Any:
    """An override value: JSON when it parses (``1``, ``true``, ``"text"``), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@click.group("review")
def review_group() -> None:
    """Human oversight: the review queue and review decisions."""


@review_group.command("list")
@click.option("--model", metavar="NAME[@VERSION]", help="Only decisions of this model.")
@click.option(
    "--status",
    type=click.Choice(["pending", "accepted", "overridden", "all"]),
    default="pending",
    show_default=True,
)
@listing_options
@pass_ctx
@handle_errors
def review_list(
    tc: TrailContext,
    model: str | None,
    status: str,
    limit: int | None,
    after: int | None,
    show_all: bool,
    as_json: bool,
    as_tsv: bool,
) -> None:
    """List decisions routed to human review (oldest first), with why each was routed; paged by seq.

    The why column names the review rules that fired (low confidence, an input outside the training
    range, a policy segment, the spot check) or the kill switch's fallback. --json adds review_reasons.
    """
    page = Page.from_options(limit, after, show_all, as_json, as_tsv)
    trail = tc.trail()
    wanted = None if status == "all" else status

    def items() -> Iterator[oversight.ReviewItem]:
        # Keyset pages of the projection: memory stays flat and the first page comes at once.
        cursor, left = page.after, None if page.limit is None else page.limit + 1
        while left is None or left > 0:
            chunk = 1_000 if left is None else min(1_000, left)
            rows = oversight.review_queue(trail, model, wanted, limit=chunk, after_seq=cursor)
            yield from rows
            if len(rows) < chunk:
                return
            cursor = rows[-1].decision_seq
            if left is not None:
                left -= len(rows)

    emit(
        page,
        ("decision", "seq", "ts", "model", "route", "output", "confidence", "status", "reviewer", "why"),
        items(),
        cells=lambda it: (
            it.decision_id,
            str(it.decision_seq),
            it.ts,
            it.model or "",
            it.route + (f" ({it.fallback})" if it.fallback else ""),
            json.dumps(it.output, ensure_ascii=False),
            "" if it.confidence is None else f"{it.confidence:.3f}",
            it.status,
            it.reviewer or "",
            it.why,
        ),
        as_dict=lambda it: it.to_dict(),
        cursor=lambda it: it.decision_seq,
    )


@review_group.command("decide")
@click.argument("decision")
@click.option("--accept", is_flag=True, help="Accept the model's output.")
@click.option("--override", "override", metavar="VALUE", help="Replace the output with VALUE (JSON or text).")
@click.option("--reason", required=True, help="Why (recorded with the review).")
@click.option(
    "--signature",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your SSH signature of the --print-body output, for an override (ssh-keygen -Y sign -n modeltrail).",
)
@click.option("--print-body", is_flag=True, help="Print the override's bytes to sign and stop (nothing recorded).")
@_AS
@pass_ctx
@handle_errors
def review_decide(
    tc: TrailContext,
    decision: str,
    accept: bool,
    override: str | None,
    reason: str,
    signature: Path | None,
    print_body: bool,
    as_user: str | None,
) -> None:
    """Accept or override DECISION (a decision id); recorded as oversight.reviewed / oversight.overridden."""
    if accept == (override is not None):
        raise ValidationError("give exactly one of --accept or --override VALUE", field="--accept")
    trail = tc.trail()
    ev = oversight.decision_event(trail, decision)
    ident, _ = _identity(trail, ev.system, as_user)
    if print_body:
        if override is None:
            raise ValidationError("only an override is signed", field="--print-body")
        body = oversight.override_body_for(trail, decision, actor=ident, value=_parse_value(override), reason=reason)
        click.echo(body.decode(), nl=False)
        return
    sig = None
    if signature is not None:
        try:
            sig = signature.read_text(encoding="ascii")
        except (UnicodeDecodeError, OSError):
            raise ValidationError(f"{signature} is not an armored SSH signature", field="signature") from None
    if override is not None:
        value = _parse_value(override)
        r = oversight.review(trail, decision, actor=ident, override=value, reason=reason, signature=sig)
    else:
        r = oversight.review(trail, decision, actor=ident, accept=True, reason=reason)
    verb = "overridden" if override is not None else "accepted"
    console.print(f"decision {escape(decision)} {verb} by {escape(ident.user_id)} (event {r.seq})")


@review_group.command("stats")
@pass_ctx
@handle_errors
def review_stats(tc: TrailContext) -> None:
    """Intervention statistics per model and reviewer (JSON)."""
    click.echo(json.dumps(oversight.intervention_stats(tc.trail()), indent=2))


@click.command("label")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_AS
@pass_ctx
@handle_errors
def label_cmd(tc: TrailContext, file: Path, as_user: str | None) -> None:
    """Record ground-truth labels from FILE.csv (columns decision_id, actual) as inference.label events."""
    trail = tc.trail()
    ident, _ = _identity(trail, None, as_user)
    receipts = oversight.label_csv(trail, file, actor=ident)
    first = f" (events {receipts[0].seq}..{receipts[-1].seq})" if receipts else ""
    console.print(f"{len(receipts)} label(s) recorded{first}")


@click.command("reveal")
@click.argument("decision")
@click.option("--purpose", required=True, help="Why the sealed data is needed (recorded).")
@_AS
@pass_ctx
@handle_errors
def reveal_cmd(tc: TrailContext, decision: str, purpose: str, as_user: str | None) -> None:
    """Unseal DECISION's sealed inputs (reveal role only); every attempt is recorded. Prints JSON."""
    trail = tc.trail()
    ev = oversight.decision_event(trail, decision)
    ident, policy = _identity(trail, ev.system, as_user)
    values = oversight.reveal(trail, decision, purpose=purpose, actor=ident, policy=policy)
    click.echo(json.dumps(values, indent=2, ensure_ascii=False))


COMMANDS: list[click.Command] = [review_group, label_cmd, reveal_cmd]

__all__ = ["COMMANDS", "label_cmd", "reveal_cmd", "review_group"]
