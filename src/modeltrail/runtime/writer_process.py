"""A ledger writer in a child process, for :class:`~.logger.DecisionLogger` (``writer="process"``).

With the writer thread, the serving thread and the ledger's Python work (leaf bytes, hashes, rows)
share one GIL. Under a batch load each waits for the other at every hand-over, and the two together
were measured at about 70,000 decisions/s on 2 cores, although the ledger alone appends about 100,000
events/s and the guard alone prepares over 200,000 (``bench/runtime.py``). A child process owns the
appends instead: it opens the same trail (like any other process appending to it), and the parent's
logger sends it already encoded events and gets receipts back.

Wire format (a socket pair framed by :class:`multiprocessing.connection.Connection` byte messages,
both ends ours; no pickle is read by either side):

- request: ``!III`` (meta length, heads length, mids length), then ``meta`` (JSON:
  ``{"g": [[type, system, actor_id, end, count], ...], "s": [subject or null, ...]}``), then the
  events' ``head`` bytes joined by NUL, then their ``mid`` bytes joined by NUL. Canonical JSON never
  holds a raw NUL byte (control characters are escaped), so the separator is unambiguous.
- reply: JSON ``{"seq": first seq, "ts": ledger timestamp, "h": leaf hashes as one hex string}`` or
  ``{"error": message, "kind": "store" | "validation"}``; one reply per request, in order.

The child appends everything that is waiting in the pipe in one transaction (one fsync) and answers
each request only after that commit: a receipt in the parent is as durable as one from the thread
writer. If the parent dies, the child commits what it had received, and exits on end of file.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from itertools import groupby
from multiprocessing.connection import Connection
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import ModeltrailError, StoreError, ValidationError
from ..events import PreparedEvent, Receipt, Receipts

if TYPE_CHECKING:
    from ..trail import Trail

_HEADER = struct.Struct("!III")
_PG_ENV = "MODELTRAIL_WRITER_PG_URL"
_new = tuple.__new__
_group_key = itemgetter(0, 1, 3, 6)  # type, system, actor_id, end
_subject, _head, _mid = itemgetter(2), itemgetter(4), itemgetter(5)
Done = Callable[[Sequence[Receipt] | None, BaseException | None], None]
_Waiting = tuple[int, Done | None]  # events in the request, its callback (None: the stop request)


def encode_request(events: Sequence[PreparedEvent]) -> bytes:
    """One append request for ``events`` (see the module docstring)."""
    # map/itemgetter and groupby run in C: this is on the serving process's GIL (see WriterProcess).
    groups = [[t, s, a, end.decode("utf-8"), sum(1 for _ in g)] for (t, s, a, end), g in groupby(events, _group_key)]
    meta = orjson.dumps({"g": groups, "s": list(map(_subject, events))})
    heads = b"\x00".join(map(_head, events))
    mids = b"\x00".join(map(_mid, events))
    return _HEADER.pack(len(meta), len(heads), len(mids)) + meta + heads + mids


def decode_request(data: bytes) -> list[PreparedEvent]:
    """The events of one request; raises ValueError when it is malformed."""
    if len(data) < _HEADER.size:
        raise ValueError("truncated request")
    n_meta, n_heads, n_mids = _HEADER.unpack_from(data)
    a = _HEADER.size
    b = a + n_meta
    c = b + n_heads
    if c + n_mids != len(data):
        raise ValueError("request lengths do not add up")
    meta = orjson.loads(data[a:b])
    subjects = meta["s"]
    if not subjects:
        if n_heads or n_mids or meta["g"]:
            raise ValueError("request counts do not add up")
        return []
    heads = data[b:c].split(b"\x00")
    mids = data[c:].split(b"\x00")
    if not (len(heads) == len(mids) == len(subjects) == sum(g[4] for g in meta["g"])):
        raise ValueError("request counts do not add up")
    events: list[PreparedEvent] = []
    i = 0
    for t, s, actor, end, count in meta["g"]:
        end_b = end.encode("utf-8")
        j = i + count
        events.extend(
            _new(PreparedEvent, (t, s, subj, actor, h, m, end_b))
            for subj, h, m in zip(subjects[i:j], heads[i:j], mids[i:j], strict=True)
        )
        i = j
    return events


def _receipts(reply: dict[str, Any], n: int) -> Receipts:
    seq, ts, hexes = int(reply["seq"]), str(reply["ts"]), str(reply["h"])
    if len(hexes) != 64 * n:
        raise StoreError(f"the ledger writer process answered {len(hexes) // 64} receipts for {n} events")
    return Receipts(seq, ts, hexes)


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
                requests = [conn.recv_bytes()]
            except (EOFError, OSError):
                return  # the parent is gone: everything received was answered or is being dropped unacknowledged
            # Group commit: everything already waiting goes into the same transaction.
            while requests[-1] and len(requests) < 64 and conn.poll(0):
                try:
                    requests.append(conn.recv_bytes())
                except (EOFError, OSError):
                    break
            if not requests[-1]:  # an empty request asks the child to stop once the others are answered
                requests.pop()
                stop = True
            if requests:
                _append_requests(trail, conn, requests)
        conn.send_bytes(b'{"stopped":true}')
    finally:
        trail.close()
        conn.close()


def _append_requests(trail: Trail, conn: Connection, requests: list[bytes]) -> None:
    decoded: list[list[PreparedEvent] | BaseException] = []
    for data in requests:
        try:
            decoded.append(decode_request(data))
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            decoded.append(ValidationError(f"malformed append request: {exc}"))
    batch = [ev for d in decoded if not isinstance(d, BaseException) for ev in d]
    receipts: Sequence[Receipt] = ()
    failure: BaseException | None = None
    if batch:
        try:
            receipts = trail.append_prepared(batch)
        except Exception as exc:  # every request of the failed transaction gets the error
            failure = exc
    run = receipts if isinstance(receipts, Receipts) else _as_run(receipts)
    i = 0
    for d in decoded:
        if isinstance(d, BaseException):
            conn.send_bytes(orjson.dumps({"error": str(d), "kind": "validation"}))
            continue
        if failure is not None:
            kind = "validation" if isinstance(failure, ValidationError) else "store"
            conn.send_bytes(orjson.dumps({"error": str(failure), "kind": kind}))
            continue
        mine = run[i : i + len(d)]
        i += len(d)
        conn.send_bytes(orjson.dumps({"seq": mine.first_seq, "ts": mine.ts, "h": mine.hashes_hex()}))


def _as_run(receipts: Sequence[Receipt]) -> Receipts:
    if not receipts:
        return Receipts(0, "", "")
    return Receipts(receipts[0].seq, receipts[0].ts, "".join([r.leaf_hash for r in receipts]))


# ---------------------------------------------------------------------------------------- parent


class WriterProcess:
    """The parent's handle on the child: send events, get completions back on a receiver thread.

    ``send`` blocks only while ``max_in_flight`` requests are unanswered (two: the child commits one
    while the next travels). ``done(receipts, error)`` is called on the receiver thread, in order.
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
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._in_flight: deque[_Waiting] = deque()
        self._lock = threading.Lock()
        self._dead: BaseException | None = None
        self._receiver = threading.Thread(target=self._receive, name="modeltrail-ledger-receiver", daemon=True)
        self._receiver.start()

    @property
    def failure(self) -> BaseException | None:
        """Why the child stopped, once it has (every later request fails with this)."""
        return self._dead

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._proc.pid

    def send(self, events: Sequence[PreparedEvent], done: Done) -> None:
        """Send ``events`` for appending; ``done`` is called once with receipts or an error."""
        data = encode_request(events)
        self._slots.acquire()
        with self._lock:
            if self._dead is not None:
                self._slots.release()
                done(None, self._dead)
                return
            self._in_flight.append((len(events), done))
            try:
                self._conn.send_bytes(data)
            except (OSError, ValueError) as exc:
                self._in_flight.pop()
                self._slots.release()
                done(None, self._died(exc))

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

    def _receive(self) -> None:
        conn = self._conn
        while True:
            try:
                data = conn.recv_bytes()
            except (EOFError, OSError) as exc:
                with self._lock:
                    err = self._died(exc)
                    waiting = list(self._in_flight)
                    self._in_flight.clear()
                for _, done in waiting:
                    self._slots.release()
                    if done is not None:
                        done(None, err)
                return
            with self._lock:
                n, done = self._in_flight.popleft()
            self._slots.release()
            if done is None:  # the answer to the stop request
                return
            try:
                reply = orjson.loads(data)
                if "error" in reply:
                    cls = ValidationError if reply.get("kind") == "validation" else StoreError
                    done(None, cls(str(reply["error"])))
                else:
                    done(_receipts(reply, n), None)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ModeltrailError) as exc:
                done(None, StoreError(f"unreadable answer from the ledger writer process: {exc}"))

    def close(self, timeout: float | None = 30.0) -> None:
        """Let the child answer what it has, commit, and exit; then release the pipe."""
        self._slots.acquire()
        with self._lock:
            if self._dead is None:
                self._in_flight.append((0, None))
                try:
                    self._conn.send_bytes(b"")
                except (OSError, ValueError):
                    self._in_flight.pop()
                    self._slots.release()
            else:
                self._slots.release()
        self._receiver.join(timeout)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
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


__all__ = ["WriterProcess", "decode_request", "encode_request", "main"]
