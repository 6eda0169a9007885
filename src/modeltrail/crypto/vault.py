"""Pseudonyms that erasure can unlink: a random token per (field, value), kept in a vault row.

A keyed pseudonym (:mod:`.pseudonym`, ``ps1:``) is recomputable by whoever holds the key and the person's
id, so after an "erasure" the operator could still find every record of that person. A vault pseudonym
(``ps2:``) is 128 random bits: the ledger holds only the token, and the only link from the id to the token
is one row of this vault. Erasure deletes the row; from then on nobody, with every key, can say which
records were that person's (the token is not a function of the id).

The vault is an SQLite file (mode 0600) in the trail's ``keys/`` folder. Table ``pseudonyms``:

    lookup      TEXT PRIMARY KEY   the keyed pseudonym (ps1) of (field, value): finds the row, never stored
                                   in the ledger
    token       TEXT UNIQUE        "ps2:" + base64url_nopad(16 random bytes), what the ledger records
    field       TEXT               the input field (for messages and access requests)
    created_at  TEXT               RFC 3339 UTC

``secure_delete`` is on, and the WAL is truncated after a deletion, so the erased row does not linger in
free pages or in the write-ahead log (copies in backups and snapshots are outside any application's
reach: keep ``keys/`` under its own retention).
"""

from __future__ import annotations

import base64
import os
import secrets
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from ..errors import StoreError
from .pseudonym import Pseudonymiser, Scalar

PREFIX = "ps2:"
VAULT_FILE = "pseudonyms.db"
_CACHE_LIMIT = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pseudonyms (
    lookup     TEXT PRIMARY KEY,
    token      TEXT NOT NULL UNIQUE,
    field      TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""


def is_vault_token(pseudonym: str) -> bool:
    """Whether ``pseudonym`` is a vault token (``ps2:``) rather than a keyed hash (``ps1:``)."""
    return isinstance(pseudonym, str) and pseudonym.startswith(PREFIX)


class PseudonymVault:
    """Random per-subject tokens, found through a keyed lookup, deletable on erasure. Thread-safe."""

    def __init__(self, path: str | os.PathLike[str], keyed: Pseudonymiser) -> None:
        """Open or create the vault at ``path``; ``keyed`` computes the lookup of a (field, value)."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._keyed = keyed
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        if os.name != "nt":
            os.chmod(self.path, 0o600)
        self._lock = threading.Lock()
        # Tokens handed out by this process: the serving path then costs one dictionary lookup. An erasure
        # through this same vault object drops its entries; another process's erasure is seen on reopen.
        self._cache: dict[str, str] = {}
        self._version: int | None = None
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the pseudonym vault {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def token(self, value: Scalar, field: str) -> str:
        """The vault token of ``value`` in ``field``, created (random) on first use."""
        lookup = self._keyed.pseudonym(value, field)
        with self._lock:
            # Another process's erasure must not be undone by a token cached here: SQLite's data_version
            # changes whenever another connection commits, and then the cache starts again.
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._cache.clear()
                self._version = version
            got = self._cache.get(lookup)
            if got is not None:
                return got
            row = self._db.execute("SELECT token FROM pseudonyms WHERE lookup = ?", (lookup,)).fetchone()
            if row is None:
                new = PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode("ascii")
                now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
                # OR IGNORE + re-read: another process may have created the row meanwhile; its token wins.
                self._db.execute(
                    "INSERT OR IGNORE INTO pseudonyms (lookup, token, field, created_at) VALUES (?, ?, ?, ?)",
                    (lookup, new, field, now),
                )
                row = self._db.execute("SELECT token FROM pseudonyms WHERE lookup = ?", (lookup,)).fetchone()
            token = str(row[0])
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[lookup] = token
            return token

    __call__ = token

    def find(self, value: Scalar, field: str) -> str | None:
        """The existing token of ``value`` in ``field`` (None: never seen, or erased); creates nothing."""
        lookup = self._keyed.pseudonym(value, field)
        with self._lock:
            row = self._db.execute("SELECT token FROM pseudonyms WHERE lookup = ?", (lookup,)).fetchone()
        return None if row is None else str(row[0])

    def forget_tokens(self, tokens: list[str]) -> int:
        """Delete the rows of ``tokens`` (found in a person's records); how many rows there were."""
        n = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for t in tokens:
                    n += self._db.execute("DELETE FROM pseudonyms WHERE token = ?", (t,)).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if n:
                self._cache = {k: v for k, v in self._cache.items() if v not in set(tokens)}
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return n

    def forget(self, value: Scalar, fields: list[str]) -> list[str]:
        """Delete the rows of ``value`` in ``fields``; the tokens that became unlinkable (for counting only)."""
        lookups = {self._keyed.pseudonym(value, f): f for f in fields}
        gone: list[str] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for lookup in lookups:
                    row = self._db.execute("SELECT token FROM pseudonyms WHERE lookup = ?", (lookup,)).fetchone()
                    if row is not None:
                        gone.append(str(row[0]))
                        self._db.execute("DELETE FROM pseudonyms WHERE lookup = ?", (lookup,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            for lookup in lookups:
                self._cache.pop(lookup, None)
            if gone:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return gone


__all__ = ["PREFIX", "VAULT_FILE", "PseudonymVault", "is_vault_token"]
