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
    monkeypatch.setattr(explain, "_choose", lambda method, *_: "linear" if method == "auto" else method)
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


def test_auto_picks_linear_for_a_linear_pipeline() -> None:
    # A linear model never takes the native (XGBoost / LightGBM) path, shap installed or not.
    X, y = credit()
    lin = explainability_report(logistic(), X, y, feature_names=list(X.columns))
    assert lin.body["method"] == "linear"
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


def test_treeshap_contributions_sum_to_the_raw_prediction() -> None:
    X, _ = credit()
    model = boosting()
    explainer = DecisionExplainer.fit(model, X)
    assert explainer.method == "treeshap" and explainer.units == "log-odds"
    for i in (1, 50, 999):
        row = X.iloc[i].to_dict()
        total = explainer.contributions(row).sum() + explainer.base_value
        assert abs(total - _logit(model.predict_proba(X.iloc[[i]])[0, 1])) < 1e-9


@pytest.mark.parametrize("kind", ["forest", "forest-regressor"])
def test_treeshap_on_numeric_forests(kind: str) -> None:
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


def test_sampling_fallback_is_additive_and_seeded_and_linear_regression() -> None:
    X, y = credit()
    num = X.select_dtypes("number")
    knn = KNeighborsClassifier(5).fit(num, y)
    ex = DecisionExplainer.fit(knn, num)
    assert ex.method == "sampling" and ex.units == "probability"
    assert len(ex.explain(num.iloc[0].to_dict(), top_k=4)) == 4
    row = num.iloc[0].to_dict()
    total = ex.contributions(row).sum() + ex.base_value
    assert abs(total - knn.predict_proba(num.iloc[[0]])[0, 1]) < 1e-12
    assert np.array_equal(ex.contributions(row), DecisionExplainer.fit(knn, num).contributions(row))
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


# --- exact explanations per model family (issue #15, point 3) --------------------------------------


def _raw_output(model, X):  # type: ignore[no-untyped-def]
    """The output each family is explained on: probability (forests, trees), log-odds (boosting)."""
    est = model[-1] if isinstance(model, Pipeline) else model
    name = type(est).__name__
    if "Boosting" in name and hasattr(est, "predict_proba"):
        return np.asarray(model.decision_function(X), dtype=float).ravel()
    if hasattr(est, "predict_proba"):
        return np.asarray(model.predict_proba(X), dtype=float)[:, 1]
    return np.asarray(model.predict(X), dtype=float)


def _families():  # type: ignore[no-untyped-def]
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )
    from sklearn.tree import DecisionTreeClassifier

    return {
        "decision_tree": DecisionTreeClassifier(max_depth=6, random_state=0),
        "random_forest": RandomForestClassifier(n_estimators=25, max_depth=6, random_state=0),
        "extra_trees": ExtraTreesClassifier(n_estimators=25, max_depth=6, random_state=0),
        "gradient_boosting": boosting()[-1].__class__(n_estimators=40, max_depth=3, random_state=0),
        "gradient_boosting_regressor": GradientBoostingRegressor(n_estimators=40, random_state=0),
        "hist_gradient_boosting": HistGradientBoostingClassifier(max_iter=60, random_state=0),
        "hist_gradient_boosting_regressor": HistGradientBoostingRegressor(max_iter=60, random_state=0),
    }


def _encoded_pipeline(est):  # type: ignore[no-untyped-def]
    X, y = credit()
    cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat)], remainder="passthrough"
    )
    target = y.astype(float) if "regressor" in type(est).__name__.lower() else y
    return make_pipeline(pre, est).fit(X, target)


@pytest.mark.parametrize("family", list(_families()))
def test_treeshap_is_additive_for_every_sklearn_tree_family(family: str) -> None:
    X, y = credit()
    model = _encoded_pipeline(_families()[family])
    explainer = DecisionExplainer.fit(model, X)
    assert explainer.method == "treeshap"
    rows = X.iloc[:40]
    expected = _raw_output(model, rows)
    assert np.abs(explainer.contributions_many(rows).sum(axis=1) + explainer.base_value - expected).max() < 1e-9
    for i in range(0, len(rows), 8):
        total = explainer.contributions(rows.iloc[i].to_dict()).sum() + explainer.base_value
        assert abs(total - expected[i]) < 1e-9, (family, i)
    report = explainability_report(model, X, y, feature_names=list(X.columns))
    assert report.body["method"] == "tree" and "TreeSHAP" in report.body["algorithm"]
    assert report.to_dict() == {
        **explainability_report(model, X, y, feature_names=list(X.columns)).to_dict(),
        "created_at": report.created_at,
    }


