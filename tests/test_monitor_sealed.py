"""Sealed fields are monitored from counts taken before sealing; the ledger never holds their values."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import distance
from sklearn.linear_model import LogisticRegression

import modeltrail
from modeltrail.errors import ValidationError
from modeltrail.events import Actor
from modeltrail.monitor import sealed as sl
from modeltrail.monitor.drift import column_drift, fill_zeroes
from modeltrail.monitor.profile import build_profile, load_profile, record_profile
from modeltrail.monitor.run import monitor
from modeltrail.registry import lifecycle as reg
from modeltrail.registry import register_policy

POLICY = """\
system: credit-scoring
risk_tier: high
gates:
  production:
    evidence: [performance_report]
roles: {suspend: [ops], resume: [model_risk], break_glass: [cro]}
users:
  root: {roles: [admin]}
  frank: {roles: [cro]}
  modeltrail-monitor: {roles: [ops]}
data_policy:
  fields: {age: seal, region: seal}
  default: keep
monitoring:
  drift: {metric: psi, warn: 0.1, alert: 0.25, window: 1d}
"""
T0 = 1_800_000_000.0  # a fixed clock: every decision falls in one aggregation period


def _setup(tmp_path: Path) -> tuple[modeltrail.Trail, LogisticRegression, pd.DataFrame]:
    trail = modeltrail.init(tmp_path / "proj")
    register_policy(trail, POLICY, actor=Actor("root", "admin"))
    rng = np.random.default_rng(0)
    n = 3000
    X = pd.DataFrame({"a": rng.normal(size=n), "age": rng.integers(18, 80, n).astype(float)})
    y = (X["a"] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    model = LogisticRegression().fit(X[["a", "age"]], y)
    trail.register_model(model, name="credit", system="credit-scoring", actor=Actor("alice", "ds"), training_data=X)
    reg.deploy(trail, "credit@1", "production", actor=Actor("frank", "cro"), break_glass_reason="test")
    ref = X.assign(region=rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2]))
    prof = build_profile(ref, scores=model.predict_proba(X[["a", "age"]])[:, 1])
    record_profile(trail, prof, model="model:credit@1", system="credit-scoring", actor=Actor("alice", "ds"))
    return trail, model, ref


def test_sealed_fields_are_monitored_from_aggregates_only(tmp_path: Path) -> None:
    trail, _, ref = _setup(tmp_path)
    rng = np.random.default_rng(1)
    m = 800
    age = rng.integers(30, 90, m).astype(float)  # older applicants: drift in a sealed field
    region = rng.choice(["north", "south", "east"], m, p=[0.3, 0.3, 0.4])
    g = trail.guard("credit@1", env="production")
    agg = sl.attach(g)
    assert agg is not None and sorted(agg.fields) == ["age", "region"]
    agg.clock = lambda: T0
    for i in range(m):
        g.decide({"a": float(rng.normal()), "age": float(age[i]), "region": str(region[i])}, subject=f"p{i}")
    g.close()
    receipt = agg.close()
    assert receipt is not None
    ev = trail.get_event(receipt.seq)
    assert ev.type == "monitor.sealed" and ev.payload["n"] == m and not ev.payload["suppressed"]
    agg_age = ev.payload["fields"]["age"]
    assert sum(agg_age["counts"]) == m
    # Only counts, and edges taken from the reference: no production value appears in the aggregate.
    assert agg_age["edges"] == sl.sealed_edges(load_profile(trail, "model:credit@1")[0].column("age"))
    assert set(agg_age) == {"kind", "edges", "counts", "missing"}
    assert ev.payload["fields"]["region"]["counts"] == {k: int((region == k).sum()) for k in sorted(set(region))}
    for d in trail.events("inference.decision"):
        assert "age" not in d.payload["input"] and set(d.sealed) == {"age", "region"}

    (res,) = monitor(trail, "credit@1", "production", every="100000d")
    drift = res.drift
    assert drift is not None
    a = drift.columns["age"]
    prof, _ = load_profile(trail, "model:credit@1")
    edges = sl.sealed_edges(prof.column("age"))
    bins = np.concatenate([[-np.inf], edges, [np.inf]])
    # The same computation on the clear values with the same bins (np.histogram's right-closed last bin
    # does not matter here: no value is infinite).
    rc = np.array([np.sum((ref["age"] >= lo) & (ref["age"] < hi)) for lo, hi in itertools.pairwise(bins)])
    cc = np.array([np.sum((age >= lo) & (age < hi)) for lo, hi in itertools.pairwise(bins)])
    assert a.method == "jensenshannon" and a.note and "sealed" in a.note
    assert a.value == pytest.approx(distance.jensenshannon(rc / rc.sum(), cc / cc.sum()), abs=1e-12)
    assert a.drifted
    # Categories are counted exactly: equal to the clear-text statistic.
    r = drift.columns["region"]
    clear = column_drift(prof.column("region"), region)
    assert (r.method, r.value) == (clear.method, pytest.approx(clear.value, abs=1e-12))
    # The policy's PSI rule reads the sealed field too.
    ps = np.asarray(rc / rc.sum(), float)
    cs = np.asarray(cc / cc.sum(), float)
    want = float(np.sum((fill_zeroes(ps) - fill_zeroes(cs)) * np.log(fill_zeroes(ps) / fill_zeroes(cs))))
    assert res.rule_values["age"] == pytest.approx(want, abs=1e-12)
    assert res.window["sealed_fields"] == ["age", "region"]
    trail.close()


def test_small_periods_are_suppressed_and_ks_falls_back(tmp_path: Path) -> None:
    trail, _, _ = _setup(tmp_path)
    g = trail.guard("credit@1", env="production")
    agg = sl.attach(g, min_count=10)
    assert agg is not None
    agg.clock = lambda: T0
    for i in range(5):
        g.decide({"a": 0.1, "age": 40.0 + i, "region": "west"}, subject=f"p{i}")
    g.close()
    receipt = agg.close()
    assert receipt is not None
    p = trail.get_event(receipt.seq).payload
    assert p["suppressed"] and p["fields"] == {} and p["n"] == 5
    prof, _ = load_profile(trail, "model:credit@1")
    edges = sl.sealed_edges(prof.column("age"))
    counts = {"kind": "numeric", "edges": edges, "counts": [0] * (len(edges) + 1), "missing": 0}
    counts["counts"][3] = 50
    r = sl.sealed_drift(prof.column("age"), counts, method="ks")
    assert r.method == "jensenshannon" and r.note is not None and "needs values" in r.note
    with pytest.raises(ValidationError):
        sl.sealed_drift(prof.column("age"), {**counts, "counts": [1, 2]})
    cat = sl.sealed_drift(prof.column("region"), {"kind": "categorical", "counts": {"(new)": 3, "north": 7}})
    assert cat.new_categories == ["(new)"] and set(cat.vanished_categories) == {"east", "south"}
    trail.close()
