"""Performance decay: realised figures once labels arrive, and confidence-based estimation (CBPE) before.

Realised figures reuse :func:`modeltrail.evidence.performance.performance_report` (the same metric names
as the gates read). CBPE, as NannyML describes it: when scores are calibrated, the probability that a
decision is correct is known per row, so the confusion matrix has an expected value without labels —
expected TP is the sum of the scores of the rows predicted positive, and so on — and the ROC AUC has an
expected curve (cumulated scores against cumulated complements). Its uncertainty is the spread of the
realised figure when labels are drawn from the calibrated scores (Monte Carlo, seeded), which is the
range the realised value should fall in if calibration holds and nothing but the inputs changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ..errors import ValidationError
from ..evidence.performance import performance_report
from .profile import FloatArray

CBPE_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def fit_calibration(scores: Any, labels: Any) -> tuple[list[float], list[float]]:
    """An isotonic calibration map (sorted knots) of scores to the observed positive rate."""
    from sklearn.isotonic import IsotonicRegression

    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(np.float64)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, y)
    return [float(v) for v in iso.X_thresholds_], [float(v) for v in iso.y_thresholds_]


def labelled_figures(y_true: Any, scores: Any, threshold: float = 0.5, groups: Any = None) -> dict[str, float]:
    """The performance report's flat metrics (no bootstrap) for labels and scores."""
    rep = performance_report(
        np.asarray(y_true),
        y_score=np.asarray(scores, dtype=np.float64),
        threshold=threshold,
        groups=groups,
        n_bootstrap=0,
    )
    return {k: float(v) for k, v in rep.metrics.items() if np.isfinite(v)}


@dataclass(frozen=True)
class Estimate:
    """An estimated figure with its Monte Carlo standard deviation and interval."""

    value: float
    std: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        """JSON-safe form."""
        return {"value": self.value, "std": self.std, "low": self.low, "high": self.high}


def _confusion(p: FloatArray, pred: np.ndarray[Any, Any]) -> dict[str, float]:
    tp = float(p[pred].sum())
    fp = float((1 - p[pred]).sum())
    fn = float(p[~pred].sum())
    tn = float((1 - p[~pred]).sum())
    n = tp + fp + fn + tn
    return {
        "accuracy": (tp + tn) / n,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan"),
    }


def expected_auc(p: FloatArray) -> float:
    """Expected ROC AUC from calibrated probabilities (trapezoid under cumulated p vs 1 - p)."""
    order = np.argsort(-p, kind="stable")
    q = p[order]
    tpr = np.concatenate([[0.0], np.cumsum(q) / q.sum()])
    fpr = np.concatenate([[0.0], np.cumsum(1 - q) / (1 - q).sum()])
    return float(np.trapezoid(tpr, fpr))


def _realised(Y: np.ndarray[Any, Any], pred: np.ndarray[Any, Any], ranks: FloatArray) -> dict[str, FloatArray]:
    """Figures for each replicate row of labels ``Y`` (replicates × n) with fixed predictions."""
    yb = Y.astype(np.float64)
    pf = pred.astype(np.float64)
    tp = yb @ pf
    pos = yb.sum(axis=1)
    npred = pf.sum()
    n = Y.shape[1]
    fp = npred - tp
    fn = pos - tp
    tn = n - tp - fp - fn
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (yb @ ranks - pos * (pos + 1) / 2) / (pos * (n - pos))
        return {
            "accuracy": (tp + tn) / n,
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "f1": 2 * tp / (2 * tp + fp + fn),
            "roc_auc": auc,
        }


def cbpe(
    scores: Any,
    *,
    threshold: float = 0.5,
    calibrate: Any = None,
    n_samples: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Estimate]:
    """Estimated accuracy, precision, recall, F1 and ROC AUC of a window without labels.

    ``scores`` are the model's probabilities of class 1; ``calibrate`` (a function, e.g.
    :meth:`ReferenceProfile.calibrate`) maps them to calibrated ones first. Intervals are the
    ``confidence`` range of the realised figure over ``n_samples`` label draws.
    """
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size < 2:
        raise ValidationError("CBPE needs at least two scored decisions", field="scores")
    if not 0 < confidence < 1:
        raise ValidationError("must be in (0, 1)", field="confidence")
    p = np.clip(np.asarray(calibrate(s) if calibrate is not None else s, dtype=np.float64), 0.0, 1.0)
    pred = s >= threshold
    point = _confusion(p, pred)
    point["roc_auc"] = expected_auc(p)
    ranks = stats.rankdata(s).astype(np.float64)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_samples, 4_000_000 // s.size))  # label draws per step: about 32 MB of uniforms
    draws: dict[str, list[FloatArray]] = {m: [] for m in CBPE_METRICS}
    done = 0
    while done < n_samples:
        k = min(chunk, n_samples - done)
        Y = rng.random((k, s.size)) < p
        for m, v in _realised(Y, pred, ranks).items():
            draws[m].append(v)
        done += k
    alpha = (1 - confidence) / 2
    out = {}
    for m in CBPE_METRICS:
        v = np.concatenate(draws[m])
        v = v[np.isfinite(v)]
        if v.size == 0 or not np.isfinite(point[m]):
            out[m] = Estimate(float("nan"), float("nan"), float("nan"), float("nan"))
            continue
        out[m] = Estimate(point[m], float(v.std()), float(np.quantile(v, alpha)), float(np.quantile(v, 1 - alpha)))
    return out
