"""The monitoring projection: windows summarised as decisions are logged, bounded in memory.

:class:`MonitorProjection` folds ``inference.decision`` events (after the last seq it has seen, so a
catch-up reads only what is new) into one summary per window of one model version and environment.
It is a projection like the others: rebuilt from the ledger by replaying from seq 0 (or from the window's
first decision), never a source of truth.

Memory: a window keeps its exact values while the projection holds at most ``budget_rows`` values per
column in total (then its statistics equal the batch report's). Past the budget, the window's numeric
columns switch to counts over ``bins`` fixed bins at reference quantiles (plus the exact minimum and
maximum), so memory per window is ``O(columns × bins)`` whatever the number of decisions; categorical
columns are counted exactly in both modes. From the binned summary:

* Wasserstein: the current values are placed at their bin midpoints; each value moves at most half its
  bin's width, so the error is at most ``Σ share_i × width_i / 2`` (reported as ``error_bound``, normed
  like the value);
* KS: the current ECDF is exact at the bin edges; between edges both ECDFs rise by at most their bin
  mass, so the true statistic lies in ``[D_edges, D_edges + max_i max(ref_i, cur_i)]`` (with ``bins``
  reference-quantile bins, ``ref_i`` ≈ 1/bins); the p-value is computed at ``D_edges``;
* PSI / Jensen–Shannon on Sturges bins: a fixed bin straddling a Sturges edge is split in proportion to
  its width, so each share is off by at most the mass of the straddling bins (``error_bound`` is that
  largest mass).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from ..events import Event, parse_ts
from .drift import ColumnDrift, column_drift, fill_zeroes, js_distance, psi_value, sturges_edges
from .profile import SCORE, FloatArray, ReferenceProfile, categorical_counts
from .windows import DECISION, model_ref, parse_every

if TYPE_CHECKING:
    from ..trail import Trail


@dataclass
class _Numeric:
    chunks: list[FloatArray] = field(default_factory=list)
    counts: np.ndarray[Any, np.dtype[np.int64]] | None = None  # binned mode: len(edges) + 1 bins
    lo: float = math.inf
    hi: float = -math.inf
    missing: int = 0

    @property
    def exact(self) -> bool:
        return self.counts is None


@dataclass
class WindowSummary:
    """One window's summary: counts, seq range, per-column exact values or binned counts."""

    start: float
    n: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    numeric: dict[str, _Numeric] = field(default_factory=dict)
    categorical: dict[str, dict[str, int]] = field(default_factory=dict)
    cat_missing: dict[str, int] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        """Whether every numeric column still holds its exact values."""
        return all(c.exact for c in self.numeric.values())


