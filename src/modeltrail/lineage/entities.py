"""The lineage entities as returned by the library: dataset versions, model versions and runs.

They are read-only views of the lineage projection (built from ledger events); creating one does not
record anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DATASET_ROLES = ("train", "validation", "test", "reference", "production", "other")


def dataset_ref(name: str, content_hash: str) -> str:
    """``dataset:<name>@<first 16 hex of the content hash>``."""
    return f"dataset:{name}@{content_hash[:16]}"


def model_ref(name: str, version: int) -> str:
    """``model:<name>@<version>``."""
    return f"model:{name}@{version}"


def run_ref(run_id: str) -> str:
    """``run:<run id>``."""
    return f"run:{run_id}"


@dataclass(frozen=True)
class DatasetVersion:
    """A registered dataset version (the ``dataset.registered`` payload plus where it sits in the ledger)."""

    name: str
    content_hash: str
    hash_method: str
    role: str
    format: str
    rows: int | None
    columns: int | None
    schema: list[dict[str, Any]]
    profile: dict[str, Any]
    source: str | None
    run_id: str | None
    parents: list[str]
    system: str
    seq: int
    ts: str | None = None
    roles: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """The entity reference used as event subject and in refs."""
        return dataset_ref(self.name, self.content_hash)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (for ``--json`` output)."""
        return {
            "ref": self.ref,
            "name": self.name,
            "content_hash": self.content_hash,
            "hash_method": self.hash_method,
            "role": self.role,
            "roles": self.roles or [self.role],
            "format": self.format,
            "rows": self.rows,
            "columns": self.columns,
            "schema": self.schema,
            "profile": self.profile,
            "source": self.source,
            "run_id": self.run_id,
            "parents": self.parents,
            "system": self.system,
            "seq": self.seq,
            "ts": self.ts,
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version: artifact, signature, links to its run and datasets."""

    name: str
    version: int
    system: str
    artifact: dict[str, Any]
    signature: dict[str, Any]
    run_id: str | None
    datasets: list[dict[str, Any]]
    training_range: dict[str, list[float]]
    registrant: str | None
    seq: int
    ts: str | None = None
    status: str = "registered"
    imported: dict[str, Any] | None = None

    @property
    def ref(self) -> str:
        """``model:<name>@<version>``."""
        return model_ref(self.name, self.version)

    @property
    def sha256(self) -> str:
        """Digest of the stored artifact blob."""
        return str(self.artifact["sha256"])

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form (for ``--json`` output)."""
        return {
            "ref": self.ref,
            "name": self.name,
            "version": self.version,
            "system": self.system,
            "status": self.status,
            "artifact": self.artifact,
            "signature": self.signature,
            "run_id": self.run_id,
            "datasets": self.datasets,
            "training_range": self.training_range,
            "registrant": self.registrant,
            "seq": self.seq,
            "ts": self.ts,
            "imported": self.imported,
        }


@dataclass(frozen=True)
class RunInfo:
    """A training run as folded from its ``run.*`` events."""

    run_id: str
    name: str
    system: str
    status: str
    started: str | None
    ended: str | None
    duration_s: float | None
    params: dict[str, Any]
    tags: dict[str, str]
    metrics: dict[str, float]
    code: dict[str, Any]
    environment: dict[str, Any]
    error_type: str | None
    actor: str | None
    seq: int
    source: str | None = None
    link: dict[str, Any] | None = None

    @property
    def ref(self) -> str:
        """``run:<run id>``."""
        return run_ref(self.run_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (for ``--json`` output)."""
        return {
            "ref": self.ref,
            "run_id": self.run_id,
            "name": self.name,
            "system": self.system,
            "status": self.status,
            "started": self.started,
            "ended": self.ended,
            "duration_s": self.duration_s,
            "params": self.params,
            "tags": self.tags,
            "metrics": self.metrics,
            "code": self.code,
            "environment": self.environment,
            "error_type": self.error_type,
            "actor": self.actor,
            "seq": self.seq,
            "source": self.source,
            "link": self.link,
        }


__all__ = [
    "DATASET_ROLES",
    "DatasetVersion",
    "ModelVersion",
    "RunInfo",
    "dataset_ref",
    "model_ref",
    "run_ref",
]
