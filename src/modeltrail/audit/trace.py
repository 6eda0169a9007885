"""Trace a model version: everything that led to it and everything that followed from it.

Upstream and downstream come from the lineage projection (runs, datasets and their parents; reports,
deployments, later versions), the version's own history from the ledger's subject index (registration,
reports, gates, approvals, refusals, deployments, suspensions, documents, alerts, for the version and for
the model name), and the human oversight of its decisions from the oversight projection.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModeltrailError, NotFoundError, ValidationError
from ..events import Event
from ..trail import Trail


@dataclass
class Trace:
    """The story of one model version."""

    ref: str
    registered: Event
    upstream: dict[str, Any]
    downstream: dict[str, Any]
    history: list[Event] = field(default_factory=list)
    oversight: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the lineage graphs, the history events in full, and the oversight counts."""
        return {
            "ref": self.ref,
            "registered": self.registered.to_dict(),
            "upstream": self.upstream,
            "downstream": self.downstream,
            "history": [e.to_dict() for e in self.history],
            "oversight": self.oversight,
        }


def model_subject(text: str) -> str:
    """``model:NAME@VERSION`` from ``NAME@VERSION`` or the full reference."""
    t = text.strip() if isinstance(text, str) else ""
    ref = t if t.startswith("model:") else f"model:{t}"
    name, at, version = ref[len("model:") :].rpartition("@")
    if not at or not name or not version.isdigit():
        raise ValidationError(f"expected MODEL@VERSION such as credit@2, got {text!r}", field="model")
    return ref


def trace(trail: Trail, model: str) -> Trace:
    """Everything upstream and downstream of ``model`` (``NAME@VERSION``) and its recorded history."""
    from ..lineage.queries import downstream, upstream

    ref = model_subject(model)
    registered = next(trail.events("model.registered", subject=ref, limit=1), None)
    if registered is None:
        registered = next(trail.events("model.imported", subject=ref, limit=1), None)
    if registered is None:
        raise NotFoundError(f"no model.registered event for {ref}")
    name_ref = ref.split("@", 1)[0]
    history = [e for e in trail.events(subject=ref)]
    history += [e for e in trail.events(subject=name_ref) if e.seq > registered.seq]
    history.sort(key=lambda e: e.seq)
    out = Trace(
        ref=ref,
        registered=registered,
        upstream=upstream(trail, ref).to_dict(),
        downstream=downstream(trail, ref).to_dict(),
        history=history,
    )
    out.oversight = _oversight_counts(trail, ref)
    return out


def _oversight_counts(trail: Trail, ref: str) -> dict[str, int]:
    """Decisions of this version that reached a human, by status (the oversight projection)."""
    from .. import projections
    from ..errors import StoreError

    try:
        projections.catch_up(trail, ["oversight"])
        rows = trail.store.execute(
            "SELECT status, COUNT(*) FROM oversight_queue WHERE model = ? GROUP BY status ORDER BY status", (ref,)
        )
    except (StoreError, ModeltrailError, sqlite3.Error):  # the oversight projection is not available
        return {}
    return {str(s): int(n) for s, n in rows}
