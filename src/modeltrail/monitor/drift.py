"""Drift statistics of a production window against a stored reference profile.

The statistics and their defaults reproduce Evidently 0.7's ``DataDriftPreset`` so results compare one to
one (read from its ``legacy/calculations/stattests`` sources and checked against it in the benchmark):

* default method per column: reference ≤ 1000 rows → numeric: KS (> 5 distinct values in reference +
  current), chi-square (3–5), Z-test (≤ 2); categorical: chi-square (> 2) or Z-test. Larger reference →
  numeric: normed Wasserstein (> 5 distinct) or Jensen–Shannon; categorical: Jensen–Shannon;
* thresholds: p-value tests 0.05 (KS drifts at ``p <= t``, chi-square and Z at ``p < t``); distances
  0.1 (drift at ``value >= t``) for normed Wasserstein, PSI and Jensen–Shannon;
* binning for PSI / JS: Sturges bins over reference + current when the reference has > 20 distinct
  values of a numeric column, else the share of each value; PSI replaces empty shares by
  ``min(non-zero share) / 1e6`` when that minimum is ≤ 1e-4, else by 1e-4 (JS uses raw shares);
* Wasserstein is normed by ``max(std(reference), 0.001)``;
* dataset drift when the share of drifted columns is ≥ 0.5;
* NaN and ±inf are dropped before a statistic (and reported as the missing-rate change).

Everything works on the profile's presorted reference values: the statistics merge two sorted runs
(``argsort(kind="stable")`` detects them and merges in linear time) instead of re-sorting the
reference, and KS's statistic is computed exactly as scipy does (counts divided by sizes), so it and its
p-value equal ``scipy.stats.ks_2samp``'s.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from ..errors import ValidationError
from .profile import ColumnProfile, FloatArray, ReferenceProfile, categorical_counts, numeric_column

METHODS = ("ks", "wasserstein", "psi", "jensenshannon", "chisquare", "z")
"""Drift methods; the policy's short names ``js`` and ``chi2`` are accepted as aliases."""

ALIASES = {"js": "jensenshannon", "chi2": "chisquare", "wasserstein_norm": "wasserstein"}
DEFAULT_THRESHOLDS: Mapping[str, float] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "psi": 0.1,
    "jensenshannon": 0.1,
}
P_VALUE_METHODS = frozenset({"ks", "chisquare", "z"})
DRIFT_SHARE = 0.5
SMALL_REFERENCE = 1000
PSI_BINS = 30  # Evidently's n_bins argument; unused by its Sturges binning, kept for the record


def canonical_method(name: str) -> str:
    """The canonical method name for ``name`` (aliases resolved); ValidationError when unknown."""
    m = ALIASES.get(name, name)
    if m not in METHODS:
        raise ValidationError(f"expected one of {', '.join(METHODS)} (or js, chi2), got {name!r}", field="method")
    return m


def default_method(kind: str, n_reference: int, n_unique: int) -> str:
    """Evidently's default method for a column of ``kind`` given the reference size and distinct values."""
    if n_reference <= SMALL_REFERENCE:
        if kind == "numeric" and n_unique > 5:
            return "ks"
        return "chisquare" if n_unique > 2 else "z"
    if kind == "numeric" and n_unique > 5:
        return "wasserstein"
    return "jensenshannon"


# -------------------------------------------------------------------------------- numeric kernels


def _merge(ref_sorted: FloatArray, cur_sorted: FloatArray) -> tuple[FloatArray, np.ndarray[Any, Any]]:
    """Both samples merged in order and, per merged position, whether it came from the reference."""
    both = np.concatenate([ref_sorted, cur_sorted])
    order = np.argsort(both, kind="stable")
    return both[order], order < ref_sorted.shape[0]


def ks_2samp_sorted(ref_sorted: FloatArray, cur_sorted: FloatArray) -> tuple[float, float]:
    """Two-sided two-sample KS statistic and p-value, equal to ``scipy.stats.ks_2samp`` (method auto)."""
    n1, n2 = ref_sorted.shape[0], cur_sorted.shape[0]
    if n1 == 0 or n2 == 0:
        raise ValidationError("KS needs values in both samples", field="values")
    if max(n1, n2) <= 10_000:
        # scipy's exact distribution applies here; it is cheap at these sizes, so scipy computes it.
        r = stats.ks_2samp(ref_sorted, cur_sorted)
        return float(r.statistic), float(r.pvalue)
    merged, from_ref = _merge(ref_sorted, cur_sorted)
    c1 = np.cumsum(from_ref)
    c2 = np.arange(1, merged.shape[0] + 1) - c1
    # The ECDFs are read where a run of equal values ends (scipy's searchsorted side="right").
    last = np.empty(merged.shape[0], dtype=bool)
    np.not_equal(merged[1:], merged[:-1], out=last[:-1])
    last[-1] = True
    diff = c1[last] / n1 - c2[last] / n2
    d = float(max(float(np.max(diff)), float(np.clip(-np.min(diff), 0, 1))))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    p = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1))
    return d, p


