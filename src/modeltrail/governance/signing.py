"""Approver signatures: the exact bytes a person signs to approve (reject, deploy), and the check on both sides.

The signed body is the RFC 8785 canonical JSON of what the approval says: who (id and role), what
(type, system, subject, stage), on which evidence (the gate event) and why (the rationale). It is known
before the event is appended (sequence number and timestamp are not part of it), so the person signs it
with ``ssh-keygen -Y sign -n modeltrail -f ~/.ssh/id_ed25519 body.json`` and passes the ``.sig`` file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..crypto import sshsig
from ..errors import SignatureError
from ..ledger import encoding

if TYPE_CHECKING:
    from ..events import Event
    from ..policy import Approvals, Oversight, Policy

SIGNATURE_FIELD = "signature"


def approval_body(
    *, system: str, subject: str, actor_id: str, role: str, stage: str, gate_seq: int | None, rationale: str
) -> bytes:
    """The canonical bytes an approver signs for ``model.approved``."""
    statement: dict[str, Any] = {
        "type": "model.approved",
        "system": system,
        "subject": subject,
        "actor": actor_id,
        "role": role,
        "stage": stage,
        "gate_seq": gate_seq,
        "rationale": rationale,
    }
    return encoding.canonical_bytes(statement, "approval")


def rejection_body(*, system: str, subject: str, actor_id: str, role: str, stage: str, rationale: str) -> bytes:
    """The canonical bytes an approver signs for ``model.rejected``."""
    statement: dict[str, Any] = {
        "type": "model.rejected",
        "system": system,
        "subject": subject,
        "actor": actor_id,
        "role": role,
        "stage": stage,
        "rationale": rationale,
    }
    return encoding.canonical_bytes(statement, "rejection")


def deployment_body(
    *, system: str, subject: str, actor_id: str, env: str, stage: str, traffic: float, gate_seq: int | None
) -> bytes:
    """The canonical bytes a person signs for ``model.deployed``.

    Without the role: a forced deployment is recorded under the break-glass role, decided only when the
    gate or approvals turn out to be missing; what the person vouches for is the version, where and how much.
    """
    statement: dict[str, Any] = {
        "type": "model.deployed",
        "system": system,
        "subject": subject,
        "actor": actor_id,
        "env": env,
        "stage": stage,
        "traffic": float(traffic),
        "gate_seq": gate_seq,
    }
    return encoding.canonical_bytes(statement, "deployment")


def override_body(*, system: str, decision_id: str, actor_id: str, role: str, value: Any, reason: str) -> bytes:
    """The canonical bytes a reviewer signs for ``oversight.overridden`` (the value replacing the output)."""
    statement: dict[str, Any] = {
        "type": "oversight.overridden",
        "system": system,
        "subject": f"decision:{decision_id}",
        "actor": actor_id,
        "role": role,
        "decision_id": decision_id,
        "value": value,
        "reason": reason,
    }
    return encoding.canonical_bytes(statement, "override")


def signed_body_of(ev: Event) -> bytes | None:
    """The signed body of a recorded approval, rejection or deployment (None for other types)."""
    if ev.type == "model.approved":
        return body_of(ev)
    if ev.type == "model.rejected":
        return rejection_body(
            system=ev.system,
            subject=str(ev.subject),
            actor_id=ev.actor.id,
            role=ev.actor.role,
            stage=str(ev.payload.get("stage") or ""),
            rationale=str(ev.payload.get("rationale") or ""),
        )
    if ev.type == "oversight.overridden":
        return override_body(
            system=ev.system,
            decision_id=str(ev.payload.get("decision_id")),
            actor_id=ev.actor.id,
            role=ev.actor.role,
            value=ev.payload.get("value"),
            reason=str(ev.payload.get("reason") or ""),
        )
    if ev.type == "model.deployed":
        gate_seq = ev.payload.get("gate_seq")
        traffic = ev.payload.get("traffic", 1.0)
        return deployment_body(
            system=ev.system,
            subject=str(ev.subject),
            actor_id=ev.actor.id,
            env=str(ev.payload.get("env")),
            stage=str(ev.payload.get("stage") or ev.payload.get("env")),
            traffic=float(traffic) if isinstance(traffic, int | float) else 1.0,
            gate_seq=gate_seq if isinstance(gate_seq, int) else None,
        )
    return None


def body_of(ev: Event) -> bytes:
    """The signed body of an approval event as it was recorded."""
    gate_seq = ev.payload.get("gate_seq")
    return approval_body(
        system=ev.system,
        subject=str(ev.subject),
        actor_id=ev.actor.id,
        role=ev.actor.role,
        stage=str(ev.payload.get("stage")),
        gate_seq=gate_seq if isinstance(gate_seq, int) else None,
        rationale=str(ev.payload.get("rationale") or ""),
    )


def signature_problem(
    policy: Policy | None,
    spec: Approvals | Oversight | None,
    actor_id: str,
    body: bytes,
    signature: Any,
    what: str = "approval",
) -> str | None:
    """Why an approval's (rejection's, deployment's: ``what``) signature makes it not count (None: it counts).

    A signature that is present must verify against one of the approver's keys in the policy (their
    ``ssh_key``, or an ``allowed_signers`` line naming them); where the stage says ``signed: required`` one
    must be present.
    """
    required = spec is not None and spec.signed
    if signature is None:
        return f"the policy requires {actor_id}'s SSH signature on the {what}" if required else None
    if not isinstance(signature, str):
        return f"the {what}'s signature is not an armored SSH signature"
    keys = policy.signer_keys(actor_id) if policy is not None else []
    if not keys:
        return f"the policy lists no ssh_key or allowed signer for {actor_id}, so the signature cannot be checked"
    last: Exception | None = None
    for key in keys:  # users.*.ssh_key, then every allowed_signers line naming the approver
        try:
            sshsig.verify(signature, body, key)
            return None
        except (SignatureError, ValueError) as exc:
            last = exc
    return f"the approver signature does not verify: {last}"


__all__ = [
    "SIGNATURE_FIELD",
    "approval_body",
    "body_of",
    "deployment_body",
    "override_body",
    "rejection_body",
    "signature_problem",
    "signed_body_of",
]
