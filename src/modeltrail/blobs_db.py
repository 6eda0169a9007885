"""Small blobs as rows of the ledger database, and the tiered store a trail uses.

A decision with two sealed fields used to leave two files of about 100 bytes in ``blobs/``: the demo's
20,000 decisions made 40,000 files and 200 MB of file-system blocks for 6 MB of data. Blobs up to
:data:`SMALL_BLOB_MAX` bytes (sealed values, policies, reports, environment captures) now live in the
ledger's own database, in a ``blobs`` table keyed by their SHA-256; larger ones (model artifacts) stay in
the content-addressed file store, or go to an object store (:mod:`modeltrail.blobs_s3`). Callers see one
:class:`~modeltrail.blobs.BlobBackend`: put and get by digest, as before.

Durability, SQLite: blob rows are written on their own connection with ``synchronous=NORMAL`` (no fsync
per row). They share the ledger's write-ahead log, whose frames are synced in order: the fsync that makes
a later ledger commit durable (``synchronous=FULL`` there) makes every blob row written before it
durable too. So an event is never durable without the sealed values it cites, and sealing costs no
fsync of its own. PostgreSQL: each put is a committed row, as any other write.

Erasure is unchanged: a sealed value is unreadable once its subject's key is shredded, wherever the
ciphertext lies. Rows are verified against their digest on every read.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .blobs import CHUNK_SIZE, BlobBackend, BlobStore, BytesLike, parse_digest
from .errors import IntegrityError, NotFoundError, StoreError, ValidationError

if TYPE_CHECKING:
    from .ledger.store import LedgerStore

SMALL_BLOB_MAX = 1 << 20
"""Blobs up to this many bytes (1 MiB) are rows of the ledger database; larger ones go to files/objects."""

# Keyed by the 32 digest bytes, and (SQLite) WITHOUT ROWID: the rows are the index, so a 150-byte sealed
# value costs about 200 bytes instead of 350 with a hex text key and a separate primary-key index.
_SQLITE_DDL = (
    "CREATE TABLE IF NOT EXISTS blobs (sha256 BLOB PRIMARY KEY, size INTEGER NOT NULL, data BLOB NOT NULL) "
    "WITHOUT ROWID"
)
_PG_DDL = "CREATE TABLE IF NOT EXISTS blobs (sha256 BYTEA PRIMARY KEY, size BIGINT NOT NULL, data BYTEA NOT NULL)"
_INSERT = "INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING"


class DatabaseBlobStore:
    """Blobs as rows of a ``blobs`` table in the ledger database (SQLite file or PostgreSQL schema).

    ``sqlite_path``: the ledger file, for SQLite (rows are written on this store's own connections, see
    the module docstring); None for PostgreSQL, where the ledger store's connections are used.
    """

    def __init__(self, store: LedgerStore, *, sqlite_path: Path | None = None, timeout: float = 60.0) -> None:
        self._store = store
        self._path = sqlite_path
        self._timeout = timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._ready = False

    def __repr__(self) -> str:
        return f"DatabaseBlobStore({self._path or getattr(self._store, 'url', 'postgresql')})"

    # -- SQL plumbing ------------------------------------------------------------------------------

    def _sqlite(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            assert self._path is not None
            conn = sqlite3.connect(self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is enough: the ledger's next FULL commit syncs this row's WAL frames (module docstring).
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._ensure()
        return self._run(sql, args)

    def _run(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._path is None:
            return self._store.execute(sql, args)
        try:
            return self._sqlite().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"blob table error: {exc}") from exc

    def _ensure(self) -> None:
        if self._ready:
            return
        try:
            self._run(_SQLITE_DDL if self._path is not None else _PG_DDL)
        except StoreError:
            # Two PostgreSQL sessions creating the table at once: one wins, the other finds it.
            self._run("SELECT 1 FROM blobs LIMIT 1")
        self._ready = True

    # -- the BlobBackend protocol ------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` as a row; returns its hex digest (a second put of the same bytes is a no-op)."""
        raw = bytes(data)
        digest = hashlib.sha256(raw).digest()
        self._exec(_INSERT, (digest, len(raw), raw))
        return digest.hex()

    def put_many(self, items: Iterable[bytes]) -> list[str]:
        """Store several blobs in one transaction; returns their digests in order."""
        rows = [(hashlib.sha256(b).digest(), len(b), bytes(b)) for b in items]
        if not rows:
            return []
        self._ensure()
        if self._path is None:
            for r in rows:
                self._store.execute(_INSERT, r)
        else:
            conn = self._sqlite()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_INSERT, rows)
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(f"blob table error: {exc}") from exc
        return [r[0].hex() for r in rows]

    def put_file(self, path: str | os.PathLike[str]) -> str:
        """Store a file's content as a row (meant for small files; see :class:`TieredBlobStore`)."""
        return self.put_bytes(Path(path).read_bytes())

    def put_stream(self, chunks: Iterable[BytesLike] | BinaryIO) -> str:
        """Store a stream's content as a row (meant for small streams)."""
        if hasattr(chunks, "read"):
            return self.put_bytes(chunks.read())
        return self.put_bytes(b"".join(bytes(c) for c in chunks))

    def _row(self, digest: str) -> bytes | None:
        rows = self._exec("SELECT data FROM blobs WHERE sha256 = ?", (_key(digest),))
        return None if not rows else bytes(rows[0][0])

    def get_bytes(self, digest: str) -> bytes:
        """The blob's bytes, re-hashed; NotFoundError or IntegrityError."""
        bare = parse_digest(digest)
        data = self._row(bare)
        if data is None:
            raise NotFoundError(f"no blob {bare} in the database")
        if hashlib.sha256(data).hexdigest() != bare:
            raise IntegrityError(f"blob {bare} in the database does not match its digest")
        return data

    def open(self, digest: str) -> BinaryIO:
        """A read-only stream of the blob (verified before it is returned)."""
        return io.BytesIO(self.get_bytes(digest))

    def exists(self, digest: str) -> bool:
        """Whether a row with this digest exists."""
        return bool(self._exec("SELECT 1 FROM blobs WHERE sha256 = ?", (_key(digest),)))

    def size(self, digest: str) -> int:
        """The blob's size in bytes; NotFoundError."""
        bare = parse_digest(digest)
        rows = self._exec("SELECT size FROM blobs WHERE sha256 = ?", (_key(bare),))
        if not rows:
            raise NotFoundError(f"no blob {bare} in the database")
        return int(rows[0][0])

    def verify(self, digest: str) -> bool:
        """True when the row exists and matches its digest."""
        data = self._row(digest)
        return data is not None and hashlib.sha256(data).hexdigest() == parse_digest(digest)

    def verify_all(self) -> Iterator[tuple[str, bool]]:
        """(digest, ok) for every row, read in keyset pages."""
        after = b""
        while True:
            rows = self._exec("SELECT sha256, data FROM blobs WHERE sha256 > ? ORDER BY sha256 LIMIT 500", (after,))
            if not rows:
                return
            for d, data in rows:
                yield bytes(d).hex(), hashlib.sha256(bytes(data)).digest() == bytes(d)
            after = bytes(rows[-1][0])

    def delete(self, digest: str) -> bool:
        """Delete the row; True when it existed."""
        bare = parse_digest(digest)
        if not self.exists(bare):
            return False
        self._exec("DELETE FROM blobs WHERE sha256 = ?", (_key(bare),))
        return True

    def count(self) -> int:
        """Number of rows (for reports and tests)."""
        return int(self._exec("SELECT count(*) FROM blobs")[0][0])

    def close(self) -> None:
        """Close this store's own SQLite connections."""
        with self._lock:
            for c in self._all:
                try:
                    c.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()


