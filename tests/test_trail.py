"""Trail API: init/open, record and record_many, validation, queries, concurrency, checkpoints."""

from __future__ import annotations

import multiprocessing as mp
import threading
from pathlib import Path

import pytest

import modeltrail
from modeltrail.errors import TrailExistsError, TrailNotFoundError, ValidationError
from modeltrail.events import Actor, EventInput, PreparedEvents, prepare
from modeltrail.ledger import merkle

ALICE = Actor("alice", "data_scientist")


@pytest.fixture
def trail(tmp_path: Path, backend_url: str | None) -> modeltrail.Trail:
    t = modeltrail.init(tmp_path / "t", url=backend_url)
    yield t
    t.close()


def test_init_creates_layout_and_first_event(tmp_path: Path, backend_url: str | None) -> None:
    t = modeltrail.init(tmp_path / "proj", url=backend_url)
    folder = tmp_path / "proj" / ".modeltrail"
    assert t.path == folder
    assert (folder / "blobs").is_dir()
    assert (folder / "keys").stat().st_mode & 0o077 == 0
    first = t.get_event(0)
    assert first.type == "trail.initialized"
    assert first.payload["verifier_key"] == t.signer().verifier_key()
    cp = t.latest_checkpoint()
    assert cp is not None and cp.size == 1
    with pytest.raises(TrailExistsError):
        modeltrail.init(tmp_path / "proj", url=backend_url)
    t.close()


def test_open_missing_trail(tmp_path: Path) -> None:
    with pytest.raises(TrailNotFoundError):
        modeltrail.open(tmp_path / "nothing")


def test_open_finds_trail_in_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modeltrail.init(tmp_path).close()
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    monkeypatch.delenv("MODELTRAIL_URL", raising=False)
    with modeltrail.open() as t:
        assert t.path == tmp_path / ".modeltrail"


def test_record_returns_durable_receipt(trail: modeltrail.Trail) -> None:
    r = trail.record(
        "model.registered",
        system="credit-scoring",
        actor=ALICE,
        subject="model:credit@1",
        payload={"name": "credit", "auc": 0.81},
        refs=["event:0"],
    )
    assert r.seq == 1
    ev = trail.get_event(1)
    assert ev.leaf_hash.hex() == r.leaf_hash
    assert merkle.leaf_hash(ev.leaf) == ev.leaf_hash
    assert ev.payload == {"name": "credit", "auc": 0.81}
    assert ev.actor == ALICE and ev.ts == r.ts and ev.ts.endswith("Z")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"type": "Bad Type"}, "type"),
        ({"type": "nodots"}, "type"),
        ({"system": "has space"}, "system"),
        ({"actor": {"id": "x"}}, "actor"),
        ({"actor": {"id": "x", "role": "Bad Role"}}, "actor.role"),
        ({"actor": {"id": "x", "role": "r", "kind": "robot"}}, "actor.kind"),
        ({"payload": {"x": float("nan")}}, "payload.x"),
        ({"payload": {1: 2}}, "payload"),
        ({"payload": [1]}, "payload"),
        ({"refs": ["no-colon"]}, "refs[0]"),
        ({"subject": ""}, "subject"),
    ],
)
def test_invalid_events_rejected_and_nothing_written(trail: modeltrail.Trail, kwargs: dict, field: str) -> None:
    args = {"type": "run.started", "system": "s", "actor": ALICE, "payload": {}}
    args.update(kwargs)
    before = trail.size()
    with pytest.raises(ValidationError) as err:
        trail.record(args.pop("type"), **args)
    assert err.value.field == field
    assert trail.size() == before


def test_payload_size_limit(tmp_path: Path) -> None:
    t = modeltrail.init(tmp_path)
    with pytest.raises(ValidationError, match="over the limit") as err:
        t.record("run.params", system="s", actor=ALICE, payload={"blob": "x" * (1024 * 1024 + 1)})
    assert err.value.field == "payload"
    t.close()


