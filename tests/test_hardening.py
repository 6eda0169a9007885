"""Ingest and CLI hardening of issue 21 (point 9): bad input is a clear error, never a 500 or a traceback."""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import modeltrail
from modeltrail import events as events_module
from modeltrail.cli.main import main
from modeltrail.errors import PermissionDeniedError, StoreError, ValidationError
from modeltrail.events import Actor
from modeltrail.identity import create_token, resolve_identity, token_expiry
from modeltrail.ledger.encoding import loads_strict

A = Actor("alice", "data_scientist")
ADMIN = Actor("root", "admin")


@pytest.fixture()
def trail(tmp_path: Path, backend_url: str | None) -> Iterator[modeltrail.Trail]:
    t = modeltrail.init(tmp_path / "t", url=backend_url)
    yield t
    t.close()


@pytest.mark.parametrize(
    "bad,field",
    [
        ({"type": ["run.started"]}, "type"),
        ({"type": {"a": 1}}, "type"),
        ({"system": ["s"]}, "system"),
        ({"subject": {"x": 1}}, "subject"),
        ({"actor": {"id": ["x"], "role": "r"}}, "actor.id"),
        ({"actor": {"id": "x", "role": ["r"]}}, "actor.role"),
        ({"actor": Actor(["x"], "r")}, "actor.id"),  # type: ignore[arg-type]
        ({"refs": [["event:1"]]}, "refs[0]"),
        ({"refs": [{"a": 1}]}, "refs[0]"),
    ],
)
def test_a_list_or_object_where_a_string_is_expected_is_a_validation_error(
    trail: modeltrail.Trail, bad: dict[str, Any], field: str
) -> None:
    kw: dict[str, Any] = {"type": "run.started", "system": "s", "actor": A, "subject": "run:x", **bad}
    type_ = kw.pop("type")
    with pytest.raises(ValidationError) as exc:
        trail.record(type_, **kw)
    assert exc.value.field == field


def test_strict_json_names_the_field() -> None:
    with pytest.raises(ValidationError) as exc:
        loads_strict('{"events":[{"payload":{"a":1,"a":2}}]}')
    assert exc.value.field == "events[0].payload.a" and "duplicate" in exc.value.reason
    with pytest.raises(ValidationError) as exc:
        loads_strict('{"events":[{"payload":{"n":[1, 18446744073709551616]}}]}')
    assert exc.value.field == "events[0].payload.n[1]" and "2^53" in exc.value.reason
    with pytest.raises(ValidationError) as exc:
        loads_strict('{"x": -9007199254740992}')
    assert exc.value.field == "x"
    with pytest.raises(ValidationError, match="NaN"):
        loads_strict('{"x": NaN}')
    assert loads_strict('{"x": 9007199254740991}') == {"x": 2**53 - 1}


def test_validation_caches_are_bounded(trail: modeltrail.Trail) -> None:
    bound = events_module._CACHE_BOUND
    for i in range(bound + 50):
        events_module.prepare(events_module.EventInput(f"t.x{i}", f"s{i}", Actor(f"u{i}", "r"), f"ref:{i}"))
    assert len(events_module._ok_types) <= bound and len(events_module._ok_systems) <= bound
    assert len(events_module._actor_cache) <= bound


def test_ledger_files_are_owner_only(tmp_path: Path) -> None:
    with modeltrail.init(tmp_path / "t") as t:
        t.record("run.started", system="s", actor=A, subject="run:x")
        files = [p for p in (tmp_path / "t").rglob("ledger.db*")]
        assert {p.name for p in files} >= {"ledger.db", "ledger.db-wal"}
        for p in files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_a_failed_init_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        modeltrail.init(tmp_path / "new" / "deep", origin="has space")
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(ValidationError):
        modeltrail.init(kept, origin="has space")
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]


def test_tokens_may_expire(trail: modeltrail.Trail) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1)
    token = create_token(trail, "alice", ADMIN, expires=soon)
    assert resolve_identity(trail, None, token=token).user_id == "alice"
    created = next(iter(trail.events("token.created", descending=True, limit=1)))
    assert created.payload["expires"].startswith(soon.strftime("%Y-%m-%dT%H:%M"))
    time.sleep(1.1)
    with pytest.raises(PermissionDeniedError, match="expired"):
        resolve_identity(trail, None, token=token)
    now = datetime(2027, 1, 1, tzinfo=UTC)
    assert token_expiry("30d", now) == now + timedelta(days=30)
    assert token_expiry("P1Y", now) == datetime(2028, 1, 1, tzinfo=UTC)
    assert token_expiry("2027-02-01T00:00:00Z", now) == datetime(2027, 2, 1, tzinfo=UTC)
    for bad in ("soon", "-1d", "2020-01-01T00:00:00Z"):
        with pytest.raises(ValidationError):
            token_expiry(bad, now)


