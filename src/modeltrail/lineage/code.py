"""Code version of a run: git commit, branch, remote, dirty flag and a hash of the uncommitted diff.

Everything comes from the ``git`` command line (no library dependency). Outside a git work tree, or where
git is not installed, every field is ``None`` (``dirty`` too): a run is still recorded, it just cannot
name its code. The uncommitted changes (``git diff HEAD``, staged and unstaged, text form) are stored as a
blob when a blob store is given, so an auditor can see exactly what differed from the commit; the event
carries only its sha256. Untracked files are not part of the diff but do make the tree ``dirty``.

Remote URLs are recorded without credentials: ``https://user:token@host/repo`` becomes
``https://host/repo``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

GIT_TIMEOUT_S = 15.0


class _BlobSink(Protocol):
    def put_bytes(self, data: bytes) -> str: ...


@dataclass(frozen=True)
class CodeInfo:
    """The code state of a work tree; every field is None when it is not a git repository."""

    commit: str | None = None
    branch: str | None = None
    remote: str | None = None
    dirty: bool | None = None
    diff_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``code`` object of a ``run.started`` payload."""
        return {
            "commit": self.commit,
            "branch": self.branch,
            "remote": self.remote,
            "dirty": self.dirty,
            "diff_sha256": self.diff_sha256,
        }


def strip_credentials(url: str) -> str:
    """``url`` without a user name and password (``https://u:p@host/x`` -> ``https://host/x``).

    scp-style addresses (``git@host:org/repo.git``) keep their user: it names the SSH account, not a secret.
    """
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes] | None:
    exe = shutil.which("git")
    if exe is None:
        return None
    # A fixed environment: no pager, no prompts for credentials, output not localised.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "LC_ALL": "C"}
    try:
        return subprocess.run([exe, *args], cwd=cwd, capture_output=True, timeout=GIT_TIMEOUT_S, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _out(args: list[str], cwd: Path) -> str | None:
    res = _git(args, cwd)
    if res is None or res.returncode != 0:
        return None
    text = res.stdout.decode("utf-8", "replace").strip()
    return text or None


def capture_code(path: str | os.PathLike[str] | None = None, blobs: _BlobSink | None = None) -> CodeInfo:
    """Capture the git state of the work tree containing ``path`` (default: the working directory).

    With ``blobs``, a non-empty ``git diff HEAD`` is stored there and its digest is ``diff_sha256``;
    without, the digest is still computed. Never raises for a missing repository or git binary.
    """
    cwd = Path(path) if path is not None else Path.cwd()
    if cwd.is_file():
        cwd = cwd.parent
    if _out(["rev-parse", "--is-inside-work-tree"], cwd) != "true":
        return CodeInfo()
    commit = _out(["rev-parse", "--verify", "HEAD"], cwd)  # None in a repository without commits
    branch = _out(["symbolic-ref", "--short", "-q", "HEAD"], cwd)  # None when detached
    remote = _remote_url(cwd, branch)
    status = _git(["status", "--porcelain", "--untracked-files=normal"], cwd)
    dirty = None if status is None or status.returncode != 0 else bool(status.stdout.strip())
    diff_sha: str | None = None
    if commit is not None:
        diff = _git(["diff", "HEAD", "--no-color", "--no-ext-diff", "--binary"], cwd)
        if diff is not None and diff.returncode == 0 and diff.stdout:
            diff_sha = blobs.put_bytes(diff.stdout) if blobs is not None else hashlib.sha256(diff.stdout).hexdigest()
    return CodeInfo(commit=commit, branch=branch, remote=remote, dirty=dirty, diff_sha256=diff_sha)


def _remote_url(cwd: Path, branch: str | None) -> str | None:
    # The branch's upstream remote if it has one, else "origin", else the first remote listed.
    name = _out(["config", "--get", f"branch.{branch}.remote"], cwd) if branch else None
    remotes = (_out(["remote"], cwd) or "").split()
    if name is None or name not in remotes:
        name = "origin" if "origin" in remotes else (remotes[0] if remotes else None)
    if name is None:
        return None
    url = _out(["remote", "get-url", name], cwd)
    return None if url is None else strip_credentials(url)


__all__ = ["CodeInfo", "capture_code", "strip_credentials"]
