"""The legal minimum keeping periods a retention rule of a high-risk system may not go below.

The AI Act sets floors, not ceilings (the GDPR's storage limitation sets the ceiling):

- Art. 19(1) (providers) and Art. 26(6) (deployers): the logs a high-risk system generates automatically
  are kept for a period appropriate to its purpose, **of at least six months**. Every event a trail holds
  is such a log, so no rule of a high-risk system may be shorter than ``P6M``.
- Art. 18(1): the technical documentation, the quality management system documentation, approved changes,
  decisions of notified bodies and the EU declaration of conformity are kept **for ten years** after the
  system is placed on the market. The event types that carry them (:data:`DOCUMENTATION_TYPES`) must
  resolve to a rule of at least ``P10Y``.

Other risk tiers have no AI Act floor: their rules are only checked for being durations.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .duration import Duration, parse_duration


@dataclass(frozen=True)
class LegalMinimum:
    """A floor on keeping periods, with the article that sets it."""

    period: Duration
    article: str
    what: str


LOGS = LegalMinimum(parse_duration("P6M"), "AI Act Art. 19(1) and Art. 26(6)", "automatically generated logs")
DOCUMENTATION = LegalMinimum(parse_duration("P10Y"), "AI Act Art. 18(1)", "documentation")

#: Event types that carry the documentation Art. 18 asks to keep for ten years (one representative each:
#: a rule is checked by which rule these resolve to, so ``model.*`` and ``*`` are both caught).
DOCUMENTATION_TYPES: tuple[str, ...] = (
    "doc.annex_iv",
    "doc.declaration_of_conformity",
    "doc.qms",
    "model.registered",
    "model.approved",
    "model.deployed",
    "policy.registered",
    "gate.evaluated",
    "system.classified",
)

#: Tiers the floors apply to.
FLOOR_TIERS = ("high",)

# Calendar durations cannot be compared as numbers (P6M is 181 to 184 days): a period is "shorter" when it
# ends earlier from any of these starts (month ends and a leap day, where clamping matters).
_STARTS = (datetime(2001, 1, 31), datetime(2000, 2, 29), datetime(2001, 8, 31), datetime(2003, 3, 1))


def shorter(a: Duration, b: Duration) -> bool:
    """Whether period ``a`` ends before period ``b`` from some start date."""
    return any(a.add_to(s) < b.add_to(s) for s in _STARTS)


def _resolve(rules: Sequence[tuple[str, Duration]], event_type: str) -> tuple[str, Duration] | None:
    # The same most-specific-glob rule as Policy.retention_for.
    matches = [r for r in rules if fnmatch.fnmatchcase(event_type, r[0])]
    if not matches:
        return None
    return max(matches, key=lambda r: len(r[0].replace("*", "").replace("?", "")))


def violations(risk_tier: str, rules: Sequence[tuple[str, Duration]]) -> list[tuple[str, str]]:
    """``(pattern, reason)`` for each rule below a legal minimum of ``risk_tier``; empty when all hold."""
    if risk_tier not in FLOOR_TIERS:
        return []
    out: list[tuple[str, str]] = []
    for pattern, period in rules:
        if shorter(period, LOGS.period):
            out.append(
                (
                    pattern,
                    f"{period.text} is shorter than the legal minimum {LOGS.period.text} for the "
                    f"{LOGS.what} of a high-risk system ({LOGS.article})",
                )
            )
    seen = {p for p, _ in out}
    for event_type in DOCUMENTATION_TYPES:
        hit = _resolve(rules, event_type)
        if hit is None or hit[0] in seen or not shorter(hit[1], DOCUMENTATION.period):
            continue
        seen.add(hit[0])
        out.append(
            (
                hit[0],
                f"{hit[1].text} applies to {event_type} events, which carry {DOCUMENTATION.what} to be kept "
                f"{DOCUMENTATION.period.text} ({DOCUMENTATION.article}); give documentation types a rule of at "
                f"least {DOCUMENTATION.period.text}",
            )
        )
    return out


__all__ = ["DOCUMENTATION", "DOCUMENTATION_TYPES", "FLOOR_TIERS", "LOGS", "LegalMinimum", "shorter", "violations"]