def test_cli_token_create_expires(trail: modeltrail.Trail) -> None:
    from _registry_support import POLICY
    from modeltrail.registry import register_policy

    register_policy(trail, POLICY, actor=ADMIN)  # root holds admin (roles.tokens) in it
    r = CliRunner().invoke(
        main,
        ["--trail", str(trail.path), "token", "create", "bob", "--expires", "12h"],
        env={"MODELTRAIL_USER": "root"},
    )
    assert r.exit_code == 0, r.output
    assert "expires at" in r.stderr
    bad = CliRunner().invoke(
        main,
        ["--trail", str(trail.path), "token", "create", "bob", "--expires", "later"],
        env={"MODELTRAIL_USER": "root"},
    )
    assert bad.exit_code == 2 and "expires" in bad.stderr and "Traceback" not in bad.output


def _one_line_error(r: Any) -> None:
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert r.exit_code in (1, 2) and r.stderr.startswith("error:") and "Traceback" not in r.output


def test_cli_prints_one_line_errors(tmp_path: Path) -> None:
    with modeltrail.init(tmp_path / "t") as t:
        t.checkpoint()
    runner = CliRunner()
    base = ["--trail", str(tmp_path / "t")]
    rec = [*base, "record", "run.started", "--system", "s", "--actor", "a", "--actor-role", "r"]
    r = runner.invoke(main, [*rec, "--payload", f"@{tmp_path / 'missing.json'}"])
    _one_line_error(r)
    assert "missing.json" in r.stderr
    r = runner.invoke(main, [*rec, "--payload", '{"a":1,"a":2}'])
    _one_line_error(r)
    assert "payload.a" in r.stderr
    _one_line_error(runner.invoke(main, [*base, "show", "1180591620717411303424"]))
    binary = tmp_path / "cp.note"
    binary.write_bytes(os.urandom(256))
    _one_line_error(runner.invoke(main, [*base, "verify", "--checkpoint", str(binary)]))
    cfg = next((tmp_path / "t").rglob("config.json"))
    for broken in ("{bad", "[1]", '{"nothing": 1}'):
        cfg.write_text(broken)
        r = runner.invoke(main, [*base, "verify"])
        _one_line_error(r)
        assert "config.json" in "".join(r.stderr.split())


def test_a_database_password_never_appears_in_a_message() -> None:
    pytest.importorskip("psycopg")
    from modeltrail.ledger.pgstore import PostgresStore

    secret = "s3cr3t-Pa55"
    for url in (
        f"postgresql://mt:{secret}@127.0.0.1:1/nodb?connect_timeout=1",
        f"postgresql://mt:{secret}@127.0.0.1:1/nodb?bogus_option=1",
    ):
        with pytest.raises(StoreError) as exc:
            PostgresStore(url, connect_timeout=1)
        assert secret not in str(exc.value) and exc.value.__cause__ is None


# ------------------------------------------------------------------------------------------ HTTP


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from modeltrail.server import create_app

    with modeltrail.init(tmp_path / "t") as t:
        token = create_token(t, "svc", ADMIN, kind="service")
    app = create_app(str(tmp_path / "t"), max_body_bytes=4096)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, {"Authorization": f"Bearer {token}"}


def test_http_bad_shapes_answer_422_with_the_field(client: tuple[Any, dict[str, str]]) -> None:
    c, auth = client
    cases = [
        ({"type": ["x"], "system": "s"}, "events[0].type"),
        ({"type": "run.started", "system": {"a": 1}}, "events[0].system"),
        ({"type": "run.started", "system": "s", "subject": ["x"]}, "events[0].subject"),
        ({"type": "run.started", "system": "s", "refs": [["event:1"]]}, "events[0].refs[0]"),
        ({"type": "run.started", "system": "s", "actor": {"id": ["svc"]}}, None),
    ]
    for event, field in cases:
        r = c.post("/v1/events", json={"events": [event]}, headers=auth)
        assert r.status_code in (403, 422), (event, r.status_code, r.text)
        if field is not None:
            assert (r.status_code, r.json().get("field")) == (422, field)


