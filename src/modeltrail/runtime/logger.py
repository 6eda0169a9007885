"""The decision logger: a bounded in-memory buffer in front of the ledger, drained by group commit.

Callers enqueue events (``submit``) and get a :class:`PendingDecision` back at once; one background
writer thread takes everything queued, appends it to the ledger in one transaction (one fsync), and only
then marks each pending entry durable. Nothing is acknowledged before it is durable, and nothing is ever
dropped: when the buffer is full the caller either waits (``on_full="block"``, up to ``block_timeout``)
and then gets :class:`~modeltrail.errors.BufferFullError`, or gets that error at once (``"raise"``).

A write failure (disk full, database gone) fails every entry of the affected batch: waiters in
:meth:`PendingDecision.durable` get the error, and the next :meth:`DecisionLogger.flush` raises it.

Events are validated before they are acknowledged. An entry can be an
:class:`~modeltrail.events.EventInput` (validated by the writer with ``prepare``; an invalid one fails
alone, not its batch), an already :class:`~modeltrail.events.PreparedEvent`, or a :class:`Draft` whose
encoding the writer performs (the guard uses that to keep JSON encoding off the request path).
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from ..errors import BufferFullError, ModeltrailError, StoreError, ValidationError
from ..events import EventInput, PreparedEvent, Receipt, prepare

if TYPE_CHECKING:
    from ..trail import Trail

OnFull = Literal["block", "raise"]


class Draft(Protocol):
    """An event whose encoding is deferred to the writer thread."""

    def to_prepared(self) -> PreparedEvent:
        """Encode (and, where not done yet, validate) the event."""
        ...


Entry = EventInput | PreparedEvent | Draft


class PendingDecision:
    """One enqueued event: becomes durable (with a :class:`Receipt`) or failed, exactly once."""

    __slots__ = ("_done", "_done_at", "_error", "_logger", "_receipt", "decision_id")

    def __init__(self, logger: DecisionLogger, decision_id: str | None = None) -> None:
        self._logger = logger
        self._done = False
        self._done_at: float | None = None
        self._receipt: Receipt | None = None
        self._error: BaseException | None = None
        self.decision_id = decision_id

    def __repr__(self) -> str:
        state = "durable" if self._receipt else "failed" if self._error else "pending"
        return f"PendingDecision({self.decision_id!r}, {state})"

    @property
    def done(self) -> bool:
        """Whether the writer has finished with this entry (durable or failed)."""
        return self._done

    @property
    def done_at(self) -> float | None:
        """``time.perf_counter()`` when the writer finished with this entry (its commit returned), or None."""
        return self._done_at

    def durable(self, timeout: float | None = None) -> Receipt:
        """Wait until the event is durable and return its ledger receipt.

        Raises the writer's error (:class:`~modeltrail.errors.StoreError`, or the
        :class:`~modeltrail.errors.ValidationError` of this event) if it could not be recorded, and
        :class:`TimeoutError` if it is still pending after ``timeout`` seconds.
        """
        if not self._done:
            cond = self._logger._done_cond
            with cond:
                if not cond.wait_for(lambda: self._done, timeout):
                    raise TimeoutError(f"decision {self.decision_id} not durable after {timeout} s")
        if self._error is not None:
            raise self._error
        assert self._receipt is not None
        return self._receipt


_live: weakref.WeakSet[DecisionLogger] = weakref.WeakSet()

# While a decision logger is open, the interpreter's GIL switch interval is at most this (see _FastSwitching).
WRITE_SWITCH_INTERVAL = 0.00002


class _FastSwitching:
    """Lower ``sys.setswitchinterval`` while any decision logger is open, then restore it.

    The writer thread gives up the GIL at every lock wait, fsync and SQLite step, and each time it
    wants it back a busy request thread keeps it for a whole switch interval (5 ms by default). Over
    the dozen hand-overs of one batch that convoy stretched durability from 25 ms to 0.6-3 s
    (``bench/runtime.py``). With 20 µs the writer keeps up (durable p99 about 30-40 ms) and requests see
    little extra jitter (added latency p99 about 70 µs); measured request throughput did not change.
    The interval is only lowered, never raised, and it is restored when the last logger closes unless
    someone else changed it meanwhile.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: float | None = None
        self._ours: float | None = None

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                current = sys.getswitchinterval()
                if current > WRITE_SWITCH_INTERVAL:
                    sys.setswitchinterval(WRITE_SWITCH_INTERVAL)
                    # Read back: the interpreter stores whole microseconds, so the value may differ.
                    self._saved, self._ours = current, sys.getswitchinterval()
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._saved is not None:
                if sys.getswitchinterval() == self._ours:
                    sys.setswitchinterval(self._saved)
                self._saved = self._ours = None


_fast_switching = _FastSwitching()


def _close_all() -> None:
    # Interpreter exit: write out everything still buffered (daemon threads would just vanish).
    for logger in list(_live):
        try:
            logger.close(timeout=30.0)
        except ModeltrailError:
            pass