def wasserstein_sorted(ref_sorted: FloatArray, cur_sorted: FloatArray) -> float:
    """First Wasserstein distance of two samples (as ``scipy.stats.wasserstein_distance``)."""
    n1, n2 = ref_sorted.shape[0], cur_sorted.shape[0]
    merged, from_ref = _merge(ref_sorted, cur_sorted)
    # |F_ref - F_cur| after the k-th merged value: c1/n1 - (k - c1)/n2 = c1 (1/n1 + 1/n2) - k/n2, computed in
    # place (fewer passes over 2 x n values than the two ECDFs; equal to scipy's to rounding).
    # Within a run of equal values the step is 0, so partial counts there contribute nothing.
    c = np.cumsum(from_ref[:-1], dtype=np.float64)
    k = np.arange(1, merged.shape[0], dtype=np.float64)
    c *= 1.0 / n1 + 1.0 / n2
    k *= 1.0 / n2
    c -= k
    np.abs(c, out=c)
    return float(np.dot(c, np.diff(merged)))


def sturges_edges(lo: float, hi: float, n: int) -> FloatArray:
    """``np.histogram_bin_edges(x, bins="sturges")`` for data of ``n`` values spanning ``[lo, hi]``."""
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
        nb = 1
    else:
        width = (hi - lo) / (math.log2(n) + 1.0)
        nb = math.ceil((hi - lo) / width) if width else 1
    return np.linspace(lo, hi, nb + 1, endpoint=True)


def sorted_histogram(sorted_values: FloatArray, edges: FloatArray) -> np.ndarray[Any, np.dtype[np.int64]]:
    """``np.histogram(values, edges)[0]`` from sorted values (half-open bins, the last one closed)."""
    pos = np.searchsorted(sorted_values, edges, side="left")
    pos[-1] = np.searchsorted(sorted_values, edges[-1], side="right")
    return np.diff(pos).astype(np.int64)


def fill_zeroes(shares: FloatArray) -> FloatArray:
    """Evidently's replacement of empty shares before PSI (``feel_zeroes``)."""
    out = shares.copy()
    nz = out[out != 0]
    if nz.size and nz.size < out.size:
        lo = float(nz.min())
        out[out == 0] = lo / 10**6 if lo <= 0.0001 else 0.0001
    return out


def psi_value(ref_shares: FloatArray, cur_shares: FloatArray) -> float:
    """Population stability index of two share vectors (already zero-filled)."""
    return float(np.sum((ref_shares - cur_shares) * np.log(ref_shares / cur_shares)))


def js_distance(ref_shares: FloatArray, cur_shares: FloatArray) -> float:
    """Jensen–Shannon distance (natural log), as ``scipy.spatial.distance.jensenshannon``."""
    return float(distance.jensenshannon(ref_shares, cur_shares))


def chi_square_p(ref_counts: FloatArray, cur_counts: FloatArray) -> tuple[float, float]:
    """Chi-square goodness of fit of current counts against reference shares scaled to the current size."""
    k = cur_counts.sum() / ref_counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):  # a new category: expected 0, statistic inf, p 0
        r = stats.chisquare(cur_counts, ref_counts * k)
    return float(r.statistic), float(r.pvalue)


def z_test_p(ref_counts: FloatArray, cur_counts: FloatArray) -> tuple[float, float]:
    """Two-proportion Z-test on the first category (in sorted order) against the rest, two-sided."""
    n1, n2 = float(ref_counts.sum()), float(cur_counts.sum())
    if (
        np.count_nonzero(ref_counts) == 1
        and np.count_nonzero(cur_counts) == 1
        and np.argmax(ref_counts) == np.argmax(cur_counts)
    ):
        return 0.0, 1.0
    p1 = 1.0 - ref_counts[0] / n1
    p2 = 1.0 - cur_counts[0] / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(z), float(2 * (1 - stats.norm.cdf(np.abs(z))))


# -------------------------------------------------------------------------------- per column


@dataclass(frozen=True)
class CategoryCounts:
    """A categorical column already counted (a window summary's): counts per category and missing."""

    counts: Mapping[str, int]
    missing: int = 0


