"""The embedded SQLite backend: all-or-nothing multi-row appends and the page-cache policy behind appends."""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path

import pytest

import modeltrail
from modeltrail.errors import StoreError
from modeltrail.events import Actor, EventInput
from modeltrail.ledger import store as store_mod
from modeltrail.ledger.store import EventRows, SqliteStore

ACTOR = Actor("svc", "inference", "service")


def _rows(start: int, count: int, *, bad_at: int | None = None) -> EventRows:
    rows = EventRows(count)
    leaves = [b'{"seq":%d}' % (start + i) for i in range(count)]
    if bad_at is not None:
        leaves[bad_at] = None  # type: ignore[call-overload]  # violates NOT NULL in the middle of the batch
    columns = (
        range(start, start + count),
        ["2026-12-04T00:00:00.000000Z"] * count,
        ["x.y"] * count,
        ["s"] * count,
        [f"decision:{start + i}" for i in range(count)],
        ["svc"] * count,
        leaves,
        [hashlib.sha256(b"%d" % (start + i)).digest() for i in range(count)],
    )
    for column, values in enumerate(columns):
        rows.set_column(column, 0, values)
    return rows


def test_a_failing_row_late_in_a_multi_row_append_leaves_nothing_behind(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "ledger.db")
    try:
        with store.append_txn() as txn:
            txn.insert(_rows(0, 10), [])
        # 600 rows are three multi-row INSERTs (256 + 256 + 88 in chunks); the bad row is in the third.
        with pytest.raises(StoreError, match="nothing was recorded"), store.append_txn() as txn:
            txn.insert(_rows(10, 600, bad_at=550), [(1, b"n" * 32)])
        assert store.size() == 10
        assert store.nodes([1]) == {}
        assert store.execute("SELECT count(*) FROM events WHERE seq >= 10") == [(0,)]
        # The connection is usable again and the positions are free.
        with store.append_txn() as txn:
            txn.insert(_rows(10, 600), [])
        assert store.size() == 610
        assert store.leaf_hashes(10, 12) == [hashlib.sha256(b"10").digest(), hashlib.sha256(b"11").digest()]
    finally:
        store.close()


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="the OS has no posix_fadvise")
def test_appends_drop_the_page_cache_behind_them_in_contiguous_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_mod, "CACHE_BEHIND_KEEP", 64 * 1024)
    monkeypatch.setattr(store_mod, "_CACHE_BEHIND_STEP", 32 * 1024)
    calls: list[tuple[int, int, int]] = []
    real = os.posix_fadvise

    def recording(fd: int, offset: int, length: int, advice: int) -> None:
        calls.append((offset, length, advice))
        real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", recording)
    trail = modeltrail.init(tmp_path, checkpoint_every_events=10**9)
    # Pages reach the database file at WAL checkpoints: make every commit one (the default is 1,000 pages).
    trail.log.store.execute("PRAGMA wal_autocheckpoint=1")
    try:
        for i in range(40):
            trail.record_many(
                [EventInput("x.y", "s", ACTOR, f"decision:{i}-{k}", {"blob": "z" * 2000}) for k in range(20)]
            )
        store = trail.log.store
        assert isinstance(store, SqliteStore)
        assert calls, "nothing was dropped although the file grew far past the kept tail"
        assert all(advice == os.POSIX_FADV_DONTNEED for _, _, advice in calls)
        # Each call starts where the previous one ended: a range is dropped once, never again.
        assert calls[0][0] == 0
        for (o1, n1, _), (o2, _, _) in itertools.pairwise(calls):
            assert o2 == o1 + n1
        end = calls[-1][0] + calls[-1][1]
        assert end <= store.path.stat().st_size - store_mod.CACHE_BEHIND_KEEP
        # Dropping is only a cache hint: everything reads back and verifies.
        assert trail.verify().ok
        assert trail.get_event(5) is not None
    finally:
        trail.close()
    assert store._behind_fd is None


def test_without_posix_fadvise_appends_work_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "posix_fadvise", raising=False)
    monkeypatch.setattr(store_mod, "CACHE_BEHIND_KEEP", 0)
    trail = modeltrail.init(tmp_path)
    try:
        trail.record_many([EventInput("x.y", "s", ACTOR, None, {"i": i}) for i in range(50)])
        store = trail.log.store
        assert isinstance(store, SqliteStore) and store._behind_fd is None
        assert trail.verify().ok
    finally:
        trail.close()


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="the OS has no posix_fadvise")
def test_a_store_drops_only_what_its_own_appends_left_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "CACHE_BEHIND_KEEP", 64 * 1024)
    monkeypatch.setattr(store_mod, "_CACHE_BEHIND_STEP", 32 * 1024)
    trail = modeltrail.init(tmp_path, checkpoint_every_events=10**9)
    trail.log.store.execute("PRAGMA wal_autocheckpoint=1")
    trail.record_many([EventInput("x.y", "s", ACTOR, None, {"blob": "z" * 2000}) for _ in range(400)])
    trail.close()
    size = (tmp_path / ".modeltrail" / "ledger.db").stat().st_size
    assert size > 4 * 64 * 1024
    # Another process (here: another store) appends one event to the big file: nothing is dropped.
    calls: list[tuple[int, int]] = []
    real = os.posix_fadvise
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, o, n, a: (calls.append((o, n)), real(fd, o, n, a))[1])
    again = modeltrail.open_trail(tmp_path)
    try:
        again.record("x.y", system="s", actor=ACTOR, payload={"one": 1})
        assert calls == []
        again.log.store.execute("PRAGMA wal_autocheckpoint=1")
        again.record_many([EventInput("x.y", "s", ACTOR, None, {"blob": "z" * 2000}) for _ in range(100)])
        # What it appended itself is dropped once far enough behind, starting where the file was.
        assert calls and calls[0][0] >= size - 64 * 1024 - 32 * 1024
    finally:
        again.close()
