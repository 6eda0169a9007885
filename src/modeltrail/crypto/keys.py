"""Key files in a trail's ``keys/`` folder: checkpoint signing keys and 32-byte secrets.

Layout::

    keys/                      (0700)
      signing/                 (0700)
        <key id>.key           signer key string (note format), 0600
        <key id>.pub           verifier key string
        CURRENT                key id of the key that signs new checkpoints
      <name>.secret            32 random bytes (e.g. the pseudonym HMAC key), 0600

Rotated-away signing keys stay in ``signing/`` so checkpoints they signed keep verifying. Files are
created complete or not at all: the content is written and fsync'ed under a temporary name created
with mode 0600, then hard-linked to its final name, which also refuses to overwrite an existing key.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import IntegrityError, NotFoundError, ValidationError
from ..ledger.note import NoteSigner

SIGNING_DIR = "signing"
CURRENT_FILE = "CURRENT"
SECRET_BYTES = 32

_KEY_ID = re.compile(r"[0-9a-f]{8}", re.ASCII)
_SECRET_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}", re.ASCII)


class InsecureKeyFileError(ValidationError):
    """A private key file can be read or written by users other than its owner."""


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` holding ``data`` with permissions ``mode``; ValidationError if it exists."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    # The mode is given to open() itself so the file never exists with wider permissions; fchmod
    # then undoes a restrictive umask that would leave the owner unable to read the key back.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic and, unlike rename, fails if the target exists
        except FileExistsError:
            raise ValidationError(f"{path} already exists; refusing to overwrite it", field="key") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def _check_mode(mode: int, path: Path) -> None:
    if os.name == "posix" and mode & 0o077:
        raise InsecureKeyFileError(
            f"{path} has mode {stat.S_IMODE(mode):04o}; private keys must not be accessible to group or "
            f"others (run: chmod 600 {path})",
            field="key",
        )


def check_private_key_permissions(path: Path) -> None:
    """Raise :class:`InsecureKeyFileError` if group or others have any permission on ``path``.

    Write access is refused as well as read access: whoever can replace a key can sign as the trail.
    """
    _check_mode(os.stat(path).st_mode, path)


def _read_private(path: Path) -> bytes:
    """Read a private file after checking its permissions on the open descriptor (no race with chmod)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise NotFoundError(f"key file {path} does not exist") from None
    with os.fdopen(fd, "rb") as fh:
        _check_mode(os.fstat(fh.fileno()).st_mode, path)
        return fh.read()


def _signing_dir(keys_dir: Path) -> Path:
    return Path(keys_dir) / SIGNING_DIR


def _check_key_id(key_id: str) -> str:
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise ValidationError(f"expected 8 lower-case hex digits, got {key_id!r}", field="key_id")
    return key_id


