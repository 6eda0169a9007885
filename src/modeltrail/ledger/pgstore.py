"""PostgreSQL backend for the ledger (the scale path), with the same semantics as the SQLite store.

``postgresql://user@host:5432/db?schema=NAME`` selects it: the ledger's tables live in the PostgreSQL
schema ``NAME`` (default ``modeltrail``), one log per schema. Appends take a transaction-scoped advisory
lock derived from the schema name, so any number of processes on any number of hosts append without
duplicate or skipped sequence numbers and without forking the tree. Event rows go in with ``COPY``.
Durability is PostgreSQL's: a commit returns once its WAL record is flushed (``synchronous_commit``).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import psycopg

from ..errors import StoreError, ValidationError
from .store import PURGE_CHUNK, PURGED_LEAF, CheckpointRow, EventQuery, EventRow, EventRows, event_query_sql

_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Query parameters that belong to modeltrail, not to libpq.
_OWN_PARAMS = {"schema", "home", "blobs"}  # ours, not libpq's

PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq BIGINT PRIMARY KEY,
    ts TEXT NOT NULL,
    type TEXT NOT NULL,
    system TEXT NOT NULL,
    subject TEXT,
    actor_id TEXT NOT NULL,
    leaf BYTEA NOT NULL,
    leaf_hash BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS events_type ON events (type, seq);
CREATE INDEX IF NOT EXISTS events_subject ON events (subject, seq) WHERE subject IS NOT NULL;
CREATE TABLE IF NOT EXISTS nodes (id BIGINT PRIMARY KEY, hash BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
    id BIGSERIAL PRIMARY KEY,
    size BIGINT NOT NULL,
    root BYTEA NOT NULL,
    note TEXT NOT NULL,
    key_id TEXT NOT NULL,
    ts TEXT NOT NULL
);
"""

_EVENT_COLS = "seq, ts, type, system, subject, actor_id, leaf, leaf_hash"


def split_url(url: str) -> tuple[str, str]:
    """Return (libpq connection string without modeltrail's parameters, schema name)."""
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in params if k == "schema"), "modeltrail")
    if not _SCHEMA_RE.fullmatch(schema):
        raise ValidationError(f"expected a lower-case SQL identifier, got {schema!r}", field="schema")
    query = urlencode([(k, v) for k, v in params if k not in _OWN_PARAMS])
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, query, parts.fragment)), schema


def advisory_key(schema: str) -> int:
    """The 64-bit advisory-lock key of a log: stable across processes, hosts and versions."""
    return int.from_bytes(hashlib.sha256(f"modeltrail-log:{schema}".encode()).digest()[:8], "big", signed=True)


def _translate(sql: str) -> str:
    """``?`` placeholders (the portable form the projections use) to psycopg's ``%s``."""
    return sql.replace("%", "%%").replace("?", "%s")