atexit.register(_close_all)


class DecisionLogger:
    """Non-blocking, bounded, never-dropping event logger with group commit (see the module docstring).

    ``capacity`` bounds the number of buffered events; the writer appends at most ``max_batch`` events
    per transaction and, once it has something to write, waits up to ``flush_interval`` seconds for more
    before committing (0 commits at once). Thread-safe; one writer thread per logger.
    """

    def __init__(
        self,
        trail: Trail,
        *,
        capacity: int = 100_000,
        max_batch: int = 10_000,
        flush_interval: float = 0.02,
        on_full: OnFull = "block",
        block_timeout: float = 1.0,
        boost_writer: bool = True,
    ) -> None:
        """Start the writer thread for ``trail``.

        ``boost_writer`` lowers the GIL switch interval to 20 µs while the logger is open (see
        :class:`_FastSwitching`); without it, CPU-bound request threads can delay durability by seconds.
        """
        if capacity < 1:
            raise ValidationError("expected at least 1", field="capacity")
        if max_batch < 1:
            raise ValidationError("expected at least 1", field="max_batch")
        if flush_interval < 0:
            raise ValidationError("expected a number of seconds >= 0", field="flush_interval")
        if on_full not in ("block", "raise"):
            raise ValidationError(f"expected 'block' or 'raise', got {on_full!r}", field="on_full")
        self.trail = trail
        self.capacity = capacity
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        self.on_full: OnFull = on_full
        self.block_timeout = block_timeout
        self.boost_writer = boost_writer
        self._queue: deque[tuple[Entry, PendingDecision]] = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._done_cond = threading.Condition(threading.Lock())
        self._writer_idle = False  # the writer waits for a first entry: the next submit must wake it
        self._lingering = False  # the writer collects a batch: only a full batch needs to wake it
        self._full_waiters = 0
        self._flush_requested = False
        self._closing = False
        self._closed = False
        self._enqueued = 0
        self._completed = 0
        self._failure: BaseException | None = None
        # Counters (read them any time; they only grow).
        self.waits = 0
        self.full_errors = 0
        self.written = 0
        self.batches = 0
        self.failed = 0
        self._append = _appender(trail)
        self._thread = threading.Thread(target=self._run, name="modeltrail-decision-writer", daemon=True)
        self._boosted = False
        if boost_writer:
            _fast_switching.__enter__()
            self._boosted = True
        self._thread.start()
        _live.add(self)

    # -- enqueueing ----------------------------------------------------------------------------

    def submit(self, entry: Entry, decision_id: str | None = None) -> PendingDecision:
        """Enqueue one event; returns at once (unless the buffer is full, see the class docstring)."""
        pending = PendingDecision(self, decision_id)
        with self._lock:
            if self._closing:
                raise StoreError("the decision logger is closed; nothing was logged")
            if len(self._queue) >= self.capacity:
                self._wait_for_room(1)
            self._queue.append((entry, pending))
            self._enqueued += 1
            if self._writer_idle or (self._lingering and len(self._queue) >= self.max_batch):
                self._not_empty.notify()
        return pending

    def submit_many(self, entries: Sequence[tuple[Entry, str | None]]) -> list[PendingDecision]:
        """Enqueue several events in order under one lock; all or (buffer full, closed) none."""
        pendings = [PendingDecision(self, did) for _, did in entries]
        n = len(entries)
        if n > self.capacity:
            raise BufferFullError(f"a batch of {n} events does not fit a buffer of capacity {self.capacity}")
        with self._lock:
            if self._closing:
                raise StoreError("the decision logger is closed; nothing was logged")
            if len(self._queue) + n > self.capacity:
                self._wait_for_room(n)
            self._queue.extend(zip((e for e, _ in entries), pendings, strict=True))
            self._enqueued += n
            if self._writer_idle or (self._lingering and len(self._queue) >= self.max_batch):
                self._not_empty.notify()
        return pendings

    def _wait_for_room(self, n: int) -> None:
        """Called with the lock held and the buffer too full for ``n`` more entries."""
        if self.on_full == "raise":
            self.full_errors += 1
            raise BufferFullError(
                f"the decision log buffer is full ({len(self._queue)} of {self.capacity} events waiting for "
                "the ledger); the call was refused and nothing was logged"
            )
        self.waits += 1
        self._full_waiters += 1
        try:
            ok = self._not_full.wait_for(
                lambda: len(self._queue) + n <= self.capacity or self._closing, self.block_timeout
            )
        finally:
            self._full_waiters -= 1
        if self._closing:
            raise StoreError("the decision logger is closed; nothing was logged")
        if not ok:
            self.full_errors += 1
            raise BufferFullError(
                f"the decision log buffer stayed full for {self.block_timeout} s ({self.capacity} events "
                "waiting for the ledger); the call was refused and nothing was logged"
            )

    # -- waiting -------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Events enqueued but not yet written (or failed)."""
        return self._enqueued - self._completed

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every event enqueued before this call is durable (or failed).

        Raises the first write failure since the previous ``flush`` (then clears it), and
        :class:`TimeoutError` when the events are still pending after ``timeout`` seconds.
        """
        with self._lock:
            target = self._enqueued
            self._flush_requested = True
            self._not_empty.notify()
        with self._done_cond:
            ok = self._done_cond.wait_for(lambda: self._completed >= target, timeout)
            failure, self._failure = self._failure, None
        if failure is not None:
            raise StoreError(f"decision logging failed, some decisions were not recorded: {failure}") from failure
        if not ok:
            raise TimeoutError(f"{target - self._completed} decisions still not durable after {timeout} s")

    def close(self, timeout: float | None = None) -> None:
        """Write out everything buffered, stop the writer and raise any unreported write failure."""
        if self._closed:
            return
        with self._lock:
            self._closing = True
            self._not_empty.notify_all()
            self._not_full.notify_all()
        self._thread.join(timeout)
        self._closed = not self._thread.is_alive()
        _live.discard(self)
        if self._closed and self._boosted:
            self._boosted = False
            _fast_switching.__exit__()
        with self._done_cond:
            failure, self._failure = self._failure, None
        if failure is not None:
            raise StoreError(f"decision logging failed, some decisions were not recorded: {failure}") from failure

    def __enter__(self) -> DecisionLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, int]:
        """The counters: waits, full_errors, written, batches, failed, pending."""
        return {
            "waits": self.waits,
            "full_errors": self.full_errors,
            "written": self.written,
            "batches": self.batches,
            "failed": self.failed,
            "pending": self.pending,
        }

    # -- the writer ----------------------------------------------------------------------------

    def _take(self) -> list[tuple[Entry, PendingDecision]] | None:
        """Block until there is a batch to write; None when closed and drained."""
        q = self._queue
        with self._lock:
            while not q:
                if self._closing:
                    return None
                self._flush_requested = False
                self._writer_idle = True
                self._not_empty.wait()
                self._writer_idle = False
            if self.flush_interval > 0 and len(q) < self.max_batch and not self._closing:
                # Linger a little so that one fsync covers many events; a flush or close cuts it short.
                deadline = time.monotonic() + self.flush_interval
                self._lingering = True
                while len(q) < self.max_batch and not self._closing and not self._flush_requested:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._not_empty.wait(left)
                self._lingering = False
            n = min(len(q), self.max_batch)
            batch = [q.popleft() for _ in range(n)]
            if self._full_waiters:
                self._not_full.notify_all()
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            self._write(batch)

    def _write(self, batch: list[tuple[Entry, PendingDecision]]) -> None:
        prepared: list[PreparedEvent] = []
        owners: list[PendingDecision] = []
        invalid = 0
        for entry, pending in batch:
            try:
                if isinstance(entry, PreparedEvent):
                    ev = entry
                elif isinstance(entry, EventInput):
                    ev = prepare(entry, max_payload_bytes=self.trail.config.max_payload_bytes)
                else:
                    ev = entry.to_prepared()
            except (ValidationError, TypeError, ValueError) as exc:
                # One malformed event must not sink the batch: it alone fails.
                pending._error = exc if isinstance(exc, ModeltrailError) else ValidationError(str(exc))
                pending._done = True
                invalid += 1
                continue
            prepared.append(ev)
            owners.append(pending)
        failure: BaseException | None = None
        if prepared:
            try:
                receipts = self._append(prepared)
            except Exception as exc:
                failure = exc if isinstance(exc, ModeltrailError) else StoreError(f"ledger write failed: {exc}")
                if failure is not exc:
                    failure.__cause__ = exc
                for p in owners:
                    p._error = failure
                    p._done = True
            else:
                done_at = time.perf_counter()
                for p, r in zip(owners, receipts, strict=True):
                    p._receipt = r
                    p._done_at = done_at
                    p._done = True
        with self._done_cond:
            if failure is None:
                self.written += len(prepared)
                self.batches += 1 if prepared else 0
            else:
                self.failed += len(prepared)
                if self._failure is None:
                    self._failure = failure
            self.failed += invalid
            self._completed += len(batch)
            self._done_cond.notify_all()


def _appender(trail: Trail) -> Callable[[Sequence[PreparedEvent]], list[Receipt]]:
    """How the writer appends already-validated events: ``Trail.append_prepared``.

    ``Trail.record_many`` would validate and encode every event a second time (the dominant cost of a
    decision); the events here were prepared by :mod:`modeltrail.runtime.encode`.
    """
    return trail.append_prepared


def drain(pendings: Iterable[PendingDecision], timeout: float | None = None) -> list[Receipt]:
    """Wait for several pending decisions; returns their receipts in order (raises the first failure)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    out = []
    for p in pendings:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        out.append(p.durable(left))
    return out


__all__ = ["DecisionLogger", "Draft", "Entry", "OnFull", "PendingDecision", "drain"]