def test_record_many_is_atomic(trail: modeltrail.Trail) -> None:
    good = EventInput("run.started", "s", ALICE, payload={"i": 1})
    bad = EventInput("run.ended", "s", ALICE, payload={"x": float("inf")})
    before = trail.size()
    with pytest.raises(ValidationError) as err:
        trail.record_many([good, good, bad])
    assert err.value.field == "events[2].payload.x"
    assert trail.size() == before
    receipts = trail.record_many([good, {"type": "run.ended", "system": "s", "actor": {"id": "a", "role": "r"}}])
    assert [r.seq for r in receipts] == [before, before + 1]


def test_events_filters(trail: modeltrail.Trail) -> None:
    for i in range(5):
        trail.record("model.registered", system="s", actor=ALICE, subject=f"model:m@{i}")
        trail.record("run.started", system="s", actor=ALICE, subject="run:r")
    assert [e.subject for e in trail.events("model.*")] == [f"model:m@{i}" for i in range(5)]
    assert len(list(trail.events(subject="run:r"))) == 5
    assert len(list(trail.events("*.started", limit=2))) == 2
    last = next(trail.events(descending=True))
    assert last.seq == trail.size() - 1
    assert list(trail.events("model_registered")) == []  # '_' is literal, not a LIKE wildcard
    ts = trail.get_event(3).ts
    assert all(e.ts >= ts for e in trail.events(since=ts))


def test_threads_get_dense_sequence(trail: modeltrail.Trail) -> None:
    seqs: list[int] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        for i in range(50):
            r = trail.record("inference.decision", system="s", actor=ALICE, payload={"k": k, "i": i})
            with lock:
                seqs.append(r.seq)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(seqs) == list(range(1, 401))
    assert trail.verify().ok


def _proc_writer(path: str, k: int, n: int) -> None:
    t = modeltrail.open(path)
    for i in range(n):
        t.record(
            "inference.decision",
            system="s",
            actor={"id": f"p{k}", "role": "svc", "kind": "service"},
            payload={"i": i},
        )
    t.close()


def test_processes_get_dense_sequence_and_one_tree(tmp_path: Path) -> None:
    t = modeltrail.init(tmp_path)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_proc_writer, args=(str(tmp_path), k, 150)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert t.size() == 601
    assert [r.seq for r in t.rows()] == list(range(601))
    t.checkpoint()
    res = t.verify()
    assert res.ok, res.problems
    t.close()


def test_automatic_checkpoints(tmp_path: Path) -> None:
    t = modeltrail.init(tmp_path, checkpoint_every_events=10)
    for i in range(25):
        t.record("run.metrics", system="s", actor=ALICE, payload={"i": i})
    sizes = [cp.size for cp in t.checkpoints()]
    assert sizes == [1, 11, 21]
    assert t.verify().ok
    t.close()


def test_inclusion_and_consistency_proofs_verify(trail: modeltrail.Trail) -> None:
    for i in range(40):
        trail.record("run.metrics", system="s", actor=ALICE, payload={"i": i})
    cp = trail.checkpoint()
    import base64

    for seq in (0, 1, 17, 40):
        p = trail.inclusion_proof(seq)
        assert p.tree_size == cp.size and p.checkpoint == cp.note and p.root == cp.root
        merkle.verify_inclusion(p.leaf_hash, seq, p.tree_size, p.hashes, cp.root)
        p.verify()
        # The JSON form (CLI and HTTP) carries the same proof in base64.
        d = p.to_dict()
        assert d["tree_size"] == cp.size and d["checkpoint"] == cp.note
        assert [base64.b64decode(x) for x in d["proof"]] == list(p.hashes)
    c = trail.consistency_proof(5, cp.size)
    merkle.verify_consistency(5, cp.size, c.old_root, cp.root, c.hashes)
    c.verify()
    assert base64.b64decode(c.to_dict()["old_root"]) == c.old_root
    assert trail.log.root(cp.size) == merkle.root_of([r.leaf_hash for r in trail.rows()])


