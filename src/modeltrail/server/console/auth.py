"""Console sign-in: local users with argon2id password hashes, server-side sessions, CSRF tokens, throttling.

Where things live: one SQLite file, ``<trail>/.modeltrail/keys/console.sqlite`` (the trail's keys dir, mode
0600, created 0600), holding

* ``users``: user id and argon2id hash (``argon2-cffi`` defaults: RFC 9106 low-memory profile). A user
  must be a user of the policy in force: the console grants no roles of its own, the policy's ``users``
  do (read on every request, so a role removed from the policy is gone at the next click).
* ``sessions``: the SHA-256 of a random 256-bit session token (the token itself lives only in the
  browser's cookie), the user, the session's CSRF token, creation, last use and expiry. Signing out
  deletes the row; signing out everywhere deletes every row of the user, and so does a password change.

Passwords are set from a shell (``modeltrail console user add``, :func:`set_password`), by a holder of the
policy's ``roles.tokens`` (a password lets its holder act as that user, as a token does), and recorded as
``console.password_set`` / ``console.user_removed`` (never the password or its hash). No web form creates
accounts. Failed sign-ins are throttled in memory per
user and per client address (:class:`Throttle`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import NotFoundError, PermissionDeniedError, ValidationError
from ...events import Actor
from ...identity import Identity, admin_roles, identity_for_user, identity_from_actor
from ...registry import policy_or_none

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from ...trail import Trail

DB_FILE = "console.sqlite"
SESSION_SECONDS = 8 * 3600
"""A session ends 8 hours after sign-in (a working day), or 30 minutes after its last use."""
IDLE_SECONDS = 30 * 60
MIN_PASSWORD = 12
TOUCH_SECONDS = 60

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (user_id TEXT PRIMARY KEY, hash TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  token_sha256 TEXT PRIMARY KEY, user_id TEXT NOT NULL, csrf TEXT NOT NULL,
  created REAL NOT NULL, last_seen REAL NOT NULL, expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
"""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _hasher() -> PasswordHasher:
    try:
        from argon2 import PasswordHasher
    except ImportError as exc:  # pragma: no cover - the server extra brings it
        raise PermissionDeniedError(
            f"console sign-in needs argon2-cffi: pip install 'modeltrail[server]' ({exc})"
        ) from None
    return PasswordHasher()


@dataclass(frozen=True)
class Session:
    """A signed-in browser: who, its CSRF token, and the hash that names it in the store."""

    token_sha256: str
    user_id: str
    csrf: str
    expires: float


class ConsoleUsers:
    """The console's user and session store for one trail (see the module docstring). Thread-safe."""

    def __init__(self, keys_dir: str | os.PathLike[str]) -> None:
        self.path = Path(keys_dir) / DB_FILE
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            if not self.path.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Created 0600 before SQLite opens it: the hashes are never readable by others.
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            elif os.name != "nt" and self.path.stat().st_mode & 0o077:
                raise PermissionDeniedError(f"{self.path} is readable by other users; run `chmod 600 {self.path}`")
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            # WAL and NORMAL sync: a session's sliding expiry is a small write, not an fsync per page.
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ---------------------------------------------------------------------------------- users

    def set_password(self, user_id: str, password: str) -> None:
        """Create ``user_id`` or change their password (argon2id); ends every session they have."""
        identity_for_user(user_id, None)  # validates the id
        if not isinstance(password, str) or len(password) < MIN_PASSWORD:
            raise ValidationError(f"a password needs at least {MIN_PASSWORD} characters", field="password")
        digest = _hasher().hash(password)
        with self._lock:
            db = self._conn()
            db.execute(
                "INSERT INTO users (user_id, hash, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, updated = excluded.updated",
                (user_id, digest, time.time()),
            )
            db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))

    def remove(self, user_id: str) -> None:
        """Delete ``user_id`` and their sessions (NotFoundError when unknown)."""
        with self._lock:
            db = self._conn()
            if db.execute("DELETE FROM users WHERE user_id = ?", (user_id,)).rowcount == 0:
                raise NotFoundError(f"no console user {user_id!r}")
            db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))

    def users(self) -> list[str]:
        """Every console user id, sorted."""
        with self._lock:
            return [r[0] for r in self._conn().execute("SELECT user_id FROM users ORDER BY user_id")]

    def check_password(self, user_id: str, password: str) -> bool:
        """True when ``password`` is ``user_id``'s; an unknown user costs the same hash verification."""
        from argon2.exceptions import VerificationError, VerifyMismatchError

        with self._lock:
            row = self._conn().execute("SELECT hash FROM users WHERE user_id = ?", (user_id,)).fetchone()
        ph = _hasher()
        # Verify against a throwaway hash for unknown users so timing does not tell which ids exist.
        stored = row[0] if row else _dummy_hash()
        try:
            ok = bool(ph.verify(stored, password))
        except (VerifyMismatchError, VerificationError, ValueError):
            ok = False
        return ok and row is not None

    # ------------------------------------------------------------------------------- sessions

    def start(self, user_id: str) -> tuple[str, Session]:
        """A new session for ``user_id``: (the cookie token, shown once, and the session)."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        s = Session(_digest(token), user_id, secrets.token_urlsafe(32), now + SESSION_SECONDS)
        with self._lock:
            db = self._conn()
            db.execute("DELETE FROM sessions WHERE expires < ? OR last_seen < ?", (now, now - IDLE_SECONDS))
            db.execute(
                "INSERT INTO sessions (token_sha256, user_id, csrf, created, last_seen, expires) VALUES (?,?,?,?,?,?)",
                (s.token_sha256, user_id, s.csrf, now, now, s.expires),
            )
        return token, s

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie token (None when unknown, expired or idle too long); refreshes it."""
        if not token or len(token) > 100:
            return None
        digest = _digest(token)
        now = time.time()
        with self._lock:
            db = self._conn()
            row = db.execute(
                "SELECT user_id, csrf, expires, last_seen FROM sessions WHERE token_sha256 = ?", (digest,)
            ).fetchone()
            if row is None:
                return None
            if row[2] < now or row[3] < now - IDLE_SECONDS:
                db.execute("DELETE FROM sessions WHERE token_sha256 = ?", (digest,))
                return None
            if now - row[3] > TOUCH_SECONDS:  # refreshing the idle clock once a minute is precise enough
                db.execute("UPDATE sessions SET last_seen = ? WHERE token_sha256 = ?", (now, digest))
        return Session(digest, row[0], row[1], row[2])

    def end(self, session: Session) -> None:
        """Sign out this one session."""
        with self._lock:
            self._conn().execute("DELETE FROM sessions WHERE token_sha256 = ?", (session.token_sha256,))

    def end_all(self, user_id: str) -> int:
        """Sign ``user_id`` out everywhere; returns how many sessions ended."""
        with self._lock:
            return self._conn().execute("DELETE FROM sessions WHERE user_id = ?", (user_id,)).rowcount

    def session_count(self, user_id: str) -> int:
        """How many sessions ``user_id`` has open."""
        with self._lock:
            row = self._conn().execute("SELECT count(*) FROM sessions WHERE user_id = ?", (user_id,)).fetchone()
        return int(row[0])


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(_hasher().hash(secrets.token_hex(16)))
    return _DUMMY[0]


