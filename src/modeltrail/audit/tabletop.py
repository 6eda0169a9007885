"""The tabletop exercise: pick a decision from the past at random, reconstruct it, record how it went.

An Art. 12 log is tested the way an auditor would: "take an inference from three months ago and show me
everything". :func:`tabletop` draws one decision older than a cut-off, runs
:func:`~modeltrail.audit.reconstruct.reconstruct` and checks that each part of the story is there, then
records ``audit.tabletop`` (the decision drawn, the seed, every finding, passed or not) so that the
exercise itself is evidence.

The draw needs no scan: the ledger's ``ts`` never decreases in ``seq`` order, so the cut-off becomes a
seq by binary search over point reads, and the decision nearest a random seq comes from the
``(type, seq)`` index.
"""

from __future__ import annotations

import random
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import ModeltrailError, ValidationError
from ..events import Actor, Event, format_ts
from ..trail import Trail
from .reconstruct import Reconstruction, reconstruct

if TYPE_CHECKING:
    from ..identity import Identity

_SHORT = re.compile(r"(\d+)([dhw])")


def parse_age(text: str | timedelta) -> timedelta:
    """``90d``, ``12h``, ``4w`` or an ISO 8601 duration of days/weeks/hours (``P90D``) as a timedelta."""
    if isinstance(text, timedelta):
        if text < timedelta(0):
            raise ValidationError("expected a non-negative age", field="older_than")
        return text
    m = _SHORT.fullmatch(text.strip())
    if m:
        n, unit = int(m.group(1)), m.group(2)
        return {"d": timedelta(days=n), "h": timedelta(hours=n), "w": timedelta(weeks=n)}[unit]
    from ..policy.duration import parse_duration

    try:
        d = parse_duration(text.strip())
    except ValueError as exc:
        raise ValidationError(f"expected an age such as 90d, 12h, 4w or P90D: {exc}", field="older_than") from None
    if d.years or d.months:
        raise ValidationError("years and months have no fixed length; give days, e.g. 90d", field="older_than")
    return timedelta(weeks=d.weeks, days=d.days, hours=d.hours, minutes=d.minutes, seconds=d.seconds)


def first_seq_after(trail: Trail, ts: str) -> int:
    """The smallest seq whose event time is later than ``ts`` (the log size when there is none).

    Binary search over point reads: event times never decrease in seq order (ledger format §1).
    """
    lo, hi = 0, trail.size()
    while lo < hi:
        mid = (lo + hi) // 2
        if trail.get_event(mid).ts <= ts:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _decision_near(trail: Trail, start: int, end: int, target: int, system: str | None) -> int | None:
    """The seq of a decision in ``[start, end)``: the first at or after ``target``, else the last before it."""
    q_after = q_before = "SELECT seq FROM events WHERE type = ? AND seq >= ? AND seq < ?"
    args_after: list[Any] = ["inference.decision", target, end]
    args_before: list[Any] = ["inference.decision", start, target]
    if system is not None:
        q_after += " AND system = ?"
        q_before += " AND system = ?"
        args_after.append(system)
        args_before.append(system)
    rows = trail.store.execute(q_after + " ORDER BY seq LIMIT 1", args_after)
    if not rows:
        rows = trail.store.execute(q_before + " ORDER BY seq DESC LIMIT 1", args_before)
    return int(rows[0][0]) if rows else None


