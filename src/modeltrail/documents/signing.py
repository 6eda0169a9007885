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
events it cites. Per-person approver keys do not exist in this trail yet, so their signature is the trail
key over a note that names them (``authority`` line); when approver signatures land, the note gains theirs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import SignatureError
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
