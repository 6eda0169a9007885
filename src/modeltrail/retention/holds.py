"""Legal holds: while one is in force, nothing it covers is purged or erased.

A hold covers a system (every event of it) or a data subject (their records and their erasure). It is a
ledger event (``hold.placed``, ``hold.released``), so which holds were in force at any moment is part of
the verifiable history. A subject hold names the person only by their keyed reference (as the key store
does), never by the identifier; erasing the person later purges the hold events too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import NotFoundError, ValidationError
from ..events import Actor
from ..governance.namespace import record_governed
from ..identity import Identity
from .access import authorise
from .subjects import find_records, seq_ranges

if TYPE_CHECKING:
    from ..trail import Trail


@dataclass(frozen=True)
class Hold:
    """A legal hold in force."""

    id: str
    system: str | None
    subject_ref: str | None
    reason: str
    records: list[list[int]]
    """Seq ranges of the subject's records when the hold was placed (kept from purge while it is in force)."""
    placed_seq: int
    placed_by: str
    placed_at: str

    def describe(self) -> str:
        """One line for messages (never the subject's identifier: there is none to give)."""
        scope = f"system {self.system}" if self.system else "a data subject"
        return f"legal hold {self.id} on {scope} (placed by {self.placed_by} at {self.placed_at}: {self.reason})"


def active_holds(trail: Trail) -> list[Hold]:
    """Every hold placed and not released, oldest first."""
    placed: dict[str, Hold] = {}
    for ev in trail.events("hold.*"):
        hid = ev.payload.get("hold_id")
        if not isinstance(hid, str):
            continue
        if ev.type == "hold.placed":
            placed[hid] = Hold(
                hid,
                ev.payload.get("system"),
                ev.payload.get("subject_ref"),
                str(ev.payload.get("reason", "")),
                list(ev.payload.get("records") or []),
                ev.seq,
                ev.actor.id,
                ev.ts,
            )
        elif ev.type == "hold.released":
            placed.pop(hid, None)
    return list(placed.values())


def holds_on_system(trail: Trail, system: str) -> list[Hold]:
    """Holds in force on ``system``."""
    return [h for h in active_holds(trail) if h.system == system]


def holds_on_subject(trail: Trail, ref: str) -> list[Hold]:
    """Holds in force on the subject with keyed reference ``ref``."""
    return [h for h in active_holds(trail) if h.subject_ref == ref]


def place_hold(
    trail: Trail,
    *,
    actor: Actor | Identity,
    reason: str,
    system: str | None = None,
    subject: str | None = None,
) -> Hold:
    """Place a legal hold on ``system`` or on the data ``subject`` (one of the two); ``roles.holds`` may."""
    if (system is None) == (subject is None):
        raise ValidationError("give either a system or a subject to hold", field="system")
    if not reason or not reason.strip():
        raise ValidationError("a legal hold needs its reason (case, request, authority)", field="reason")
    ref, records = None, []
    if subject is not None:
        found = find_records(trail, subject)
        ref, records = found.ref, seq_ranges([ev.seq for ev in found.all_events()])
    who = authorise(
        trail,
        actor,
        action="holds",
        what="place a legal hold",
        refused_type="hold.refused",
        payload={"action": "place", "system": system},
    )
    hid = "hold-" + secrets.token_hex(8)
    r = record_governed(
        trail,
        "hold.placed",
        system=system or "modeltrail",
        actor=who,
        subject=f"hold:{hid}",
        payload={"hold_id": hid, "system": system, "subject_ref": ref, "records": records, "reason": reason},
    )
    return Hold(hid, system, ref, reason, records, r.seq, who.id, r.ts)


def release_hold(trail: Trail, hold_id: str, *, actor: Actor | Identity, reason: str) -> int:
    """Release the hold ``hold_id``; the seq of the ``hold.released`` event."""
    held = {h.id: h for h in active_holds(trail)}
    if hold_id not in held:
        raise NotFoundError(f"no legal hold {hold_id!r} is in force (see `modeltrail hold list`)")
    if not reason or not reason.strip():
        raise ValidationError("releasing a legal hold needs its reason", field="reason")
    who = authorise(
        trail,
        actor,
        action="holds",
        what="release a legal hold",
        refused_type="hold.refused",
        payload={"action": "release", "hold_id": hold_id},
    )
    h = held[hold_id]
    r = record_governed(
        trail,
        "hold.released",
        system=h.system or "modeltrail",
        actor=who,
        subject=f"hold:{hold_id}",
        payload={"hold_id": hold_id, "system": h.system, "subject_ref": h.subject_ref, "reason": reason},
    )
    return r.seq


__all__ = ["Hold", "active_holds", "holds_on_subject", "holds_on_system", "place_hold", "release_hold"]
