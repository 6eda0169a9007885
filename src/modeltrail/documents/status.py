"""Compliance status of one system, requirement by requirement, from its own trail.

Unlike docs/ai-act-map.md (what the product can serve), this answers what *this* system's trail holds:
for every catalogue requirement that applies to the system's risk tier(s) and operator role(s), each
evidence name is ``satisfied`` (with the events), ``waiting`` for a human statement (who, since when), or
``missing``; a requirement is satisfied when all its evidence is, waiting when nothing is missing but a
statement is, missing otherwise. Kind ``N`` requirements are listed as informational and not counted.
Readiness per article is satisfied / counted requirements.

Tiers come from the latest ``system.classified`` (its tier, plus ``limited`` when Art. 50 duties overlap
and ``gpai`` for a GPAI model), else from the policy's ``risk_tier``. Roles default to ``provider``, plus
``deployer`` once the system has been deployed by its own trail (the organisation uses what it built).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, ValidationError
from ..events import Event
from ..requirements import ROLES, Catalogue, Requirement, load_catalogue
from .generate import DOC_EVENT, first_raised
from .risks import risk_register
from .staleness import check_documents
from .statements import STATEMENTS, statements

if TYPE_CHECKING:
    from ..policy import Policy
    from ..trail import Trail

SATISFIED, WAITING, MISSING, INFORMATIONAL = "satisfied", "waiting", "missing", "informational"

#: Catalogue evidence names of documents → the document kind that serves them.
DOC_KINDS = {
    "doc.annex_iv": "annex_iv",
    "doc.model_card": "model_card",
    "doc.dataset_card": "dataset_card",
    "doc.instructions_for_use": "instructions_for_use",
    "doc.intended_purpose": "intended_purpose",
    "doc.risk_register": "risk_register",
    "doc.monitoring_plan": "monitoring_plan",
    "doc.qms": "qms",
    "doc.declaration_of_conformity": "declaration_of_conformity",
    "doc.fria": "fria",
    "doc.dpia": "dpia",
    "export.annex_viii": "registration",
}

#: Evidence names answered by one statement key.
STATEMENT_EVIDENCE = {
    "attestation.security": "security.measures",
    "attestation.standards": "standards.applied",
    "attestation.qms": "qms.strategy",
    "attestation.authorised_representative": "system.representative",
    "policy.change_plan": "change.plan",
    "policy.incident": "qms.incident_procedure",
    "conformity.record": "conformity.procedure",
}

#: The statements that make up the system record (``system.record``).
SYSTEM_RECORD = ("system.provider", "system.contact", "system.intended_purpose", "system.trade_name")


@dataclass
class EvidenceStatus:
    """One evidence name of a requirement, for this system."""

    name: str
    state: str
    seqs: list[int] = field(default_factory=list)
    note: str = ""
    who: list[str] = field(default_factory=list)
    since: str | None = None


@dataclass
class RequirementStatus:
    """One requirement and the state of its evidence."""

    id: str
    article: str
    title: str
    kind: str
    state: str
    evidence: list[EvidenceStatus]


@dataclass
class ComplianceStatus:
    """Every applicable requirement of one system, with readiness per article."""

    system: str
    tiers: list[str]
    roles: list[str]
    catalogue_version: str
    requirements: list[RequirementStatus]

    def counts(self) -> dict[str, int]:
        """How many requirements are in each state."""
        out = {SATISFIED: 0, WAITING: 0, MISSING: 0, INFORMATIONAL: 0}
        for r in self.requirements:
            out[r.state] += 1
        return out

    def articles(self) -> dict[str, dict[str, Any]]:
        """Readiness per article: satisfied, waiting, missing, counted and the satisfied share."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.requirements:
            a = out.setdefault(article_key(r.article), {SATISFIED: 0, WAITING: 0, MISSING: 0, "counted": 0})
            if r.state != INFORMATIONAL:
                a[r.state] += 1
                a["counted"] += 1
        for a in out.values():
            a["readiness"] = a[SATISFIED] / a["counted"] if a["counted"] else None
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "system": self.system,
            "tiers": self.tiers,
            "roles": self.roles,
            "catalogue_version": self.catalogue_version,
            "counts": self.counts(),
            "articles": self.articles(),
            "requirements": [
                {
                    **{k: v for k, v in r.__dict__.items() if k != "evidence"},
                    "evidence": [e.__dict__ for e in r.evidence],
                }
                for r in self.requirements
            ],
        }


def article_key(article: str) -> str:
    """Group a provision by article: ``Art. 13(3)(b)(i)`` → ``Art. 13``; GDPR ones keep their prefix."""
    m = re.match(r"(GDPR )?(Art\. \d+[a-z]?|Annex [IVX]+)", article)
    return m.group(0) if m else article


