"""The guard serves only what is deployed (issue #21 point 5), and its decisions say how it was deployed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modeltrail
from _registry_support import POLICY, SYSTEM, make_trail
from modeltrail import registry as reg
from modeltrail.errors import LifecycleError, ValidationError
from modeltrail.events import Actor
from modeltrail.runtime import guard

ALICE = Actor("alice", "data_scientist")
FRANK = Actor("frank", "cro")  # break_glass in the test policy: deploys without the full evidence
DAVE = Actor("dave", "model_risk")


@pytest.fixture()
def trail(tmp_path: Path, backend_url: str | None) -> Any:
    t = make_trail(tmp_path, url=backend_url)
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (X["a"] > 0).astype(int)
    for _ in range(2):
        t.register_model(LogisticRegression().fit(X, y), name="credit", system=SYSTEM, actor=ALICE, training_data=X)
    yield t
    t.close()


def _deploy(trail: modeltrail.Trail, ref: str, **kw: Any) -> None:
    reg.deploy(trail, ref, "production", actor=FRANK, break_glass_reason="test deployment", **kw)


def test_an_undeployed_version_is_refused(trail: modeltrail.Trail) -> None:
    with pytest.raises(LifecycleError, match="not deployed to production") as info:
        guard(trail, "credit@1", env="production")
    assert info.value.http_status == 409
    _deploy(trail, "credit@1")
    with pytest.raises(LifecycleError, match="credit@1 is not deployed to staging"):
        trail.guard("credit@1", env="staging")
    g = trail.guard("credit@1", env="production")
    ev = trail.get_event(g.decide({"a": 1.0, "b": 0.0}).durable(10).seq)
    assert ev.payload["mode"] == "live" and ev.payload["batch_id"] is None and ev.payload["batch_size"] is None


def test_a_guard_stops_when_its_deployment_ends(trail: modeltrail.Trail) -> None:
    _deploy(trail, "credit@1")
    g1 = trail.guard("credit@1", env="production")
    g1.decide({"a": 1.0, "b": 0.0})
    # A full-traffic deployment of another version replaces this one: its guard stops.
    _deploy(trail, "credit@2")
    with pytest.raises(LifecycleError, match="ended at event"):
        g1.decide({"a": 1.0, "b": 0.0})
    with pytest.raises(LifecycleError):
        g1.decide_many([{"a": 1.0, "b": 0.0}])
    g2 = trail.guard("credit@2", env="production")
    g2.decide({"a": 1.0, "b": 0.0})
    reg.retire(trail, "credit@2", actor=DAVE, reason="withdrawn", env="production")
    with pytest.raises(LifecycleError, match="not deployed"):
        g2.decide({"a": 1.0, "b": 0.0})


def test_shadow_and_canary_modes_are_recorded_and_served(trail: modeltrail.Trail) -> None:
    _deploy(trail, "credit@1")
    _deploy(trail, "credit@2", mode="shadow")
    live = {(d.version, d.mode) for d in reg.deployments(trail, model="credit", env="production", state="live")}
    assert live == {(1, "live"), (2, "shadow")}  # a shadow replaces nothing
    deployed = next(trail.events("model.deployed", descending=True))
    assert deployed.payload["mode"] == "shadow"
    assert "mode" not in next(trail.events("model.deployed")).payload  # a live deployment's payload is unchanged
    assert trail.guard("credit", env="production").version == 1  # the bare name serves the live version
    shadow = trail.guard("credit@2", env="production")
    ds = shadow.decide_many([{"a": 0.5, "b": 1.0}, {"a": -0.5, "b": 1.0}])
    evs = [trail.get_event(r.seq) for r in ds.durable(10)]
    assert [e.payload["mode"] for e in evs] == ["shadow", "shadow"]
    with pytest.raises(ValidationError, match="traffic < 1"):
        _deploy(trail, "credit@2", mode="canary")
    with pytest.raises(ValidationError, match="mode"):
        _deploy(trail, "credit@2", mode="dark")
    _deploy(trail, "credit@2", mode="canary", traffic=0.1)
    # The open guard follows the new mode from the next decision.
    ev = trail.get_event(shadow.decide({"a": 0.5, "b": 1.0}).durable(10).seq)
    assert ev.payload["mode"] == "canary"
    # Rebuilt from the ledger, the registry says the same.
    modeltrail.projections.rebuild(trail)
    modes = {d.version: d.mode for d in reg.deployments(trail, model="credit", env="production", state="live")}
    assert modes == {1: "live", 2: "canary"}


def test_a_plain_model_is_not_subject_to_the_rule(trail: modeltrail.Trail) -> None:
    g = guard(trail, lambda X: np.zeros(len(X)), name="zero", system=SYSTEM, feature_names=["a"])
    ev = trail.get_event(g.decide({"a": 1.0}).durable(10).seq)
    assert ev.payload["mode"] is None


def test_predict_over_http_answers_409_for_an_undeployed_version(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from modeltrail.identity import create_token
    from modeltrail.server import create_app

    t = make_trail(tmp_path, POLICY.replace("tokens: [admin]", "tokens: [admin, compliance]"))
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=100), "b": rng.normal(size=100)})
    t.register_model(
        LogisticRegression().fit(X, (X["a"] > 0).astype(int)), name="credit", system=SYSTEM, actor=ALICE
    )
    token = create_token(t, "root", Actor("root", "admin"), kind="service")
    folder = t.root
    t.close()
    client = TestClient(create_app(str(folder)), raise_server_exceptions=False)
    h = {"Authorization": f"Bearer {token}"}
    r = client.post("/v1/models/credit/1/predict", json={"features": {"a": 1.0, "b": 0.0}}, headers=h)
    assert r.status_code == 409, r.text
    assert "not deployed to production" in r.text
    with modeltrail.open(folder) as t:
        _deploy(t, "credit@1")
    r = client.post("/v1/models/credit/1/predict", json={"features": {"a": 1.0, "b": 0.0}}, headers=h)
    assert r.status_code == 200, r.text