@dataclass
class ColumnDrift:
    """The drift of one column: the method's value, threshold, verdict, and what else changed."""

    column: str
    kind: str
    method: str
    value: float
    threshold: float
    drifted: bool
    statistic: float | None = None
    n_reference: int = 0
    n_current: int = 0
    missing_reference: float = 0.0
    missing_current: float = 0.0
    new_categories: list[str] = field(default_factory=list)
    vanished_categories: list[str] = field(default_factory=list)
    wasserstein_raw: float | None = None
    shares: dict[str, list[Any]] | None = None
    error_bound: float | None = None  # set by the bounded projection: 0 when exact
    note: str | None = None  # why the method differs from the one asked for (sealed fields)

    @property
    def missing_change(self) -> float:
        """Current minus reference missing rate."""
        return self.missing_current - self.missing_reference

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        d = {k: v for k, v in self.__dict__.items() if k != "shares"}
        d["missing_change"] = self.missing_change
        for k in ("value", "statistic", "wasserstein_raw", "error_bound"):
            if isinstance(d[k], float) and not math.isfinite(d[k]):
                d[k] = None
        return d


def _value_shares(
    ref_counts: Mapping[Any, int], cur_counts: Mapping[Any, int], n_ref: int, n_cur: int
) -> tuple[list[str], FloatArray, FloatArray]:
    keys = sorted(set(ref_counts) | set(cur_counts), key=lambda k: (str(type(k)), k))
    r = np.array([ref_counts.get(k, 0) for k in keys], dtype=np.float64)
    c = np.array([cur_counts.get(k, 0) for k in keys], dtype=np.float64)
    return [str(k) for k in keys], r, c


def _numeric_counts(sorted_values: FloatArray) -> dict[Any, int]:
    u, c = np.unique(sorted_values, return_counts=True)
    return {float(k): int(v) for k, v in zip(u.tolist(), c.tolist(), strict=True)}


def column_drift(
    ref: ColumnProfile,
    current: Any,
    *,
    method: str | None = None,
    threshold: float | None = None,
    keep_shares: bool = False,
) -> ColumnDrift:
    """Drift of ``current`` (the window's values of one column) against the reference column ``ref``."""
    if ref.kind == "numeric":
        cur, cur_missing = numeric_column(current)
        cur.sort()
        n_cur = int(cur.size)
        ref_vals = ref.array()
        n_unique = ref.unique
        if n_unique <= 5 and n_cur:
            n_unique = int(np.unique(np.concatenate([np.unique(ref_vals), np.unique(cur)])).size)
        elif n_cur and ref.n == 0:
            n_unique = int(np.unique(cur).size)
    else:
        if isinstance(current, CategoryCounts):
            cur_counts_raw, cur_missing = dict(current.counts), current.missing
        else:
            cur_counts_raw, cur_missing = categorical_counts(current)
        n_cur = sum(cur_counts_raw.values())
        n_unique = len(set(ref.counts or {}) | set(cur_counts_raw))
    total_cur = n_cur + cur_missing
    chosen = canonical_method(method) if method else default_method(ref.kind, ref.n, n_unique)
    if ref.kind == "categorical" and chosen in ("ks", "wasserstein"):
        raise ValidationError(f"{chosen} needs a numeric column; {ref.name!r} is categorical", field="method")
    t = float(threshold) if threshold is not None else DEFAULT_THRESHOLDS[chosen]
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
        missing_current=cur_missing / total_cur if total_cur else 0.0,
    )
    if ref.kind == "categorical":
        rc = ref.counts or {}
        out.new_categories = sorted(set(cur_counts_raw) - set(rc))
        out.vanished_categories = sorted(set(rc) - set(cur_counts_raw))
    if n_cur == 0 or ref.n == 0:
        return out  # nothing to compare: reported, not drifted (Evidently raises here)
    value: float
    if ref.kind == "numeric" and chosen in ("ks", "wasserstein"):
        if chosen == "ks":
            out.statistic, value = ks_2samp_sorted(ref_vals, cur)
        else:
            raw = wasserstein_sorted(ref_vals, cur)
            out.wasserstein_raw = raw
            value = raw / max(ref.std, 0.001)
    else:
        if ref.kind == "numeric":
            if chosen in ("psi", "jensenshannon") and ref.unique > 20:
                lo = min(float(ref_vals[0]), float(cur[0]))
                hi = max(float(ref_vals[-1]), float(cur[-1]))
                edges = sturges_edges(lo, hi, ref.n + n_cur)
                keys = [f"[{a:.6g}, {b:.6g})" for a, b in itertools.pairwise(edges)]
                r = sorted_histogram(ref_vals, edges).astype(np.float64)
                c = sorted_histogram(cur, edges).astype(np.float64)
            else:
                keys, r, c = _value_shares(_numeric_counts(ref_vals), _numeric_counts(cur), ref.n, n_cur)
        else:
            keys, r, c = _value_shares(ref.counts or {}, cur_counts_raw, ref.n, n_cur)
        value = counts_value(out, keys, r, c, keep_shares=keep_shares)
    out.value = value
    out.drifted = is_drifted(chosen, value, t)
    return out


