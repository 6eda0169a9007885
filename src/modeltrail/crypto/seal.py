"""Per-subject data keys and AES-256-GCM sealing: crypto-shredding for GDPR erasure (DESIGN §1).

Personal data that must stay reconstructable for an audit is *sealed*: encrypted under a data key that
belongs to one data subject. The sealed blob goes to the blob store; the ledger event carries only
``{"alg": "AES-256-GCM", "key_id": ..., "sha256": <digest of the blob>}``. Erasure shreds the subject's
data keys: the blobs become unreadable while every ledger hash still verifies.

Key store (``SubjectKeyStore``): an SQLite file (mode 0600) next to a 32-byte master secret
(``subject-master.key``, raw bytes, mode 0600). Table ``subject_keys``:

    key_id      TEXT  "dek-" + 32 random hex            (appears in ledger events)
    subject_ref TEXT  hex HMAC-SHA256(master, "modeltrail/subject-ref/v1" 0x00 subject)
    wrapped     BLOB  nonce(12) || AES-256-GCM(master, data key, aad) ; NULL once shredded
    created_at  TEXT  RFC 3339 UTC
    shredded_at TEXT  RFC 3339 UTC or NULL

The subject id itself is never stored, only its keyed hash, so the key store does not list people.
Wrapping AAD is ``"modeltrail/dek/v1" 0x00 key_id 0x00 subject_ref``, so a wrapped key cannot be moved to
another row or subject without unwrapping failing. A subject has at most one live key; after erasure a
returning subject gets a fresh key (new data is new processing), the erased key ids stay erased.

Sealed blob envelope (version 1, binary, all integers big-endian)::

    magic   b"MTSEAL"           6 bytes
    version 0x01                1 byte
    klen    u8, key_id          ASCII
    clen    u16, context        UTF-8
    nonce                       12 bytes
    ciphertext || GCM tag       rest (tag = last 16 bytes)

Plaintext is the UTF-8 JSON of the value (sorted keys, no whitespace, NaN rejected). The GCM
associated data is ``"modeltrail/seal/v1" 0x00 key_id 0x00 subject_ref 0x00 context``, so a blob only
opens under the subject and context it was sealed for; the nonce is authenticated by GCM itself.

Limits worth knowing: SQLite ``secure_delete`` zeroes freed database pages and the WAL is truncated
after a shred, but copies on the storage medium (SSD wear levelling, backups, file system snapshots)
are outside the reach of any application; keep the ``keys/`` folder out of ordinary backups, or back it
up under its own retention. Python cannot reliably wipe ``bytes`` objects from memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
import struct
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..blobs import BlobBackend, parse_digest
from ..errors import IntegrityError, NotFoundError, StoreError, ValidationError

if TYPE_CHECKING:
    from .providers import KeyProvider

ALG: Final = "AES-256-GCM"
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
MAGIC: Final = b"MTSEAL"
ENVELOPE_VERSION: Final = 1
MASTER_KEY_NAME: Final = "subject-master.key"

_WRAP_AAD: Final = b"modeltrail/dek/v1\x00"
_SEAL_AAD: Final = b"modeltrail/seal/v1\x00"
_REF_DOMAIN: Final = b"modeltrail/subject-ref/v1\x00"
_WRAPPED_LEN: Final = NONCE_BYTES + KEY_BYTES + TAG_BYTES

_SCHEMA = """
CREATE TABLE IF NOT EXISTS subject_keys (
    key_id      TEXT PRIMARY KEY,
    subject_ref TEXT NOT NULL,
    wrapped     BLOB,
    created_at  TEXT NOT NULL,
    shredded_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS subject_keys_live ON subject_keys(subject_ref) WHERE shredded_at IS NULL;
CREATE INDEX IF NOT EXISTS subject_keys_ref ON subject_keys(subject_ref);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _create_private_file(path: Path, content: bytes) -> bool:
    """Create ``path`` with mode 0600 holding ``content``, atomically; return False if it already existed.

    The content is written and fsync'ed in a temporary file first and then hard-linked into place, so
    a concurrent reader never sees a half-written secret and two creators cannot both win.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o600)
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            return False
        if os.name != "nt":
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


def load_or_create_master_key(path: Path) -> bytes:
    """Return the 32-byte master secret at ``path``, creating it (random, mode 0600) if absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _create_private_file(path, secrets.token_bytes(KEY_BYTES))
    data = path.read_bytes()
    if len(data) != KEY_BYTES:
        raise IntegrityError(f"master key file {path} must hold exactly {KEY_BYTES} bytes, found {len(data)}")
    return data


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Metadata of one data key (never the key itself)."""

    key_id: str
    subject_ref: str
    created_at: str
    shredded_at: str | None

    @property
    def shredded(self) -> bool:
        """Whether the key has been destroyed."""
        return self.shredded_at is not None


class SubjectKeyStore:
    """Per-subject AES-256 data keys, wrapped under a master secret, in an SQLite file (mode 0600).

    Thread-safe (one connection guarded by a lock) and multi-process safe (SQLite locking, with key
    creation in an immediate transaction and a unique index on the live key of each subject).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        master_key_path: str | os.PathLike[str] | None = None,
        provider: KeyProvider | None = None,
    ) -> None:
        """Open or create the key database at ``path``.

        The master secret defaults to ``subject-master.key`` in the same folder. ``provider`` (a
        :class:`~modeltrail.crypto.providers.KeyProvider`, e.g. AWS KMS) wraps the data keys instead of the
        master secret, which then only keys the subject references.
        """
        self._provider = provider
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.master_key_path = (
            Path(master_key_path) if master_key_path else self.path.parent / MASTER_KEY_NAME
        )
        master = load_or_create_master_key(self.master_key_path)
        self._wrapper = AESGCM(master)
        ref = crypto_hmac.HMAC(master, hashes.SHA256())
        ref.update(_REF_DOMAIN)
        self._ref_base = ref
        # Create the database file ourselves so it is 0600 from its first byte; SQLite gives its
        # -wal and -shm files the same mode as the database file.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        if os.name != "nt":
            os.chmod(self.path, 0o600)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            with self._tx() as db:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open subject key store {self.path}: {exc}") from exc

    def __enter__(self) -> SubjectKeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locking) transaction, so concurrent creators serialise."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def subject_ref(self, subject: str) -> str:
        """Keyed hash under which ``subject`` is stored (hex); stable for the life of the master key."""
        if not isinstance(subject, str) or not subject:
            raise ValidationError("subject must be a non-empty string", field="subject")
        mac = self._ref_base.copy()
        mac.update(subject.encode("utf-8"))
        return mac.finalize().hex()

    def _wrap(self, key_id: str, subject_ref: str, key: bytes) -> bytes:
        aad = _WRAP_AAD + key_id.encode("ascii") + b"\x00" + subject_ref.encode("ascii")
        if self._provider is not None:
            return self._provider.wrap(key, aad)
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._wrapper.encrypt(nonce, key, aad)

    def _unwrap(self, key_id: str, subject_ref: str, wrapped: bytes) -> bytes:
        aad = _WRAP_AAD + key_id.encode("ascii") + b"\x00" + subject_ref.encode("ascii")
        if self._provider is not None:
            return self._provider.unwrap(bytes(wrapped), aad)
        try:
            return self._wrapper.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
        except InvalidTag:
            raise IntegrityError(
                f"data key {key_id} does not unwrap: key store row altered or wrong master key"
            ) from None

    def key_for(self, subject: str, create: bool = True) -> tuple[str, bytes]:
        """Return ``(key_id, data_key)`` of the live key of ``subject``, creating one if ``create``.

        Without ``create``, a subject with no live key raises :class:`NotFoundError` (saying
        "erased" if its keys were shredded).
        """
        ref = self.subject_ref(subject)
        with self._lock:
            row = self._db.execute(
                "SELECT key_id, wrapped FROM subject_keys WHERE subject_ref = ? AND shredded_at IS NULL",
                (ref,),
            ).fetchone()
            if row is not None:
                return row[0], self._unwrap(row[0], ref, row[1])
            if not create:
                if self._has_shredded(ref):
                    raise NotFoundError(f"the data keys of subject {subject!r} were erased (crypto-shredded)")
                raise NotFoundError(f"no data key for subject {subject!r}")
            with self._tx() as db:
                # Re-check inside the write lock: another process may have created it meanwhile.
                row = db.execute(
                    "SELECT key_id, wrapped FROM subject_keys WHERE subject_ref = ? AND shredded_at IS NULL",
                    (ref,),
                ).fetchone()
                if row is not None:
                    return row[0], self._unwrap(row[0], ref, row[1])
                key_id = "dek-" + secrets.token_hex(16)
                key = AESGCM.generate_key(bit_length=256)
                db.execute(
                    "INSERT INTO subject_keys(key_id, subject_ref, wrapped, created_at) VALUES (?, ?, ?, ?)",
                    (key_id, ref, self._wrap(key_id, ref, key), _now()),
                )
            return key_id, key

    def keys_for(self, subjects: Iterable[str]) -> dict[str, tuple[str, bytes]]:
        """:meth:`key_for` (creating keys) of many subjects at once: one read, one write for the new ones.

        Sealing a batch of decisions one key lookup at a time was most of the batch's cost (one query
        and, for a new subject, one write transaction each); here a batch costs a few queries.
        """
        refs = {subject: self.subject_ref(subject) for subject in dict.fromkeys(subjects)}
        found: dict[str, tuple[str, bytes]] = {}
        by_ref = {ref: subject for subject, ref in refs.items()}
        todo = list(by_ref)

        def read(db: sqlite3.Connection, wanted: list[str]) -> None:
            for i in range(0, len(wanted), 500):  # within SQLite's bound on parameters
                part = wanted[i : i + 500]
                rows = db.execute(
                    "SELECT key_id, subject_ref, wrapped FROM subject_keys "
                    f"WHERE shredded_at IS NULL AND subject_ref IN ({', '.join('?' * len(part))})",
                    part,
                ).fetchall()
                for key_id, ref, wrapped in rows:
                    found[by_ref[ref]] = (key_id, self._unwrap(key_id, ref, wrapped))

        with self._lock:
            read(self._db, todo)
            missing = [ref for ref in todo if by_ref[ref] not in found]
            if missing:
                with self._tx() as db:
                    # Re-read inside the write lock: another process may have created some meanwhile.
                    read(db, missing)
                    new = []
                    for ref in missing:
                        if by_ref[ref] in found:
                            continue
                        key_id = "dek-" + secrets.token_hex(16)
                        key = AESGCM.generate_key(bit_length=256)
                        new.append((key_id, ref, self._wrap(key_id, ref, key), _now()))
                        found[by_ref[ref]] = (key_id, key)
                    db.executemany(
                        "INSERT INTO subject_keys(key_id, subject_ref, wrapped, created_at) VALUES (?, ?, ?, ?)", new
                    )
        return found

    def _has_shredded(self, ref: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM subject_keys WHERE subject_ref = ? AND shredded_at IS NOT NULL LIMIT 1", (ref,)
        ).fetchone()
        return row is not None

    def info(self, key_id: str) -> KeyInfo:
        """Return the metadata of a key; :class:`NotFoundError` if the key id is unknown."""
        with self._lock:
            row = self._db.execute(
                "SELECT key_id, subject_ref, created_at, shredded_at FROM subject_keys WHERE key_id = ?",
                (key_id,),
            ).fetchone()
        if row is None:
            raise NotFoundError(f"unknown data key {key_id!r}")
        return KeyInfo(*row)

    def resolve(self, key_id: str) -> tuple[bytes, str]:
        """Return ``(data_key, subject_ref)`` of a live key.

        Raises :class:`NotFoundError` for an unknown key and, with a message containing "erased",
        for a shredded one.
        """
        with self._lock:
            row = self._db.execute(
                "SELECT subject_ref, wrapped, shredded_at FROM subject_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"unknown data key {key_id!r}")
        ref, wrapped, shredded_at = row
        if shredded_at is not None or wrapped is None:
            raise NotFoundError(
                f"data key {key_id} was erased (crypto-shredded) at {shredded_at}; "
                "data sealed under it can no longer be read"
            )
        return self._unwrap(key_id, ref, wrapped), ref

    def get(self, key_id: str) -> bytes:
        """Return the data key ``key_id``; :class:`NotFoundError` ("erased") after shredding."""
        return self.resolve(key_id)[0]

    def shred(self, subject: str) -> list[str]:
        """Destroy every live data key of ``subject``; return the key ids shredded (possibly none).

        The wrapped key is first overwritten with zeros, then removed; ``secure_delete`` zeroes the
        freed page space and the WAL is truncated so no old page image of the key remains in it.
        """
        ref = self.subject_ref(subject)
        when = _now()
        with self._tx() as db:
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT key_id FROM subject_keys"
                    " WHERE subject_ref = ? AND shredded_at IS NULL ORDER BY created_at",
                    (ref,),
                )
            ]
            db.execute(
                "UPDATE subject_keys SET wrapped = zeroblob(?) WHERE subject_ref = ? AND shredded_at IS NULL",
                (_WRAPPED_LEN, ref),
            )
            db.execute(
                "UPDATE subject_keys SET wrapped = NULL, shredded_at = ?"
                " WHERE subject_ref = ? AND shredded_at IS NULL",
                (when, ref),
            )
        if ids:
            with self._lock:
                # Another connection may be reading; then the WAL is checkpointed as far as possible and
                # truncated by a later shred or close. busy_timeout bounds the wait.
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return ids

    def key_ids(self, subject: str) -> list[str]:
        """Every data key id of ``subject`` (live and shredded), oldest first; empty once :meth:`erase` ran."""
        ref = self.subject_ref(subject)
        with self._lock:
            rows = self._db.execute(
                "SELECT key_id FROM subject_keys WHERE subject_ref = ? ORDER BY created_at", (ref,)
            ).fetchall()
        return [str(r[0]) for r in rows]

    def erase(self, subject: str) -> list[str]:
        """Shred ``subject``'s keys and cut their rows' link to the subject; the key ids concerned.

        :meth:`shred` alone leaves ``subject_ref`` (a keyed hash of the id) in each row, so whoever holds
        the master secret and the id could still list the key ids, and through them the sealed events.
        Here every row of the subject gets a random ``subject_ref`` instead: the key ids stay known as
        erased (a read of their data still says so), but no longer lead back to the person.
        """
        return self.erase_keys(self.key_ids(subject))

    def erase_keys(self, key_ids: list[str]) -> list[str]:
        """:meth:`erase` for whoever owns the data keys ``key_ids``: every key of those subjects goes.

        For a person found through their records (a sealed field names its key id) rather than by the
        identifier the keys were created under. Returns every key id erased, the given ones included.
        """
        with self._tx() as db:
            refs: set[str] = set()
            for key_id in key_ids:
                row = db.execute("SELECT subject_ref FROM subject_keys WHERE key_id = ?", (key_id,)).fetchone()
                if row is not None and not str(row[0]).startswith("erased-"):
                    refs.add(str(row[0]))
            erased: list[str] = []
            when = _now()
            for ref in sorted(refs):
                ids = [r[0] for r in db.execute("SELECT key_id FROM subject_keys WHERE subject_ref = ?", (ref,))]
                db.execute(
                    "UPDATE subject_keys SET wrapped = zeroblob(?) WHERE subject_ref = ? AND shredded_at IS NULL",
                    (_WRAPPED_LEN, ref),
                )
                db.execute(
                    "UPDATE subject_keys SET wrapped = NULL, shredded_at = ?"
                    " WHERE subject_ref = ? AND shredded_at IS NULL",
                    (when, ref),
                )
                for key_id in ids:
                    # A random reference per row: the rows stay known as erased but lead to nobody.
                    db.execute(
                        "UPDATE subject_keys SET subject_ref = ? WHERE key_id = ?",
                        ("erased-" + secrets.token_hex(16), key_id),
                    )
                erased += ids
        if erased:
            with self._lock:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return erased

    def is_shredded(self, subject: str) -> bool:
        """Whether ``subject`` was erased: it has shredded keys and no live key."""
        ref = self.subject_ref(subject)
        with self._lock:
            rows = self._db.execute(
                "SELECT shredded_at IS NOT NULL FROM subject_keys WHERE subject_ref = ?", (ref,)
            ).fetchall()
        return bool(rows) and all(r[0] for r in rows)


