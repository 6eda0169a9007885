"""Fairness report: fairlearn cross-checks on the German Credit data, intervals, warnings, CLI."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import fairlearn.metrics as flm
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.metrics import accuracy_score, precision_score

from _credit_models import PROTECTED, credit, predictions
from modeltrail.cli.evidence_model import evaluate_fairness
from modeltrail.errors import ValidationError
from modeltrail.evidence.fairness import fairness_report
from modeltrail.evidence.render import validate_report

TOL = 1e-12


@pytest.fixture(scope="module", params=["logistic", "boosting"])
def setup(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    X, _ = credit()
    y, score, yp = predictions(request.param)
    report = fairness_report(y, yp, X[PROTECTED], y_score=score, n_bootstrap=200, seed=1)
    return X, y, score, yp, report


@pytest.mark.parametrize("attr", [*PROTECTED, "sex+age_band"])
def test_disparities_equal_fairlearn(setup, attr: str) -> None:  # type: ignore[no-untyped-def]
    X, y, _, yp, report = setup
    sf = X[PROTECTED] if attr == "sex+age_band" else X[attr]
    m = report.metrics
    expected = {
        "demographic_parity_difference": flm.demographic_parity_difference(y, yp, sensitive_features=sf),
        "demographic_parity_ratio": flm.demographic_parity_ratio(y, yp, sensitive_features=sf),
        "equalized_odds_difference": flm.equalized_odds_difference(y, yp, sensitive_features=sf),
        "equalized_odds_ratio": flm.equalized_odds_ratio(y, yp, sensitive_features=sf),
        "disparate_impact": flm.demographic_parity_ratio(y, yp, sensitive_features=sf),
    }
    for name, value in expected.items():
        assert abs(m[f"fairness.{name}[{attr}]"] - value) <= TOL, name


def test_group_metrics_equal_metricframe(setup) -> None:  # type: ignore[no-untyped-def]
    X, y, _, yp, report = setup
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = flm.MetricFrame(
            metrics={
                "count": flm.count,
                "selection_rate": flm.selection_rate,
                "tpr": flm.true_positive_rate,
                "fpr": flm.false_positive_rate,
                "precision": precision_score,
                "accuracy": accuracy_score,
            },
            y_true=y,
            y_pred=yp,
            sensitive_features=X[PROTECTED],
        )
    inter = next(a for a in report.body["attributes"] if a["name"] == "sex+age_band")
    assert len(inter["groups"]) == len(mf.by_group)
    for g in inter["groups"]:
        key = tuple(g["group"].split(", "))
        row = mf.by_group.loc[key]
        assert g["count"] == row["count"]
        for metric in ("selection_rate", "tpr", "fpr", "precision", "accuracy"):
            assert abs(g[metric] - row[metric]) <= TOL, (key, metric)


def test_headline_is_worst_single_attribute(setup) -> None:  # type: ignore[no-untyped-def]
    *_, report = setup
    m = report.metrics
    assert m["fairness.demographic_parity_difference"] == max(
        m[f"fairness.demographic_parity_difference[{a}]"] for a in PROTECTED
    )
    assert m["fairness.disparate_impact"] == min(m[f"fairness.disparate_impact[{a}]"] for a in PROTECTED)
    assert m["fairness.selection_rate[sex=female]"] > 0


def test_intervals_contain_estimates(setup) -> None:  # type: ignore[no-untyped-def]
    *_, report = setup
    for attr in report.body["attributes"]:
        for g in attr["groups"]:
            for metric in ("selection_rate", "accuracy"):
                lo, hi = g["ci"][metric]
                assert lo <= g[metric] <= hi, (attr["name"], g["group"], metric)
        if not attr["intersection"]:
            d = attr["disparities"]["demographic_parity_ratio"]
            assert d["ci"][0] <= d["value"] <= d["ci"][1]


def test_four_fifths_rule_and_document(setup) -> None:  # type: ignore[no-untyped-def]
    *_, report = setup
    for attr in report.body["attributes"]:
        rule = attr["disparities"]["four_fifths_rule"]
        assert rule["passed"] == (attr["disparities"]["disparate_impact"]["value"] >= 0.8)
    validate_report(json.loads(report.to_json()))


def test_bootstrap_is_deterministic() -> None:
    X, _ = credit()
    y, _score, yp = predictions("logistic")
    a = fairness_report(y, yp, X[["sex"]], n_bootstrap=50, seed=7)
    b = fairness_report(y, yp, X[["sex"]], n_bootstrap=50, seed=7)
    assert a.body["attributes"] == b.body["attributes"]
    none = fairness_report(y, yp, {"sex": X["sex"].to_numpy()}, n_bootstrap=0)
    assert "ci" not in none.body["attributes"][0]["groups"][0]


def test_small_groups_are_flagged_and_missing_is_a_group() -> None:
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n)
    yp = rng.integers(0, 2, n)
    attr = np.array(["a"] * 380 + ["b"] * 15 + [None] * 5, dtype=object)
    report = fairness_report(y, yp, {"grp": attr}, n_bootstrap=20)
    labels = [g["group"] for g in report.body["attributes"][0]["groups"]]
    assert labels == ["a", "b", "(missing)"]
    assert sum("rows (< 30)" in w for w in report.warnings) == 2


def test_zero_selection_ratio_is_omitted() -> None:
    y = np.array([0, 1, 0, 1])
    report = fairness_report(y, np.zeros(4, dtype=int), {"g": ["a", "a", "b", "b"]}, n_bootstrap=0)
    assert "fairness.demographic_parity_ratio[g]" not in report.metrics
    assert report.metrics["fairness.demographic_parity_difference[g]"] == 0.0
    assert any("undefined" in w for w in report.warnings)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValidationError):
        fairness_report([0, 1, 2], [0, 1, 1], {"g": ["a", "b", "c"]})
    with pytest.raises(ValidationError):
        fairness_report([0, 1], [0, 1, 1], {"g": ["a", "b"]})
    with pytest.raises(ValidationError):
        fairness_report([0, 1], [0, 1], {})


def test_cli_writes_json_and_html(tmp_path: Path) -> None:
    X, _ = credit()
    y, score, _ = predictions("logistic")
    frame = pd.DataFrame({"label": np.where(y == 1, "good", "bad"), "score": score, **{c: X[c] for c in PROTECTED}})
    csv = tmp_path / "pred.csv"
    frame.to_csv(csv, index=False)
    out, page = tmp_path / "f.json", tmp_path / "f.html"
    result = CliRunner().invoke(
        evaluate_fairness,
        [
            str(csv),
            "--y-true",
            "label",
            "--pos-label",
            "good",
            "--y-score",
            "score",
            "--group",
            "sex",
            "--group",
            "age_band",
            "--bootstrap",
            "20",
            "--out",
            str(out),
            "--html",
            str(page),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["body"]["positive_label"] == "good"
    yp = (score >= 0.5).astype(int)
    expected = flm.demographic_parity_difference(y, yp, sensitive_features=X["sex"])
    assert abs(doc["metrics"]["fairness.demographic_parity_difference[sex]"] - expected) <= TOL
    assert "<svg" in page.read_text()
    bad = CliRunner().invoke(evaluate_fairness, [str(csv), "--y-true", "label", "--y-score", "score"])
    assert bad.exit_code != 0
