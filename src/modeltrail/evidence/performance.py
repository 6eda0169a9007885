"""Performance report (EU AI Act Art. 15 accuracy, Art. 13(3)(b)(ii) stated performance).

Classification: ROC AUC, accuracy, precision, recall, F1, log loss, Brier score, a 10-bin calibration
curve with the expected calibration error (ECE), and the confusion matrix at the operating threshold.
Regression: MAE, RMSE, R². Every figure is given overall and per group of each grouping attribute, with
bootstrap percentile intervals.

Point estimates equal scikit-learn's (``roc_auc_score``, ``accuracy_score``, ``precision_score``,
``recall_score``, ``f1_score`` with the default ``zero_division`` (0), ``log_loss`` (probabilities clipped to
``[eps, 1-eps]``), ``brier_score_loss``, ``calibration_curve(strategy="uniform")``,
``mean_absolute_error``, ``root_mean_squared_error``, ``r2_score``). ROC AUC is computed from average ranks
(the Mann-Whitney form), which equals the trapezoidal ROC area with ties counted half.

Bootstrap. Each replicate gives every row an independent Poisson(1) weight (the Poisson bootstrap, the
standard large-sample form of resampling rows with replacement), and every figure of the replicate —
overall and per group — is computed from the same weights, so intervals of different figures come from
the same resamples. Rows are sorted by score once; a replicate's weighted AUC is then a cumulative sum of
negative weights read at each positive's tie block, and every additive figure is an ``np.bincount`` over
(group, calibration bin, label, prediction) cells, so a replicate costs a handful of O(n) array passes and no
Python loop over rows. Replicates run on a thread pool (numpy releases the GIL in these passes) with one
seeded generator per replicate, so results do not depend on scheduling.

On very large inputs the number of replicates is capped so that ``rows x replicates`` stays within
:data:`MAX_BOOTSTRAP_ROW_REPLICATES`; the report records the number used in ``body["bootstrap"]`` and
says so in ``warnings``.

Metrics: ``performance.<name>`` and ``performance.<name>[<attr>=<value>]`` for ``roc_auc``, ``accuracy``,
``precision``, ``recall``, ``f1``, ``log_loss``, ``brier``, ``ece`` (classification) or ``mae``, ``rmse``,
``r2`` (regression); ``performance.rows``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
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
    intersect,
    missing_label_mask,
    percentile_ci,
    poisson_weights,
    safe_div,
    take_rows,
    utc_now,
)
from modeltrail.evidence.report import Report

__all__ = [
    "CLASSIFICATION_METRICS",
    "MAX_BOOTSTRAP_ROW_REPLICATES",
    "N_CALIBRATION_BINS",
    "REGRESSION_METRICS",
    "SCHEMA_VERSION",
    "grouped_roc_auc",
    "performance_report",
]

SCHEMA_VERSION = 1
N_CALIBRATION_BINS = 10
CLASSIFICATION_METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1", "log_loss", "brier", "ece")
REGRESSION_METRICS = ("mae", "rmse", "r2")
MAX_BOOTSTRAP_ROW_REPLICATES = 100_000_000
"""Cap on rows x replicates: 200 replicates up to 500,000 rows, 100 at one million, never fewer than 50."""

_EPS = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------------------------------
# ROC AUC from ranks, per group, with optional weights
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AucLayout:
    """Rows ordered by (group, score), with what a weighted AUC needs in that order.

    ``perm`` orders rows by group then score (None: already in that order); ``neg`` marks negatives;
    ``gbounds`` are the group boundaries (length ``n_groups + 1``; every group is non-empty). When some
    positive shares its (group, score) block with another row, ``tie_lo``/``tie_hi`` give, for each
    positive (``pos_rows``, in order), the first and one-past-last position of its block.
    """

    perm: IntArray | None
    neg: FloatArray
    gbounds: IntArray
    n_groups: int
    pos_rows: IntArray
    tie_lo: IntArray | None
    tie_hi: IntArray | None


def _auc_layout(y: IntArray, score: FloatArray, codes: IntArray, n_groups: int, presorted: bool) -> _AucLayout:
    n = y.shape[0]
    if presorted and n_groups == 1:
        perm: IntArray | None = None
        c, s, yy = codes, score, y
    else:
        perm = np.lexsort((score, codes)).astype(np.int64)
        c, s, yy = codes[perm], score[perm], y[perm]
    new_block = np.ones(n, dtype=bool)
    if n > 1:
        new_block[1:] = (c[1:] != c[:-1]) | (s[1:] != s[:-1])
    starts = np.flatnonzero(new_block)
    ends = np.append(starts[1:], n)
    block_of = np.cumsum(new_block) - 1
    pos_rows = np.flatnonzero(yy == 1)
    lo = starts[block_of[pos_rows]]
    hi = ends[block_of[pos_rows]]
    ties = bool(((hi - lo) > 1).any())
    return _AucLayout(
        perm=perm,
        neg=(yy == 0).astype(np.float64),
        gbounds=np.searchsorted(c, np.arange(n_groups + 1), side="left").astype(np.int64),
        n_groups=n_groups,
        pos_rows=pos_rows,
        tie_lo=lo if ties else None,
        tie_hi=hi if ties else None,
    )


def _auc_from_layout(layout: _AucLayout, weights: np.ndarray[Any, Any] | None) -> FloatArray:
    """Per-group AUC: sum over positives of w * (negative weight below + half the tied) / (W+ W-).

    Without ties a positive's "negative weight below" is the running sum of negative weights at its
    position (its own negative weight is 0), so the numerator is one product and one segment sum over
    the rows; with ties it is read at both ends of each positive's tie block.
    """
    if weights is None:
        w = np.ones(layout.neg.shape[0], dtype=np.float64)
    else:
        w = weights if layout.perm is None else weights[layout.perm]
    negw = w * layout.neg
    cneg = np.cumsum(negw)
    posw = w - negw
    starts = layout.gbounds[:-1]
    if layout.tie_lo is None or layout.tie_hi is None:
        contrib = posw * cneg
        num = np.add.reduceat(contrib, starts) if layout.n_groups > 1 else np.array([contrib.sum()])
    else:
        cex = np.concatenate(([0.0], cneg))
        wpos = posw[layout.pos_rows]
        below = wpos * (0.5 * (cex[layout.tie_lo] + cex[layout.tie_hi]))
        gid = np.searchsorted(layout.gbounds, layout.pos_rows, side="right") - 1
        num = np.bincount(gid, weights=below, minlength=layout.n_groups)
    pos_w = np.add.reduceat(posw, starts) if layout.n_groups > 1 else np.array([posw.sum()])
    if layout.n_groups == 1:
        neg_w = np.array([cneg[-1]])
    else:
        # Running negative weight at each group boundary (0 before the first group).
        bounds = np.concatenate(([0.0], cneg[layout.gbounds[1:] - 1]))
        neg_w = bounds[1:] - bounds[:-1]
        num = num - pos_w * bounds[:-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = num / (pos_w * neg_w)
    auc[(pos_w == 0) | (neg_w == 0)] = np.nan
    return np.asarray(auc, dtype=np.float64)


def grouped_roc_auc(y_true: Any, y_score: Any, codes: Any = None, n_groups: int = 1) -> FloatArray:
    """ROC AUC of ``y_score`` for 0/1 ``y_true`` in each group ``codes`` (NaN for a one-class group).

    Equals ``sklearn.metrics.roc_auc_score`` on each group's rows.
    """
    y = np.asarray(y_true, dtype=np.int64)
    s = np.asarray(y_score, dtype=np.float64)
    c = np.zeros(y.shape[0], dtype=np.int64) if codes is None else np.asarray(codes, dtype=np.int64)
    return _auc_from_layout(_auc_layout(y, s, c, n_groups, presorted=False), None)


# --------------------------------------------------------------------------------------------------
# Figures from cell sums
# --------------------------------------------------------------------------------------------------

# Additive per-row columns summed per cell: weight, log loss, squared error (Brier), score.
_SUM_COLUMNS = 4


def _classification_figures(cells: FloatArray, auc: FloatArray) -> dict[str, FloatArray]:
    """Figures from cell sums ``cells[..., bin, y, yhat, column]`` (leading axes: groups, replicates)."""
    w = cells[..., 0]
    tn = w[..., 0, 0].sum(axis=-1)
    fp = w[..., 0, 1].sum(axis=-1)
    fn = w[..., 1, 0].sum(axis=-1)
    tp = w[..., 1, 1].sum(axis=-1)
    total = tn + fp + fn + tp
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = (tp + tn) / total
        log_loss = cells[..., 1].sum(axis=(-1, -2, -3)) / total
        brier = cells[..., 2].sum(axis=(-1, -2, -3)) / total
        bin_n = w.sum(axis=(-1, -2))
        bin_y = w[..., 1, :].sum(axis=-1)
        bin_p = cells[..., 3].sum(axis=(-1, -2))
        gap = np.abs(safe_div(bin_y, bin_n) - safe_div(bin_p, bin_n))
        ece = (bin_n * gap).sum(axis=-1) / total
    precision = safe_div(tp, tp + fp)
    recall = safe_div(tp, tp + fn)
    f1 = safe_div(2 * tp, 2 * tp + fp + fn)
    empty = total == 0
    for arr in (precision, recall, f1):
        arr[empty] = np.nan
    return {
        "roc_auc": auc,
        "accuracy": accuracy,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "log_loss": log_loss,
        "brier": brier,
        "ece": ece,
    }


def _regression_figures(cells: FloatArray, onehot: FloatArray, scale: FloatArray) -> dict[str, FloatArray]:
    """Figures of the groups of ``onehot`` from per-cell sums ``cells[cell, (w, w|e|, w e², w d, w d²)]``.

    ``d = y - shift[cell]`` is the target minus its cell's (unweighted) mean, so sums of squares never
    carry the cells' levels. Groups combine cells with the parallel formula
    ``SS = sum SS_c + sum W_c (mean_c - mean_g)^2``: a group far from the overall mean (0 and 1e8) keeps its
    R² (a single sum of squares around the overall mean would cancel to nothing). ``scale`` is each cell's
    mean, used for the weighted cell means and for the constant-target test, which is relative to the
    group's level as scikit-learn's exact ``ss_tot == 0`` is in exact arithmetic.
    """
    w_c, ae_c, se_c, d_c, dd_c = (cells[:, k] for k in range(5))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_c = scale + np.where(w_c > 0, d_c / w_c, 0.0)
        ss_c = np.maximum(dd_c - np.where(w_c > 0, d_c * d_c / w_c, 0.0), 0.0)
        w = onehot @ w_c
        mean_g = (onehot @ (w_c * mean_c)) / w
        dev = mean_c - onehot.T @ np.nan_to_num(mean_g)
        ss_tot = onehot @ (ss_c + w_c * dev * dev)
        se = onehot @ se_c
        mae = (onehot @ ae_c) / w
        rmse = np.sqrt(se / w)
        r2 = 1.0 - se / ss_tot
    # scikit-learn's force_finite rule: a constant target gives 1 for a perfect fit, else 0.
    const = ss_tot <= w * (1e-13 * np.abs(np.nan_to_num(mean_g))) ** 2
    r2 = np.where(const, np.where(se == 0, 1.0, 0.0), r2)
    r2 = np.where(w == 0, np.nan, r2)
    return {"mae": mae, "rmse": rmse, "r2": np.asarray(r2, dtype=np.float64)}


# --------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------


def _threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _bootstrap(
    replicate: Callable[[np.random.Generator], dict[str, FloatArray]], n_rep: int, seed: int
) -> dict[str, FloatArray]:
    """Run ``n_rep`` replicates (one child generator each) and stack each figure along a new axis 0."""
    children = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_rep)]
    with ThreadPoolExecutor(max_workers=_threads()) as pool:
        results = list(pool.map(replicate, children))
    return {key: np.stack([r[key] for r in results]) for key in results[0]}


def performance_report(
    y_true: Any,
    y_pred: Any = None,
    y_score: Any = None,
    *,
    task: str = "classification",
    threshold: float = 0.5,
    groups: pd.DataFrame | Mapping[str, Any] | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
    subject: dict[str, str] | None = None,
    pos_label: Any = 1,
    confidence: float = 0.95,
    missing_labels: str = "error",
) -> Report:
    """Performance report of a binary classifier or a regressor, overall and per group.

    Classification: ``y_true`` binary labels (``pos_label`` is the positive class); ``y_score`` the
    predicted probability of the positive class; ``y_pred`` the decisions — when omitted they are
    ``y_score >= threshold``. Scoring figures (AUC, log loss, Brier, calibration) need ``y_score``.
    Regression: ``y_true`` and ``y_pred`` numbers. ``groups`` (frame or mapping of attribute → values)
    adds per-group figures. ``n_bootstrap`` Poisson-bootstrap replicates give percentile intervals at
    ``confidence`` (0 disables them). A missing true label is an error; ``missing_labels="drop"`` drops
    those rows instead and states the count in ``warnings`` and ``body["dropped_missing_labels"]``.
    """
    if task not in ("classification", "regression"):
        raise ValidationError("must be 'classification' or 'regression'", field="task")
    if n_bootstrap < 0:
        raise ValidationError("must be >= 0", field="n_bootstrap")
    if not 0.0 < confidence < 1.0:
        raise ValidationError("must be in (0, 1)", field="confidence")
    keep = missing_label_mask(y_true, "y_true", missing_labels)
    dropped = 0
    if keep is not None:
        dropped = int((~keep).sum())
        y_true, y_pred, y_score = take_rows(y_true, keep), take_rows(y_pred, keep), take_rows(y_score, keep)
        groups = take_rows(groups, keep)
    if task == "regression":
        report = _regression_report(y_true, y_pred, groups, n_bootstrap, seed, subject, confidence)
    else:
        report = _classification_report(
            y_true, y_pred, y_score, threshold, groups, n_bootstrap, seed, subject, pos_label, confidence
        )
    if dropped:
        report.body["dropped_missing_labels"] = dropped
        report.warnings.insert(0, f"{dropped} rows with a missing label were dropped (missing_labels='drop')")
    return report


def _groupings(groups: pd.DataFrame | Mapping[str, Any] | None, n: int) -> tuple[list[Grouping], Grouping]:
    """The grouping attributes and the finest cells (their intersection; one cell when there are none)."""
    if groups is None:
        one = Grouping("all", (), np.zeros(n, dtype=np.int64), ("all",))
        return [], one
    singles = encode_groups(groups, n, intersections=False)
    finest = singles[0] if len(singles) == 1 else intersect(singles)
    return singles, finest


def _cell_maps(groupings: list[Grouping], finest: Grouping) -> list[FloatArray]:
    """One-hot (groups x finest cells) matrix per grouping, plus the all-ones row for 'overall' first."""
    n_cells = finest.n_groups
    maps = [np.ones((1, n_cells), dtype=np.float64)]
    for g in groupings:
        cell_to_group = np.zeros(n_cells, dtype=np.int64)
        cell_to_group[finest.codes] = g.codes
        onehot = np.zeros((g.n_groups, n_cells), dtype=np.float64)
        onehot[cell_to_group, np.arange(n_cells)] = 1.0
        maps.append(onehot)
    return maps


def _replicate_budget(n: int, n_bootstrap: int, warnings: list[str]) -> int:
    if n_bootstrap == 0:
        return 0
    cap = max(50, MAX_BOOTSTRAP_ROW_REPLICATES // max(n, 1))
    if n_bootstrap > cap:
        warnings.append(
            f"bootstrap capped at {cap} replicates for {n:,} rows (asked {n_bootstrap}); intervals at this "
            "size are narrow and the cap keeps the report within its time budget"
        )
        return cap
    return n_bootstrap


def _assemble(
    task: str,
    names: tuple[str, ...],
    groupings: list[Grouping],
    point: list[dict[str, FloatArray]],
    reps: list[dict[str, FloatArray]] | None,
    confidence: float,
    counts: list[FloatArray],
) -> tuple[dict[str, float], dict[str, Any]]:
    metrics: dict[str, float] = {}
    overall: dict[str, Any] = {}
    per_attr: list[dict[str, Any]] = []
    views: list[tuple[str | None, tuple[str, ...]]] = [(None, ("overall",))]
    views += [(g.name, g.labels) for g in groupings]
    for v, (attr, labels) in enumerate(views):
        cis = {k: percentile_ci(reps[v][k], confidence) for k in names} if reps is not None else None
        entries: list[dict[str, Any]] = []
        for j, label in enumerate(labels):
            entry: dict[str, Any] = {"group": label, "count": int(counts[v][j])}
            ci_out: dict[str, list[float | None]] = {}
            for k in names:
                value = finite_or_none(point[v][k][j])
                entry[k] = value
                if cis is not None:
                    ci_out[k] = [finite_or_none(cis[k][0][j]), finite_or_none(cis[k][1][j])]
                if value is not None:
                    key = f"performance.{k}" if attr is None else f"performance.{k}[{attr}={label}]"
                    metrics[key] = value
            if cis is not None:
                entry["ci"] = ci_out
            entries.append(entry)
        if attr is None:
            overall = entries[0]
        else:
            per_attr.append({"name": attr, "groups": entries})
    return metrics, {"task": task, "overall": overall, "groups": per_attr}


def _classification_report(
    y_true: Any,
    y_pred: Any,
    y_score: Any,
    threshold: float,
    groups: pd.DataFrame | Mapping[str, Any] | None,
    n_bootstrap: int,
    seed: int,
    subject: dict[str, str] | None,
    pos_label: Any,
    confidence: float,
) -> Report:
    if as_1d(y_true, "y_true").shape[0] == 0:
        raise ValidationError("no rows", field="y_true")
    yt = binary_labels(y_true, "y_true", pos_label, require_positive=True)
    n = yt.shape[0]
    if y_score is None and y_pred is None:
        raise ValidationError("give y_pred, y_score or both", field="y_score")
    score: FloatArray | None = None
    if y_score is not None:
        score = as_1d(y_score, "y_score", n).astype(np.float64)
        if not np.isfinite(score).all():
            raise ValidationError("contains NaN or infinite values", field="y_score")
    if y_pred is None:
        assert score is not None
        yp = (score >= threshold).astype(np.int64)
        decision = f"y_score >= {threshold}"
    else:
        yp = binary_labels(y_pred, "y_pred", pos_label, n)
        decision = "given y_pred"
    probabilistic = score is not None and bool(score.min() >= 0.0) and bool(score.max() <= 1.0)

    warnings: list[str] = []
    groupings, finest = _groupings(groups, n)
    if score is not None:
        # One canonical order (by score) for every replicate: the overall AUC then needs no gather.
        order = np.argsort(score, kind="stable")
        yt, yp, score = yt[order], yp[order], score[order]
        finest = Grouping(finest.name, finest.columns, finest.codes[order], finest.labels)
        groupings = [Grouping(g.name, g.columns, g.codes[order], g.labels) for g in groupings]

    # Per-row additive columns and the cell of each row: (finest group, calibration bin, y, yhat).
    if probabilistic:
        assert score is not None
        p_clip = np.clip(score, _EPS, 1 - _EPS)
        q_clip = np.clip(1.0 - score, _EPS, 1 - _EPS)
        row_ll = np.where(yt == 1, -np.log(p_clip), -np.log(q_clip))
        row_br = (yt - score) ** 2
        bins = np.linspace(0.0, 1.0, N_CALIBRATION_BINS + 1)
        bin_id = np.searchsorted(bins[1:-1], score).astype(np.int64)
        row_p = score
    else:
        row_ll = row_br = row_p = np.zeros(n, dtype=np.float64)
        bin_id = np.zeros(n, dtype=np.int64)
    n_cells = finest.n_groups * N_CALIBRATION_BINS * 4
    cell = ((finest.codes * N_CALIBRATION_BINS + bin_id) * 2 + yt) * 2 + yp
    maps = _cell_maps(groupings, finest)
    layouts: list[_AucLayout] = []
    if score is not None:
        layouts.append(_auc_layout(yt, score, np.zeros(n, dtype=np.int64), 1, presorted=True))
        layouts += [_auc_layout(yt, score, g.codes, g.n_groups, presorted=False) for g in groupings]

    def figures(weights: np.ndarray[Any, Any] | None) -> list[dict[str, FloatArray]]:
        sums = np.stack(
            [
                np.bincount(cell, weights=weights, minlength=n_cells),
                np.bincount(cell, weights=row_ll if weights is None else weights * row_ll, minlength=n_cells),
                np.bincount(cell, weights=row_br if weights is None else weights * row_br, minlength=n_cells),
                np.bincount(cell, weights=row_p if weights is None else weights * row_p, minlength=n_cells),
            ],
            axis=-1,
        ).reshape(finest.n_groups, N_CALIBRATION_BINS * 4 * _SUM_COLUMNS)
        out: list[dict[str, FloatArray]] = []
        for v, onehot in enumerate(maps):
            cells = (onehot @ sums).reshape(-1, N_CALIBRATION_BINS, 2, 2, _SUM_COLUMNS)
            auc = _auc_from_layout(layouts[v], weights) if layouts else np.full(onehot.shape[0], np.nan)
            out.append(_classification_figures(cells, auc))
        return out

    point = figures(None)
    counts = [m @ np.bincount(finest.codes, minlength=finest.n_groups).astype(np.float64) for m in maps]
    names: tuple[str, ...] = (
        CLASSIFICATION_METRICS if probabilistic else ("roc_auc", "accuracy", "precision", "recall", "f1")
    )
    if score is None:
        names = ("accuracy", "precision", "recall", "f1")
        warnings.append("no y_score: ROC AUC, log loss, Brier and calibration are not reported")
    elif not probabilistic:
        warnings.append("y_score is outside [0, 1]: log loss, Brier and calibration are not reported")

    n_rep = _replicate_budget(n, n_bootstrap, warnings)
    reps: list[dict[str, FloatArray]] | None = None
    if n_rep:

        def replicate(rng: np.random.Generator) -> dict[str, FloatArray]:
            figs = figures(poisson_weights(rng, n))
            return {f"{v}:{k}": figs[v][k] for v in range(len(maps)) for k in names}

        stacked = _bootstrap(replicate, n_rep, seed)
        reps = [{k: stacked[f"{v}:{k}"] for k in names} for v in range(len(maps))]

    metrics, body = _assemble("classification", names, groupings, point, reps, confidence, counts)
    metrics["performance.rows"] = float(n)

    tn_fp_fn_tp = [int(x) for x in np.bincount(yt * 2 + yp, minlength=4)]
    body["confusion_matrix"] = {
        "labels": ["negative", "positive"],
        "matrix": [[tn_fp_fn_tp[0], tn_fp_fn_tp[1]], [tn_fp_fn_tp[2], tn_fp_fn_tp[3]]],
        "decision": decision,
    }
    if score is not None:
        body["roc_curve"] = _roc_points(yt, score)
    if probabilistic:
        bin_n = np.bincount(bin_id, minlength=N_CALIBRATION_BINS)
        bin_y = np.bincount(bin_id, weights=yt, minlength=N_CALIBRATION_BINS)
        bin_p = np.bincount(bin_id, weights=row_p, minlength=N_CALIBRATION_BINS)
        body["calibration"] = {
            "bins": N_CALIBRATION_BINS,
            "strategy": "uniform",
            "curve": [
                {
                    "bin": b,
                    "lower": float(bins[b]),
                    "upper": float(bins[b + 1]),
                    "count": int(bin_n[b]),
                    "mean_predicted": float(bin_p[b] / bin_n[b]),
                    "fraction_positive": float(bin_y[b] / bin_n[b]),
                }
                for b in range(N_CALIBRATION_BINS)
                if bin_n[b] > 0
            ],
        }
    body.update({"rows": n, "positive_label": str(pos_label), "threshold": threshold})
    return _finish(metrics, body, warnings, subject, n_rep, n_bootstrap, confidence, seed)


ROC_POINTS = 101


def _roc_points(y: IntArray, score_sorted: FloatArray) -> dict[str, Any] | None:
    """ROC curve (FPR, TPR at every distinct threshold), thinned to at most :data:`ROC_POINTS` points.

    ``score_sorted`` is in ascending order (the report sorts rows by score); thresholds are read from the
    top. Equals ``sklearn.metrics.roc_curve`` up to the thinning (every kept point is one of its points).
    """
    pos = int(y.sum())
    neg = int(y.shape[0] - pos)
    if pos == 0 or neg == 0:
        return None
    s = score_sorted[::-1]
    yy = y[::-1]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.shape[0] - 1]  # last row of each tie block
    tps = np.cumsum(yy)[last]
    fps = (last + 1) - tps
    tpr = np.r_[0.0, tps / pos]
    fpr = np.r_[0.0, fps / neg]
    if tpr.shape[0] > ROC_POINTS:
        keep = np.unique(np.linspace(0, tpr.shape[0] - 1, ROC_POINTS).round().astype(np.int64))
        tpr, fpr = tpr[keep], fpr[keep]
    return {"fpr": [float(v) for v in fpr], "tpr": [float(v) for v in tpr]}


def _regression_report(
    y_true: Any,
    y_pred: Any,
    groups: pd.DataFrame | Mapping[str, Any] | None,
    n_bootstrap: int,
    seed: int,
    subject: dict[str, str] | None,
    confidence: float,
) -> Report:
    yt_raw = as_1d(y_true, "y_true")
    if pd.isna(yt_raw).any():
        raise ValidationError("contains missing values; drop them or pass missing_labels='drop'", field="y_true")
    yt = yt_raw.astype(np.float64)
    n = yt.shape[0]
    if n == 0:
        raise ValidationError("no rows", field="y_true")
    if y_pred is None:
        raise ValidationError("regression needs y_pred", field="y_pred")
    yp = as_1d(y_pred, "y_pred", n).astype(np.float64)
    if not (np.isfinite(yt).all() and np.isfinite(yp).all()):
        raise ValidationError("contains NaN or infinite values", field="y_true/y_pred")
    warnings: list[str] = []
    groupings, finest = _groupings(groups, n)
    maps = _cell_maps(groupings, finest)
    err = yp - yt
    k = finest.n_groups
    # Centre the target on its cell's mean before squaring, so no sum of squares carries a level.
    cell_n = np.bincount(finest.codes, minlength=k).astype(np.float64)
    shift = safe_div(np.asarray(np.bincount(finest.codes, weights=yt, minlength=k), dtype=np.float64), cell_n)
    yc = yt - shift[finest.codes]
    cols = (np.abs(err), err * err, yc, yc * yc)

    def figures(weights: np.ndarray[Any, Any] | None) -> list[dict[str, FloatArray]]:
        sums = np.stack(
            [np.bincount(finest.codes, weights=weights, minlength=k)]
            + [np.bincount(finest.codes, weights=c if weights is None else weights * c, minlength=k) for c in cols],
            axis=-1,
        ).astype(np.float64)
        return [_regression_figures(sums, m, shift) for m in maps]

    point = figures(None)
    counts = [m @ np.bincount(finest.codes, minlength=finest.n_groups).astype(np.float64) for m in maps]
    n_rep = _replicate_budget(n, n_bootstrap, warnings)
    reps: list[dict[str, FloatArray]] | None = None
    if n_rep:

        def replicate(rng: np.random.Generator) -> dict[str, FloatArray]:
            figs = figures(poisson_weights(rng, n))
            return {f"{v}:{k}": figs[v][k] for v in range(len(maps)) for k in REGRESSION_METRICS}

        stacked = _bootstrap(replicate, n_rep, seed)
        reps = [{k: stacked[f"{v}:{k}"] for k in REGRESSION_METRICS} for v in range(len(maps))]
    metrics, body = _assemble("regression", REGRESSION_METRICS, groupings, point, reps, confidence, counts)
    metrics["performance.rows"] = float(n)
    body["rows"] = n
    return _finish(metrics, body, warnings, subject, n_rep, n_bootstrap, confidence, seed)


def _finish(
    metrics: dict[str, float],
    body: dict[str, Any],
    warnings: list[str],
    subject: Mapping[str, str] | None,
    n_rep: int,
    n_bootstrap: int,
    confidence: float,
    seed: int,
) -> Report:
    """The report, with the bootstrap settings that produced its intervals (both report kinds)."""
    body["bootstrap"] = {
        "method": "poisson" if n_rep else "none",
        "replicates": n_rep,
        "requested": n_bootstrap,
        "confidence": confidence,
        "seed": seed,
    }
    return Report(
        kind="performance",
        schema_version=SCHEMA_VERSION,
        subject=dict(subject or {}),
        metrics=metrics,
        body=body,
        warnings=warnings,
        created_at=utc_now(),
    )
