"""Oracle tests on real census data (UCI Adult sample): every figure against the reference library.

References: scikit-learn (performance), fairlearn (fairness), pandas (data report), scipy (the
permutation test's null distribution against scipy.stats.permutation_test), shap's own additivity rule
(explanations add up to the model's log-odds). Adult has real missing values (``?``), a five-level race
attribute with small groups, and a 25 % positive class.
"""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path

import fairlearn.metrics as flm
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modeltrail.evidence.data_report import data_report
from modeltrail.evidence.explain import DecisionExplainer
from modeltrail.evidence.fairness import fairness_report
from modeltrail.evidence.performance import performance_report

DATA = Path(__file__).parent / "data" / "adult_sample.csv"
TOL = 1e-12
NUM = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CAT = ["workclass", "marital_status", "occupation", "relationship"]


@cache
def adult() -> pd.DataFrame:
    return pd.read_csv(DATA, na_values="?", keep_default_na=False)


@cache
def fitted() -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    df = adult()
    y = (df["income"] == ">50K").astype(int).to_numpy()
    pre = ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), CAT), ("n", StandardScaler(), NUM)])
    X = df[CAT + NUM].fillna({c: "missing" for c in CAT})
    model = make_pipeline(pre, LogisticRegression(max_iter=3000)).fit(X, y)
    score = model.predict_proba(X)[:, 1]
    return y, score, (score >= 0.5).astype(int)


def test_performance_equals_sklearn_overall_and_per_group() -> None:
    df = adult()
    y, score, yp = fitted()
    r = performance_report(y, None, score, groups=df[["sex", "race"]], n_bootstrap=0)
    m = r.metrics
    ref = {
        "roc_auc": skm.roc_auc_score(y, score),
        "accuracy": skm.accuracy_score(y, yp),
        "precision": skm.precision_score(y, yp),
        "recall": skm.recall_score(y, yp),
        "f1": skm.f1_score(y, yp),
        "log_loss": skm.log_loss(y, score),
        "brier": skm.brier_score_loss(y, score),
    }
    for k, v in ref.items():
        assert abs(m[f"performance.{k}"] - v) <= 1e-10, k
    for attr in ("sex", "race"):
        for group in df[attr].unique():
            rows = (df[attr] == group).to_numpy()
            assert abs(m[f"performance.roc_auc[{attr}={group}]"] - skm.roc_auc_score(y[rows], score[rows])) <= TOL
            assert abs(m[f"performance.recall[{attr}={group}]"] - skm.recall_score(y[rows], yp[rows])) <= TOL


@pytest.mark.parametrize("attr", ["sex", "race"])
@pytest.mark.parametrize("agg", ["worst_case", "mean"])
def test_fairness_equals_fairlearn(attr: str, agg: str) -> None:
    df = adult()
    y, _, yp = fitted()
    r = fairness_report(y, yp, df[[attr]], n_bootstrap=0, agg=agg, n_permutations=0)
    sf = df[attr]
    m = r.metrics
    assert (
        abs(
            m[f"fairness.demographic_parity_difference[{attr}]"]
            - flm.demographic_parity_difference(y, yp, sensitive_features=sf)
        )
        <= TOL
    )
    assert (
        abs(
            m[f"fairness.demographic_parity_ratio[{attr}]"] - flm.demographic_parity_ratio(y, yp, sensitive_features=sf)
        )
        <= TOL
    )
    # Every Adult group has positives and negatives, so fairlearn's zero convention never applies here.
    assert not r.undefined
    assert (
        abs(
            m[f"fairness.equalized_odds_difference[{attr}]"]
            - flm.equalized_odds_difference(y, yp, sensitive_features=sf, agg=agg)
        )
        <= TOL
    )
    assert (
        abs(
            m[f"fairness.equalized_odds_ratio[{attr}]"]
            - flm.equalized_odds_ratio(y, yp, sensitive_features=sf, agg=agg)
        )
        <= TOL
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = flm.MetricFrame(
            metrics={"sel": flm.selection_rate, "tpr": flm.true_positive_rate, "fpr": flm.false_positive_rate},
            y_true=y,
            y_pred=yp,
            sensitive_features=sf,
        )
    for group, row in mf.by_group.iterrows():
        assert abs(m[f"fairness.selection_rate[{attr}={group}]"] - row["sel"]) <= TOL
        assert abs(m[f"fairness.tpr[{attr}={group}]"] - row["tpr"]) <= TOL
        assert abs(m[f"fairness.fpr[{attr}={group}]"] - row["fpr"]) <= TOL


def test_permutation_p_value_agrees_with_scipy() -> None:
    from scipy.stats import permutation_test

    df = adult()
    y, _, yp = fitted()
    sex = (df["sex"] == "Male").to_numpy().astype(int)
    r = fairness_report(y, yp, {"sex": sex}, n_bootstrap=0, n_permutations=1999, seed=3)
    ours = r.metrics["fairness.demographic_parity_p_value[sex]"]

    def dpd(pred: np.ndarray, groups: np.ndarray) -> float:  # type: ignore[type-arg]
        rates = [pred[groups == g].mean() for g in (0, 1)]
        return float(max(rates) - min(rates))

    ref = permutation_test(
        (yp, sex), dpd, permutation_type="pairings", n_resamples=1999, alternative="greater", random_state=0
    )
    assert ours <= 0.01 and ref.pvalue <= 0.01  # sex matters for income predictions in Adult
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(sex)
    r0 = fairness_report(y, yp, {"sex": shuffled}, n_bootstrap=0, n_permutations=999, seed=3)
    ref0 = permutation_test(
        (yp, shuffled), dpd, permutation_type="pairings", n_resamples=999, alternative="greater", random_state=0
    )
    assert abs(r0.metrics["fairness.demographic_parity_p_value[sex]"] - ref0.pvalue) < 0.08


def test_data_report_equals_pandas_on_real_missing_values() -> None:
    df = adult()
    r = data_report(df, label="income", protected=["sex", "race"])
    assert r.metrics["data.missing_rate"] == pytest.approx(df.isna().mean().max(), abs=1e-6)
    share = df["income"].value_counts(normalize=True).min()
    assert r.metrics["data.label_minority_share"] == pytest.approx(share, abs=1e-6)
    cols = {c["name"]: c for c in r.body["columns"]}
    assert cols["age"]["median"] == pytest.approx(df["age"].median())
    counts, _ = np.histogram(df["age"], bins=20)
    assert cols["age"]["histogram"]["counts"] == counts.tolist()


def test_treeshap_on_adult_with_missing_values_adds_up() -> None:
    df = adult()
    y = (df["income"] == ">50K").astype(int)
    pre = ColumnTransformer(
        [("c", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CAT)], remainder="passthrough"
    )
    X = df[CAT + NUM].copy()
    X.loc[::13, "hours_per_week"] = np.nan  # histogram boosting routes NaN by its learned direction
    model = make_pipeline(pre, HistGradientBoostingClassifier(max_iter=50, random_state=0)).fit(X, y)
    explainer = DecisionExplainer.fit(model, X)
    contrib = explainer.contributions_many(X.iloc[:200])
    margin = model.decision_function(X.iloc[:200])
    assert np.abs(contrib.sum(axis=1) + explainer.base_value - margin).max() < 1e-9
