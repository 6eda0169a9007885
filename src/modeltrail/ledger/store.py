"""Storage backends for the ledger: the protocol and the embedded SQLite implementation.

A backend stores four things: event rows (leaf bytes + leaf hash + a few indexed columns), interior
tree nodes of level >= :data:`NODE_MIN_LEVEL`, signed checkpoints, and small metadata. The Merkle
logic lives in :mod:`modeltrail.ledger.log` and is the same for every backend.

Interior nodes below level 4 are not stored: any of them is recomputed from at most 16 consecutive
leaf hashes read in one range query. That keeps the node table at ~n/16 rows (cheap appends) while a
proof still reads O(log n) rows.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from ..errors import StoreError

NODE_MIN_LEVEL = 4
NODE_ID_SHIFT = 48  # node id = level << 48 | index: up to 2^48 leaves


def node_id(level: int, index: int) -> int:
    """The integer key of the perfect subtree ``(level, index)``."""
    return (level << NODE_ID_SHIFT) | index


class EventRow(NamedTuple):
    """One event as stored: position, indexed columns, and the exact leaf bytes and hash."""

    seq: int
    ts: str
    type: str
    system: str
    subject: str | None
    actor_id: str
    leaf: bytes
    leaf_hash: bytes


# An event row as it is written: EventRow's fields as a plain tuple (the append path builds millions).
RowTuple = tuple[int, str, str, str, str | None, str, bytes, bytes]


class EventRows:
    """Event rows to insert, as one flat list of column values (eight per row, EventRow's order).

    The ledger fills it column by column with slice assignments, and SQLite takes its slices as the
    parameters of multi-row INSERTs: no tuple per row and no flattening, about 0.25 µs per event less
    than a list of row tuples on the batch path. Iterating gives row tuples (for PostgreSQL's COPY).
    """

    __slots__ = ("count", "params")

    WIDTH = 8

    def __init__(self, count: int) -> None:
        """Room for ``count`` rows; every slot must be filled (:meth:`set_column`)."""
        self.count = count
        self.params: list[Any] = [None] * (count * self.WIDTH)

    def __len__(self) -> int:
        return self.count

    def set_column(self, column: int, start: int, values: Sequence[Any]) -> None:
        """Column ``column`` of rows ``start`` .. ``start + len(values)``."""
        w = self.WIDTH
        self.params[start * w + column : (start + len(values)) * w : w] = values

    def __iter__(self) -> Iterator[RowTuple]:
        p, w = self.params, self.WIDTH
        return zip(*(p[k::w] for k in range(w)), strict=True)


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    """A stored signed checkpoint."""

    id: int
    size: int
    root: bytes
    note: str
    key_id: str
    ts: str


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filters for reading events; ``type_like`` is an SQL LIKE pattern derived from a glob."""

    type_like: str | None = None
    subject: str | None = None
    since_ts: str | None = None
    until_ts: str | None = None
    after_seq: int | None = None
    before_seq: int | None = None
    system: str | None = None
    limit: int | None = None
    descending: bool = False


def _like_literal(pattern: str) -> str | None:
    """The text a LIKE pattern (``\\`` escapes) matches when it has no wildcard, else None."""
    if "%" not in pattern and "_" not in pattern and "\\" not in pattern:
        return pattern
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            out.append(next(chars, "\\"))
        elif ch in "%_":
            return None
        else:
            out.append(ch)
    return "".join(out)


def _like_prefix(pattern: str) -> str:
    """The literal text before the first wildcard of a LIKE pattern (``\\`` escapes)."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            out.append(next(chars, "\\"))
        elif ch in "%_":
            break
        else:
            out.append(ch)
    return "".join(out)


def event_query_sql(q: EventQuery, columns: str, mark: str, *, binary_ranges: bool = False) -> tuple[str, list[Any]]:
    """The SELECT for an :class:`EventQuery` in either backend (``mark`` is its placeholder).

    ``binary_ranges``: the backend compares ``type`` byte by byte (SQLite's default BINARY collation),
    so a pattern's literal prefix can bound an index range. PostgreSQL's default collations ignore
    punctuation at first, so there the pattern alone filters.
    """
    where: list[str] = []
    args: list[Any] = []
    if q.type_like is not None:
        # The SQL narrows; Trail.events applies the glob itself (case-sensitive on every backend).
        pattern = q.type_like
        exact = _like_literal(pattern)
        if exact is not None:
            # One type (no wildcard): equality, so the (type, seq) index serves it. SQLite never uses
            # that index for LIKE (case-insensitive, escaped), and scanned the whole table instead:
            # "the latest policy.registered" read every event, on every request of the HTTP API.
            where.append(f"type = {mark}")
            args.append(exact)
        else:
            prefix = _like_prefix(pattern)
            if binary_ranges and prefix:
                # model.* -> type >= 'model.' AND type < 'model/': an index range, then the pattern.
                where.append(f"type >= {mark} AND type < {mark}")
                args.extend((prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)))
            where.append(f"type LIKE {mark} ESCAPE '\\'")
            args.append(pattern)
    for clause, value in (
        (f"subject = {mark}", q.subject),
        (f"system = {mark}", q.system),
        (f"ts >= {mark}", q.since_ts),
        (f"ts <= {mark}", q.until_ts),
        (f"seq > {mark}", q.after_seq),
        (f"seq < {mark}", q.before_seq),
    ):
        if value is not None:
            where.append(clause)
            args.append(value)
    sql = f"SELECT {columns} FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC" if q.descending else " ORDER BY seq"
    if q.limit is not None:
        sql += f" LIMIT {int(q.limit)}"
    return sql, args


class AppendTxn(Protocol):
    """The exclusive append transaction: the log size is stable while it is open."""

    size: int
    last_ts: str | None

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes of ``[start, end)`` as seen inside the transaction."""

    def nodes(self, ids: Sequence[int]) -> dict[int, bytes]:
        """Stored interior nodes by id, as seen inside the transaction."""

    def insert(self, events: EventRows, nodes: Sequence[tuple[int, bytes]]) -> None:
        """Insert event rows and interior nodes; they become durable when the transaction commits."""


class LedgerStore(Protocol):
    """What a ledger backend provides. Implementations: SQLite (here), PostgreSQL (``pgstore``)."""

    url: str

    def append_txn(self) -> Any:
        """Context manager yielding an :class:`AppendTxn` under the backend's exclusive write lock."""

    def size(self) -> int:
        """Number of events in the log."""

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes of ``[start, end)``."""

    def nodes(self, ids: Sequence[int]) -> dict[int, bytes]:
        """Stored interior nodes by id."""

    def iter_node_rows(self) -> Iterator[tuple[int, bytes]]:
        """Every stored interior node (for verification), in id order."""

    def get_event(self, seq: int) -> EventRow | None:
        """One event row or None."""

    def iter_events(self, start: int = 0, end: int | None = None, batch: int = 10_000) -> Iterator[EventRow]:
        """Event rows in seq order from ``start`` to ``end`` (exclusive)."""

    def leaves_containing(self, needle: bytes, end: int) -> list[tuple[int, bytes]]:
        """``(seq, leaf)`` of the events before ``end`` whose leaf bytes contain ``needle``, in seq order.

        The database does the search, so a check that concerns few events does not read the whole ledger.
        """

    def query_events(self, q: EventQuery) -> Iterator[EventRow]:
        """Event rows matching the filters, in seq order (or descending)."""

    def add_checkpoint(self, size: int, root: bytes, note: str, key_id: str, ts: str) -> int:
        """Store a signed checkpoint; returns its id."""

    def checkpoints(self) -> list[CheckpointRow]:
        """All checkpoints in the order they were taken."""

    def get_meta(self, key: str) -> str | None:
        """A metadata value."""

    def set_meta(self, key: str, value: str) -> None:
        """Set a metadata value (durably)."""

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one SQL statement with ``?`` placeholders on this thread's connection; returns rows.

        Inside ``append_txn()`` on the same thread it runs in that transaction (projections rely on it).
        """

    def purge(self, seqs: Sequence[int]) -> int:
        """Drop the leaf bytes (and the subject column) of events ``seqs``, keeping their leaf hashes.

        One transaction: every listed row is purged or none is. A purged row has an empty ``leaf``
        (a real leaf is never empty); verification accepts its stored hash (see :data:`PURGED_LEAF`).
        Returns the number of rows that were not purged before.
        """

    def reclaim(self, freed: int = 0) -> int:
        """Give the space purges freed back to the file system where the backend can; bytes the files shrank by.

        ``freed``: leaf bytes the purge emptied, a hint for how much rewriting is worth it.
        """

    def close(self) -> None:
        """Release connections."""


PURGED_LEAF = b""
"""The stored leaf of a purged event: its bytes are gone, its leaf hash stays and keeps the tree whole.

A leaf is canonical JSON and never empty, so the empty value cannot be confused with an event. The
ledger only knows *that* a row was purged; which operation purged it, and why, is the business of the
layers above (a ``retention.purged`` or ``subject.erased`` event names the range).
"""

PURGE_CHUNK = 500  # seqs per UPDATE: within every backend's parameter limit
VACUUM_FULL_FRACTION = 0.1  # a purge that empties this share of the SQLite file rewrites it (SqliteStore.reclaim)


def is_purged(row: EventRow) -> bool:
    """Whether ``row`` lost its payload to a purge (its leaf hash is still the one the tree holds)."""
    return not row.leaf


SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    type TEXT NOT NULL,
    system TEXT NOT NULL,
    subject TEXT,
    actor_id TEXT NOT NULL,
    leaf BLOB NOT NULL,
    leaf_hash BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_type ON events (type, seq);
CREATE INDEX IF NOT EXISTS events_subject ON events (subject, seq) WHERE subject IS NOT NULL;
CREATE TABLE IF NOT EXISTS nodes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    key_id TEXT NOT NULL,
    ts TEXT NOT NULL
);
"""

_EVENT_COLS = "seq, ts, type, system, subject, actor_id, leaf, leaf_hash"
PAGE_SIZE = 32768  # bytes per database page of a new ledger file (see _connect)
# Clean pages of the database file further than this from its end are dropped from the OS page cache
# after each commit (see SqliteStore._drop_cache_behind).
CACHE_BEHIND_KEEP = 64 << 20
_CACHE_BEHIND_STEP = 8 << 20
_ROWS_PER_INSERT = 256  # 2,048 parameters: within SQLite's limit on every version since 3.32 (32,766)


@functools.cache
def _multi_insert(rows: int) -> str:
    # OR ROLLBACK: a failing row ends the whole transaction, which append_txn does on any error anyway.
    # With the default (ABORT) SQLite must be able to undo just this statement, so a multi-row INSERT
    # inside a transaction keeps a statement journal: a copy of every page it changes, in a temporary
    # file once past 64 KiB. That was half of all bytes the ledger wrote (5.2 -> 2.7 KB per decision).
    return f"INSERT OR ROLLBACK INTO events ({_EVENT_COLS}) VALUES " + ",".join(["(?,?,?,?,?,?,?,?)"] * rows)


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    if not path.exists():
        # Owner-only from the first byte: SQLite gives the -wal and -shm files the database file's mode.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    # Only takes effect while the file is still empty, i.e. for a new ledger (an existing one keeps its
    # size). A decision event is about 1 KB: with bigger pages an append writes fewer B-tree pages and
    # WAL frames per event than with the default 4 KiB. 16 KiB gave +20-30% batch appends of decision
    # events (bench/runtime.py, 2026-11-25), 32 KiB another +12% (84-88k -> 95-101k decisions/s on
    # 2026-12-04), with proofs and verification unchanged (bench/ledger.py). The price: a lone
    # one-event commit writes bigger WAL frames (single appends ~5,600 -> ~4,500/s at 16 KiB, and a
    # further -8% at 32 KiB; each is bound by its fsync).
    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: the WAL is fsynced at every commit, so a returned append survives power loss and kill -9.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    return conn


class _SqliteTxn:
    __slots__ = ("_conn", "last_ts", "size")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        row = conn.execute("SELECT seq, ts FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        self.size: int = 0 if row is None else row[0] + 1
        self.last_ts: str | None = None if row is None else row[1]

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        return _leaf_hashes(self._conn, start, end)

    def nodes(self, ids: Sequence[int]) -> dict[int, bytes]:
        return _nodes(self._conn, ids)

    def insert(self, events: EventRows, nodes: Sequence[tuple[int, bytes]]) -> None:
        # Multi-row INSERTs of _ROWS_PER_INSERT rows: SQLite runs each as one step, so the GIL is
        # released once per chunk rather than once per row. Per-row release made the writer thread
        # queue for the GIL behind busy request threads at every row (seconds per commit under load).
        # Chunk sizes are powers of two (256 repeatedly, then the binary digits of the remainder), so
        # at most nine distinct statements exist and all stay in the connection's statement cache.
        conn = self._conn
        params, w = events.params, EventRows.WIDTH
        i, n = 0, len(events)
        while i < n:
            size = min(_ROWS_PER_INSERT, 1 << ((n - i).bit_length() - 1))
            conn.execute(_multi_insert(size), params[i * w : (i + size) * w])
            i += size
        if nodes:
            self._conn.executemany("INSERT INTO nodes (id, hash) VALUES (?, ?)", nodes)


def _leaf_hashes(conn: sqlite3.Connection, start: int, end: int) -> list[bytes]:
    rows = conn.execute(
        "SELECT seq, leaf_hash FROM events WHERE seq >= ? AND seq < ? ORDER BY seq", (start, end)
    ).fetchall()
    if len(rows) != end - start or (rows and (rows[0][0] != start or rows[-1][0] != end - 1)):
        raise StoreError(f"ledger is missing events between seq {start} and {end - 1}")
    return [r[1] for r in rows]


def _nodes(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    ids = list(ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        out.update(conn.execute(f"SELECT id, hash FROM nodes WHERE id IN ({marks})", chunk).fetchall())
    return out


def _row(r: tuple[Any, ...]) -> EventRow:
    return EventRow._make(r)


class SqliteStore:
    """The embedded backend: one SQLite database in WAL mode.

    One connection per thread (SQLite connections must not be shared across threads while in use);
    the exclusive append transaction uses ``BEGIN IMMEDIATE`` so that several processes appending to
    one file serialise on SQLite's write lock.
    """

    def __init__(self, path: Path, *, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._timeout = timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._behind_fd: int | None = None
        self._dropped_upto = 0
        self._behind_lock = threading.Lock()
        if not self.path.exists():
            # A new ledger is private from its first byte (it holds the kept inputs of decisions); SQLite
            # gives its -wal and -shm files the database file's mode.
            try:
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass  # another process created it meanwhile
            except OSError as exc:
                raise StoreError(f"cannot create ledger database {self.path}: {exc}") from exc
        try:
            self._conn().executescript(SQLITE_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open ledger database {self.path}: {exc}") from exc

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, self._timeout)
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def append_txn(self) -> Iterator[_SqliteTxn]:
        """Exclusive append transaction; commits (durably) on success, rolls back on any error."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot lock the ledger for writing: {exc}") from exc
        try:
            yield _SqliteTxn(conn)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"ledger write failed, nothing was recorded: {exc}") from exc
            raise
        self._drop_cache_behind()

    def _drop_cache_behind(self) -> None:
        """Let the OS reuse the page cache of the part of the file that appends have left behind.

        An append-only ledger grows at the end: pages far behind it are rarely read again, and only
        by audits and proofs. Left cached, every new page the file grows by is a fresh allocation of
        page cache; dropped (they are clean after a checkpoint, which fsyncs), the kernel hands the
        same pages back. On the 2-core VMs we benchmark on, copying into fresh page cache ran at
        0.7 GB/s against 4-7 GB/s into reused pages, and dropping behind raised appends of encoded
        decisions from 94k to 131-133k events/s (``ledger_append_events_per_s`` of bench/runtime.py,
        2026-12-04; see docs/performance.md). Only pages that this store's own appends have left
        more than CACHE_BEHIND_KEEP behind, and that were not dropped before, are touched: a range
        that a reader has cached since stays cached. The kernel leaves dirty pages alone. A no-op
        where the OS has no posix_fadvise, and skipped while another thread of this store is at it.
        """
        if not hasattr(os, "posix_fadvise") or not self._behind_lock.acquire(blocking=False):
            return
        try:
            if self._behind_fd is None:
                # Only what this store appends is dropped: a short-lived process that records one
                # event must not empty the cache that a long-running one reads from.
                self._behind_fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                self._dropped_upto = max(0, os.fstat(self._behind_fd).st_size - CACHE_BEHIND_KEEP)
                return
            end = os.fstat(self._behind_fd).st_size - CACHE_BEHIND_KEEP
            if end - self._dropped_upto >= _CACHE_BEHIND_STEP:
                os.posix_fadvise(self._behind_fd, self._dropped_upto, end - self._dropped_upto, os.POSIX_FADV_DONTNEED)
                self._dropped_upto = end
        except OSError:
            pass  # only a cache hint: a failure changes speed, never what is stored
        finally:
            self._behind_lock.release()

    def size(self) -> int:
        """Number of events in the log."""
        row = self._conn().execute("SELECT max(seq) FROM events").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes of ``[start, end)``; raises StoreError when rows are missing."""
        return _leaf_hashes(self._conn(), start, end)

    def nodes(self, ids: Sequence[int]) -> dict[int, bytes]:
        """Stored interior nodes by id."""
        return _nodes(self._conn(), ids)

    def iter_node_rows(self) -> Iterator[tuple[int, bytes]]:
        """Every stored interior node in id order."""
        cur = self._conn().execute("SELECT id, hash FROM nodes ORDER BY id")
        while rows := cur.fetchmany(50_000):
            yield from ((int(i), bytes(h)) for i, h in rows)

    def get_event(self, seq: int) -> EventRow | None:
        """One event row or None."""
        r = self._conn().execute(f"SELECT {_EVENT_COLS} FROM events WHERE seq = ?", (seq,)).fetchone()
        return None if r is None else _row(r)

    def leaves_containing(self, needle: bytes, end: int) -> list[tuple[int, bytes]]:
        """See :meth:`LedgerStore.leaves_containing` (SQLite's ``instr`` searches the blob's bytes)."""
        rows = self.execute(
            "SELECT seq, leaf FROM events WHERE seq < ? AND instr(leaf, ?) > 0 ORDER BY seq", (end, needle)
        )
        return [(int(seq), bytes(leaf)) for seq, leaf in rows]

    def iter_events(self, start: int = 0, end: int | None = None, batch: int = 10_000) -> Iterator[EventRow]:
        """Event rows in seq order, read in pages (keyset pagination keeps memory flat)."""
        conn = self._conn()
        pos = start
        # Two statements rather than one with "? IS NULL OR seq < ?": SQLite could not bound that scan.
        sql = f"SELECT {_EVENT_COLS} FROM events WHERE seq >= ? ORDER BY seq LIMIT ?"
        sql_end = f"SELECT {_EVENT_COLS} FROM events WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?"
        while True:
            if end is None:
                rows = conn.execute(sql, (pos, batch)).fetchall()
            else:
                rows = conn.execute(sql_end, (pos, end, batch)).fetchall()
            if not rows:
                return
            for r in rows:
                yield _row(r)
            pos = rows[-1][0] + 1

    def query_events(self, q: EventQuery) -> Iterator[EventRow]:
        """Event rows matching the filters."""
        sql, args = event_query_sql(q, _EVENT_COLS, "?", binary_ranges=True)
        cur = self._conn().execute(sql, args)
        while rows := cur.fetchmany(5_000):
            yield from (_row(r) for r in rows)

    def add_checkpoint(self, size: int, root: bytes, note: str, key_id: str, ts: str) -> int:
        """Store a signed checkpoint; returns its id."""
        try:
            cur = self._conn().execute(
                "INSERT INTO checkpoints (size, root, note, key_id, ts) VALUES (?,?,?,?,?)",
                (size, root, note, key_id, ts),
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot store checkpoint: {exc}") from exc
        return int(cur.lastrowid or 0)

    def checkpoints(self) -> list[CheckpointRow]:
        """All checkpoints in the order they were taken."""
        rows = self._conn().execute("SELECT id, size, root, note, key_id, ts FROM checkpoints ORDER BY id").fetchall()
        return [CheckpointRow(int(r[0]), int(r[1]), bytes(r[2]), r[3], r[4], r[5]) for r in rows]

    def get_meta(self, key: str) -> str | None:
        """A metadata value."""
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a metadata value."""
        self._conn().execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run raw SQL on this thread's connection (projections and tests use it)."""
        try:
            return self._conn().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"ledger database error: {exc}") from exc

    def purge(self, seqs: Sequence[int]) -> int:
        """Empty the leaves of ``seqs`` in one transaction (see :meth:`LedgerStore.purge`).

        ``secure_delete`` is on for the transaction, so SQLite overwrites the freed cell content with
        zeros instead of leaving the old payload in free pages until they are reused.
        """
        conn = self._conn()
        seqs = sorted(set(seqs))
        changed = 0
        try:
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for i in range(0, len(seqs), PURGE_CHUNK):
                    chunk = seqs[i : i + PURGE_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    cur = conn.execute(
                        f"UPDATE events SET leaf = ?, subject = NULL WHERE seq IN ({marks}) AND leaf != ?",
                        (PURGED_LEAF, *chunk, PURGED_LEAF),
                    )
                    changed += cur.rowcount
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"purge failed, nothing was purged: {exc}") from exc
        finally:
            conn.execute("PRAGMA secure_delete=OFF")
        return changed

    def file_bytes(self) -> int:
        """Bytes the ledger occupies on disk: the database file and its write-ahead log."""
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.stat(f"{self.path}{suffix}").st_size
            except FileNotFoundError:
                pass
        return total

    def reclaim(self, freed: int = 0) -> int:
        """Return freed space to the file system; bytes the files shrank by.

        Emptied leaves mostly leave holes *inside* pages (a decision is far smaller than a 32 KiB page), which
        only a full ``VACUUM`` (a rewrite of the file) gives back; whole free pages (large leaves in overflow
        pages) ``incremental_vacuum`` truncates cheaply. So: a ledger created without ``auto_vacuum`` is
        converted (``auto_vacuum=INCREMENTAL`` and one ``VACUUM``), a purge that emptied at least
        :data:`VACUUM_FULL_FRACTION` of the file rewrites it, and smaller ones run ``incremental_vacuum``.
        The WAL is checkpointed and truncated, so no old copy of a purged leaf lingers in it.
        """
        conn = self._conn()
        before = self.file_bytes()
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            size = os.stat(self.path).st_size
            mode = conn.execute("PRAGMA auto_vacuum").fetchone()[0]
            if mode != 2 or freed >= size * VACUUM_FULL_FRACTION:
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
                conn.execute("VACUUM")
            else:
                conn.execute("PRAGMA incremental_vacuum").fetchall()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot reclaim space in {self.path}: {exc}") from exc
        return max(0, before - self.file_bytes())

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._behind_lock:
            if self._behind_fd is not None:
                os.close(self._behind_fd)
                self._behind_fd = None
        with self._all_lock:
            for c in self._all:
                try:
                    c.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()
