"""Everything a document of a system (and one of its model versions) can rest on, read from the ledger.

:func:`collect` reads the events once per generation: classification, policy, datasets and their data
reports, the training run, evidence reports, gates, approvals, lifecycle, serving and oversight figures,
monitoring events, statements, the risk register and earlier generated documents. Events are cited by seq;
high-volume serving events (decisions, labels, reviews) enter as figures over the ledger prefix the
document's checkpoint covers, so that serving traffic alone does not make a document stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, ValidationError
from ..events import Event
from .risks import ProposedRisk, Risk, proposed_risks, risk_register
from .statements import Statement, statements

if TYPE_CHECKING:
    from ..policy import Policy
    from ..registry import VersionInfo
    from ..trail import Trail

LIFECYCLE_TYPES = (
    "model.deployed",
    "model.suspended",
    "model.resumed",
    "model.retired",
    "model.break_glass",
    "model.rejected",
    "model.approval_revoked",
)


@dataclass
class Evidence:
    """What the trail holds for one system and (optionally) one model version of it."""

    system: str
    model: VersionInfo | None = None
    model_event: Event | None = None
    classification: Event | None = None
    policy_event: Event | None = None
    policy: Policy | None = None
    datasets: list[tuple[str, Event]] = field(default_factory=list)
    data_reports: dict[str, Event] = field(default_factory=dict)
    run: list[Event] = field(default_factory=list)
    reports: dict[str, Event] = field(default_factory=dict)
    gates: list[Event] = field(default_factory=list)
    approvals: list[Event] = field(default_factory=list)
    refusals: list[Event] = field(default_factory=list)
    lifecycle: list[Event] = field(default_factory=list)
    decisions: tuple[int, int | None, int | None] = (0, None, None)
    labels: int = 0
    oversight: dict[str, Any] = field(default_factory=dict)
    monitor: list[Event] = field(default_factory=list)
    incidents: list[Event] = field(default_factory=list)
    statements: dict[str, Statement] = field(default_factory=dict)
    risks: dict[str, Risk] = field(default_factory=dict)
    proposed: list[ProposedRisk] = field(default_factory=list)
    docs: dict[str, Event] = field(default_factory=dict)
    """Latest ``doc.generated`` per kind for the system (dataset cards: ``dataset_card:<dataset ref>``)."""

    @property
    def model_ref(self) -> str | None:
        """``model:NAME@V`` of the model version, if any."""
        return None if self.model is None else self.model.subject

    def report(self, kind: str) -> Event | None:
        """The latest report of ``kind`` for the model version."""
        return self.reports.get(kind)

    def metric(self, kind: str, name: str) -> float | None:
        """A metric of the latest report of ``kind``."""
        ev = self.reports.get(kind)
        v = None if ev is None else (ev.payload.get("metrics") or {}).get(name)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    def deployment(self) -> Event | None:
        """The latest ``model.deployed`` of the version."""
        deps = [e for e in self.lifecycle if e.type == "model.deployed"]
        return deps[-1] if deps else None


def _latest(trail: Trail, type_: str, **kw: Any) -> Event | None:
    return next(iter(trail.events(type_, descending=True, limit=1, **kw)), None)


def resolve_target(trail: Trail, target: str) -> tuple[str, VersionInfo | None]:
    """``MODEL@VERSION`` (or ``model:MODEL@VERSION``) → its system and version; ``SYSTEM`` → the system and
    its deployed version (else its latest registered one, else None)."""
    from ..registry import get_version, parse_model_ref

    text = target.strip()
    if not text:
        raise ValidationError("expected MODEL@VERSION or a system name", field="target")
    if "@" in text:
        info = get_version(trail, parse_model_ref(text, require_version=True, field="target"))
        return info.system, info
    system = text.removeprefix("system:")
    known = _latest(trail, "*", system=system)
    if known is None:
        raise NotFoundError(f"no events for system {system!r} in this trail")
    for ev in trail.events("model.deployed", system=system, descending=True):
        if ev.subject and ev.subject.startswith("model:"):
            return system, get_version(trail, parse_model_ref(ev.subject, require_version=True))
    reg = _latest(trail, "model.registered", system=system)
    if reg is not None and reg.subject:
        return system, get_version(trail, parse_model_ref(reg.subject, require_version=True))
    return system, None


def collect(trail: Trail, system: str, model: VersionInfo | None) -> Evidence:
    """Read every piece of evidence for ``system`` and ``model`` from the ledger (and its projections)."""
    from ..registry import stored_policy
    from ..runtime.oversight import intervention_stats

    ev = Evidence(system=system, model=model)
    ev.classification = _latest(trail, "system.classified", system=system)
    try:
        sp = stored_policy(trail, system)
        ev.policy = sp.policy
        if sp.seq is not None:
            ev.policy_event = trail.get_event(sp.seq)
    except NotFoundError:
        pass
    if model is not None:
        ev.model_event = trail.get_event(model.registered_seq)
        for link in model.datasets:
            ref = link.get("ref")
            if not isinstance(ref, str):
                continue
            ds = _latest(trail, "dataset.registered", subject=ref)
            if ds is not None:
                ev.datasets.append((str(link.get("role", "")), ds))
                rep = _latest(trail, "report.generated", subject=ref)
                if rep is not None:
                    ev.data_reports[ref] = rep
        if model.run_id:
            ev.run = list(trail.events("run.*", subject=f"run:{model.run_id}"))
        for r in trail.events("report.generated", subject=model.subject):
            ev.reports[str(r.payload.get("kind"))] = r
        ev.gates = list(trail.events("gate.evaluated", subject=model.subject))
        ev.approvals = [e for e in trail.events("model.approved", subject=model.subject)]
        ev.refusals = list(trail.events("model.approval_refused", subject=model.subject))
        name_subject = f"model:{model.model}"
        ev.lifecycle = sorted(
            (
                e
                for subj in (model.subject, name_subject)
                for e in trail.events("model.*", subject=subj)
                if e.type in LIFECYCLE_TYPES
            ),
            key=lambda e: e.seq,
        )
        # Aggregates only: one decision more must not make a document stale (see module docstring).
        row = trail.store.execute(
            "SELECT count(*), min(seq), max(seq) FROM events WHERE type = ? AND system = ?",
            ("inference.decision", system),
        )
        if row and row[0][0]:
            ev.decisions = (int(row[0][0]), int(row[0][1]), int(row[0][2]))
        lab = trail.store.execute(
            "SELECT count(*) FROM events WHERE type = ? AND system = ?", ("inference.label", system)
        )
        ev.labels = int(lab[0][0]) if lab else 0
        stats = intervention_stats(trail)
        ev.oversight = stats["models"].get(model.subject) or stats["models"].get(
            model.subject.removeprefix("model:"), {}
        )
    ev.monitor = list(trail.events("monitor.*", system=system))
    ev.incidents = list(trail.events("incident.*", system=system))
    ev.statements = statements(trail, system)
    ev.risks = risk_register(trail, system)
    ev.proposed = proposed_risks(trail, system)
    for d in trail.events("doc.generated", system=system):
        kind = str(d.payload.get("kind", ""))
        if kind == "dataset_card":
            ev.docs[f"{kind}:{d.subject}"] = d
        elif d.subject in (f"system:{system}", ev.model_ref):
            ev.docs[kind] = d
    return ev
