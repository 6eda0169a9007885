"""Performance report: scikit-learn cross-checks on the German Credit data, ties, regression, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from _credit_models import PROTECTED, credit, predictions
from modeltrail.cli.evidence_model import evaluate_performance
from modeltrail.errors import ValidationError
from modeltrail.evidence.performance import grouped_roc_auc, performance_report
from modeltrail.evidence.render import validate_report

TOL = 1e-12


def _sklearn(y: np.ndarray, score: np.ndarray, yp: np.ndarray) -> dict[str, float]:  # type: ignore[type-arg]
    return {
        "roc_auc": skm.roc_auc_score(y, score),
        "accuracy": skm.accuracy_score(y, yp),
        "precision": skm.precision_score(y, yp, zero_division=0),
        "recall": skm.recall_score(y, yp, zero_division=0),
        "f1": skm.f1_score(y, yp, zero_division=0),
        "log_loss": skm.log_loss(y, score),
        "brier": skm.brier_score_loss(y, score),
    }


@pytest.fixture(scope="module", params=["logistic", "boosting"])
def setup(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    X, _ = credit()
    y, score, yp = predictions(request.param)
    return X, y, score, yp, performance_report(y, None, score, groups=X[PROTECTED], n_bootstrap=200, seed=3)


def test_overall_equals_sklearn(setup) -> None:  # type: ignore[no-untyped-def]
    _, y, score, yp, report = setup
    for name, value in _sklearn(y, score, yp).items():
        assert abs(report.metrics[f"performance.{name}"] - value) <= TOL, name
    cm = skm.confusion_matrix(y, yp).tolist()
    assert report.body["confusion_matrix"]["matrix"] == cm


def test_groups_equal_sklearn(setup) -> None:  # type: ignore[no-untyped-def]
    X, y, score, yp, report = setup
    for attr in PROTECTED:
        for value in X[attr].unique():
            m = (X[attr] == value).to_numpy()
            for name, expected in _sklearn(y[m], score[m], yp[m]).items():
                got = report.metrics[f"performance.{name}[{attr}={value}]"]
                assert abs(got - expected) <= TOL, (attr, value, name)


def test_calibration_and_ece(setup) -> None:  # type: ignore[no-untyped-def]
    _, y, score, _, report = setup
    prob_true, prob_pred = calibration_curve(y, score, n_bins=10, strategy="uniform")
    curve = report.body["calibration"]["curve"]
    assert np.allclose([c["fraction_positive"] for c in curve], prob_true, rtol=0, atol=TOL)
    assert np.allclose([c["mean_predicted"] for c in curve], prob_pred, rtol=0, atol=TOL)
    counts = np.array([c["count"] for c in curve])
    ece = float(np.sum(counts / counts.sum() * np.abs(prob_true - prob_pred)))
    assert abs(report.metrics["performance.ece"] - ece) <= TOL


def test_intervals_contain_estimates(setup) -> None:  # type: ignore[no-untyped-def]
    *_, report = setup
    entries = [report.body["overall"]] + [g for a in report.body["groups"] for g in a["groups"]]
    for entry in entries:
        for name in ("roc_auc", "accuracy", "precision", "recall", "f1", "log_loss", "brier"):
            lo, hi = entry["ci"][name]
            assert lo <= entry[name] <= hi, (entry["group"], name)
    assert report.body["bootstrap"]["replicates"] == 200
    validate_report(report.to_dict())


def test_auc_with_ties_and_weights_equals_sklearn() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 3000)
    score = np.round(rng.random(3000) * 0.5 + 0.3 * y, 1)  # heavy ties
    codes = rng.integers(0, 3, 3000)
    auc = grouped_roc_auc(y, score, codes, 3)
    for g in range(3):
        m = codes == g
        assert abs(auc[g] - skm.roc_auc_score(y[m], score[m])) <= TOL
    report = performance_report(y, None, score, groups={"g": codes}, n_bootstrap=30)
    assert abs(report.metrics["performance.roc_auc"] - skm.roc_auc_score(y, score)) <= TOL
    lo, hi = report.body["overall"]["ci"]["roc_auc"]
    assert lo <= report.metrics["performance.roc_auc"] <= hi


def test_single_class_group_has_no_auc() -> None:
    y = np.array([0, 1, 0, 1, 1, 1])
    score = np.array([0.1, 0.9, 0.3, 0.6, 0.8, 0.7])
    report = performance_report(y, None, score, groups={"g": ["a", "a", "a", "a", "b", "b"]}, n_bootstrap=0)
    assert "performance.roc_auc[g=b]" not in report.metrics
    assert report.metrics["performance.accuracy[g=b]"] == 1.0


def test_regression_equals_sklearn() -> None:
    X, _ = credit()
    rng = np.random.default_rng(0)
    y = X["credit_amount"].to_numpy(dtype=float)
    pred = y * 0.8 + rng.normal(0, 500, len(y)) + 300
    report = performance_report(y, pred, task="regression", groups=X[["sex"]], n_bootstrap=100)
    m = report.metrics
    assert abs(m["performance.mae"] - skm.mean_absolute_error(y, pred)) <= 1e-9
    assert abs(m["performance.rmse"] - skm.root_mean_squared_error(y, pred)) <= 1e-9
    assert abs(m["performance.r2"] - skm.r2_score(y, pred)) <= TOL
    f = (X["sex"] == "female").to_numpy()
    assert abs(m["performance.r2[sex=female]"] - skm.r2_score(y[f], pred[f])) <= 1e-10
    lo, hi = report.body["overall"]["ci"]["r2"]
    assert lo <= m["performance.r2"] <= hi
    validate_report(report.to_dict())


def test_large_inputs_cap_replicates() -> None:
    from modeltrail.evidence import performance as perf

    rng = np.random.default_rng(1)
    n = 20_000
    y = rng.integers(0, 2, n)
    score = rng.random(n)
    old = perf.MAX_BOOTSTRAP_ROW_REPLICATES
    try:
        perf.MAX_BOOTSTRAP_ROW_REPLICATES = n * 60
        report = performance_report(y, None, score, n_bootstrap=200)
    finally:
        perf.MAX_BOOTSTRAP_ROW_REPLICATES = old
    assert report.body["bootstrap"]["replicates"] == 60
    assert any("capped" in w for w in report.warnings)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValidationError):
        performance_report([0, 1], None, None)
    with pytest.raises(ValidationError):
        performance_report([0, 1], None, [0.2, float("nan")])
    with pytest.raises(ValidationError):
        performance_report([0, 1], [0, 1], task="ranking")


def test_cli(tmp_path: Path) -> None:
    X, _ = credit()
    y, score, _yp = predictions("logistic")
    csv = tmp_path / "p.csv"
    pd.DataFrame({"y": y, "p": score, "sex": X["sex"]}).to_csv(csv, index=False)
    out = tmp_path / "perf.json"
    result = CliRunner().invoke(
        evaluate_performance,
        [str(csv), "--y-true", "y", "--y-score", "p", "--group", "sex", "--bootstrap", "20", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert abs(doc["metrics"]["performance.roc_auc"] - skm.roc_auc_score(y, score)) <= TOL
    assert "performance.roc_auc" in result.output  # the rich summary
