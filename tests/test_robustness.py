"""Robustness report on pipelines fitted to the German Credit data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from _credit_models import boosting, credit, logistic
from modeltrail.errors import ValidationError
from modeltrail.evidence.render import validate_report
from modeltrail.evidence.robustness import robustness_report


def test_logistic_pipeline() -> None:
    X, _ = credit()
    report = robustness_report(logistic(), X, seed=1)
    m = report.metrics
    assert 0 <= m["robustness.flip_rate_noise"] < 0.1
    # StandardScaler + LogisticRegression can not take NaN: a crash, counted apart from flips.
    assert "robustness.flip_rate_missing" not in m
    assert "crashed" in report.undefined["robustness.flip_rate_missing"]
    assert m["robustness.crash_count"] >= 1
    assert report.body["checks"]["missing"]["handled"] is False
    assert report.body["checks"]["missing"]["flip_rate"] is None
    assert "NaN" in report.body["checks"]["missing"]["error"]
    assert m["robustness.unseen_category_error_rate"] == 0.0  # handle_unknown="ignore"
    assert 0 < m["robustness.flip_rate_out_of_range"] <= 1
    assert len(report.body["checks"]["out_of_range"]["columns"]) == len(X.select_dtypes("number").columns)
    validate_report(report.to_dict())


def test_unseen_categories_raise_with_a_strict_encoder() -> None:
    X, y = credit()
    cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    pre = ColumnTransformer([("c", OneHotEncoder(handle_unknown="error"), cat)], remainder=StandardScaler())
    model = make_pipeline(pre, LogisticRegression(max_iter=200)).fit(X, y)
    report = robustness_report(model, X, numeric_noise=0.0)
    assert report.metrics["robustness.flip_rate_noise"] == 0.0
    assert report.metrics["robustness.unseen_category_error_rate"] == 1.0
    assert report.metrics["robustness.error_count"] >= len(cat)


def test_missing_values_handled_by_an_imputing_pipeline() -> None:
    X, y = credit()
    cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    num = [c for c in X.columns if c not in cat]
    pre = ColumnTransformer(
        [
            ("c", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), cat),
            ("n", make_pipeline(SimpleImputer(), StandardScaler()), num),
        ]
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=3000)).fit(X, y)
    report = robustness_report(model, X, missing_rate=0.2)
    assert report.body["checks"]["missing"]["handled"] is True
    assert 0 < report.metrics["robustness.flip_rate_missing"] < 0.5


def test_boosting_and_regression_and_sampling() -> None:
    X, _y = credit()
    r = robustness_report(boosting(), X, max_rows=300)
    assert r.body["rows"] == 300 and r.body["rows_total"] == len(X)
    num = X.select_dtypes("number")
    reg = LinearRegression().fit(num.drop(columns=["credit_amount"]), num["credit_amount"])
    rr = robustness_report(reg, num.drop(columns=["credit_amount"]), numeric_noise=0.0, missing_rate=0.0)
    assert rr.body["task"] == "regression"
    assert rr.metrics["robustness.flip_rate_noise"] == 0.0
    assert "robustness.unseen_category_error_rate" not in rr.metrics


def test_rejects_bad_input() -> None:
    with pytest.raises(ValidationError):
        robustness_report(logistic(), np.zeros((3, 3)))  # type: ignore[arg-type]
    X, _ = credit()
    with pytest.raises(ValidationError):
        robustness_report(logistic(), X, categorical_columns=["nope"])


def test_performance_drop_under_perturbation_against_clean() -> None:
    from sklearn.metrics import accuracy_score, roc_auc_score

    X, y = credit()
    model = logistic()
    report = robustness_report(model, X, y=y, numeric_noise=0.5, seed=2)
    m = report.metrics
    assert m["robustness.accuracy"] == accuracy_score(y, model.predict(X))
    assert abs(m["robustness.roc_auc"] - roc_auc_score(y, model.predict_proba(X)[:, 1])) < 1e-12
    noise = report.body["checks"]["noise"]
    assert m["robustness.accuracy_drop_noise"] == m["robustness.accuracy"] - noise["accuracy"]
    assert m["robustness.roc_auc_drop_noise"] > 0  # half a standard deviation of noise hurts
    assert "robustness.roc_auc_drop_missing" in report.undefined  # the model crashes on NaN
    assert m["robustness.roc_auc_drop_out_of_range"] >= 0


def test_constant_model_is_flagged_not_perfect() -> None:
    from sklearn.dummy import DummyClassifier

    X, y = credit()
    dummy = DummyClassifier(strategy="most_frequent").fit(X, y)
    report = robustness_report(dummy, X, y=y)
    assert report.metrics["robustness.degenerate"] == 1.0
    assert report.metrics["robustness.flip_rate_noise"] == 0.0
    assert any("constant" in w for w in report.warnings)
    assert robustness_report(logistic(), X).metrics["robustness.degenerate"] == 0.0


def test_fairness_under_perturbation_against_fairlearn() -> None:
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    X, y = credit()
    model = logistic()
    groups = X[["age_band"]]
    report = robustness_report(model, X, y=y, sensitive=groups, numeric_noise=0.5, seed=3)
    m = report.metrics
    pred = model.predict(X)
    g = groups["age_band"].to_numpy()
    dpd = demographic_parity_difference(y, pred, sensitive_features=g)
    eod = equalized_odds_difference(y, pred, sensitive_features=g)
    assert abs(m["robustness.demographic_parity_difference[age_band]"] - dpd) < 1e-12
    assert abs(m["robustness.equalized_odds_difference[age_band]"] - eod) < 1e-12
    noise = report.body["checks"]["noise"]
    increase = noise["demographic_parity_difference[age_band]"] - dpd
    assert abs(m["robustness.demographic_parity_difference_increase_noise[age_band]"] - increase) < 1e-12
    assert "robustness.equalized_odds_difference_increase_noise[age_band]" in m
    # The model crashes on NaN: the disparity under missing values is undefined, not 0.
    assert "robustness.demographic_parity_difference_increase_missing[age_band]" in report.undefined
    validate_report(report.to_dict())
    with pytest.raises(ValidationError) as err:
        robustness_report(model, X, y=y, sensitive=groups.iloc[:10])
    assert err.value.field == "sensitive"
