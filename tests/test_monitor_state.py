"""monitor run is incremental and bounded: saved open windows, no rescan, exact within budget, bounded beyond."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modeltrail
from modeltrail.events import Actor
from modeltrail.monitor import projection as pj
from modeltrail.monitor.drift import column_drift
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
"""
SERVICE = Actor("scoring-service", "service", "service")


def _setup(tmp_path: Path) -> modeltrail.Trail:
    trail = modeltrail.init(tmp_path / "proj")
    register_policy(trail, POLICY, actor=Actor("root", "admin"))
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=4000), "k": rng.choice(["x", "y", "z"], 4000)})
    model = LogisticRegression().fit(X[["a"]], (X["a"] > 0).astype(int))
    trail.register_model(model, name="credit", system="credit-scoring", actor=Actor("alice", "ds"))
    reg.deploy(trail, "credit@1", "production", actor=Actor("frank", "cro"), break_glass_reason="test")
    prof = build_profile(X, scores=rng.random(4000))
    record_profile(trail, prof, model="model:credit@1", system="credit-scoring", actor=Actor("alice", "ds"))
    return trail


def _current(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    cur = pd.DataFrame({"a": rng.normal(0.3, 1.1, n), "k": rng.choice(["x", "y"], n)})
    cur.loc[::40, "a"] = np.nan
    return cur, rng.random(n)


def _log(trail: modeltrail.Trail, rows: pd.DataFrame, scores: np.ndarray, start: int) -> None:
    trail.record_many(
        {
            "type": "inference.decision",
            "system": "credit-scoring",
            "actor": SERVICE.to_dict(),
            "subject": f"decision:{i:032x}",
            "payload": {
                "decision_id": f"{i:032x}",
                "model": "model:credit@1",
                "env": "production",
                "route": "auto",
                "input": {k: (None if pd.isna(v) else v) for k, v in r.items()},
                "score": float(sc),
            },
        }
        for i, (r, sc) in enumerate(zip(rows.to_dict("records"), scores, strict=True), start=start)
    )


def test_open_windows_are_saved_and_only_new_decisions_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trail = _setup(tmp_path)
    cur, scores = _current(350, 1)
    _log(trail, cur.iloc[:250], scores[:250], 0)
    read: list[int] = []
    fold = pj.MonitorProjection.fold_items

    def counting(self: pj.MonitorProjection, items: Any) -> int:
        items = list(items)
        read.append(len(items))
        return fold(self, items)

    monkeypatch.setattr(pj.MonitorProjection, "fold_items", counting)
    first = monitor(trail, "credit@1", "production", count=100, complete_only=True)
    assert [r.window["n"] for r in first] == [100, 100]
    assert sum(read) == 250
    assert list((Path(trail.path) / "monitor").glob("state-*.npz"))  # the open window of 50 is saved
    _log(trail, cur.iloc[250:], scores[250:], 250)
    read.clear()
    (third,) = monitor(trail, "credit@1", "production", count=100, complete_only=True)
    assert sum(read) == 100  # the saved 50 are not read again
    assert third.window["n"] == 100 and third.window["exact"]
    prof, _ = load_profile(trail, "model:credit@1")
    assert third.drift is not None
    for col in ("a", "k", "score"):
        values = scores[200:300] if col == "score" else cur[col].iloc[200:300]
        want = column_drift(prof.column(col), values)
        assert third.drift.columns[col].value == want.value
    # A lost state is rebuilt from the ledger after the last check: same answer on the next window.
    for f in (Path(trail.path) / "monitor").glob("state-*.npz"):
        f.unlink()
    assert monitor(trail, "credit@1", "production", count=100, complete_only=True) == []
    trail.close()


def test_beyond_budget_sample_summary_and_every_decision_listed(tmp_path: Path) -> None:
    trail = _setup(tmp_path)
    cur, scores = _current(3000, 2)
    _log(trail, cur, scores, 0)
    (res,) = monitor(trail, "credit@1", "production", every="100000d", budget_rows=500)
    w = res.window
    assert (w["n"], w["sampled"], w["exact"]) == (3000, 500, False)
    prof, _ = load_profile(trail, "model:credit@1")
    assert res.drift is not None
    a = res.drift.columns["a"]
    exact = column_drift(prof.column("a"), cur["a"])
    assert a.method == exact.method == "wasserstein"
    assert a.error_bound is not None and 0 < a.error_bound < 0.05
    assert abs(a.value - exact.value) <= a.error_bound + 1e-12
    assert a.missing_current == exact.missing_current
    assert res.drift.columns["k"].value == column_drift(prof.column("k"), cur["k"]).value  # counted exactly
    check = next(trail.events("monitor.checked"))
    ids = trail.blobs.get_bytes(check.payload["decisions_sha256"]).decode().split("\n")
    assert ids == [f"{i:032x}" for i in range(3000)]
    assert not list((Path(trail.path) / "monitor").glob("window-*.ids"))  # spill files go with their window
    trail.close()