class _Trail:
    """The reads the resolvers share, each done once."""

    def __init__(self, trail: Trail, system: str) -> None:
        from ..registry import stored_policy

        self.trail = trail
        self.system = system
        self.statements = statements(trail, system)
        self.raised = first_raised(trail, system)
        self.risks = risk_register(trail, system)
        self._latest: dict[str, Event | None] = {}
        self.policy: Policy | None = None
        self.policy_seq: int | None = None
        try:
            sp = stored_policy(trail, system)
            self.policy, self.policy_seq = sp.policy, sp.seq
        except NotFoundError:
            pass
        self.docs: dict[str, Event] = {}
        for ev in trail.events(DOC_EVENT, system=system):
            self.docs[str(ev.payload.get("kind"))] = ev
        self.fresh = {(s.kind, s.subject): s for s in check_documents(trail, system)}
        self.checkpoint = trail.latest_checkpoint()

    def latest(self, type_glob: str) -> Event | None:
        if type_glob not in self._latest:
            self._latest[type_glob] = next(
                iter(self.trail.events(type_glob, system=self.system, descending=True, limit=1)), None
            )
        return self._latest[type_glob]

    def report(self, kind: str) -> Event | None:
        for ev in self.trail.events("report.generated", system=self.system, descending=True):
            if ev.payload.get("kind") == kind:
                return ev
        return None


def _ok(name: str, *events: Event | None, note: str = "") -> EvidenceStatus | None:
    seqs = [e.seq for e in events if e is not None]
    return EvidenceStatus(name, SATISFIED, seqs, note) if seqs else None


def _statement(t: _Trail, name: str, keys: Sequence[str]) -> EvidenceStatus:
    have = [t.statements[k] for k in keys if k in t.statements]
    if len(have) == len(keys):
        return EvidenceStatus(name, SATISFIED, [s.seq for s in have], "stated by " + ", ".join(s.actor for s in have))
    open_keys = [k for k in keys if k not in t.statements]
    since = min((t.raised[k] for k in open_keys if k in t.raised), default=None)
    return EvidenceStatus(
        name,
        WAITING,
        [s.seq for s in have],
        "awaiting " + ", ".join(open_keys),
        sorted({STATEMENTS[k].role for k in open_keys}),
        since,
    )


def _doc(t: _Trail, name: str, kind: str) -> EvidenceStatus:
    d = t.docs.get(kind)
    if d is None:
        return EvidenceStatus(name, MISSING, note=f"no {kind} generated (`modeltrail docs build … --kind {kind}`)")
    state = t.fresh.get((kind, str(d.subject)))
    if state is not None and state.stale:
        return EvidenceStatus(name, MISSING, [d.seq], "stale: " + "; ".join(state.reasons[:3]))
    items = [str(k) for k in d.payload.get("open_items") or []]
    if items:
        who = sorted({STATEMENTS[k].role if k in STATEMENTS else "model_risk" for k in items})
        since = min((t.raised.get(k, d.ts) for k in items), default=d.ts)
        return EvidenceStatus(name, WAITING, [d.seq], f"{len(items)} open items: " + ", ".join(items[:6]), who, since)
    return EvidenceStatus(name, SATISFIED, [d.seq], f"sha256 {d.payload.get('sha256')}")


def _policy_section(t: _Trail, name: str, present: Callable[[Policy], bool]) -> EvidenceStatus | None:
    if t.policy is None or not present(t.policy):
        return None
    return EvidenceStatus(name, SATISFIED, [] if t.policy_seq is None else [t.policy_seq], "policy section")


_POLICY: dict[str, Callable[[Policy], bool]] = {
    "policy.gates": lambda p: bool(p.gates),
    "policy.oversight": lambda p: p.oversight is not None,
    "policy.data_governance": lambda p: bool(p.data_policy.fields) or bool(p.protected_attributes),
    "policy.special_categories": lambda p: any(v == "seal" for v in p.data_policy.fields.values()),
    "policy.access": lambda p: bool(p.roles.reveal),
    "policy.retention": lambda p: bool(p.retention),
    "policy.monitoring": lambda p: p.monitoring is not None,
    "policy.roles": lambda p: bool(p.users) or bool(p.roles.suspend),
    "crypto.pseudonymise": lambda p: any(v == "pseudonymise" for v in p.data_policy.fields.values()),
    "crypto.seal": lambda p: any(v == "seal" for v in p.data_policy.fields.values()),
    "access.log": lambda p: bool(p.roles.reveal),
    "runtime.fallback": lambda p: p.oversight is not None,
    "runtime.kill_switch": lambda p: bool(p.roles.suspend),
}