def is_drifted(method: str, value: float, threshold: float) -> bool:
    """Evidently's verdict: KS at ``p <= t``, chi-square and Z at ``p < t``, distances at ``value >= t``."""
    if method == "ks":
        return value <= threshold
    if method in P_VALUE_METHODS:
        return value < threshold
    return value >= threshold


def counts_value(
    out: ColumnDrift, keys: Sequence[str], r: FloatArray, c: FloatArray, *, keep_shares: bool = False
) -> float:
    """PSI, Jensen–Shannon, chi-square p or Z p (``out.method``) of reference and current counts per bin.

    Sets ``out.statistic`` for the tests and ``out.shares`` when asked; the counts' sums are the sizes.
    """
    rs, cs = r / r.sum(), c / c.sum()
    if keep_shares:
        out.shares = {"keys": [str(k) for k in keys], "reference": rs.tolist(), "current": cs.tolist()}
    if out.method == "psi":
        return psi_value(fill_zeroes(rs), fill_zeroes(cs))
    if out.method == "jensenshannon":
        return js_distance(rs, cs)
    if out.method == "chisquare":
        out.statistic, value = chi_square_p(r, c)
        return value
    out.statistic, value = z_test_p(r, c)
    return value


# -------------------------------------------------------------------------------- dataset


@dataclass
class DriftReport:
    """Per-column drift and the dataset verdict (drifted share ≥ ``drift_share``)."""

    columns: dict[str, ColumnDrift]
    drift_share: float = DRIFT_SHARE
    n_current: int = 0

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the drifted columns."""
        return [n for n, c in self.columns.items() if c.drifted]

    @property
    def share_drifted(self) -> float:
        """Share of compared columns that drifted."""
        return len(self.drifted_columns) / len(self.columns) if self.columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        """Evidently's dataset verdict: the share of drifted columns reaches ``drift_share``."""
        return bool(self.columns) and self.share_drifted >= self.drift_share

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "dataset_drift": self.dataset_drift,
            "share_drifted": self.share_drifted,
            "drift_share": self.drift_share,
            "n_current": self.n_current,
            "drifted_columns": self.drifted_columns,
            "columns": {n: c.to_dict() for n, c in self.columns.items()},
        }


def drift_report(
    profile: ReferenceProfile,
    current: pd.DataFrame | Mapping[str, Any],
    *,
    columns: Sequence[str] | None = None,
    method: str | None = None,
    methods: Mapping[str, str] | None = None,
    threshold: float | None = None,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = DRIFT_SHARE,
    keep_shares: bool = False,
    workers: int = 1,
) -> DriftReport:
    """Drift of every profiled column present in ``current`` (or of ``columns``).

    ``method``/``threshold`` apply to every column, ``methods``/``thresholds`` per column (they win);
    unset ones take Evidently's defaults. ``workers`` > 1 computes columns in threads (the sorts and
    merges release the GIL).
    """
    if not 0 < drift_share <= 1:
        raise ValidationError("must be in (0, 1]", field="drift_share")
    names = list(columns) if columns is not None else [c for c in profile.columns if c in current]
    missing = [c for c in names if c not in current]
    if missing:
        raise ValidationError(f"the current data has no column {missing[0]!r}", field="columns")
    methods = methods or {}
    thresholds = thresholds or {}

    def one(name: str) -> ColumnDrift:
        ref = profile.column(name)
        try:
            return column_drift(
                ref,
                current[name],
                method=methods.get(name, method),
                threshold=thresholds.get(name, threshold),
                keep_shares=keep_shares,
            )
        finally:
            ref.release()

    if workers > 1 and len(names) > 1:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(one, names))
    else:
        results = [one(n) for n in names]
    n = 0
    if results:
        r0 = results[0]
        n = r0.n_current if r0.missing_current == 0 else round(r0.n_current / (1 - r0.missing_current))
    return DriftReport({r.column: r for r in results}, drift_share, n)
