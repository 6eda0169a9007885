"""API fuzzing against the published OpenAPI document (docs/openapi.json, which tests/test_server.py keeps
equal to the app's): schemathesis generates valid and invalid requests for every operation, sent to the
app in process, authenticated as a person holding broad roles so that requests get past 401 into the
routes. No response may be a server error (5xx), and every response must match the documented schema.
A second pass aims the path parameters at objects that exist (the deployed model, a routed decision, an
event), and property tests feed the live model arbitrary feature values and the ingest route arbitrary
events.

Also: ``modeltrail serve`` starts as a real process and answers ``/v1/health``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("schemathesis")
pytest.importorskip("httpx")

import httpx
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

import modeltrail
from modeltrail.demo import load_german_credit, run_demo
from modeltrail.events import Actor
from modeltrail.identity import create_token
from modeltrail.server import create_app

CAROL = Actor("carol", "compliance")  # holds roles.tokens in the demo policy
SPEC = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same requests on every run: CI failures reproduce
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

# The published document; requests go to the app in process (schemathesis' ASGI transport). Loaded from
# the file rather than from a fixture: pytest 9 no longer has what schemathesis.pytest.from_fixture needs.
schema = schemathesis.openapi.from_path(SPEC)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("fuzz") / "demo"
    result = run_demo(folder, decisions=30)
    with modeltrail.open(folder) as t:
        # alice: a person with data_scientist and model_risk, so review, suspend and resume are reachable
        token = create_token(t, "alice", CAROL)
    app = create_app(str(folder), max_body_bytes=256 * 1024)
    headers = {"Authorization": f"Bearer {token}"}
    client = TestClient(app, raise_server_exceptions=False)
    name, version = result.deployed.removeprefix("model:").split("@")
    pending = client.get("/v1/review", headers=headers).json()["items"]
    assert pending, "the demo routes some decisions to review"
    return {
        "app": app,
        "client": client,
        "headers": headers,
        "folder": folder,
        "real": {"name": name, "version": int(version), "decision_id": pending[0]["decision_id"], "seq": 3},
    }


def _check(case: Any, target: dict[str, Any]) -> None:
    case.call_and_validate(
        app=target["app"], headers=target["headers"], checks=[not_a_server_error, response_schema_conformance]
    )


@schema.parametrize()
@FUZZ
def test_no_server_errors(case: Any, target: dict[str, Any]) -> None:
    _check(case, target)


@schema.include(path_regex=r"\{").parametrize()
@FUZZ
def test_no_server_errors_on_existing_objects(case: Any, target: dict[str, Any]) -> None:
    # Generated path parameters almost never name something that exists; these do, so the generated
    # bodies and queries reach the model, the review queue and the ledger rather than a 404.
    for key, value in target["real"].items():
        if key in (case.path_parameters or {}):
            case.path_parameters[key] = value
    _check(case, target)


# ------------------------------------------------------------------------ targeted properties

_ROW = load_german_credit().drop(columns=["credit_risk"]).iloc[0].to_dict()
_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_VALUE = st.one_of(_SCALAR, st.lists(_SCALAR, max_size=2), st.dictionaries(st.text(max_size=3), _SCALAR, max_size=2))


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(changes=st.dictionaries(st.sampled_from(sorted(_ROW)), _VALUE, min_size=1, max_size=4))
def test_live_model_never_fails_on_arbitrary_feature_values(target: dict[str, Any], changes: dict[str, Any]) -> None:
    real = target["real"]
    c = target["client"]
    # The demo ends with the model suspended (its decisions then go to review without scoring): resume it.
    resume = {"env": "production", "reason": "fuzzing the live model"}
    r = c.post(f"/v1/models/{real['name']}/resume", json=resume, headers=target["headers"])
    assert r.status_code in (200, 409), r.text  # 409: not suspended
    row = {**_ROW, "applicant_id": "APP-000001", **changes}
    r = c.post(
        f"/v1/models/{real['name']}/{real['version']}/predict",
        json={"features": row, "subject": "applicant:APP-000001"},
        headers=target["headers"],
    )
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        assert r.json()["decisions"][0]["route"] != "fallback"
    else:
        assert r.status_code == 422 and r.json()["field"], r.text  # a clear message naming the field


_EVENT = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(["run.metrics", "note.added"]), st.text(max_size=8), st.integers())},
    optional={
        "system": st.one_of(st.just("credit-scoring"), st.text(max_size=8), st.none()),
        "subject": st.one_of(st.none(), st.text(max_size=8), st.integers()),
        "payload": st.one_of(st.dictionaries(st.text(max_size=4), _VALUE, max_size=3), _SCALAR),
        "refs": st.one_of(st.lists(st.one_of(st.just("event:1"), st.text(max_size=6)), max_size=2), _SCALAR),
        "actor": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {"id": st.sampled_from(["alice", "bob"])}, optional={"role": _SCALAR, "kind": _SCALAR}
            ),
            _SCALAR,
        ),
        "extra": _SCALAR,
    },
)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(events=st.lists(_EVENT, min_size=1, max_size=4))
def test_ingest_is_all_or_nothing_and_never_fails(target: dict[str, Any], events: list[dict[str, Any]]) -> None:
    c = target["client"]
    before = c.get("/v1/health").json()["size"]
    r = c.post("/v1/events", json={"events": events}, headers=target["headers"])
    assert r.status_code < 500, r.text
    after = c.get("/v1/health").json()["size"]
    if r.status_code == 200:
        assert [x["seq"] for x in r.json()["receipts"]] == list(range(before, before + len(events)))
        assert after == before + len(events)
    else:
        assert r.status_code in (403, 422), r.text
        assert after == before  # atomic: nothing of a refused batch is recorded
        if r.status_code == 422:
            assert r.json()["field"].startswith("events["), r.text


# ------------------------------------------------------- regressions the fuzzing and probing found


def test_out_of_range_integers_are_refused_naming_the_field(target: dict[str, Any]) -> None:
    # These reached SQLite as integers over 64 bits: OverflowError, a 500.
    c, h, big = target["client"], target["headers"], 2**70
    name = target["real"]["name"]
    for path, field in [
        (f"/v1/events?after_seq={big}", "after_seq"),
        (f"/v1/events/{big}", "seq"),
        (f"/v1/proofs/inclusion/{big}", "seq"),
        (f"/v1/proofs/inclusion/1?size={big}", "size"),
        (f"/v1/proofs/consistency?old=1&new={big}", "new"),
    ]:
        r = c.get(path, headers=h)
        assert r.status_code == 422 and r.json()["field"].endswith(field), (path, r.text)
    r = c.post(f"/v1/models/{name}/suspend", json={"env": "production", "reason": "x", "version": big}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "version", r.text
    r = c.post(f"/v1/models/{name}/{big}/predict", json={"features": {}}, headers=h)
    assert r.status_code == 422 and r.json()["field"].endswith("version"), r.text


def test_every_error_has_the_documented_shape(target: dict[str, Any]) -> None:
    c, h = target["client"], target["headers"]
    r = c.get("/v1/no-such-route", headers=h)
    assert r.status_code == 404 and set(r.json()) == {"error"}
    r = c.delete("/v1/events", headers=h)
    assert r.status_code == 405 and set(r.json()) == {"error"} and "POST" in r.headers["allow"]
    r = c.post("/v1/events", content=b"{not json", headers={**h, "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "body"


def test_review_needs_accept_true_or_an_override(target: dict[str, Any]) -> None:
    # accept=false without an override used to be recorded as an override to null.
    c, h = target["client"], target["headers"]
    did = target["real"]["decision_id"]
    for body in ({"accept": False, "reason": "x"}, {"accept": True, "override": 1, "reason": "x"}):
        r = c.post(f"/v1/review/{did}", json=body, headers=h)
        assert r.status_code == 422 and r.json()["field"] == "accept", r.text


def test_predict_names_the_feature_the_model_cannot_take(target: dict[str, Any]) -> None:
    real, c, h = target["real"], target["client"], target["headers"]
    url = f"/v1/models/{real['name']}/{real['version']}/predict"
    c.post(f"/v1/models/{real['name']}/resume", json={"env": "production", "reason": "test"}, headers=h)
    row = {**_ROW, "applicant_id": "APP-000001"}
    r = c.post(url, json={"features": {**row, "duration_months": [1, 2]}, "subject": "applicant:APP-000001"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "features.duration_months", r.text
    r = c.post(
        url, json={"rows": [row, {**row, "purpose": {"a": 1}}], "subjects": ["applicant:1", "applicant:2"]}, headers=h
    )
    assert r.status_code == 422 and r.json()["field"] == "rows[1].purpose", r.text
    r = c.post(url, json={"features": {**row, "credit_amount": "lots"}, "subject": "applicant:APP-000001"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "features" and "lots" in r.json()["error"], r.text


def test_claimed_actor_role_must_be_held_and_policy_changes_apply(tmp_path: Path) -> None:
    policy = (Path(modeltrail.__file__).parent / "data" / "demo" / "policy.yaml").read_text()
    # A second compliance officer: the demo policy is high-risk, so a change takes two people.
    policy = policy.replace("  carol: {roles: [compliance]}\n", "  carol: {roles: [compliance]}\n  frank: {roles: [compliance]}\n")
    assert "frank" in policy
    from modeltrail.registry import approve_policy, propose_policy, register_policy

    with modeltrail.init(tmp_path / "t") as t:
        register_policy(t, policy, actor=CAROL)
        token = create_token(t, "alice", CAROL)
    c = TestClient(create_app(str(tmp_path / "t")), raise_server_exceptions=False)
    h = {"Authorization": f"Bearer {token}"}

    def post(actor: Any) -> Any:
        return c.post(
            "/v1/events", json={"events": [{"type": "run.note", "system": "credit-scoring", "actor": actor}]}, headers=h
        )

    r = post({"id": "alice", "role": "model_risk"})
    assert r.status_code == 200, r.text
    seq = r.json()["receipts"][0]["seq"]
    assert c.get(f"/v1/events/{seq}", headers=h).json()["event"]["actor"]["role"] == "model_risk"
    assert post({"id": "alice", "role": "compliance"}).status_code == 403  # not hers
    assert post({"id": "alice", "kind": "service"}).status_code == 403
    r = post({"id": "alice", "role": "model_risk", "extra": 1})
    assert r.status_code == 422 and r.json()["field"] == "events[0].actor"
    # A new policy takes model_risk away from alice: the server's parsed-policy cache follows it.
    with modeltrail.open(tmp_path / "t") as t:
        _, proposal = propose_policy(
            t,
            policy.replace("alice: {roles: [data_scientist, model_risk]}", "alice: {roles: [data_scientist]}"),
            actor=CAROL,
        )
        approve_policy(t, proposal.seq, actor=Actor("frank", "compliance"))
    assert post({"id": "alice", "role": "model_risk"}).status_code == 403


# ------------------------------------------------------------------------------ modeltrail serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_starts_and_answers_health(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    modeltrail.init(folder).close()
    port = _free_port()
    cli = [sys.executable, "-c", "from modeltrail.cli.main import main; main()"]
    proc = subprocess.Popen(
        [*cli, "--trail", str(folder), "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else "exited"
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "modeltrail serve did not answer within 60 s"
                time.sleep(0.1)
        assert r.status_code == 200
        assert r.json()["status"] == "ok" and r.json()["size"] >= 1
        r = httpx.get(f"http://127.0.0.1:{port}/v1/events", timeout=5)
        assert r.status_code == 401 and r.json()["error"].startswith("authentication required")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
