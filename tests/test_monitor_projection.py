"""The bounded monitoring projection: exact within the budget, within its stated error bounds beyond."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modeltrail
from modeltrail.events import Actor
from modeltrail.monitor.drift import column_drift
from modeltrail.monitor.profile import build_profile
from modeltrail.monitor.projection import MonitorProjection, bounds_ok, rebuild
from modeltrail.monitor.windows import decision_windows

SERVICE = Actor("scoring-service", "service", "service")


def _log(trail: modeltrail.Trail, rows: pd.DataFrame, scores: np.ndarray) -> None:
    trail.record_many(
        {
            "type": "inference.decision",
            "system": "s",
            "actor": SERVICE.to_dict(),
            "subject": f"decision:{i:032x}",
            "payload": {
                "decision_id": f"{i:032x}",
                "model": "model:m@1",
                "env": "prod",
                "route": "auto",
                "input": {k: (None if pd.isna(v) else v) for k, v in r.items()},
                "score": float(sc),
            },
        }
        for i, (r, sc) in enumerate(
            zip(rows.to_dict("records"), scores, strict=True), start=len(list(trail.events("inference.decision")))
        )
    )


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"a": rng.normal(size=5000), "k": rng.choice(["x", "y", "z"], 5000)})
    prof = build_profile(ref, scores=rng.random(5000))
    trail = modeltrail.init(tmp_path / "t")
    cur = pd.DataFrame({"a": rng.normal(0.4, 1.2, size=3000), "k": rng.choice(["x", "y"], 3000)})
    cur.loc[::50, "a"] = np.nan
    return trail, prof, cur, rng.random(3000)


def test_exact_within_budget_equals_the_batch_report(setup) -> None:  # type: ignore[no-untyped-def]
    trail, prof, cur, scores = setup
    with trail:
        _log(trail, cur.iloc[:1000], scores[:1000])
        proj = MonitorProjection(prof, "m@1", "prod", every="1d")
        assert proj.catch_up(trail) == 1000
        _log(trail, cur.iloc[1000:], scores[1000:])
        assert proj.catch_up(trail) == 2000  # only the new events are read
        assert proj.catch_up(trail) == 0
        (key,) = proj.windows
        (w,) = decision_windows(trail, "m@1", "prod", every="1d")
        assert proj.windows[key].n == w.n == 3000 and proj.windows[key].exact
        for col in ("a", "k", "score"):
            got, want = proj.drift(key, col), column_drift(prof.column(col), w.frame[col])
            assert got.value == want.value and got.method == want.method and got.missing_current == want.missing_current
        again = rebuild(trail, prof, "m@1", "prod", every="1d")
        assert again.summary() == proj.summary()


def test_beyond_budget_binned_values_stay_within_bounds(setup) -> None:  # type: ignore[no-untyped-def]
    trail, prof, cur, scores = setup
    with trail:
        _log(trail, cur, scores)
        proj = rebuild(trail, prof, "m@1", "prod", every="1d", budget_rows=500, bins=256)
        (key,) = proj.windows
        assert not proj.windows[key].exact
        held = sum(s.counts.size for s in proj.windows[key].numeric.values())  # type: ignore[union-attr]
        assert held <= 2 * (256 + 2)
        (w,) = decision_windows(trail, "m@1", "prod", every="1d")
        for method in ("wasserstein", "ks"):
            got = {c: proj.drift(key, c, method) for c in ("a", "score")}
            exact = {c: column_drift(prof.column(c), w.frame[c], method=method) for c in ("a", "score")}
            assert bounds_ok(got, exact), (got, exact)
            assert all(0 < (g.error_bound or 0) < 0.05 for g in got.values())
        psi = proj.drift(key, "a", "psi")
        assert psi.value == pytest.approx(column_drift(prof.column("a"), w.frame["a"], method="psi").value, rel=0.1)
        assert proj.drift(key, "k").value == column_drift(prof.column("k"), w.frame["k"]).value  # categories: exact
