"""RFC 9162 Merkle hashing and proofs: public test vectors and properties against a naive oracle.

Vectors: tests/data/testvectors/merkle (transparency-dev/merkle, Apache-2.0; see SOURCE.md there).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeltrail.errors import ProofError
from modeltrail.ledger import merkle

VECTORS = Path(__file__).parent / "data" / "testvectors" / "merkle"


def _b64(s: str) -> bytes:
    return base64.b64decode(s)


def _naive_mth(leaves: list[bytes]) -> bytes:
    """MTH straight from the RFC 9162 §2.1.1 recursion, over leaf hashes."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return merkle.node_hash(_naive_mth(leaves[:k]), _naive_mth(leaves[k:]))


def _naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*_naive_path(m, leaves[:k]), _naive_mth(leaves[k:])]
    return [*_naive_path(m - k, leaves[k:]), _naive_mth(leaves[:k])]


def _naive_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [_naive_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*_naive_subproof(m, leaves[:k], b), _naive_mth(leaves[k:])]
    return [*_naive_subproof(m - k, leaves[k:], False), _naive_mth(leaves[:k])]


def _perfect_from(leaves: list[bytes]) -> merkle.PerfectHash:
    def perfect(level: int, index: int) -> bytes:
        return _naive_mth(leaves[index << level : (index + 1) << level])

    return perfect


def test_tree8_roots_and_leaf_hashes() -> None:
    data = json.loads((VECTORS / "tree8.json").read_text())
    leaves = [bytes.fromhex(x) for x in data["leaf_inputs_hex"]]
    hashes = [merkle.leaf_hash(x) for x in leaves]
    assert [h.hex() for h in hashes] == data["leaf_hashes_hex"]
    for size, root_hex in enumerate(data["root_hashes_hex_by_size"]):
        assert merkle.root_of(hashes[:size]).hex() == root_hex
        assert _naive_mth(hashes[:size]).hex() == root_hex


def _vector_files(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


@pytest.mark.parametrize("path", _vector_files("inclusion"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_inclusion_vectors(path: Path) -> None:
    v = json.loads(path.read_text())
    args = (
        _b64(v["leafHash"]),
        v["leafIdx"],
        v["treeSize"],
        [_b64(p) for p in v["proof"] or []],
        _b64(v["root"]),
    )
    if v["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize("path", _vector_files("consistency"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_consistency_vectors(path: Path) -> None:
    v = json.loads(path.read_text())
    args = (v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), [_b64(p) for p in v["proof"] or []])
    if v["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


def test_vector_counts() -> None:
    # Guard against the vectors silently disappearing from tests/data.
    assert len(_vector_files("inclusion")) > 50
    assert len(_vector_files("consistency")) > 50


leaf_lists = st.lists(st.binary(max_size=8), min_size=1, max_size=70).map(
    lambda xs: [merkle.leaf_hash(x) for x in xs]
)


@settings(max_examples=200, deadline=None)
@given(leaf_lists, st.data())
def test_inclusion_matches_naive_and_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    size = len(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(index, size, _perfect_from(leaves))
    assert proof == _naive_path(index, leaves)
    root = _naive_mth(leaves)
    merkle.verify_inclusion(leaves[index], index, size, proof, root)
    # Any single bit flip in the proof is caught.
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        with pytest.raises(ProofError):
            merkle.verify_inclusion(leaves[index], index, size, bad, root)
    # The proof does not verify for a different index.
    if size > 1:
        other = (index + 1) % size
        if leaves[other] != leaves[index]:
            with pytest.raises(ProofError):
                merkle.verify_inclusion(leaves[index], other, size, proof, root)


@settings(max_examples=200, deadline=None)
@given(leaf_lists, st.data())
def test_consistency_matches_naive_and_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    new = len(leaves)
    old = data.draw(st.integers(1, new))
    proof = merkle.consistency_proof(old, new, _perfect_from(leaves))
    expected = [] if old == new else _naive_subproof(old, leaves, True)
    assert proof == expected
    r1, r2 = _naive_mth(leaves[:old]), _naive_mth(leaves)
    merkle.verify_consistency(old, new, r1, r2, proof)
    if old < new:
        bad_root = bytes([r2[0] ^ 0x80]) + r2[1:]
        with pytest.raises(ProofError):
            merkle.verify_consistency(old, new, r1, bad_root, proof)


@settings(max_examples=100, deadline=None)
@given(leaf_lists)
def test_frontier_reports_completed_subtrees(leaves: list[bytes]) -> None:
    f = merkle.Frontier()
    completed: list[tuple[int, int, bytes]] = []
    for h in leaves:
        f.append(h, completed)
        assert f.root() == _naive_mth(leaves[: f.size])
    perfect = _perfect_from(leaves)
    for level, index, h in completed:
        assert perfect(level, index) == h
    # A frontier rebuilt from stored subtree roots continues identically.
    subtrees = merkle.Frontier.subtrees(len(leaves))
    g = merkle.Frontier(len(leaves), [perfect(lv, ix) for lv, ix in subtrees])
    assert g.root() == f.root()


@settings(max_examples=300, deadline=None)
@given(leaf_lists, st.data())
def test_frontier_extend_equals_appending_one_by_one(leaves: list[bytes], data: st.DataObject) -> None:
    # The batch path (level-wise hashing) must build the same tree and report the same nodes as
    # appending leaf by leaf, wherever the batch starts and however it is split.
    cuts = sorted(data.draw(st.lists(st.integers(0, len(leaves)), max_size=4)))
    min_level = data.draw(st.integers(1, 4))
    one, many = merkle.Frontier(), merkle.Frontier()
    done_one: list[tuple[int, int, bytes]] = []
    done_many: list[tuple[int, int, bytes]] = []
    for h in leaves:
        one.append(h, done_one)
    start = 0
    for end in [*cuts, len(leaves)]:
        many.extend(leaves[start:end], done_many, min_level)
        assert many.size == end and many.root() == _naive_mth(leaves[:end])
        start = end
    assert many.root() == one.root() and many.size == one.size
    assert sorted(done_many) == sorted(x for x in done_one if x[0] >= min_level)
