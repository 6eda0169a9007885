"""A ledger writer in a child process, for :class:`~.logger.DecisionLogger` (``writer="process"``).

With the writer thread, the serving thread and the ledger's Python work (leaf bytes, hashes, rows)
share one GIL. Under a batch load each waits for the other at every hand-over, and the two together
were measured at about 70,000 decisions/s on 2 cores, although the ledger alone appends about 100,000
events/s and the guard alone prepares over 200,000 (``bench/runtime.py``). A child process owns the
appends instead: it opens the same trail (like any other process appending to it), and the parent's
logger sends it already encoded events and gets receipts back.

Wire format (a socket pair framed by :class:`multiprocessing.connection.Connection` byte messages,
both ends ours; no pickle is read by either side):

- request: three messages, sent back to back: ``meta`` (JSON:
  ``{"g": [[type, system, actor_id, end, count], ...], "s": [subject or null, ...]}``), then the
  events' ``head`` bytes joined by NUL, then their ``mid`` bytes joined by NUL. Canonical JSON never
  holds a raw NUL byte (control characters are escaped), so the separator is unambiguous. Three
  messages rather than one spare a copy of the whole request on each side (10 MB per 10,000
  decisions). An empty message in place of ``meta`` asks the child to stop.
- reply: JSON ``{"seq": first seq, "ts": ledger timestamp, "n": events, "c": commit time}`` or
  ``{"error": message, "kind": "store" | "validation"}``; one reply per request, in order. The parent
  derives each receipt's leaf hash from the event it sent (:class:`SentReceipts`), so answers stay a few
  dozen bytes and can never fill the socket while the parent is sending.

The child appends everything that is waiting in the pipe in one transaction (one fsync) and answers
each request only after that commit: a receipt in the parent is as durable as one from the thread
writer. If the parent dies, the child commits what it had received, and exits on end of file.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from itertools import groupby
from multiprocessing.connection import Connection
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from ..errors import ModeltrailError, StoreError, ValidationError
from ..events import EventParts, LazyReceipts, PreparedBatch, PreparedEvent, Receipt

if TYPE_CHECKING:
    from ..trail import Trail

_PG_ENV = "MODELTRAIL_WRITER_PG_URL"
_MALLOC_KEEP_BYTES = 256 * 1024 * 1024
_new = tuple.__new__
_group_key = itemgetter(0, 1, 3, 6)  # type, system, actor_id, end
_subject, _head, _mid = itemgetter(2), itemgetter(4), itemgetter(5)
Done = Callable[[Sequence[Receipt] | None, BaseException | None], None]


class Request(NamedTuple):
    """One append request as its three messages (see the module docstring)."""

    meta: bytes
    heads: bytes
    mids: bytes


def encode_request(events: Sequence[PreparedEvent]) -> Request:
    """One append request for ``events`` (see the module docstring)."""
    parts = events.parts if type(events) is EventParts else (events,)
    groups: list[list[Any]] = []
    subjects: list[str | None] = []
    heads: list[bytes] = []
    mids: list[bytes] = []
    for part in parts:
        if type(part) is PreparedBatch:
            # Already column-wise: one group, and the columns are joined as they are.
            groups.append([part.type, part.system, part.actor_id, part.end.decode("utf-8"), len(part)])
            subjects += part.subjects
            heads += part.heads
            mids += part.mids
            continue
        # map/itemgetter and groupby run in C: this is on the serving process's GIL (see WriterProcess).
        groups += [[t, s, a, end.decode("utf-8"), sum(1 for _ in g)] for (t, s, a, end), g in groupby(part, _group_key)]
        subjects += map(_subject, part)
        heads += map(_head, part)
        mids += map(_mid, part)
    return Request(orjson.dumps({"g": groups, "s": subjects}), b"\x00".join(heads), b"\x00".join(mids))


def decode_request(meta_json: bytes, joined_heads: bytes, joined_mids: bytes) -> Sequence[PreparedEvent]:
    """The events of one request (column-wise, one :class:`PreparedBatch` per group); ValueError when malformed."""
    meta = orjson.loads(meta_json)
    subjects = meta["s"]
    groups = meta["g"]
    if not isinstance(subjects, list) or not isinstance(groups, list):
        raise ValueError("a request needs a list of groups and a list of subjects")
    if not subjects:
        if joined_heads or joined_mids or groups:
            raise ValueError("request counts do not add up")
        return []
    heads = joined_heads.split(b"\x00")
    mids = joined_mids.split(b"\x00")
    if not (len(heads) == len(mids) == len(subjects) == sum(g[4] for g in groups)):
        raise ValueError("request counts do not add up")
    parts: list[PreparedBatch] = []
    i = 0
    for t, s, actor, end, count in groups:
        if type(count) is not int or count < 1 or not all(type(v) is str for v in (t, s, actor, end)):
            raise ValueError("a group needs four strings and a positive count")
        j = i + count
        parts.append(PreparedBatch(t, s, actor, end.encode("utf-8"), heads[i:j], mids[i:j], subjects[i:j]))
        i = j
    return parts[0] if len(parts) == 1 else EventParts(parts)


def _recv_request(conn: Connection) -> Request | None:
    """The next request from the parent, or None for a stop request; EOFError/OSError when it is gone."""
    meta = conn.recv_bytes()
    if not meta:
        return None
    return Request(meta, conn.recv_bytes(), conn.recv_bytes())


class SentReceipts(LazyReceipts):
    """Receipts of events the child appended, derived from the events themselves when read.

    The child answers with the first sequence number and the timestamp only; the leaf, and so its
    hash, follow from the event's bytes, which the parent still holds. ``committed_at`` is the child's
    ``time.perf_counter()`` at the commit (one clock for the whole machine on Linux).
    """

    __slots__ = ("_events", "_seq", "_ts", "committed_at")

    def __init__(self, events: Sequence[PreparedEvent], seq: int, ts: str, committed_at: float | None) -> None:
        self._events, self._seq, self._ts, self.committed_at = events, seq, ts, committed_at

    def __len__(self) -> int:
        return len(self._events)

    def _at(self, index: int) -> Receipt:
        seq = self._seq + index
        leaf = self._events[index].leaf(seq, self._ts)
        return _new(Receipt, (seq, hashlib.sha256(b"\x00" + leaf).hexdigest(), self._ts))

    def _range(self, lo: int, hi: int) -> SentReceipts:
        return SentReceipts(self._events[lo:hi], self._seq + lo, self._ts, self.committed_at)


def _receipts(reply: dict[str, Any], events: Sequence[PreparedEvent]) -> SentReceipts:
    if int(reply["n"]) != len(events):
        raise StoreError(f"the ledger writer process answered for {reply['n']} events, {len(events)} were sent")
    committed = reply.get("c")
    return SentReceipts(events, int(reply["seq"]), str(reply["ts"]), float(committed) if committed else None)


# ----------------------------------------------------------------------------------------- child


def _child_main(folder: str, pg_url: str | None, conn: Connection) -> None:
    """The child: open the trail, then append what arrives until a stop request or end of file."""
    try:
        from ..trail import open_trail_folder

        trail = open_trail_folder(Path(folder), pg_url)
    except BaseException as exc:  # report any start-up failure to the parent, then stop
        conn.send_bytes(orjson.dumps({"error": f"cannot open the trail: {exc}", "kind": "store"}))
        conn.close()
        return
    conn.send_bytes(b'{"ready":true}')
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
    decoded: list[Sequence[PreparedEvent] | BaseException] = []
    for request in requests:
        try:
            decoded.append(decode_request(*request))
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            decoded.append(ValidationError(f"malformed append request: {exc}"))
    good = [d for d in decoded if not isinstance(d, BaseException)]
    batch: Sequence[PreparedEvent] = good[0] if len(good) == 1 else EventParts(good)
    receipts: Sequence[Receipt] = ()
    failure: BaseException | None = None
    if batch:
        try:
            receipts = trail.append_prepared(batch)
        except Exception as exc:  # every request of the failed transaction gets the error
            failure = exc
    committed = time.perf_counter()
    i = 0
    for d in decoded:
        if isinstance(d, BaseException):
            conn.send_bytes(orjson.dumps({"error": str(d), "kind": "validation"}))
            continue
        if failure is not None:
            kind = "validation" if isinstance(failure, ValidationError) else "store"
            conn.send_bytes(orjson.dumps({"error": str(failure), "kind": kind}))
            continue
        # The answer stays small (the parent derives the leaf hashes from the events it sent): a big
        # answer could fill the socket while the parent is busy sending, and nobody would read it.
        first = receipts[i].seq if d else 0
        ts = receipts[i].ts if d else ""
        conn.send_bytes(orjson.dumps({"seq": first, "ts": ts, "n": len(d), "c": committed}))
        i += len(d)


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

        The child is a fresh interpreter (``python -m modeltrail.runtime._writer_main``), not a
        ``multiprocessing`` spawn: that would re-run the caller's main script in the child.
        """
        from ..ledger.store import SqliteStore

        pg_url = None if isinstance(trail.store, SqliteStore) else str(getattr(trail.store, "url", ""))
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        # The child imports this very package, wherever it was imported from here.
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [env.get("PYTHONPATH")])])
        args = [sys.executable, "-m", "modeltrail.runtime._writer_main", str(theirs.fileno()), os.fspath(trail.path)]
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
        self._in_flight: deque[tuple[Sequence[PreparedEvent], Done | None]] = deque()
        self._lock = threading.Lock()  # guards _in_flight and _dead
        self._recv_lock = threading.Lock()  # one reader of answers at a time, so they complete in order
        self._dead: BaseException | None = None

    @property
    def failure(self) -> BaseException | None:
        """Why the child stopped, once it has (every later request fails with this)."""
        return self._dead

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
        data = encode_request(events)
        while len(self._in_flight) >= self._max_in_flight and self._dead is None:
            self.pump(timeout=1.0)  # the child is behind: wait for an answer before sending more
        with self._lock:
            dead = self._dead
            if dead is None:
                self._in_flight.append((events, done))
                try:
                    send = self._conn.send_bytes
                    send(data.meta)
                    send(data.heads)
                    send(data.mids)
                except (OSError, ValueError) as exc:
                    self._in_flight.pop()
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
                with self._lock:
                    events, done = self._in_flight.popleft()
                if done is None:  # the answer to the stop request
                    continue
                try:
                    reply = orjson.loads(data)
                    if "error" in reply:
                        cls = ValidationError if reply.get("kind") == "validation" else StoreError
                        done(None, cls(str(reply["error"])))
                    else:
                        done(_receipts(reply, events), None)
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ModeltrailError) as exc:
                    done(None, StoreError(f"unreadable answer from the ledger writer process: {exc}"))
        finally:
            self._recv_lock.release()

    def _fail_all(self, cause: BaseException) -> None:
        with self._lock:
            err = self._died(cause)
            waiting = list(self._in_flight)
            self._in_flight.clear()
        for _, done in waiting:
            if done is not None:
                done(None, err)

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
                self._in_flight.append(((), None))
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
    """Entry point of the child: ``python -m modeltrail.runtime._writer_main FD TRAIL_FOLDER``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or not args[0].isdigit():
        print(
            "usage: python -m modeltrail.runtime._writer_main FD TRAIL_FOLDER (started by DecisionLogger)",
            file=sys.stderr,
        )
        return 2
    _child_main(args[1], os.environ.get(_PG_ENV), Connection(int(args[0])))
    return 0


__all__ = ["Request", "WriterProcess", "decode_request", "encode_request", "main"]
