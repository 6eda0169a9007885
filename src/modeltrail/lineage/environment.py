"""Software environment of a run: Python version, platform and installed distributions.

The distribution list is the sorted, de-duplicated set of ``name==version`` lines (names normalised as in
PEP 503: lower case, runs of ``-_.`` become ``-``) of everything :mod:`importlib.metadata` sees, one per
line, UTF-8, each line ending in ``\\n``. It is stored as a blob; the event carries its sha256, so two
runs with the same hash ran on the same package set.
"""

from __future__ import annotations

import hashlib
import platform
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol

_NORMALISE = re.compile(r"[-_.]+")


class _BlobSink(Protocol):
    def put_bytes(self, data: bytes) -> str: ...


@dataclass(frozen=True)
class EnvironmentInfo:
    """Python version, platform string and the digest of the package list."""

    python: str
    platform: str
    packages_sha256: str
    package_count: int

    def to_dict(self) -> dict[str, Any]:
        """The ``environment`` object of a ``run.started`` payload."""
        return {"python": self.python, "platform": self.platform, "packages_sha256": self.packages_sha256}


def package_lines() -> list[str]:
    """Sorted ``name==version`` lines of the installed distributions (normalised names, no duplicates)."""
    seen: set[str] = set()
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata is not None else None
        if not name:
            continue  # a broken install without metadata has nothing to report
        seen.add(f"{_NORMALISE.sub('-', str(name)).lower()}=={dist.version}")
    return sorted(seen)


def packages_blob() -> bytes:
    """The stored form of :func:`package_lines`: each line followed by ``\\n``, UTF-8."""
    return "".join(line + "\n" for line in package_lines()).encode("utf-8")


def capture_environment(blobs: _BlobSink | None = None) -> EnvironmentInfo:
    """Capture the environment; with ``blobs`` the package list is stored there."""
    data = packages_blob()
    digest = blobs.put_bytes(data) if blobs is not None else hashlib.sha256(data).hexdigest()
    return EnvironmentInfo(
        python=platform.python_version() + f" ({sys.implementation.name})",
        platform=platform.platform(),
        packages_sha256=digest,
        package_count=data.count(b"\n"),
    )


__all__ = ["EnvironmentInfo", "capture_environment", "package_lines", "packages_blob"]
