"""Evaluate a model on labelled data: every model report, built the same way for the CLI and the demo.

::

    from modeltrail.evidence.evaluate import evaluate_model
    reports = evaluate_model(model, test, label="risk", positive=1, protected=["sex", "age_band"],
                             favourable="negative", subject={"model": "model:credit@2"})
    for report in reports.values():
        record_report(trail, report, subject="model:credit@2", system="credit", actor=pipeline)

``modeltrail evaluate model`` is this function plus loading the model and recording the reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from modeltrail.errors import ValidationError
from modeltrail.evidence.report import Report

__all__ = ["MODEL_REPORTS", "evaluate_model", "model_inputs"]

MODEL_REPORTS = ("performance", "fairness", "explainability", "robustness")
"""The report kinds :func:`evaluate_model` can build, in the order it builds them."""


def model_inputs(model: Any, data: pd.DataFrame, label: str, protected: Sequence[str] = ()) -> list[str]:
    """The input columns of ``model``: its ``feature_names_in_`` when it has them, else every other column.

    Protected attributes that are not model inputs are left out (they are used for grouping only).
    """
    names = [str(n) for n in getattr(model, "feature_names_in_", [])]
    if names:
        missing = [c for c in names if c not in data.columns]
        if missing:
            raise ValidationError(f"the model's input columns {missing} are not in the data", field="data")
        return names
    return [str(c) for c in data.columns if c != label and c not in protected]


def _labels(data: pd.DataFrame, label: str, positive: Any) -> np.ndarray[Any, np.dtype[np.int64]]:
    column = data[label]
    if column.isna().any():
        raise ValidationError(f"{int(column.isna().sum())} rows have no label", field=label)
    values = set(column.unique().tolist())
    if positive not in values:
        # A CLI passes text: compare the column's values as text too ("1" names the integer 1).
        text = column.astype(str)
        if str(positive) not in set(text.unique().tolist()):
            shown = ", ".join(sorted(map(repr, values))[:10])
            raise ValidationError(f"positive label {positive!r} does not occur (values: {shown})", field=label)
        return np.asarray((text == str(positive)).to_numpy(dtype=np.int64), dtype=np.int64)
    return np.asarray((column == positive).to_numpy(dtype=np.int64), dtype=np.int64)


def evaluate_model(
    model: Any,
    data: pd.DataFrame,
    *,
    label: str,
    positive: Any = 1,
    protected: Sequence[str] = (),
    reports: Sequence[str] = MODEL_REPORTS,
    threshold: float = 0.5,
    n_bootstrap: int = 200,
    seed: int = 0,
    favourable: str = "positive",
    subject: Mapping[str, str] | None = None,
    features: Sequence[str] | None = None,
) -> dict[str, Report]:
    """Build the requested model reports of the fitted ``model`` on the labelled table ``data``.

    ``label`` is the target column and ``positive`` its positive class; decisions are ``score >=
    threshold`` on the positive-class probability (or ``model.predict`` for a model without
    ``predict_proba``). ``protected`` columns group the performance figures and make the fairness
    report (required for it); ``favourable`` (``positive`` | ``negative``, usually the policy's
    ``favourable_outcome``) says which prediction the four-fifths rule looks at. ``features`` overrides
    the input columns (default: :func:`model_inputs`). Returns the reports by kind, in
    :data:`MODEL_REPORTS` order.
    """
    from modeltrail.evidence.explain import explainability_report
    from modeltrail.evidence.fairness import fairness_report
    from modeltrail.evidence.performance import performance_report
    from modeltrail.evidence.robustness import robustness_report

    wanted = list(dict.fromkeys(reports))
    unknown = [r for r in wanted if r not in MODEL_REPORTS]
    if unknown:
        raise ValidationError(f"unknown report kinds {unknown}; expected {', '.join(MODEL_REPORTS)}", field="reports")
    if label not in data.columns:
        raise ValidationError(f"no column {label!r} in the data", field="label")
    missing = [c for c in protected if c not in data.columns]
    if missing:
        raise ValidationError(f"columns {missing} are not in the data", field="protected")
    if "fairness" in wanted and not protected:
        raise ValidationError("the fairness report needs at least one protected column", field="protected")
    y = _labels(data, label, positive)
    names = list(features) if features is not None else model_inputs(model, data, label, protected)
    X = data[names]
    score = np.asarray(model.predict_proba(X))[:, 1] if hasattr(model, "predict_proba") else None
    if score is not None:
        pred = (score >= threshold).astype(np.int64)
    else:
        pred = (np.asarray(model.predict(X)) == positive).astype(np.int64)
    groups = data[list(protected)] if protected else None
    subj = dict(subject or {})
    out: dict[str, Report] = {}
    for kind in MODEL_REPORTS:
        if kind not in wanted:
            continue
        if kind == "performance":
            out[kind] = performance_report(
                y, pred, score, groups=groups, threshold=threshold, n_bootstrap=n_bootstrap, seed=seed, subject=subj
            )
        elif kind == "fairness":
            assert groups is not None
            out[kind] = fairness_report(
                y, pred, groups, y_score=score, n_bootstrap=n_bootstrap, seed=seed, subject=subj, favourable=favourable
            )
        elif kind == "explainability":
            out[kind] = explainability_report(model, X, y, feature_names=names, subject=subj, seed=seed)
        else:
            # The model predicts the label column's own values: score against those, with the value that
            # names the positive class (a CLI's "1" is the integer 1 of an integer column).
            out[kind] = robustness_report(
                model,
                X,
                seed=seed,
                subject=subj,
                y=data[label].to_numpy(),
                pos_label=_positive_value(data[label], positive),
                sensitive=groups,
            )
    return out


def _positive_value(column: pd.Series, positive: Any) -> Any:
    """The value of ``column`` that ``positive`` names (itself, or the value whose text it is)."""
    values = column.unique().tolist()
    if positive in values:
        return positive
    return next(v for v in values if str(v) == str(positive))
