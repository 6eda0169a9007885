"""Chunked and parallel verification: results identical to the serial path across chunk boundaries,
and tampering found in any chunk, in nodes spanning chunks, and at checkpoints inside chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

import modeltrail
from modeltrail.events import Actor, EventInput
from modeltrail.ledger import merkle, verify
from modeltrail.ledger.store import node_id

N = 40_000  # more than two chunks of 16,384


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("big")
    t = modeltrail.init(folder, checkpoint_every_events=7_777)
    actor = Actor("svc", "service", "service")
    for lo in range(0, N, 5_000):
        t.record_many([EventInput("inference.decision", "s", actor, payload={"i": i}) for i in range(lo, lo + 5_000)])
    t.checkpoint()
    t.close()
    return folder


def _copy(big: Path, tmp_path: Path) -> modeltrail.Trail:
    import shutil

    shutil.copytree(big, tmp_path / "t")
    return modeltrail.open(tmp_path / "t")


@pytest.mark.parametrize("workers", [1, 2])
def test_clean_log_same_result_serial_and_parallel(big: Path, workers: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "PARALLEL_MIN_EVENTS", 1)
    with modeltrail.open(big) as t:
        res = t.verify(workers=workers)
        assert res.ok, res.problems
        assert res.events_checked == N + 1
        assert res.root == merkle.root_of([r.leaf_hash for r in t.rows()]).hex()
        assert res.nodes_checked == sum((N + 1) >> lv for lv in range(4, 17))
        assert res.checkpoints_checked == len(t.checkpoints()) >= 6


@pytest.mark.parametrize("workers", [1, 2])
def test_tampering_in_a_later_chunk(big: Path, tmp_path: Path, workers: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "PARALLEL_MIN_EVENTS", 1)
    t = _copy(big, tmp_path)
    leaf = t.get_event(20_001).leaf.replace(b'"i":20000', b'"i":20009')
    t.store.execute("UPDATE events SET leaf = ? WHERE seq = ?", (leaf, 20_001))
    res = t.verify(workers=workers)
    assert res.first_problem.kind == "event_hash" and res.first_problem.seq == 20_001
    t.close()


def test_node_spanning_chunks_modified(big: Path, tmp_path: Path) -> None:
    t = _copy(big, tmp_path)
    t.store.execute("UPDATE nodes SET hash = ? WHERE id = ?", (b"\x01" * 32, node_id(15, 0)))
    res = t.verify()
    assert res.first_problem.kind == "node" and "level 15 index 0" in res.first_problem.message
    t.close()


def test_checkpoint_inside_a_chunk_checked(big: Path, tmp_path: Path) -> None:
    t = _copy(big, tmp_path)
    cp = next(c for c in t.checkpoints() if c.size % (1 << verify.CHUNK_LEVEL) and c.size > 1 << verify.CHUNK_LEVEL)
    rows = [r for r in t.rows(cp.size - 3, cp.size - 2)]
    forged = rows[0].leaf.replace(b'"i":', b'"i":1')
    t.store.execute(
        "UPDATE events SET leaf = ?, leaf_hash = ? WHERE seq = ?", (forged, merkle.leaf_hash(forged), cp.size - 3)
    )
    res = t.verify(max_problems=100)
    assert any(p.kind == "checkpoint_root" and p.checkpoint == cp.id for p in res.problems)
    t.close()


def test_missing_tail_of_a_middle_chunk(big: Path, tmp_path: Path) -> None:
    t = _copy(big, tmp_path)
    t.store.execute("DELETE FROM events WHERE seq >= ? AND seq < ?", (16_380, 16_384))
    res = t.verify()
    assert res.first_problem.kind == "event_missing" and res.first_problem.seq == 16_380
    t.close()