def csrf_ok(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a form's CSRF token with the session's."""
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


class Throttle:
    """Failed sign-ins per key (user id, client address) in a sliding window: refuse past ``limit``.

    In memory, per server process: it slows guessing down; the argon2 cost does the rest.
    """

    def __init__(self, limit: int = 5, window: float = 15 * 60) -> None:
        self.limit = limit
        self.window = window
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> int:
        """Seconds until another attempt is allowed for every key (0: allowed now)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in keys:
                q = self._fails.get(key)
                if q is None:
                    continue
                while q and q[0] < now - self.window:
                    q.popleft()
                if len(q) >= self.limit:
                    wait = max(wait, q[0] + self.window - now)
        return int(wait) + (1 if wait else 0)

    def failed(self, *keys: str) -> None:
        """Count a failed attempt against every key."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._fails.setdefault(key, deque()).append(now)

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key`` (the user, after a correct password)."""
        with self._lock:
            self._fails.pop(key, None)


# ------------------------------------------------------------------------------ managing users


def _manager(trail: Trail, actor: Actor | Identity, what: str) -> Actor:
    """The actor managing console users: one of the policy's ``roles.tokens`` (default ``admin``)."""
    policy = policy_or_none(trail)
    allowed = admin_roles(policy, "tokens")
    ident = identity_from_actor(actor, policy)
    role = ident.role_for(allowed)
    if role is None:
        raise PermissionDeniedError(f"{ident.user_id} may not {what}: that needs one of the roles {', '.join(allowed)}")
    return ident.acting_as(role)


def set_password(trail: Trail, user_id: str, password: str, *, actor: Actor | Identity) -> None:
    """Create console user ``user_id`` (a user of the policy) or change their password; ends their sessions."""
    who = _manager(trail, actor, "set console passwords")
    policy = policy_or_none(trail)
    if policy is not None and policy.users and user_id not in policy.users:
        raise ValidationError(f"{user_id} is not a user of the policy: add them under users: first", field="user")
    users = ConsoleUsers(trail.keys_dir)
    try:
        users.set_password(user_id, password)
    finally:
        users.close()
    trail.record("console.password_set", system="modeltrail", actor=who, subject=f"user:{user_id}",
                 payload={"user": user_id})  # fmt: skip


def remove_user(trail: Trail, user_id: str, *, actor: Actor | Identity) -> None:
    """Delete console user ``user_id`` and end their sessions."""
    who = _manager(trail, actor, "remove console users")
    users = ConsoleUsers(trail.keys_dir)
    try:
        users.remove(user_id)
    finally:
        users.close()
    trail.record("console.user_removed", system="modeltrail", actor=who, subject=f"user:{user_id}",
                 payload={"user": user_id})  # fmt: skip


__all__ = ["ConsoleUsers", "Session", "Throttle", "csrf_ok", "remove_user", "set_password"]
