"""Serious incidents (Art. 73): open, update, report, close — with the legal reporting clock.

Deadlines counted from when the provider became aware (``aware_at``):

* 2 days — a widespread infringement, or a serious and irreversible disruption of critical
  infrastructure (Art. 3(49)(b)): Art. 73(3);
* 10 days — the death of a person: Art. 73(4);
* 15 days — any other serious incident (harm to health, a breach of fundamental-rights obligations,
  serious harm to property or the environment): Art. 73(2).

An initial, incomplete report may be filed first and completed later (Art. 73(5)); the clock is met by
the first report filed. While an incident is open, the model version under investigation may not be
changed (deployed over, retired) before a notice is recorded (Art. 73(6)): the registry calls
:func:`check_change_allowed` before such changes. Suspending it (the kill switch) stays possible.

Events (subject ``incident:<id>``): ``incident.opened``, ``incident.updated``, ``incident.reported``
(``stage`` ``initial`` or ``complete``, refs the report blob), ``incident.notice``, ``incident.closed``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import LifecycleError, NotFoundError, ValidationError
from ..events import Actor, Receipt, parse_ts
from ..governance.namespace import record_governed
from ..ids import new_id

if TYPE_CHECKING:
    from ..trail import Trail

INCIDENT_TYPES: Mapping[str, tuple[int, str]] = {
    "death": (10, "Art. 73(4)"),
    "critical_infrastructure": (2, "Art. 73(3), Art. 3(49)(b)"),
    "widespread_infringement": (2, "Art. 73(3)"),
    "health": (15, "Art. 73(2), Art. 3(49)(a)"),
    "fundamental_rights": (15, "Art. 73(2), Art. 3(49)(c)"),
    "property_or_environment": (15, "Art. 73(2), Art. 3(49)(d)"),
}
"""Incident type → (days to report after awareness, legal basis)."""

SEVERITIES = ("low", "medium", "high", "critical")
STAGES = ("initial", "complete")


@dataclass
class Incident:
    """An incident as rebuilt from its events."""

    id: str
    type: str
    severity: str
    model: str
    env: str | None
    title: str
    aware_at: str
    deadline: str
    basis: str
    opened_seq: int
    opened_by: str
    status: str = "open"
    links: list[str] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    closed_seq: int | None = None

    @property
    def subject(self) -> str:
        """``incident:<id>``."""
        return f"incident:{self.id}"

    @property
    def first_report_ts(self) -> str | None:
        """When the first (possibly initial) report was filed."""
        return self.reports[0]["ts"] if self.reports else None

    def clock(self, now: datetime | None = None) -> dict[str, Any]:
        """The reporting clock: deadline, time left (or whether it was met), what the basis is."""
        deadline = parse_ts(self.deadline)
        first = self.first_report_ts
        if first is not None:
            met = parse_ts(first) <= deadline
            return {"deadline": self.deadline, "basis": self.basis, "reported": first, "met": met}
        now = now or datetime.now(UTC)
        left = (deadline - now).total_seconds()
        return {
            "deadline": self.deadline,
            "basis": self.basis,
            "reported": None,
            "seconds_left": left,
            "overdue": left < 0,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form with the clock."""
        d = dict(self.__dict__)
        d["clock"] = self.clock()
        return d


def deadline_for(incident_type: str, aware_at: datetime) -> tuple[datetime, str]:
    """The reporting deadline and its legal basis for an incident of ``incident_type``."""
    if incident_type not in INCIDENT_TYPES:
        raise ValidationError(f"expected one of {', '.join(INCIDENT_TYPES)}, got {incident_type!r}", field="type")
    days, basis = INCIDENT_TYPES[incident_type]
    return aware_at + timedelta(days=days), basis


def _human(actor: Actor, what: str) -> None:
    if actor.kind != "human":
        raise ValidationError(f"{what} is a human action; got a {actor.kind} actor", field="actor")


def open_incident(
    trail: Trail,
    *,
    model: str,
    type: str,
    severity: str,
    title: str,
    actor: Actor,
    system: str,
    env: str | None = None,
    aware_at: datetime | str | None = None,
    links: Sequence[str] = (),
    description: str = "",
) -> Incident:
    """Open a serious incident about a model version; ``links`` are refs (alerts, decisions) it concerns."""
    _human(actor, "opening an incident")
    if severity not in SEVERITIES:
        raise ValidationError(f"expected one of {', '.join(SEVERITIES)}, got {severity!r}", field="severity")
    if not title.strip():
        raise ValidationError("a title is required", field="title")
    ref = model if model.startswith("model:") else f"model:{model}"
    if "@" not in ref:
        raise ValidationError(f"expected a model version such as credit@2, got {model!r}", field="model")
    aware = parse_ts(aware_at) if isinstance(aware_at, str) else (aware_at or datetime.now(UTC))
    deadline, basis = deadline_for(type, aware)
    iid = new_id()
    payload = {
        "incident_id": iid,
        "type": type,
        "severity": severity,
        "title": title,
        "description": description,
        "model": ref,
        "env": env,
        "aware_at": aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "deadline": deadline.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "basis": basis,
        "links": list(links),
    }
    record_governed(
        trail,
        "incident.opened",
        system=system,
        actor=actor,
        subject=f"incident:{iid}",
        payload=payload,
        refs=[ref, *links],
    )
    return get_incident(trail, iid)


