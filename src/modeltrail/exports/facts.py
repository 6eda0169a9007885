"""The facts about one model version that every export draws on, read from the ledger's events.

One place gathers them (registration, run with its parameters, metrics and end, datasets, reports,
recorded package list, gates, approvals, deployments) so that the CycloneDX, in-toto and OpenLineage
documents describe the same thing in their own vocabularies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..audit.trace import model_subject
from ..errors import NotFoundError
from ..events import Event
from ..trail import Trail


@dataclass
class ModelFacts:
    """A model version and the events it rests on."""

    ref: str
    name: str
    version: str
    system: str
    registered: Event
    run: Event | None = None
    run_events: list[Event] = field(default_factory=list)
    datasets: list[tuple[Event, str]] = field(default_factory=list)  # (dataset.registered, role)
    reports: list[Event] = field(default_factory=list)
    history: list[Event] = field(default_factory=list)
    packages: list[tuple[str, str]] = field(default_factory=list)  # (name, version) from the run's environment

    @property
    def artifact(self) -> dict[str, Any]:
        """The registered artifact (sha256, format, framework, size)."""
        art = self.registered.payload.get("artifact")
        return dict(art) if isinstance(art, dict) else {}

    @property
    def params(self) -> dict[str, Any]:
        """The run's parameters (run.started and run.params merged)."""
        out: dict[str, Any] = {}
        if self.run is not None:
            out.update(self.run.payload.get("params") or {})
        for e in self.run_events:
            if e.type == "run.params":
                out.update(e.payload.get("params") or {})
        return out

    @property
    def metrics(self) -> dict[str, float]:
        """Numeric metrics: the run's, then the reports' (later values win)."""
        out: dict[str, float] = {}
        for e in [*self.run_events, *self.reports]:
            for k, v in (e.payload.get("metrics") or {}).items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    out[str(k)] = float(v)
        return out

    @property
    def run_end(self) -> Event | None:
        """The run.ended event, if the run ended."""
        return next((e for e in self.run_events if e.type == "run.ended"), None)


def _packages(trail: Trail, run: Event | None) -> list[tuple[str, str]]:
    env = (run.payload.get("environment") or {}) if run is not None else {}
    digest = env.get("packages_sha256")
    if not isinstance(digest, str) or not trail.blobs.exists(digest):
        return []
    out = []
    for line in trail.blobs.get_bytes(digest).decode("utf-8", "replace").splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and name and version:
            out.append((name, version))
    return out


def model_facts(trail: Trail, model: str) -> ModelFacts:
    """Gather the facts about ``model`` (``NAME@VERSION``) by indexed reads; NotFoundError if unknown."""
    ref = model_subject(model)
    reg = next(trail.events("model.registered", subject=ref, limit=1), None) or next(
        trail.events("model.imported", subject=ref, limit=1), None
    )
    if reg is None:
        raise NotFoundError(f"no model.registered event for {ref}")
    name, _, version = ref.removeprefix("model:").rpartition("@")
    facts = ModelFacts(ref=ref, name=name, version=version, system=reg.system, registered=reg)
    roles = {d.get("ref"): d.get("role") for d in reg.payload.get("datasets") or [] if isinstance(d, dict)}
    for r in reg.refs:
        if r.startswith("run:") and facts.run is None:
            facts.run = next(trail.events("run.started", subject=r, limit=1), None)
            facts.run_events = [e for e in trail.events(subject=r) if e.type != "run.started"]
        elif r.startswith("dataset:"):
            ds = next(trail.events("dataset.registered", subject=r, limit=1), None)
            if ds is not None:
                facts.datasets.append((ds, str(roles.get(r) or ds.payload.get("role") or "input")))
    for e in trail.events(subject=ref):
        if e.type == "report.generated":
            facts.reports.append(e)
        elif e.seq != reg.seq:
            facts.history.append(e)
    facts.packages = _packages(trail, facts.run)
    return facts
