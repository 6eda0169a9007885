"""CBPE against realised performance, calibration, and fairness per window."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from modeltrail.errors import ValidationError
from modeltrail.monitor.fairness import fairness_figures, selection_parity
from modeltrail.monitor.performance import cbpe, expected_auc, fit_calibration, labelled_figures


def _calibrated(n: int, seed: int, a: float = 2.0, b: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(a, b, size=n)
    return p, (rng.random(n) < p).astype(int)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cbpe_interval_covers_realised_performance(seed: int) -> None:
    p, y = _calibrated(5000, seed)
    est = cbpe(p, n_samples=300, seed=seed)
    realised = {
        "accuracy": accuracy_score(y, p >= 0.5),
        "f1": f1_score(y, p >= 0.5),
        "roc_auc": roc_auc_score(y, p),
    }
    for m, v in realised.items():
        e = est[m]
        assert e.low <= v <= e.high, (m, v, e)
        assert abs(e.value - v) < 4 * e.std + 1e-3
    # The interval is informative: accuracy known to within a few points on 5000 rows.
    assert est["accuracy"].high - est["accuracy"].low < 0.04


def test_cbpe_tracks_a_shift_in_the_score_distribution() -> None:
    # Later inputs are harder (scores near 0.5): realised and estimated accuracy both fall.
    p_easy, y_easy = _calibrated(4000, 3, 0.5, 0.5)
    p_hard, y_hard = _calibrated(4000, 4, 8, 8)
    easy, hard = cbpe(p_easy, seed=1)["accuracy"], cbpe(p_hard, seed=1)["accuracy"]
    assert hard.value < easy.value - 0.1
    assert hard.low <= accuracy_score(y_hard, p_hard >= 0.5) <= hard.high
    assert easy.low <= accuracy_score(y_easy, p_easy >= 0.5) <= easy.high


def test_calibration_repairs_miscalibrated_scores() -> None:
    p, y = _calibrated(6000, 7)
    skewed = p**3  # a model that under-states risk: CBPE on raw scores is biased
    cal = fit_calibration(skewed[:3000], y[:3000])
    x, fx = np.asarray(cal[0]), np.asarray(cal[1])
    raw = cbpe(skewed[3000:], threshold=0.125, seed=0)["accuracy"]
    fixed = cbpe(skewed[3000:], threshold=0.125, calibrate=lambda s: np.interp(s, x, fx), seed=0)["accuracy"]
    truth = accuracy_score(y[3000:], skewed[3000:] >= 0.125)
    assert abs(fixed.value - truth) < abs(raw.value - truth)
    assert fixed.low <= truth <= fixed.high


def test_expected_auc_of_perfectly_separated_scores() -> None:
    assert expected_auc(np.array([0.0, 0.0, 1.0, 1.0])) == pytest.approx(1.0)
    with pytest.raises(ValidationError):
        cbpe([0.3])


def test_labelled_figures_reuse_the_performance_report() -> None:
    p, y = _calibrated(800, 9)
    figs = labelled_figures(y, p)
    assert figs["performance.roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert figs["performance.accuracy"] == pytest.approx(accuracy_score(y, p >= 0.5))


def test_selection_parity_and_fairness_figures_per_window() -> None:
    rng = np.random.default_rng(0)
    g = rng.choice(["f", "m"], size=4000)
    pred = (rng.random(4000) < np.where(g == "f", 0.3, 0.5)).astype(int)
    par = selection_parity(pred, g)
    assert par["rates"]["f"] == pytest.approx(pred[g == "f"].mean())
    assert par["demographic_parity_difference"] == pytest.approx(pred[g == "m"].mean() - pred[g == "f"].mean())
    lo, hi = par["interval"]
    assert lo < 0.2 < hi and hi - lo < 0.07
    y = rng.integers(0, 2, 4000)
    figs = fairness_figures(y, pred, {"sex": g})
    assert figs["fairness.demographic_parity_difference[sex]"] == pytest.approx(par["demographic_parity_difference"])
    with pytest.raises(ValidationError, match="group"):
        selection_parity(pred, g[:10])
