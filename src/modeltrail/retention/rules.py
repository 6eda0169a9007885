"""Which events the retention rules of each system's policy let go, and which stay (and why).

A policy's ``retention:`` maps event-type globs to ISO 8601 durations; the most specific glob wins
(:meth:`Policy.retention_for`). An event of system S expires when its timestamp plus the period of its
rule is at or before *now*. What never expires here:

- events of a system with no policy or no matching rule (nothing is forgotten without a rule);
- governance events (:mod:`modeltrail.governance.namespace`: approvals, deployments, key rotations,
  policies, holds, purges, erasures): the trail's own verification and the proof of lawful forgetting
  rest on them, and Art. 18 asks for ten years anyway;
- events covered by a legal hold (:mod:`.holds`).

Rules below the legal minimums are refused here too (a policy registered before the check existed
still cannot purge early), naming the field and citing the article (:mod:`modeltrail.policy.retention_law`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..governance.namespace import is_reserved
from ..policy import Policy, RetentionRule
from ..policy.retention_law import violations
from ..registry.policy_store import policy_or_none
from .holds import Hold, active_holds
from .subjects import in_ranges, seq_ranges

if TYPE_CHECKING:
    from ..trail import Trail


def format_now(now: datetime | None) -> datetime:
    """``now`` as an aware UTC datetime (default: the current time)."""
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def _parse_ts(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def rule_for(policy: Policy, event_type: str) -> RetentionRule | None:
    """The rule that governs ``event_type`` (most literal characters wins, as in ``Policy.retention_for``)."""
    matches = [r for r in policy.retention if fnmatch.fnmatchcase(event_type, r.pattern)]
    if not matches:
        return None
    return max(matches, key=lambda r: len(r.pattern.replace("*", "").replace("?", "")))


def check_policy(policy: Policy) -> None:
    """Refuse a policy whose retention goes below a legal minimum (ValidationError naming the rule)."""
    bad = violations(policy.risk_tier, [(r.pattern, r.period) for r in policy.retention])
    if bad:
        pattern, reason = bad[0]
        raise ValidationError(f"{policy.system}: {reason}", field=f"retention.{pattern}")


@dataclass
class RuleBatch:
    """The expired events of one rule of one system."""

    system: str
    pattern: str
    period: str
    seqs: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)
    first_ts: str | None = None
    last_ts: str | None = None

    @property
    def count(self) -> int:
        """Events this rule would purge now."""
        return len(self.seqs)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``retention plan --json``)."""
        return {
            "system": self.system,
            "rule": self.pattern,
            "period": self.period,
            "count": self.count,
            "ranges": seq_ranges(self.seqs),
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "held": len(self.held),
            "holds": self.holds,
        }


@dataclass
class RetentionPlan:
    """What ``retention apply`` would purge at ``now``: one batch per (system, rule) with expired events."""

    now: str
    batches: list[RuleBatch] = field(default_factory=list)
    no_policy: list[str] = field(default_factory=list)
    """Systems with events but no registered policy (nothing of theirs expires)."""

    @property
    def count(self) -> int:
        """Events that would be purged."""
        return sum(b.count for b in self.batches)

    @property
    def held(self) -> int:
        """Expired events a legal hold keeps."""
        return sum(len(b.held) for b in self.batches)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "now": self.now,
            "count": self.count,
            "held": self.held,
            "rules": [b.to_dict() for b in self.batches],
            "systems_without_policy": self.no_policy,
        }


def _systems(trail: Trail) -> list[str]:
    return sorted(str(r[0]) for r in trail.store.execute("SELECT DISTINCT system FROM events", ()))


def _candidates(trail: Trail, system: str, page: int = 50_000) -> Iterator[tuple[int, str, str]]:
    """``(seq, ts, type)`` of the system's events that still have their payload, in pages.

    Only the indexed columns are read (not the leaves): planning over millions of decisions must not
    read every payload.
    """
    last = -1
    while True:
        rows = trail.store.execute(
            "SELECT seq, ts, type FROM events WHERE system = ? AND seq > ? AND length(leaf) > 0 ORDER BY seq LIMIT ?",
            (system, last, page),
        )
        if not rows:
            return
        for seq, ts, type_ in rows:
            yield int(seq), str(ts), str(type_)
        last = int(rows[-1][0])


def _held_by(holds: list[Hold], system: str, seq: int) -> list[str]:
    return [h.id for h in holds if h.system == system or (h.subject_ref is not None and in_ranges(seq, h.records))]


def plan(trail: Trail, *, now: datetime | None = None, system: str | None = None) -> RetentionPlan:
    """Dry run: the expired events per system and rule at ``now`` (default: the current time)."""
    when = format_now(now)
    out = RetentionPlan(now=when.isoformat().replace("+00:00", "Z"))
    holds = active_holds(trail)
    for sysname in _systems(trail) if system is None else [system]:
        if sysname == "modeltrail":
            continue  # the trail's own events (initialisation, keys, holds) are governance records
        policy = policy_or_none(trail, sysname)
        if policy is None or policy.system != sysname:
            out.no_policy.append(sysname)
            continue
        if not policy.retention:
            continue
        check_policy(policy)
        by_rule: dict[str, RuleBatch] = {}
        rules: dict[str, RetentionRule | None] = {}
        for seq, ts, type_ in _candidates(trail, sysname):
            if is_reserved(type_):
                continue
            if type_ not in rules:
                rules[type_] = rule_for(policy, type_)
            rule = rules[type_]
            if rule is None or rule.period.add_to(_parse_ts(ts)) > when:
                continue
            batch = by_rule.get(rule.pattern)
            if batch is None:
                batch = by_rule[rule.pattern] = RuleBatch(sysname, rule.pattern, rule.period.text)
            held = _held_by(holds, sysname, seq)
            if held:
                batch.held.append(seq)
                batch.holds.extend(h for h in held if h not in batch.holds)
                continue
            batch.seqs.append(seq)
            batch.first_ts = batch.first_ts or ts
            batch.last_ts = ts
        out.batches.extend(by_rule[p] for p in sorted(by_rule))
    return out


__all__ = ["RetentionPlan", "RuleBatch", "check_policy", "format_now", "plan", "rule_for"]
