"""A ledger writer in a child process, for :class:`~.logger.DecisionLogger` (``writer="process"``).

With the writer thread, the serving thread and the ledger's Python work (leaf bytes, hashes, rows)
share one GIL. Under a batch load each waits for the other at every hand-over, and the two together
were measured at about 70,000 decisions/s on 2 cores, although the ledger alone appends about 100,000
events/s and the guard alone prepares over 200,000 (``bench/runtime.py``). A child process owns the
appends instead: it opens the same trail (like any other process appending to it), and the parent's
logger sends it already encoded events and gets receipts back.

Wire format (a socket pair framed by :class:`multiprocessing.connection.Connection` byte messages,
both ends ours; no pickle is read by either side):

- request: four messages, sent back to back: ``meta`` (JSON:
  ``{"g": [[type, system, actor_id, end, count], ...], "s": [subject or null, ...]}``), then three
  byte messages in one of two forms:

  - plain: the events' ``head`` bytes joined by NUL, their ``mid`` bytes joined by NUL, and an empty
    message. The child builds the leaves.
  - built (``meta`` also holds ``"seq"``, the position the parent expects the first event to get,
    and ``"ts"``): the leaf bytes joined by NUL, the 32-byte leaf hashes back to back, and the heads'
    lengths as native unsigned 32-bit integers (both ends are on one machine). The ledger takes them
    where the guess holds and rebuilds them otherwise (:class:`._batches.BuiltBatch`). The
    parent guesses the end of the last answered request plus what is in flight; other writers make it
    wrong now and then, which costs a rebuild and nothing else.

  Canonical JSON never holds a raw NUL byte (control characters are escaped), so the separator is
  unambiguous. Separate messages rather than one spare a copy of the whole request on each side
  (10 MB per 10,000 decisions). An empty message in place of ``meta`` asks the child to stop.
- hello: ``{"ready": true, "size": events in the ledger, "last_ts": its last timestamp}``, once the
  child has opened the trail.
- reply: JSON ``{"seq": first seq, "ts": ledger timestamp, "n": events, "c": commit time}`` or
  ``{"error": message, "kind": "store" | "validation"}``; one reply per request, in order. The parent
  takes each receipt's leaf hash from what it built, or derives it from the event it sent when the
  child had to rebuild (:class:`SentReceipts`), so answers stay a few dozen bytes and can never fill
  the socket while the parent is sending.

The child appends everything that is waiting in the pipe in one transaction (one fsync) and answers
each request only after that commit: a receipt in the parent is as durable as one from the thread
writer. If the parent dies, the child commits what it had received, and exits on end of file.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import groupby
from multiprocessing.connection import Connection
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from ...errors import ModeltrailError, StoreError, ValidationError
from ...events import LazyReceipts, PreparedEvent, Receipt, format_ts
from ...ledger.leaf import build_leaves, leaf_hash
from .._batches import Batch, BuiltBatch, EventParts, PreparedBatch

if TYPE_CHECKING:
    from ...trail import Trail

_PG_ENV = "MODELTRAIL_WRITER_PG_URL"
BUILD_MIN_EVENTS = 256  # requests of at least this many events are sent built (see WriterProcess.send)
_MALLOC_KEEP_BYTES = 256 * 1024 * 1024
_new = tuple.__new__
_group_key = itemgetter(0, 1, 3, 6)  # type, system, actor_id, end
_subject, _head, _mid = itemgetter(2), itemgetter(4), itemgetter(5)
Done = Callable[[Sequence[Receipt] | None, BaseException | None], None]


class Request(NamedTuple):
    """One append request as its four messages (see the module docstring for both forms)."""

    meta: bytes
    first: bytes
    second: bytes
    third: bytes


def _groups(events: Sequence[PreparedEvent]) -> Iterator[PreparedBatch]:
    """``events`` as column-wise groups of one type, system, actor and end, in order."""
    for part in events.parts if type(events) is EventParts else (events,):
        if type(part) is PreparedBatch:
            yield part
            continue
        # groupby and itemgetter run in C: this is on the serving process's GIL (see WriterProcess).
        for (t, s, a, end), g in groupby(part, _group_key):
            group = list(g)
            yield PreparedBatch(t, s, a, end, [*map(_head, group)], [*map(_mid, group)], [*map(_subject, group)])


def encode_request(
    events: Sequence[PreparedEvent], first_seq: int | None = None, ts: str | None = None
) -> tuple[Request, list[bytes]]:
    """One append request for ``events`` and the leaf hashes it carries.

    With ``first_seq`` and ``ts``: the built form, whose leaves and hashes are made here for that
    position and timestamp (see :class:`._batches.BuiltBatch`). Without: the plain form, and
    no hashes.
    """
    groups: list[list[Any]] = []
    subjects: list[str | None] = []
    if first_seq is None or ts is None:
        heads: list[bytes] = []
        mids: list[bytes] = []
        for part in _groups(events):
            groups.append([part.type, part.system, part.actor_id, part.end.decode("utf-8"), len(part)])
            subjects += part.subjects
            heads += part.heads
            mids += part.mids
        meta = orjson.dumps({"g": groups, "s": subjects})
        return Request(meta, b"\x00".join(heads), b"\x00".join(mids), b""), []
    leaves: list[bytes] = []
    hashes: list[bytes] = []
    head_lens = array("I")
    for part in _groups(events):
        built, digests = build_leaves(part.heads, part.mids, part.end, first_seq + len(leaves), ts)
        groups.append([part.type, part.system, part.actor_id, part.end.decode("utf-8"), len(part)])
        subjects += part.subjects
        leaves += built
        hashes += digests
        head_lens.extend(map(len, part.heads))
    meta = orjson.dumps({"g": groups, "s": subjects, "seq": first_seq, "ts": ts})
    return Request(meta, b"\x00".join(leaves), b"".join(hashes), head_lens.tobytes()), hashes


def decode_request(meta_json: bytes, first: bytes, second: bytes, third: bytes) -> Batch:
    """The events of one request, a :class:`BuiltBatch` or :class:`PreparedBatch` per group (ValueError: malformed)."""
    meta = orjson.loads(meta_json)
    subjects = meta["s"]
    groups = meta["g"]
    built = "seq" in meta
    if not isinstance(subjects, list) or not isinstance(groups, list):
        raise ValueError("a request needs a list of groups and a list of subjects")
    first_seq, ts = (meta["seq"], meta["ts"]) if built else (0, "")
    if type(first_seq) is not int or first_seq < 0 or type(ts) is not str:
        raise ValueError("a built request needs a first sequence number and a timestamp")
    n = len(subjects)
    if not subjects:
        if first or second or third or groups:
            raise ValueError("request counts do not add up")
        return EventParts([])
    if sum(g[4] for g in groups) != n:
        raise ValueError("request counts do not add up")
    if built:
        leaves = first.split(b"\x00")
        lens = array("I")
        lens.frombytes(third)
        if not len(leaves) == len(lens) == n == len(second) / 32:
            raise ValueError("request counts do not add up")
        hashes = [second[k : k + 32] for k in range(0, 32 * n, 32)]
    else:
        heads = first.split(b"\x00")
        mids = second.split(b"\x00")
        if not len(heads) == len(mids) == n or third:
            raise ValueError("request counts do not add up")
    parts: list[BuiltBatch | PreparedBatch] = []
    i = 0
    for t, s, actor, end, count in groups:
        if type(count) is not int or count < 1 or not all(type(v) is str for v in (t, s, actor, end)):
            raise ValueError("a group needs four strings and a positive count")
        j = i + count
        if built:
            parts.append(
                BuiltBatch(
                    t, s, actor, end.encode(), subjects[i:j], leaves[i:j], hashes[i:j], lens[i:j], first_seq + i, ts
                )
            )
        else:
            parts.append(PreparedBatch(t, s, actor, end.encode(), heads[i:j], mids[i:j], subjects[i:j]))
        i = j
    return parts[0] if len(parts) == 1 else EventParts(parts)


def _recv_request(conn: Connection) -> Request | None:
    """The next request from the parent, or None for a stop request; EOFError/OSError when it is gone."""
    meta = conn.recv_bytes()
    if not meta:
        return None
    return Request(meta, conn.recv_bytes(), conn.recv_bytes(), conn.recv_bytes())


class SentReceipts(LazyReceipts):
    """Receipts of events the child appended.

    The child answers with the first sequence number and the timestamp only. When they are the ones
    the parent built the leaves for, the leaf hashes are the ones it sent; otherwise (the child had to
    rebuild the leaves) each hash follows from the event's bytes, which the parent still holds, when
    read. ``committed_at`` is the child's ``time.perf_counter()`` at the commit (one clock for the
    whole machine on Linux).
    """

    __slots__ = ("_events", "_hashes", "_seq", "_ts", "committed_at")

    def __init__(
        self,
        events: Sequence[PreparedEvent],
        seq: int,
        ts: str,
        committed_at: float | None,
        hashes: Sequence[bytes] | None = None,
    ) -> None:
        self._events, self._seq, self._ts, self.committed_at = events, seq, ts, committed_at
        self._hashes = hashes

    def __len__(self) -> int:
        return len(self._events)

    def _at(self, index: int) -> Receipt:
        seq = self._seq + index
        if self._hashes is not None:
            return _new(Receipt, (seq, self._hashes[index].hex(), self._ts))
        leaf = self._events[index].leaf(seq, self._ts)
        return _new(Receipt, (seq, leaf_hash(leaf).hex(), self._ts))

    def _range(self, lo: int, hi: int) -> SentReceipts:
        hashes = None if self._hashes is None else self._hashes[lo:hi]
        return SentReceipts(self._events[lo:hi], self._seq + lo, self._ts, self.committed_at, hashes)


def _receipts(reply: dict[str, Any], sent: _Sent) -> SentReceipts:
    events = sent.events
    if int(reply["n"]) != len(events):
        raise StoreError(f"the ledger writer process answered for {reply['n']} events, {len(events)} were sent")
    committed = reply.get("c")
    seq, ts = int(reply["seq"]), str(reply["ts"])
    # The parent's hashes hold only for the position and timestamp it built the leaves for.
    hashes = sent.hashes if (seq, ts) == (sent.first_seq, sent.ts) else None
    return SentReceipts(events, seq, ts, float(committed) if committed else None, hashes)


class _Sent(NamedTuple):
    """A request in flight: its events, who to tell, and what its leaves were built for."""

    events: Sequence[PreparedEvent]
    done: Done | None
    first_seq: int
    ts: str
    hashes: list[bytes]


# ----------------------------------------------------------------------------------------- child


def _child_main(folder: str, pg_url: str | None, conn: Connection) -> None:
    """The child: open the trail, then append what arrives until a stop request or end of file."""
    try:
        from ...trail import open_trail_folder

        trail = open_trail_folder(Path(folder), pg_url)
    except BaseException as exc:  # report any start-up failure to the parent, then stop
        conn.send_bytes(orjson.dumps({"error": f"cannot open the trail: {exc}", "kind": "store"}))
        conn.close()
        return
    # Where the next append goes: the parent builds leaves for it (see BuiltBatch).
    size = trail.size()
    last = trail.store.get_event(size - 1) if size else None
    conn.send_bytes(orjson.dumps({"ready": True, "size": size, "last_ts": None if last is None else last.ts}))
    try:
        stop = False
        while not stop:
            try:
                first = _recv_request(conn)
            except (EOFError, OSError):
                return  # the parent is gone: everything received was answered or is being dropped unacknowledged
            requests: list[Request] = []
            if first is None:
                stop = True
            else:
                requests.append(first)
            # Group commit: everything already waiting goes into the same transaction.
            while not stop and len(requests) < 64 and conn.poll(0):
                try:
                    more = _recv_request(conn)
                except (EOFError, OSError):
                    break  # a request cut off by the parent's end was never acknowledged
                if more is None:  # stop once the others are answered
                    stop = True
                else:
                    requests.append(more)
            if requests:
                _append_requests(trail, conn, requests)
        conn.send_bytes(b'{"stopped":true}')
    finally:
        trail.close()
        conn.close()


def _append_requests(trail: Trail, conn: Connection, requests: list[Request]) -> None:
    decoded: list[Batch | BaseException] = []
    for request in requests:
        try:
            decoded.append(decode_request(*request))
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            decoded.append(ValidationError(f"malformed append request: {exc}"))
    good = [d for d in decoded if not isinstance(d, BaseException)]
    appended: list[Sequence[Receipt]] = []
    failure: BaseException | None = None
    if good:
        try:
            # One transaction, but each request keeps its own receipts and timestamp.
            appended = trail.append_prepared_each(good)
        except Exception as exc:  # every request of the failed transaction gets the error
            failure = exc
    committed = time.perf_counter()
    answers = iter(appended)
    for d in decoded:
        if isinstance(d, BaseException):
            conn.send_bytes(orjson.dumps({"error": str(d), "kind": "validation"}))
            continue
        if failure is not None:
            kind = "validation" if isinstance(failure, ValidationError) else "store"
            conn.send_bytes(orjson.dumps({"error": str(failure), "kind": kind}))
            continue
        # The answer stays small (the parent has or derives the leaf hashes itself): a big answer
        # could fill the socket while the parent is busy sending, and nobody would read it.
        receipts = next(answers)
        first, ts = (receipts[0].seq, receipts[0].ts) if receipts else (0, "")
        conn.send_bytes(orjson.dumps({"seq": first, "ts": ts, "n": len(d), "c": committed}))


# ---------------------------------------------------------------------------------------- parent


class WriterProcess:
    """The parent's handle on the child: send events, read the answers, complete the callers.

    No thread of its own waits for answers: every thread that wakes in the serving process takes the
    GIL from the request threads for a moment, and those moments made the tail of their latency
    (bench/runtime.py). Answers are read by :meth:`pump`, which the logger's writer calls at each of
    its ticks and before each send, and which callers waiting for durability call themselves.
    ``done(receipts, error)`` is called in order, by whichever thread reads the answer.
    """

    def __init__(self, trail: Trail, *, max_in_flight: int = 2, start_timeout: float = 60.0) -> None:
        """Start the child and wait until it has opened the trail (StoreError if it cannot).

        The child is a fresh interpreter (``python -m modeltrail.runtime._writer``), not a
        ``multiprocessing`` spawn: that would re-run the caller's main script in the child.
        """
        from ...ledger.store import SqliteStore

        pg_url = None if isinstance(trail.store, SqliteStore) else str(getattr(trail.store, "url", ""))
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        # The child imports this very package, wherever it was imported from here.
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [env.get("PYTHONPATH")])])
        args = [sys.executable, "-m", "modeltrail.runtime._writer", str(theirs.fileno()), os.fspath(trail.path)]
        # glibc serves each request buffer (about 10 MB under a batch load) with a fresh mmap and frees
        # it back to the kernel, so every page of every request faulted in again: 5-10% of the child's
        # time (perf). Larger thresholds keep such buffers in the heap for reuse; the price is that the
        # child keeps up to _MALLOC_KEEP_BYTES of freed memory. Ignored by other C libraries; a value
        # already set in the environment wins.
        env.setdefault("MALLOC_MMAP_THRESHOLD_", str(_MALLOC_KEEP_BYTES // 4))
        env.setdefault("MALLOC_TRIM_THRESHOLD_", str(_MALLOC_KEEP_BYTES))
        if pg_url:
            env[_PG_ENV] = pg_url  # not on the command line, where other users could read a password
        try:
            self._proc = subprocess.Popen(args, pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
        except OSError as exc:
            ours.close()
            raise StoreError(f"cannot start the ledger writer process: {exc}") from exc
        finally:
            theirs.close()
        parent = Connection(ours.detach())
        self._conn = parent
        if not parent.poll(start_timeout):
            self._proc.kill()
            raise StoreError(f"the ledger writer process did not start within {start_timeout} s")
        try:
            hello = orjson.loads(parent.recv_bytes())
        except (EOFError, OSError):
            code = self._proc.wait(5)
            raise StoreError(f"the ledger writer process exited at start (exit code {code})") from None
        if "error" in hello:
            self._proc.wait(5)
            raise StoreError(str(hello["error"]))
        self._max_in_flight = max_in_flight
        self._in_flight: deque[_Sent] = deque()
        self._lock = threading.Lock()  # guards _in_flight, _dead and the position guess below
        self._send_lock = threading.Lock()  # requests reach the child in the order their positions were guessed
        self._recv_lock = threading.Lock()  # one reader of answers at a time, so they complete in order
        self._dead: BaseException | None = None
        # The guess of where the next request goes: the end of the last answered request plus what is
        # in flight. A wrong guess (another writer appended in between) costs the child a rebuild of
        # that request's leaves, and the next answer corrects it.
        self._answered_end = int(hello["size"])
        self._in_flight_events = 0
        self._last_ts: str = hello.get("last_ts") or ""

    @property
    def failure(self) -> BaseException | None:
        """Why the child stopped, once it has (every later request fails with this)."""
        return self._dead

    @property
    def exited(self) -> int | None:
        """The child's exit status once it has stopped (health checks see a dead writer before a request does)."""
        return self._proc.poll()

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._proc.pid

    @property
    def in_flight(self) -> int:
        """Requests sent and not answered yet."""
        return len(self._in_flight)

    def send(self, events: Sequence[PreparedEvent], done: Done) -> None:
        """Send ``events`` for appending; ``done`` is called once with receipts or an error."""
        while len(self._in_flight) >= self._max_in_flight and self._dead is None:
            self.pump(timeout=1.0)  # the child is behind: wait for an answer before sending more
        with self._send_lock:
            # Only big requests are built here (~1.4 µs per event): for a few events the work would
            # delay the serving threads, which share this process's GIL, for no gain (p99 added
            # latency 71-75 -> 97-117 µs when every request was built).
            if len(events) >= BUILD_MIN_EVENTS:
                now = format_ts(datetime.now(UTC))
                with self._lock:
                    first_seq = self._answered_end + self._in_flight_events
                    ts = max(now, self._last_ts)
                # Outside _lock, so that answers can be read meanwhile.
                data, hashes = encode_request(events, first_seq, ts)
            else:
                data, hashes = encode_request(events)
                first_seq, ts = -1, ""  # nothing was built for a position
            with self._lock:
                dead = self._dead
                if dead is None:
                    self._in_flight.append(_Sent(events, done, first_seq, ts, hashes))
                    self._in_flight_events += len(events)
                    self._last_ts = max(ts, self._last_ts)
                    try:
                        send = self._conn.send_bytes
                        for message in data:
                            send(message)
                    except (OSError, ValueError) as exc:
                        self._in_flight.pop()
                        self._in_flight_events -= len(events)
                        dead = self._died(exc)
        if dead is not None:
            done(None, dead)

    def pump(self, timeout: float = 0.0) -> None:
        """Read the answers that have arrived (waiting up to ``timeout`` for a first one) and complete them."""
        if not (self._recv_lock.acquire(True, timeout) if timeout > 0 else self._recv_lock.acquire(False)):
            return
        try:
            wait = timeout
            while self._in_flight:
                try:
                    if not self._conn.poll(wait):
                        return
                    data = self._conn.recv_bytes()
                except (EOFError, OSError) as exc:
                    self._fail_all(exc)
                    return
                wait = 0.0
                try:
                    reply: Any = orjson.loads(data)
                except orjson.JSONDecodeError as exc:
                    reply = exc
                with self._lock:
                    sent = self._in_flight.popleft()
                    self._in_flight_events -= len(sent.events)
                    # In the same critical section as the line above, so that a guess made by send()
                    # never sees this request neither in flight nor answered.
                    if isinstance(reply, dict) and "seq" in reply and "ts" in reply:
                        self._answered_end = int(reply["seq"]) + len(sent.events)
                        self._last_ts = max(self._last_ts, str(reply["ts"]))
                if sent.done is None:  # the answer to the stop request
                    continue
                try:
                    if isinstance(reply, BaseException):
                        raise reply
                    if "error" in reply:
                        cls = ValidationError if reply.get("kind") == "validation" else StoreError
                        sent.done(None, cls(str(reply["error"])))
                    else:
                        sent.done(_receipts(reply, sent), None)
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ModeltrailError) as exc:
                    sent.done(None, StoreError(f"unreadable answer from the ledger writer process: {exc}"))
        finally:
            self._recv_lock.release()

    def _fail_all(self, cause: BaseException) -> None:
        with self._lock:
            err = self._died(cause)
            waiting = list(self._in_flight)
            self._in_flight.clear()
            self._in_flight_events = 0
        for sent in waiting:
            if sent.done is not None:
                sent.done(None, err)

    def _died(self, cause: BaseException | None) -> BaseException:
        if self._dead is None:
            try:
                code: int | None = self._proc.wait(1)
            except subprocess.TimeoutExpired:
                code = None
            err = StoreError(f"the ledger writer process stopped (exit code {code}); the events were not recorded")
            if cause is not None:
                err.__cause__ = cause
            self._dead = err
        return self._dead

    def close(self, timeout: float = 30.0) -> None:
        """Read every answer still due, let the child commit and exit, then release the socket."""
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._dead is None:
                self._in_flight.append(_Sent((), None, 0, "", []))
                try:
                    self._conn.send_bytes(b"")
                except (OSError, ValueError):
                    self._in_flight.pop()
        while self._in_flight and self._dead is None and time.monotonic() < deadline:
            self.pump(timeout=0.5)
        try:
            self._proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        if self._in_flight:  # unanswered at the deadline: they were not confirmed
            self._fail_all(StoreError("the ledger writer process did not answer before closing"))
        try:
            self._conn.close()
        except OSError:
            pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the child: ``python -m modeltrail.runtime._writer FD TRAIL_FOLDER``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or not args[0].isdigit():
        print(
            "usage: python -m modeltrail.runtime._writer FD TRAIL_FOLDER (started by DecisionLogger)",
            file=sys.stderr,
        )
        return 2
    _child_main(args[1], os.environ.get(_PG_ENV), Connection(int(args[0])))
    return 0


__all__ = ["Request", "WriterProcess", "decode_request", "encode_request", "main"]
