"""Subject access (GDPR Art. 15) and the explanation of individual decisions (AI Act Art. 86).

``export_subject`` answers one request: every decision about the person, with the model version that
made it, the main reasons (the per-decision explanation the guard logged), the route (automatic or
human review), and every human action on it (reviews, overrides, labels, reveals). Sealed inputs are
opened for the answer: the person is entitled to their own data, and the role that answers is one the
policy authorises (``roles.subject_access``).

The request and its answer are both events: ``subject.request_received`` (with the legal deadline:
one month, GDPR Art. 12(3)) and ``subject.exported`` (counts, format and the SHA-256 of the answer as
handed out). Neither names the person: the ledger outlives the request.
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import ModeltrailError, ValidationError
from ..events import Actor
from ..governance.namespace import record_governed
from ..identity import Identity
from ..policy import parse_duration
from ..runtime.datapolicy import open_sealer, seal_context
from .access import authorise
from .subjects import decision_summary, find_records

if TYPE_CHECKING:
    from ..trail import Trail

FORMATS = ("json", "html")
DEADLINE = parse_duration("P1M")  # GDPR Art. 12(3): without undue delay, at the latest within one month


@dataclass
class SubjectExport:
    """The answer to one access request: the document, its bytes as handed out, and the two events."""

    document: dict[str, Any]
    content: bytes
    format: str
    request_seq: int
    answer_seq: int

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of :attr:`content` (recorded in ``subject.exported``)."""
        return hashlib.sha256(self.content).hexdigest()


def _human_action(ev: Any) -> dict[str, Any]:
    return {
        "seq": ev.seq,
        "ts": ev.ts,
        "type": ev.type,
        "by_role": ev.actor.role,
        "by_kind": ev.actor.kind,
        "details": ev.payload,
    }


def _open_sealed(trail: Trail, ev: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not ev.sealed:
        return out
    sealer = open_sealer(trail)
    did = ev.payload.get("decision_id", "")
    for name, ref in ev.sealed.items():
        try:
            out[name] = sealer.unseal_ref(trail.blobs, ref, context=seal_context(did, name))
        except ModeltrailError as exc:
            out[name] = {"unavailable": str(exc)}
    return out


def build_document(trail: Trail, subject: str, request_id: str, deadline: str) -> dict[str, Any]:
    """The access document for ``subject`` (no event is written: :func:`export_subject` does that)."""
    found = find_records(trail, subject)
    by_decision: dict[str | None, list[dict[str, Any]]] = {}
    for ev in found.related:
        by_decision.setdefault(ev.subject, []).append(_human_action(ev))
    decisions = []
    for ev in found.decisions:
        d = decision_summary(ev)
        d["inputs_sealed"] = _open_sealed(trail, ev)
        d["linked_by"] = sorted(found.links.get(ev.seq, set()))
        d["human_actions"] = by_decision.get(ev.subject, [])
        decisions.append(d)
    return {
        "request_id": request_id,
        "subject": subject,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "deadline": deadline,
        "legal_basis": ["GDPR Art. 15", "AI Act Art. 86"],
        "decisions": decisions,
        "other_records": [
            {"seq": ev.seq, "ts": ev.ts, "type": ev.type, "system": ev.system, "payload": ev.payload}
            for ev in found.direct
        ],
        "ledger_size": trail.size(),
    }


def render_html(doc: dict[str, Any]) -> str:
    """A self-contained HTML page of an access document (every value escaped)."""
    e = html.escape
    rows = []
    for d in doc["decisions"]:
        reasons = ", ".join(f"{e(str(r['feature']))} ({r['contribution']:+.3g})" for r in d["main_reasons"]) or "—"
        actions = "<br>".join(
            f"{e(a['ts'])}: {e(a['type'])} by {e(a['by_role'])}" for a in d["human_actions"]
        ) or "none"
        rows.append(
            f"<tr><td>{e(d['ts'])}</td><td>{e(str(d['system']))}</td><td>{e(str(d['model_version']))}</td>"
            f"<td>{e(json.dumps(d['output']))}</td><td>{e(str(d['route']))}</td><td>{reasons}</td>"
            f"<td>{actions}</td></tr>"
        )
    body = "\n".join(rows) or '<tr><td colspan="7">No decisions about you are on record.</td></tr>'
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Your data and the decisions about you</title>"
        "</head><body>"
        "<h1>Your data and the decisions about you</h1>"
        f"<p>Request {e(doc['request_id'])}, answered {e(doc['generated_at'])} "
        f"(legal basis: {e(', '.join(doc['legal_basis']))}).</p>"
        "<table border=\"1\"><tr><th>When</th><th>System</th><th>Model version</th><th>Outcome</th>"
        "<th>How decided</th><th>Main reasons</th><th>Human actions</th></tr>"
        f"{body}</table>"
        f"<h2>Full record</h2><pre>{e(json.dumps(doc, indent=2, ensure_ascii=False, default=str))}</pre>"
        "</body></html>\n"
    )


def export_subject(
    trail: Trail, subject: str, *, actor: Actor | Identity, fmt: str = "json", received: datetime | None = None
) -> SubjectExport:
    """Answer an access request for ``subject``: record it, build the answer, record the answer."""
    if fmt not in FORMATS:
        raise ValidationError(f"expected one of {', '.join(FORMATS)}, got {fmt!r}", field="format")
    who = authorise(
        trail,
        actor,
        action="subject_access",
        what="answer a data subject's access request",
        refused_type="subject.export_refused",
        payload={"action": "export"},
    )
    when = received or datetime.now(UTC)
    deadline = DEADLINE.add_to(when).isoformat(timespec="seconds").replace("+00:00", "Z")
    request_id = "request-" + secrets.token_hex(8)
    req = record_governed(
        trail,
        "subject.request_received",
        system="modeltrail",
        actor=who,
        subject=f"request:{request_id}",
        payload={
            "request_id": request_id,
            "kind": "access",
            "legal_basis": ["GDPR Art. 15", "AI Act Art. 86"],
            "received_at": when.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "deadline": deadline,
        },
    )
    doc = build_document(trail, subject, request_id, deadline)
    text = json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n" if fmt == "json" else render_html(doc)
    content = text.encode("utf-8")
    ans = record_governed(
        trail,
        "subject.exported",
        system="modeltrail",
        actor=who,
        subject=f"request:{request_id}",
        refs=[f"event:{req.seq}"],
        payload={
            "request_id": request_id,
            "format": fmt,
            "decisions": len(doc["decisions"]),
            "human_actions": sum(len(d["human_actions"]) for d in doc["decisions"]),
            "other_records": len(doc["other_records"]),
            "sha256": hashlib.sha256(content).hexdigest(),
            "deadline": deadline,
            "within_deadline": True,
        },
    )
    return SubjectExport(doc, content, fmt, req.seq, ans.seq)


__all__ = ["DEADLINE", "FORMATS", "SubjectExport", "build_document", "export_subject", "render_html"]
