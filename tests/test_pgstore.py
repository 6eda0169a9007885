"""PostgreSQL backend specifics: concurrent writers, URL handling, exact bytes, and the whole product
(lineage, registry, runtime, projections) running on it through the demo."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

import modeltrail
from modeltrail.errors import StoreError, ValidationError
from modeltrail.events import Actor, EventInput
from modeltrail.ledger.pgstore import PostgresStore, advisory_key, split_url

pytestmark = pytest.mark.postgres


def test_split_url_strips_own_params_and_validates_schema() -> None:
    conninfo, schema = split_url("postgresql://u:secret@db.example:5432/app?schema=credit_log&home=/x&sslmode=require")
    assert schema == "credit_log"
    assert conninfo == "postgresql://u:secret@db.example:5432/app?sslmode=require"
    assert split_url("postgres://h/db")[1] == "modeltrail"
    with pytest.raises(ValidationError) as err:
        split_url("postgresql://h/db?schema=Drop Table")
    assert err.value.field == "schema"


def test_advisory_key_is_stable() -> None:
    assert advisory_key("modeltrail") == advisory_key("modeltrail")
    assert advisory_key("a") != advisory_key("b")
    assert -(2**63) <= advisory_key("modeltrail") < 2**63


def test_unreachable_server_is_a_clear_store_error() -> None:
    with pytest.raises(StoreError, match="cannot") as err:
        PostgresStore("postgresql://nobody:pw@127.0.0.1:1/none?schema=x", connect_timeout=1)
    assert "pw" not in str(err.value)  # the password is never echoed


def test_bytes_round_trip_exactly(tmp_path: Path, pg_url: str) -> None:
    t = modeltrail.init(tmp_path, url=pg_url)
    payload = {"s": "é\u2028\x00\x7f😀", "f": 0.1, "big": 2**53 - 1, "nested": {"z": [1, None, True]}}
    r = t.record("run.params", system="s", actor=Actor("a", "r"), payload=payload)
    ev = t.get_event(r.seq)
    assert ev.payload == payload and ev.leaf_hash.hex() == r.leaf_hash
    t.close()


def _writer(folder: str, k: int, n: int) -> None:
    t = modeltrail.open(folder)
    actor = {"id": f"p{k}", "role": "svc", "kind": "service"}
    for i in range(n):
        if i % 5 == 0:
            t.record_many(
                [EventInput("inference.decision", "s", actor, payload={"k": k, "i": i, "j": j}) for j in range(10)]
            )
        else:
            t.record("inference.decision", system="s", actor=actor, payload={"k": k, "i": i})
    t.close()


def test_four_processes_append_dense_sequence_one_tree(tmp_path: Path, pg_url: str) -> None:
    t = modeltrail.init(tmp_path, url=pg_url, checkpoint_every_events=200)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), k, 60)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0
    expected = 1 + 4 * (48 + 12 * 10)
    assert t.size() == expected
    assert [r.seq for r in t.rows()] == list(range(expected))
    t.checkpoint()
    res = t.verify()
    assert res.ok, res.problems
    assert res.checkpoints_checked >= 2
    t.close()


def test_demo_runs_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    from modeltrail.demo import run_demo

    result = run_demo(tmp_path / "demo", decisions=120, seed=7, url=pg_url)
    assert result.verify_ok
    assert sorted(result.gates.values()) == [False, True]
    assert result.counts["model.approval_refused"] == 1 and result.counts["model.approved"] == 2
    assert result.reconstructed["proof_verified"] is True
    from modeltrail import projections

    with modeltrail.open(tmp_path / "demo") as t:
        assert t.store.url.startswith("postgresql://")
        live = projections.snapshot(t)
        projections.rebuild(t)
        assert projections.snapshot(t) == live


def test_password_never_stored_and_nearest_folder_found(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import stat

    with_password = pg_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@")
    t = modeltrail.init(tmp_path / "proj", url=with_password)  # the test server trusts local connections
    t.close()
    cfg = tmp_path / "proj" / ".modeltrail" / "config.json"
    assert "s3cret" not in cfg.read_text()
    assert json.loads(cfg.read_text())["url"].startswith("postgresql://postgres@")
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    sub = tmp_path / "proj" / "src"
    sub.mkdir()
    monkeypatch.chdir(sub)
    with modeltrail.open(pg_url) as t2:  # no home=: the nearest trail folder holds keys and blobs
        assert t2.path == tmp_path / "proj" / ".modeltrail"
        assert t2.verify().ok