class MonitorProjection:
    """Window summaries of one model version (and environment), updated incrementally from the ledger."""

    def __init__(
        self,
        profile: ReferenceProfile,
        model: str,
        env: str | None,
        *,
        every: str | float,
        budget_rows: int = 1_000_000,
        bins: int = 2048,
    ) -> None:
        """Summaries per ``every`` window; exact until ``budget_rows`` values per column are held."""
        self.profile = profile
        self.model = model_ref(model)
        self.env = env
        self.seconds = parse_every(every)
        self.budget_rows = budget_rows
        self.last_seq = -1
        self.windows: dict[float, WindowSummary] = {}
        self.edges: dict[str, FloatArray] = {}
        for name, col in profile.columns.items():
            if col.kind == "numeric" and col.n:
                q = np.quantile(col.array(), np.linspace(0, 1, bins + 1))
                self.edges[name] = np.unique(q)
                col.release()

    def _held(self) -> int:
        return sum(sum(a.size for a in c.chunks) for w in self.windows.values() for c in w.numeric.values()) // max(
            1, len(self.edges)
        )

    def fold(self, events: Iterable[Event]) -> int:
        """Add decision events (in seq order, those after :attr:`last_seq`); returns how many were taken."""
        rows: dict[float, list[Event]] = {}
        taken = 0
        for ev in events:
            if ev.seq <= self.last_seq:
                continue
            self.last_seq = ev.seq
            p = ev.payload
            if ev.type != DECISION or p.get("model") != self.model or p.get("route") == "fallback":
                continue
            if self.env is not None and p.get("env") != self.env:
                continue
            key = math.floor(parse_ts(ev.ts).timestamp() / self.seconds) * self.seconds
            rows.setdefault(key, []).append(ev)
            taken += 1
        for key, evs in rows.items():
            self._add(key, evs)
        return taken

    def catch_up(self, trail: Trail) -> int:
        """Fold the decisions logged since the last fold (reads only new events)."""
        return self.fold(trail.events(DECISION, after_seq=self.last_seq if self.last_seq >= 0 else None))

    def _add(self, key: float, evs: list[Event]) -> None:
        w = self.windows.setdefault(key, WindowSummary(key))
        w.n += len(evs)
        w.first_seq = evs[0].seq if w.first_seq is None else w.first_seq
        w.last_seq = evs[-1].seq
        cols: dict[str, list[Any]] = {name: [] for name in self.profile.columns}
        for ev in evs:
            inp = ev.payload.get("input") or {}
            for name in cols:
                cols[name].append(ev.payload.get("score") if name == SCORE else inp.get(name))
        for name, values in cols.items():
            col = self.profile.columns[name]
            if col.kind == "categorical":
                counts, missing = categorical_counts(values)
                acc = w.categorical.setdefault(name, {})
                for k, v in counts.items():
                    acc[k] = acc.get(k, 0) + v
                w.cat_missing[name] = w.cat_missing.get(name, 0) + missing
                continue
            arr = np.array([np.nan if v is None or isinstance(v, str) else v for v in values], dtype=np.float64)
            finite = arr[np.isfinite(arr)]
            s = w.numeric.setdefault(name, _Numeric())
            s.missing += int(arr.size - finite.size)
            if finite.size:
                s.lo, s.hi = min(s.lo, float(finite.min())), max(s.hi, float(finite.max()))
            if s.exact:
                s.chunks.append(finite)
            else:
                self._bin_into(name, s, finite)
        if self._held() > self.budget_rows:
            # Over budget: the largest exact windows switch to bins until the projection fits again.
            for win in sorted(self.windows.values(), key=lambda x: -x.n):
                if self._held() <= self.budget_rows:
                    break
                for name, s in win.numeric.items():
                    if s.exact and name in self.edges:
                        held: FloatArray = np.concatenate(s.chunks) if s.chunks else np.empty(0)
                        s.counts = np.zeros(self.edges[name].size + 1, dtype=np.int64)
                        s.chunks = []
                        self._bin_into(name, s, held)

    def _bin_into(self, name: str, s: _Numeric, values: FloatArray) -> None:
        assert s.counts is not None
        idx = np.searchsorted(self.edges[name], values, side="right")
        s.counts += np.bincount(idx, minlength=s.counts.size)

    # -- statistics ------------------------------------------------------------------------------

    def drift(self, key: float, column: str, method: str | None = None) -> ColumnDrift:
        """Drift of one column of window ``key``: exact while exact, else with ``error_bound`` set."""
        w = self.windows[key]
        ref = self.profile.column(column)
        if ref.kind == "categorical":
            counts = w.categorical.get(column, {})
            values = [k for k, v in counts.items() for _ in range(v)] + [None] * w.cat_missing.get(column, 0)
            return column_drift(ref, values, method=method)
        s = w.numeric[column]
        if s.exact:
            vals = np.concatenate(s.chunks) if s.chunks else np.empty(0)
            r = column_drift(ref, np.concatenate([vals, np.full(s.missing, np.nan)]), method=method)
            ref.release()
            r.error_bound = 0.0
            return r
        try:
            return self._binned(ref.array(), ref, s, column, method)
        finally:
            ref.release()

    def _binned(self, ref_sorted: FloatArray, ref: Any, s: _Numeric, column: str, method: str | None) -> ColumnDrift:
        assert s.counts is not None
        edges = self.edges[column]
        n_cur = int(s.counts.sum())
        outer = np.concatenate([[min(s.lo, edges[0])], edges, [max(s.hi, edges[-1])]])
        left, right = outer[:-1], outer[1:]
        shares = s.counts / n_cur
        chosen = method or ("wasserstein" if ref.n > 1000 else "ks")
        out = ColumnDrift(
            column,
            "numeric",
            chosen,
            math.nan,
            0.1 if chosen != "ks" else 0.05,
            False,
            n_reference=ref.n,
            n_current=n_cur,
        )
        out.missing_reference = ref.missing_rate
        out.missing_current = s.missing / (n_cur + s.missing) if n_cur + s.missing else 0.0
        if chosen == "wasserstein":
            mids = (left + right) / 2
            raw = float(stats.wasserstein_distance(ref_sorted, mids, v_weights=s.counts.astype(np.float64) + 1e-300))
            norm = max(ref.std, 0.001)
            out.wasserstein_raw = raw
            out.value = raw / norm
            out.error_bound = float(np.sum(shares * (right - left)) / 2 / norm)
            out.drifted = out.value >= out.threshold
        elif chosen == "ks":
            f_ref = np.searchsorted(ref_sorted, edges, side="right") / ref.n
            f_cur = np.cumsum(s.counts)[:-1] / n_cur
            d = float(np.max(np.abs(f_ref - f_cur)))
            ref_mass = np.diff(np.concatenate([[0.0], f_ref, [1.0]]))
            out.statistic = d
            m, n = sorted([float(ref.n), float(n_cur)], reverse=True)
            out.value = float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))
            out.error_bound = float(np.max(np.maximum(ref_mass, shares)))
            out.drifted = out.value <= out.threshold
        else:
            lo, hi = min(float(ref_sorted[0]), s.lo), max(float(ref_sorted[-1]), s.hi)
            st_edges = sturges_edges(lo, hi, ref.n + n_cur)
            # Each fixed bin's count is spread uniformly over its width into the Sturges bins.
            cdf_at = np.interp(st_edges, np.concatenate([[left[0]], right]), np.concatenate([[0.0], np.cumsum(shares)]))
            cur = np.diff(cdf_at)
            rs = np.diff(np.searchsorted(ref_sorted, st_edges, side="left")).astype(np.float64)
            rs[-1] += np.count_nonzero(ref_sorted == st_edges[-1])
            rs /= ref.n
            out.value = psi_value(fill_zeroes(rs), fill_zeroes(cur)) if chosen == "psi" else js_distance(rs, cur)
            out.error_bound = float(shares.max())
            out.drifted = out.value >= out.threshold
        return out

    def summary(self) -> list[dict[str, Any]]:
        """Per window: start, decisions, seq range, and whether it is still exact."""
        return [
            {"start": k, "n": w.n, "first_seq": w.first_seq, "last_seq": w.last_seq, "exact": w.exact}
            for k, w in sorted(self.windows.items())
        ]


def rebuild(trail: Trail, profile: ReferenceProfile, model: str, env: str | None, **kw: Any) -> MonitorProjection:
    """A projection rebuilt from the whole ledger."""
    proj = MonitorProjection(profile, model, env, **kw)
    proj.catch_up(trail)
    return proj


def bounds_ok(results: Mapping[str, ColumnDrift], exact: Mapping[str, ColumnDrift]) -> bool:
    """Whether every binned value is within its stated bound of the exact one (used by the tests)."""
    for name, r in results.items():
        e = exact[name]
        got = r.statistic if r.method == "ks" else r.value
        want = e.statistic if e.method == "ks" else e.value
        if got is None or want is None or abs(got - want) > (r.error_bound or 0.0) + 1e-12:
            return False
    return True
