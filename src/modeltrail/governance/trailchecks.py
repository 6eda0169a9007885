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
