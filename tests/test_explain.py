"""Explainability report and per-decision explainer on models fitted to the German Credit data."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from _credit_models import boosting, credit, logistic
from modeltrail.errors import ValidationError
from modeltrail.evidence import explain
from modeltrail.evidence.explain import DecisionExplainer, explainability_report
from modeltrail.evidence.render import validate_report


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def test_linear_report_is_exact_and_ranked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(explain, "_choose", lambda method, est, ok: "linear" if method == "auto" else method)
    X, y = credit()
    report = explainability_report(logistic(), X, y, feature_names=list(X.columns), protected=["sex"])
    assert report.body["method"] == "linear"
    imps = report.body["importances"]
    assert [e["rank"] for e in imps] == list(range(1, len(X.columns) + 1))
    values = [e["importance"] for e in imps]
    assert values == sorted(values, reverse=True)
    assert abs(sum(e["share"] for e in imps) - 1.0) < 1e-12
    assert 0 < report.metrics["explainability.protected_importance_share"] < 1
    validate_report(report.to_dict())


def test_permutation_report_for_boosting() -> None:
    X, y = credit()
    report = explainability_report(boosting(), X, y, feature_names=list(X.columns), method="permutation", n_repeats=2)
    assert report.body["method"] == "permutation"
    assert report.body["importances"][0]["feature"] == "checking_status"
    assert "std" in report.body["importances"][0]
    assert report.metrics["explainability.features"] == len(X.columns)


def test_auto_without_optional_libraries_picks_linear_or_permutation() -> None:
    # shap (the [explain] extra) is not installed in the test environment; a linear model never takes
    # the native (XGBoost / LightGBM) path.
    X, y = credit()
    lin = explainability_report(logistic(), X, y, feature_names=list(X.columns))
    assert lin.body["method"] in ("linear", "shap")
    with pytest.raises(ValidationError):
        explainability_report(logistic(), X, y, feature_names=list(X.columns), method="bogus")


def test_linear_decision_contributions_sum_to_the_logit() -> None:
    X, _ = credit()
    model = logistic()
    explainer = DecisionExplainer.fit(model, X)
    assert explainer.method == "linear" and explainer.units == "log-odds"
    for i in (0, 7, 400):
        row = X.iloc[i].to_dict()
        total = explainer.contributions(row).sum() + explainer.base_value
        assert abs(total - _logit(model.predict_proba(X.iloc[[i]])[0, 1])) < 1e-9
        # The DataFrame path (sklearn transform) agrees with the replayed encoder.
        assert np.allclose(explainer.contributions(X.iloc[[i]]), explainer.contributions(row), atol=1e-12)
    top = explainer.explain(X.iloc[3].to_dict(), top_k=3)
    assert len(top) == 3 and abs(top[0][1]) >= abs(top[1][1]) >= abs(top[2][1])


def test_saabas_contributions_sum_to_the_raw_prediction() -> None:
    X, _ = credit()
    model = boosting()
    explainer = DecisionExplainer.fit(model, X)
    assert explainer.method == "saabas"
    for i in (1, 50, 999):
        row = X.iloc[i].to_dict()
        total = explainer.contributions(row).sum() + explainer.base_value
        assert abs(total - _logit(model.predict_proba(X.iloc[[i]])[0, 1])) < 1e-9


@pytest.mark.parametrize("kind", ["forest", "forest-regressor"])
def test_saabas_on_numeric_forests(kind: str) -> None:
    X, y = credit()
    num = X.select_dtypes("number")
    if kind == "forest":
        model = RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0).fit(num, y)
        expected = model.predict_proba(num.iloc[[5]])[0, 1]
    else:
        model = RandomForestRegressor(n_estimators=20, max_depth=5, random_state=0).fit(num, y.astype(float))
        expected = model.predict(num.iloc[[5]])[0]
    explainer = DecisionExplainer.fit(model, num)
    total = explainer.contributions(num.iloc[5].to_numpy()).sum() + explainer.base_value
    assert abs(total - expected) < 1e-9


def test_occlusion_fallback_and_linear_regression() -> None:
    X, y = credit()
    num = X.select_dtypes("number")
    knn = KNeighborsClassifier(5).fit(num, y)
    ex = DecisionExplainer.fit(knn, num)
    assert ex.method == "occlusion"
    assert len(ex.explain(num.iloc[0].to_dict(), top_k=4)) == 4
    lin = LinearRegression().fit(num, num["credit_amount"] * 0 + y)
    ex2 = DecisionExplainer.fit(lin, num)
    assert ex2.method == "linear"
    total = ex2.contributions(num.iloc[2].to_dict()).sum() + ex2.base_value
    assert abs(total - lin.predict(num.iloc[[2]])[0]) < 1e-9


def test_per_decision_cost_is_below_a_millisecond() -> None:
    X, _ = credit()
    rows = [X.iloc[i].to_dict() for i in range(200)]
    for model in (logistic(), boosting()):
        explainer = DecisionExplainer.fit(model, X)
        explainer.explain(rows[0])
        start = time.perf_counter()
        for row in rows:
            explainer.explain(row, top_k=5)
        per_call = (time.perf_counter() - start) / len(rows)
        assert per_call < 1e-3, (explainer.method, per_call)


def _native_pipeline(library: str) -> Pipeline:
    # One-hot encoding in front of the booster: contributions of the encoded columns must be summed
    # back onto the raw features.
    X, y = credit()
    cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat)], remainder="passthrough"
    )
    if library == "xgboost":
        xgboost = pytest.importorskip("xgboost")
        est = xgboost.XGBClassifier(n_estimators=30, max_depth=3, random_state=0)
    else:
        lightgbm = pytest.importorskip("lightgbm")
        est = lightgbm.LGBMClassifier(n_estimators=30, max_depth=3, random_state=0, verbose=-1)
    return make_pipeline(pre, est).fit(X, y)


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_native_treeshap_sums_to_the_raw_margin(library: str) -> None:
    X, y = credit()
    model = _native_pipeline(library)
    report = explainability_report(model, X, y, feature_names=list(X.columns))
    assert report.body["method"] == "native"
    assert {e["feature"] for e in report.body["importances"]} == set(X.columns)
    assert report.metrics["explainability.features"] == len(X.columns)
    explainer = DecisionExplainer.fit(model, X)
    assert explainer.method == "native"
    est = model[-1]
    z = model[:-1].transform(X.iloc[[0, 5, 321]])
    margins = est.predict(z, output_margin=True) if library == "xgboost" else est.predict(z, raw_score=True)
    for row, margin in zip((0, 5, 321), margins, strict=True):
        contrib = explainer.contributions(X.iloc[row].to_dict())
        assert contrib.shape == (len(X.columns),)
        # TreeSHAP is exact: contributions plus the bias give the model's raw margin for the row.
        assert abs(contrib.sum() + explainer.base_value - float(margin)) < 1e-4
    top = explainer.explain(X.iloc[0].to_dict(), top_k=3)
    assert len(top) == 3 and all(name in X.columns for name, _ in top)
