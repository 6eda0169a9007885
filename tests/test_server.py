"""The HTTP API: authentication and roles exactly where they belong, size limits, clear 422s, atomic
batches, verifiable proofs, review and kill switch through the library's rules, and no stack traces."""

from __future__ import annotations

import base64
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

import modeltrail
from modeltrail.demo import run_demo
from modeltrail.events import Actor
from modeltrail.identity import create_token
from modeltrail.ledger import merkle
from modeltrail.server import create_app, fastapi_app

CAROL = Actor("carol", "compliance")  # holds roles.tokens in the demo policy


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("srv") / "demo"
    result = run_demo(folder, decisions=60)
    with modeltrail.open(folder) as t:
        tokens = {
            "svc": create_token(t, "scoring-api", CAROL, kind="service"),
            "bob": create_token(t, "bob", CAROL),
            "erin": create_token(t, "erin", CAROL),
        }
    app = create_app(str(folder), max_body_bytes=64 * 1024)
    client = TestClient(app, raise_server_exceptions=False)
    return {"client": client, "tokens": tokens, "folder": folder, "model": result.deployed, "app": app}


def _h(served: dict[str, Any], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {served['tokens'][who]}"}


def test_health_is_open_everything_else_needs_a_token(served: dict[str, Any]) -> None:
    c = served["client"]
    assert c.get("/v1/health").status_code == 200
    for method, path in [
        ("get", "/v1/events"), ("post", "/v1/events"), ("get", "/v1/verify"), ("post", "/v1/checkpoint"),
        ("get", "/v1/review"), ("get", "/v1/proofs/inclusion/1"), ("post", "/v1/labels"),
        ("post", "/v1/models/credit-logreg/suspend"),
    ]:
        r = getattr(c, method)(path)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.headers["www-authenticate"] == "Bearer"
    r = c.get("/v1/events", headers={"Authorization": "Bearer mt_0000000000000000_forged"})
    assert r.status_code == 401


def test_ingest_is_atomic_and_names_the_field(served: dict[str, Any]) -> None:
    c = served["client"]
    before = c.get("/v1/health").json()["size"]
    good = {"type": "run.metrics", "system": "credit-scoring", "payload": {"auc": 0.8}}
    bad = {"type": "run.metrics", "system": "credit-scoring", "payload": {"auc": "x", "n": {"1": [1e400]}}}
    r = c.post("/v1/events", json={"events": [good, {"type": "Bad Type", "system": "s"}]}, headers=_h(served, "svc"))
    assert r.status_code == 422 and r.json()["field"] == "events[1].type"
    assert c.get("/v1/health").json()["size"] == before
    r = c.post("/v1/events", content=b'{"events": [{"type": "run.metrics", "system": "s", "payload": {"x": NaN}}]}',
               headers={**_h(served, "svc"), "content-type": "application/json"})
    assert r.status_code == 422
    del bad
    r = c.post("/v1/events", json={"events": [good, good]}, headers=_h(served, "svc"))
    assert r.status_code == 200
    receipts = r.json()["receipts"]
    assert [x["seq"] for x in receipts] == [before, before + 1]
    ev = c.get(f"/v1/events/{before}", headers=_h(served, "svc")).json()["event"]
    assert ev["actor"] == {"id": "scoring-api", "kind": "service", "role": "user"} or ev["actor"]["id"] == "scoring-api"


def test_cannot_record_as_someone_else(served: dict[str, Any]) -> None:
    c = served["client"]
    e = {"type": "run.metrics", "system": "s", "actor": {"id": "bob", "role": "model_risk"}}
    r = c.post("/v1/events", json={"events": [e]}, headers=_h(served, "svc"))
    assert r.status_code == 403


def test_body_limit(served: dict[str, Any]) -> None:
    big = {"events": [{"type": "run.metrics", "system": "s", "payload": {"blob": "x" * 70_000}}]}
    r = served["client"].post("/v1/events", json=big, headers=_h(served, "svc"))
    assert r.status_code == 413


def test_proofs_verify(served: dict[str, Any]) -> None:
    c = served["client"]
    cp = c.post("/v1/checkpoint", headers=_h(served, "svc")).json()
    p = c.get("/v1/proofs/inclusion/3", headers=_h(served, "svc")).json()
    assert p["tree_size"] == cp["size"]
    merkle.verify_inclusion(
        base64.b64decode(p["leaf_hash"]), 3, p["tree_size"], [base64.b64decode(x) for x in p["proof"]],
        bytes.fromhex(cp["root"]),
    )
    q = c.get(f"/v1/proofs/consistency?old=2&new={cp['size']}", headers=_h(served, "svc")).json()
    merkle.verify_consistency(2, cp["size"], base64.b64decode(q["old_root"]), bytes.fromhex(cp["root"]),
                              [base64.b64decode(x) for x in q["proof"]])
    assert c.get("/v1/verify", headers=_h(served, "svc")).json()["ok"] is True
    assert c.get("/v1/proofs/inclusion/999999", headers=_h(served, "svc")).status_code == 404


def test_review_is_for_people_and_kill_switch_for_roles(served: dict[str, Any]) -> None:
    c = served["client"]
    items = c.get("/v1/review", headers=_h(served, "bob")).json()["items"]
    assert items
    did = items[0]["decision_id"]
    r = c.post(f"/v1/review/{did}", json={"accept": True, "reason": "ok"}, headers=_h(served, "svc"))
    assert r.status_code == 403
    r = c.post(f"/v1/review/{did}", json={"reason": "neither"}, headers=_h(served, "bob"))
    assert r.status_code == 422
    r = c.post(f"/v1/review/{did}", json={"override": 0, "reason": "income verified"}, headers=_h(served, "bob"))
    assert r.status_code == 200
    name = served["model"].removeprefix("model:").split("@")[0]
    r = c.post(f"/v1/models/{name}/resume", json={"env": "production", "reason": "x"}, headers=_h(served, "erin"))
    assert r.status_code == 403  # erin (ops) may suspend but not resume
    r = c.post(f"/v1/models/{name}/resume", json={"env": "production", "reason": "fixed"}, headers=_h(served, "bob"))
    assert r.status_code == 200
    r = c.post(f"/v1/models/{name}/suspend", json={"env": "production", "reason": "drift"}, headers=_h(served, "erin"))
    assert r.status_code == 200
    r = c.post(f"/v1/models/{name}/suspend", json={"env": "production", "reason": "again"}, headers=_h(served, "erin"))
    assert r.status_code == 409


def test_predict_and_label(served: dict[str, Any]) -> None:
    c = served["client"]
    name, version = served["model"].removeprefix("model:").split("@")
    row = modeltrail.demo.load_german_credit().drop(columns=["credit_risk"]).iloc[0].to_dict()
    row["applicant_id"] = "APP-000001"
    r = c.post(f"/v1/models/{name}/{version}/predict", json={"features": row, "subject": "applicant:APP-000001"},
               headers=_h(served, "svc"))
    assert r.status_code == 200, r.text
    d = r.json()["decisions"][0]
    r = c.post("/v1/labels", json={"labels": [{"decision_id": d["decision_id"], "actual": 1}]}, headers=_h(served, "svc"))
    assert r.status_code == 200


def test_internal_errors_show_no_internals(served: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    c = served["client"]
    from modeltrail.trail import Trail

    def boom(self: Trail, *a: Any, **k: Any) -> Any:
        raise RuntimeError("secret path /etc/shadow in a stack trace")

    monkeypatch.setattr(Trail, "verify", boom)
    r = c.get("/v1/verify", headers=_h(served, "svc"))
    assert r.status_code == 500
    assert set(r.json()) == {"error", "id"} and "shadow" not in r.text and "Traceback" not in r.text


def test_openapi_is_published_and_current(served: dict[str, Any]) -> None:
    import json

    spec = served["client"].get("/openapi.json").json()
    assert "/v1/events" in spec["paths"] and "/v1/models/{name}/{version}/predict" in spec["paths"]
    doc = Path(__file__).parent.parent / "docs" / "openapi.json"
    assert json.loads(doc.read_text()) == fastapi_app(served["app"]).openapi(), "run scripts/export_openapi.py"


def test_predictions_can_be_logged_through_the_process_writer(tmp_path: Path) -> None:
    # `modeltrail serve --decision-writer process`: the same answers, the decisions logged by a child.
    folder = tmp_path / "demo"
    result = run_demo(folder, decisions=20)
    with modeltrail.open(folder) as t:
        token = create_token(t, "scoring-api", CAROL, kind="service")
    app = create_app(str(folder), decision_writer="process")
    client = TestClient(app, raise_server_exceptions=False)
    name, version = result.deployed.removeprefix("model:").split("@")
    rows = modeltrail.demo.load_german_credit().drop(columns=["credit_risk"]).iloc[:5].to_dict("records")
    for i, row in enumerate(rows):
        row["applicant_id"] = f"APP-{i:06d}"
    r = client.post(
        f"/v1/models/{name}/{version}/predict",
        json={"rows": rows, "subjects": [f"applicant:APP-{i:06d}" for i in range(5)]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    ids = [d["decision_id"] for d in r.json()["decisions"]]
    assert len(ids) == 5
    with modeltrail.open(folder) as t:
        logged = {e.payload["decision_id"] for e in t.events("inference.decision", since=None)}
    assert set(ids) <= logged
    # The writer process dies: health says so (503) and predictions answer 503, not 400.
    assert client.get("/v1/health").status_code == 200
    logger = fastapi_app(app).state.modeltrail._logger
    os.kill(logger._process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while client.get("/v1/health").status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    health = client.get("/v1/health")
    assert health.status_code == 503 and health.json()["status"] == "degraded"
    assert "writer" in health.json()["decision_writer"]
    r = client.post(
        f"/v1/models/{name}/{version}/predict",
        json={"rows": rows[:1], "subjects": ["applicant:APP-000000"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 503, r.text
    with pytest.raises(modeltrail.errors.ValidationError):
        create_app(str(folder), decision_writer="fork")  # type: ignore[arg-type]
