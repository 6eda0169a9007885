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
more than ``regression_tolerance`` standard deviations of the original outputs. When the model raises on
a perturbed input, the error is caught and reported, and all of that perturbation's decisions count as
flipped: a decision that can not be made is not a stable one.

Metrics: ``robustness.flip_rate_noise``, ``robustness.flip_rate_missing``,
``robustness.flip_rate_out_of_range`` (mean over numeric columns), ``robustness.unseen_category_error_rate``
(share of categorical columns on which the model raised), ``robustness.flip_rate_unseen_category`` and
``robustness.error_count``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from modeltrail.errors import ValidationError
from modeltrail.evidence._common import utc_now
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
) -> Report:
    """Stability of ``model.predict`` on ``X`` (a frame, e.g. for a Pipeline) under input perturbations.

    ``categorical_columns`` / ``numeric_columns`` default to the non-numeric / numeric columns of ``X``.
    ``reference`` is the training data whose ranges define "out of range" (default: ``X``). At most
    ``max_rows`` rows (a seeded sample) are used.
    """
    if not isinstance(X, pd.DataFrame):
        raise ValidationError("expected a DataFrame", field="X")
    if len(X) == 0:
        raise ValidationError("no rows", field="X")
    if numeric_noise < 0 or not 0 <= missing_rate <= 1:
        raise ValidationError("numeric_noise must be >= 0 and missing_rate in [0, 1]", field="settings")
    rng = np.random.default_rng(seed)
    data = X if len(X) <= max_rows else X.iloc[np.sort(rng.choice(len(X), size=max_rows, replace=False))]
    data = data.reset_index(drop=True)
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

    def flips(perturbed: pd.DataFrame) -> tuple[float, str | None]:
        try:
            out = np.asarray(model.predict(perturbed))
        except Exception as exc:  # any model failure is a finding, not a crash of the report
            return 1.0, _error_text(exc)
        if is_classifier:
            return float(np.mean(out != base)), None
        return float(np.mean(np.abs(out.astype(np.float64) - base.astype(np.float64)) > tol)), None

    checks: dict[str, Any] = {}
    errors: list[str] = []

    def record(name: str, fn: Callable[[], pd.DataFrame]) -> tuple[float, str | None]:
        rate, err = flips(fn())
        if err is not None:
            errors.append(f"{name}: {err}")
        return rate, err

    # Gaussian noise on numeric columns.
    def noisy() -> pd.DataFrame:
        out = data.copy()
        for c in numeric:
            col = out[c].astype(np.float64)
            sd = float(col.std(ddof=0)) if len(col) > 1 else 0.0
            out[c] = col + rng.normal(0.0, numeric_noise * sd, len(col))
        return out

    rate, err = record("noise", noisy)
    checks["noise"] = {"flip_rate": rate, "error": err, "scale": numeric_noise}

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

    rate, err = record("missing", holes)
    checks["missing"] = {"flip_rate": rate, "error": err, "rate": missing_rate, "handled": err is None}

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

        rate, err = record(f"out_of_range[{c}]", beyond)
        per_col.append({"column": c, "flip_rate": rate, "error": err, "min": lo, "max": hi})
    checks["out_of_range"] = {"columns": per_col}

    # Unseen categories, one categorical column at a time.
    per_cat: list[dict[str, Any]] = []
    for c in categorical:

        def unseen(c: str = c) -> pd.DataFrame:
            out = data.copy()
            out[c] = UNSEEN_CATEGORY
            return out

        rate, err = record(f"unseen_category[{c}]", unseen)
        per_cat.append({"column": c, "flip_rate": rate, "error": err, "handled": err is None})
    checks["unseen_category"] = {"columns": per_cat}

    metrics: dict[str, float] = {
        "robustness.flip_rate_noise": checks["noise"]["flip_rate"],
        "robustness.flip_rate_missing": checks["missing"]["flip_rate"],
        "robustness.error_count": float(len(errors)),
    }
    if per_col:
        metrics["robustness.flip_rate_out_of_range"] = float(np.mean([p["flip_rate"] for p in per_col]))
        for p in per_col:
            metrics[f"robustness.flip_rate_out_of_range[{p['column']}]"] = p["flip_rate"]
    if per_cat:
        metrics["robustness.unseen_category_error_rate"] = float(np.mean([p["error"] is not None for p in per_cat]))
        metrics["robustness.flip_rate_unseen_category"] = float(np.mean([p["flip_rate"] for p in per_cat]))
    warnings = [f"the model failed on perturbed input — {e}" for e in errors]
    body = {
        "rows": len(data),
        "rows_total": len(X),
        "task": "classification" if is_classifier else "regression",
        "numeric_columns": numeric,
        "categorical_columns": categorical,
        "checks": checks,
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
    )