@dataclass
class TabletopResult:
    """How one exercise went: the decision drawn, what was checked, and the event that records it."""

    passed: bool
    cutoff: str
    older_than: str
    seed: int
    findings: list[dict[str, Any]] = field(default_factory=list)
    decision: Event | None = None
    reconstruction: Reconstruction | None = None
    event_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the reconstruction in full under ``reconstruction``)."""
        return {
            "passed": self.passed,
            "cutoff": self.cutoff,
            "older_than": self.older_than,
            "seed": self.seed,
            "decision_id": None if self.decision is None else self.decision.payload.get("decision_id"),
            "decision_seq": None if self.decision is None else self.decision.seq,
            "findings": self.findings,
            "event_seq": self.event_seq,
            "reconstruction": None if self.reconstruction is None else self.reconstruction.to_dict(),
        }


def check(rec: Reconstruction) -> list[dict[str, Any]]:
    """The tabletop checks on a reconstruction: one ``{check, passed, required, detail}`` per part of the story.

    The exercise passes when every required check does; the others (was the deployment still in force,
    was a routed decision reviewed) are findings about how the system was run, recorded alongside.
    """
    d = rec.decision

    def item(name: str, ok: bool, detail: str, required: bool = True) -> dict[str, Any]:
        return {"check": name, "passed": bool(ok), "required": required, "detail": detail}

    gate_ok = bool(rec.gates) and all(g.payload.get("passed") is True for g in rec.gates)
    routed = d.payload.get("route") in ("review", "fallback")
    reviewed = any(e.type in ("oversight.reviewed", "oversight.overridden") for e in rec.oversight)
    dep = rec.deployment
    return [
        item("input", "input" in d.payload or bool(d.sealed), f"{len(rec.inputs.get('visible', {}))} visible fields"),
        item("output", "output" in d.payload, f"output {d.payload.get('output')!r}"),
        item("model", rec.model is not None, str(d.payload.get("model"))),
        item("training_run", rec.run is not None, "" if rec.run is None else str(rec.run.subject)),
        item("datasets", bool(rec.datasets), f"{len(rec.datasets)} dataset versions"),
        item("gate", gate_ok, f"{len(rec.gates)} gate evaluations cited by the deployment"),
        item("approvals", bool(rec.approvals), f"{len(rec.approvals)} approvals"),
        item("deployment", dep is not None, "no deployment" if dep is None else f"event {dep.seq}"),
        item("inclusion_proof", rec.proof_verified, f"against checkpoint size {rec.proof.get('tree_size')}"),
        # Findings about the operation rather than the record: reported, but the story is complete without them.
        item(
            "deployment_in_force",
            rec.in_force,
            "suspended, retired or revoked at the time" if dep is not None and not rec.in_force else "in force",
            required=False,
        ),
        item(
            "human_oversight",
            reviewed or not routed,
            f"route {d.payload.get('route')}; {len(rec.oversight)} oversight events",
            required=False,
        ),
    ]


def tabletop(
    trail: Trail,
    *,
    actor: Actor | Mapping[str, str] | Identity,
    older_than: str | timedelta = "90d",
    seed: int | None = None,
    system: str | None = None,
    now: datetime | None = None,
) -> TabletopResult:
    """Draw a decision older than ``older_than`` at random (``seed`` makes the draw repeatable),
    reconstruct it, and record ``audit.tabletop`` with the findings.

    A trail with no decision that old gives a failed exercise (recorded too): an audit that finds nothing
    to look at has not shown the log works.
    """
    from ..identity import Identity

    age = parse_age(older_than)
    who: Actor
    if isinstance(actor, Identity):
        who = actor.acting_as()
    elif isinstance(actor, Actor):
        who = actor
    else:
        who = Actor(actor["id"], actor["role"], actor.get("kind", "human"))
    seed = secrets.randbelow(2**31) if seed is None else seed
    moment = now or datetime.now(UTC)
    cutoff = format_ts(moment - age)
    label = older_than if isinstance(older_than, str) else f"{int(age.total_seconds())}s"
    res = TabletopResult(passed=False, cutoff=cutoff, older_than=label, seed=seed)
    end = first_seq_after(trail, cutoff)
    target = random.Random(seed).randrange(end) if end else 0
    seq = _decision_near(trail, 0, end, target, system) if end else None
    if seq is None:
        res.findings = [
            {"check": "decision", "passed": False, "required": True, "detail": f"no decision recorded before {cutoff}"}
        ]
    else:
        res.decision = trail.get_event(seq)
        try:
            res.reconstruction = reconstruct(trail, str(res.decision.subject))
            res.findings = check(res.reconstruction)
        except ModeltrailError as exc:
            res.findings = [{"check": "reconstruction", "passed": False, "required": True, "detail": str(exc)}]
        res.passed = all(f["passed"] for f in res.findings if f.get("required", True))
    d = res.decision
    rec_system = system or (d.system if d is not None else "modeltrail")
    payload = {
        "older_than": label,
        "cutoff": cutoff,
        "seed": seed,
        "decision_id": None if d is None else d.payload.get("decision_id"),
        "decision_seq": None if d is None else d.seq,
        "decision_ts": None if d is None else d.ts,
        "passed": res.passed,
        "findings": res.findings,
        "cited_seqs": [] if res.reconstruction is None else [e.seq for e in res.reconstruction.events()],
        "checkpoint_size": None if res.reconstruction is None else res.reconstruction.proof.get("tree_size"),
    }
    receipt = trail.record(
        "audit.tabletop",
        system=rec_system,
        actor=who,
        subject=None if d is None else d.subject,
        payload=payload,
        refs=[] if d is None else [f"event:{d.seq}"],
    )
    res.event_seq = receipt.seq
    return res
