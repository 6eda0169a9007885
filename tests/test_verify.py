"""verify detects every kind of tampering, naming the first bad seq or checkpoint (one test per case)."""

from __future__ import annotations

from pathlib import Path

import pytest

import modeltrail
from modeltrail.events import Actor
from modeltrail.governance import knownhead
from modeltrail.ledger import merkle
from modeltrail.ledger.note import Checkpoint, NoteSigner, sign_checkpoint
from modeltrail.ledger.store import NODE_MIN_LEVEL, node_id

ALICE = Actor("alice", "data_scientist")
N = 70


@pytest.fixture
def trail(tmp_path: Path, backend_url: str | None) -> modeltrail.Trail:
    t = modeltrail.init(tmp_path / "t", url=backend_url)
    for i in range(N):
        t.record(
            "inference.decision",
            system="s",
            actor=ALICE,
            subject=f"decision:{i}",
            payload={"i": i, "score": i / N},
        )
    t.checkpoint()
    yield t
    t.close()


def _rows(t: modeltrail.Trail) -> list[tuple]:
    return [(r.seq, r.ts, r.type, r.system, r.subject, r.actor_id, r.leaf, r.leaf_hash) for r in t.rows()]


def _rewrite(t: modeltrail.Trail, rows: list[tuple], *, rebuild_nodes: bool) -> None:
    """Replace the whole events table (and optionally a consistent node table) as an attacker could."""
    t.store.execute("DELETE FROM events")
    for r in rows:
        t.store.execute(
            "INSERT INTO events (seq, ts, type, system, subject, actor_id, leaf, leaf_hash) VALUES (?,?,?,?,?,?,?,?)",
            r,
        )
    if rebuild_nodes:
        t.store.execute("DELETE FROM nodes")
        f = merkle.Frontier()
        done: list[tuple[int, int, bytes]] = []
        for r in rows:
            f.append(r[7], done)
        for lv, ix, h in done:
            if lv >= NODE_MIN_LEVEL:
                t.store.execute("INSERT INTO nodes (id, hash) VALUES (?, ?)", (node_id(lv, ix), h))


def _truncate(t: modeltrail.Trail, keep: int) -> None:
    """Delete events from ``keep`` on and every stored node that covered them."""
    t.store.execute("DELETE FROM events WHERE seq >= ?", (keep,))
    for (nid,) in t.store.execute("SELECT id FROM nodes"):
        lv, ix = nid >> 48, nid & ((1 << 48) - 1)
        if (ix + 1) << lv > keep:
            t.store.execute("DELETE FROM nodes WHERE id = ?", (nid,))


def _flip(b: bytes, i: int) -> bytes:
    return b[:i] + bytes([b[i] ^ 0x01]) + b[i + 1 :]


def test_clean_trail_verifies(trail: modeltrail.Trail) -> None:
    res = trail.verify()
    assert res.ok, res.problems
    assert res.events_checked == N + 1
    assert res.nodes_checked == (N + 1) // 16 + (N + 1) // 32 + (N + 1) // 64
    assert res.root == trail.log.root().hex()


def test_modified_event_byte(trail: modeltrail.Trail) -> None:
    leaf = trail.get_event(30).leaf
    i = leaf.index(b'"score":') + 9
    trail.store.execute("UPDATE events SET leaf = ? WHERE seq = ?", (_flip(leaf, i), 30))
    res = trail.verify()
    assert not res.ok
    assert res.first_problem.kind == "event_hash" and res.first_problem.seq == 30


def test_modified_event_with_recomputed_hash(trail: modeltrail.Trail) -> None:
    leaf = trail.get_event(30).leaf.replace(b'"i":29', b'"i":99')
    trail.store.execute("UPDATE events SET leaf = ?, leaf_hash = ? WHERE seq = ?", (leaf, merkle.leaf_hash(leaf), 30))
    res = trail.verify()
    assert not res.ok
    kinds = {p.kind for p in res.problems}
    assert "node" in kinds and "checkpoint_root" in kinds
    assert res.first_problem.seq is not None and res.first_problem.seq <= 30


def test_deleted_event(trail: modeltrail.Trail) -> None:
    trail.store.execute("DELETE FROM events WHERE seq = ?", (42,))
    res = trail.verify()
    assert res.first_problem.kind == "event_missing" and res.first_problem.seq == 42


def test_inserted_event(trail: modeltrail.Trail) -> None:
    rows = _rows(trail)
    forged = bytearray(rows[20][6])
    new = rows[:20] + [rows[20]] + [(r[0] + 1, *r[1:]) for r in rows[20:]]
    _rewrite(trail, new, rebuild_nodes=False)
    res = trail.verify()
    assert not res.ok
    assert res.first_problem.kind == "event_seq" and res.first_problem.seq == 21
    assert forged  # the forged row is a copy of an existing leaf placed at a new position


