"""Full verification of a trail's ledger: events, tree nodes, checkpoints, signatures, consistency.

Everything is recomputed from the leaf bytes; stored hashes and nodes are only compared against the
recomputation, never trusted. The first problem found is reported with the seq or checkpoint it
concerns; verification continues to collect up to ``max_problems`` so one run shows the extent.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ModeltrailError, ProofError, SignatureError
from . import merkle
from .note import Checkpoint, NoteVerifier, verify_checkpoint
from .store import NODE_ID_SHIFT, NODE_MIN_LEVEL, CheckpointRow, LedgerStore

if TYPE_CHECKING:
    from ..trail import Trail


@dataclass(frozen=True)
class Problem:
    """One verification failure."""

    kind: str  # event_hash, event_seq, event_missing, event_index, node, checkpoint_root, ...
    message: str
    seq: int | None = None
    checkpoint: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": self.kind, "message": self.message, "seq": self.seq, "checkpoint": self.checkpoint}


@dataclass
class VerificationResult:
    """The outcome of :func:`verify_store`: ``ok`` only if no problem was found."""

    size: int = 0
    events_checked: int = 0
    nodes_checked: int = 0
    checkpoints_checked: int = 0
    consistency_proofs_checked: int = 0
    root: str = ""
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when everything verified."""
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        """The first problem, in ledger order of discovery."""
        return self.problems[0] if self.problems else None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``modeltrail verify --json``)."""
        return {
            "ok": self.ok,
            "size": self.size,
            "root": self.root,
            "events_checked": self.events_checked,
            "nodes_checked": self.nodes_checked,
            "checkpoints_checked": self.checkpoints_checked,
            "consistency_proofs_checked": self.consistency_proofs_checked,
            "first_problem": None if self.first_problem is None else self.first_problem.to_dict(),
            "problems": [p.to_dict() for p in self.problems],
        }


class _Stop(Exception):
    pass


def verify_store(
    store: LedgerStore,
    *,
    origin: str,
    verifier_keys: Sequence[str],
    extra_checkpoints: Iterable[str] = (),
    progress: Callable[[int, int], None] | None = None,
    max_problems: int = 20,
    batch: int = 20_000,
) -> VerificationResult:
    """Verify every event, node and checkpoint of ``store``.

    ``verifier_keys`` are note verifier keys trusted to sign checkpoints of ``origin``;
    ``extra_checkpoints`` are signed notes kept outside the trail (e.g. by an auditor), which must
    also be consistent with the log — the defence against a truncated or rewritten store.
    """
    res = VerificationResult()
    verifiers: list[NoteVerifier] = []
    for k in verifier_keys:
        try:
            verifiers.append(NoteVerifier(k))
        except ModeltrailError as exc:
            res.problems.append(Problem("key", f"unusable verifier key {k!r}: {exc}"))

    def problem(p: Problem) -> None:
        res.problems.append(p)
        if len(res.problems) >= max_problems:
            raise _Stop

    try:
        _verify(store, origin, verifiers, list(extra_checkpoints), progress, batch, res, problem)
    except _Stop:
        pass
    return res


def _verify(
    store: LedgerStore,
    origin: str,
    verifiers: list[NoteVerifier],
    extra: list[str],
    progress: Callable[[int, int], None] | None,
    batch: int,
    res: VerificationResult,
    problem: Callable[[Problem], None],
) -> None:
    size = store.size()
    res.size = size
    # Checkpoints: parse and check signatures first, then check roots while streaming the leaves.
    cps: list[tuple[int | None, Checkpoint]] = []
    stored: list[CheckpointRow] = store.checkpoints()
    for cp_row in stored:
        cp = _open_checkpoint(cp_row.note, verifiers, origin, problem, cp_row.id)
        if cp is None:
            continue
        if cp.size != cp_row.size or cp.root != cp_row.root:
            problem(
                Problem(
                    "checkpoint_index",
                    "stored size/root columns differ from the signed note",
                    checkpoint=cp_row.id,
                )
            )
        cps.append((cp_row.id, cp))
    for note in extra:
        cp = _open_checkpoint(note, verifiers, origin, problem, None)
        if cp is not None:
            cps.append((None, cp))
    res.checkpoints_checked = len(cps)
    for cid, cp in cps:
        if cp.size > size:
            problem(
                Problem(
                    "truncated",
                    f"checkpoint covers {cp.size} events but the log holds only {size}: events were removed",
                    seq=size,
                    checkpoint=cid,
                )
            )
    by_size: dict[int, list[tuple[int | None, Checkpoint]]] = {}
    for cid, cp in cps:
        by_size.setdefault(cp.size, []).append((cid, cp))

    # Stored interior nodes, streamed in id order = (level, index) order; compared as they complete.
    stored_nodes: dict[int, bytes] = dict(store.iter_node_rows())
    frontier = merkle.Frontier()
    completed: list[tuple[int, int, bytes]] = []
    sha256 = hashlib.sha256
    expected = 0
    if 0 in by_size:
        _check_roots(by_size.pop(0), merkle.EMPTY_ROOT, problem)
    # The hot loop: hash every leaf, fold it into the frontier, compare completed nodes and roots.
    fappend = frontier.append
    for seq, etype, ts, leaf, stored_hash in _leaf_rows(store, batch):
        if seq != expected:
            problem(Problem("event_missing", f"events {expected}..{seq - 1} are missing (deleted)", seq=expected))
            return  # the tree cannot be recomputed past a gap
        h = sha256(b"\x00" + leaf).digest()
        if h != stored_hash:
            problem(Problem("event_hash", "leaf bytes do not match the stored leaf hash (modified event)", seq=seq))
        if b'"seq":%d,' % seq not in leaf:
            problem(
                Problem(
                    "event_seq", "the event's own seq field differs from its position (reordered or inserted)", seq=seq
                )
            )
        elif b'"type":"%s"' % etype.encode() not in leaf or b'"ts":"%s"' % ts.encode() not in leaf:
            problem(Problem("event_index", "indexed columns (type/ts) differ from the event bytes", seq=seq))
        fappend(h, completed)
        if completed:
            for lv, ix, nh in completed:
                if lv >= NODE_MIN_LEVEL:
                    nid = (lv << NODE_ID_SHIFT) | ix
                    got = stored_nodes.pop(nid, None)
                    res.nodes_checked += 1
                    if got is None:
                        problem(Problem("node", f"tree node level {lv} index {ix} is missing", seq=ix << lv))
                    elif got != nh:
                        problem(Problem("node", f"tree node level {lv} index {ix} was modified", seq=ix << lv))
            completed.clear()
        expected = seq + 1
        if expected in by_size:
            _check_roots(by_size.pop(expected), frontier.root(), problem)
        if progress is not None and expected % batch == 0:
            progress(expected, size)
    res.events_checked = expected
    if expected != size:
        problem(Problem("event_missing", f"expected {size} events, found {expected}", seq=expected))
    for nid in sorted(stored_nodes):
        lv, ix = nid >> NODE_ID_SHIFT, nid & ((1 << NODE_ID_SHIFT) - 1)
        problem(Problem("node", f"stray tree node level {lv} index {ix} beyond the log", seq=ix << lv))
    res.root = frontier.root().hex()
    if progress is not None:
        progress(expected, size)

    # Consistency between consecutive checkpoints (RFC 9162 proofs over the stored tree).
    ordered = sorted(
        {(cp.size, cp.root) for _, cp in cps if cp.size <= expected},
        key=lambda t: t[0],
    )

    def perfect(level: int, index: int) -> bytes:
        if level >= NODE_MIN_LEVEL:
            got = store.nodes([(level << NODE_ID_SHIFT) | index])
            if got:
                return next(iter(got.values()))
        start = index << level
        return merkle.root_of(
            [sha256(b"\x00" + r.leaf).digest() for r in store.iter_events(start, start + (1 << level))]
        )

    for (s1, r1), (s2, r2) in itertools.pairwise(ordered):
        if s1 == 0:
            continue
        try:
            proof = merkle.consistency_proof(s1, s2, perfect)
            merkle.verify_consistency(s1, s2, r1, r2, proof)
            res.consistency_proofs_checked += 1
        except ProofError as exc:
            problem(Problem("consistency", f"checkpoints at sizes {s1} and {s2} are not consistent: {exc}", seq=s1))


def _leaf_rows(store: LedgerStore, batch: int) -> Iterator[tuple[int, str, str, bytes, bytes]]:
    """(seq, type, ts, leaf, leaf_hash) in seq order; plain tuples keep the hot loop cheap."""
    pos = 0
    while True:
        rows = store.execute(
            "SELECT seq, type, ts, leaf, leaf_hash FROM events WHERE seq >= ? ORDER BY seq LIMIT ?", (pos, batch)
        )
        if not rows:
            return
        yield from rows
        pos = rows[-1][0] + 1


def _open_checkpoint(
    note: str,
    verifiers: list[NoteVerifier],
    origin: str,
    problem: Callable[[Problem], None],
    cid: int | None,
) -> Checkpoint | None:
    try:
        cp = verify_checkpoint(note, verifiers)
    except (SignatureError, ModeltrailError, ValueError) as exc:
        problem(Problem("checkpoint_signature", f"checkpoint signature or format is invalid: {exc}", checkpoint=cid))
        return None
    if cp.origin != origin:
        problem(Problem("checkpoint_origin", f"checkpoint is for origin {cp.origin!r}, not {origin!r}", checkpoint=cid))
        return None
    return cp


def _check_roots(items: list[tuple[int | None, Checkpoint]], root: bytes, problem: Callable[[Problem], None]) -> None:
    for cid, cp in items:
        if cp.root != root:
            problem(
                Problem(
                    "checkpoint_root",
                    f"signed checkpoint root for size {cp.size} differs from the log's root: the log was "
                    "rewritten or forked after it was signed",
                    seq=cp.size - 1 if cp.size else None,
                    checkpoint=cid,
                )
            )


def verify_trail(
    trail: Trail,
    *,
    progress: Callable[[int, int], None] | None = None,
    trusted_keys: Sequence[str] | None = None,
    extra_checkpoints: Iterable[str] = (),
    max_problems: int = 20,
) -> VerificationResult:
    """Verify an open trail with its own verifier keys (or ``trusted_keys`` pinned by an auditor)."""
    keys = list(trusted_keys) if trusted_keys is not None else trail.verifier_keys()
    return verify_store(
        trail.store,
        origin=trail.origin,
        verifier_keys=keys,
        extra_checkpoints=extra_checkpoints,
        progress=progress,
        max_problems=max_problems,
    )