_EVENTS = {
    "ledger.inference_events": "inference.decision",
    "ledger.subject_events": "inference.decision",
    "audit.reconstruct": "inference.decision",
    "ledger.model_events": "model.*",
    "ledger.oversight_events": "oversight.*",
    "oversight.queue": "oversight.*",
    "lineage.dataset": "dataset.registered",
    "lineage.run": "run.started",
    "lineage.environment": "run.started",
    "lineage.model": "model.registered",
    "gate.evaluated": "gate.evaluated",
    "approval.record": "model.approved",
    "classification.record": "system.classified",
    "classification.rationale": "system.classified",
    "retention.purged": "retention.purged",
    "subject.erased": "subject.erased",
    "subject.export": "subject.export*",
    "subject.requests": "subject.request*",
    "incident.record": "incident.*",
    "notification.record": "notification.*",
    "registration.record": "registration.*",
    "training.records": "training.*",
    "audit.bundle": "audit.*",
}

_REPORTS = {
    "report.data": "data",
    "report.pii": "data",
    "report.fairness": "fairness",
    "report.performance": "performance",
    "report.explainability": "explainability",
    "report.robustness": "robustness",
}


def _resolve(t: _Trail, name: str) -> EvidenceStatus:
    """The state of one evidence name for the system."""
    found: EvidenceStatus | None = None
    if name in DOC_KINDS:
        return _doc(t, name, DOC_KINDS[name])
    if name in STATEMENT_EVIDENCE:
        return _statement(t, name, [STATEMENT_EVIDENCE[name]])
    if name.startswith("attestation."):
        return _statement(t, name, [name])
    if name == "system.record":
        return _statement(t, name, SYSTEM_RECORD)
    if name in _POLICY:
        found = _policy_section(t, name, _POLICY[name])
        if found is None:
            return EvidenceStatus(name, MISSING, note="the registered policy has no such section")
    elif name in _REPORTS:
        found = _ok(name, t.report(_REPORTS[name]))
    elif name == "lineage.code":
        ev = t.latest("run.started")
        found = _ok(name, ev) if ev is not None and (ev.payload.get("code") or {}).get("commit") else None
    elif name == "inference.explanations":
        # The latest decisions may be fallback ones (no model, so no explanation): look at a recent window.
        recent = t.trail.events("inference.decision", system=t.system, descending=True, limit=200)
        found = _ok(name, next((e for e in recent if e.payload.get("explanation")), None))
    elif name in ("ledger.verify", "checkpoint.signed", "crypto.keys", "audit.status", "doc.ledger_format"):
        cp = t.checkpoint
        if cp is not None:
            return EvidenceStatus(name, SATISFIED, [], f"signed checkpoint size {cp.size} root {cp.root.hex()[:16]}…")
    elif name == "crypto.signatures":
        cp, d = t.checkpoint, t.latest(DOC_EVENT)
        if cp is not None:
            return EvidenceStatus(
                name,
                SATISFIED,
                [] if d is None else [d.seq],
                "signed checkpoints" + ("; signed documents" if d is not None else ""),
            )
    elif name == "doc.freshness":
        stale = [s for s in t.fresh.values() if s.stale]
        if t.fresh and not stale:
            return EvidenceStatus(name, SATISFIED, [s.seq for s in t.fresh.values()], "every document is current")
        if stale:
            return EvidenceStatus(
                name, MISSING, [s.seq for s in stale], "stale: " + ", ".join(f"{s.kind} ({s.subject})" for s in stale)
            )
    elif name == "risk.register":
        if t.risks:
            return EvidenceStatus(name, SATISFIED, [r.identified_seq for r in t.risks.values()])
        return EvidenceStatus(
            name,
            WAITING,
            note="no risk identified (`modeltrail docs risk add`)",
            who=["model_risk"],
            since=t.raised.get("risk.register"),
        )
    elif name == "risk.mitigations":
        open_risks = [r.risk_id for r in t.risks.values() if r.mitigation is None]
        if t.risks and not open_risks:
            return EvidenceStatus(name, SATISFIED, [s for r in t.risks.values() for s in r.seqs])
        return EvidenceStatus(
            name,
            WAITING,
            note="awaiting mitigation of " + (", ".join(open_risks) or "the risks"),
            who=["model_risk"],
            since=t.raised.get("risk.register"),
        )
    elif name == "risk.reviews":
        overdue = [r.risk_id for r in t.risks.values() if r.overdue()]
        reviewed = [r for r in t.risks.values() if r.last_review is not None]
        if t.risks and reviewed and not overdue:
            return EvidenceStatus(name, SATISFIED, [s for r in reviewed for s in r.seqs])
        return EvidenceStatus(
            name, WAITING, note="overdue: " + ", ".join(overdue) if overdue else "no review yet", who=["model_risk"]
        )
    elif name.startswith("monitor."):
        evs = [e for e in t.trail.events("monitor.*", system=t.system) if _monitor_serves(name, e)]
        found = _ok(name, *evs[-5:])
        if found is None:
            return EvidenceStatus(name, MISSING, note="not yet monitored (no monitor.* events that show it)")
    elif name in _EVENTS:
        found = _ok(name, t.latest(_EVENTS[name]))
        if found is None:
            return EvidenceStatus(name, MISSING, note=f"no `{_EVENTS[name]}` events in the trail")
    return found or EvidenceStatus(name, MISSING, note="not recorded in the trail (nothing in modeltrail produces it)")


