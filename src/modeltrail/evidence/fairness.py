"""Fairness report (EU AI Act Art. 10(2)(f), Art. 15): group metrics and disparities of a classifier.

Every figure is a function of the 2x2 confusion counts of each group, so the report first counts rows per
(intersection of all attributes, true label, prediction) cell with one ``np.bincount``. Single attributes
and their intersection are sums of those cells. The bootstrap resamples rows with replacement; the cell
counts of a resample of ``n`` rows follow exactly a multinomial distribution with the observed cell shares,
so each replicate is one multinomial draw over the cells — the same distribution as resampling row
indices, at a cost independent of the number of rows.

Definitions are fairlearn's (``fairlearn.metrics``, ``method="between_groups"``, ``agg="worst_case"``):

- selection rate ``P(ŷ=1 | A=a)``; TPR ``P(ŷ=1 | Y=1, A=a)`` and FPR ``P(ŷ=1 | Y=0, A=a)``, 0 for a group
  without positives (resp. negatives) as fairlearn's confusion-matrix normalisation gives;
  precision with scikit-learn's ``zero_division`` default (0).
- demographic parity difference ``max_a sel - min_a sel``; ratio ``min_a sel / max_a sel``.
- equalized odds difference ``max(TPR difference, FPR difference)``; ratio ``min(TPR ratio, FPR ratio)``.
- disparate impact: ``min_a sel / max_a sel`` (each group against the most-selected group, the reading
  of the US EEOC four-fifths rule); the rule passes when it is at least 0.8. Numerically it equals the
  demographic parity ratio; it is reported separately because policies name it separately.

A ratio whose denominator is 0 (no group selected at all) is undefined, as in fairlearn (NaN); the report
then omits that metric and says why in ``warnings`` — a gate on it fails rather than passing on nothing.

Metrics (read by policy gates), for each attribute, and for the intersection ``a+b`` of all attributes:

- ``fairness.demographic_parity_difference`` (max over the single attributes) and ``...[<attr>]``
- ``fairness.demographic_parity_ratio`` (min over the single attributes) and ``...[<attr>]``
- ``fairness.equalized_odds_difference`` (max) / ``fairness.equalized_odds_ratio`` (min) and ``...[<attr>]``
- ``fairness.disparate_impact`` (min) and ``...[<attr>]``; ``fairness.four_fifths_violations``
- ``fairness.selection_rate[<attr>=<value>]``, ``fairness.tpr[...]``, ``fairness.fpr[...]``
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from modeltrail.errors import ValidationError
from modeltrail.evidence._common import (
    FloatArray,
    as_1d,
    binary_labels,
    encode_groups,
    finite_or_none,
    percentile_ci,
    safe_div,
    utc_now,
)
from modeltrail.evidence.performance import grouped_roc_auc
from modeltrail.evidence.report import Report

__all__ = ["FOUR_FIFTHS", "GROUP_METRICS", "SCHEMA_VERSION", "fairness_report", "group_rates"]

SCHEMA_VERSION = 1
FOUR_FIFTHS = 0.8
GROUP_METRICS = ("selection_rate", "tpr", "fpr", "precision", "accuracy", "base_rate")
_DISPARITIES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "disparate_impact",
)


def group_rates(counts: FloatArray) -> dict[str, FloatArray]:
    """Group metrics from confusion counts ``counts[..., k]`` with ``k = 2*y_true + y_pred``.

    Works on any leading shape (groups, or replicates x groups). Rates of empty groups are NaN; TPR, FPR
    and precision with an empty denominator are 0 (fairlearn / scikit-learn convention).
    """
    tn, fp, fn, tp = (counts[..., k] for k in range(4))
    n = tn + fp + fn + tp
    with np.errstate(invalid="ignore", divide="ignore"):
        sel = (fp + tp) / n
        acc = (tp + tn) / n
        base = (fn + tp) / n
    tpr = safe_div(tp, tp + fn)
    fpr = safe_div(fp, fp + tn)
    prec = safe_div(tp, tp + fp)
    empty = n == 0
    for arr in (tpr, fpr, prec):
        arr[empty] = np.nan
    return {
        "selection_rate": sel,
        "tpr": tpr,
        "fpr": fpr,
        "precision": prec,
        "accuracy": acc,
        "base_rate": base,
    }


def _disparities(rates: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    """Between-group disparities over the last axis (groups); NaN (empty) groups are skipped."""
    out: dict[str, FloatArray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for key in ("selection_rate", "tpr", "fpr"):
            hi = np.nanmax(rates[key], axis=-1)
            lo = np.nanmin(rates[key], axis=-1)
            out[f"{key}_difference"] = hi - lo
            out[f"{key}_ratio"] = lo / hi
    out["demographic_parity_difference"] = out["selection_rate_difference"]
    out["demographic_parity_ratio"] = out["selection_rate_ratio"]
    out["equalized_odds_difference"] = np.maximum(out["tpr_difference"], out["fpr_difference"])
    out["equalized_odds_ratio"] = np.minimum(out["tpr_ratio"], out["fpr_ratio"])
    out["disparate_impact"] = out["selection_rate_ratio"]
    return out


def _pair(lo: float, hi: float) -> list[float | None]:
    return [finite_or_none(lo), finite_or_none(hi)]


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
) -> Report:
    """Fairness report of binary predictions ``y_pred`` against ``y_true`` across ``sensitive`` groups.

    ``sensitive`` holds one column per protected attribute (a frame, or a mapping of name to values);
    missing attribute values form their own group. With two or more attributes the intersection of all of
    them is reported too. ``y_score`` (probabilities of the positive class), when given, adds the ROC AUC
    of each group. ``n_bootstrap`` multinomial replicates give percentile intervals at ``confidence``
    (0 disables them). Groups with fewer than ``min_group_size`` rows are flagged in ``warnings``.
    """
    yt = binary_labels(y_true, "y_true", pos_label)
    n = yt.shape[0]
    if n == 0:
        raise ValidationError("no rows", field="y_true")
    yp = binary_labels(y_pred, "y_pred", pos_label, n)
    score = None if y_score is None else as_1d(y_score, "y_score", n).astype(np.float64)
    if n_bootstrap < 0:
        raise ValidationError("must be >= 0", field="n_bootstrap")
    if not 0.0 < confidence < 1.0:
        raise ValidationError("must be in (0, 1)", field="confidence")

    groupings = encode_groups(sensitive, n)
    singles = [g for g in groupings if len(g.columns) == 1]
    base = groupings[-1]  # the intersection of all attributes, or the only attribute
    n_cells = base.n_groups
    # Counts per (finest cell, outcome); outcome k = 2*y_true + y_pred.
    cell_counts = np.bincount(base.codes * 4 + yt * 2 + yp, minlength=n_cells * 4).reshape(n_cells, 4)
    cell_counts = cell_counts.astype(np.float64)

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

    warnings: list[str] = []
    metrics: dict[str, float] = {}
    attributes: list[dict[str, Any]] = []
    for g, onehot in zip(groupings, maps, strict=True):
        counts = onehot @ cell_counts
        rates = group_rates(counts)
        disp = _disparities(rates)
        sizes = counts.sum(axis=1)
        rate_ci: dict[str, tuple[FloatArray, FloatArray]] = {}
        disp_ci: dict[str, tuple[float, float]] = {}
        if replicates is not None:
            rep_counts = np.einsum("gc,bck->bgk", onehot, replicates)
            rep_rates = group_rates(rep_counts)
            rep_disp = _disparities(rep_rates)
            for key in GROUP_METRICS:
                rate_ci[key] = percentile_ci(rep_rates[key], confidence)
            for key in _DISPARITIES:
                lo, hi = percentile_ci(rep_disp[key][:, None], confidence)
                disp_ci[key] = (float(lo[0]), float(hi[0]))

        auc: list[float | None] = [None] * g.n_groups
        if score is not None:
            auc = [finite_or_none(v) for v in grouped_roc_auc(yt, score, g.codes, g.n_groups)]

        max_sel = float(np.nanmax(rates["selection_rate"]))
        groups_out: list[dict[str, Any]] = []
        for j, label in enumerate(g.labels):
            entry: dict[str, Any] = {"group": label, "count": int(sizes[j])}
            for key in GROUP_METRICS:
                entry[key] = finite_or_none(rates[key][j])
            entry["impact_ratio"] = finite_or_none(rates["selection_rate"][j] / max_sel) if max_sel else None
            if score is not None:
                entry["roc_auc"] = auc[j]
            if rate_ci:
                entry["ci"] = {key: _pair(rate_ci[key][0][j], rate_ci[key][1][j]) for key in GROUP_METRICS}
            entry["small"] = bool(sizes[j] < min_group_size)
            groups_out.append(entry)
            if sizes[j] < min_group_size:
                warnings.append(
                    f"{g.name}={label}: {int(sizes[j])} rows (< {min_group_size}); its rates are unreliable"
                )
            for key in ("selection_rate", "tpr", "fpr"):
                v = finite_or_none(rates[key][j])
                if v is not None:
                    metrics[f"fairness.{key}[{g.name}={label}]"] = v

        disp_out: dict[str, Any] = {}
        for key in _DISPARITIES:
            value = finite_or_none(float(disp[key]))
            disp_out[key] = {"value": value}
            if disp_ci:
                disp_out[key]["ci"] = _pair(*disp_ci[key])
            if value is None:
                warnings.append(f"{g.name}: {key} is undefined (a zero denominator) and is not reported")
            else:
                metrics[f"fairness.{key}[{g.name}]"] = value
        di = disp_out["disparate_impact"]["value"]
        reference = g.labels[int(np.nanargmax(rates["selection_rate"]))]
        passed = di is not None and di >= FOUR_FIFTHS
        disp_out["four_fifths_rule"] = {"passed": passed, "threshold": FOUR_FIFTHS, "reference_group": reference}
        if not passed and len(g.columns) == 1:
            warnings.append(
                f"{g.name}: disparate impact {di if di is None else round(di, 3)} fails the four-fifths rule "
                f"(reference group {reference})"
            )
        if g.n_groups < 2:
            warnings.append(f"{g.name}: only one group observed; disparities are 0 by construction")
        attributes.append(
            {
                "name": g.name,
                "columns": list(g.columns),
                "intersection": len(g.columns) > 1,
                "groups": groups_out,
                "disparities": disp_out,
            }
        )

    single_names = [g.name for g in singles]
    for key, agg in (
        ("demographic_parity_difference", max),
        ("equalized_odds_difference", max),
        ("demographic_parity_ratio", min),
        ("equalized_odds_ratio", min),
        ("disparate_impact", min),
    ):
        values = [metrics[f"fairness.{key}[{a}]"] for a in single_names if f"fairness.{key}[{a}]" in metrics]
        if values:
            metrics[f"fairness.{key}"] = float(agg(values))
    metrics["fairness.four_fifths_violations"] = float(
        sum(1 for a in attributes if not a["intersection"] and not a["disparities"]["four_fifths_rule"]["passed"])
    )

    overall = group_rates(cell_counts.sum(axis=0))
    body: dict[str, Any] = {
        "rows": n,
        "positive_label": str(pos_label),
        "attributes": attributes,
        "overall": {key: finite_or_none(float(overall[key])) for key in GROUP_METRICS},
        "definitions": "fairlearn.metrics, method=between_groups, agg=worst_case",
        "bootstrap": {
            "method": "multinomial over (group, y_true, y_pred) cells" if n_bootstrap else "none",
            "replicates": n_bootstrap,
            "confidence": confidence,
            "seed": seed,
        },
        "settings": {"min_group_size": min_group_size, "four_fifths_threshold": FOUR_FIFTHS},
    }
    return Report(
        kind="fairness",
        schema_version=SCHEMA_VERSION,
        subject=dict(subject or {}),
        metrics=metrics,
        body=body,
        warnings=warnings,
        created_at=utc_now(),
    )
