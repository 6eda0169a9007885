"""Reconstruct one decision from the ledger alone: what decided, on what evidence, who approved it,
what humans did, and a proof that all of it is in the signed log.

Every step reads events through the ledger's indexes (subject, type and seq), never a full scan, so the
time does not grow with the number of decisions (``bench/audit.py`` measures it at 1,000,000).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, ProofError, ValidationError
from ..events import Actor, Event
from ..ledger import merkle
from ..ledger.note import verify_checkpoint
from ..trail import Trail

if TYPE_CHECKING:
    from ..identity import Identity

#: Lifecycle events about a model (version or whole name) that change whether a deployment is in force.
LIFECYCLE_TYPES = ("model.deployed", "model.suspended", "model.resumed", "model.retired", "model.break_glass")


def proof_dict(proof: Any) -> dict[str, Any]:
    """The JSON form of an inclusion or consistency proof, whether the trail returns a dict or a typed proof.

    Typed proofs (with ``to_dict()``) give exactly the dictionary :meth:`Trail.inclusion_proof` returns
    today, so the rest of the audit package works on that one form.
    """
    to_dict = getattr(proof, "to_dict", None)
    if callable(to_dict):
        out = to_dict()
        if not isinstance(out, dict):
            raise ValidationError("a proof's to_dict() must return a dict", field="proof")
        return out
    if isinstance(proof, Mapping):
        return dict(proof)
    raise ValidationError(f"expected a proof, got {type(proof).__name__}", field="proof")


@dataclass
class Reconstruction:
    """Everything the ledger says about one decision, with the events it rests on."""

    decision: Event
    inputs: dict[str, Any] = field(default_factory=dict)
    model: Event | None = None
    run: Event | None = None
    run_events: list[Event] = field(default_factory=list)
    datasets: list[Event] = field(default_factory=list)
    reports: list[Event] = field(default_factory=list)
    documents: list[Event] = field(default_factory=list)
    gates: list[Event] = field(default_factory=list)
    approvals: list[Event] = field(default_factory=list)
    deployment: Event | None = None
    lifecycle: list[Event] = field(default_factory=list)
    in_force: bool = False
    policy: Event | None = None
    classification: Event | None = None
    oversight: list[Event] = field(default_factory=list)
    labels: list[Event] = field(default_factory=list)
    alerts: list[Event] = field(default_factory=list)
    revealed: dict[str, Any] | None = None
    reveal_event: int | None = None
    proof: dict[str, Any] = field(default_factory=dict)
    proof_verified: bool = False
    checkpoint_taken: bool = False

    def events(self) -> list[Event]:
        """Every event cited, in ledger order."""
        out = [
            self.decision,
            *self.run_events,
            *self.datasets,
            *self.reports,
            *self.documents,
            *self.gates,
            *self.approvals,
            *self.lifecycle,
            *self.oversight,
            *self.labels,
            *self.alerts,
        ]
        out += [e for e in (self.model, self.run, self.deployment, self.policy, self.classification) if e is not None]
        return sorted({e.seq: e for e in out}.values(), key=lambda e: e.seq)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (the events are cited by seq with their decoded content)."""

        def ev(e: Event | None) -> dict[str, Any] | None:
            return None if e is None else e.to_dict()

        def evs(items: Iterable[Event]) -> list[dict[str, Any] | None]:
            return [ev(e) for e in items]

        return {
            "decision_id": self.decision.payload.get("decision_id"),
            "decision": ev(self.decision),
            "inputs": self.inputs,
            "revealed": self.revealed,
            "reveal_event": self.reveal_event,
            "model": ev(self.model),
            "run": ev(self.run),
            "run_events": evs(self.run_events),
            "datasets": evs(self.datasets),
            "reports": evs(self.reports),
            "documents": evs(self.documents),
            "gates": evs(self.gates),
            "approvals": evs(self.approvals),
            "deployment": ev(self.deployment),
            "lifecycle": evs(self.lifecycle),
            "deployment_in_force": self.in_force,
            "policy": ev(self.policy),
            "classification": ev(self.classification),
            "oversight": evs(self.oversight),
            "labels": evs(self.labels),
            "alerts": evs(self.alerts),
            "proof": self.proof,
            "proof_verified": self.proof_verified,
            "checkpoint_taken": self.checkpoint_taken,
            "cited_seqs": [e.seq for e in self.events()],
        }

    def summary(self) -> list[tuple[str, str]]:
        """(heading, text) lines for a person: what an auditor reads first."""
        d = self.decision
        p = d.payload
        out = [
            ("decision", f"{p.get('decision_id')} (event {d.seq}, {d.ts}) in {d.system}/{p.get('env')}"),
            ("output", f"{p.get('output')!r} score {p.get('score')} route {p.get('route')}"),
            ("inputs", ", ".join(f"{k}={v!r}" for k, v in sorted(self.inputs.get("visible", {}).items())) or "-"),
        ]
        if self.inputs.get("pseudonymised"):
            out.append(("pseudonymised", ", ".join(sorted(self.inputs["pseudonymised"]))))
        if self.inputs.get("sealed"):
            state = "revealed" if self.revealed is not None else "sealed (reveal role needed)"
            out.append((state, ", ".join(self.inputs["sealed"])))
        if self.model is not None:
            out.append(("model", f"{self.model.subject} registered by {self.model.actor.id} (event {self.model.seq})"))
        if self.run is not None:
            rp = self.run.payload
            code = rp.get("code") or {}
            env = rp.get("environment") or {}
            out.append(("run", f"{self.run.subject} {rp.get('name')} (event {self.run.seq})"))
            out.append(("code", f"commit {code.get('commit')} dirty {code.get('dirty')}"))
            out.append(("environment", f"python {env.get('python')} packages {env.get('packages_sha256')}"))
        for e in self.datasets:
            out.append(("dataset", f"{e.subject} role {e.payload.get('role')} rows {e.payload.get('rows')}"))
        for e in self.reports:
            out.append(("report", f"{e.payload.get('kind')} on {e.subject} (event {e.seq})"))
        for e in self.gates:
            out.append(("gate", f"{e.payload.get('stage')} passed={e.payload.get('passed')} (event {e.seq})"))
        for e in self.approvals:
            out.append(("approval", f"{e.actor.id} as {e.actor.role} (event {e.seq})"))
        if self.deployment is not None:
            state = "in force" if self.in_force else "NOT in force"
            out.append(("deployment", f"event {self.deployment.seq} by {self.deployment.actor.id}: {state}"))
        for e in self.oversight:
            out.append(("oversight", f"{e.type} by {e.actor.id}: {e.payload.get('reason')} (event {e.seq})"))
        for e in self.labels:
            out.append(("label", f"actual {e.payload.get('actual')!r} (event {e.seq})"))
        for e in self.alerts:
            out.append(("alert", f"{e.payload.get('kind', e.type)} (event {e.seq})"))
        verdict = "verified" if self.proof_verified else "NOT verified"
        out.append(("proof", f"inclusion in signed checkpoint of size {self.proof.get('tree_size')}: {verdict}"))
        return out


