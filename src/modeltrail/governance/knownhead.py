"""The known head: the latest signed checkpoint of each origin, kept outside the ledger database.

A ledger database rolled back to an older copy, or with its newest events and their checkpoints deleted,
is internally consistent: nothing inside it can tell. So every checkpoint the trail signs is also written
to a small file outside the database, and ``verify`` checks the log against it (it must contain that tree:
same root at that size, and not fewer events). The file only moves forward.

Where: ``$MODELTRAIL_KNOWN_HEAD`` (a file path: put it on another machine's share, or somewhere only an
auditor's account can write) or, by default, ``<trail>/keys/heads/<origin>.note``, next to the signing keys
and apart from ``ledger.db`` (which lives in PostgreSQL, or is the file someone restores from a backup).
An auditor can keep a copy of it and pass it to ``verify --checkpoint``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModeltrailError, StoreError
from ..ledger.note import Checkpoint

if TYPE_CHECKING:
    from ..trail import Trail

ENV_VAR = "MODELTRAIL_KNOWN_HEAD"


def head_path(trail: Trail) -> Path:
    """The known-head file of ``trail``'s origin (see the module docstring)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    # The origin may contain '/', so the file is named by a short hash of it; the note inside names it.
    name = hashlib.sha256(trail.origin.encode()).hexdigest()[:16]
    return trail.keys_dir / "heads" / f"{name}.note"


def _size_of(note: str) -> int | None:
    body = note.split("\n\n", 1)[0] + "\n"
    try:
        return Checkpoint.parse(body).size
    except (ModeltrailError, ValueError):
        return None


def read_known_head(trail: Trail) -> str | None:
    """The signed note in the known-head file, or None when there is none yet."""
    path = head_path(trail)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModeltrailError(f"cannot read the known-head file {path}: {exc}") from exc


def remember(trail: Trail, note: str, size: int) -> None:
    """Record ``note`` (a checkpoint of ``size`` events) as the known head, unless a larger one is known.

    A smaller checkpoint than the known head never replaces it: that is exactly the rollback it exists to
    reveal (``verify`` reports it).
    """
    path = head_path(trail)
    old = None
    try:
        old = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError):
        old = None
    if old is not None:
        old_size = _size_of(old)
        if old_size is not None and old_size > size:
            return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(note)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # a full disk: the checkpoint is stored, the copy outside the database is not
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write the known-head file {path}: {exc}") from exc


__all__ = ["ENV_VAR", "head_path", "read_known_head", "remember"]