@pytest.mark.parametrize("family", ["random_forest", "gradient_boosting", "hist_gradient_boosting"])
def test_own_treeshap_equals_shap_tree_explainer(family: str) -> None:
    shap = pytest.importorskip("shap")
    from modeltrail.evidence.treeshap import tree_model, tree_shap

    model = _encoded_pipeline(_families()[family])
    X, _ = credit()
    z = np.asarray(model[:-1].transform(X.iloc[:100]), dtype=float)
    est = model[-1]
    ours = tree_shap(tree_model(est), z)
    values = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent").shap_values(z)
    theirs = np.asarray(values[-1] if isinstance(values, list) else values, dtype=float)
    if theirs.ndim == 3:
        theirs = theirs[..., -1]
    assert np.abs(ours - theirs).max() < 1e-9


def test_treeshap_agrees_with_brute_force_shapley_on_a_small_tree() -> None:
    # The path-dependent game of one tree, enumerated over every subset: the definition, not a copy.
    from itertools import combinations
    from math import factorial

    from sklearn.tree import DecisionTreeRegressor

    from modeltrail.evidence.treeshap import tree_model, tree_shap

    rng = np.random.default_rng(0)
    Xn = rng.normal(size=(300, 4))
    yn = Xn[:, 0] * 2 + (Xn[:, 1] > 0) * Xn[:, 2] + rng.normal(scale=0.1, size=300)
    tree = DecisionTreeRegressor(max_depth=4, random_state=0).fit(Xn, yn)
    t = tree.tree_

    def value(x: np.ndarray, known: set[int], node: int = 0) -> float:  # type: ignore[type-arg]
        if t.children_left[node] < 0:
            return float(t.value[node, 0, 0])
        f, left, right = t.feature[node], t.children_left[node], t.children_right[node]
        if f in known:
            return value(x, known, left if np.float32(x[f]) <= t.threshold[node] else right)
        w = t.weighted_n_node_samples
        return (w[left] * value(x, known, left) + w[right] * value(x, known, right)) / w[node]

    x = Xn[7]
    phi = np.zeros(4)
    for i in range(4):
        others = [j for j in range(4) if j != i]
        for k in range(4):
            for S in combinations(others, k):
                weight = factorial(k) * factorial(4 - k - 1) / factorial(4)
                phi[i] += weight * (value(x, {*S, i}) - value(x, set(S)))
    assert np.allclose(tree_shap(tree_model(tree), x), phi, atol=1e-12)


def test_hist_gradient_boosting_explains_100_rows_fast() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, _ = credit()
    model = _encoded_pipeline(HistGradientBoostingClassifier(max_iter=100, random_state=0))
    explainer = DecisionExplainer.fit(model, X)
    rows = X.iloc[:100]
    start = time.perf_counter()
    batch = explainer.contributions_many(rows)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, elapsed  # 9.7 s before (occlusion); shap's TreeExplainer class now
    expected = _raw_output(model, rows)
    assert np.abs(batch.sum(axis=1) + explainer.base_value - expected).max() < 1e-9
    one = explainer.contributions(rows.iloc[3].to_dict())
    assert np.allclose(batch[3], one, atol=1e-12)
    tops = explainer.explain_many(rows, top_k=3)
    assert tops[3] == explainer.explain(rows.iloc[3].to_dict(), top_k=3)


def test_global_sampling_importance_is_reproducible_for_a_seed_and_works_on_text_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sklearn.naive_bayes import GaussianNB

    monkeypatch.setattr(explain, "GLOBAL_MAX_ROWS", 40)
    X, y = credit()
    cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat)], remainder="passthrough"
    )
    model = make_pipeline(pre, GaussianNB()).fit(X.iloc[:300], y[:300])
    a = explainability_report(model, X.iloc[:300], y[:300], feature_names=list(X.columns), seed=4)
    b = explainability_report(model, X.iloc[:300], y[:300], feature_names=list(X.columns), seed=4)
    assert a.body["method"] == "sampling"
    assert a.body["importances"] == b.body["importances"]
    assert len(a.body["importances"]) == len(X.columns) > 10
    assert a.body["explained_rows"] == 40
    c = explainability_report(model, X.iloc[:300], y[:300], feature_names=list(X.columns), seed=5)
    assert c.body["importances"] != a.body["importances"]  # the seed is what fixes it
