"""The Art. 9 risk register as ledger events: ``risk.identified``, ``risk.mitigated``, ``risk.reviewed``.

A risk has an id (unique per system), a category, likelihood and impact on a 1-5 scale (score = product),
an owner and a review date; a mitigation states the measure and the residual likelihood and impact; a review
records the outcome and the next review date. :func:`risk_register` folds the events into the current
register; a review date in the past is reported as overdue. :func:`proposed_risks` lists what evidence
suggests (report warnings, failed gate checks, monitoring alerts) for a person to accept with
:func:`identify_risk`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from ..errors import NotFoundError, ValidationError
from ..events import Actor, Receipt

if TYPE_CHECKING:
    from ..identity import Identity
    from ..trail import Trail

CATEGORIES = (
    "health_safety",
    "fundamental_rights",
    "discrimination",
    "privacy",
    "security",
    "accuracy",
    "misuse",
    "other",
)
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


@dataclass
class Risk:
    """A risk as the register holds it now."""

    risk_id: str
    title: str
    category: str
    likelihood: int
    impact: int
    owner: str
    review_by: str
    identified_seq: int
    identified_by: str
    mitigation: str | None = None
    residual_likelihood: int | None = None
    residual_impact: int | None = None
    last_review: str | None = None
    seqs: list[int] = field(default_factory=list)

    @property
    def score(self) -> int:
        """Likelihood × impact before mitigation."""
        return self.likelihood * self.impact

    @property
    def residual_score(self) -> int | None:
        """Residual likelihood × impact after mitigation, None when not mitigated."""
        if self.residual_likelihood is None or self.residual_impact is None:
            return None
        return self.residual_likelihood * self.residual_impact

    def overdue(self, today: date | None = None) -> bool:
        """Whether the review date has passed."""
        return date.fromisoformat(self.review_by) < (today or datetime.now(UTC).date())


def _scale(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ValidationError("expected an integer from 1 to 5", field=name)
    return value


def _day(value: str, name: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise ValidationError("expected a date YYYY-MM-DD", field=name) from None


def _who(actor: Actor | Identity | Mapping[str, str]) -> Actor:
    from .statements import _human

    return _human(actor)


def identify_risk(
    trail: Trail,
    system: str,
    risk_id: str,
    *,
    title: str,
    category: str,
    likelihood: int,
    impact: int,
    owner: str,
    review_by: str,
    actor: Actor | Identity | Mapping[str, str],
    source_seq: int | None = None,
) -> Receipt:
    """Record ``risk.identified`` (``source_seq``: the evidence event that proposed it, if any)."""
    if not _ID_RE.fullmatch(risk_id or ""):
        raise ValidationError("expected letters, digits, '.', '_' or '-' (at most 64)", field="risk_id")
    if category not in CATEGORIES:
        raise ValidationError(f"expected one of {', '.join(CATEGORIES)}", field="category")
    if not title.strip():
        raise ValidationError("expected a non-empty title", field="title")
    if not owner.strip():
        raise ValidationError("expected the owner's name or role", field="owner")
    payload = {
        "risk_id": risk_id,
        "title": title.strip(),
        "category": category,
        "likelihood": _scale(likelihood, "likelihood"),
        "impact": _scale(impact, "impact"),
        "owner": owner.strip(),
        "review_by": _day(review_by, "review_by"),
    }
    refs = [] if source_seq is None else [f"event:{source_seq}"]
    return trail.record(
        "risk.identified",
        system=system,
        actor=_who(actor),
        subject=f"risk:{system}/{risk_id}",
        payload=payload,
        refs=refs,
    )


def _existing(trail: Trail, system: str, risk_id: str) -> None:
    if risk_id not in risk_register(trail, system):
        raise NotFoundError(f"no risk {risk_id!r} identified for system {system!r}")


def mitigate_risk(
    trail: Trail,
    system: str,
    risk_id: str,
    *,
    mitigation: str,
    residual_likelihood: int,
    residual_impact: int,
    actor: Actor | Identity | Mapping[str, str],
) -> Receipt:
    """Record ``risk.mitigated``: the measure taken and the residual likelihood and impact."""
    _existing(trail, system, risk_id)
    if not mitigation.strip():
        raise ValidationError("expected a non-empty mitigation", field="mitigation")
    return trail.record(
        "risk.mitigated",
        system=system,
        actor=_who(actor),
        subject=f"risk:{system}/{risk_id}",
        payload={
            "risk_id": risk_id,
            "mitigation": mitigation.strip(),
            "residual_likelihood": _scale(residual_likelihood, "residual_likelihood"),
            "residual_impact": _scale(residual_impact, "residual_impact"),
        },
    )


def review_risk(
    trail: Trail,
    system: str,
    risk_id: str,
    *,
    outcome: str,
    next_review: str,
    actor: Actor | Identity | Mapping[str, str],
) -> Receipt:
    """Record ``risk.reviewed`` with the outcome and the next review date."""
    _existing(trail, system, risk_id)
    if not outcome.strip():
        raise ValidationError("expected a non-empty outcome", field="outcome")
    return trail.record(
        "risk.reviewed",
        system=system,
        actor=_who(actor),
        subject=f"risk:{system}/{risk_id}",
        payload={"risk_id": risk_id, "outcome": outcome.strip(), "next_review": _day(next_review, "next_review")},
    )


def risk_register(trail: Trail, system: str) -> dict[str, Risk]:
    """The current register of ``system`` folded from its ``risk.*`` events, by risk id."""
    out: dict[str, Risk] = {}
    for ev in trail.events("risk.*", system=system):
        p = ev.payload
        rid = str(p.get("risk_id", ""))
        if ev.type == "risk.identified":
            out[rid] = Risk(
                rid,
                str(p["title"]),
                str(p["category"]),
                int(p["likelihood"]),
                int(p["impact"]),
                str(p["owner"]),
                str(p["review_by"]),
                ev.seq,
                ev.actor.id,
                seqs=[ev.seq],
            )
        elif rid in out:
            r = out[rid]
            r.seqs.append(ev.seq)
            if ev.type == "risk.mitigated":
                r.mitigation = str(p["mitigation"])
                r.residual_likelihood = int(p["residual_likelihood"])
                r.residual_impact = int(p["residual_impact"])
            elif ev.type == "risk.reviewed":
                r.last_review = f"{ev.ts[:10]} by {ev.actor.id}: {p.get('outcome')}"
                r.review_by = str(p["next_review"])
    return out


@dataclass(frozen=True)
class ProposedRisk:
    """A risk that evidence suggests; a person accepts it by identifying it."""

    source_seq: int
    source: str
    text: str


def proposed_risks(trail: Trail, system: str) -> list[ProposedRisk]:
    """Report warnings, failed gate checks and monitoring alerts of ``system`` not yet taken into the register."""
    taken = {
        int(ref.split(":", 1)[1])
        for ev in trail.events("risk.identified", system=system)
        for ref in ev.refs
        if ref.startswith("event:")
    }
    out: list[ProposedRisk] = []
    for ev in trail.events("report.generated", system=system):
        for w in ev.payload.get("warnings") or []:
            if ev.seq not in taken:
                out.append(ProposedRisk(ev.seq, f"{ev.payload.get('kind')} report on {ev.subject}", str(w)))
    for ev in trail.events("gate.evaluated", system=system):
        for c in ev.payload.get("checks") or []:
            if isinstance(c, dict) and c.get("passed") is False and ev.seq not in taken:
                out.append(
                    ProposedRisk(ev.seq, f"gate {ev.payload.get('stage')} on {ev.subject}", str(c.get("message")))
                )
    for ev in trail.events("monitor.*", system=system):
        if ev.type.endswith("alert") and ev.seq not in taken:
            out.append(ProposedRisk(ev.seq, f"monitoring ({ev.type})", str(ev.payload.get("message") or ev.payload)))
    return out
