"""Merkle tree hashing, proofs and proof verification exactly as RFC 9162 §2.1.

Hand-written on purpose: the Python ecosystem has no maintained library for RFC 9162 proofs over an
external node store, and the algorithms are short enough to check line by line against the RFC and
the transparency-dev test vectors (see ``tests/test_merkle.py``).

Conventions: leaves are indexed from 0; ``size`` is the number of leaves; a *perfect subtree* at
``(level, index)`` covers leaves ``[index << level, (index + 1) << level)``. Proof producers take a
callback ``perfect(level, index) -> bytes`` so that any storage can serve node hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from itertools import repeat

from ..errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

PerfectHash = Callable[[int, int], bytes]


def leaf_hash(leaf: bytes) -> bytes:
    """Return ``SHA-256(0x00 || leaf)`` (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return ``SHA-256(0x01 || left || right)`` (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """Return the largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """Root hash of a whole list of leaf hashes (the MTH of RFC 9162), iteratively."""
    if not leaf_hashes:
        return EMPTY_ROOT
    frontier = Frontier()
    for h in leaf_hashes:
        frontier.append(h)
    return frontier.root()


class Frontier:
    """The right edge of a tree: one perfect-subtree root per set bit of ``size``.

    Appending is O(1) amortised and reports the perfect subtrees it completes, so a store can
    persist interior nodes as they come into existence.
    """

    __slots__ = ("_hashes", "_levels", "size")

    def __init__(self, size: int = 0, roots: Sequence[bytes] = ()) -> None:
        levels = [b for b in range(size.bit_length() - 1, -1, -1) if size >> b & 1]
        if len(levels) != len(roots):
            raise ProofError(f"a frontier of size {size} needs {len(levels)} roots, got {len(roots)}")
        self.size = size
        self._levels: list[int] = levels
        self._hashes: list[bytes] = list(roots)

    @staticmethod
    def subtrees(size: int) -> list[tuple[int, int]]:
        """The ``(level, index)`` of each frontier subtree of a tree of ``size``, left to right."""
        out: list[tuple[int, int]] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                out.append((level, start >> level))
                start += 1 << level
        return out

    def append(self, h: bytes, completed: list[tuple[int, int, bytes]] | None = None) -> None:
        """Append a leaf hash; each perfect subtree of level >= 1 it completes goes to ``completed``."""
        index = self.size
        level = 0
        levels = self._levels
        hashes = self._hashes
        while levels and levels[-1] == level:
            levels.pop()
            h = hashlib.sha256(b"\x01" + hashes.pop() + h).digest()
            level += 1
            index >>= 1
            if completed is not None:
                completed.append((level, index, h))
        levels.append(level)
        hashes.append(h)
        self.size += 1

    def extend(
        self, leaf_hashes: Sequence[bytes], completed: list[tuple[int, int, bytes]] | None = None, min_level: int = 1
    ) -> None:
        """Append many leaf hashes at once, hashing level by level.

        Equivalent to :meth:`append` per leaf (property-tested), but each level is one list
        comprehension instead of a Python loop iteration per leaf, which is what makes batch appends
        cheap. Completed perfect subtrees of level >= ``min_level`` go to ``completed``.
        """
        if not leaf_hashes:
            return
        sha256 = hashlib.sha256
        levels = self._levels
        hashes = self._hashes
        cur = list(leaf_hashes)
        pos = self.size  # index of cur[0] at the current level
        level = 0
        pending_odd: list[tuple[int, bytes]] = []
        while True:
            if pos & 1:
                # The left sibling of cur[0] is the frontier's subtree at this level.
                levels.pop()
                cur.insert(0, hashes.pop())
                pos -= 1
            n = len(cur)
            if n < 2:
                break
            nxt = [sha256(b"\x01" + cur[i] + cur[i + 1]).digest() for i in range(0, n - 1, 2)]
            # An unpaired right node stays on the frontier, below the higher levels to its left.
            odd = cur[-1] if n & 1 else None
            level += 1
            pos >>= 1
            if completed is not None and level >= min_level:
                completed.extend(zip(repeat(level), range(pos, pos + len(nxt)), nxt))
            if odd is not None:
                pending_odd.append((level - 1, odd))
            cur = nxt
        # cur holds the (one) highest new subtree root; then the unpaired nodes, highest level first.
        levels.append(level)
        hashes.append(cur[0])
        for lv, h in reversed(pending_odd):
            levels.append(lv)
            hashes.append(h)
        self.size += len(leaf_hashes)

    def append_subtree(self, level: int, h: bytes, completed: list[tuple[int, int, bytes]] | None = None) -> None:
        """Append a whole perfect subtree of ``2**level`` leaves (``size`` must be a multiple of that)."""
        leaves = 1 << level
        if self.size % leaves:
            raise ProofError(f"a subtree of level {level} cannot start at leaf {self.size}")
        index = self.size >> level
        levels = self._levels
        hashes = self._hashes
        while levels and levels[-1] == level:
            levels.pop()
            h = hashlib.sha256(b"\x01" + hashes.pop() + h).digest()
            level += 1
            index >>= 1
            if completed is not None:
                completed.append((level, index, h))
        levels.append(level)
        hashes.append(h)
        self.size += leaves

    def root(self) -> bytes:
        """Root hash of the tree built so far."""
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            r = node_hash(h, r)
        return r

    def copy(self) -> Frontier:
        """An independent copy."""
        f = Frontier()
        f.size = self.size
        f._levels = list(self._levels)
        f._hashes = list(self._hashes)
        return f


def subtree_root(start: int, end: int, perfect: PerfectHash) -> bytes:
    """MTH of leaves ``[start, end)``, where ``start`` is aligned as RFC 9162's recursion leaves it."""
    n = end - start
    if n <= 0:
        raise ProofError(f"empty subtree [{start}, {end})")
    if n & (n - 1) == 0 and start % n == 0:
        level = n.bit_length() - 1
        return perfect(level, start >> level)
    k = largest_power_of_two_below(n)
    return node_hash(subtree_root(start, start + k, perfect), subtree_root(start + k, end, perfect))


def inclusion_proof(index: int, size: int, perfect: PerfectHash) -> list[bytes]:
    """Audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 9162 §2.1.3.1), leaf-first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    proof: list[bytes] = []
    start, n, m = 0, size, index
    # Walk down from the root, collecting siblings root-first, then reverse to leaf-first order.
    while n > 1:
        k = largest_power_of_two_below(n)
        if m < k:
            proof.append(subtree_root(start + k, start + n, perfect))
            n = k
        else:
            proof.append(subtree_root(start, start + k, perfect))
            start, m, n = start + k, m - k, n - k
    proof.reverse()
    return proof


def consistency_proof(old_size: int, new_size: int, perfect: PerfectHash) -> list[bytes]:
    """Consistency proof between tree sizes ``old_size`` and ``new_size`` (RFC 9162 §2.1.4.1)."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"cannot prove consistency from size {old_size} to size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    proof: list[bytes] = []
    start, m, n, complete = 0, old_size, new_size, True
    while m != n:
        k = largest_power_of_two_below(n)
        if m <= k:
            proof.append(subtree_root(start + k, start + n, perfect))
            n = k
        else:
            proof.append(subtree_root(start, start + k, perfect))
            start, m, n, complete = start + k, m - k, n - k, False
    if not complete:
        proof.append(subtree_root(start, start + m, perfect))
    proof.reverse()
    return proof


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} must be {HASH_SIZE} bytes, got {len(value)}")


def verify_inclusion(leaf_hash_: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check an inclusion proof (RFC 9162 §2.1.3.2); raise :class:`ProofError` when it fails."""
    _check_hash("leaf hash", leaf_hash_)
    _check_hash("root", root)
    for i, p in enumerate(proof):
        _check_hash(f"proof[{i}]", p)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf_hash_
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree allows")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree requires")
    if r != root:
        raise ProofError("inclusion proof does not lead to the given root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check a consistency proof (RFC 9162 §2.1.4.2); raise :class:`ProofError` when it fails."""
    if old_size < 1:
        raise ProofError("consistency from an empty tree proves nothing")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if old_root != new_root:
            raise ProofError("equal sizes but different roots")
        return
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    for i, p in enumerate(proof):
        _check_hash(f"proof[{i}]", p)
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        raise ProofError("consistency proof is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the trees allow")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the trees require")
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("consistency proof does not lead to the new root")
