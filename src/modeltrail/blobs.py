"""Content-addressed blob store on the local file system.

Blobs (artifacts, reports, documents, sealed personal data) are stored under their SHA-256 digest:
``root/ab/cdef…`` where ``ab`` are the first two hex characters of the digest and the file name is the
remaining 62. Because the name *is* the hash, a blob is immutable, a second ``put`` of the same content
is a no-op, and any reader can re-hash to detect corruption.

Writes are atomic and durable: content goes to a temporary file (``.tmp-*``) on the same file system,
is fsync'ed, moved into place with :func:`os.replace` and the containing directory is fsync'ed, so after
``put_*`` returns the blob survives a crash and a reader never sees a partial file. Several threads or
processes may put the same blob at the same time: each writes its own temporary file and the last rename
wins with identical bytes, so every writer succeeds.

Digests may be written as ``<64 lowercase hex>`` or ``sha256:<64 lowercase hex>``; everything else is
rejected with :class:`~modeltrail.errors.ValidationError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from .errors import IntegrityError, NotFoundError, StoreError, ValidationError

CHUNK_SIZE = 1 << 20
"""Size of the pieces in which files and streams are hashed and copied (1 MiB)."""

DIGEST_PREFIX = "sha256:"

BytesLike = bytes | bytearray | memoryview
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX2 = re.compile(r"[0-9a-f]{2}")
_HEX62 = re.compile(r"[0-9a-f]{62}")
_TMP_PREFIX = ".tmp-"
# Streams are written before their digest (and so their fan-out folder) is known; they land here
# first. It lives under the root so that the final os.replace stays on one file system.
_INCOMING = ".incoming"


def parse_digest(digest: str) -> str:
    """Return the bare 64-character lowercase hex digest of ``digest`` (``sha256:`` prefix allowed).

    Raises :class:`ValidationError` for anything else, including upper-case hex, so that one blob
    never has two spellings.
    """
    if not isinstance(digest, str):
        raise ValidationError(f"expected a sha256 hex string, got {type(digest).__name__}", field="digest")
    bare = digest[len(DIGEST_PREFIX) :] if digest.startswith(DIGEST_PREFIX) else digest
    if not _HEX64.fullmatch(bare):
        raise ValidationError(
            f"expected 64 lowercase hex characters (optionally prefixed 'sha256:'), got {digest!r}",
            field="digest",
        )
    return bare


def _fsync_dir(path: Path) -> None:
    """Make a directory entry change (create, rename, unlink) durable.

    Windows cannot open directories; NTFS metadata journaling covers that case, so it is skipped.
    """
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@runtime_checkable
class BlobBackend(Protocol):
    """What the rest of modeltrail needs from a blob store (local folder today, S3-compatible later).

    ``path()`` is deliberately absent: only the local store has file paths.
    """

    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; return its SHA-256 hex digest."""
        ...

    def put_file(self, path: str | os.PathLike[str]) -> str:
        """Store the content of the file at ``path``; return its SHA-256 hex digest."""
        ...

    def put_stream(self, chunks: Iterable[BytesLike] | BinaryIO) -> str:
        """Store the concatenation of ``chunks`` (or a binary file object); return its digest."""
        ...

    def get_bytes(self, digest: str) -> bytes:
        """Return the verified content of a blob."""
        ...

    def open(self, digest: str) -> BinaryIO:
        """Open a blob for streaming reads."""
        ...

    def exists(self, digest: str) -> bool:
        """Return whether the blob is stored."""
        ...

    def size(self, digest: str) -> int:
        """Return the size of the blob in bytes."""
        ...

    def verify(self, digest: str) -> bool:
        """Re-hash the blob; return whether it matches its digest."""
        ...

    def verify_all(self) -> Iterator[tuple[str, bool]]:
        """Re-hash every blob, yielding ``(digest, ok)``."""
        ...

    def delete(self, digest: str) -> bool:
        """Remove a blob (retention purge); return whether it existed."""
        ...


class _VerifyingReader(io.RawIOBase):
    """Raw reader that hashes what it hands out and raises :class:`IntegrityError` at end of file.

    Not seekable on purpose: verification only means something for a front-to-back read.
    """

    def __init__(self, fh: BinaryIO, digest: str) -> None:
        super().__init__()
        self._fh = fh
        self._digest = digest
        self._hash = hashlib.sha256()
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        n = self._fh.readinto(view)  # type: ignore[attr-defined]
        if not n:
            if not self._checked and view.nbytes:
                self._checked = True
                if self._hash.hexdigest() != self._digest:
                    raise IntegrityError(f"blob sha256:{self._digest} is corrupted (content hash differs)")
            return 0
        self._hash.update(view[:n])
        return int(n)

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
        super().close()