def test_reordered_events(trail: modeltrail.Trail) -> None:
    rows = _rows(trail)
    rows[10], rows[11] = (10, *rows[11][1:]), (11, *rows[10][1:])
    _rewrite(trail, rows, rebuild_nodes=True)
    res = trail.verify()
    assert res.first_problem.kind == "event_seq" and res.first_problem.seq == 10


def test_modified_node(trail: modeltrail.Trail) -> None:
    nid = node_id(4, 2)
    trail.store.execute("UPDATE nodes SET hash = ? WHERE id = ?", (b"\x00" * 32, nid))
    res = trail.verify()
    assert res.first_problem.kind == "node" and res.first_problem.seq == 32


def test_truncated_log(trail: modeltrail.Trail) -> None:
    _truncate(trail, 60)
    res = trail.verify()
    assert not res.ok
    assert res.first_problem.kind == "truncated" and res.first_problem.seq == 60


def test_truncation_with_checkpoints_deleted_caught_by_external_checkpoint(trail: modeltrail.Trail) -> None:
    kept = trail.latest_checkpoint().note  # an auditor kept this note
    _truncate(trail, 60)
    trail.store.execute("DELETE FROM checkpoints WHERE size > ?", (1,))
    # The store alone is self-consistent again, but the known head kept outside it (keys/heads/) is not...
    assert [p.kind for p in trail.verify().problems] == ["truncated"]
    knownhead.head_path(trail).unlink()  # ...and without that file, the checkpoint an auditor kept says so too
    assert trail.verify().ok
    res = trail.verify(extra_checkpoints=[kept])
    assert res.first_problem.kind == "truncated"


def test_forged_checkpoint_note(trail: modeltrail.Trail) -> None:
    cp = trail.latest_checkpoint()
    fake_root = bytes(32)
    body = Checkpoint(trail.origin, cp.size, cp.root, ()).to_text()
    forged = cp.note.replace(body, Checkpoint(trail.origin, cp.size, fake_root, ()).to_text())
    trail.store.execute("UPDATE checkpoints SET note = ?, root = ? WHERE id = ?", (forged, fake_root, cp.id))
    res = trail.verify()
    assert res.first_problem.kind == "checkpoint_signature" and res.first_problem.checkpoint == cp.id


def test_checkpoint_signed_by_unknown_key(trail: modeltrail.Trail) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    attacker = NoteSigner.from_private_key(Ed25519PrivateKey.generate(), trail.origin)
    cp = trail.latest_checkpoint()
    note = sign_checkpoint(Checkpoint(trail.origin, cp.size, cp.root, ()), attacker)
    trail.store.execute("UPDATE checkpoints SET note = ? WHERE id = ?", (note, cp.id))
    res = trail.verify()
    assert res.first_problem.kind == "checkpoint_signature"


def test_altered_checkpoint_columns(trail: modeltrail.Trail) -> None:
    cp = trail.latest_checkpoint()
    trail.store.execute("UPDATE checkpoints SET size = ? WHERE id = ?", (cp.size - 1, cp.id))
    res = trail.verify()
    assert res.first_problem.kind == "checkpoint_index" and res.first_problem.checkpoint == cp.id


def test_fork_rewritten_history_with_consistent_tree(trail: modeltrail.Trail) -> None:
    rows = _rows(trail)
    leaf = rows[5][6].replace(b'"i":4', b'"i":7')
    rows[5] = (*rows[5][:6], leaf, merkle.leaf_hash(leaf))
    _rewrite(trail, rows, rebuild_nodes=True)
    res = trail.verify()
    assert not res.ok
    assert res.first_problem.kind == "checkpoint_root"
    assert {p.kind for p in res.problems} <= {"checkpoint_root", "consistency"}


def test_fork_against_external_checkpoint_of_other_branch(trail: modeltrail.Trail, tmp_path: Path) -> None:
    # A checkpoint for the same size but another root, signed with the trail's own key: a fork.
    cp = trail.latest_checkpoint()
    other = sign_checkpoint(Checkpoint(trail.origin, cp.size, merkle.leaf_hash(b"other branch"), ()), trail.signer())
    res = trail.verify(extra_checkpoints=[other])
    assert res.first_problem.kind == "checkpoint_root" and res.first_problem.checkpoint is None


def test_modified_index_columns(trail: modeltrail.Trail) -> None:
    trail.store.execute("UPDATE events SET type = ? WHERE seq = ?", ("model.approved", 12))
    res = trail.verify()
    assert res.first_problem.kind == "event_index" and res.first_problem.seq == 12