def decision_subject(decision_id: str) -> str:
    """``decision:<id>`` for an id given with or without the prefix."""
    if not isinstance(decision_id, str) or not decision_id.strip():
        raise ValidationError("expected a decision id", field="decision_id")
    did = decision_id.strip()
    return did if did.startswith("decision:") else f"decision:{did}"


def _before(trail: Trail, subject: str, before: int, type_: str | None = None) -> list[Event]:
    """Events about ``subject`` (subject index) older than seq ``before``."""
    return [e for e in trail.events(type_, subject=subject) if e.seq < before]


def _by_seq(trail: Trail, seq: Any) -> Event | None:
    if not isinstance(seq, int) or seq < 0:
        return None
    try:
        return trail.get_event(seq)
    except NotFoundError:
        return None


def _inputs(d: Event) -> dict[str, Any]:
    """The inputs as the data policy left them: kept values, pseudonymised and sealed field names."""
    p = d.payload
    return {
        "visible": dict(p.get("input") or {}),
        "pseudonymised": dict(p.get("pseudonyms") or {}),
        "sealed": sorted(d.sealed),
        "dropped": list(p.get("dropped") or []),
    }


def _model_story(trail: Trail, rec: Reconstruction, model_subject: str, env: Any) -> None:
    d = rec.decision
    name_subject = model_subject.split("@", 1)[0]
    for e in _before(trail, model_subject, d.seq):
        if e.type in ("model.registered", "model.imported") and rec.model is None:
            rec.model = e
        elif e.type == "report.generated":
            rec.reports.append(e)
        elif e.type == "doc.generated":
            rec.documents.append(e)
        elif e.type == "monitor.alert":
            rec.alerts.append(e)
        elif e.type == "model.deployed" and e.payload.get("env") == env:
            rec.deployment = e  # the latest deployment of this version to this env before the decision
        elif e.type in LIFECYCLE_TYPES or e.type in ("model.approval_revoked", "model.rejected"):
            rec.lifecycle.append(e)
    if name_subject != model_subject:
        for e in _before(trail, name_subject, d.seq):
            if e.type in LIFECYCLE_TYPES:
                rec.lifecycle.append(e)
            elif e.type == "monitor.alert":
                rec.alerts.append(e)
    dep = rec.deployment
    if dep is not None:
        # The gate and approvals the deployment itself cites: what it was deployed under, not what came later.
        gate = _by_seq(trail, dep.payload.get("gate_seq"))
        if gate is not None:
            rec.gates.append(gate)
        for s in dep.payload.get("approval_seqs") or []:
            a = _by_seq(trail, s)
            if a is not None:
                rec.approvals.append(a)
        rec.lifecycle = [e for e in rec.lifecycle if e.seq > dep.seq and e.payload.get("env", env) == env]
        rec.lifecycle.sort(key=lambda e: e.seq)
        rec.in_force = True
        for e in rec.lifecycle:
            if e.type in ("model.suspended", "model.retired", "model.approval_revoked", "model.rejected"):
                rec.in_force = False
            elif e.type in ("model.resumed", "model.break_glass", "model.deployed"):
                rec.in_force = True