class BlobStore:
    """Content-addressed blobs in a local folder (see the module docstring for layout and guarantees).

    Safe to share between threads and between processes: every operation is a self-contained file
    system operation, and writers never touch a file that a reader may have open.
    """

    def __init__(self, root: str | os.PathLike[str], *, create: bool = True, file_mode: int = 0o444) -> None:
        """Use ``root`` as the store folder, creating it when ``create`` is true.

        ``file_mode`` is applied to every stored blob; read-only by default because a blob whose
        content changes is corrupt by definition.
        """
        self.root = Path(root)
        self._file_mode = file_mode
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        elif not self.root.is_dir():
            raise NotFoundError(f"blob store folder {self.root} does not exist")

    def __repr__(self) -> str:
        return f"BlobStore({str(self.root)!r})"

    # -- addressing -----------------------------------------------------------------------------

    def path(self, digest: str) -> Path:
        """Return the file path of a blob (whether or not it exists)."""
        d = parse_digest(digest)
        return self.root / d[:2] / d[2:]

    def exists(self, digest: str) -> bool:
        """Return whether the blob ``digest`` is stored."""
        return self.path(digest).is_file()

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, str) and self.exists(digest)

    def size(self, digest: str) -> int:
        """Return the size in bytes of a stored blob; :class:`NotFoundError` if missing."""
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise self._missing(digest) from None

    def digests(self) -> Iterator[str]:
        """Yield the digest of every stored blob in lexicographic order (temporary files skipped)."""
        try:
            folders = sorted(p for p in self.root.iterdir() if _HEX2.fullmatch(p.name) and p.is_dir())
        except FileNotFoundError:
            return
        for folder in folders:
            for name in sorted(os.listdir(folder)):
                if _HEX62.fullmatch(name):
                    yield folder.name + name

    # -- writing --------------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` and return its SHA-256 hex digest (no-op if already stored)."""
        data = bytes(data) if not isinstance(data, bytes) else data
        digest = hashlib.sha256(data).hexdigest()
        target = self.root / digest[:2] / digest[2:]
        if target.is_file():
            return digest
        try:
            folder = self._ensure_folder(digest)
            fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=folder)
        except OSError as exc:
            raise StoreError(f"could not store blob {digest}: {exc}") from exc
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            self._install(tmp, target)
        except OSError as exc:  # a full disk (ENOSPC) or a failing one: modeltrail's error, nothing kept
            tmp.unlink(missing_ok=True)
            raise StoreError(f"could not store blob {digest}: {exc}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return digest

    def put_file(self, path: str | os.PathLike[str]) -> str:
        """Store the content of the file at ``path`` and return its digest.

        The file is hashed first (read-only pass) so that storing an already known file costs no
        write at all; a new file is then copied in a second streamed pass. If the file changes
        between the passes, the digest of what was actually stored is returned.
        """
        src = Path(path)
        try:
            with src.open("rb") as fh:
                digest = _hash_stream(fh)
                if (self.root / digest[:2] / digest[2:]).is_file():
                    return digest
                fh.seek(0)
                return self.put_stream(fh)
        except FileNotFoundError:
            raise NotFoundError(f"file {src} does not exist") from None

    def put_stream(self, chunks: Iterable[BytesLike] | BinaryIO) -> str:
        """Store the concatenation of ``chunks`` or the rest of a binary file object; return its digest.

        Memory use is bounded by one chunk (1 MiB for file objects), whatever the total size.
        """
        incoming = self.root / _INCOMING
        incoming.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=incoming)
        tmp = Path(tmp_name)
        try:
            hasher = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for chunk in _iter_chunks(chunks):
                    hasher.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = hasher.hexdigest()
            target = self.root / digest[:2] / digest[2:]
            if target.is_file():
                tmp.unlink()
                return digest
            self._ensure_folder(digest)
            self._install(tmp, target)
        except OSError as exc:  # a full disk (ENOSPC) or a failing one: modeltrail's error, nothing kept
            tmp.unlink(missing_ok=True)
            raise StoreError(f"could not store a blob: {exc}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return digest

    def _ensure_folder(self, digest: str) -> Path:
        folder = self.root / digest[:2]
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            # The new fan-out folder itself must survive a crash, not only the file in it.
            _fsync_dir(self.root)
        return folder

    def _install(self, tmp: Path, target: Path) -> None:
        """Atomically move a fully written temporary file to its content address."""
        os.chmod(tmp, self._file_mode)
        try:
            os.replace(tmp, target)
        except PermissionError:
            # Windows refuses to replace a file another process has open. The target then already
            # holds the same bytes (same name = same content), so the put has succeeded.
            if not target.is_file():
                raise
            tmp.unlink(missing_ok=True)
            return
        except OSError as exc:
            raise StoreError(f"could not store blob {target.parent.name}{target.name}: {exc}") from exc
        _fsync_dir(target.parent)

    # -- reading --------------------------------------------------------------------------------

    def get_bytes(self, digest: str) -> bytes:
        """Return the content of a blob after checking it against its digest.

        Raises :class:`NotFoundError` if missing and :class:`IntegrityError` if the content no
        longer hashes to ``digest``.
        """
        d = parse_digest(digest)
        try:
            data = (self.root / d[:2] / d[2:]).read_bytes()
        except FileNotFoundError:
            raise self._missing(d) from None
        if hashlib.sha256(data).hexdigest() != d:
            raise IntegrityError(f"blob sha256:{d} is corrupted (content hash differs)")
        return data

    def open(self, digest: str, *, verify: bool = True) -> BinaryIO:
        """Open a blob for reading.

        With ``verify`` (the default) the reader is sequential and raises :class:`IntegrityError`
        when end of file is reached and the content did not hash to ``digest``; consume the stream
        to the end to get that guarantee. ``verify=False`` returns a plain seekable file.
        """
        d = parse_digest(digest)
        try:
            fh = (self.root / d[:2] / d[2:]).open("rb")
        except FileNotFoundError:
            raise self._missing(d) from None
        if not verify:
            return fh
        return io.BufferedReader(_VerifyingReader(fh, d), buffer_size=CHUNK_SIZE)

    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob and return whether it matches; :class:`NotFoundError` if missing."""
        d = parse_digest(digest)
        try:
            with (self.root / d[:2] / d[2:]).open("rb") as fh:
                return _hash_stream(fh) == d
        except FileNotFoundError:
            raise self._missing(d) from None

    def verify_all(self) -> Iterator[tuple[str, bool]]:
        """Re-hash every stored blob, yielding ``(digest, ok)`` in digest order.

        A blob deleted while the scan runs is skipped rather than reported as corrupt.
        """
        for d in self.digests():
            try:
                ok = self.verify(d)
            except NotFoundError:
                continue
            yield d, ok

    # -- removal --------------------------------------------------------------------------------

    def delete(self, digest: str) -> bool:
        """Remove a blob (retention purge, erasure); return whether it existed.

        The caller is responsible for recording the purge in the ledger; the store only forgets.
        """
        target = self.path(digest)
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        except PermissionError:
            # Read-only files cannot be unlinked on Windows; clear the flag and retry once.
            os.chmod(target, 0o600)
            target.unlink()
        _fsync_dir(target.parent)
        return True

    def remove_stale_temp(self, older_than: float = 3600.0) -> int:
        """Delete temporary files left by crashed writers that are older than ``older_than`` seconds.

        Returns the number of files removed. Young files are kept: they may belong to a put in
        progress in another process.
        """
        cutoff = time.time() - older_than
        removed = 0
        folders = [self.root / _INCOMING]
        with contextlib.suppress(FileNotFoundError):
            folders += [p for p in self.root.iterdir() if _HEX2.fullmatch(p.name)]
        for folder in folders:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                for tmp in folder.glob(_TMP_PREFIX + "*"):
                    with contextlib.suppress(FileNotFoundError):
                        if tmp.stat().st_mtime < cutoff:
                            tmp.unlink()
                            removed += 1
        return removed

    @staticmethod
    def _missing(digest: str) -> NotFoundError:
        return NotFoundError(f"blob sha256:{parse_digest(digest)} not found")


def _iter_chunks(source: Iterable[BytesLike] | BinaryIO) -> Iterator[BytesLike]:
    """Yield non-empty byte chunks from a binary file object or an iterable of bytes-like objects."""
    read = getattr(source, "read", None)
    if callable(read):
        while chunk := read(CHUNK_SIZE):
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise ValidationError("stream must be opened in binary mode", field="chunks")
            yield chunk
        return
    for chunk in source:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise ValidationError(f"chunks must be bytes, got {type(chunk).__name__}", field="chunks")
        if chunk:
            yield chunk


def _hash_stream(fh: BinaryIO) -> str:
    """SHA-256 hex of the rest of ``fh``, read in :data:`CHUNK_SIZE` pieces into one reused buffer."""
    hasher = hashlib.sha256()
    buf = bytearray(CHUNK_SIZE)
    view = memoryview(buf)
    readinto = getattr(fh, "readinto", None)
    if readinto is None:
        while chunk := fh.read(CHUNK_SIZE):
            hasher.update(chunk)
        return hasher.hexdigest()
    while n := readinto(view):
        hasher.update(view[:n])
    return hasher.hexdigest()
