"""Batched forms of prepared events, for the decision logger and the process writer.

The guard's column-wise encoder gives a :class:`PreparedBatch` (events of one type, system and actor
held as columns); the process writer builds leaves ahead of the ledger for the position it expects
(:class:`BuiltBatch`); the logger appends several submissions as one :class:`EventParts`. Each is a
:class:`~modeltrail.ledger.leaf.LeafGroup`, which is all the ledger knows of them.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Sequence
from typing import Any, overload

from ..events import PreparedEvent, PreparedEvents, checked_index
from ..ledger.leaf import LeafGroup, LeafRows, build_leaves, leaf_hash


def _new_prepared(*fields: Any) -> PreparedEvent:
    # tuple.__new__ skips the NamedTuple's Python-level constructor: one event = one call fewer.
    return tuple.__new__(PreparedEvent, fields)


class PreparedBatch(Sequence[PreparedEvent]):
    """Prepared events of one type, system, actor and ``end``, held as three columns.

    A batch of decisions differs per event only in ``head``, ``mid`` and ``subject``. Keeping those
    as lists, rather than a :class:`PreparedEvent` per event, saves building and unpacking a tuple per
    event at every step from the guard to the ledger (about 2 µs per decision in ``bench/runtime.py``);
    the ledger writes it column-wise, and the process writer sends it as one group. Indexing still
    gives :class:`PreparedEvent` values, so any code that expects a sequence of them works unchanged.
    """

    __slots__ = ("actor_id", "end", "heads", "mids", "subjects", "system", "type")

    def __init__(
        self,
        type: str,
        system: str,
        actor_id: str,
        end: bytes,
        heads: list[bytes],
        mids: list[bytes],
        subjects: list[str | None],
    ) -> None:
        """``heads``, ``mids`` and ``subjects`` hold one entry per event (ValueError otherwise)."""
        if not len(heads) == len(mids) == len(subjects):
            raise ValueError("a prepared batch needs as many heads, mids and subjects")
        self.type, self.system, self.actor_id, self.end = type, system, actor_id, end
        self.heads, self.mids, self.subjects = heads, mids, subjects

    def __len__(self) -> int:
        return len(self.heads)

    def __repr__(self) -> str:
        return f"PreparedBatch({self.type!r}, {len(self)} events)"

    def built_ts(self, first_seq: int, not_before: str | None) -> str | None:
        """Never built ahead: the ledger builds the leaves."""
        return None

    def rows(self, first_seq: int, ts: str) -> Iterator[LeafRows]:
        """The rows at ``first_seq`` and ``ts``: leaves built column-wise, the shared fields repeated."""
        n = len(self.heads)
        leaves, hashes = build_leaves(self.heads, self.mids, self.end, first_seq, ts)
        yield LeafRows([self.type] * n, [self.system] * n, self.subjects, [self.actor_id] * n, leaves, hashes)

    @overload
    def __getitem__(self, index: int) -> PreparedEvent: ...

    @overload
    def __getitem__(self, index: slice) -> PreparedBatch: ...

    def __getitem__(self, index: int | slice) -> PreparedEvent | PreparedBatch:
        if isinstance(index, slice):
            return PreparedBatch(*_group_of(self), self.heads[index], self.mids[index], self.subjects[index])
        return _new_prepared(
            self.type, self.system, self.subjects[index], self.actor_id, self.heads[index], self.mids[index], self.end
        )


def _group_of(batch: PreparedBatch | BuiltBatch) -> tuple[str, str, str, bytes]:
    """What every event of a batch shares: type, system, actor id and ``end``."""
    return batch.type, batch.system, batch.actor_id, batch.end


class BuiltBatch(Sequence[PreparedEvent]):
    """Events of one type, system, actor and ``end`` whose leaves were built ahead, for a guessed place.

    Building leaves and hashing them is about 1.4 µs per decision. The process writer's parent
    (:mod:`modeltrail.runtime._writer.process`) has spare CPU while its child, which holds the ledger's
    write lock, is the bottleneck; so the parent builds them for the position (``first_seq``) and
    timestamp (``ts``) it expects the events to get. The ledger takes them as they are when the guess
    holds: ``first_seq`` is the log's size and ``ts`` is not before the last timestamp. Otherwise (another
    writer appended in between, say) they are rebuilt from :meth:`unbuilt`, as for any prepared event.
    ``head_lens`` are the lengths of the events' heads, which is all it takes to cut a leaf back into
    its parts.
    """

    __slots__ = ("actor_id", "end", "first_seq", "hashes", "head_lens", "leaves", "subjects", "system", "ts", "type")

    def __init__(
        self,
        type: str,
        system: str,
        actor_id: str,
        end: bytes,
        subjects: list[str | None],
        leaves: list[bytes],
        hashes: list[bytes],
        head_lens: Sequence[int],
        first_seq: int,
        ts: str,
    ) -> None:
        """One entry per event in ``subjects``, ``leaves``, ``hashes`` and ``head_lens`` (ValueError otherwise)."""
        if not len(subjects) == len(leaves) == len(hashes) == len(head_lens):
            raise ValueError("a built batch needs as many subjects, leaves, hashes and head lengths")
        self.type, self.system, self.actor_id, self.end = type, system, actor_id, end
        self.subjects, self.leaves, self.hashes, self.head_lens = subjects, leaves, hashes, head_lens
        self.first_seq, self.ts = first_seq, ts

    def __len__(self) -> int:
        return len(self.leaves)

    def __repr__(self) -> str:
        return f"BuiltBatch({self.type!r}, {len(self)} events at seq {self.first_seq})"

    def fits(self, seq: int, not_before: str | None) -> bool:
        """Whether the leaves are right for appending at ``seq`` after timestamp ``not_before``.

        Also re-hashes the first leaf, a cheap guard against a sender whose hashes do not match.
        """
        return (
            self.first_seq == seq
            and (not_before is None or self.ts >= not_before)
            and bool(self.leaves)
            and leaf_hash(self.leaves[0]) == self.hashes[0]
        )

    def built_ts(self, first_seq: int, not_before: str | None) -> str | None:
        """``ts`` when the leaves are right at ``first_seq`` after ``not_before`` (see :meth:`fits`)."""
        return self.ts if self.fits(first_seq, not_before) else None

    def rows(self, first_seq: int, ts: str) -> Iterator[LeafRows]:
        """The leaves as built when they were built for ``first_seq`` and ``ts``; else rebuilt."""
        if ts != self.ts or not self.fits(first_seq, None):
            yield from self.unbuilt().rows(first_seq, ts)
            return
        n = len(self.leaves)
        yield LeafRows([self.type] * n, [self.system] * n, self.subjects, [self.actor_id] * n, self.leaves, self.hashes)

    def unbuilt(self) -> PreparedBatch:
        """The same events as a :class:`PreparedBatch`, cut from the leaves (ValueError if they do not fit)."""
        tail = len(self.ts) + 2 + len(self.end)
        heads: list[bytes] = []
        mids: list[bytes] = []
        for leaf, hl, seq in zip(
            self.leaves, self.head_lens, range(self.first_seq, self.first_seq + len(self)), strict=True
        ):
            digits = b"%d" % seq
            if (
                leaf[hl : hl + len(digits)] != digits
                or not leaf.endswith(self.end)
                or len(leaf) < hl + len(digits) + tail
            ):
                raise ValueError(f"leaf {seq} was not built for its position")
            heads.append(leaf[:hl])
            mids.append(leaf[hl + len(digits) : len(leaf) - tail])
        return PreparedBatch(*_group_of(self), heads, mids, list(self.subjects))

    @overload
    def __getitem__(self, index: int) -> PreparedEvent: ...

    @overload
    def __getitem__(self, index: slice) -> BuiltBatch: ...

    def __getitem__(self, index: int | slice) -> PreparedEvent | BuiltBatch:
        if isinstance(index, slice):
            lo, hi, step = index.indices(len(self))
            if step != 1:
                raise ValueError("a built batch slices only contiguously")
            return BuiltBatch(
                *_group_of(self),
                self.subjects[lo:hi],
                self.leaves[lo:hi],
                self.hashes[lo:hi],
                self.head_lens[lo:hi],
                self.first_seq + lo,
                self.ts,
            )
        index = checked_index(index, len(self))
        return self[index : index + 1].unbuilt()[0]


class EventParts(Sequence[PreparedEvent]):
    """Several groups of prepared events appended as one, in order, without copying them into one list.

    The parts keep their own form (a :class:`PreparedBatch` stays column-wise all the way to the
    ledger); indexing reaches into the right part. A plain sequence of prepared events becomes a
    :class:`~modeltrail.events.PreparedEvents` part.
    """

    __slots__ = ("_ends", "parts")

    def __init__(self, parts: Sequence[Sequence[PreparedEvent] | LeafGroup]) -> None:
        """``parts``: the sequences, in append order (empty ones are skipped, nested parts flattened)."""
        self.parts: list[Batch] = []
        for part in parts:
            if type(part) is EventParts:
                self.parts += part.parts
            elif len(part):
                self.parts.append(as_batch(part))
        ends: list[int] = []
        total = 0
        for part in self.parts:
            total += len(part)
            ends.append(total)
        self._ends = ends

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def __repr__(self) -> str:
        return f"EventParts({len(self.parts)} parts, {len(self)} events)"

    @overload
    def __getitem__(self, index: int) -> PreparedEvent: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[PreparedEvent]: ...

    def __getitem__(self, index: int | slice) -> PreparedEvent | Sequence[PreparedEvent]:
        if isinstance(index, slice):
            return list(itertools.islice(self, *index.indices(len(self))))
        index = checked_index(index, len(self))
        k = bisect.bisect_right(self._ends, index)
        return self.parts[k][index - (self._ends[k - 1] if k else 0)]

    def __iter__(self) -> Iterator[PreparedEvent]:
        for part in self.parts:
            yield from part

    def built_ts(self, first_seq: int, not_before: str | None) -> str | None:
        """The one timestamp every part was built for, consecutively from ``first_seq``; else None."""
        ts: str | None = None
        for part in self.parts:
            got = part.built_ts(first_seq, not_before)
            if got is None or (ts is not None and got != ts):
                return None
            ts = got
            first_seq += len(part)
        return ts

    def rows(self, first_seq: int, ts: str) -> Iterator[LeafRows]:
        """Each part's rows, in order."""
        for part in self.parts:
            yield from part.rows(first_seq, ts)
            first_seq += len(part)


#: The forms of prepared events the runtime hands to the ledger (each is a :class:`LeafGroup`).
Batch = PreparedEvents | PreparedBatch | BuiltBatch | EventParts


def as_batch(events: Sequence[PreparedEvent] | LeafGroup) -> Batch:
    """``events`` in one of the runtime's batch forms (a plain sequence becomes :class:`PreparedEvents`)."""
    if type(events) in _BATCH_TYPES:
        return events  # type: ignore[return-value]
    return PreparedEvents(events)  # type: ignore[arg-type]


_BATCH_TYPES = (PreparedEvents, PreparedBatch, BuiltBatch, EventParts)


__all__ = ["Batch", "BuiltBatch", "EventParts", "PreparedBatch", "as_batch"]