def _lineage(trail: Trail, rec: Reconstruction) -> None:
    d = rec.decision
    if rec.model is None:
        return
    for ref in rec.model.refs:
        if ref.startswith("run:") and rec.run is None:
            rec.run = next(trail.events("run.started", subject=ref, limit=1), None)
            rec.run_events = [e for e in trail.events(subject=ref) if e.type != "run.started" and e.seq < d.seq]
        elif ref.startswith("dataset:"):
            ds = next(trail.events("dataset.registered", subject=ref, limit=1), None)
            if ds is not None:
                rec.datasets.append(ds)
                rec.reports += _before(trail, ref, d.seq, "report.generated")
    rec.reports.sort(key=lambda e: e.seq)


def _system_context(trail: Trail, rec: Reconstruction) -> None:
    d = rec.decision
    sys_subject = f"system:{d.system}"
    for type_, attr in (("policy.registered", "policy"), ("system.classified", "classification")):
        latest = next(
            (e for e in trail.events(type_, subject=sys_subject, descending=True) if e.seq < d.seq),
            None,
        )
        setattr(rec, attr, latest)


def prove_event(trail: Trail, event: Event, *, take_checkpoint: bool = True) -> tuple[dict[str, Any], bool]:
    """An inclusion proof of ``event`` checked against a signed checkpoint: ``(proof dict, checkpoint taken)``.

    When no checkpoint covers the event yet and ``take_checkpoint`` is set, one is taken first (a
    reconstruction must not report "unverified" merely because the timer has not fired). Raises
    :class:`ProofError` when the proof or the checkpoint signature does not verify.
    """
    cp = trail.latest_checkpoint()
    taken = False
    if cp is None or cp.size <= event.seq:
        if not take_checkpoint:
            return {}, False
        cp = trail.checkpoint()
        taken = True
    proof = proof_dict(trail.inclusion_proof(event.seq, cp.size))
    checkpoint = verify_checkpoint(cp.note, trail.verifier_keys())
    if checkpoint.origin != trail.origin:
        raise ProofError(f"checkpoint is for origin {checkpoint.origin!r}, not {trail.origin!r}")
    merkle.verify_inclusion(
        event.leaf_hash, event.seq, checkpoint.size, [base64.b64decode(p) for p in proof["proof"]], checkpoint.root
    )
    if base64.b64decode(proof["leaf_hash"]) != merkle.leaf_hash(event.leaf):
        raise ProofError(f"leaf hash of event {event.seq} does not match its bytes")
    proof["checkpoint"] = cp.note
    return proof, taken


def reconstruct(
    trail: Trail,
    decision_id: str,
    *,
    reveal: bool = False,
    purpose: str | None = None,
    actor: Actor | Mapping[str, str] | Identity | None = None,
    take_checkpoint: bool = True,
) -> Reconstruction:
    """Rebuild the story of ``decision_id`` (with or without the ``decision:`` prefix) from the ledger.

    ``reveal=True`` also unseals the sealed inputs through :func:`modeltrail.runtime.oversight.reveal`
    (``actor`` must hold a reveal role; ``purpose`` is required; the access is recorded as
    ``oversight.revealed`` before anything is returned, a refusal as ``oversight.reveal_refused``).
    """
    subject = decision_subject(decision_id)
    d = next(trail.events("inference.decision", subject=subject, limit=1), None)
    if d is None:
        raise NotFoundError(f"no inference.decision event for {subject}")
    rec = Reconstruction(decision=d, inputs=_inputs(d))
    if reveal:
        from ..runtime.oversight import reveal as do_reveal

        if actor is None:
            raise ValidationError("a reveal needs the acting identity", field="actor")
        if purpose is None:
            raise ValidationError("a reveal needs a purpose (it is recorded)", field="purpose")
        rec.revealed = do_reveal(trail, subject, purpose=purpose, actor=actor)
        rev = next(trail.events("oversight.revealed", subject=subject, descending=True, limit=1), None)
        rec.reveal_event = None if rev is None else rev.seq
    for e in trail.events(subject=subject):
        if e.type.startswith("oversight.") and e.type != "oversight.reveal_refused":
            rec.oversight.append(e)
        elif e.type == "inference.label":
            rec.labels.append(e)
    model_ref = str(d.payload.get("model", ""))
    model_subject = model_ref if model_ref.startswith("model:") else f"model:{model_ref}"
    _model_story(trail, rec, model_subject, d.payload.get("env"))
    _lineage(trail, rec)
    _system_context(trail, rec)
    rec.proof, rec.checkpoint_taken = prove_event(trail, d, take_checkpoint=take_checkpoint)
    rec.proof_verified = bool(rec.proof)
    return rec


def render_html(rec: Reconstruction) -> str:
    """A self-contained HTML page of the reconstruction (the summary, then every cited event in full)."""
    import json

    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("modeltrail", "templates"), autoescape=select_autoescape(["html", "j2"]))
    tpl = env.get_template("reconstruction.html.j2")
    return tpl.render(
        rec=rec,
        summary=rec.summary(),
        events=[(e.seq, e.type, json.dumps(e.to_dict(), indent=2, ensure_ascii=False)) for e in rec.events()],
    )
