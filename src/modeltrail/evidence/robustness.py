"""Robustness report (EU AI Act Art. 15(4): resilience to errors, faults and inconsistencies in inputs).

The model is run on perturbed copies of ``X`` and its decisions are compared with those on ``X``:

- ``noise``: gaussian noise on every numeric feature, ``numeric_noise`` times the column's standard
  deviation;
- ``missing``: each cell blanked (NaN / None) with probability ``missing_rate``;
- ``out_of_range``: one numeric column at a time, every value moved beyond the reference (training)
  range — half of the rows above the maximum, half below the minimum, by half the range;
- ``unseen_category``: one categorical column at a time, every value replaced by a category the model
  has never seen.

A decision "flips" when the predicted class changes (classifiers) or when a regression output moves by
more than ``regression_tolerance`` standard deviations of the original outputs. Flips say how often a
decision changes, not whether it gets worse: with labels ``y`` the report also gives accuracy and ROC AUC
(R² and MAE for regressors) on the clean data and under each perturbation, and their *drop* — the figure
a gate should bound (``robustness.accuracy_drop_noise: {max: 0.02}``).

A model that raises on a perturbed input has *crashed* on it: the crash is counted (``crash_count``) and
named in ``warnings``, and that perturbation's flip rate and drops are undefined (listed in
``Report.undefined``, so a gate on them fails saying why) — not 1.0, which would read as instability.
A constant model (one class for every row, or a constant output) never flips; the report flags it
(``robustness.degenerate``) instead of presenting its 0 flip rate as perfect robustness. Moving a numeric
feature out of its training range changes the decisions of any model that uses the feature; that rate is
reported as the model's *sensitivity* to the feature, not as instability.

Metrics: ``robustness.flip_rate_noise``, ``robustness.flip_rate_missing``,
``robustness.flip_rate_out_of_range`` (mean over numeric columns), ``robustness.unseen_category_error_rate``
(share of categorical columns on which the model raised), ``robustness.flip_rate_unseen_category``,
``robustness.error_count`` and ``robustness.crash_count`` (perturbations the model raised on),
``robustness.degenerate`` (1 for a constant model); with ``y``: ``robustness.accuracy`` and
``robustness.roc_auc`` (clean), ``robustness.accuracy_drop_<check>`` and ``robustness.roc_auc_drop_<check>``
(``r2_drop_<check>`` for regressors) for ``noise``, ``missing``, ``out_of_range`` and ``unseen_category``
(the largest drop over the columns for the last two).

With ``sensitive`` (the protected attributes, one column each, rows aligned with ``X``) and ``y``, a
classifier's fairness is measured the same way: ``robustness.demographic_parity_difference[<attr>]`` and
``robustness.equalized_odds_difference[<attr>]`` on the clean data (fairlearn, on the positive class) and
``robustness.demographic_parity_difference_increase_<check>[<attr>]`` (and the equalized-odds one) under each
perturbation: how much more unequal the decisions become when the inputs degrade.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from modeltrail.errors import ValidationError
from modeltrail.evidence._common import as_1d, binary_labels, finite_or_none, utc_now
from modeltrail.evidence.performance import grouped_roc_auc
from modeltrail.evidence.report import Report

__all__ = ["SCHEMA_VERSION", "UNSEEN_CATEGORY", "robustness_report"]

SCHEMA_VERSION = 1
UNSEEN_CATEGORY = "__modeltrail_unseen__"


def _error_text(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}"


def robustness_report(
    model: Any,
    X: pd.DataFrame,
    *,
    numeric_noise: float = 0.05,
    missing_rate: float = 0.1,
    categorical_columns: Sequence[str] | None = None,
    numeric_columns: Sequence[str] | None = None,
    reference: pd.DataFrame | None = None,
    regression_tolerance: float = 0.1,
    max_rows: int = 5000,
    seed: int = 0,
    subject: dict[str, str] | None = None,
    y: Any = None,
    pos_label: Any = 1,
    sensitive: pd.DataFrame | None = None,
) -> Report:
    """Stability of ``model.predict`` on ``X`` (a frame, e.g. for a Pipeline) under input perturbations.

    ``categorical_columns`` / ``numeric_columns`` default to the non-numeric / numeric columns of ``X``.
    ``reference`` is the training data whose ranges define "out of range" (default: ``X``). At most
    ``max_rows`` rows (a seeded sample) are used. ``y`` (true labels, ``pos_label`` the positive class for
    classifiers) adds the accuracy / ROC AUC (R² / MAE) under each perturbation and its drop; with
    ``sensitive`` too, the fairness disparities and their increase (see the module docstring).
    """
    if not isinstance(X, pd.DataFrame):
        raise ValidationError("expected a DataFrame", field="X")
    if len(X) == 0:
        raise ValidationError("no rows", field="X")
    if numeric_noise < 0 or not 0 <= missing_rate <= 1:
        raise ValidationError("numeric_noise must be >= 0 and missing_rate in [0, 1]", field="settings")
    rng = np.random.default_rng(seed)
    labels = None if y is None else as_1d(y, "y", len(X))
    keep = None if len(X) <= max_rows else np.sort(rng.choice(len(X), size=max_rows, replace=False))
    data = X if keep is None else X.iloc[keep]
    data = data.reset_index(drop=True)
    if labels is not None and keep is not None:
        labels = labels[keep]
    groups = None
    if sensitive is not None:
        if not isinstance(sensitive, pd.DataFrame) or len(sensitive) != len(X):
            raise ValidationError(
                f"expected a DataFrame with {len(X)} rows (one column per attribute)", field="sensitive"
            )
        groups = sensitive if keep is None else sensitive.iloc[keep]
        groups = groups.reset_index(drop=True)
    cols = [str(c) for c in data.columns]
    numeric = (
        list(numeric_columns)
        if numeric_columns is not None
        else [c for c in cols if pd.api.types.is_numeric_dtype(data[c]) and not pd.api.types.is_bool_dtype(data[c])]
    )
    categorical = (
        list(categorical_columns) if categorical_columns is not None else [c for c in cols if c not in numeric]
    )
    unknown = [c for c in [*numeric, *categorical] if c not in cols]
    if unknown:
        raise ValidationError(f"not columns of X: {', '.join(unknown)}", field="columns")
    ref = data if reference is None else reference

    base = np.asarray(model.predict(data))
    is_classifier = hasattr(model, "predict_proba") or base.dtype.kind in "OUSb"
    tol = regression_tolerance * float(np.std(base.astype(np.float64))) if not is_classifier else 0.0
    degenerate = len(pd.unique(base)) < 2 if is_classifier else float(np.std(base.astype(np.float64))) == 0.0
    scorer = _Scorer(model, labels, pos_label, is_classifier, groups) if labels is not None else None
    clean = scorer.score(data, base) if scorer is not None else {}

    def flips(perturbed: pd.DataFrame) -> tuple[float | None, str | None, dict[str, float | None]]:
        try:
            out = np.asarray(model.predict(perturbed))
            scores = scorer.score(perturbed, out) if scorer is not None else {}
        except Exception as exc:  # any model failure is a finding (a crash), not a crash of the report
            return None, _error_text(exc), {}
        drops = {f"{k}_drop": _drop(k, clean[k], v) for k, v in scores.items()}
        if is_classifier:
            return float(np.mean(out != base)), None, {**scores, **drops}
        moved = np.abs(out.astype(np.float64) - base.astype(np.float64)) > tol
        return float(np.mean(moved)), None, {**scores, **drops}

    checks: dict[str, Any] = {}
    errors: list[str] = []

    def record(name: str, fn: Callable[[], pd.DataFrame]) -> dict[str, Any]:
        rate, err, scores = flips(fn())
        if err is not None:
            errors.append(f"{name}: {err}")
        return {"flip_rate": rate, "error": err, "crashed": err is not None, **scores}

    # Gaussian noise on numeric columns.
    def noisy() -> pd.DataFrame:
        out = data.copy()
        for c in numeric:
            col = out[c].astype(np.float64)
            sd = float(col.std(ddof=0)) if len(col) > 1 else 0.0
            out[c] = col + rng.normal(0.0, numeric_noise * sd, len(col))
        return out

    checks["noise"] = {**record("noise", noisy), "scale": numeric_noise}

    # Missing values.
    def holes() -> pd.DataFrame:
        out = data.copy()
        for c in cols:
            mask = rng.random(len(out)) < missing_rate
            if c in numeric:
                out[c] = out[c].astype(np.float64).mask(mask, np.nan)
            else:
                out[c] = out[c].astype(object).mask(mask, None)
        return out

    checks["missing"] = record("missing", holes)
    checks["missing"].update({"rate": missing_rate, "handled": checks["missing"]["error"] is None})

    # Out-of-range values, one numeric column at a time.
    per_col: list[dict[str, Any]] = []
    half = np.arange(len(data)) % 2 == 0
    for c in numeric:
        lo, hi = float(ref[c].min()), float(ref[c].max())
        span = (hi - lo) or max(abs(hi), 1.0)

        def beyond(c: str = c, lo: float = lo, hi: float = hi, span: float = span) -> pd.DataFrame:
            out = data.copy()
            out[c] = np.where(half, hi + 0.5 * span, lo - 0.5 * span)
            return out

        per_col.append({"column": c, **record(f"out_of_range[{c}]", beyond), "min": lo, "max": hi})
    checks["out_of_range"] = {
        "columns": per_col,
        "reading": "sensitivity: the share of decisions that change when the feature leaves its training range",
    }

    # Unseen categories, one categorical column at a time.
    per_cat: list[dict[str, Any]] = []
    for c in categorical:

        def unseen(c: str = c) -> pd.DataFrame:
            out = data.copy()
            out[c] = UNSEEN_CATEGORY
            return out

        entry = record(f"unseen_category[{c}]", unseen)
        per_cat.append({"column": c, **entry, "handled": entry["error"] is None})
    checks["unseen_category"] = {"columns": per_cat}

    metrics: dict[str, float] = {
        "robustness.error_count": float(len(errors)),
        "robustness.crash_count": float(len(errors)),
    }
    undefined: dict[str, str] = {}

    def put(name: str, value: float | None, reason: str) -> None:
        if value is None or not np.isfinite(value):
            undefined[name] = reason
        else:
            metrics[name] = float(value)

    for check in ("noise", "missing"):
        entry = checks[check]
        crash = f"the model crashed on the {check} perturbation: {entry['error']}"
        put(f"robustness.flip_rate_{check}", entry["flip_rate"], crash)
        for key in clean:
            put(_drop_name(key, check), entry.get(f"{key}_drop"), crash)
    for check, entries in (("out_of_range", per_col), ("unseen_category", per_cat)):
        if not entries:
            continue
        rates = [e["flip_rate"] for e in entries if e["flip_rate"] is not None]
        crash = f"the model crashed on every {check} column"
        put(f"robustness.flip_rate_{check}", float(np.mean(rates)) if rates else None, crash)
        for key in clean:
            drops = [e[f"{key}_drop"] for e in entries if e.get(f"{key}_drop") is not None]
            put(_drop_name(key, check), max(drops) if drops else None, crash)
    for p in per_col:
        put(f"robustness.flip_rate_out_of_range[{p['column']}]", p["flip_rate"], f"crashed: {p['error']}")
    if per_cat:
        metrics["robustness.unseen_category_error_rate"] = float(np.mean([p["error"] is not None for p in per_cat]))
    for key, value in clean.items():
        put(f"robustness.{key}", value, "undefined on the clean data")
    metrics["robustness.degenerate"] = float(degenerate)
    warnings = [f"the model crashed on perturbed input (not counted as flips) — {e}" for e in errors]
    if degenerate:
        warnings.insert(
            0,
            "the model is constant on these rows (one output for every row): it can not flip, so its flip rates "
            "say nothing about robustness",
        )
    body = {
        "rows": len(data),
        "rows_total": len(X),
        "task": "classification" if is_classifier else "regression",
        "numeric_columns": numeric,
        "categorical_columns": categorical,
        "checks": checks,
        "clean": clean,
        "degenerate": degenerate,
        "crashes": len(errors),
        "settings": {
            "numeric_noise": numeric_noise,
            "missing_rate": missing_rate,
            "regression_tolerance": regression_tolerance,
            "max_rows": max_rows,
            "seed": seed,
        },
    }
    return Report(
        kind="robustness",
        schema_version=SCHEMA_VERSION,
        subject=dict(subject or {}),
        metrics=metrics,
        body=body,
        warnings=warnings,
        created_at=utc_now(),
        undefined=undefined,
    )


def _drop(name: str, clean: float | None, perturbed: float | None) -> float | None:
    """How much worse the perturbed figure is (positive: worse).

    MAE and the fairness disparities (``name[attr]``) grow when worse; accuracy, ROC AUC and R² shrink.
    """
    if clean is None or perturbed is None:
        return None
    return perturbed - clean if name == "mae" or "[" in name else clean - perturbed


def _drop_name(key: str, check: str) -> str:
    """``robustness.<key>_drop_<check>``; a per-attribute disparity ``d[a]`` becomes ``d_increase_<check>[a]``."""
    if "[" in key:
        base, attr = key.split("[", 1)
        return f"robustness.{base}_increase_{check}[{attr}"
    return f"robustness.{key}_drop_{check}"


class _Scorer:
    """Accuracy and ROC AUC (classifiers) or R² and MAE (regressors) of the model against fixed labels."""

    def __init__(
        self, model: Any, labels: Any, pos_label: Any, is_classifier: bool, groups: pd.DataFrame | None = None
    ) -> None:
        self.model = model
        self.is_classifier = is_classifier
        self.groups = groups
        if is_classifier:
            self.y = binary_labels(labels, "y", pos_label, require_positive=True)
            self.pos_label = pos_label
        else:
            self.y_num = np.asarray(labels, dtype=np.float64)

    def score(self, X: pd.DataFrame, pred: Any) -> dict[str, float | None]:
        """The figures on ``X`` given the model's predictions ``pred`` there (predict_proba is called)."""
        if not self.is_classifier:
            p = np.asarray(pred, dtype=np.float64)
            ss = float(((self.y_num - self.y_num.mean()) ** 2).sum())
            r2 = 1.0 - float(((self.y_num - p) ** 2).sum()) / ss if ss > 0 else None
            return {"r2": r2, "mae": float(np.abs(self.y_num - p).mean())}
        hit = (np.asarray(pred) == self.pos_label).astype(np.int64)
        out: dict[str, float | None] = {"accuracy": float(np.mean(hit == self.y))}
        if hasattr(self.model, "predict_proba"):
            score = np.asarray(self.model.predict_proba(X), dtype=np.float64)[:, -1]
            out["roc_auc"] = finite_or_none(float(grouped_roc_auc(self.y, score)[0]))
        if self.groups is not None:
            from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

            for attr in self.groups.columns:
                # As text: fairlearn sorts the group labels, which fails on mixed types. Only the spread
                # between groups matters here; the fairness report keeps the labels' own types.
                g = self.groups[attr].astype(str).to_numpy()
                out[f"demographic_parity_difference[{attr}]"] = finite_or_none(
                    float(demographic_parity_difference(self.y, hit, sensitive_features=g))
                )
                out[f"equalized_odds_difference[{attr}]"] = finite_or_none(
                    float(equalized_odds_difference(self.y, hit, sensitive_features=g))
                )
        return out
