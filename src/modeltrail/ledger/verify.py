"""Full verification of a trail's ledger: events, tree nodes, checkpoints, signatures, consistency.

Everything is recomputed from the leaf bytes; stored hashes and nodes are only compared against the
recomputation, never trusted. The first problem found is reported with the seq or checkpoint it
concerns; verification continues to collect up to ``max_problems`` so one run shows the extent.

The ledger knows no :class:`~modeltrail.Trail`: :func:`verify_store` takes a store, the origin and the
trusted keys, :func:`verify_trail` anything with those three (``Trail.verify`` calls it)::

    >>> import modeltrail, tempfile
    >>> trail = modeltrail.init(tempfile.mkdtemp())
    >>> result = verify_store(trail.store, origin=trail.origin, verifier_keys=trail.verifier_keys(), workers=1)
    >>> result.ok, result.size
    (True, 1)
    >>> trail.close()
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import ModeltrailError, ProofError, SignatureError
from . import merkle
from .note import Checkpoint, NoteVerifier, verify_checkpoint
from .store import NODE_ID_SHIFT, NODE_MIN_LEVEL, PURGED_LEAF, CheckpointRow, LedgerStore


class VerifiableTrail(Protocol):
    """What verifying a trail needs: its store, the origin its checkpoints name, its verifier keys.

    :class:`modeltrail.Trail` is one; the ledger does not import it (verification sits below the trail).
    """

    @property
    def store(self) -> LedgerStore:
        """The ledger backend."""
        ...

    @property
    def origin(self) -> str:
        """The checkpoint origin line."""
        ...

    def verifier_keys(self) -> list[str]:
        """Every verifier key the trail has used (note format)."""
        ...


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
    purged: list[tuple[int, int]] = field(default_factory=list)
    """Ranges ``(first, last)`` of purged leaves: payload gone, leaf hash kept; reported, not damage."""

    @property
    def purged_count(self) -> int:
        """Number of purged leaves."""
        return sum(b - a + 1 for a, b in self.purged)

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
            "purged_events": self.purged_count,
            "purged_ranges": [list(r) for r in self.purged],
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
    workers: int | None = None,
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
        _verify(store, origin, verifiers, list(extra_checkpoints), progress, workers, res, problem)
    except _Stop:
        pass
    return res


def _verify(
    store: LedgerStore,
    origin: str,
    verifiers: list[NoteVerifier],
    extra: list[str],
    progress: Callable[[int, int], None] | None,
    workers: int | None,
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

    # Recompute the tree in aligned chunks (in worker processes for large logs), then combine.
    frontier = merkle.Frontier()
    if 0 in by_size:
        _check_roots(by_size.pop(0), merkle.EMPTY_ROOT, problem)
    cp_sizes = sorted(by_size)
    big_nodes = dict(store.execute("SELECT id, hash FROM nodes WHERE id >= ?", ((CHUNK_LEVEL + 1) << NODE_ID_SHIFT,)))
    completed: list[tuple[int, int, bytes]] = []
    verified = 0
    for chunk in _chunk_results(store, size, cp_sizes, workers):
        for p in chunk.problems:
            problem(p)
        _add_ranges(res.purged, chunk.purged)
        res.nodes_checked += chunk.nodes_checked
        for cp_size, parts in chunk.prefixes.items():
            head = frontier.copy()
            for lv, h in parts:
                head.append_subtree(lv, h)
            _check_roots(by_size.pop(cp_size), head.root(), problem)
        for lv, h in chunk.subtrees:
            frontier.append_subtree(lv, h, completed)
        for lv, ix, nh in completed:
            nid = (lv << NODE_ID_SHIFT) | ix
            got = big_nodes.pop(nid, None)
            res.nodes_checked += 1
            if got is None:
                problem(Problem("node", f"tree node level {lv} index {ix} is missing", seq=ix << lv))
            elif got != nh:
                problem(Problem("node", f"tree node level {lv} index {ix} was modified", seq=ix << lv))
        completed.clear()
        verified = chunk.end
        if verified in by_size:
            _check_roots(by_size.pop(verified), frontier.root(), problem)
        if progress is not None:
            progress(verified, size)
        if chunk.gap:
            return  # the tree cannot be recomputed past a gap
    res.events_checked = verified
    if verified != size:
        problem(Problem("event_missing", f"expected {size} events, found {verified}", seq=verified))
    for (nid,) in store.execute("SELECT id FROM nodes", ()):
        lv, ix = nid >> NODE_ID_SHIFT, nid & ((1 << NODE_ID_SHIFT) - 1)
        if (ix + 1) << lv > verified:
            problem(Problem("node", f"stray tree node level {lv} index {ix} beyond the log", seq=ix << lv))
    res.root = frontier.root().hex()

    # Consistency between consecutive checkpoints (RFC 9162 proofs over the stored tree).
    ordered = sorted(
        {(cp.size, cp.root) for _, cp in cps if cp.size <= verified},
        key=lambda t: t[0],
    )

    def perfect(level: int, index: int) -> bytes:
        if level >= NODE_MIN_LEVEL:
            got = store.nodes([(level << NODE_ID_SHIFT) | index])
            if got:
                return next(iter(got.values()))
        # Leaf hashes were all recomputed and compared above, so the stored ones are safe to use here.
        return merkle.root_of(store.leaf_hashes(index << level, (index + 1) << level))

    for (s1, r1), (s2, r2) in itertools.pairwise(ordered):
        if s1 == 0:
            continue
        try:
            proof = merkle.consistency_proof(s1, s2, perfect)
            merkle.verify_consistency(s1, s2, r1, r2, proof)
            res.consistency_proofs_checked += 1
        except ProofError as exc:
            problem(Problem("consistency", f"checkpoints at sizes {s1} and {s2} are not consistent: {exc}", seq=s1))


CHUNK_LEVEL = 14  # chunks of 16,384 leaves, aligned so that each is one perfect subtree
PARALLEL_MIN_EVENTS = 200_000


@dataclass
class _Chunk:
    """What one aligned chunk of leaves contributes: its problems and its subtree hashes."""

    start: int
    end: int  # exclusive: the first seq not verified by this chunk
    gap: bool
    problems: list[Problem]
    nodes_checked: int
    subtrees: list[tuple[int, bytes]]  # perfect subtrees covering [start, end), largest first
    prefixes: dict[int, list[tuple[int, bytes]]]  # checkpoint size -> subtrees covering [start, size)
    purged: list[tuple[int, int]] = field(default_factory=list)  # ranges of purged leaves in the chunk


def _add_ranges(into: list[tuple[int, int]], ranges: Iterable[tuple[int, int]]) -> None:
    """Append seq ranges, merging one that continues the last."""
    for a, b in ranges:
        if into and into[-1][1] + 1 == a:
            into[-1] = (into[-1][0], b)
        else:
            into.append((a, b))


def _verify_chunk(store: LedgerStore, start: int, end: int, cp_sizes: Sequence[int]) -> _Chunk:
    """Hash and check the events of ``[start, end)`` and every tree level inside the chunk.

    Levels are computed pairwise over whole lists (one comprehension per level) rather than leaf by
    leaf: the same number of hashes, far less interpreter work.
    """
    sha256 = hashlib.sha256
    rows = store.execute(
        "SELECT seq, type, ts, leaf, leaf_hash FROM events WHERE seq >= ? AND seq < ? ORDER BY seq", (start, end)
    )
    problems: list[Problem] = []
    hashes: list[bytes] = []
    purged: list[tuple[int, int]] = []
    expected = start
    gap = False
    for seq, etype, ts, leaf, stored_hash in rows:
        if seq != expected:
            problems.append(
                Problem("event_missing", f"events {expected}..{seq - 1} are missing (deleted)", seq=expected)
            )
            gap = True
            break
        leaf = bytes(leaf)
        if leaf == PURGED_LEAF:
            # A purged leaf: its bytes are gone by design, its stored hash is what the tree was built from.
            # The hash is still checked against every node and signed root above it, so a changed hash is
            # caught there; that the purge was lawful (a recorded retention or erasure names this seq) is
            # checked above the ledger (modeltrail.governance.trailchecks.check_purges).
            hashes.append(bytes(stored_hash))
            _add_ranges(purged, [(seq, seq)])
            expected += 1
            continue
        h = sha256(b"\x00" + leaf).digest()
        if h != stored_hash:
            problems.append(
                Problem("event_hash", "leaf bytes do not match the stored leaf hash (modified event)", seq=seq)
            )
        if b'"seq":%d,' % seq not in leaf:
            problems.append(
                Problem(
                    "event_seq", "the event's own seq field differs from its position (reordered or inserted)", seq=seq
                )
            )
        elif b'"type":"%s"' % etype.encode() not in leaf or b'"ts":"%s"' % ts.encode() not in leaf:
            problems.append(Problem("event_index", "indexed columns (type/ts) differ from the event bytes", seq=seq))
        hashes.append(h)
        expected += 1
    if not gap and expected < end:
        # ``end`` never exceeds the log size, so rows stopping early means the tail of the chunk is gone.
        problems.append(Problem("event_missing", f"events {expected}..{end - 1} are missing (deleted)", seq=expected))
        gap = True
    levels = [hashes]
    while len(levels[-1]) >= 2:
        prev = levels[-1]
        levels.append([sha256(b"\x01" + prev[i] + prev[i + 1]).digest() for i in range(0, len(prev) - 1, 2)])
    nodes_checked = 0
    for lv in range(NODE_MIN_LEVEL, len(levels)):
        level = levels[lv]
        lo = start >> lv
        stored = dict(
            store.execute(
                "SELECT id, hash FROM nodes WHERE id >= ? AND id < ?",
                ((lv << NODE_ID_SHIFT) | lo, (lv << NODE_ID_SHIFT) | (lo + len(level))),
            )
        )
        for j, nh in enumerate(level):
            got = stored.get((lv << NODE_ID_SHIFT) | (lo + j))
            nodes_checked += 1
            if got is None:
                problems.append(Problem("node", f"tree node level {lv} index {lo + j} is missing", seq=(lo + j) << lv))
            elif bytes(got) != nh:
                problems.append(
                    Problem("node", f"tree node level {lv} index {lo + j} was modified", seq=(lo + j) << lv)
                )

    def cover(m: int) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        offset = 0
        for lv in range(len(levels) - 1, -1, -1):
            if m >> lv & 1:
                out.append((lv, levels[lv][offset >> lv]))
                offset += 1 << lv
        return out

    n = len(hashes)
    prefixes = {s: cover(s - start) for s in cp_sizes if start < s < start + n}
    return _Chunk(start, start + n, gap, problems, nodes_checked, cover(n), prefixes, purged)


_worker_stores: dict[tuple[str, str], LedgerStore] = {}


def _open_spec(spec: tuple[str, str]) -> LedgerStore:
    store = _worker_stores.get(spec)
    if store is None:
        if spec[0] == "sqlite":
            from .store import SqliteStore

            store = SqliteStore(Path(spec[1]))
        else:
            from .pgstore import PostgresStore

            store = PostgresStore(spec[1])
        _worker_stores[spec] = store
    return store


def _verify_chunk_in_worker(spec: tuple[str, str], start: int, end: int, cp_sizes: Sequence[int]) -> _Chunk:
    return _verify_chunk(_open_spec(spec), start, end, cp_sizes)


def _store_spec(store: LedgerStore) -> tuple[str, str] | None:
    path = getattr(store, "path", None)
    if path is not None:
        return ("sqlite", str(path))
    if store.url.startswith(("postgresql://", "postgres://")):
        return ("postgres", store.url)
    return None


def _chunk_results(store: LedgerStore, size: int, cp_sizes: Sequence[int], workers: int | None) -> Iterator[_Chunk]:
    """Chunk results in ledger order; large logs are verified by worker processes (both cores)."""
    step = 1 << CHUNK_LEVEL
    bounds = [(lo, min(lo + step, size)) for lo in range(0, size, step)]
    # Library default: one process. Worker processes are spawned, which re-imports the caller's main
    # module, so they are opt-in (the CLI, whose entry point is import-safe, turns them on).
    n_workers = 1 if workers is None else (os.cpu_count() or 1) if workers == 0 else workers
    spec = _store_spec(store)
    if size < PARALLEL_MIN_EVENTS or n_workers < 2 or spec is None:
        for lo, hi in bounds:
            chunk = _verify_chunk(store, lo, hi, cp_sizes)
            yield chunk
            if chunk.gap:
                return
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: the parent may run threads (loggers, kill-switch pollers) that a fork would copy mid-state.
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_verify_chunk_in_worker, spec, lo, hi, cp_sizes) for lo, hi in bounds]
        try:
            for fut in futures:
                chunk = fut.result()
                yield chunk
                if chunk.gap:
                    return
        finally:
            for fut in futures:
                fut.cancel()


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
    trail: VerifiableTrail,
    *,
    progress: Callable[[int, int], None] | None = None,
    trusted_keys: Sequence[str] | None = None,
    extra_checkpoints: Iterable[str] = (),
    max_problems: int = 20,
    workers: int | None = None,
) -> VerificationResult:
    """Verify an open trail's ledger with its own verifier keys (or ``trusted_keys`` pinned by an auditor).

    Checks the bytes (events, nodes, checkpoints, signatures, consistency with ``extra_checkpoints``) and
    that every ``event:N`` reference points backwards. What needs the trail's governance (the key chain,
    projection cursors, known head, witnesses) is added by :meth:`modeltrail.Trail.verify`.
    """
    keys = list(trusted_keys) if trusted_keys is not None else trail.verifier_keys()
    res = verify_store(
        trail.store,
        origin=trail.origin,
        verifier_keys=keys,
        extra_checkpoints=extra_checkpoints,
        progress=progress,
        max_problems=max_problems,
        workers=workers,
    )
    res.problems += check_refs(trail.store, res.size, max_problems)
    return res


# -- references between events ---------------------------------------------------------------------------


def check_refs(store: LedgerStore, size: int, max_problems: int = 20) -> list[Problem]:
    """Every ``event:N`` reference names an existing event that comes before the one citing it.

    A deployment citing ``event:102575`` in a ledger of 900 events was made up: this catches it. The
    database picks the leaves that contain ``"event:`` (:meth:`LedgerStore.leaves_containing`), so the
    pass reads only those, not the whole ledger a second time.
    """
    import json

    out: list[Problem] = []
    for seq, leaf in store.leaves_containing(b'"event:', size):
        refs = json.loads(leaf).get("refs") or []
        for r in refs:
            if not isinstance(r, str) or not r.startswith("event:"):
                continue
            body = r[6:]
            n = int(body) if body.isdigit() else -1
            if 0 <= n < seq:
                continue
            why = "does not exist" if n < 0 or n >= size else "comes later"
            out.append(Problem("ref", f"event {seq} cites {r}, which {why}", seq=seq))
            if len(out) >= max_problems:
                return out
    return out
    return out
