"""Documents recorded against a model, a version or a system: ``doc.generated``.

A document (model card, risk assessment, technical documentation) is gate evidence, so it is a governance
event: only this operation writes it, after checking that its kind is a known document name and that the
content it cites is in the blob store.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, ValidationError
from ..events import Actor, Receipt
from ..governance.namespace import record_governed
from ..identity import Identity

if TYPE_CHECKING:
    from ..trail import Trail

_KIND_RE = re.compile(r"[a-z][a-z0-9_\-]{0,63}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def record_document(
    trail: Trail,
    subject: str,
    kind: str,
    *,
    system: str,
    actor: Actor | Identity,
    sha256: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Receipt:
    """Record ``doc.generated`` of ``kind`` (``model_card``, ...) for ``subject``, citing its blob if given.

    Raises :class:`ValidationError` for a malformed kind or hash and :class:`NotFoundError` when the cited
    content is not in the trail's blob store (a document nobody can read is no evidence).
    """
    if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
        raise ValidationError(f"expected a document kind like 'model_card', got {kind!r}", field="kind")
    payload: dict[str, Any] = dict(extra or {})
    payload["kind"] = kind
    refs = [subject]
    if sha256 is not None:
        if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
            raise ValidationError("expected 64 lower-case hex characters", field="sha256")
        if not trail.blobs.exists(sha256):
            raise NotFoundError(f"no blob {sha256} in the trail's blob store; store the document first")
        payload["sha256"] = sha256
        refs.append(f"blob:sha256:{sha256}")
    who = actor.acting_as() if isinstance(actor, Identity) else actor
    return record_governed(
        trail, "doc.generated", system=system, actor=who, subject=subject, payload=payload, refs=refs
    )


__all__ = ["record_document"]