class TieredBlobStore:
    """Small blobs in the database, large ones in ``large`` (the folder's files or an object store).

    Reads look in the database first and then in ``large``, so a trail written before small blobs moved
    into the database reads as before. ``threshold``: the largest blob kept in the database.
    """

    def __init__(self, small: DatabaseBlobStore, large: BlobBackend, *, threshold: int = SMALL_BLOB_MAX) -> None:
        self.small = small
        self.large = large
        self.threshold = threshold

    def __repr__(self) -> str:
        return f"TieredBlobStore(small={self.small!r}, large={self.large!r}, threshold={self.threshold})"

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` in the tier its size belongs to; returns its hex digest."""
        if len(data) <= self.threshold:
            return self.small.put_bytes(data)
        return self.large.put_bytes(data)

    def put_many(self, items: Sequence[bytes]) -> list[str]:
        """Store several blobs; the small ones in one database transaction. Digests in order."""
        small = [b for b in items if len(b) <= self.threshold]
        self.small.put_many(small)
        return [
            hashlib.sha256(b).hexdigest() if len(b) <= self.threshold else self.large.put_bytes(b) for b in items
        ]

    def put_file(self, path: str | os.PathLike[str]) -> str:
        """Store a file (a large one is streamed to the large tier, never read whole)."""
        if os.path.getsize(path) <= self.threshold:
            return self.small.put_bytes(Path(path).read_bytes())
        return self.large.put_file(path)

    def put_stream(self, chunks: Iterable[BytesLike] | BinaryIO) -> str:
        """Store a stream: read up to the threshold, then decide the tier (the rest is streamed on)."""
        head = bytearray()
        it = _chunks(chunks)
        for c in it:
            head += c
            if len(head) > self.threshold:
                return self.large.put_stream(_prepend(bytes(head), it))
        return self.small.put_bytes(bytes(head))

    def get_bytes(self, digest: str) -> bytes:
        """The blob's bytes (re-hashed), from whichever tier holds it."""
        try:
            return self.small.get_bytes(digest)
        except NotFoundError:
            return self.large.get_bytes(digest)

    def open(self, digest: str) -> BinaryIO:
        """A verified read-only stream of the blob."""
        if self.small.exists(digest):
            return self.small.open(digest)
        return self.large.open(digest)

    def exists(self, digest: str) -> bool:
        """Whether either tier holds the blob."""
        return self.small.exists(digest) or self.large.exists(digest)

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, str) and self.exists(digest)

    def size(self, digest: str) -> int:
        """The blob's size in bytes."""
        try:
            return self.small.size(digest)
        except NotFoundError:
            return self.large.size(digest)

    def verify(self, digest: str) -> bool:
        """True when the blob exists in a tier and matches its digest."""
        if self.small.exists(digest):
            return self.small.verify(digest)
        return self.large.verify(digest)

    def verify_all(self) -> Iterator[tuple[str, bool]]:
        """(digest, ok) for every blob of both tiers."""
        yield from self.small.verify_all()
        yield from self.large.verify_all()

    def delete(self, digest: str) -> bool:
        """Delete the blob from both tiers; True when one held it."""
        a = self.small.delete(digest)
        b = self.large.delete(digest)
        return a or b

    def path(self, digest: str) -> Path:
        """The file of a large blob in the folder store (TypeError for an object store)."""
        if not isinstance(self.large, BlobStore):
            raise TypeError(f"{self.large!r} keeps no files")
        return self.large.path(digest)

    def close(self) -> None:
        """Close the database tier's connections (and the large tier's, if it has any)."""
        self.small.close()
        close = getattr(self.large, "close", None)
        if callable(close):
            close()


def _key(digest: str) -> bytes:
    """The row key of a digest: its 32 bytes."""
    return bytes.fromhex(parse_digest(digest))


def open_blobs(folder: Path, store: LedgerStore, location: str | None = None) -> TieredBlobStore:
    """The blob store of a trail: small blobs in its database, large ones where ``location`` says.

    ``location`` (else ``?blobs=`` of a PostgreSQL URL, else ``$MODELTRAIL_BLOBS``): None or
    ``"folder"`` for ``folder/blobs``; ``"database"`` to keep every blob in the database; or
    ``s3://BUCKET/PREFIX?endpoint_url=…`` for an S3-compatible object store.
    """
    from urllib.parse import parse_qs, urlparse

    url = getattr(store, "url", None)
    if isinstance(url, str) and url.startswith(("postgresql://", "postgres://")):
        location = parse_qs(urlparse(url).query).get("blobs", [location])[-1]
    location = location or os.environ.get("MODELTRAIL_BLOBS") or None
    sqlite_path = getattr(store, "path", None)
    small = DatabaseBlobStore(store, sqlite_path=sqlite_path if isinstance(sqlite_path, Path) else None)
    if location in (None, "folder"):
        return TieredBlobStore(small, BlobStore(folder / "blobs"))
    if location == "database":
        # Still readable: blobs a trail wrote into its folder before it was switched.
        return TieredBlobStore(small, BlobStore(folder / "blobs"), threshold=1 << 62)
    if location.startswith("s3://"):
        from .blobs_s3 import S3BlobStore

        return TieredBlobStore(small, S3BlobStore.from_url(location))
    raise ValidationError(
        f"expected 'folder', 'database' or s3://BUCKET/PREFIX, got {location!r}", field="blobs"
    )


def _chunks(source: Iterable[BytesLike] | BinaryIO) -> Iterator[bytes]:
    if hasattr(source, "read"):
        while chunk := source.read(CHUNK_SIZE):
            yield bytes(chunk)
    else:
        for c in source:
            yield bytes(c)


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from rest


__all__ = ["SMALL_BLOB_MAX", "DatabaseBlobStore", "TieredBlobStore", "open_blobs"]
