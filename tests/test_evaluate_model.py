"""evaluate_model: the one evaluation pipeline behind ``modeltrail evaluate model`` and the demo."""

from __future__ import annotations

import pandas as pd
import pytest

from _credit_models import PROTECTED, credit, logistic
from modeltrail.errors import ValidationError
from modeltrail.evidence.evaluate import MODEL_REPORTS, evaluate_model, model_inputs
from modeltrail.evidence.fairness import fairness_report
from modeltrail.evidence.performance import performance_report


def _table() -> pd.DataFrame:
    X, y = credit()
    return X.assign(label=y)


def test_builds_every_report_like_the_report_functions() -> None:
    data = _table()
    model = logistic()
    reports = evaluate_model(
        model, data, label="label", protected=PROTECTED, n_bootstrap=20, seed=3, favourable="negative"
    )
    assert list(reports) == list(MODEL_REPORTS)
    X = data[model_inputs(model, data, "label", PROTECTED)]
    score = model.predict_proba(X)[:, 1]
    pred = (score >= 0.5).astype(int)
    perf = performance_report(data["label"], pred, score, groups=data[list(PROTECTED)], n_bootstrap=20, seed=3)
    assert reports["performance"].metrics == perf.metrics
    fair = fairness_report(
        data["label"], pred, data[list(PROTECTED)], y_score=score, n_bootstrap=20, seed=3, favourable="negative"
    )
    assert reports["fairness"].metrics == fair.metrics
    assert reports["fairness"].body["favourable_outcome"]["favourable"] == "negative"
    assert "robustness.accuracy" in reports["robustness"].metrics


def test_positive_label_given_as_text_and_errors_name_the_field() -> None:
    data = _table()
    model = logistic()
    text = evaluate_model(model, data, label="label", positive="1", reports=["performance"], n_bootstrap=0)
    assert text["performance"].metrics["performance.rows"] == len(data)
    with pytest.raises(ValidationError) as exc:
        evaluate_model(model, data, label="label", positive="yes", reports=["performance"])
    assert exc.value.field == "label"
    with pytest.raises(ValidationError) as exc:
        evaluate_model(model, data, label="label", reports=["fairness"])
    assert exc.value.field == "protected"
    with pytest.raises(ValidationError) as exc:
        evaluate_model(model, data, label="label", reports=["vibes"])
    assert exc.value.field == "reports"
