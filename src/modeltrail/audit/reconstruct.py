"""Reconstruct one decision from the ledger alone: what decided, on what evidence, who approved it,
what humans did, and a proof that all of it is in the signed log.

Every step reads events through the ledger's indexes (subject and type), never a full scan.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFoundError
from ..events import Event
from ..ledger import merkle
from ..ledger.note import verify_checkpoint
from ..trail import Trail


@dataclass
class Reconstruction:
    """Everything the ledger says about one decision, with the events it rests on."""

    decision: Event
    model: Event | None = None
    run: Event | None = None
    datasets: list[Event] = field(default_factory=list)
    reports: list[Event] = field(default_factory=list)
    gates: list[Event] = field(default_factory=list)
    approvals: list[Event] = field(default_factory=list)
    deployment: Event | None = None
    oversight: list[Event] = field(default_factory=list)
    labels: list[Event] = field(default_factory=list)
    proof: dict[str, Any] = field(default_factory=dict)
    proof_verified: bool = False

    def events(self) -> list[Event]:
        """Every event cited, in ledger order."""
        out = [
            self.decision,
            *self.datasets,
            *self.reports,
            *self.gates,
            *self.approvals,
            *self.oversight,
            *self.labels,
        ]
        out += [e for e in (self.model, self.run, self.deployment) if e is not None]
        return sorted({e.seq: e for e in out}.values(), key=lambda e: e.seq)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (the events are cited by seq with their decoded content)."""

        def ev(e: Event | None) -> dict[str, Any] | None:
            return None if e is None else {"seq": e.seq, **e.to_dict()}

        return {
            "decision": ev(self.decision),
            "model": ev(self.model),
            "run": ev(self.run),
            "datasets": [ev(e) for e in self.datasets],
            "reports": [ev(e) for e in self.reports],
            "gates": [ev(e) for e in self.gates],
            "approvals": [ev(e) for e in self.approvals],
            "deployment": ev(self.deployment),
            "oversight": [ev(e) for e in self.oversight],
            "labels": [ev(e) for e in self.labels],
            "proof": self.proof,
            "proof_verified": self.proof_verified,
            "cited_seqs": [e.seq for e in self.events()],
        }


def _latest(trail: Trail, type_: str, subject: str, before: int) -> list[Event]:
    return [e for e in trail.events(type_, subject=subject) if e.seq < before]


def reconstruct(trail: Trail, decision_id: str) -> Reconstruction:
    """Rebuild the story of ``decision_id`` (with or without the ``decision:`` prefix) from the ledger."""
    subject = decision_id if decision_id.startswith("decision:") else f"decision:{decision_id}"
    found = [e for e in trail.events(subject=subject)]
    decisions = [e for e in found if e.type == "inference.decision"]
    if not decisions:
        raise NotFoundError(f"no inference.decision event for {subject}")
    d = decisions[0]
    rec = Reconstruction(decision=d)
    rec.oversight = [e for e in found if e.type.startswith("oversight.")]
    rec.labels = [e for e in found if e.type == "inference.label"]
    model_ref = str(d.payload.get("model", ""))
    model_subject = model_ref if model_ref.startswith("model:") else f"model:{model_ref}"
    registered = [e for e in trail.events(subject=model_subject) if e.seq < d.seq]
    for e in registered:
        if e.type in ("model.registered", "model.imported") and rec.model is None:
            rec.model = e
        elif e.type == "gate.evaluated":
            rec.gates.append(e)
        elif e.type == "model.approved":
            rec.approvals.append(e)
        elif e.type == "report.generated":
            rec.reports.append(e)
        elif e.type == "model.deployed" and e.payload.get("env") == d.payload.get("env"):
            rec.deployment = e  # the latest deployment before the decision
    if rec.model is not None:
        for ref in rec.model.refs:
            if ref.startswith("run:"):
                rec.run = next(trail.events("run.started", subject=ref), None)
            elif ref.startswith("dataset:"):
                ds = next(trail.events("dataset.registered", subject=ref), None)
                if ds is not None:
                    rec.datasets.append(ds)
                    rec.reports += [e for e in trail.events("report.generated", subject=ref) if e.seq < d.seq]
    rec.reports.sort(key=lambda e: e.seq)
    cp = trail.latest_checkpoint()
    if cp is not None and cp.size > d.seq:
        proof = trail.inclusion_proof(d.seq, cp.size).to_dict()
        checkpoint = verify_checkpoint(cp.note, trail.verifier_keys())
        merkle.verify_inclusion(
            d.leaf_hash, d.seq, checkpoint.size, [base64.b64decode(p) for p in proof["proof"]], checkpoint.root
        )
        rec.proof = proof
        rec.proof_verified = True
    return rec