def incidents(trail: Trail) -> list[Incident]:
    """Every incident, rebuilt from the ledger."""
    out: dict[str, Incident] = {}
    for ev in trail.events("incident.*"):
        p = ev.payload
        iid = str(p.get("incident_id"))
        if ev.type == "incident.opened":
            out[iid] = Incident(
                iid, p["type"], p["severity"], p["model"], p.get("env"), p["title"], p["aware_at"], p["deadline"],
                p["basis"], ev.seq, ev.actor.id, links=list(p.get("links", [])),
            )  # fmt: skip
            continue
        inc = out.get(iid)
        if inc is None:
            continue
        entry = {"seq": ev.seq, "ts": ev.ts, "actor": ev.actor.id, **{k: v for k, v in p.items() if k != "incident_id"}}
        if ev.type == "incident.updated":
            inc.updates.append(entry)
            inc.links.extend(p.get("links", []))
            if p.get("severity"):
                inc.severity = p["severity"]
        elif ev.type == "incident.reported":
            inc.reports.append(entry)
            inc.status = "reported" if p.get("stage") == "complete" else "initial_report"
        elif ev.type == "incident.notice":
            inc.notices.append(entry)
        elif ev.type == "incident.closed":
            inc.status, inc.closed_seq = "closed", ev.seq
    return list(out.values())


def get_incident(trail: Trail, incident_id: str) -> Incident:
    """One incident by id (a unique prefix is accepted)."""
    hits = [i for i in incidents(trail) if i.id == incident_id or i.id.startswith(incident_id)]
    if len(hits) != 1:
        raise NotFoundError(
            f"no incident {incident_id!r}" if not hits else f"{incident_id!r} matches {len(hits)} incidents"
        )
    return hits[0]


def _open(trail: Trail, incident_id: str) -> Incident:
    inc = get_incident(trail, incident_id)
    if inc.status == "closed":
        raise LifecycleError(f"incident {inc.id} is closed")
    return inc


def update_incident(
    trail: Trail,
    incident_id: str,
    *,
    actor: Actor,
    note: str,
    system: str,
    severity: str | None = None,
    links: Sequence[str] = (),
) -> Receipt:
    """Record what was learnt or done (and optionally a new severity or further linked evidence)."""
    _human(actor, "updating an incident")
    inc = _open(trail, incident_id)
    if severity is not None and severity not in SEVERITIES:
        raise ValidationError(f"expected one of {', '.join(SEVERITIES)}, got {severity!r}", field="severity")
    if not note.strip():
        raise ValidationError("a note is required", field="note")
    payload = {"incident_id": inc.id, "note": note, "severity": severity, "links": list(links)}
    return record_governed(
        trail, "incident.updated", system=system, actor=actor, subject=inc.subject, payload=payload, refs=list(links)
    )


