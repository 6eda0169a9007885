"""Erasure (GDPR Art. 17) that leaves no way back, while the ledger keeps verifying.

``erase`` undoes every link :mod:`.subjects` knows, each the way it can be undone:

- the vault rows of the person's pseudonym tokens are deleted: the tokens left in the ledger are random
  and no longer lead to anybody;
- their data keys are shredded and the key rows cut from the person (:meth:`SubjectKeyStore.erase`);
  the sealed blobs, unreadable from then on, are deleted from the blob store as well;
- events that name the person in a way nothing else can break (a keyed ``ps1:`` pseudonym of an older
  trail, the identifier as the event's subject, a legal hold on them, and the reviews and labels of such
  decisions) lose their payload: a purge, as for retention, so every leaf hash, checkpoint and proof
  still verifies.

``subject.erased`` records the reason, the counts and the purged ranges, never the identifier (nor its
keyed reference, which whoever holds the master key could recompute from the id). A legal hold on the
person, or on a system that holds their decisions, refuses the erasure: ``subject.erasure_refused``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..blobs import parse_digest
from ..errors import HoldError, ModeltrailError, ValidationError
from ..events import Actor
from ..governance.namespace import record_governed
from ..identity import Identity
from ..runtime.datapolicy import open_vault
from .access import authorise
from .holds import active_holds
from .subjects import SEALED, find_records, open_key_store, seq_ranges, value_variants

if TYPE_CHECKING:
    from ..trail import Trail


@dataclass
class ErasureResult:
    """What one erasure did (counts only: the result names nobody)."""

    erasure_id: str
    event_seq: int
    decisions: int
    unlinked_tokens: int
    keys_shredded: int
    blobs_deleted: int
    purged: int
    purged_ranges: list[list[int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``modeltrail erase --json``)."""
        return dict(self.__dict__)


def erase(trail: Trail, subject: str, *, actor: Actor | Identity, reason: str) -> ErasureResult:
    """Erase the data subject ``subject`` (their identifier) for ``reason``; ``roles.erasure`` may."""
    value_variants(subject)
    if not reason or not reason.strip():
        raise ValidationError("an erasure needs its reason (e.g. the request it answers)", field="reason")
    if subject.strip() and subject.strip() in reason:
        # The reason goes into the ledger, where nothing can erase it later.
        raise ValidationError("the reason must not contain the subject's identifier", field="reason")
    who = authorise(
        trail,
        actor,
        action="erasure",
        what="erase a data subject",
        refused_type="subject.erasure_refused",
        payload={"action": "erase"},
    )
    found = find_records(trail, subject)
    systems = {ev.system for ev in found.all_events()}
    blocking = [h for h in active_holds(trail) if h.subject_ref == found.ref or (h.system and h.system in systems)]
    if blocking:
        ids = [h.id for h in blocking]
        record_governed(
            trail,
            "subject.erasure_refused",
            system="modeltrail",
            actor=who,
            payload={"action": "erase", "holds": ids, "reason": "legal hold"},
        )
        raise HoldError(
            f"erasure refused: {'; '.join(h.describe() for h in blocking)}; the hold must be released first"
        )

    # Sealed blobs of the person's decisions: unreadable once the keys are gone, deleted anyway.
    digests = {
        ref["sha256"]
        for ev in found.decisions
        if SEALED in found.links.get(ev.seq, set())
        for ref in (ev.sealed or {}).values()
        if isinstance(ref, dict) and isinstance(ref.get("sha256"), str)
    }
    with open_key_store(trail) as keys:
        shredded = keys.erase_keys(sorted({*keys.key_ids(subject), *found.key_ids}))
    deleted = 0
    for digest in sorted(digests):
        try:
            parse_digest(digest)
            deleted += bool(trail.blobs.delete(digest))
        except ModeltrailError:
            pass  # an odd reference is not ours to delete; the key is shredded either way
    unlinked = 0
    if found.vault_fields or found.tokens:
        vault = open_vault(trail)
        try:
            gone = set(found.tokens)
            for v in value_variants(subject):
                gone.update(vault.forget(v, sorted(found.vault_fields)))
            vault.forget_tokens(sorted(gone))
            unlinked = len(gone)
        finally:
            vault.close()
    purge_seqs = found.must_purge()
    ranges = seq_ranges(purge_seqs)
    erasure_id = "erasure-" + secrets.token_hex(8)
    r = record_governed(
        trail,
        "subject.erased",
        system="modeltrail",
        actor=who,
        subject=f"erasure:{erasure_id}",
        payload={
            "erasure_id": erasure_id,
            "reason": reason,
            "legal_basis": "GDPR Art. 17",
            "decisions": len(found.decisions),
            "unlinked_tokens": unlinked,
            "keys_shredded": len(shredded),
            "blobs_deleted": deleted,
            "purged": len(purge_seqs),
            "purged_ranges": ranges,
        },
    )
    purged = trail.store.purge(purge_seqs) if purge_seqs else 0
    if purged:
        trail.store.reclaim(0)  # a few leaves: incremental only; the next retention run compacts
    return ErasureResult(erasure_id, r.seq, len(found.decisions), unlinked, len(shredded), deleted, purged, ranges)


__all__ = ["ErasureResult", "erase"]
