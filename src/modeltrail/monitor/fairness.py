"""Fairness drift: the fairness report's figures per window, and selection-rate parity without labels.

With labels, a window's figures come from :func:`modeltrail.evidence.fairness.fairness_report` (the
same metric names and bootstrap intervals the gates read). Before labels arrive the demographic parity
difference still can be watched: it needs only the decisions and the group of each row; its interval is
the normal approximation of the difference between the highest and lowest group selection rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ValidationError
from ..evidence.fairness import fairness_report


def fairness_figures(
    y_true: Any, y_pred: Any, groups: pd.DataFrame | Mapping[str, Any], *, n_bootstrap: int = 0, seed: int = 0
) -> dict[str, float]:
    """The fairness report's flat metrics (``fairness.<metric>[<attribute>]``) for one window."""
    rep = fairness_report(
        np.asarray(y_true), np.asarray(y_pred), groups, n_bootstrap=n_bootstrap, seed=seed, min_group_size=1
    )
    return {k: float(v) for k, v in rep.metrics.items() if np.isfinite(v)}


def fairness_with_intervals(
    y_true: Any, y_pred: Any, groups: pd.DataFrame | Mapping[str, Any], *, n_bootstrap: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Flat metrics plus the report body (which holds the bootstrap intervals) for one window."""
    rep = fairness_report(
        np.asarray(y_true), np.asarray(y_pred), groups, n_bootstrap=n_bootstrap, seed=seed, min_group_size=1
    )
    return {"metrics": {k: float(v) for k, v in rep.metrics.items() if np.isfinite(v)}, "warnings": list(rep.warnings)}


def selection_parity(y_pred: Any, group: Any, *, z: float = 1.959963984540054) -> dict[str, Any]:
    """Selection rate per group, the demographic parity difference (max - min) and its ~95% interval."""
    pred = np.asarray(y_pred).astype(np.float64)
    g = pd.Series(group, dtype="object").fillna("<missing>").astype(str).to_numpy()
    if pred.shape[0] != g.shape[0]:
        raise ValidationError(f"expected {pred.shape[0]} group values, got {g.shape[0]}", field="group")
    if pred.shape[0] == 0:
        raise ValidationError("no rows", field="y_pred")
    codes, names = pd.factorize(g, sort=True)
    n = np.bincount(codes, minlength=len(names)).astype(np.float64)
    pos = np.bincount(codes, weights=pred, minlength=len(names))
    rate = pos / n
    hi, lo = int(np.argmax(rate)), int(np.argmin(rate))
    diff = float(rate[hi] - rate[lo])
    se = float(np.sqrt(rate[hi] * (1 - rate[hi]) / n[hi] + rate[lo] * (1 - rate[lo]) / n[lo]))
    return {
        "rates": {str(k): float(v) for k, v in zip(names, rate, strict=True)},
        "counts": {str(k): int(v) for k, v in zip(names, n, strict=True)},
        "demographic_parity_difference": diff,
        "interval": [max(0.0, diff - z * se), min(1.0, diff + z * se)],
    }
