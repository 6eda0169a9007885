"""The decision logger: a bounded in-memory buffer in front of the ledger, drained by group commit.

Callers enqueue events (``submit``) and get a :class:`PendingDecision` back at once; one background
writer thread takes everything queued, appends it to the ledger in one transaction (one fsync), and only
then marks each pending entry durable. Nothing is acknowledged before it is durable, and nothing is ever
dropped: when the buffer is full the caller either waits (``on_full="block"``, up to ``block_timeout``)
and then gets :class:`~modeltrail.errors.BufferFullError`, or gets that error at once (``"raise"``).

With ``writer="process"`` the appends run in a child process (:mod:`._writer.process`); its answers are
read by the waiters themselves and at the writer's ticks, so no extra thread of the serving process
wakes up for them.

A write failure (disk full, database gone) fails every entry of the affected batch: waiters in
:meth:`PendingDecision.durable` get the error, and the next :meth:`DecisionLogger.flush` raises it.

Events are validated before they are acknowledged. An entry can be an
:class:`~modeltrail.events.EventInput` (validated by the writer with ``prepare``; an invalid one fails
alone, not its batch), an already :class:`~modeltrail.events.PreparedEvent`, or a :class:`Draft` whose
encoding the writer performs (the guard uses that to keep JSON encoding off the request path).
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol, overload

from ..errors import BufferFullError, ModeltrailError, StoreError, UnavailableError, ValidationError
from ..events import EventInput, PreparedEvent, Receipt, checked_index, prepare
from ..speed import begin_fast_switching, end_fast_switching
from ._batches import Batch, EventParts, PreparedBatch, as_batch
from ._writer.process import WriterProcess

if TYPE_CHECKING:
    from ..trail import Trail

OnFull = Literal["block", "raise"]
WriterKind = Literal["thread", "process"]


class Draft(Protocol):
    """An event whose encoding is deferred to the writer thread."""

    def to_prepared(self) -> PreparedEvent:
        """Encode (and, where not done yet, validate) the event."""
        ...


Entry = EventInput | PreparedEvent | Draft


class _Submission:
    """The events of one ``submit_batch`` (or of joined single submits): one transaction, completed together.

    One completion per submission rather than per event keeps the writer's per-event Python work (and
    its share of the GIL) small; each :class:`PendingDecision` reads its own slot from here.
    """

    __slots__ = ("done", "done_at", "entries", "error", "errors", "offset", "open", "prepared", "receipts")

    def __init__(self, entries: Sequence[Entry], prepared: bool, open: bool = False) -> None:
        self.entries = entries
        self.open = open  # single submits may still join it (until the writer takes it)
        self.prepared = prepared  # every entry is a PreparedEvent: the writer skips the per-entry checks
        self.receipts: Sequence[Receipt | None] = ()  # shared by the submissions of one write ...
        self.offset = 0  # ... this submission's receipts start here
        self.error: BaseException | None = None  # the write of the whole transaction failed
        self.errors: dict[int, BaseException] | None = None  # entries that were invalid on their own
        self.done = False
        self.done_at: float | None = None


class PendingDecision:
    """One enqueued event: becomes durable (with a :class:`Receipt`) or failed, exactly once."""

    __slots__ = ("_index", "_logger", "_sub", "decision_id")

    def __init__(self, logger: DecisionLogger, sub: _Submission, index: int, decision_id: str | None = None) -> None:
        self._logger = logger
        self._sub = sub
        self._index = index
        self.decision_id = decision_id

    def __repr__(self) -> str:
        sub = self._sub
        state = "pending" if not sub.done else "failed" if self._failure() is not None else "durable"
        return f"PendingDecision({self.decision_id!r}, {state})"

    def _failure(self) -> BaseException | None:
        sub = self._sub
        if sub.errors is not None and self._index in sub.errors:
            return sub.errors[self._index]
        return sub.error

    @property
    def done(self) -> bool:
        """Whether the writer has finished with this entry (durable or failed)."""
        return self._sub.done

    @property
    def done_at(self) -> float | None:
        """``time.perf_counter()`` when the writer finished with this entry (its commit returned), or None."""
        return self._sub.done_at

    def durable(self, timeout: float | None = None) -> Receipt:
        """Wait until the event is durable and return its ledger receipt.

        Raises the writer's error (:class:`~modeltrail.errors.StoreError`, or the
        :class:`~modeltrail.errors.ValidationError` of this event) if it could not be recorded, and
        :class:`TimeoutError` if it is still pending after ``timeout`` seconds.
        """
        sub = self._sub
        if not sub.done and not self._logger._wait(lambda: sub.done, timeout):
            raise TimeoutError(f"decision {self.decision_id} not durable after {timeout} s")
        failure = self._failure()
        if failure is not None:
            raise failure
        receipt = sub.receipts[sub.offset + self._index]
        assert receipt is not None
        return receipt


class PendingBatch(Sequence[PendingDecision]):
    """The pending events of one batch submission; each :class:`PendingDecision` is made when read.

    A batch of 1,000 decisions would otherwise allocate 1,000 objects that the cyclic garbage
    collector tracks, and that later collections walk, whether or not anybody looks at them.
    """

    __slots__ = ("_ids", "_logger", "_start", "_stop", "_sub")

    def __init__(
        self,
        logger: DecisionLogger,
        sub: _Submission,
        ids: Sequence[str | None],
        start: int = 0,
        stop: int | None = None,
    ) -> None:
        self._logger, self._sub, self._ids = logger, sub, ids
        self._start, self._stop = start, len(ids) if stop is None else stop

    def __len__(self) -> int:
        return self._stop - self._start

    @overload
    def __getitem__(self, index: int) -> PendingDecision: ...

    @overload
    def __getitem__(self, index: slice) -> PendingBatch: ...

    def __getitem__(self, index: int | slice) -> PendingDecision | PendingBatch:
        if isinstance(index, slice):
            lo, hi, step = index.indices(len(self))
            if step != 1:
                return [self[i] for i in range(lo, hi, step)]  # type: ignore[return-value]
            return PendingBatch(self._logger, self._sub, self._ids, self._start + lo, self._start + max(lo, hi))
        i = self._start + checked_index(index, len(self))
        return PendingDecision(self._logger, self._sub, i, self._ids[i])

    @property
    def done(self) -> bool:
        """Whether the writer has finished with the whole batch (durable or failed)."""
        return self._sub.done


_live: weakref.WeakSet[DecisionLogger] = weakref.WeakSet()

# How long the writer gathers decisions before a commit, by writer kind. Every commit wakes a thread
# of the serving process, which takes the GIL from the request threads for a moment; with the process
# writer those wake-ups were the whole tail of the added latency. At 35 ms between commits the
# 99th percentile of the added latency was 47-50 µs and durability 38 ms (bench/runtime.py, 2 cores);
# at 20 ms, 110-130 µs and 24 ms. The thread writer's tail comes from its own work, not the wake-ups.
DEFAULT_FLUSH_INTERVAL = {"thread": 0.02, "process": 0.035}


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
    per transaction and gathers events for up to ``flush_interval`` seconds before committing (0 commits
    at once; default 20 ms with the writer thread, 35 ms with the process writer, see
    ``DEFAULT_FLUSH_INTERVAL``). Thread-safe; one writer thread per logger.
    """

    def __init__(
        self,
        trail: Trail,
        *,
        capacity: int = 100_000,
        max_batch: int = 10_000,
        flush_interval: float | None = None,
        on_full: OnFull = "block",
        block_timeout: float = 1.0,
        boost_writer: bool = False,
        writer: WriterKind = "thread",
    ) -> None:
        """Start the writer thread for ``trail``.

        ``boost_writer=True`` lowers the process's GIL switch interval to 20 µs while the logger is open
        (see :mod:`modeltrail.speed`); without it, CPU-bound request threads can delay durability by
        seconds. Off by default, because the interval is the host application's setting;
        ``modeltrail serve`` and the benchmarks turn it on.

        ``writer="process"`` appends through a child process (:mod:`._writer.process`) instead of in this
        process: the ledger's Python work then no longer competes with the callers for the GIL, which
        is what limits batch scoring to about 70,000 decisions/s with the thread. It costs a process
        start (about 0.2 s) and suits long-lived, high-volume loggers.
        """
        if capacity < 1:
            raise ValidationError("expected at least 1", field="capacity")
        if max_batch < 1:
            raise ValidationError("expected at least 1", field="max_batch")
        if flush_interval is None:
            flush_interval = DEFAULT_FLUSH_INTERVAL.get(writer, 0.02)
        if flush_interval < 0:
            raise ValidationError("expected a number of seconds >= 0", field="flush_interval")
        if writer not in ("thread", "process"):
            raise ValidationError(f"expected 'thread' or 'process', got {writer!r}", field="writer")
        if on_full not in ("block", "raise"):
            raise ValidationError(f"expected 'block' or 'raise', got {on_full!r}", field="on_full")
        self.trail = trail
        self.capacity = capacity
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        self.on_full: OnFull = on_full
        self.block_timeout = block_timeout
        self.boost_writer = boost_writer
        self._queue: deque[_Submission] = deque()
        self._queued = 0  # events in the queue
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
        self.writer: WriterKind = writer
        self._process: WriterProcess | None = WriterProcess(trail) if writer == "process" else None
        self._thread = threading.Thread(target=self._run, name="modeltrail-decision-writer", daemon=True)
        self._boosted = False
        if boost_writer:
            begin_fast_switching()
            self._boosted = True
        self._thread.start()
        _live.add(self)
        # Closing the trail first writes out what is buffered here (and stops the writer before the
        # connections it uses are closed under it).
        trail.on_close(self.close)

    # -- enqueueing ----------------------------------------------------------------------------

    def submit(self, entry: Entry, decision_id: str | None = None) -> PendingDecision:
        """Enqueue one event; returns at once (unless the buffer is full, see the class docstring).

        Single events join one open submission until the writer takes it, so that completing them
        costs the writer one step per group rather than one per event: that work shares the GIL with
        the callers and showed up in the tail of their latency (bench/runtime.py).
        """
        prepared = type(entry) is PreparedEvent
        with self._lock:
            self._refuse_if_unavailable()
            if self._queued + 1 > self.capacity:
                self._wait_for_room(1)
            q = self._queue
            tail = q[-1] if q else None
            if tail is not None and tail.open and len(tail.entries) < self.max_batch:
                entries: list[Entry] = tail.entries  # type: ignore[assignment]  # open ones hold a list
                index = len(entries)
                entries.append(entry)
                if not prepared:
                    tail.prepared = False
                sub = tail
            else:
                sub = _Submission([entry], prepared, open=True)
                q.append(sub)
                index = 0
            self._queued += 1
            self._enqueued += 1
            if self._writer_idle or (self._lingering and self._queued >= self.max_batch):
                self._not_empty.notify()
        return PendingDecision(self, sub, index, decision_id)

    def submit_batch(self, events: Sequence[Entry], decision_ids: Sequence[str | None]) -> PendingBatch:
        """Enqueue several events in order under one lock, all or (buffer full, closed) none.

        ``decision_ids`` gives each event's decision id (or None). Returns the pending events as one
        :class:`PendingBatch` (each :class:`PendingDecision` is made when read).
        """
        n = len(events)
        if len(decision_ids) != n:
            raise ValidationError(f"expected {n} decision ids, got {len(decision_ids)}", field="decision_ids")
        if n > self.capacity:
            raise BufferFullError(f"a batch of {n} events does not fit a buffer of capacity {self.capacity}")
        sub = _Submission(events, type(events) is PreparedBatch or all(type(e) is PreparedEvent for e in events))
        if n:
            self._enqueue(sub, n)
        return PendingBatch(self, sub, decision_ids)

    def _refuse_if_unavailable(self) -> None:
        """Called with the lock held: refuse new events once closing, or when the writer process died."""
        if self._closing:
            raise StoreError("the decision logger is closed; nothing was logged")
        problem = self.writer_problem()
        if problem is not None:
            raise UnavailableError(f"decision logging is unavailable: {problem}; nothing was logged")

    def writer_problem(self) -> str | None:
        """Why the writer cannot take decisions (its process died), or None while it can."""
        if self._process is None:
            return None
        if self._process.failure is not None:
            return str(self._process.failure)
        code = self._process.exited
        if code is not None and not self._closing:
            return f"the ledger writer process exited (status {code})"
        return None

    def _enqueue(self, sub: _Submission, n: int) -> None:
        with self._lock:
            self._refuse_if_unavailable()
            if self._queued + n > self.capacity:
                self._wait_for_room(n)
            self._queue.append(sub)
            self._queued += n
            self._enqueued += n
            if self._writer_idle or (self._lingering and self._queued >= self.max_batch):
                self._not_empty.notify()

    def _wait_for_room(self, n: int) -> None:
        """Called with the lock held and the buffer too full for ``n`` more entries."""
        if self.on_full == "raise":
            self.full_errors += 1
            raise BufferFullError(
                f"the decision log buffer is full ({self._queued} of {self.capacity} events waiting for "
                "the ledger); the call was refused and nothing was logged"
            )
        self.waits += 1
        self._full_waiters += 1
        try:
            ok = self._not_full.wait_for(lambda: self._queued + n <= self.capacity or self._closing, self.block_timeout)
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

    def _wait(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        """Wait until ``predicate()`` (a completion); with the process writer, read its answers meanwhile.

        A waiter reads the child's answers itself rather than waiting for the writer's next tick, so
        it learns of the commit at once, and no thread has to wake just to read them.
        """
        proc = self._process
        deadline = None if timeout is None else time.monotonic() + timeout
        while not predicate():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return predicate()
            step = 0.05 if left is None else min(0.05, left)
            if proc is not None and proc.in_flight:
                proc.pump(timeout=step)
            else:
                with self._done_cond:
                    # One wait, not wait_for: a notify after a send must end it, so that this thread
                    # starts reading the child's answer (the predicate is still false then).
                    if not predicate():
                        self._done_cond.wait(step)
        return True

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every event enqueued before this call is durable (or failed).

        Raises the first write failure since the previous ``flush`` (then clears it), and
        :class:`TimeoutError` when the events are still pending after ``timeout`` seconds.
        """
        with self._lock:
            target = self._enqueued
            self._flush_requested = True
            self._not_empty.notify()
        ok = self._wait(lambda: self._completed >= target, timeout)
        with self._done_cond:
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
            end_fast_switching()
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

    def _take(self) -> list[_Submission] | None:
        """Wait for a batch to write: the batch, ``[]`` after an idle tick, None when closed and drained."""
        q = self._queue
        with self._lock:
            polled = False
            if not q:
                if self._closing:
                    return None
                self._flush_requested = False
                if self.flush_interval > 0:
                    # Poll rather than be woken: a caller that wakes an idle writer pays a futex wake-up,
                    # and the writer then takes the GIL in the middle of that caller's request (the tail
                    # of the added latency, bench/runtime.py). Flush and close still wake it at once.
                    self._not_empty.wait(self.flush_interval)
                    if not q:
                        return None if self._closing else []  # an idle tick
                    polled = True
                else:
                    self._writer_idle = True
                    while not q and not self._closing:
                        self._not_empty.wait()
                    self._writer_idle = False
                    if not q:
                        return None
            # Linger unless a big group is waiting already. Under a batch load, what queued up during the
            # previous write is the next group: waiting for more only idled the writer (40% of the time,
            # bench/runtime.py). Single calls trickle in: there one fsync should cover many, or the writer
            # commits all the time and competes with the callers for the GIL (added latency p50 16 -> 30-60 µs).
            linger_below = max(1, self.max_batch // 10)
            # (Events found by a poll have waited up to one interval already: no second wait for them.)
            if not polled and self.flush_interval > 0 and self._queued < linger_below and not self._closing:
                # Linger a little so that one fsync covers many events; a flush or close cuts it short.
                deadline = time.monotonic() + self.flush_interval
                self._lingering = True
                while self._queued < self.max_batch and not self._closing and not self._flush_requested:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._not_empty.wait(left)
                self._lingering = False
            # Whole submissions, up to max_batch events (a bigger submission goes alone).
            batch = [q.popleft()]
            batch[0].open = False
            size = len(batch[0].entries)
            while q and size + len(q[0].entries) <= self.max_batch:
                sub = q.popleft()
                sub.open = False
                batch.append(sub)
                size += len(sub.entries)
            self._queued -= size
            if self._full_waiters:
                self._not_full.notify_all()
            return batch

    def _run(self) -> None:
        proc = self._process
        try:
            while True:
                batch = self._take()
                if proc is not None and proc.in_flight:
                    proc.pump()  # complete what the child has committed since the last tick
                if batch is None:
                    return
                if batch:
                    self._write(batch)
        finally:
            if self._process is not None:
                self._process.close()

    def _write(self, batch: list[_Submission]) -> None:
        # The submissions' events are appended as parts of one sequence, not copied into one list: a
        # PreparedBatch (the guard's batches) stays column-wise down to the ledger.
        chunks: list[Sequence[PreparedEvent]] = []
        parts: list[tuple[_Submission, int]] = []
        invalid = 0
        total = 0
        for sub in batch:
            entries = sub.entries
            total += len(entries)
            if sub.prepared:
                chunks.append(entries)  # type: ignore[arg-type]  # checked when submitted
                parts.append((sub, len(entries)))
                continue
            prepared: list[PreparedEvent] = []
            valid = 0
            for i, entry in enumerate(entries):
                try:
                    if isinstance(entry, PreparedEvent):
                        ev = entry
                    elif isinstance(entry, EventInput):
                        ev = prepare(entry, max_payload_bytes=self.trail.config.max_payload_bytes)
                    else:
                        ev = entry.to_prepared()
                except (ValidationError, TypeError, ValueError) as exc:
                    # One malformed event must not sink the batch: it alone fails.
                    if sub.errors is None:
                        sub.errors = {}
                    sub.errors[i] = exc if isinstance(exc, ModeltrailError) else ValidationError(str(exc))
                    invalid += 1
                    continue
                prepared.append(ev)
                valid += 1
            chunks.append(prepared)
            parts.append((sub, valid))
        events: Batch = as_batch(chunks[0]) if len(chunks) == 1 else EventParts(chunks)
        if not events:
            self._finish(parts, [], None, invalid, total)
        elif self._process is not None:
            self._process.send(events, lambda receipts, exc: self._finish(parts, receipts, exc, invalid, total))
            with self._done_cond:
                self._done_cond.notify_all()  # waiters (only they wake) start reading the answer now
        else:
            try:
                receipts = self._append(events)
            except Exception as exc:
                self._finish(parts, None, exc, invalid, total)
            else:
                self._finish(parts, receipts, None, invalid, total)

    def _finish(
        self,
        parts: list[tuple[_Submission, int]],
        receipts: Sequence[Receipt] | None,
        error: BaseException | None,
        invalid: int,
        total: int,
    ) -> None:
        """Complete one written batch: every submission becomes durable, or failed with the write's error."""
        failure: BaseException | None = None
        written = sum(k for _, k in parts)
        if error is not None or receipts is None:
            exc = error or StoreError("ledger write failed")
            failure = exc if isinstance(exc, ModeltrailError) else StoreError(f"ledger write failed: {exc}")
            if failure is not exc:
                failure.__cause__ = exc
            for sub, _ in parts:
                sub.error = failure
                sub.done = True
        else:
            # A few attribute writes per submission, no per-event work: this runs while callers are
            # serving, and every microsecond here is one they may wait for the GIL.
            # The child's commit time when it reports one (the same clock on one machine).
            done_at = getattr(receipts, "committed_at", None) or time.perf_counter()
            pos = 0
            for sub, k in parts:
                if sub.errors:
                    # Put the receipts back at their entries' positions (the invalid ones have none).
                    it = iter(receipts[pos : pos + k])
                    sub.receipts = [None if i in sub.errors else next(it) for i in range(len(sub.entries))]
                else:
                    sub.receipts = receipts
                    sub.offset = pos
                pos += k
                sub.done_at = done_at
                sub.done = True
        with self._done_cond:
            if failure is None:
                self.written += written
                self.batches += 1 if written else 0
            else:
                self.failed += written
                if self._failure is None:
                    self._failure = failure
            self.failed += invalid
            self._completed += total
            self._done_cond.notify_all()


def _appender(trail: Trail) -> Callable[[Batch], Sequence[Receipt]]:
    """How the writer appends already-validated events: ``Trail.append_prepared``.

    ``Trail.record_many`` would validate and encode every event a second time (the dominant cost of a
    decision); the events here were prepared by :mod:`._encoding.encode`.
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


__all__ = ["DecisionLogger", "Draft", "Entry", "OnFull", "PendingBatch", "PendingDecision", "drain"]
