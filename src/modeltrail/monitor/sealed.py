"""Sealed fields monitored from aggregates taken before sealing: counts per bin, never a clear value.

The data policy can seal an input (encrypted under the data subject's key; the ledger holds only a
reference), so a window read from the ledger has no value for it. :class:`SealedAggregator` is hooked
into the guard's data policy (:func:`attach`): it sees the values the moment before they are sealed and
adds each to a count — per bin of the reference profile's binning for numeric fields, per reference
category for categorical ones — and keeps nothing else. Once per aligned period (``granularity``, 1 h by
default) it records the counts as one ``monitor.sealed`` event about the model version; a window check
adds up the aggregates of the periods inside the window.

What the monitor can and cannot compute on a sealed field:

* numeric: bins at the reference's quantiles (``bins``, 20 by default; at the distinct reference values
  when there are at most that many), with open bins below and above. PSI, Jensen–Shannon, chi-square and
  the Z-test work on these counts. KS and Wasserstein need the values (or the exact minimum and
  maximum, which are one person's values), so a sealed numeric field asked for either gets
  Jensen–Shannon instead (chi-square for a reference of at most 1000 rows, as Evidently's small-data
  choice), with a ``note``. The bins are coarser than Evidently's Sturges bins over reference + current
  (those need the current range), so the values are PSI/JS *on the reference-quantile bins*: they
  do not equal Evidently's for the same column in clear;
* categorical: exact counts per reference category; a category the reference never had is counted as
  ``(new)`` (a rare free-text value could single a person out). Chi-square, Z, JS and PSI then equal
  the clear-text computation whenever no new category appears.

Small counts can still say something about the few people behind them, so a period with fewer than
``min_count`` decisions is recorded with its count only (``suppressed: true``), never its bins.
Aggregates include every decision the guard sealed a field for, fallback decisions too (their inputs are
production inputs all the same). Count windows (``--count``) cannot use them: only time windows align with
the aggregation periods.
"""

from __future__ import annotations

import bisect
import itertools
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ValidationError
from ..events import Actor, Receipt, format_ts
from .drift import DEFAULT_THRESHOLDS, SMALL_REFERENCE, ColumnDrift, canonical_method, counts_value, is_drifted
from .profile import ColumnProfile, FloatArray, ReferenceProfile

if TYPE_CHECKING:
    from ..runtime.guard import Guard
    from ..trail import Trail

SEALED_EVENT = "monitor.sealed"
NEW_CATEGORY = "(new)"
GRANULARITY = 3600.0
MIN_COUNT = 10
BINS = 20
SEAL = "seal"


def sealed_edges(col: ColumnProfile, bins: int = BINS) -> list[float]:
    """Interior bin edges for a sealed numeric field: reference quantiles (or midpoints of few values).

    A value ``v`` falls in bin ``bisect_right(edges, v)``: ``(-inf, e0)``, ``[e0, e1)``, …, ``[e_last, inf)``.
    """
    ref = col.array()
    if ref.size == 0:
        return []
    u = np.unique(ref)
    if u.size <= bins:
        # One bin per reference value: its shares are the per-value shares Evidently uses for few values.
        return [float(x) for x in (u[:-1] + u[1:]) / 2]
    q = np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1])
    return [float(x) for x in np.unique(q)]


def reference_counts(col: ColumnProfile, edges: list[float]) -> FloatArray:
    """The reference's counts in the bins of ``edges`` (same rule as :func:`sealed_edges`)."""
    ref = col.array()
    pos = np.searchsorted(ref, np.asarray(edges, dtype=np.float64), side="left")  # bin i: [e(i-1), e(i))
    out: FloatArray = np.diff(np.concatenate([[0], pos, [ref.size]])).astype(np.float64)
    return out


@dataclass
class _Period:
    start: float
    n: int = 0
    numeric: dict[str, list[int]] = field(default_factory=dict)
    categorical: dict[str, dict[str, int]] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)


