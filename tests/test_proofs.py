"""Typed proofs: the JSON form stays the one the CLI and the API always printed, and reads back."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeltrail.errors import ProofError, ValidationError
from modeltrail.events import Actor
from modeltrail.ledger.proofs import ConsistencyProof, InclusionProof
from modeltrail.trail import Trail

ALICE = Actor("alice", "data_scientist")


def _fill(trail: Trail, n: int) -> None:
    trail.record_many([{"type": "run.metrics", "system": "s", "actor": ALICE, "payload": {"i": i}} for i in range(n)])


def test_inclusion_json_form(trail: Trail) -> None:
    _fill(trail, 12)
    cp = trail.checkpoint()
    p = trail.inclusion_proof(3)
    row = trail.store.get_event(3)
    assert row is not None
    assert p.to_dict() == {
        "kind": "inclusion",
        "seq": 3,
        "tree_size": cp.size,
        "encoding": "base64",
        "leaf_hash": base64.b64encode(row.leaf_hash).decode(),
        "root": base64.b64encode(cp.root).decode(),
        "proof": [base64.b64encode(h).decode() for h in trail.log.inclusion_proof(3, cp.size)],
        "leaf_hash_hex": row.leaf_hash.hex(),
        "root_hex": cp.root.hex(),
        "checkpoint": cp.note,
    }
    assert list(p.to_dict())[:4] == ["kind", "seq", "tree_size", "encoding"]
    assert InclusionProof.from_dict(p.to_dict()) == p


def test_consistency_json_form(trail: Trail) -> None:
    _fill(trail, 9)
    cp = trail.checkpoint()
    c = trail.consistency_proof(4)
    assert c.new_size == cp.size and c.new_checkpoint == cp.note and c.old_checkpoint is None
    assert list(c.to_dict()) == [
        "kind",
        "old_size",
        "new_size",
        "encoding",
        "old_root",
        "new_root",
        "proof",
        "old_root_hex",
        "new_root_hex",
        "old_checkpoint",
        "new_checkpoint",
    ]
    assert c.to_dict()["new_root_hex"] == cp.root.hex()
    assert c.to_dict()["new_root"] == base64.b64encode(cp.root).decode()
    assert c.to_dict()["proof"] == [base64.b64encode(h).decode() for h in trail.log.consistency_proof(4, cp.size)]


def test_a_tampered_proof_fails_its_own_check(trail: Trail) -> None:
    _fill(trail, 20)
    trail.checkpoint()
    p = trail.inclusion_proof(7)
    p.verify()
    bad = InclusionProof(p.seq + 1, p.tree_size, p.leaf_hash, p.root, p.hashes, p.checkpoint)
    with pytest.raises(ProofError):
        bad.verify()
    c = trail.consistency_proof(3)
    c.verify()
    with pytest.raises(ProofError):
        ConsistencyProof(c.old_size, c.new_size, c.new_root, c.new_root, c.hashes).verify()


def test_from_dict_names_the_bad_field() -> None:
    good = InclusionProof(0, 1, b"\x01" * 32, b"\x02" * 32, ()).to_dict()
    with pytest.raises(ValidationError) as e:
        InclusionProof.from_dict({**good, "root": "not base64!"})
    assert e.value.field == "root"
    with pytest.raises(ValidationError) as e:
        InclusionProof.from_dict({**good, "kind": "consistency"})
    assert e.value.field == "kind"
    with pytest.raises(ValidationError) as e:
        InclusionProof.from_dict({**good, "seq": -1})
    assert e.value.field == "seq"
    with pytest.raises(ValidationError) as e:
        ConsistencyProof.from_dict(
            {"kind": "consistency", "old_size": 1, "new_size": 2, "old_root": "", "new_root": "", "proof": "x"}
        )
    assert e.value.field == "proof"


hashes = st.binary(min_size=32, max_size=32)
notes = st.none() | st.text(max_size=40)


@settings(max_examples=60)
@given(st.integers(0, 2**40), st.integers(0, 2**40), hashes, hashes, st.lists(hashes, max_size=8), notes)
def test_inclusion_round_trips(
    seq: int, size: int, leaf: bytes, root: bytes, path: list[bytes], note: str | None
) -> None:
    p = InclusionProof(seq, size, leaf, root, tuple(path), note)
    assert InclusionProof.from_dict(p.to_dict()) == p


@settings(max_examples=60)
@given(st.integers(0, 2**40), st.integers(0, 2**40), hashes, hashes, st.lists(hashes, max_size=8), notes, notes)
def test_consistency_round_trips(
    old: int, new: int, r1: bytes, r2: bytes, path: list[bytes], n1: str | None, n2: str | None
) -> None:
    c = ConsistencyProof(old, new, r1, r2, tuple(path), n1, n2)
    assert ConsistencyProof.from_dict(c.to_dict()) == c