def test_key_rotation_keeps_old_checkpoints_verifiable(trail: modeltrail.Trail) -> None:
    old_key = trail.signer().verifier_key()
    trail.record("run.started", system="s", actor=ALICE)
    trail.checkpoint()
    trail.rotate_key(Actor("root", "admin"))
    assert trail.signer().verifier_key() != old_key
    assert old_key in trail.verifier_keys()
    rot = next(trail.events("key.rotated"))
    assert rot.payload["old_verifier_key"] == old_key
    res = trail.verify()
    assert res.ok, res.problems
    assert res.checkpoints_checked >= 4


_TYPES = [
    "model.registered",
    "model.approved",
    "model.approval_refused",
    "model.deployed",
    "modelx.other",
    "run.started",
    "run.ended",
    "policy.registered",
    "gate.evaluated",
    "inference.decision",
]


@pytest.mark.parametrize(
    "glob", ["model.*", "model.app*", "*.registered", "Model.*", "run.?nded", "model.approval_*", "m*", "*"]
)
def test_type_globs_match_fnmatch_on_both_backends(tmp_path: Path, backend_url: str | None, glob: str) -> None:
    import fnmatch

    t = modeltrail.init(tmp_path / "t", url=backend_url)
    try:
        # The ledger's raw append (below Trail.append_prepared, which refuses governance types).
        batch = [prepare(EventInput(ty, "s", ALICE, subject=f"n:{i}")) for i, ty in enumerate(_TYPES * 3)]
        t.log.append([PreparedEvents(batch)])
        got = [e.type for e in t.events(glob)]
        # Globs are case-sensitive on both backends (SQLite's LIKE alone would not be).
        expected = [e.type for e in t.events() if fnmatch.fnmatchcase(e.type, glob)]
        assert got == expected and (got or glob == "Model.*")
    finally:
        t.close()


def test_prefix_globs_use_the_type_index_on_sqlite(tmp_path: Path) -> None:
    from modeltrail.ledger.store import EventQuery, event_query_sql

    t = modeltrail.init(tmp_path / "t")
    try:
        sql, args = event_query_sql(EventQuery(type_like="model.%"), "seq", "?", binary_ranges=True)
        plan = " ".join(str(r) for r in t.store._conn().execute("EXPLAIN QUERY PLAN " + sql, args).fetchall())
        assert "events_type" in plan, plan
    finally:
        t.close()


def test_append_prepared_receipts_are_a_lazy_view_of_the_ledger(trail: modeltrail.Trail) -> None:
    from modeltrail.events import Receipts, prepare

    actor = Actor("svc", "inference", "service")
    events = [prepare(EventInput("inference.decision", "s", actor, f"decision:{i:032x}", {"i": i})) for i in range(7)]
    receipts = trail.append_prepared(events)
    assert isinstance(receipts, Receipts) and len(receipts) == 7
    for r in receipts:
        assert trail.get_event(r.seq).leaf_hash.hex() == r.leaf_hash and r.ts == receipts.ts
    assert [r.seq for r in receipts] == list(range(receipts.first_seq, receipts.first_seq + 7))
    # Slices are views with the same receipts; negative indexes and bounds behave as for a list.
    tail = receipts[2:5]
    assert list(tail) == list(receipts)[2:5] and tail.first_seq == receipts[2].seq
    assert tail.hashes_hex() == "".join(r.leaf_hash for r in list(receipts)[2:5])
    assert receipts[-1] == list(receipts)[-1] and len(receipts[5:50]) == 2 and len(receipts[6:2]) == 0
    with pytest.raises(IndexError):
        receipts[7]
    with pytest.raises(ValueError):
        receipts[::2]
    # record_many keeps returning a plain list.
    assert isinstance(trail.record_many([EventInput("x.y", "s", actor)]), list)


def test_new_sqlite_ledgers_use_32k_pages(tmp_path: Path) -> None:
    import sqlite3

    from modeltrail.ledger.store import PAGE_SIZE

    modeltrail.init(tmp_path).close()
    db = next((tmp_path / ".modeltrail").glob("*.db"))
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 32768
