"""Edge cases where an evidence report used to give a wrong number without a warning (issue #15, "Why").

Each test states the reference (scikit-learn, pandas, fairlearn) or the rule, and fails on the reports as
they were before: NaN labels counted as negatives, a wrong ``pos_label`` giving base rate 0, unused
categories as a 0% minority, per-group R² collapsing far from the overall mean, ``1`` and ``"1"`` merged
into one group, an undefined TPR reported as 0 and driving the equalized odds difference.
"""

from __future__ import annotations

import warnings

import fairlearn.metrics as flm
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score

from modeltrail.errors import ValidationError
from modeltrail.evidence.data_report import data_report
from modeltrail.evidence.fairness import fairness_report
from modeltrail.evidence.performance import performance_report
from modeltrail.policy import parse_policy
from modeltrail.policy.gates import evaluate_gate

# --- labels ---------------------------------------------------------------------------------------


def test_nan_labels_are_an_error_not_negatives() -> None:
    y = np.r_[np.ones(50), np.full(50, np.nan)]
    with pytest.raises(ValidationError, match="missing"):
        performance_report(y, None, np.linspace(0, 1, 100), n_bootstrap=0)
    with pytest.raises(ValidationError, match="missing"):
        fairness_report(y, np.ones(100), {"g": ["a", "b"] * 50}, n_bootstrap=0)


def test_nan_labels_dropped_on_request_with_the_count_stated() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200).astype(float)
    score = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    y_missing = y.copy()
    y_missing[:20] = np.nan
    r = performance_report(y_missing, None, score, n_bootstrap=0, missing_labels="drop")
    ref = performance_report(y[20:], None, score[20:], n_bootstrap=0)
    assert r.metrics["performance.roc_auc"] == ref.metrics["performance.roc_auc"]
    assert r.body["dropped_missing_labels"] == 20
    assert any("20 rows with a missing label" in w for w in r.warnings)
    f = fairness_report(
        y_missing, (score > 0.5).astype(int), {"g": ["a", "b"] * 100}, n_bootstrap=0, missing_labels="drop"
    )
    assert f.body["rows"] == 180 and f.body["dropped_missing_labels"] == 20


def test_label_column_without_pos_label_is_an_error() -> None:
    # One distinct value, and it is not pos_label: before, base rate 0.0 without a word.
    with pytest.raises(ValidationError, match="positive label"):
        fairness_report(np.zeros(40), np.zeros(40), {"g": ["a", "b"] * 20}, n_bootstrap=0)
    with pytest.raises(ValidationError, match="positive label"):
        performance_report(np.array(["good"] * 40), None, np.linspace(0, 1, 40), pos_label="bad", n_bootstrap=0)
    # Type mismatch: "1" is not 1.
    with pytest.raises(ValidationError, match="positive label"):
        performance_report(np.r_[np.ones(20), np.zeros(20)], None, np.linspace(0, 1, 40), pos_label="1")


def test_unused_label_category_is_listed_not_a_minority() -> None:
    df = pd.DataFrame({"y": pd.Categorical(["a"] * 60 + ["b"] * 40, categories=["a", "b", "c"]), "x": range(100)})
    r = data_report(df, label="y")
    expected = float(df["y"].value_counts(normalize=True)[lambda s: s > 0].min())  # pandas: 0.4
    assert r.metrics["data.label_minority_share"] == pytest.approx(expected)
    assert r.body["label"]["unused_categories"] == ["c"]
    assert not any("imbalanced" in w for w in r.warnings)


# --- regression -------------------------------------------------------------------------------------


def test_per_group_r2_far_from_the_overall_mean_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    g = np.repeat([0, 1], 200)
    yt = np.where(g == 0, 0.0, 1e8) + rng.normal(size=400)
    yp = yt + 0.1 * rng.normal(size=400)
    r = performance_report(yt, yp, task="regression", groups={"g": g}, n_bootstrap=50)
    for k in (0, 1):
        assert r.metrics[f"performance.r2[g={k}]"] == pytest.approx(r2_score(yt[g == k], yp[g == k]), abs=1e-9)
    assert r.metrics["performance.r2"] == pytest.approx(r2_score(yt, yp), abs=1e-12)
    lo, hi = r.body["groups"][0]["groups"][1]["ci"]["r2"]
    assert 0.9 < lo <= hi < 1.0


def test_constant_group_target_follows_sklearn_force_finite() -> None:
    yt = np.r_[np.full(10, 5e7), np.arange(10.0)]
    yp = np.r_[np.full(10, 5e7), np.arange(10.0) + 1]
    r = performance_report(yt, yp, task="regression", groups={"g": [0] * 10 + [1] * 10}, n_bootstrap=0)
    assert r.metrics["performance.r2[g=0]"] == r2_score(yt[:10], yp[:10]) == 1.0
    assert r.metrics["performance.r2[g=1]"] == pytest.approx(r2_score(yt[10:], yp[10:]))


# --- groups -----------------------------------------------------------------------------------------


