"""Data governance report (EU AI Act Art. 10): quality, balance, representativeness, proxies and PII.

Everything is computed from integer codes: each column is factorised once (``pd.factorize`` or the
categorical codes) and every later figure — duplicate rows, top-value shares, contingency tables, group
means — is a ``np.bincount`` over those codes. That keeps a report on a million rows by thirty columns
within a few seconds on a laptop-class machine.

Metrics (read by policy gates):

- ``data.rows``, ``data.columns``
- ``data.missing_rate`` (max over columns) and ``data.missing_rate[<col>]``
- ``data.duplicate_rate``
- ``data.constant_columns``
- ``data.label_minority_share`` (classification labels only)
- ``data.group_share[<attr>=<value>]``
- ``data.representativeness_tvd[<attr>]`` (when a reference population is given)
- ``data.max_proxy_association``
- ``data.pii_findings`` (number of columns with at least one PII finding)
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from modeltrail.errors import ValidationError
from modeltrail.evidence.pii import DEFAULT_SAMPLE_ROWS, scan_dataframe
from modeltrail.evidence.report import Report

__all__ = ["SCHEMA_VERSION", "correlation_ratio", "cramers_v", "data_report"]

SCHEMA_VERSION = 1

IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]

# A categorical column with more distinct values than this (and more than half its rows distinct) is an
# identifier or free text: contingency tables over it say nothing about proxies.
_MAX_CATEGORY_LEVELS = 1000
# Numeric protected attributes with more distinct values than this are grouped into quantile bins.
_MAX_GROUP_LEVELS = 20
_N_BINS = 10


# --------------------------------------------------------------------------------------------------
# Association measures (public so that tests and other reports can cross-check them)
# --------------------------------------------------------------------------------------------------


def cramers_v(table: np.ndarray[Any, Any]) -> float:
    """Cramér's V of a two-way contingency table (no bias correction, no Yates correction).

    Empty rows and columns are dropped first; a table with a single row or column has V = 0. Equals
    ``scipy.stats.contingency.association(table, method="cramer")`` on tables without empty margins.
    """
    t = np.asarray(table, dtype=np.float64)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    r, c = t.shape
    if r < 2 or c < 2:
        return 0.0
    n = t.sum()
    expected = np.outer(t.sum(axis=1), t.sum(axis=0)) / n
    chi2 = float(((t - expected) ** 2 / expected).sum())
    return math.sqrt(chi2 / (n * (min(r, c) - 1)))


def correlation_ratio(groups: IntArray, values: FloatArray, n_groups: int | None = None) -> float:
    """Correlation ratio η of a numeric variable over integer group codes (``-1`` = missing, ignored).

    η² is the share of the variance of ``values`` explained by the group means (between-group sum of
    squares over total sum of squares). Missing values (NaN) are ignored. Returns 0 for constant values.
    """
    g = np.asarray(groups, dtype=np.int64)
    x = np.asarray(values, dtype=np.float64)
    valid = (g >= 0) & ~np.isnan(x)
    if not valid.all():
        g, x = g[valid], x[valid]
    if x.size == 0:
        return 0.0
    k = int(g.max()) + 1 if n_groups is None else n_groups
    # Centring first keeps the sums of squares accurate for large-valued features (amounts in cents...).
    xc = x - x.mean()
    sst = float(np.dot(xc, xc))
    if sst <= 0.0:
        return 0.0
    counts = np.bincount(g, minlength=k).astype(np.float64)
    sums = np.bincount(g, weights=xc, minlength=k)
    nz = counts > 0
    ssb = float((sums[nz] ** 2 / counts[nz]).sum())
    return math.sqrt(min(max(ssb / sst, 0.0), 1.0))


# --------------------------------------------------------------------------------------------------
# Column encoding
# --------------------------------------------------------------------------------------------------


@dataclass
class _Col:
    name: str
    dtype: str
    kind: str  # numeric | categorical | boolean | datetime | text
    codes: IntArray  # -1 for missing
    n_levels: int  # size of the code space
    uniques: pd.Index
    values: FloatArray | None  # float view for numeric columns
    n_missing: int
    counts: IntArray  # per code


def _encode(s: pd.Series, name: str) -> _Col:
    dtype = str(s.dtype)
    values: FloatArray | None = None
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy(dtype=np.int64)
        uniques = pd.Index(s.cat.categories)
        kind = "categorical"
    elif pd.api.types.is_bool_dtype(s.dtype):
        codes_, uniques = pd.factorize(s, sort=True)
        codes, kind = codes_.astype(np.int64, copy=False), "boolean"
    elif pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_complex_dtype(s.dtype):
        values = s.to_numpy(dtype=np.float64, na_value=np.nan)
        codes_, uniques = pd.factorize(values, sort=False)
        codes, kind = codes_.astype(np.int64, copy=False), "numeric"
    elif pd.api.types.is_datetime64_any_dtype(s.dtype):
        codes_, uniques = pd.factorize(s, sort=False)
        codes, kind = codes_.astype(np.int64, copy=False), "datetime"
    else:
        codes_, uniques = pd.factorize(s, sort=False)
        codes, kind = codes_.astype(np.int64, copy=False), "categorical"
    n_levels = len(uniques)
    counts = np.bincount(codes + 1, minlength=n_levels + 1)
    n_missing = int(counts[0])
    n_valid = len(codes) - n_missing
    if kind == "categorical" and n_levels > _MAX_CATEGORY_LEVELS and n_levels > 0.5 * n_valid:
        kind = "text"
    return _Col(name, dtype, kind, codes, n_levels, pd.Index(uniques), values, n_missing, counts[1:].astype(np.int64))


@dataclass
class _Groups:
    """A protected attribute (or label) as group codes with printable group names."""

    name: str
    codes: IntArray
    labels: list[str]
    binned: bool
    edges: FloatArray | None  # quantile bin edges when binned


def _groups(col: _Col) -> _Groups:
    if col.kind == "numeric" and col.n_levels > _MAX_GROUP_LEVELS and col.values is not None:
        x = col.values
        finite = x[~np.isnan(x)]
        edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, _N_BINS + 1))) if finite.size else np.zeros(1)
        if edges.size < 2:
            edges = np.array([edges[0], edges[0]])
        codes = np.searchsorted(edges[1:-1], x, side="right").astype(np.int64)
        codes[np.isnan(x)] = -1
        n = edges.size - 1
        labels = [f"[{_num(edges[i])}, {_num(edges[i + 1])}{']' if i == n - 1 else ')'}" for i in range(n)]
        return _Groups(col.name, codes, labels, True, edges.astype(np.float64))
    # Sort groups by their printable name so reports are stable whatever the row order.
    labels_raw = [_label(v) for v in col.uniques]
    order = np.argsort(np.array(labels_raw, dtype=object), kind="stable")
    remap = np.empty(len(order) + 1, dtype=np.int64)
    remap[0] = -1
    remap[order + 1] = np.arange(len(order))
    return _Groups(col.name, remap[col.codes + 1], [labels_raw[i] for i in order], False, None)


def _label(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, np.generic):
        return _label(v.item())
    return str(v)


def _num(x: float) -> str:
    return f"{x:.6g}"


def _f(x: Any) -> float | None:
    """JSON-safe float (None for NaN/Inf)."""
    v = float(x)
    return v if math.isfinite(v) else None


def _r(x: float, nd: int = 6) -> float:
    return round(float(x), nd)


# --------------------------------------------------------------------------------------------------
# Report sections
# --------------------------------------------------------------------------------------------------


def _duplicates(cols: list[_Col], n: int) -> int:
    """Number of rows identical to an earlier row, computed exactly from the column codes."""
    if n == 0 or not cols:
        return 0
    key = np.zeros(n, dtype=np.int64)
    card = 1
    for c in cols:
        k = c.n_levels + 1
        if card * k >= 2**62:
            # Re-densify the running key so the mixed-radix combination can not overflow int64.
            key_codes, uniq = pd.factorize(key, sort=False)
            key, card = key_codes.astype(np.int64), len(uniq)
        key = key * k + (c.codes + 1)
        card *= k
    return n - len(pd.unique(key))


def _numeric_stats(col: _Col, iqr_factor: float) -> dict[str, Any]:
    assert col.values is not None
    x = col.values
    x = x[~np.isnan(x)] if col.n_missing else x
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"min": None, "max": None}
    q = np.quantile(x, [0.0, 0.25, 0.5, 0.75, 1.0])
    iqr = q[3] - q[1]
    lo, hi = q[1] - iqr_factor * iqr, q[3] + iqr_factor * iqr
    n_out = int(np.count_nonzero((x < lo) | (x > hi)))
    return {
        "min": _f(q[0]),
        "q1": _f(q[1]),
        "median": _f(q[2]),
        "q3": _f(q[3]),
        "max": _f(q[4]),
        "mean": _f(x.mean()),
        "std": _f(x.std(ddof=1)) if x.size > 1 else 0.0,
        "outlier_fences": [_f(lo), _f(hi)],
        "outliers": n_out,
        "outlier_share": _r(n_out / x.size),
    }


HISTOGRAM_BINS = 20
TOP_VALUES = 10


def _histogram(col: _Col) -> dict[str, Any] | None:
    """Equal-width histogram of a numeric column (for the report's distribution chart)."""
    assert col.values is not None
    x = col.values[np.isfinite(col.values)]
    if x.size == 0:
        return None
    counts, edges = np.histogram(x, bins=HISTOGRAM_BINS if x.min() < x.max() else 1)
    return {"edges": [_f(e) for e in edges], "counts": [int(c) for c in counts]}


def _top_values(col: _Col) -> list[dict[str, Any]]:
    """The most frequent values of a categorical column with their counts (for the distribution chart)."""
    order = np.argsort(-col.counts, kind="stable")[:TOP_VALUES]
    return [{"value": str(col.uniques[i]), "count": int(col.counts[i])} for i in order if col.counts[i] > 0]


def _association(feature: _Col, g: _Groups) -> tuple[str, float]:
    k = len(g.labels)
    if feature.kind == "numeric" and feature.values is not None:
        return "correlation_ratio", correlation_ratio(g.codes, feature.values, k)
    a, b = feature.codes, g.codes
    if feature.n_missing or (b < 0).any():
        keep = (a >= 0) & (b >= 0)
        a, b = a[keep], b[keep]
    table = np.bincount(a * k + b, minlength=feature.n_levels * k).reshape(feature.n_levels, k)
    return "cramers_v", cramers_v(table)


def _reference_shares(
    reference: pd.DataFrame | Mapping[str, Mapping[str, float]], g: _Groups, col: _Col
) -> dict[str, float] | None:
    if isinstance(reference, pd.DataFrame):
        if g.name not in reference.columns:
            return None
        ref = reference[g.name].dropna()
        if g.binned and g.edges is not None:
            x = pd.to_numeric(ref, errors="coerce").to_numpy(dtype=np.float64)
            x = x[~np.isnan(x)]
            idx = np.searchsorted(g.edges[1:-1], x, side="right")
            cnt = np.bincount(idx, minlength=len(g.labels)).astype(np.float64)
            tot = cnt.sum()
            return {g.labels[i]: float(cnt[i] / tot) for i in range(len(g.labels))} if tot else {}
        vc = ref.map(_label).value_counts()
        tot = float(vc.sum())
        return {str(k): float(v) / tot for k, v in vc.items()} if tot else {}
    if g.name not in reference:
        return None
    raw = {str(k): float(v) for k, v in reference[g.name].items()}
    if any(v < 0 or not math.isfinite(v) for v in raw.values()):
        raise ValidationError("reference shares must be finite and non-negative", field=f"reference.{g.name}")
    tot = sum(raw.values())
    if tot <= 0:
        raise ValidationError("reference shares sum to zero", field=f"reference.{g.name}")
    return {k: v / tot for k, v in raw.items()}


def _representativeness(counts: dict[str, int], ref: dict[str, float]) -> dict[str, Any]:
    n = sum(counts.values())
    cats = sorted(set(counts) | set(ref))
    p = np.array([counts.get(c, 0) / n if n else 0.0 for c in cats])
    q = np.array([ref.get(c, 0.0) for c in cats])
    tvd = 0.5 * float(np.abs(p - q).sum())
    in_ref = [c for c in cats if ref.get(c, 0.0) > 0]
    unseen = [c for c in cats if ref.get(c, 0.0) == 0 and counts.get(c, 0) > 0]
    result: dict[str, Any] = {
        "tvd": _r(tvd),
        "observed_share": {c: _r(counts.get(c, 0) / n) if n else 0.0 for c in cats},
        "reference_share": {c: _r(ref.get(c, 0.0)) for c in cats},
        "values_not_in_reference": unseen,
    }
    obs = np.array([counts.get(c, 0) for c in in_ref], dtype=np.float64)
    if len(in_ref) >= 2 and obs.sum() > 0:
        qq = np.array([ref[c] for c in in_ref])
        expected = qq / qq.sum() * obs.sum()
        res = stats.chisquare(obs, expected)
        result["chi2"] = _f(res.statistic)
        result["chi2_dof"] = len(in_ref) - 1
        result["chi2_p_value"] = _f(res.pvalue)
    else:
        result["chi2"] = None
        result["chi2_dof"] = 0
        result["chi2_p_value"] = None
    return result


# --------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------


@dataclass
class _Out:
    """What the report's sections add to: the flat metrics and the warnings."""

    metrics: dict[str, float]
    warnings: list[str]


def _check_arguments(
    df: Any,
    label: str | None,
    protected: Sequence[str],
    proxy_threshold: float,
    near_constant_share: float,
) -> tuple[list[str], list[str]]:
    """The column names and the de-duplicated protected attributes, after validating every argument."""
    if not isinstance(df, pd.DataFrame):
        raise ValidationError("expected a pandas DataFrame", field="df")
    if not 0.0 < proxy_threshold <= 1.0:
        raise ValidationError("must be in (0, 1]", field="proxy_threshold")
    if not 0.5 <= near_constant_share <= 1.0:
        raise ValidationError("must be in [0.5, 1]", field="near_constant_share")
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise ValidationError("column names must be unique", field="df.columns")
    if label is not None and label not in names:
        raise ValidationError(f"label column {label!r} not in the data", field="label")
    chosen = list(dict.fromkeys(protected))
    for p in chosen:
        if p not in names:
            raise ValidationError(f"protected attribute {p!r} not in the data", field="protected")
        if p == label:
            raise ValidationError("the label can not also be a protected attribute", field="protected")
    return names, chosen


def _column_entry(
    df: pd.DataFrame, name: str, c: _Col, n: int, pii: bool, near_constant_share: float, iqr_factor: float
) -> dict[str, Any]:
    """Schema, missing values, distinct values, range / distribution of one column."""
    rate = c.n_missing / n if n else 0.0
    n_valid = n - c.n_missing
    n_distinct = int(np.count_nonzero(c.counts))
    top_share = float(c.counts.max()) / n_valid if n_valid and c.counts.size else 0.0
    entry: dict[str, Any] = {
        "name": name,
        "dtype": c.dtype,
        "kind": c.kind,
        "missing": c.n_missing,
        "missing_rate": _r(rate),
        "distinct": n_distinct,
        "top_share": _r(top_share),
        "constant": n_distinct <= 1,
        "near_constant": n_distinct > 1 and top_share >= near_constant_share,
        "pii": pii,
    }
    if pii:
        entry["range"] = "withheld: column holds personal data"
    elif c.kind == "numeric":
        entry.update(_numeric_stats(c, iqr_factor))
        entry["histogram"] = _histogram(c)
    elif c.kind in ("categorical", "boolean") and c.n_levels:
        entry["top_values"] = _top_values(c)
    elif c.kind == "datetime" and n_valid:
        s = df[name].dropna()
        entry["min"], entry["max"] = str(s.min()), str(s.max())
    return entry


def _columns_section(
    df: pd.DataFrame,
    cols: Mapping[str, _Col],
    n: int,
    pii_cols: set[str],
    near_constant_share: float,
    iqr_factor: float,
    out: _Out,
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Per-column entries, and the constant and near-constant columns."""
    entries = [
        _column_entry(df, name, c, n, name in pii_cols, near_constant_share, iqr_factor) for name, c in cols.items()
    ]
    for e in entries:
        out.metrics[f"data.missing_rate[{e['name']}]"] = e["missing_rate"]
        if e["missing_rate"] >= 0.2:
            out.warnings.append(f"column {e['name']!r} is {e['missing_rate']:.0%} missing")
    constant = [e["name"] for e in entries if e["constant"]]
    near_constant = [e["name"] for e in entries if e["near_constant"] and not e["constant"]]
    out.metrics["data.missing_rate"] = _r(max((c.n_missing / n if n else 0.0 for c in cols.values()), default=0.0))
    out.metrics["data.constant_columns"] = float(len(constant))
    if constant:
        out.warnings.append(f"constant columns: {', '.join(constant)}")
    if near_constant:
        out.warnings.append(
            f"near-constant columns (top value ≥ {near_constant_share:.0%}): {', '.join(near_constant)}"
        )
    return entries, constant, near_constant


def _label_section(lc: _Col, label: str, n: int, iqr_factor: float, out: _Out) -> tuple[dict[str, Any], _Groups | None]:
    """The label's task, classes and balance (classes as observed; declared but unused ones listed)."""
    n_lab = n - lc.n_missing
    if lc.kind == "numeric" and lc.n_levels > _MAX_GROUP_LEVELS:
        body: dict[str, Any] = {"name": label, "task": "regression", "missing": lc.n_missing}
        body.update(_numeric_stats(lc, iqr_factor))
        return body, None
    groups = _groups(lc)
    full = np.bincount(groups.codes[groups.codes >= 0], minlength=len(groups.labels))
    # A pandas categorical keeps its category list after filtering: a category with no row is listed as
    # unused, not counted as a 0% minority.
    unused = [lab for lab, v in zip(groups.labels, full, strict=True) if v == 0]
    cnt = full[full > 0]
    classes = {lab: int(v) for lab, v in zip(groups.labels, full, strict=True) if v > 0}
    minority = float(cnt.min()) / n_lab if n_lab and cnt.size else 0.0
    body = {
        "name": label,
        "task": "classification",
        "missing": lc.n_missing,
        "classes": classes,
        "shares": {k: _r(v / n_lab) if n_lab else 0.0 for k, v in classes.items()},
        "minority_share": _r(minority),
        "unused_categories": unused,
    }
    out.metrics["data.label_minority_share"] = _r(minority)
    if unused:
        out.warnings.append(f"label {label!r}: declared categories with no rows: {', '.join(unused)}")
    if cnt.size >= 2 and minority < 0.1:
        out.warnings.append(f"label {label!r} is imbalanced: minority class share {minority:.1%}")
    return body, groups


def _label_rates(g: _Groups, label_groups: _Groups) -> tuple[dict[str, dict[str, float]], float]:
    """Outcome base rates per group and Cramér's V of group against label."""
    keep = (g.codes >= 0) & (label_groups.codes >= 0)
    kl = len(label_groups.labels)
    tab = np.bincount(g.codes[keep] * kl + label_groups.codes[keep], minlength=len(g.labels) * kl)
    tab = tab.reshape(len(g.labels), kl)
    rows = tab.sum(axis=1)
    rates = {
        g.labels[i]: {label_groups.labels[j]: _r(tab[i, j] / rows[i]) for j in range(kl)}
        for i in range(len(g.labels))
        if rows[i]
    }
    return rates, _r(cramers_v(tab))


def _protected_section(
    groups: Mapping[str, _Groups],
    cols: Mapping[str, _Col],
    n: int,
    label_groups: _Groups | None,
    reference: pd.DataFrame | Mapping[str, Mapping[str, float]] | None,
    small_group_rows: int,
    out: _Out,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Distribution of each protected attribute, its label rates and its representativeness."""
    protected_body: dict[str, Any] = {}
    repr_body: dict[str, Any] = {}
    for p, g in groups.items():
        cnt = np.bincount(g.codes[g.codes >= 0], minlength=len(g.labels))
        n_p = int(cnt.sum())
        dist = {lab: int(v) for lab, v in zip(g.labels, cnt, strict=True)}
        protected_body[p] = {
            "binned": g.binned,
            "missing": n - n_p,
            "counts": dist,
            "shares": {lab: _r(v / n_p) if n_p else 0.0 for lab, v in dist.items()},
        }
        for lab, v in dist.items():
            out.metrics[f"data.group_share[{p}={lab}]"] = _r(v / n_p) if n_p else 0.0
            if 0 < v < small_group_rows:
                out.warnings.append(f"group {p}={lab} has only {v} rows (< {small_group_rows})")
        if label_groups is not None:
            # Outcome base rates per group: the first thing a fairness reviewer asks for.
            rates, association = _label_rates(g, label_groups)
            protected_body[p]["label_rates"] = rates
            protected_body[p]["label_association"] = association
        if reference is not None:
            ref = _reference_shares(reference, g, cols[p])
            if ref is None:
                out.warnings.append(f"reference population has no figures for {p!r}")
                continue
            rep = _representativeness(dist, ref)
            repr_body[p] = rep
            out.metrics[f"data.representativeness_tvd[{p}]"] = rep["tvd"]
            if rep["values_not_in_reference"]:
                out.warnings.append(f"{p}: values {rep['values_not_in_reference']} do not occur in the reference")
    return protected_body, repr_body


def _proxies_section(
    features: Sequence[_Col], groups: Mapping[str, _Groups], threshold: float, out: _Out
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Association of every feature with every protected attribute; strong ones flagged as proxies."""
    proxies: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    max_assoc = 0.0
    for f in features:
        if f.kind in ("text", "datetime"):
            skipped[f.name] = "identifier or free text" if f.kind == "text" else "datetime"
            continue
        if f.n_levels <= 1:
            skipped[f.name] = "constant"
            continue
        for p, g in groups.items():
            measure, value = _association(f, g)
            flagged = value >= threshold
            max_assoc = max(max_assoc, value)
            proxies.append(
                {"feature": f.name, "protected": p, "measure": measure, "value": _r(value), "flagged": flagged}
            )
            if flagged:
                out.warnings.append(f"{f.name!r} is a possible proxy for {p!r} ({measure} = {value:.2f})")
    proxies.sort(key=lambda e: (-e["value"], e["feature"], e["protected"]))
    if groups:
        out.metrics["data.max_proxy_association"] = _r(max_assoc)
    return proxies, skipped


def data_report(
    df: pd.DataFrame,
    *,
    label: str | None,
    protected: Sequence[str] = (),
    reference: pd.DataFrame | Mapping[str, Mapping[str, float]] | None = None,
    subject: dict[str, str] | None = None,
    pii_sample_rows: int = DEFAULT_SAMPLE_ROWS,
    proxy_threshold: float = 0.3,
    near_constant_share: float = 0.99,
    outlier_iqr_factor: float = 1.5,
    small_group_rows: int = 30,
) -> Report:
    """Build the data governance report of ``df``.

    ``label`` is the target column (or None); ``protected`` the protected attributes declared in the
    policy. ``reference`` is a reference population, either a frame with the protected columns or a
    mapping ``{attribute: {value: share}}``; each protected attribute is compared with it by total
    variation distance and a chi-square goodness-of-fit test. Every non-label, non-protected column is a
    feature for proxy detection: Cramér's V against categorical features, the correlation ratio η against
    numeric ones (numeric protected attributes with many values are grouped into quantile bins first);
    associations of at least ``proxy_threshold`` are flagged. The PII scan looks at up to
    ``pii_sample_rows`` rows per column. Raw cell values appear only as group names of the label and the
    protected attributes, and range statistics of columns where PII was found are withheld.
    """
    names, protected = _check_arguments(df, label, protected, proxy_threshold, near_constant_share)
    n = len(df)
    out = _Out({"data.rows": float(n), "data.columns": float(len(names))}, [])
    pii = scan_dataframe(df, sample_rows=pii_sample_rows)
    pii_cols = set(pii.flagged_columns)
    cols = {name: _encode(df[orig], name) for orig, name in zip(df.columns, names, strict=True)}

    columns_body, constant, near_constant = _columns_section(
        df, cols, n, pii_cols, near_constant_share, outlier_iqr_factor, out
    )
    n_dup = _duplicates(list(cols.values()), n)
    dup_rate = n_dup / n if n else 0.0
    out.metrics["data.duplicate_rate"] = _r(dup_rate)
    if n_dup:
        out.warnings.append(f"{n_dup} duplicate rows ({dup_rate:.2%})")
    label_body, label_groups = (
        _label_section(cols[label], label, n, outlier_iqr_factor, out) if label is not None else (None, None)
    )
    groups = {p: _groups(cols[p]) for p in protected}
    protected_body, repr_body = _protected_section(groups, cols, n, label_groups, reference, small_group_rows, out)
    features = [c for name, c in cols.items() if name != label and name not in groups]
    proxies, skipped = _proxies_section(features, groups, proxy_threshold, out)
    out.metrics["data.pii_findings"] = float(len(pii_cols))
    for fnd in pii.findings:
        out.warnings.append(
            f"column {fnd.column!r} holds personal data: {fnd.kind} ({fnd.detail}), "
            f"{fnd.count} of {fnd.rows_scanned} scanned values"
        )

    body: dict[str, Any] = {
        "rows": n,
        "columns": columns_body,
        "duplicates": {"count": n_dup, "share": _r(dup_rate)},
        "constant_columns": constant,
        "near_constant_columns": near_constant,
        "label": label_body,
        "protected": protected_body,
        "representativeness": repr_body if reference is not None else None,
        "proxies": {
            "threshold": proxy_threshold,
            "associations": proxies,
            "flagged": [e for e in proxies if e["flagged"]],
            "skipped_features": skipped,
        },
        "pii": pii.to_dict(),
        "settings": {
            "proxy_threshold": proxy_threshold,
            "near_constant_share": near_constant_share,
            "outlier_iqr_factor": outlier_iqr_factor,
            "small_group_rows": small_group_rows,
            "pii_sample_rows": pii_sample_rows,
        },
    }
    created = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return Report(
        kind="data",
        schema_version=SCHEMA_VERSION,
        subject=dict(subject or {}),
        metrics=out.metrics,
        body=body,
        warnings=out.warnings,
        created_at=created,
    )
