"""Drift statistics against scipy (and Evidently's formulas) on presorted reference profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from modeltrail.errors import ValidationError
from modeltrail.monitor.drift import (
    column_drift,
    default_method,
    drift_report,
    fill_zeroes,
    ks_2samp_sorted,
    sorted_histogram,
    sturges_edges,
    wasserstein_sorted,
)
from modeltrail.monitor.profile import ReferenceProfile, build_profile, profile_column


@pytest.mark.parametrize(("n1", "n2"), [(40, 55), (900, 1200), (30_000, 12_000), (20_000, 20_000)])
@pytest.mark.parametrize("rounding", [None, 1])
def test_ks_equals_scipy(n1: int, n2: int, rounding: int | None) -> None:
    rng = np.random.default_rng(n1 + n2)
    a, b = rng.normal(size=n1), rng.normal(0.05, 1.1, size=n2)
    if rounding is not None:  # ties
        a, b = a.round(rounding), b.round(rounding)
    d, p = ks_2samp_sorted(np.sort(a), np.sort(b))
    ref = stats.ks_2samp(a, b)
    assert d == ref.statistic
    assert p == ref.pvalue


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-50, 50), min_size=1, max_size=200),
    st.lists(st.integers(-50, 50), min_size=1, max_size=200),
)
def test_wasserstein_equals_scipy(a: list[int], b: list[int]) -> None:
    x, y = np.sort(np.array(a, float) / 7), np.sort(np.array(b, float) / 7)
    assert wasserstein_sorted(x, y) == pytest.approx(stats.wasserstein_distance(x, y), abs=1e-12)


def test_large_ks_and_wasserstein_match_scipy() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.exponential(size=200_000), rng.exponential(1.02, size=150_000)
    d, p = ks_2samp_sorted(np.sort(a), np.sort(b))
    ref = stats.ks_2samp(a, b)
    assert (d, p) == (ref.statistic, ref.pvalue)
    assert wasserstein_sorted(np.sort(a), np.sort(b)) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=300))
def test_sturges_and_histogram_equal_numpy(xs: list[float]) -> None:
    x = np.array(xs)
    edges = sturges_edges(float(x.min()), float(x.max()), x.size)
    np.testing.assert_array_equal(edges, np.histogram_bin_edges(x, bins="sturges"))
    np.testing.assert_array_equal(sorted_histogram(np.sort(x), edges), np.histogram(x, edges)[0])


def test_wasserstein_column_is_normed_with_floor() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(5, 2, size=3000)
    cur = rng.normal(5.5, 2, size=2000)
    r = column_drift(profile_column("x", ref, "numeric"), cur)
    assert r.method == "wasserstein"
    raw = stats.wasserstein_distance(ref, cur)
    assert r.wasserstein_raw == pytest.approx(raw, rel=1e-12)
    assert r.value == pytest.approx(raw / np.std(ref), rel=1e-12)
    assert r.drifted is (r.value >= 0.1)
    const = column_drift(
        profile_column("c", np.full(2000, 3.0), "numeric"), np.linspace(3, 3.01, 1500), method="wasserstein"
    )
    assert const.value == pytest.approx(
        stats.wasserstein_distance(np.full(2000, 3.0), np.linspace(3, 3.01, 1500)) / 0.001
    )


def test_psi_and_js_with_sturges_bins_follow_evidently_formula() -> None:
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(size=4000), rng.normal(0.3, size=2500)
    both = np.concatenate([ref, cur])
    edges = np.histogram_bin_edges(both, bins="sturges")
    rp = np.histogram(ref, edges)[0] / ref.size
    cp = np.histogram(cur, edges)[0] / cur.size
    js = column_drift(profile_column("x", ref, "numeric"), cur, method="js")
    assert js.value == pytest.approx(distance.jensenshannon(rp, cp), rel=1e-12)
    psi = column_drift(profile_column("x", ref, "numeric"), cur, method="psi")
    rz, cz = fill_zeroes(rp), fill_zeroes(cp)
    assert psi.value == pytest.approx(float(np.sum((rz - cz) * np.log(rz / cz))), rel=1e-12)
    assert psi.drifted is (psi.value >= 0.1)


def test_fill_zeroes_rule() -> None:
    np.testing.assert_array_equal(fill_zeroes(np.array([0.5, 0.5, 0.0])), [0.5, 0.5, 0.0001])
    np.testing.assert_allclose(fill_zeroes(np.array([0.99995, 0.00005, 0.0])), [0.99995, 0.00005, 0.00005 / 1e6])


def test_chi_square_and_z_on_small_reference() -> None:
    rng = np.random.default_rng(2)
    ref = rng.choice(["a", "b", "c"], size=800, p=[0.5, 0.3, 0.2])
    cur = rng.choice(["a", "b", "c"], size=600, p=[0.4, 0.3, 0.3])
    r = column_drift(profile_column("k", ref, "categorical"), cur)
    assert r.method == "chisquare"
    rc = pd.Series(ref).value_counts().reindex(["a", "b", "c"]).to_numpy(float)
    cc = pd.Series(cur).value_counts().reindex(["a", "b", "c"]).to_numpy(float)
    expected = stats.chisquare(cc, rc * cc.sum() / rc.sum())
    assert r.value == pytest.approx(expected.pvalue, rel=1e-12)
    assert r.drifted is (r.value < 0.05)
    refb, curb = rng.choice(["n", "y"], size=700, p=[0.7, 0.3]), rng.choice(["n", "y"], size=500, p=[0.6, 0.4])
    z = column_drift(profile_column("b", refb, "categorical"), curb)
    assert z.method == "z"
    # statsmodels-free check: the pooled two-proportion z statistic and its normal two-sided p-value.
    p1, p2 = np.mean(refb != "n"), np.mean(curb != "n")
    pooled = (p1 * 700 + p2 * 500) / 1200
    zs = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / 700 + 1 / 500))
    assert z.value == pytest.approx(2 * stats.norm.sf(abs(zs)), rel=1e-9)


def test_default_methods_follow_evidently() -> None:
    assert default_method("numeric", 1000, 6) == "ks"
    assert default_method("numeric", 1000, 5) == "chisquare"
    assert default_method("numeric", 1000, 2) == "z"
    assert default_method("categorical", 500, 3) == "chisquare"
    assert default_method("categorical", 500, 2) == "z"
    assert default_method("numeric", 1001, 6) == "wasserstein"
    assert default_method("numeric", 1001, 5) == "jensenshannon"
    assert default_method("categorical", 5000, 2) == "jensenshannon"


def test_categorical_changes_and_missing_rates() -> None:
    ref = pd.Series(["a", "b", None, "c"] * 500)
    cur = pd.Series(["a", "d", None, None] * 300)
    r = column_drift(profile_column("k", ref, "categorical"), cur)
    assert r.new_categories == ["d"]
    assert r.vanished_categories == ["b", "c"]
    assert r.missing_reference == pytest.approx(0.25)
    assert r.missing_current == pytest.approx(0.5)
    assert r.missing_change == pytest.approx(0.25)


def test_report_share_profile_roundtrip_and_errors() -> None:
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000), "c": rng.choice(list("xy"), 2000)})
    cur = pd.DataFrame({"a": rng.normal(1, size=900), "b": rng.normal(size=900), "c": rng.choice(list("xy"), 900)})
    prof = build_profile(ref)
    rep = drift_report(prof, cur)
    assert rep.drifted_columns == ["a"]
    assert rep.share_drifted == pytest.approx(1 / 3)
    assert rep.dataset_drift is False
    assert drift_report(prof, cur, drift_share=0.3).dataset_drift is True
    again = drift_report(ReferenceProfile.from_bytes(prof.to_bytes()), cur, workers=2)
    assert {k: v.value for k, v in again.columns.items()} == {k: v.value for k, v in rep.columns.items()}
    forced = drift_report(prof, cur, method="ks", thresholds={"a": 1e-300}, columns=["a", "b"])
    assert forced.columns["a"].value == stats.ks_2samp(ref["a"], cur["a"]).pvalue
    with pytest.raises(ValidationError, match="method"):
        drift_report(prof, cur, methods={"c": "ks"})
    with pytest.raises(ValidationError, match="no column"):
        drift_report(prof, cur.drop(columns="b"), columns=["b"])
    with pytest.raises(ValidationError, match="profile"):
        ReferenceProfile.from_bytes(b"not a profile")


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.sampled_from("abcde"), min_size=1001, max_size=1400),
    st.lists(st.sampled_from("abcdef"), min_size=5, max_size=400),
)
def test_categorical_js_and_chi_square_equal_scipy(ref: list[str], cur: list[str]) -> None:
    col = profile_column("k", ref, "categorical")
    keys = sorted(set(ref) | set(cur))
    rc = np.array([ref.count(k) for k in keys], float)
    cc = np.array([cur.count(k) for k in keys], float)
    js = column_drift(col, cur)  # a reference over 1000 rows: Jensen–Shannon on per-category shares
    assert js.method == "jensenshannon"
    assert js.value == pytest.approx(distance.jensenshannon(rc / rc.sum(), cc / cc.sum()), abs=1e-12)
    chi = column_drift(col, cur, method="chisquare")
    with np.errstate(divide="ignore", invalid="ignore"):
        want = stats.chisquare(cc, rc * cc.sum() / rc.sum())
    assert chi.value == pytest.approx(want.pvalue, abs=1e-12, nan_ok=True)