def draft_report(trail: Trail, incident_id: str) -> dict[str, Any]:
    """The report draft from the linked evidence: the incident, the model version, alerts, decisions, actions."""
    inc = get_incident(trail, incident_id)
    linked = sorted({int(r.split(":", 1)[1]) for r in inc.links if r.startswith("event:")})
    alerts = []
    decisions = [r.split(":", 1)[1] for r in inc.links if r.startswith("decision:")]
    for seq in linked:
        ev = trail.get_event(seq)
        if ev.type == "monitor.alert":
            blob = ev.payload.get("decisions_sha256")
            ids = trail.blobs.get_bytes(blob).decode().split("\n") if blob and trail.blobs.exists(blob) else []
            alerts.append(
                {
                    "seq": seq,
                    "ts": ev.ts,
                    "level": ev.payload["level"],
                    "findings": ev.payload["findings"],
                    "window": ev.payload["window"],
                    "decisions": len(ids),
                }
            )
            decisions.extend(ids[:20])
    actions = []
    for ev in trail.events("monitor.action"):
        if ev.payload.get("alert_seq") in linked:
            actions.append(
                {
                    "seq": ev.seq,
                    "ts": ev.ts,
                    "action": ev.payload["action"],
                    "ok": ev.payload["ok"],
                    "detail": ev.payload["detail"],
                }
            )
    name = inc.model.removeprefix("model:").rpartition("@")[0]
    for ev in trail.events("model.*"):
        if (
            ev.type in ("model.suspended", "model.resumed", "model.deployed", "model.retired")
            and ev.subject in (inc.model, f"model:{name}")
            and ev.seq > min(linked or [inc.opened_seq]) - 1
        ):
            actions.append(
                {
                    "seq": ev.seq,
                    "ts": ev.ts,
                    "action": ev.type,
                    "ok": True,
                    "detail": ev.payload.get("reason") or ev.payload.get("env"),
                }
            )
    version: dict[str, Any] = {"ref": inc.model}
    try:
        from ..registry.lifecycle import get_version

        v = get_version(trail, inc.model.removeprefix("model:"))
        version.update({"system": v.system, "registered_seq": getattr(v, "registered_seq", None)})
    except NotFoundError:
        pass
    return {
        "schema": "modeltrail/incident-report/v1",
        "incident": {k: v for k, v in inc.to_dict().items() if k not in ("reports",)},
        "legal_basis": inc.basis,
        "model_version": version,
        "alerts": alerts,
        "decisions_sample": decisions[:50],
        "actions_taken": sorted(actions, key=lambda a: a["seq"]),
        "updates": inc.updates,
        "complete": False,
    }


def file_report(
    trail: Trail,
    incident_id: str,
    *,
    actor: Actor,
    system: str,
    stage: str = "initial",
    authority: str = "",
    text: str = "",
) -> Receipt:
    """File the report (``initial`` may be incomplete, Art. 73(5); ``complete`` finishes it)."""
    _human(actor, "filing an incident report")
    if stage not in STAGES:
        raise ValidationError(f"expected one of {', '.join(STAGES)}, got {stage!r}", field="stage")
    inc = _open(trail, incident_id)
    doc = draft_report(trail, inc.id)
    doc["complete"] = stage == "complete"
    doc["authority"] = authority
    doc["statement"] = text
    digest = trail.blobs.put_bytes(json.dumps(doc, sort_keys=True, indent=2, default=str).encode("utf-8"))
    clock = inc.clock()
    payload = {
        "incident_id": inc.id,
        "stage": stage,
        "authority": authority,
        "report_sha256": digest,
        "deadline": inc.deadline,
        "on_time": clock.get("met", not clock.get("overdue", False)),
    }
    return record_governed(
        trail,
        "incident.reported",
        system=system,
        actor=actor,
        subject=inc.subject,
        payload=payload,
        refs=[f"blob:sha256:{digest}", inc.model],
    )


def record_notice(trail: Trail, incident_id: str, *, actor: Actor, system: str, change: str, authority: str) -> Receipt:
    """Record that the authority was informed before changing the version under investigation (Art. 73(6))."""
    _human(actor, "recording an Art. 73(6) notice")
    inc = _open(trail, incident_id)
    if not change.strip() or not authority.strip():
        raise ValidationError("describe the change and name the authority informed", field="change")
    payload = {"incident_id": inc.id, "change": change, "authority": authority}
    return record_governed(
        trail, "incident.notice", system=system, actor=actor, subject=inc.subject, payload=payload, refs=[inc.model]
    )


def close_incident(trail: Trail, incident_id: str, *, actor: Actor, system: str, reason: str) -> Receipt:
    """Close the incident; a complete report must have been filed first."""
    _human(actor, "closing an incident")
    inc = _open(trail, incident_id)
    if inc.status != "reported":
        raise LifecycleError(
            f"incident {inc.id} has no complete report yet (file one with: incident report --complete)"
        )
    return record_governed(
        trail,
        "incident.closed",
        system=system,
        actor=actor,
        subject=inc.subject,
        payload={"incident_id": inc.id, "reason": reason},
        refs=[inc.model],
    )


def check_change_allowed(trail: Trail, model: str, action: str) -> None:
    """Refuse changing a version under an open incident's investigation without a recorded notice.

    ``model`` is the version being changed or, for a deployment, the version deployed; every open
    incident about a version of the same model without a notice blocks it (Art. 73(6)).
    """
    ref = model if model.startswith("model:") else f"model:{model}"
    name = ref.removeprefix("model:").rpartition("@")[0] or ref.removeprefix("model:")
    for inc in incidents(trail):
        if inc.status == "closed" or inc.notices:
            continue
        if inc.model.removeprefix("model:").rpartition("@")[0] == name:
            raise LifecycleError(
                f"cannot {action} {ref}: {inc.model} is under investigation for incident {inc.id} (Art. 73(6)); "
                f"record a notice first: modeltrail incident notice {inc.id[:12]} --change ... --authority ..."
            )