def create_signing_key(
    keys_dir: Path, name: str, *, private_key: Ed25519PrivateKey | None = None
) -> NoteSigner:
    """Create a signing key named ``name`` (a fresh one, or ``private_key`` to import) and store it.

    Writes ``signing/<key id>.key`` (mode 0600) and ``signing/<key id>.pub``. Does not make the key
    current (see :func:`set_current_signing_key`). Raises ValidationError if the files already exist.
    """
    signer = (
        NoteSigner.generate(name) if private_key is None else NoteSigner.from_private_key(private_key, name)
    )
    sdir = _signing_dir(keys_dir)
    Path(keys_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    sdir.mkdir(mode=0o700, exist_ok=True)
    key_path = sdir / f"{signer.key_id_hex}.key"
    pub_path = sdir / f"{signer.key_id_hex}.pub"
    if key_path.exists() or pub_path.exists():
        raise ValidationError(f"signing key {signer.key_id_hex} already exists in {sdir}", field="key")
    # The public half first: a crash in between leaves a harmless verifier key, never a signing
    # key whose checkpoints nobody could verify.
    _write_new_file(pub_path, (signer.verifier_key() + "\n").encode("utf-8"), 0o644)
    try:
        _write_new_file(key_path, (signer.signer_key() + "\n").encode("utf-8"), 0o600)
    except BaseException:
        pub_path.unlink(missing_ok=True)
        raise
    return signer


def current_signing_key_id(keys_dir: Path) -> str | None:
    """The key id named in ``signing/CURRENT``, or None if no key was made current yet."""
    try:
        text = (_signing_dir(keys_dir) / CURRENT_FILE).read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise IntegrityError(f"{_signing_dir(keys_dir) / CURRENT_FILE} is not a key id") from None
    try:
        return _check_key_id(text.strip())
    except ValidationError:
        raise IntegrityError(
            f"{_signing_dir(keys_dir) / CURRENT_FILE} holds {text!r}, not a key id"
        ) from None


def load_signing_key(keys_dir: Path, key_id: str | None = None) -> NoteSigner:
    """Load signing key ``key_id`` (8 hex digits), or the current one when None.

    Raises NotFoundError if there is no such key (or no current key), InsecureKeyFileError if the
    file is readable by others, IntegrityError if the file does not hold the key its name says.
    """
    if key_id is None:
        key_id = current_signing_key_id(keys_dir)
        if key_id is None:
            raise NotFoundError(f"no current signing key in {_signing_dir(keys_dir)}")
    path = _signing_dir(keys_dir) / f"{_check_key_id(key_id)}.key"
    data = _read_private(path)
    try:
        signer = NoteSigner(data.decode("utf-8").strip())
    except (UnicodeDecodeError, ValidationError) as exc:
        raise IntegrityError(f"{path} does not hold a valid signer key: {exc}") from None
    if signer.key_id_hex != key_id:
        raise IntegrityError(f"{path} holds key {signer.key_id_hex}, not {key_id}")
    return signer


def set_current_signing_key(keys_dir: Path, key_id: str) -> None:
    """Make ``key_id`` the key that signs new checkpoints (atomic replace of ``signing/CURRENT``)."""
    sdir = _signing_dir(keys_dir)
    if not (sdir / f"{_check_key_id(key_id)}.key").is_file():
        raise NotFoundError(f"no signing key {key_id} in {sdir}")
    tmp = sdir / f".{CURRENT_FILE}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            os.write(fd, f"{key_id}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        # Readers see either the old or the new id, never a partial file, even after a crash.
        os.replace(tmp, sdir / CURRENT_FILE)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(sdir)


def list_verifier_keys(keys_dir: Path) -> list[str]:
    """Every verifier key in ``signing/`` (current and rotated away), sorted by key id.

    The strings are returned as stored; :class:`~modeltrail.ledger.note.NoteVerifier` validates them.
    """
    sdir = _signing_dir(keys_dir)
    if not sdir.is_dir():
        return []
    return [p.read_text(encoding="utf-8").strip() for p in sorted(sdir.glob("*.pub")) if p.is_file()]


def _secret_path(keys_dir: Path, name: str) -> Path:
    if not isinstance(name, str) or not _SECRET_NAME.fullmatch(name):
        raise ValidationError(
            f"expected lower-case letters, digits, '_', '.', '-' (1-64, no leading dot), got {name!r}",
            field="name",
        )
    return Path(keys_dir) / f"{name}.secret"


def create_secret_key(keys_dir: Path, name: str) -> bytes:
    """Create ``<name>.secret`` with 32 random bytes (mode 0600) and return them; never overwrites."""
    path = _secret_path(keys_dir, name)
    Path(keys_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(SECRET_BYTES)
    _write_new_file(path, key, 0o600)
    return key


def load_secret_key(keys_dir: Path, name: str) -> bytes:
    """The 32 bytes of ``<name>.secret``; NotFoundError, InsecureKeyFileError or IntegrityError."""
    path = _secret_path(keys_dir, name)
    data = _read_private(path)
    if len(data) != SECRET_BYTES:
        raise IntegrityError(f"{path} must hold exactly {SECRET_BYTES} bytes, found {len(data)}")
    return data