class SealedAggregator:
    """Counts of sealed field values per period, recorded as ``monitor.sealed`` events (no values kept)."""

    def __init__(
        self,
        trail: Trail,
        profile: ReferenceProfile,
        *,
        model: str,
        env: str | None,
        system: str,
        fields: list[str],
        actor: Actor,
        granularity: float = GRANULARITY,
        min_count: int = MIN_COUNT,
        bins: int = BINS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Aggregate ``fields`` (sealed inputs the profile has) of ``model`` in ``env`` per ``granularity`` s."""
        if granularity <= 0:
            raise ValidationError("must be positive", field="granularity")
        self.trail, self.model, self.env, self.system, self.actor = trail, model, env, system, actor
        self.granularity, self.min_count, self.clock = float(granularity), int(min_count), clock
        self.profile_sha256 = profile.digest
        self.edges: dict[str, list[float]] = {}
        self.categories: dict[str, set[str]] = {}
        for name in fields:
            col = profile.column(name)
            if col.kind == "numeric":
                self.edges[name] = sealed_edges(col, bins)
                col.release()
            else:
                self.categories[name] = set(col.counts or {})
        self._lock = threading.Lock()
        self._period: _Period | None = None

    @property
    def fields(self) -> list[str]:
        """The aggregated fields."""
        return [*self.edges, *self.categories]

    def observe(self, values: Mapping[str, Any]) -> None:
        """Count one decision's values of the sealed fields (called by the data policy before sealing)."""
        now = self.clock()
        start = math.floor(now / self.granularity) * self.granularity
        with self._lock:
            p = self._period
            if p is not None and p.start != start:
                self._record(p)
                p = None
            if p is None:
                p = self._period = _Period(start)
            p.n += 1
            for name, edges in self.edges.items():
                v = values.get(name)
                if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                    p.missing[name] = p.missing.get(name, 0) + 1
                    continue
                counts = p.numeric.get(name)
                if counts is None:
                    counts = p.numeric[name] = [0] * (len(edges) + 1)
                counts[bisect.bisect_right(edges, v)] += 1
            for name, known in self.categories.items():
                v = values.get(name)
                if v is None:
                    p.missing[name] = p.missing.get(name, 0) + 1
                    continue
                key = str(v)
                key = key if key in known else NEW_CATEGORY
                cats = p.categorical.setdefault(name, {})
                cats[key] = cats.get(key, 0) + 1

    def flush(self) -> Receipt | None:
        """Record the current period now (its counts so far); None when nothing was observed."""
        with self._lock:
            p, self._period = self._period, None
            return None if p is None else self._record(p)

    close = flush

    def _record(self, p: _Period) -> Receipt:
        suppressed = p.n < self.min_count
        fields: dict[str, Any] = {}
        if not suppressed:
            for name, edges in self.edges.items():
                fields[name] = {
                    "kind": "numeric",
                    "edges": edges,
                    "counts": p.numeric.get(name, [0] * (len(edges) + 1)),
                    "missing": p.missing.get(name, 0),
                }
            for name in self.categories:
                fields[name] = {
                    "kind": "categorical",
                    "counts": dict(sorted(p.categorical.get(name, {}).items())),
                    "missing": p.missing.get(name, 0),
                }
        payload = {
            "model": self.model,
            "env": self.env,
            "start": format_ts(datetime.fromtimestamp(p.start, UTC)),
            "end": format_ts(datetime.fromtimestamp(p.start + self.granularity, UTC)),
            "n": p.n,
            "suppressed": suppressed,
            "min_count": self.min_count,
            "profile_sha256": self.profile_sha256,
            "fields": fields,
        }
        return self.trail.record(
            SEALED_EVENT, system=self.system, actor=self.actor, subject=self.model, payload=payload, refs=[self.model]
        )


def attach(
    guard: Guard,
    *,
    profile: ReferenceProfile | None = None,
    actor: Actor | None = None,
    granularity: float = GRANULARITY,
    min_count: int = MIN_COUNT,
    bins: int = BINS,
) -> SealedAggregator | None:
    """Hook a :class:`SealedAggregator` into ``guard``'s data policy for the sealed fields its profile has.

    The profile defaults to the one recorded for the guard's model version. Returns None when the policy
    seals none of the profile's fields. Call ``close()`` on the result when the guard stops, so the last
    period is recorded.
    """
    from .profile import load_profile

    prof = profile if profile is not None else load_profile(guard.trail, guard.model_ref)[0]
    fields = [f for f in prof.columns if guard.data.action_for(f) == SEAL]
    if not fields:
        return None
    agg = SealedAggregator(
        guard.trail,
        prof,
        model=guard.model_ref,
        env=guard.env,
        system=guard.system,
        fields=fields,
        actor=actor or guard.actor,
        granularity=granularity,
        min_count=min_count,
        bins=bins,
    )
    guard.data.observer = agg.observe
    return agg


# -------------------------------------------------------------------------------- reading


def window_aggregates(
    trail: Trail, model: str, env: str | None, start: str, end: str, profile_sha256: str | None
) -> dict[str, dict[str, Any]]:
    """The sealed-field counts of ``model`` in ``env`` summed over the periods inside ``[start, end)``.

    Periods of another profile (other bins) are left out. Returns ``{field: {kind, edges?, counts,
    missing}}`` plus ``{"(periods)": {...}}`` with how many periods and decisions were summed and suppressed.
    """
    out: dict[str, dict[str, Any]] = {}
    periods = suppressed = n = 0
    for ev in trail.events(SEALED_EVENT, subject=model):
        p = ev.payload
        if p.get("env") != env or not isinstance(p.get("start"), str) or not start <= p["start"] < end:
            continue
        if profile_sha256 is not None and p.get("profile_sha256") != profile_sha256:
            continue
        periods += 1
        n += int(p.get("n") or 0)
        if p.get("suppressed"):
            suppressed += 1
            continue
        for name, agg in (p.get("fields") or {}).items():
            acc = out.get(name)
            if acc is None:
                out[name] = {
                    "kind": agg["kind"],
                    "edges": agg.get("edges"),
                    "counts": list(agg["counts"]) if agg["kind"] == "numeric" else dict(agg["counts"]),
                    "missing": int(agg.get("missing", 0)),
                }
                continue
            acc["missing"] += int(agg.get("missing", 0))
            if agg["kind"] == "numeric":
                acc["counts"] = [a + b for a, b in zip(acc["counts"], agg["counts"], strict=True)]
            else:
                for k, v in agg["counts"].items():
                    acc["counts"][k] = acc["counts"].get(k, 0) + int(v)
    if periods:
        out["(periods)"] = {"periods": periods, "suppressed": suppressed, "n": n}
    return out


def sealed_drift(
    ref: ColumnProfile,
    agg: Mapping[str, Any],
    *,
    method: str | None = None,
    threshold: float | None = None,
    keep_shares: bool = False,
) -> ColumnDrift:
    """Drift of a sealed field from its aggregate (``window_aggregates``' entry) against the reference."""
    if ref.kind == "numeric":
        edges = list(agg["edges"])
        r = reference_counts(ref, edges)
        ref.release()
        c = np.asarray(agg["counts"], dtype=np.float64)
        if c.shape != r.shape:
            raise ValidationError(f"expected {r.size} bin counts for {len(edges)} edges, got {c.size}", field="counts")
        keys = [f"< {edges[0]:.6g}"] if edges else ["all"]
        keys += [f"[{a:.6g}, {b:.6g})" for a, b in itertools.pairwise(edges)]
        keys += [f">= {edges[-1]:.6g}"] if edges else []
    else:
        counts = agg["counts"]
        keys = sorted(set(ref.counts or {}) | set(counts))
        r = np.array([(ref.counts or {}).get(k, 0) for k in keys], dtype=np.float64)
        c = np.array([counts.get(k, 0) for k in keys], dtype=np.float64)
    n_cur = int(c.sum())
    missing = int(agg.get("missing", 0))
    default = "jensenshannon" if ref.n > SMALL_REFERENCE else ("chisquare" if len(keys) > 2 else "z")
    asked = canonical_method(method) if method else None
    chosen, note = asked or default, None
    if chosen in ("ks", "wasserstein"):
        chosen = "chisquare" if ref.n <= SMALL_REFERENCE else "jensenshannon"
        note = f"sealed field: {asked or 'the default'} needs values, {chosen} on binned counts instead"
    t = float(threshold) if threshold is not None and not note else DEFAULT_THRESHOLDS[chosen]
    out = ColumnDrift(
        ref.name,
        ref.kind,
        chosen,
        math.nan,
        t,
        False,
        n_reference=ref.n,
        n_current=n_cur,
        missing_reference=ref.missing_rate,
        missing_current=missing / (n_cur + missing) if n_cur + missing else 0.0,
        note=note or "sealed field: computed from aggregates taken before sealing",
    )
    if ref.kind == "categorical":
        out.new_categories = [NEW_CATEGORY] if counts.get(NEW_CATEGORY) else []
        out.vanished_categories = sorted(k for k in (ref.counts or {}) if not counts.get(k))
    if n_cur == 0 or ref.n == 0:
        return out
    out.value = counts_value(out, keys, r, c, keep_shares=keep_shares)
    out.drifted = is_drifted(chosen, out.value, t)
    return out


__all__ = [
    "SEALED_EVENT",
    "SealedAggregator",
    "attach",
    "reference_counts",
    "sealed_drift",
    "sealed_edges",
    "window_aggregates",
]
