"""Fairness report (EU AI Act Art. 10(2)(f), Art. 15): group metrics and disparities of a classifier.

Every figure is a function of the 2x2 confusion counts of each group, so the report first counts rows per
(intersection of all attributes, true label, prediction) cell with one ``np.bincount``. Single attributes
and their intersection are sums of those cells. The bootstrap resamples rows with replacement; the cell
counts of a resample of ``n`` rows follow exactly a multinomial distribution with the observed cell shares,
so each replicate is one multinomial draw over the cells — the same distribution as resampling row
indices, at a cost independent of the number of rows.

Definitions are fairlearn's (``fairlearn.metrics``, ``method="between_groups"``, ``agg="worst_case"``):

- selection rate ``P(ŷ=1 | A=a)``; TPR ``P(ŷ=1 | Y=1, A=a)`` and FPR ``P(ŷ=1 | Y=0, A=a)``;
  precision with scikit-learn's ``zero_division`` default (0).
- A group without positives has no TPR (without negatives, no FPR). fairlearn reports 0 there, which then
  sets the equalized odds difference to the other groups' largest TPR; here the rate is *undefined*
  (``None``, listed in the group's ``undefined``), left out of the worst-case disparities, and named in
  ``warnings``. When no group has the rate, the disparity itself is undefined and not reported, so a gate
  on it fails.
- demographic parity difference ``max_a sel - min_a sel``; ratio ``min_a sel / max_a sel``.
- equalized odds difference ``max(TPR difference, FPR difference)``; ratio ``min(TPR ratio, FPR ratio)``
  (``agg="worst_case"``); with ``agg="mean"`` their mean, as fairlearn's ``agg="mean"``. The average odds
  difference / ratio (the mean form) are reported beside them in every case.
- disparate impact: ``min_a f / max_a f`` of the rate ``f`` of the *favourable* outcome (each group
  against the most-favoured group, the reading of the US EEOC four-fifths rule); the rule passes when it
  is at least 0.8. ``favourable="positive"`` (the default) makes ``f`` the selection rate and disparate
  impact then equals the demographic parity ratio; for a model whose positive class is the adverse
  outcome (credit risk "bad") pass ``favourable="negative"``: ``f = 1 - selection rate``. The report
  states which outcome was taken as favourable.

Uncertainty. Percentile bootstrap intervals of a max-min statistic never contain 0 when there is no
disparity (the sample range of noisy rates is always positive), so they cannot support "no disparity".
For that the report gives a permutation test of "the outcome does not depend on the group" for the
demographic parity difference (group labels permuted across rows) and for the equalized odds difference
(permuted within each true class): ``p_value`` is ``(1 + #{T* >= T}) / (B + 1)``. Permuting rows with fixed
group sizes and outcome counts draws a contingency table from the multivariate hypergeometric law, so
each replicate is one hypergeometric draw per group, at a cost independent of the number of rows. The
sample range is also biased upward; ``null_mean`` (its mean under no disparity) and a bootstrap
bias-corrected estimate ``2 T - mean(T_boot)`` (clipped to the valid range) are given beside the raw value.

A ratio whose denominator is 0 (no group selected at all) is undefined, as in fairlearn (NaN); the report
then omits that metric and says why in ``warnings`` — a gate on it fails rather than passing on nothing.

Metrics (read by policy gates), for each attribute, and for the intersection ``a+b`` of all attributes:

- ``fairness.demographic_parity_difference`` (max over the single attributes) and ``...[<attr>]``
- ``fairness.demographic_parity_ratio`` (min over the single attributes) and ``...[<attr>]``
- ``fairness.equalized_odds_difference`` (max) / ``fairness.equalized_odds_ratio`` (min) and ``...[<attr>]``
- ``fairness.average_odds_difference`` (max) / ``fairness.average_odds_ratio`` (min) and ``...[<attr>]``
- ``fairness.disparate_impact`` (min) and ``...[<attr>]``; ``fairness.four_fifths_violations``
- ``fairness.demographic_parity_p_value[<attr>]``, ``fairness.equalized_odds_p_value[<attr>]``
- ``fairness.selection_rate[<attr>=<value>]``, ``fairness.tpr[...]``, ``fairness.fpr[...]``
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modeltrail.errors import ValidationError
from modeltrail.evidence._common import (
    FloatArray,
    Grouping,
    IntArray,
    as_1d,
    binary_labels,
    encode_groups,
    finite_or_none,
    missing_label_mask,
    percentile_ci,
    safe_div,
    take_rows,
    utc_now,
)
from modeltrail.evidence.performance import grouped_roc_auc
from modeltrail.evidence.report import Report

__all__ = [
    "AGGREGATIONS",
    "FAVOURABLE",
    "FOUR_FIFTHS",
    "GROUP_METRICS",
    "SCHEMA_VERSION",
    "fairness_report",
    "group_rates",
    "permutation_p_values",
]

SCHEMA_VERSION = 1
FOUR_FIFTHS = 0.8
GROUP_METRICS = ("selection_rate", "tpr", "fpr", "precision", "accuracy", "base_rate")
_DISPARITIES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "average_odds_difference",
    "average_odds_ratio",
    "disparate_impact",
)
AGGREGATIONS = ("worst_case", "mean")
FAVOURABLE = ("positive", "negative")


def group_rates(counts: FloatArray) -> dict[str, FloatArray]:
    """Group metrics from confusion counts ``counts[..., k]`` with ``k = 2*y_true + y_pred``.

    Works on any leading shape (groups, or replicates x groups). Rates of empty groups are NaN; TPR of a
    group without positives and FPR of a group without negatives are NaN (undefined); precision with no
    predicted positives is 0 (scikit-learn's ``zero_division``).
    """
    tn, fp, fn, tp = (counts[..., k] for k in range(4))
    n = tn + fp + fn + tp
    with np.errstate(invalid="ignore", divide="ignore"):
        sel = (fp + tp) / n
        acc = (tp + tn) / n
        base = (fn + tp) / n
        tpr = tp / (tp + fn)
        fpr = fp / (fp + tn)
    prec = safe_div(tp, tp + fp)
    prec[n == 0] = np.nan
    return {
        "selection_rate": sel,
        "tpr": np.asarray(tpr, dtype=np.float64),
        "fpr": np.asarray(fpr, dtype=np.float64),
        "precision": prec,
        "accuracy": acc,
        "base_rate": base,
    }


def _range(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(max, min) over the last axis skipping NaN; NaN where every value is NaN (no warning)."""
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(values, axis=-1), np.nanmin(values, axis=-1)


def _disparities(
    rates: Mapping[str, FloatArray], agg: str = "worst_case", favourable: str = "positive"
) -> dict[str, FloatArray]:
    """Between-group disparities over the last axis (groups); NaN (empty, undefined) groups are skipped."""
    out: dict[str, FloatArray] = {}
    fav = rates["selection_rate"] if favourable == "positive" else 1.0 - rates["selection_rate"]
    with np.errstate(invalid="ignore", divide="ignore"):
        for key, values in (
            ("selection_rate", rates["selection_rate"]),
            ("tpr", rates["tpr"]),
            ("fpr", rates["fpr"]),
            ("favourable", fav),
        ):
            hi, lo = _range(values)
            if key in ("tpr", "fpr"):
                # A gap needs two groups that have the rate; with fewer it is undefined, not 0.
                few = (np.isfinite(values).sum(axis=-1) < 2) & (values.shape[-1] >= 2)
                hi, lo = np.where(few, np.nan, hi), np.where(few, np.nan, lo)
            out[f"{key}_difference"] = hi - lo
            out[f"{key}_ratio"] = lo / hi
    out["demographic_parity_difference"] = out["selection_rate_difference"]
    out["demographic_parity_ratio"] = out["selection_rate_ratio"]
    out["average_odds_difference"] = 0.5 * (out["tpr_difference"] + out["fpr_difference"])
    out["average_odds_ratio"] = 0.5 * (out["tpr_ratio"] + out["fpr_ratio"])
    if agg == "mean":
        out["equalized_odds_difference"] = out["average_odds_difference"]
        out["equalized_odds_ratio"] = out["average_odds_ratio"]
    else:
        out["equalized_odds_difference"] = np.maximum(out["tpr_difference"], out["fpr_difference"])
        out["equalized_odds_ratio"] = np.minimum(out["tpr_ratio"], out["fpr_ratio"])
    out["disparate_impact"] = out["favourable_ratio"]
    return out


def _hypergeometric_tables(rng: np.random.Generator, sizes: IntArray, selected: int, n_perm: int) -> FloatArray:
    """Selected counts per group (``n_perm x groups``) when ``selected`` of the rows are picked at random.

    The law of the selected counts of each group under a random permutation of group labels: group by
    group, a hypergeometric draw from what the earlier groups left.
    """
    good = np.full(n_perm, selected, dtype=np.int64)
    bad = np.full(n_perm, int(sizes.sum()) - selected, dtype=np.int64)
    out = np.zeros((n_perm, sizes.shape[0]), dtype=np.float64)
    for j, size in enumerate(sizes.tolist()):
        if size == 0:
            continue
        if j == sizes.shape[0] - 1:
            draw = good.copy()
        else:
            draw = rng.hypergeometric(good, bad, size) if size < good[0] + bad[0] else good.copy()
        out[:, j] = draw
        good -= draw
        bad -= size - draw
    return out


def permutation_p_values(counts: FloatArray, n_permutations: int, seed: int, agg: str = "worst_case") -> dict[str, Any]:
    """Permutation tests of "no dependence on the group" from per-group confusion counts ``counts[g, k]``.

    Demographic parity difference: group labels permuted across all rows. Equalized odds difference
    (worst case of the TPR and FPR ranges): permuted within the rows of each true class, which keeps each
    group's positives and negatives. Returns for each statistic the observed value, the p-value and the
    mean of the statistic under the null (the bias of the sample range when there is no disparity).
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    sizes = counts.sum(axis=1).astype(np.int64)
    pos = (counts[:, 2] + counts[:, 3]).astype(np.int64)
    neg = (counts[:, 0] + counts[:, 1]).astype(np.int64)
    sel_all = int((counts[:, 1] + counts[:, 3]).sum())
    # Permuted tables in the (tn, fp, fn, tp) layout, so the statistics are computed exactly as the report's.
    sel = _hypergeometric_tables(rng, sizes, sel_all, n_permutations)
    dp_tables = np.stack([sizes - sel, sel, np.zeros_like(sel), np.zeros_like(sel)], axis=-1)
    tp = _hypergeometric_tables(rng, pos, int(counts[:, 3].sum()), n_permutations)
    fp = _hypergeometric_tables(rng, neg, int(counts[:, 1].sum()), n_permutations)
    eo_tables = np.stack([neg - fp, fp, pos - tp, tp], axis=-1)
    observed = _disparities(group_rates(counts), agg)
    null = {
        "demographic_parity_difference": _disparities(group_rates(dp_tables))["demographic_parity_difference"],
        "equalized_odds_difference": _disparities(group_rates(eo_tables), agg)["equalized_odds_difference"],
    }
    out: dict[str, Any] = {}
    for key, t_null in null.items():
        t_obs = float(observed[key])
        if not np.isfinite(t_obs):
            out[key] = {"p_value": None, "null_mean": None}
            continue
        # A tolerance for replicates equal to the observed value up to rounding (ties count as extreme).
        extreme = int(np.count_nonzero(t_null >= t_obs - 1e-12))
        out[key] = {
            "p_value": (1 + extreme) / (n_permutations + 1),
            "null_mean": finite_or_none(float(np.nanmean(t_null))) if np.isfinite(t_null).any() else None,
        }
    return out


def _pair(lo: float, hi: float) -> list[float | None]:
    return [finite_or_none(lo), finite_or_none(hi)]


@dataclass(frozen=True)
class _Settings:
    agg: str
    favourable: str
    confidence: float
    min_group_size: int
    n_permutations: int
    seed: int


@dataclass
class _Out:
    """What every attribute's section adds to: flat metrics, warnings, undefined metrics with reasons."""

    metrics: dict[str, float]
    warnings: list[str]
    undefined: dict[str, str]


@dataclass(frozen=True)
class _Intervals:
    rates: dict[str, tuple[FloatArray, FloatArray]]
    disparities: dict[str, tuple[float, float]]
    boot_mean: dict[str, float]


def _intervals(onehot: FloatArray, replicates: FloatArray | None, st: _Settings) -> _Intervals:
    """Percentile intervals of the group rates and disparities, and the bootstrap mean of each disparity."""
    if replicates is None:
        return _Intervals({}, {}, {})
    rep_counts = np.einsum("gc,bck->bgk", onehot, replicates)
    rep_rates = group_rates(rep_counts)
    rep_disp = _disparities(rep_rates, st.agg, st.favourable)
    rate_ci = {key: percentile_ci(rep_rates[key], st.confidence) for key in GROUP_METRICS}
    disp_ci: dict[str, tuple[float, float]] = {}
    boot_mean: dict[str, float] = {}
    for key in _DISPARITIES:
        lo, hi = percentile_ci(rep_disp[key][:, None], st.confidence)
        disp_ci[key] = (float(lo[0]), float(hi[0]))
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore", RuntimeWarning)
            boot_mean[key] = float(np.nanmean(rep_disp[key]))
    return _Intervals(rate_ci, disp_ci, boot_mean)


def _group_entries(
    g: Grouping,
    rates: Mapping[str, FloatArray],
    fav_rate: FloatArray,
    sizes: FloatArray,
    auc: list[float | None] | None,
    ci: _Intervals,
    st: _Settings,
    out: _Out,
) -> list[dict[str, Any]]:
    """One entry per group: its rates (undefined ones named), impact ratio, intervals and size flag."""
    max_fav = float(np.nanmax(fav_rate))
    entries: list[dict[str, Any]] = []
    for j, label in enumerate(g.labels):
        entry: dict[str, Any] = {"group": label, "count": int(sizes[j])}
        for key in GROUP_METRICS:
            entry[key] = finite_or_none(rates[key][j])
        entry["favourable_rate"] = finite_or_none(fav_rate[j])
        entry["impact_ratio"] = finite_or_none(fav_rate[j] / max_fav) if max_fav else None
        undefined = [k for k in ("tpr", "fpr") if sizes[j] > 0 and not np.isfinite(rates[k][j])]
        entry["undefined"] = undefined
        for k in undefined:
            what = "positives" if k == "tpr" else "negatives"
            out.undefined[f"fairness.{k}[{g.name}={label}]"] = f"no {what} in the group"
            out.warnings.append(
                f"{g.name}={label}: {k.upper()} is undefined (no {what} in the group); the group is left "
                "out of the worst-case and mean odds disparities"
            )
        if auc is not None:
            entry["roc_auc"] = auc[j]
        if ci.rates:
            entry["ci"] = {key: _pair(ci.rates[key][0][j], ci.rates[key][1][j]) for key in GROUP_METRICS}
        entry["small"] = bool(sizes[j] < st.min_group_size)
        entries.append(entry)
        if sizes[j] < st.min_group_size:
            out.warnings.append(
                f"{g.name}={label}: {int(sizes[j])} rows (< {st.min_group_size}); its rates are unreliable"
            )
        for key in ("selection_rate", "tpr", "fpr"):
            v = finite_or_none(rates[key][j])
            if v is not None:
                out.metrics[f"fairness.{key}[{g.name}={label}]"] = v
    return entries


def _disparity_entries(
    g: Grouping, disp: Mapping[str, FloatArray], ci: _Intervals, tests: Mapping[str, Any], out: _Out
) -> dict[str, Any]:
    """Each disparity with its interval, bias-corrected value and permutation p-value (or why undefined)."""
    disp_out: dict[str, Any] = {}
    for key in _DISPARITIES:
        value = finite_or_none(float(disp[key]))
        disp_out[key] = {"value": value}
        if ci.disparities:
            disp_out[key]["ci"] = _pair(*ci.disparities[key])
            if value is not None and key.endswith("_difference") and np.isfinite(ci.boot_mean[key]):
                # Bootstrap bias correction of the (upward-biased) sample range; clipped to [0, 1].
                disp_out[key]["bias_corrected"] = float(min(1.0, max(0.0, 2 * value - ci.boot_mean[key])))
        if key in tests:
            disp_out[key].update(tests[key])
            p_value = tests[key]["p_value"]
            if p_value is not None:
                out.metrics[f"fairness.{key.removesuffix('_difference')}_p_value[{g.name}]"] = float(p_value)
        if value is None:
            reason = "a zero denominator, or fewer than two groups with a TPR/FPR"
            out.warnings.append(f"{g.name}: {key} is undefined ({reason}) and is not reported")
            out.undefined[f"fairness.{key}[{g.name}]"] = reason
        else:
            out.metrics[f"fairness.{key}[{g.name}]"] = value
    return disp_out


def _attribute(
    g: Grouping,
    onehot: FloatArray,
    cell_counts: FloatArray,
    replicates: FloatArray | None,
    yt: IntArray,
    score: FloatArray | None,
    st: _Settings,
    out: _Out,
) -> dict[str, Any]:
    """The section of one attribute (or intersection): groups, disparities, the four-fifths rule."""
    counts = onehot @ cell_counts
    rates = group_rates(counts)
    disp = _disparities(rates, st.agg, st.favourable)
    fav_rate = rates["selection_rate"] if st.favourable == "positive" else 1.0 - rates["selection_rate"]
    ci = _intervals(onehot, replicates, st)
    tests = (
        permutation_p_values(counts, st.n_permutations, st.seed, st.agg) if st.n_permutations and g.n_groups > 1 else {}
    )
    auc = None
    if score is not None:
        auc = [finite_or_none(v) for v in grouped_roc_auc(yt, score, g.codes, g.n_groups)]
    groups_out = _group_entries(g, rates, fav_rate, counts.sum(axis=1), auc, ci, st, out)
    disp_out = _disparity_entries(g, disp, ci, tests, out)
    di = disp_out["disparate_impact"]["value"]
    reference = g.labels[int(np.nanargmax(fav_rate))]
    passed = di is not None and di >= FOUR_FIFTHS
    disp_out["four_fifths_rule"] = {
        "passed": passed,
        "threshold": FOUR_FIFTHS,
        "reference_group": reference,
        "favourable": st.favourable,
    }
    if not passed and len(g.columns) == 1:
        out.warnings.append(
            f"{g.name}: disparate impact {di if di is None else round(di, 3)} fails the four-fifths rule "
            f"(reference group {reference})"
        )
    if g.n_groups < 2:
        out.warnings.append(f"{g.name}: only one group observed; disparities are 0 by construction")
    return {
        "name": g.name,
        "columns": list(g.columns),
        "intersection": len(g.columns) > 1,
        "groups": groups_out,
        "disparities": disp_out,
    }


def _aggregate(single_names: list[str], attributes: list[dict[str, Any]], metrics: dict[str, float]) -> None:
    """Worst case over the single attributes (max of differences, min of ratios) and the violation count."""
    for key, over in (
        ("demographic_parity_difference", max),
        ("equalized_odds_difference", max),
        ("average_odds_difference", max),
        ("demographic_parity_ratio", min),
        ("equalized_odds_ratio", min),
        ("average_odds_ratio", min),
        ("disparate_impact", min),
    ):
        values = [metrics[f"fairness.{key}[{a}]"] for a in single_names if f"fairness.{key}[{a}]" in metrics]
        if values:
            metrics[f"fairness.{key}"] = float(over(values))
    metrics["fairness.four_fifths_violations"] = float(
        sum(1 for a in attributes if not a["intersection"] and not a["disparities"]["four_fifths_rule"]["passed"])
    )


def _inputs(
    y_true: Any,
    y_pred: Any,
    y_score: Any,
    sensitive: Any,
    pos_label: Any,
    missing_labels: str,
    agg: str,
    favourable: str,
    n_permutations: int,
) -> tuple[IntArray, IntArray, FloatArray | None, Any, int]:
    """Validated 0/1 labels and decisions, scores and attributes (rows without a label dropped on request)."""
    if agg not in AGGREGATIONS:
        raise ValidationError(f"must be one of {', '.join(AGGREGATIONS)}", field="agg")
    if favourable not in FAVOURABLE:
        raise ValidationError(f"must be one of {', '.join(FAVOURABLE)}", field="favourable")
    if n_permutations < 0:
        raise ValidationError("must be >= 0", field="n_permutations")
    keep = missing_label_mask(y_true, "y_true", missing_labels)
    dropped = 0
    if keep is not None:
        dropped = int((~keep).sum())
        y_true, y_pred, y_score = take_rows(y_true, keep), take_rows(y_pred, keep), take_rows(y_score, keep)
        sensitive = take_rows(sensitive, keep)
    if as_1d(y_true, "y_true").shape[0] == 0:
        raise ValidationError("no rows", field="y_true")
    yt = binary_labels(y_true, "y_true", pos_label, require_positive=True)
    n = yt.shape[0]
    yp = binary_labels(y_pred, "y_pred", pos_label, n)
    score = None if y_score is None else as_1d(y_score, "y_score", n).astype(np.float64)
    return yt, yp, score, sensitive, dropped


def fairness_report(
    y_true: Any,
    y_pred: Any,
    sensitive: pd.DataFrame | Mapping[str, Any],
    *,
    y_score: Any = None,
    n_bootstrap: int = 200,
    seed: int = 0,
    min_group_size: int = 30,
    subject: dict[str, str] | None = None,
    pos_label: Any = 1,
    confidence: float = 0.95,
    agg: str = "worst_case",
    favourable: str = "positive",
    n_permutations: int = 999,
    missing_labels: str = "error",
) -> Report:
    """Fairness report of binary predictions ``y_pred`` against ``y_true`` across ``sensitive`` groups.

    ``sensitive`` holds one column per protected attribute (a frame, or a mapping of name to values);
    missing attribute values form their own group. With two or more attributes the intersection of all of
    them is reported too. ``y_score`` (probabilities of the positive class), when given, adds the ROC AUC
    of each group. ``n_bootstrap`` multinomial replicates give percentile intervals at ``confidence``
    (0 disables them). Groups with fewer than ``min_group_size`` rows are flagged in ``warnings``.
    ``agg`` (``worst_case`` or ``mean``) aggregates the TPR and FPR gaps into the equalized odds figures;
    ``favourable`` says whether the positive (``pos_label``) or the negative prediction is the favourable
    outcome, which the disparate impact and the four-fifths rule use. ``n_permutations`` replicates of the
    permutation test give the p-values (0 disables it). A missing true label is an error unless
    ``missing_labels="drop"``, which drops the row and says how many.
    """
    yt, yp, score, sensitive, dropped = _inputs(
        y_true, y_pred, y_score, sensitive, pos_label, missing_labels, agg, favourable, n_permutations
    )
    n = yt.shape[0]
    if n_bootstrap < 0:
        raise ValidationError("must be >= 0", field="n_bootstrap")
    if not 0.0 < confidence < 1.0:
        raise ValidationError("must be in (0, 1)", field="confidence")

    groupings = encode_groups(sensitive, n)
    singles = [g for g in groupings if len(g.columns) == 1]
    base = groupings[-1]  # the intersection of all attributes, or the only attribute
    n_cells = base.n_groups
    # Counts per (finest cell, outcome); outcome k = 2*y_true + y_pred.
    cell_counts: FloatArray = (
        np.bincount(base.codes * 4 + yt * 2 + yp, minlength=n_cells * 4).reshape(n_cells, 4).astype(np.float64)
    )

    # Map the finest cells onto the groups of each grouping (a one-hot matrix: groups x cells).
    maps: list[FloatArray] = []
    for g in groupings:
        cell_to_group = np.zeros(n_cells, dtype=np.int64)
        cell_to_group[base.codes] = g.codes
        onehot = np.zeros((g.n_groups, n_cells), dtype=np.float64)
        onehot[cell_to_group, np.arange(n_cells)] = 1.0
        maps.append(onehot)

    replicates: FloatArray | None = None
    if n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        probs = cell_counts.ravel() / n
        draws = rng.multinomial(n, probs, size=n_bootstrap).reshape(n_bootstrap, n_cells, 4)
        replicates = draws.astype(np.float64)

    settings = _Settings(agg, favourable, confidence, min_group_size, n_permutations, seed)
    out = _Out({}, [], {})
    if dropped:
        out.warnings.append(f"{dropped} rows with a missing label were dropped (missing_labels='drop')")
    attributes = [
        _attribute(g, onehot, cell_counts, replicates, yt, score, settings, out)
        for g, onehot in zip(groupings, maps, strict=True)
    ]
    metrics, warnings, undefined_metrics = out.metrics, out.warnings, out.undefined
    _aggregate([g.name for g in singles], attributes, metrics)

    overall = group_rates(cell_counts.sum(axis=0))
    body: dict[str, Any] = {
        "rows": n,
        "positive_label": str(pos_label),
        "favourable_outcome": {
            "favourable": favourable,
            "label": str(pos_label) if favourable == "positive" else f"not {pos_label}",
            "statement": (
                f"the favourable outcome is the {'positive' if favourable == 'positive' else 'negative'} "
                f"prediction ({'' if favourable == 'positive' else 'not '}{pos_label!r}); disparate impact and the "
                "four-fifths rule compare the rates of that outcome"
            ),
        },
        "attributes": attributes,
        "overall": {key: finite_or_none(float(overall[key])) for key in GROUP_METRICS},
        "definitions": f"fairlearn.metrics, method=between_groups, agg={agg}; undefined TPR/FPR left out",
        "permutation_test": {
            "replicates": n_permutations,
            "null": "outcome independent of the group (within each true class for equalized odds)",
        },
        "bootstrap": {
            "method": "multinomial over (group, y_true, y_pred) cells" if n_bootstrap else "none",
            "replicates": n_bootstrap,
            "confidence": confidence,
            "seed": seed,
        },
        "settings": {"min_group_size": min_group_size, "four_fifths_threshold": FOUR_FIFTHS},
    }
    if dropped:
        body["dropped_missing_labels"] = dropped
    return Report(
        kind="fairness",
        schema_version=SCHEMA_VERSION,
        subject=dict(subject or {}),
        metrics=metrics,
        body=body,
        warnings=warnings,
        created_at=utc_now(),
        undefined=undefined_metrics,
    )