def test_http_duplicate_keys_and_big_integers_are_refused(client: tuple[Any, dict[str, str]]) -> None:
    c, auth = client
    head = {**auth, "content-type": "application/json"}
    dup = b'{"events":[{"type":"run.started","system":"s","payload":{"a":1,"a":2}}]}'
    r = c.post("/v1/events", content=dup, headers=head)
    assert (r.status_code, r.json()["field"]) == (422, "events[0].payload.a")
    big = b'{"events":[{"type":"run.started","system":"s","payload":{"n":18446744073709551616}}]}'
    r = c.post("/v1/events", content=big, headers=head)
    assert (r.status_code, r.json()["field"]) == (422, "events[0].payload.n")


def test_http_chunked_body_over_the_limit_gets_413(client: tuple[Any, dict[str, str]]) -> None:
    c, auth = client

    def chunks() -> Iterator[bytes]:
        yield b'{"events":[{"type":"run.started","system":"s","payload":{"x":"'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}}]}'

    r = c.post("/v1/events", content=chunks(), headers={**auth, "content-type": "application/json"})
    assert r.status_code == 413


def test_header_timeout_closes_a_slow_client(tmp_path: Path) -> None:
    uvicorn = pytest.importorskip("uvicorn")
    from modeltrail.server import create_app
    from modeltrail.server.http11 import HeaderTimeoutProtocol, uvicorn_options

    modeltrail.init(tmp_path / "t").close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    opts = uvicorn_options()
    opts["http"] = type("Quick", (HeaderTimeoutProtocol,), {"header_timeout": 0.5})
    config = uvicorn.Config(create_app(str(tmp_path / "t")), host="127.0.0.1", port=port, log_level="error", **opts)
    server = uvicorn.Server(config)
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b"200 OK" in s.recv(4096)  # a prompt client is served, and kept alive
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHo")  # ... and never finishes its headers
            started = time.monotonic()
            assert s.recv(4096) == b""  # closed by the server
            assert time.monotonic() - started < 4
    finally:
        server.should_exit = True
        th.join(10)


def test_http_ingest_refuses_governance_types(client: tuple[Any, dict[str, str]]) -> None:
    c, auth = client
    for type_ in ("model.resumed", "model.approved", "policy.registered", "policy.proposed", "oversight.reviewed"):
        r = c.post("/v1/events", json={"events": [{"type": type_, "system": "s"}]}, headers=auth)
        assert r.status_code == 422, (type_, r.text)
        assert r.json()["field"] == "events[0].type" and "modeltrail" in r.json()["error"]


# ------------------------------------------------------------------------------------ disk full


def test_a_full_disk_is_modeltrails_own_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from modeltrail.policy import parse_policy
    from modeltrail.runtime import guard

    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    policy = parse_policy("system: s\nrisk_tier: minimal\ndata_policy: {fields: {secret: seal}, default: keep}\n")
    t = modeltrail.init(tmp_path / "t")
    # Closed at the end, where the logger reports the failed batch once more.
    g = guard(t, model, name="m", policy=policy, feature_names=["a", "b"])
    g.decide({"a": 0.1, "b": 0.2, "secret": "x"}, subject="applicant:1").durable(10)
    # SQLite's own "database or disk is full": every connection may grow no more.
    for conn in t.store._all:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreError, match="full"):
        for i in range(5000):
            g.decide({"a": 0.1, "b": 0.2, "secret": f"s{i}" * 50}, subject=f"applicant:{i}").durable(10)
    for conn in t.store._all:
        conn.execute("PRAGMA max_page_count = 1073741823")

    # Files: blobs in the folder, the known-head copy of each checkpoint.
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StoreError, match="No space left"):
        t.blobs.put_bytes(os.urandom((1 << 20) + 1))  # large: a file in blobs/
    with pytest.raises(StoreError, match="known-head"):
        t.checkpoint()
    assert not [p for p in (tmp_path / "t").rglob("*.tmp")]
    assert not [p for p in (tmp_path / "t").rglob("blobs/**/*") if p.is_file() and p.name.startswith(".")]
    monkeypatch.undo()
    with pytest.raises(StoreError, match="not recorded"):
        t.close()  # the decisions that failed are reported once more, not dropped silently