@dataclass(frozen=True, slots=True)
class SealedValue:
    """One sealed value: AES-256-GCM ciphertext (tag included) plus what is needed to open it."""

    key_id: str
    nonce: bytes
    ciphertext: bytes
    context: str

    @property
    def ciphertext_sha256(self) -> str:
        """Hex SHA-256 of the ciphertext (with tag)."""
        return hashlib.sha256(self.ciphertext).hexdigest()

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of :meth:`to_blob`: the blob-store digest the ledger event cites."""
        return hashlib.sha256(self.to_blob()).hexdigest()

    def ledger_ref(self) -> dict[str, str]:
        """The ``sealed`` entry for a ledger event: algorithm, key id and blob digest only."""
        return {"alg": ALG, "key_id": self.key_id, "sha256": self.sha256}

    def to_blob(self) -> bytes:
        """Serialise to the version-1 envelope (see the module docstring)."""
        kid = self.key_id.encode("ascii")
        ctx = self.context.encode("utf-8")
        return b"".join(
            (
                MAGIC,
                bytes((ENVELOPE_VERSION, len(kid))),
                kid,
                struct.pack(">H", len(ctx)),
                ctx,
                self.nonce,
                self.ciphertext,
            )
        )

    @classmethod
    def from_blob(cls, blob: bytes) -> SealedValue:
        """Parse a version-1 envelope; :class:`ValidationError` if it is not one."""
        try:
            if blob[:6] != MAGIC:
                raise ValueError("bad magic")
            if blob[6] != ENVELOPE_VERSION:
                raise ValueError(f"unsupported envelope version {blob[6]}")
            klen = blob[7]
            pos = 8
            key_id = blob[pos : pos + klen].decode("ascii")
            pos += klen
            (clen,) = struct.unpack_from(">H", blob, pos)
            pos += 2
            context = blob[pos : pos + clen].decode("utf-8")
            pos += clen
            nonce = blob[pos : pos + NONCE_BYTES]
            ciphertext = blob[pos + NONCE_BYTES :]
            if len(key_id) != klen or len(nonce) != NONCE_BYTES or len(ciphertext) < TAG_BYTES:
                raise ValueError("truncated")
        except (ValueError, IndexError, struct.error) as exc:
            raise ValidationError(f"not a modeltrail sealed-value envelope: {exc}", field="blob") from None
        return cls(key_id=key_id, nonce=nonce, ciphertext=ciphertext, context=context)


def _seal_aad(key_id: str, subject_ref: str, context: str) -> bytes:
    return b"\x00".join(
        (_SEAL_AAD + key_id.encode("ascii"), subject_ref.encode("ascii"), context.encode("utf-8"))
    )


class Sealer:
    """Seal and unseal JSON values under per-subject keys from a :class:`SubjectKeyStore`."""

    def __init__(self, store: SubjectKeyStore) -> None:
        """Use ``store`` for data keys."""
        self.store = store

    def seal(self, subject: str, value: Any, context: str) -> SealedValue:
        """Encrypt the JSON value ``value`` for ``subject``; ``context`` names its purpose.

        ``context`` (e.g. ``"inference.decision/features"``) is authenticated: the value only opens
        when the same context is expected. A fresh random 96-bit nonce is used per call.
        """
        if not isinstance(context, str) or not context:
            raise ValidationError("context must be a non-empty string", field="context")
        if len(context.encode("utf-8")) > 0xFFFF:
            raise ValidationError("context is longer than 65535 bytes", field="context")
        try:
            plaintext = json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            ).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"sealed value must be JSON-safe: {exc}", field="value") from None
        key_id, key = self.store.key_for(subject)
        ref = self.store.subject_ref(subject)
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = AESGCM(key).encrypt(nonce, plaintext, _seal_aad(key_id, ref, context))
        return SealedValue(key_id=key_id, nonce=nonce, ciphertext=ciphertext, context=context)

    def unseal(self, sealed: SealedValue | bytes, *, context: str | None = None) -> Any:
        """Decrypt a sealed value (or its envelope bytes) and return the JSON value.

        ``context``, when given, is the context the caller expects; a value sealed for another
        context is rejected. Raises :class:`NotFoundError` ("erased") if the subject's key was
        shredded and :class:`IntegrityError` if the envelope was altered.
        """
        sv = SealedValue.from_blob(sealed) if isinstance(sealed, bytes | bytearray) else sealed
        key, ref = self.store.resolve(sv.key_id)
        ctx = sv.context if context is None else context
        try:
            plaintext = AESGCM(key).decrypt(sv.nonce, sv.ciphertext, _seal_aad(sv.key_id, ref, ctx))
        except InvalidTag:
            raise IntegrityError(
                f"sealed value under {sv.key_id} does not authenticate (altered, or context {ctx!r} is wrong)"
            ) from None
        return json.loads(plaintext)

    def seal_to(self, blobs: BlobBackend, subject: str, value: Any, context: str) -> dict[str, str]:
        """Seal ``value``, store its envelope in ``blobs`` and return the ledger ``sealed`` entry."""
        sealed = self.seal(subject, value, context)
        digest = blobs.put_bytes(sealed.to_blob())
        return {"alg": ALG, "key_id": sealed.key_id, "sha256": digest}

    def seal_many_to(self, blobs: BlobBackend, items: Sequence[tuple[str, Any, str]]) -> list[dict[str, str]]:
        """:meth:`seal_to` for many ``(subject, value, context)`` items: keys and blobs in batches.

        The envelopes are the same as one at a time (each with its own random nonce); the subjects' keys
        come from one :meth:`SubjectKeyStore.keys_for` call and the envelopes go to the blob store in one
        ``put_many`` where it has one.
        """
        keys = self.store.keys_for(subject for subject, _, _ in items)
        ciphers: dict[str, tuple[str, str, AESGCM]] = {}
        envelopes: list[bytes] = []
        key_ids: list[str] = []
        for subject, value, context in items:
            if not isinstance(context, str) or not context:
                raise ValidationError("context must be a non-empty string", field="context")
            try:
                plaintext = json.dumps(
                    value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
                ).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise ValidationError(f"sealed value must be JSON-safe: {exc}", field="value") from None
            c = ciphers.get(subject)
            if c is None:
                key_id, key = keys[subject]
                c = ciphers[subject] = (key_id, self.store.subject_ref(subject), AESGCM(key))
            key_id, ref, aes = c
            nonce = secrets.token_bytes(NONCE_BYTES)
            ciphertext = aes.encrypt(nonce, plaintext, _seal_aad(key_id, ref, context))
            envelopes.append(SealedValue(key_id=key_id, nonce=nonce, ciphertext=ciphertext, context=context).to_blob())
            key_ids.append(key_id)
        put_many = getattr(blobs, "put_many", None)
        digests = put_many(envelopes) if put_many is not None else [blobs.put_bytes(e) for e in envelopes]
        return [{"alg": ALG, "key_id": k, "sha256": d} for k, d in zip(key_ids, digests, strict=True)]

    def unseal_ref(self, blobs: BlobBackend, ref: Mapping[str, Any], *, context: str | None = None) -> Any:
        """Open a ledger ``sealed`` entry: fetch the blob, check it matches the entry, unseal it."""
        if ref.get("alg") != ALG:
            raise ValidationError(f"unsupported sealing algorithm {ref.get('alg')!r}", field="sealed.alg")
        digest = parse_digest(str(ref.get("sha256", "")))
        sv = SealedValue.from_blob(blobs.get_bytes(digest))
        if sv.key_id != ref.get("key_id"):
            raise IntegrityError(
                f"sealed blob {digest} names key {sv.key_id}, the event names {ref.get('key_id')}"
            )
        return self.unseal(sv, context=context)