def _monitor_serves(name: str, e: Event) -> bool:
    """Whether monitoring event ``e`` is evidence ``name`` (``monitor.drift``, ``monitor.alerts``, ...).

    ``monitor run`` records one ``monitor.checked`` per window with the drift, performance (realised or
    estimated) and rule values it computed; alerts are ``monitor.alert``. Other ``monitor.*`` events
    (recorded by other tools) count when their type or metric names the aspect.
    """
    aspect = name.split(".", 1)[1]
    p = e.payload
    if e.type == "monitor.checked":
        raw = p.get("rule_values")
        rules: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if aspect == "drift":
            return bool(p.get("drift"))
        if aspect == "performance":
            return bool(p.get("performance") or p.get("estimated"))
        if aspect == "fairness":
            return any(str(k).startswith("fairness.") for k in rules)
        return False
    if aspect == "alerts":
        return e.type in ("monitor.alert", "monitor.action", "monitor.alert_cleared")
    word = aspect.rstrip("s")
    return word in e.type or word in str(p.get("metric", "")) or word in str(p.get("kind", ""))


def _tiers(t: _Trail) -> list[str]:
    c = t.latest("system.classified")
    if c is not None:
        tiers = [str(c.payload.get("tier"))]
        if c.payload.get("also_limited"):
            tiers.append("limited")
        if c.payload.get("gpai"):
            tiers.append("gpai")
        return tiers
    if t.policy is not None:
        return [t.policy.risk_tier]
    return ["minimal"]


def compliance_status(
    trail: Trail, system: str, *, roles: Sequence[str] | None = None, catalogue: Catalogue | None = None
) -> ComplianceStatus:
    """Requirement-by-requirement status of ``system`` from its own trail (see the module docstring)."""
    if next(iter(trail.events(system=system, limit=1)), None) is None:
        raise NotFoundError(f"no events for system {system!r} in this trail")
    for r in roles or ():
        if r not in ROLES:
            raise ValidationError(f"expected one of {', '.join(ROLES)}, got {r!r}", field="role")
    cat = catalogue or load_catalogue()
    t = _Trail(trail, system)
    tiers = _tiers(t)
    if roles:
        use_roles = list(roles)
    else:
        use_roles = ["provider"] + (["deployer"] if t.latest("model.deployed") is not None else [])
    cache: dict[str, EvidenceStatus] = {}
    out: list[RequirementStatus] = []
    for req in cat:
        if not set(req.risk_tiers) & set(tiers) or not set(req.applies_to) & set(use_roles):
            continue
        out.append(_requirement(t, req, cache))
    return ComplianceStatus(system, tiers, use_roles, cat.version, out)


def _requirement(t: _Trail, req: Requirement, cache: dict[str, EvidenceStatus]) -> RequirementStatus:
    evs = []
    for name in req.evidence:
        if name not in cache:
            cache[name] = _resolve(t, name)
        evs.append(cache[name])
    if req.kind == "N":
        state = INFORMATIONAL
    elif any(e.state == MISSING for e in evs):
        state = MISSING
    elif any(e.state == WAITING for e in evs):
        state = WAITING
    else:
        state = SATISFIED
    return RequirementStatus(req.id, req.article, req.title, req.kind, state, evs)


def render_status_html(status: ComplianceStatus, trail: Trail | None = None) -> str:
    """A self-contained HTML page of the status (template ``status.html.j2``, overridable like the kinds)."""
    from .render import _environment, template_dirs

    env = _environment(template_dirs(None if trail is None else trail.root))
    return env.get_template("status.html.j2").render(status=status, articles=status.articles(), counts=status.counts())
