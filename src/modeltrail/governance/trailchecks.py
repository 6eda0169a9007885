"""Checks of a trail beyond its ledger bytes: the verifier-key chain and the projection cursors.

:func:`modeltrail.ledger.verify.verify_trail` recomputes the log; these need what the trail knows above
it (the governance replay of key rotations, the projections' tables), so :meth:`modeltrail.Trail.verify`
adds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ModeltrailError, SignatureError
from ..ledger.note import NoteVerifier, verify_checkpoint
from ..ledger.store import LedgerStore
from ..ledger.verify import Problem

if TYPE_CHECKING:
    from ..trail import Trail


def check_projection_cursors(store: LedgerStore, size: int) -> list[Problem]:
    """No projection has folded past the end of the log (a sign the log was rolled back or truncated)."""
    try:
        rows = store.execute("SELECT name, seq FROM projection_cursors", ())
    except ModeltrailError:
        return []  # no projection was ever folded
    return [
        Problem(
            "projection_cursor",
            f"projection {name!r} has folded up to event {seq}, but the log ends at {size - 1}: "
            "events it saw are gone (rollback or truncation)",
            seq=int(seq),
        )
        for name, seq in rows
        if int(seq) > size - 1
    ]


def check_key_chain(trail: Trail) -> list[Problem]:
    """Each checkpoint is signed by the key ``trail.initialized`` names or one chained from it by ``key.rotated``.

    A rotation counts only if the replay admits it (by a key admin, naming the key in force as the old one)
    and a checkpoint under the old key covers it (the old key vouched for the new one). A checkpoint signed
    by any other key (a swapped key file with every checkpoint re-signed) is reported.
    """
    from ..governance.rules import fresh_replay

    replay = fresh_replay(trail)
    chain = replay.key_chain
    if not chain:
        return [Problem("key_chain", "event 0 is not a trail.initialized naming a verifier key", seq=0)]
    verifiers: list[tuple[NoteVerifier, int]] = []
    out: list[Problem] = []
    for key, seq in chain:
        try:
            verifiers.append((NoteVerifier(key), seq))
        except ModeltrailError as exc:
            out.append(Problem("key_chain", f"the verifier key in event {seq} is unusable: {exc}", seq=seq))
    rows = trail.store.checkpoints()
    signed_by: list[int | None] = []
    for row in rows:
        idx = None
        for i, (v, _) in enumerate(verifiers):
            try:
                verify_checkpoint(row.note, [v])
            except (SignatureError, ModeltrailError, ValueError):
                continue
            idx = i
            break
        signed_by.append(idx)
        if idx is None:
            out.append(
                Problem(
                    "checkpoint_key",
                    "checkpoint is not signed by the key trail.initialized names nor by one chained from it "
                    "by key.rotated",
                    checkpoint=row.id,
                )
            )
    for i in range(1, len(verifiers)):
        rot_seq = verifiers[i][1]
        if not any(idx == i - 1 and row.size > rot_seq for row, idx in zip(rows, signed_by, strict=True)):
            out.append(
                Problem(
                    "key_chain",
                    f"the rotation in event {rot_seq} is covered by no checkpoint signed with the key before it",
                    seq=rot_seq,
                )
            )
    return out


__all__ = ["check_key_chain", "check_projection_cursors"]


#: Event types that may empty leaves, and the payload key listing the ``[first, last]`` seq ranges they did.
PURGE_RECORDS = ("retention.purged", "subject.erased")


def recorded_purges(trail: Trail) -> list[tuple[int, int]]:
    """Every seq range a ``retention.purged`` or ``subject.erased`` event says it purged, merged and sorted."""
    ranges: list[tuple[int, int]] = []
    for type_ in PURGE_RECORDS:
        for ev in trail.events(type_):
            for pair in ev.payload.get("purged_ranges") or []:
                if isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, int) for x in pair):
                    ranges.append((pair[0], pair[1]))
    ranges.sort()
    merged: list[tuple[int, int]] = []
    for a, b in ranges:
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def check_purges(trail: Trail, purged: list[tuple[int, int]]) -> list[Problem]:
    """Each purged leaf is named by a recorded purge (retention or erasure) that came after it.

    The ledger accepts a purged leaf's stored hash (the tree and every signed root still check it); what
    only this layer can tell is whether the purge was an operation of the trail or someone emptying rows
    by hand to hide what they said. An unrecorded purge is reported as damage.
    """
    if not purged:
        return []
    recorded = recorded_purges(trail)
    out: list[Problem] = []
    i = 0
    for a, b in purged:
        seq = a
        while seq <= b:
            while i < len(recorded) and recorded[i][1] < seq:
                i += 1
            if i < len(recorded) and recorded[i][0] <= seq:
                seq = recorded[i][1] + 1
                continue
            end = b if i >= len(recorded) else min(b, recorded[i][0] - 1)
            out.append(
                Problem(
                    "purge_unrecorded",
                    f"events {seq}..{end} lost their payload, but no retention.purged or subject.erased event "
                    "records a purge of them (emptied outside modeltrail)",
                    seq=seq,
                )
            )
            seq = end + 1
    return out