def test_group_labels_keep_their_type() -> None:
    attr = pd.Series([1, "1"] * 50, dtype=object)
    y = np.tile([1, 0, 0, 1], 25)
    yp = np.tile([1, 1, 0, 0], 25)
    r = fairness_report(y, yp, {"a": attr}, n_bootstrap=0)
    labels = [g["group"] for g in r.body["attributes"][0]["groups"]]
    assert len(labels) == 2 and len(set(labels)) == 2
    assert set(labels) == {"1", "'1'"}
    assert "fairness.selection_rate[a=1]" in r.metrics and "fairness.selection_rate[a='1']" in r.metrics
    # pandas agrees: two groups.
    assert attr.groupby(attr.map(repr)).ngroups == 2


def _no_positive_group() -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    rng = np.random.default_rng(3)
    g = np.repeat(["a", "b", "c"], 100)
    y = rng.integers(0, 2, 300)
    y[g == "c"] = 0  # group c has no positives: its TPR is undefined
    yp = np.where(rng.random(300) < 0.5 + 0.2 * y, 1, 0)
    yp[(g == "a") & (y == 1)] = 1
    return g, y, yp


def test_undefined_tpr_is_not_zero_and_is_left_out_of_the_worst_case() -> None:
    g, y, yp = _no_positive_group()
    r = fairness_report(y, yp, {"g": g}, n_bootstrap=0)
    groups = {e["group"]: e for e in r.body["attributes"][0]["groups"]}
    assert groups["c"]["tpr"] is None and groups["c"]["undefined"] == ["tpr"]
    assert "fairness.tpr[g=c]" not in r.metrics
    assert r.undefined["fairness.tpr[g=c]"] == "no positives in the group"
    assert any("g=c: TPR is undefined" in w for w in r.warnings)
    # Worst case over the groups that have a TPR (a, b) and the FPR over all three.
    tpr = {k: yp[(g == k) & (y == 1)].mean() for k in "ab"}
    fpr = {k: yp[(g == k) & (y == 0)].mean() for k in "abc"}
    expected = max(max(tpr.values()) - min(tpr.values()), max(fpr.values()) - min(fpr.values()))
    assert r.metrics["fairness.equalized_odds_difference[g]"] == pytest.approx(expected, abs=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fairlearn_value = flm.equalized_odds_difference(y, yp, sensitive_features=g)
    assert fairlearn_value > expected  # fairlearn counts the undefined TPR as 0


def test_agg_mean_matches_fairlearn_average_odds() -> None:
    rng = np.random.default_rng(5)
    g = rng.choice(["x", "y", "z"], 600)
    y = rng.integers(0, 2, 600)
    yp = (rng.random(600) < np.where(g == "x", 0.7, 0.4)).astype(int)
    r = fairness_report(y, yp, {"g": g}, n_bootstrap=0, agg="mean")
    for name, fn in (
        ("equalized_odds_difference", flm.equalized_odds_difference),
        ("equalized_odds_ratio", flm.equalized_odds_ratio),
    ):
        assert r.metrics[f"fairness.{name}[g]"] == pytest.approx(fn(y, yp, sensitive_features=g, agg="mean"), abs=1e-12)
    worst = fairness_report(y, yp, {"g": g}, n_bootstrap=0)
    assert worst.metrics["fairness.average_odds_difference[g]"] == pytest.approx(
        flm.equalized_odds_difference(y, yp, sensitive_features=g, agg="mean"), abs=1e-12
    )
    with pytest.raises(ValidationError, match="agg"):
        fairness_report(y, yp, {"g": g}, agg="median")


def test_gate_on_an_undefined_metric_fails_with_the_reason() -> None:
    y = np.r_[np.zeros(50), np.ones(50)]
    g = np.repeat(["a", "b"], 50)  # a: only negatives, b: only positives -> no group has both
    yp = np.tile([0, 1], 50)
    r = fairness_report(y, yp, {"g": g}, n_bootstrap=0)
    assert "fairness.equalized_odds_difference[g]" not in r.metrics
    policy = parse_policy(
        "system: s\nrisk_tier: high\nprotected_attributes: [g]\ngates:\n  production:\n    thresholds:\n"
        "      fairness.equalized_odds_difference: {max: 0.2, groups: [g]}\n"
    )
    result = evaluate_gate(policy, "production", r.metrics, {}, undefined=r.undefined)
    assert not result.passed
    assert "undefined" in result.checks[0].message and "fewer than two groups" in result.checks[0].message


# --- favourable outcome --------------------------------------------------------------------------


def test_four_fifths_uses_the_favourable_outcome() -> None:
    # The positive class is the adverse one ("bad" credit risk): group b is flagged bad twice as often.
    g = np.repeat(["a", "b"], 500)
    y = np.tile([0, 1], 500)
    yp = np.r_[np.tile([1, 0, 0, 0, 0], 100), np.tile([1, 1, 0, 0, 0], 100)]  # bad rate 0.2 vs 0.4
    adverse = fairness_report(y, yp, {"g": g}, n_bootstrap=0)
    fav = fairness_report(y, yp, {"g": g}, n_bootstrap=0, favourable="negative")
    # On the adverse rate, 0.2/0.4 = 0.5; on the favourable (approval) rate 0.6/0.8 = 0.75.
    assert adverse.metrics["fairness.disparate_impact[g]"] == pytest.approx(0.5)
    assert fav.metrics["fairness.disparate_impact[g]"] == pytest.approx(0.75)
    assert fav.body["attributes"][0]["disparities"]["four_fifths_rule"]["reference_group"] == "a"
    assert "negative" in fav.body["favourable_outcome"]["statement"]
    # Demographic parity (fairlearn's definition, on the positive prediction) does not change.
    assert fav.metrics["fairness.demographic_parity_ratio[g]"] == pytest.approx(
        flm.demographic_parity_ratio(y, yp, sensitive_features=g)
    )


# --- uncertainty that can answer "no disparity" ----------------------------------------------------


def _simulate(
    rng: np.random.Generator, n: int, rates: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    g = rng.integers(0, 2, n)
    y = rng.integers(0, 2, n)
    p = np.where(g == 0, rates[0], rates[1])
    yp = (rng.random(n) < p).astype(int)
    return g, y, yp


def test_permutation_test_has_its_size_at_no_disparity_and_power_at_a_real_one() -> None:
    rng = np.random.default_rng(11)
    p_null, p_alt = [], []
    for _ in range(200):
        g, y, yp = _simulate(rng, 400, (0.4, 0.4))
        r = fairness_report(y, yp, {"g": g}, n_bootstrap=0, n_permutations=199, seed=int(rng.integers(1 << 30)))
        d = r.body["attributes"][0]["disparities"]
        p_null.append(d["demographic_parity_difference"]["p_value"])
        assert d["equalized_odds_difference"]["p_value"] is not None
    for _ in range(50):
        g, y, yp = _simulate(rng, 400, (0.3, 0.5))
        r = fairness_report(y, yp, {"g": g}, n_bootstrap=0, n_permutations=199)
        p_alt.append(r.metrics["fairness.demographic_parity_p_value[g]"])
    size = float(np.mean(np.array(p_null) <= 0.05))
    # 200 draws at a true rejection rate of 0.05: 0.05 +- 3 standard errors (0.046).
    assert 0.005 <= size <= 0.096, size
    assert float(np.mean(np.array(p_alt) <= 0.05)) >= 0.9


def test_percentile_interval_coverage_at_a_real_disparity_and_the_bias_note() -> None:
    rng = np.random.default_rng(12)
    hits, raw, corrected, null_means = 0, [], [], []
    for _ in range(120):
        g, y, yp = _simulate(rng, 1000, (0.3, 0.5))
        r = fairness_report(y, yp, {"g": g}, n_bootstrap=200, n_permutations=99, seed=int(rng.integers(1 << 30)))
        d = r.body["attributes"][0]["disparities"]["demographic_parity_difference"]
        lo, hi = d["ci"]
        hits += lo <= 0.2 <= hi
        raw.append(d["value"])
        corrected.append(d["bias_corrected"])
        null_means.append(d["null_mean"])
    assert 0.88 <= hits / 120 <= 0.99
    # At no disparity the sample range is biased upward: the null mean says by how much.
    assert all(m > 0 for m in null_means)
    assert abs(np.mean(corrected) - 0.2) < 0.01 and abs(np.mean(raw) - 0.2) < 0.01


def test_four_fifths_violations_show_in_the_gate_output_and_fail_it_when_the_policy_says_so() -> None:
    g = np.repeat(["a", "b"], 500)
    y = np.tile([0, 1], 500)
    yp = np.r_[np.tile([1, 0, 0, 0, 0], 100), np.tile([1, 1, 1, 1, 0], 100)]  # favourable 0.8 vs 0.2
    r = fairness_report(y, yp, {"g": g}, n_bootstrap=0, favourable="negative")
    text = (
        "system: s\nrisk_tier: high\nprotected_attributes: [g]\nfavourable_outcome: negative\n"
        "gates:\n  production:\n    thresholds:\n      performance.roc_auc: {min: 0.5}\n"
    )
    metrics = {**r.metrics, "performance.roc_auc": 0.8}
    warn = evaluate_gate(parse_policy(text), "production", metrics, {})
    assert warn.passed
    (check,) = [c for c in warn.checks if c.kind == "warning"]
    assert "four-fifths" in check.message and "g 0.25" in check.message
    fail = evaluate_gate(parse_policy(text + "fairness_warnings: fail\n"), "production", metrics, {})
    assert not fail.passed and fail.failures[0].kind == "warning"
    assert parse_policy(text).favourable_outcome == "negative"
    with pytest.raises(Exception, match="favourable_outcome"):
        parse_policy(text.replace("negative", "sometimes"))
