"""Helpers shared by the model evidence reports (fairness, performance, explainability, robustness).

Group encoding, bootstrap weights, percentile intervals and JSON-safe numbers live here so that every
report encodes groups, labels groups and draws replicates the same way.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modeltrail.errors import ValidationError

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]

MISSING_GROUP = "(missing)"
"""Label of the group of rows whose attribute value is missing: audited as a group, never dropped."""

INTERSECTION_SEP = "+"
"""Joins attribute names into the name of their intersection (``sex+age_band``)."""


def utc_now() -> str:
    """Current time as an RFC 3339 UTC string with second precision."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def finite_or_none(value: float) -> float | None:
    """``value`` as a float, or None when it is NaN or infinite (JSON has no NaN)."""
    v = float(value)
    return v if math.isfinite(v) else None


def as_1d(values: Any, name: str, n: int | None = None) -> np.ndarray[Any, Any]:
    """Convert array-likes (lists, Series, arrays) to a 1-D numpy array and check its length."""
    arr = np.asarray(values.to_numpy() if isinstance(values, pd.Series | pd.Index) else values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValidationError(f"expected a 1-D array, got shape {arr.shape}", field=name)
    if n is not None and arr.shape[0] != n:
        raise ValidationError(f"expected {n} values, got {arr.shape[0]}", field=name)
    return arr


def binary_labels(
    values: Any, name: str, pos_label: Any, n: int | None = None, *, require_positive: bool = False
) -> IntArray:
    """0/1 int64 array of ``values == pos_label``; refuses missing values and more than two distinct values.

    A missing label (None, NaN, ``pd.NA``) is an error rather than a negative: counting it as "not the
    positive class" silently changes every figure. ``require_positive`` (for true labels) also refuses a
    column in which ``pos_label`` never occurs, the usual sign of a wrong ``pos_label`` (``"1"`` for ``1``).
    """
    arr = as_1d(values, name, n)
    if arr.dtype == np.bool_:
        out_b: IntArray = (arr == pos_label).astype(np.int64)
        if require_positive and not out_b.any():
            raise ValidationError(f"positive label {pos_label!r} does not occur", field=name)
        return out_b
    missing = pd.isna(arr)
    if missing.any():
        raise ValidationError(
            f"{int(missing.sum())} missing values (first at row {int(np.flatnonzero(missing)[0])}); drop them "
            "or pass missing_labels='drop'",
            field=name,
        )
    uniq = pd.unique(arr)
    present = set(uniq.tolist())
    if len(uniq) > 2:
        raise ValidationError(f"expected binary labels, found {len(uniq)} distinct values", field=name)
    if (len(uniq) == 2 or require_positive) and pos_label not in present:
        found = ", ".join(sorted(repr(u) for u in present))
        raise ValidationError(f"positive label {pos_label!r} is not among the values ({found})", field=name)
    out: IntArray = (arr == pos_label).astype(np.int64)
    return out


def missing_label_mask(values: Any, name: str, missing_labels: str) -> BoolArray | None:
    """Rows to keep when ``missing_labels="drop"`` (None when nothing is dropped); validates the option."""
    if missing_labels not in ("error", "drop"):
        raise ValidationError("must be 'error' or 'drop'", field="missing_labels")
    if missing_labels == "error":
        return None
    missing = np.asarray(pd.isna(as_1d(values, name)), dtype=bool)
    return ~missing if missing.any() else None


def take_rows(values: Any, keep: BoolArray) -> Any:
    """``values`` restricted to the rows ``keep`` (arrays, Series, frames, mappings of columns; None stays)."""
    if values is None:
        return None
    if isinstance(values, pd.DataFrame | pd.Series):
        return values.iloc[np.flatnonzero(keep)]
    if isinstance(values, Mapping):
        return {k: take_rows(v, keep) for k, v in values.items()}
    return np.asarray(values)[keep]


@dataclass(frozen=True)
class Grouping:
    """One attribute (or intersection of attributes) encoded as integer group codes.

    ``codes[i]`` indexes ``labels``; ``labels`` are strings (``female``, or ``female, <25`` for an
    intersection); ``columns`` names the attributes that make it up.
    """

    name: str
    columns: tuple[str, ...]
    codes: IntArray
    labels: tuple[str, ...]

    @property
    def n_groups(self) -> int:
        """Number of groups (observed values or value combinations)."""
        return len(self.labels)


def group_label(value: Any, ambiguous: bool) -> str:
    """Printable label of a group value: ``str`` normally, ``repr`` when two values print alike."""
    return repr(value) if ambiguous else str(value)


def _factorize(values: Any) -> tuple[IntArray, list[str]]:
    # Factorise a Series as it is: converting Arrow-backed strings to numpy objects costs more than the
    # factorisation itself on large frames.
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    series = series.reset_index(drop=True)
    try:
        codes, uniques = pd.factorize(series, sort=True, use_na_sentinel=True)
    except TypeError:  # mixed types (1 and "1") do not sort: keep them apart, in order of appearance
        codes, uniques = pd.factorize(series, sort=False, use_na_sentinel=True)
    raw = list(uniques)
    printed = [str(u) for u in raw]
    # Values of different types that print alike (1 and "1") are different groups: label them by repr.
    clash = {p for p in printed if printed.count(p) > 1}
    labels = [group_label(u, p in clash) for u, p in zip(raw, printed, strict=True)]
    codes = codes.astype(np.int64)
    if (codes < 0).any():
        codes[codes < 0] = len(labels)
        labels.append(MISSING_GROUP)
    return codes, labels


def encode_groups(groups: pd.DataFrame | Mapping[str, Any], n: int, *, intersections: bool = True) -> list[Grouping]:
    """Encode each attribute of ``groups`` and, with two or more attributes, their full intersection.

    Intersections keep only the value combinations that occur, like a pandas groupby (and fairlearn's
    MetricFrame) does.
    """
    if isinstance(groups, pd.DataFrame):
        columns = {str(c): groups[c] for c in groups.columns}
    elif isinstance(groups, Mapping):
        columns = {str(k): v for k, v in groups.items()}
    else:
        raise ValidationError("expected a DataFrame or a mapping of attribute name to values", field="groups")
    if not columns:
        raise ValidationError("at least one attribute is needed", field="groups")
    out: list[Grouping] = []
    for name, values in columns.items():
        if not isinstance(values, pd.Series):
            values = as_1d(values, f"groups.{name}", n)
        elif len(values) != n:
            raise ValidationError(f"expected {n} values, got {len(values)}", field=f"groups.{name}")
        codes, labels = _factorize(values)
        out.append(Grouping(name, (name,), codes, tuple(labels)))
    if intersections and len(out) >= 2:
        out.append(intersect(out))
    return out


def intersect(parts: Sequence[Grouping]) -> Grouping:
    """Intersection of several groupings: one group per observed combination of their values."""
    combined = np.zeros(parts[0].codes.shape[0], dtype=np.int64)
    for g in parts:
        combined = combined * g.n_groups + g.codes
    uniq, codes = np.unique(combined, return_inverse=True)
    labels: list[str] = []
    for u in uniq.tolist():
        idx: list[str] = []
        for g in reversed(parts):
            u, r = divmod(u, g.n_groups)
            idx.append(g.labels[r])
        labels.append(", ".join(reversed(idx)))
    name = INTERSECTION_SEP.join(g.name for g in parts)
    cols = tuple(c for g in parts for c in g.columns)
    return Grouping(name, cols, codes.astype(np.int64), tuple(labels))


def percentile_ci(replicates: FloatArray, level: float) -> tuple[FloatArray, FloatArray]:
    """Percentile interval over axis 0 of ``replicates`` (NaN replicates, e.g. empty groups, are ignored)."""
    alpha = (1.0 - level) / 2.0
    with np.errstate(invalid="ignore"):
        if np.isnan(replicates).all(axis=0).any():
            lo = np.full(replicates.shape[1:], np.nan)
            hi = np.full(replicates.shape[1:], np.nan)
            ok = ~np.isnan(replicates).all(axis=0)
            if ok.any():
                lo[ok] = np.nanquantile(replicates[:, ok], alpha, axis=0)
                hi[ok] = np.nanquantile(replicates[:, ok], 1.0 - alpha, axis=0)
            return lo, hi
        return (
            np.asarray(np.nanquantile(replicates, alpha, axis=0), dtype=np.float64),
            np.asarray(np.nanquantile(replicates, 1.0 - alpha, axis=0), dtype=np.float64),
        )


def safe_div(num: FloatArray, den: FloatArray, zero: float = 0.0) -> FloatArray:
    """``num / den`` elementwise with ``zero`` where ``den`` is 0 (the scikit-learn zero_division rule)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, zero, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


# Poisson(1) bootstrap weights from 16-bit uniforms through a lookup table: each row's weight is
# independent, which is the standard large-sample form of the bootstrap (Hanley & MacGibbon 2006) and
# ~10x cheaper than drawing n indices and counting them. Table resolution is 2^-16; weights above 8 have
# probability < 1e-5 and are folded into 8.
_POISSON_TABLE_BITS = 16


def _poisson_table() -> np.ndarray[Any, np.dtype[np.uint8]]:
    size = 1 << _POISSON_TABLE_BITS
    pmf = [math.exp(-1.0) / math.factorial(k) for k in range(9)]
    cdf = np.cumsum(pmf)
    u = (np.arange(size, dtype=np.float64) + 0.5) / size
    return np.minimum(np.searchsorted(cdf, u, side="right"), 8).astype(np.uint8)


POISSON_TABLE = _poisson_table()


def poisson_weights(rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """``n`` independent Poisson(1) bootstrap weights (uint8)."""
    u = rng.integers(0, 1 << _POISSON_TABLE_BITS, size=n, dtype=np.uint16)
    return POISSON_TABLE[u]
