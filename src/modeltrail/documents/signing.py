"""Signatures of generated documents: a signed note per file, with the trail's checkpoint key.

The note text binds the file to the trail state it describes::

    modeltrail document v1
    <origin>
    <kind> <subject>
    <format> sha256:<hex>
    checkpoint <size> <root hex>

and is signed in the C2SP signed-note format with the trail's current Ed25519 checkpoint key (the key
``modeltrail verify`` already trusts), so anyone with the trail's verifier key checks a document offline.
The declaration of conformity names the people with authority: the approvers whose ``model.approved``
events it cites. The trail key signs a note that names them (``authority`` line); each of them can add
their own SSH signature over the document (:func:`sign_personally`, ``modeltrail docs sign``), recorded
as ``doc.signed`` and checked against their key in the policy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import SignatureError, ValidationError
from ..events import Actor, Event, Receipt
from ..identity import Identity
from ..ledger.note import open_note, sign_note

if TYPE_CHECKING:
    from ..trail import Trail

HEADER = "modeltrail document v1"


@dataclass(frozen=True)
class DocumentSignature:
    """A signed note over one rendered file."""

    note: str
    key_id: str
    signer: str
    """Who the signature stands for: ``trail key`` or ``trail key for <approvers>``."""


def note_text(
    origin: str,
    kind: str,
    subject: str,
    fmt: str,
    sha256: str,
    size: int,
    root_hex: str,
    authority: Sequence[str] = (),
) -> str:
    """The text a document signature covers (see the module docstring)."""
    lines = [HEADER, origin, f"{kind} {subject}", f"{fmt} sha256:{sha256}", f"checkpoint {size} {root_hex}"]
    if authority:
        lines.append("authority " + ",".join(authority))
    return "\n".join(lines) + "\n"


def sign_document(
    trail: Trail,
    kind: str,
    subject: str,
    fmt: str,
    data: bytes,
    size: int,
    root_hex: str,
    authority: Sequence[str] = (),
) -> DocumentSignature:
    """Sign the rendered bytes ``data`` of a document with the trail key."""
    signer = trail.signer()
    text = note_text(trail.origin, kind, subject, fmt, hashlib.sha256(data).hexdigest(), size, root_hex, authority)
    who = "trail key" + (f" for {', '.join(authority)}" if authority else "")
    return DocumentSignature(sign_note(text, signer), signer.key_id_hex, who)


def verify_document(trail: Trail, data: bytes, note: str) -> str:
    """Check that ``note`` is a valid trail signature over ``data``; returns the signed text.

    Raises :class:`SignatureError` when the signature or the hash does not match.
    """
    try:
        opened = open_note(note, trail.verifier_keys())
    except Exception as exc:  # any parse or signature failure is a failed verification
        raise SignatureError(f"document signature does not verify: {exc}") from exc
    text = opened.text
    lines = text.splitlines()
    if not lines or lines[0] != HEADER or len(lines) < 5:
        raise SignatureError("not a modeltrail document signature")
    digest = lines[3].split("sha256:", 1)[-1]
    if digest != hashlib.sha256(data).hexdigest():
        raise SignatureError("the file's sha256 does not match its signature")
    return text


# -- a person's own signature (the approver signatures of the governance rules) ---------------------------

PERSONAL_SIGNATURE_EVENT = "doc.signed"


def personal_body(doc: Event) -> bytes:
    """The exact bytes a person signs for the generated document ``doc`` (``ssh-keygen -Y sign -n modeltrail``).

    It names the trail, the document's kind, subject, event and the sha256 of every rendered file, so the
    signature stands for those files as the ledger recorded them.
    """
    p = doc.payload
    raw = p.get("formats")
    formats: dict[str, Any] = raw if isinstance(raw, dict) else {}
    lines = [
        "modeltrail document signature v1",
        f"system {doc.system}",
        f"{p.get('kind')} {doc.subject}",
        f"event {doc.seq}",
        *(f"{fmt} sha256:{entry.get('sha256')}" for fmt, entry in sorted(formats.items()) if isinstance(entry, dict)),
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def sign_personally(trail: Trail, doc_seq: int, signature: str, *, actor: Actor | Identity) -> Receipt:
    """Record a person's SSH signature over generated document ``doc_seq`` as ``doc.signed``.

    The signer must be one of the people with authority the document names (for the declaration of
    conformity: the approvers it cites), or, when it names none, any user of the policy; the signature must
    verify against that person's key in the policy (``users.*.ssh_key`` or ``allowed_signers``). Raises
    :class:`SignatureError` otherwise, and nothing is recorded.
    """
    from ..governance.namespace import record_governed
    from ..governance.signing import signature_problem
    from ..identity import acting_actor
    from ..registry.policy_store import policy_or_none

    doc = trail.get_event(doc_seq)
    if doc.type != "doc.generated":
        raise ValidationError(f"event {doc_seq} is a {doc.type}, not a generated document", field="document")
    who = acting_actor(actor)
    authority = [str(a) for a in doc.payload.get("authority") or []]
    if authority and who.id not in authority:
        raise SignatureError(
            f"{who.id} is not among the people with authority this document names ({', '.join(authority)})"
        )
    policy = policy_or_none(trail, doc.system)
    problem = signature_problem(policy, None, who.id, personal_body(doc), signature, what="document")
    if problem is not None:
        raise SignatureError(problem)
    return record_governed(
        trail,
        PERSONAL_SIGNATURE_EVENT,
        system=doc.system,
        actor=who,
        subject=doc.subject,
        payload={"document_seq": doc.seq, "kind": doc.payload.get("kind"), "signature": signature},
        refs=[f"event:{doc.seq}"],
    )


def personal_signatures(trail: Trail, doc_seq: int) -> list[Event]:
    """The ``doc.signed`` events of document ``doc_seq``, oldest first."""
    doc = trail.get_event(doc_seq)
    return [
        e
        for e in trail.events(PERSONAL_SIGNATURE_EVENT, subject=doc.subject)
        if e.payload.get("document_seq") == doc_seq
    ]