class _PgTxn:
    __slots__ = ("_conn", "last_ts", "size")

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        row = conn.execute("SELECT seq, ts FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        self.size: int = 0 if row is None else int(row[0]) + 1
        self.last_ts: str | None = None if row is None else str(row[1])

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        return _leaf_hashes(self._conn, start, end)

    def nodes(self, ids: Sequence[int]) -> dict[int, bytes]:
        return _nodes(self._conn, ids)

    def insert(self, events: EventRows, nodes: Sequence[tuple[int, bytes]]) -> None:
        with self._conn.cursor() as cur:
            with cur.copy(f"COPY events ({_EVENT_COLS}) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["int8", "text", "text", "text", "text", "text", "bytea", "bytea"])
                for e in events:
                    cp.write_row(e)
            if nodes:
                with cur.copy("COPY nodes (id, hash) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.set_types(["int8", "bytea"])
                    for n in nodes:
                        cp.write_row(n)


def _leaf_hashes(conn: psycopg.Connection[Any], start: int, end: int) -> list[bytes]:
    rows = conn.execute(
        "SELECT seq, leaf_hash FROM events WHERE seq >= %s AND seq < %s ORDER BY seq", (start, end)
    ).fetchall()
    if len(rows) != end - start or (rows and (rows[0][0] != start or rows[-1][0] != end - 1)):
        raise StoreError(f"ledger is missing events between seq {start} and {end - 1}")
    return [bytes(r[1]) for r in rows]


def _nodes(conn: psycopg.Connection[Any], ids: Sequence[int]) -> dict[int, bytes]:
    if not ids:
        return {}
    rows = conn.execute("SELECT id, hash FROM nodes WHERE id = ANY(%s)", (list(ids),)).fetchall()
    return {int(i): bytes(h) for i, h in rows}


def _row(r: Sequence[Any]) -> EventRow:
    return EventRow(int(r[0]), r[1], r[2], r[3], r[4], r[5], bytes(r[6]), bytes(r[7]))


class PostgresStore:
    """The PostgreSQL ledger backend (``postgresql://…?schema=NAME``)."""

    def __init__(self, url: str, *, connect_timeout: int = 10) -> None:
        self.conninfo, self.schema = split_url(url)
        self.url = url
        self._timeout = connect_timeout
        self._key = advisory_key(self.schema)
        self._local = threading.local()
        self._all: list[psycopg.Connection[Any]] = []
        self._all_lock = threading.Lock()
        try:
            conn = self._conn()
            with conn.transaction():
                # Creating the schema concurrently from two processes races in the catalog: serialise.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._key,))
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                conn.execute(f'SET LOCAL search_path TO "{self.schema}"')
                for stmt in PG_SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the PostgreSQL ledger ({self._redacted()}): {self._safe(exc)}") from None

    def _safe(self, exc: BaseException) -> str:
        """The text of a driver error with the password taken out (libpq may echo the connection string)."""
        text = str(exc)
        password = urlsplit(self.conninfo).password
        if password:
            for form in {password, quote(password, safe=""), unquote(password)}:
                text = text.replace(form, "***")
        return text

    def _redacted(self) -> str:
        """The URL without a password, for messages (secrets never go to logs)."""
        parts = urlsplit(self.conninfo)
        netloc = parts.netloc
        if "@" in netloc and ":" in netloc.split("@", 1)[0]:
            user = netloc.split("@", 1)[0].split(":", 1)[0]
            netloc = f"{user}:***@{netloc.split('@', 1)[1]}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def _conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            try:
                conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=self._timeout)
            except psycopg.Error as exc:
                raise StoreError(f"cannot connect to PostgreSQL ({self._redacted()}): {self._safe(exc)}") from None
            conn.execute(f'SET search_path TO "{self.schema}"')
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def append_txn(self) -> Iterator[_PgTxn]:
        """Exclusive append transaction under the log's advisory lock; commits durably on success."""
        conn = self._conn()
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._key,))
                yield _PgTxn(conn)
        except psycopg.Error as exc:
            raise StoreError(f"ledger write failed, nothing was recorded: {self._safe(exc)}") from exc

    def size(self) -> int:
        """Number of events in the log."""
        row = self._q("SELECT max(seq) FROM events")
        return 0 if not row or row[0][0] is None else int(row[0][0]) + 1

    def _q(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn().execute(sql, args).fetchall()
        except psycopg.Error as exc:
            raise StoreError(f"ledger database error: {self._safe(exc)}") from exc

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes of ``[start, end)``; raises StoreError when rows are missing."""
        return _leaf_hashes(self._conn(), start, end)

    def nodes(self, ids: Sequence[int]) -> dict[int, bytes]:
        """Stored interior nodes by id."""
        return _nodes(self._conn(), ids)

    def iter_node_rows(self) -> Iterator[tuple[int, bytes]]:
        """Every stored interior node in id order (keyset pages)."""
        last = -(2**63)
        while True:
            rows = self._q("SELECT id, hash FROM nodes WHERE id > %s ORDER BY id LIMIT 50000", (last,))
            if not rows:
                return
            for i, h in rows:
                yield int(i), bytes(h)
            last = int(rows[-1][0])

    def get_event(self, seq: int) -> EventRow | None:
        """One event row or None."""
        rows = self._q(f"SELECT {_EVENT_COLS} FROM events WHERE seq = %s", (seq,))
        return _row(rows[0]) if rows else None

    def leaves_containing(self, needle: bytes, end: int) -> list[tuple[int, bytes]]:
        """See ``LedgerStore.leaves_containing`` (``position`` searches the bytea)."""
        rows = self.execute(
            "SELECT seq, leaf FROM events WHERE seq < ? AND position(? IN leaf) > 0 ORDER BY seq", (end, needle)
        )
        return [(int(seq), bytes(leaf)) for seq, leaf in rows]

    def iter_events(self, start: int = 0, end: int | None = None, batch: int = 10_000) -> Iterator[EventRow]:
        """Event rows in seq order (keyset pagination)."""
        pos = start
        while True:
            if end is None:
                rows = self._q(f"SELECT {_EVENT_COLS} FROM events WHERE seq >= %s ORDER BY seq LIMIT %s", (pos, batch))
            else:
                rows = self._q(
                    f"SELECT {_EVENT_COLS} FROM events WHERE seq >= %s AND seq < %s ORDER BY seq LIMIT %s",
                    (pos, end, batch),
                )
            if not rows:
                return
            for r in rows:
                yield _row(r)
            pos = int(rows[-1][0]) + 1

    def query_events(self, q: EventQuery) -> Iterator[EventRow]:
        """Event rows matching the filters."""
        sql, args = event_query_sql(q, _EVENT_COLS, "%s")
        for r in self._q(sql, args):
            yield _row(r)

    def add_checkpoint(self, size: int, root: bytes, note: str, key_id: str, ts: str) -> int:
        """Store a signed checkpoint; returns its id."""
        rows = self._q(
            "INSERT INTO checkpoints (size, root, note, key_id, ts) VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (size, root, note, key_id, ts),
        )
        return int(rows[0][0])

    def checkpoints(self) -> list[CheckpointRow]:
        """All checkpoints in the order they were taken."""
        rows = self._q("SELECT id, size, root, note, key_id, ts FROM checkpoints ORDER BY id")
        return [CheckpointRow(int(r[0]), int(r[1]), bytes(r[2]), r[3], r[4], r[5]) for r in rows]

    def get_meta(self, key: str) -> str | None:
        """A metadata value."""
        rows = self._q("SELECT value FROM meta WHERE key = %s", (key,))
        return None if not rows else str(rows[0][0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a metadata value."""
        self._q(
            "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value "
            "RETURNING key",
            (key, value),
        )

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement written with ``?`` placeholders (as the projections write them)."""
        try:
            cur = self._conn().execute(_translate(sql), args)
            rows = cur.fetchall() if cur.description is not None else []
        except psycopg.Error as exc:
            raise StoreError(f"ledger database error: {self._safe(exc)}") from exc
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]

    def purge(self, seqs: Sequence[int]) -> int:
        """Empty the leaves of ``seqs`` in one transaction, under the append lock (see ``LedgerStore.purge``)."""
        seqs = sorted(set(seqs))
        conn = self._conn()
        changed = 0
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._key,))
                for i in range(0, len(seqs), PURGE_CHUNK):
                    cur = conn.execute(
                        "UPDATE events SET leaf = %s, subject = NULL WHERE seq = ANY(%s) AND leaf <> %s",
                        (PURGED_LEAF, seqs[i : i + PURGE_CHUNK], PURGED_LEAF),
                    )
                    changed += cur.rowcount
        except psycopg.Error as exc:
            raise StoreError(f"purge failed, nothing was purged: {exc}") from exc
        return changed

    def table_bytes(self) -> int:
        """Bytes of the events table with its TOAST data and indexes."""
        return int(self._q("SELECT pg_total_relation_size('events')")[0][0])

    def reclaim(self, freed: int = 0) -> int:
        """``VACUUM`` the events table: purged payloads become reusable space; bytes the table shrank by.

        Plain VACUUM returns only trailing free pages to the file system, but it never blocks appends;
        ``VACUUM FULL`` (or pg_repack) rewrites the table when the file itself must shrink.
        """
        before = self.table_bytes()
        try:
            # VACUUM cannot run inside a transaction block; this connection is in autocommit mode.
            self._conn().execute("VACUUM events")
        except psycopg.Error as exc:
            raise StoreError(f"cannot vacuum the events table: {exc}") from exc
        return max(0, before - self.table_bytes())

    def drop(self) -> None:
        """Drop this log's schema and everything in it (tests and tear-down only)."""
        conn = self._conn()
        try:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        except psycopg.Error as exc:
            raise StoreError(f"cannot drop schema {self.schema}: {self._safe(exc)}") from exc

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._all_lock:
            for c in self._all:
                try:
                    c.close()
                except psycopg.Error:
                    pass
            self._all.clear()
        self._local = threading.local()
