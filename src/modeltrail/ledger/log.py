"""The append-only Merkle log over a storage backend: group commit, tree maintenance and proofs."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from ..errors import ProofError, StoreError
from ..events import Receipt, Receipts, format_ts
from ..speed import gc_paused
from . import merkle
from .leaf import LeafGroup
from .store import NODE_MIN_LEVEL, AppendTxn, EventRows, LedgerStore, node_id


class _Pending:
    """A group of events submitted by one caller, waiting for a group commit."""

    __slots__ = ("done", "error", "group", "receipts")

    def __init__(self, group: LeafGroup) -> None:
        self.group = group
        self.receipts: Sequence[Receipt] = ()
        self.error: BaseException | None = None
        self.done = False


# A group built ahead is taken as built only if its timestamp is at most this far ahead of the clock.
_MAX_AHEAD = timedelta(seconds=60)


class Log:
    """A Merkle log of events on a :class:`LedgerStore`.

    Group commit: callers queue their events, and whichever caller holds the commit lock writes the
    whole queue in one transaction (one fsync) and wakes the others. A caller returns only after the
    transaction that holds its events committed, so every :class:`Receipt` is durable.
    """

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._frontier: merkle.Frontier | None = None

    # -- appending -------------------------------------------------------------------------

    def append(self, groups: Sequence[LeafGroup]) -> list[Sequence[Receipt]]:
        """Append groups of events in one transaction; the receipts of each group, in order, once durable.

        Each group gets consecutive positions, one ledger timestamp and its own receipts; a group whose
        leaves were built ahead for its position (:meth:`LeafGroup.built_ts`) is taken as built.
        """
        mine = [_Pending(group) for group in groups if len(group)]
        if mine:
            with self._queue_lock:
                self._queue += mine
            with self._commit_lock:
                if not mine[-1].done:  # all of them are in the same queue, so written together
                    with self._queue_lock:
                        batch, self._queue = self._queue, []
                    try:
                        self._write(batch)
                    except BaseException as exc:
                        for p in batch:
                            p.error = exc
                            p.receipts = ()
                    finally:
                        for p in batch:
                            p.done = True
            for p in mine:
                if p.error is not None:
                    raise p.error
        out: list[Sequence[Receipt]] = []
        pending = iter(mine)
        for group in groups:
            out.append(next(pending).receipts if len(group) else [])
        return out

    def _write(self, batch: list[_Pending]) -> None:
        with gc_paused(), self.store.append_txn() as txn:
            frontier = self._frontier_for(txn)
            work = frontier.copy()
            clock = datetime.now(UTC)
            now = format_ts(clock)
            # Timestamps never decrease in seq order, even when the clock steps back.
            floor = txn.last_ts
            rows = EventRows(sum(len(p.group) for p in batch))
            all_hashes: list[bytes] = []
            seq = txn.size
            for p in batch:
                first = seq
                start = len(all_hashes)
                group = p.group
                ts = group.built_ts(seq, floor)
                # A sender's clock far ahead would hold every later timestamp back.
                if ts is None or ts > format_ts(clock + _MAX_AHEAD):
                    ts = now if floor is None or now >= floor else floor
                for chunk in group.rows(seq, ts):
                    n = len(chunk.leaves)
                    # EventRow's column order.
                    columns = (range(seq, seq + n), [ts] * n, *chunk)
                    for column, values in enumerate(columns):
                        rows.set_column(column, seq - txn.size, values)
                    all_hashes.extend(chunk.hashes)
                    seq += n
                if seq - first != len(group):
                    raise StoreError(f"a group of {len(group)} events gave {seq - first} rows; nothing was written")
                floor = ts
                p.receipts = Receipts(first, ts, b"".join(all_hashes[start:]).hex())
            completed: list[tuple[int, int, bytes]] = []
            work.extend(all_hashes, completed, NODE_MIN_LEVEL)
            nodes = [(node_id(lv, ix), h) for lv, ix, h in completed]
            txn.insert(rows, nodes)
        # Only after the commit succeeded does the cached frontier advance.
        self._frontier = work

    def _frontier_for(self, txn: AppendTxn) -> merkle.Frontier:
        f = self._frontier
        if f is not None and f.size == txn.size:
            return f
        # Another process appended (or first use): rebuild the right edge from stored nodes.
        size = txn.size
        subtrees = merkle.Frontier.subtrees(size)
        tail_start = size - size % (1 << NODE_MIN_LEVEL)
        tail = txn.leaf_hashes(tail_start, size)
        big = [node_id(lv, ix) for lv, ix in subtrees if lv >= NODE_MIN_LEVEL]
        stored = txn.nodes(big)
        roots: list[bytes] = []
        for lv, ix in subtrees:
            if lv >= NODE_MIN_LEVEL:
                nid = node_id(lv, ix)
                if nid not in stored:
                    raise StoreError(f"ledger tree is missing node level {lv} index {ix}")
                roots.append(stored[nid])
            else:
                lo = (ix << lv) - tail_start
                roots.append(merkle.root_of(tail[lo : lo + (1 << lv)]))
        f = merkle.Frontier(size, roots)
        self._frontier = f
        return f

    # -- reading the tree ------------------------------------------------------------------

    def size(self) -> int:
        """Current number of events."""
        return self.store.size()

    def perfect(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree ``(level, index)``, from stored nodes or recomputed leaves."""
        if level >= NODE_MIN_LEVEL:
            nid = node_id(level, index)
            got = self.store.nodes([nid])
            if nid not in got:
                raise ProofError(f"tree node level {level} index {index} is not in the ledger")
            return got[nid]
        start = index << level
        hashes = self.store.leaf_hashes(start, start + (1 << level))
        return merkle.root_of(hashes)

    def root(self, size: int | None = None) -> bytes:
        """Root hash of the tree of the first ``size`` events (default: all)."""
        n = self.size() if size is None else size
        if n == 0:
            return merkle.EMPTY_ROOT
        if n > self.size():
            raise ProofError(f"the log has fewer than {n} events")
        return merkle.subtree_root(0, n, self.perfect)

    def inclusion_proof(self, seq: int, size: int | None = None) -> list[bytes]:
        """Inclusion proof of event ``seq`` in the tree of ``size`` events (default: current)."""
        n = self.size() if size is None else size
        if n > self.size():
            raise ProofError(f"tree size {n} is larger than the log ({self.size()} events)")
        return merkle.inclusion_proof(seq, n, self.perfect)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Consistency proof between two tree sizes."""
        n = self.size() if new_size is None else new_size
        if n > self.size():
            raise ProofError(f"tree size {n} is larger than the log ({self.size()} events)")
        return merkle.consistency_proof(old_size, n, self.perfect)
