"""A trail's side of witnessing: asking a witness to cosign, keeping cosigned notes, counting them on verify.

The witness protocol itself (the cosignature format, the witness's own state and its HTTP API) is
:mod:`modeltrail.ledger.witness`, which knows no trail; this module applies it to one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModeltrailError, SignatureError
from ..ledger.note import verify_checkpoint
from ..ledger.witness import Witness, WitnessConflict, WitnessKey, build_request, count_cosignatures, write_atomic

if TYPE_CHECKING:
    from ..trail import Trail
    from .rules import PolicyInForce


def cosign_with(trail: Trail, witness: Witness) -> str:
    """Ask ``witness`` to cosign ``trail``'s latest checkpoint; returns the note with the cosignature.

    Starts from the size the witness reports (retrying once on a conflict). The cosigned note is kept in
    ``<trail>/keys/cosigned/`` so that ``verify --witness`` can check it.
    """
    cp = trail.latest_checkpoint()
    if cp is None:
        cp = trail.checkpoint()
    old = witness.last(trail.origin)[0]
    for _ in range(2):
        proof: list[bytes] = []
        if 0 < old < cp.size:  # a log smaller than what the witness cosigned sends no proof: it is refused
            proof = list(trail.consistency_proof(old, cp.size).hashes)
        try:
            line = witness.add_checkpoint(build_request(old, proof, cp.note))
            break
        except WitnessConflict as exc:
            old = exc.size
    else:
        raise ModeltrailError("the witness kept answering with a conflict")
    cosigned = cp.note + line
    store_cosigned(trail, witness.name, cosigned)
    return cosigned


def store_cosigned(trail: Trail, name: str, note: str) -> Path:
    """Keep a cosigned checkpoint note under ``<trail>/keys/cosigned/<witness>.note``."""
    d = Path(trail.keys_dir) / "cosigned"
    d.mkdir(mode=0o700, exist_ok=True)
    path = d / f"{hashlib.sha256(name.encode()).hexdigest()[:16]}.note"
    write_atomic(path, note.encode())
    return path


def cosigned_notes(trail: Trail) -> list[str]:
    """Every cosigned checkpoint note kept for ``trail``."""
    d = Path(trail.keys_dir) / "cosigned"
    return [p.read_text(encoding="utf-8") for p in sorted(d.glob("*.note"))] if d.is_dir() else []


def check_witnesses(trail: Trail, witnesses: Sequence[WitnessKey], required: int) -> list[str]:
    """Problems with the witness cosignatures: fewer than ``required`` of ``witnesses`` cosigned a checkpoint
    that is consistent with the log (the note itself is checked against the log by ``verify``)."""
    # Each witness's cosigned note is kept apart (one file per witness), and may be of another size: a
    # witness counts once it has cosigned any checkpoint of this log (verify checks each note against it).
    cosigned: set[int] = set()
    for note in cosigned_notes(trail):
        try:
            verify_checkpoint(note, trail.verifier_keys())
        except (SignatureError, ModeltrailError):
            continue
        cosigned.update(i for i, w in enumerate(witnesses) if count_cosignatures(note, [w]))
    if len(cosigned) < required:
        return [f"{len(cosigned)} of the required {required} witness cosignature(s) found on a checkpoint of this log"]
    return []


def policy_witness_problems(trail: Trail, policies: Iterable[PolicyInForce]) -> list[tuple[int | None, str]]:
    """(seq of the policy, problem) for each policy in force whose ``witnesses`` requirement the log misses.

    A policy that says ``witnesses: {keys: [...], min: N}`` makes N cosignatures part of what a clean log
    is: ``verify`` and ``audit check`` both report their absence, with no ``--witness`` flag needed.
    """
    out: list[tuple[int | None, str]] = []
    for pif in policies:
        spec = pif.policy.witnesses
        if spec is None:
            continue
        keys = [WitnessKey.parse(k) for k in spec.keys]
        for message in check_witnesses(trail, keys, spec.min):
            out.append((pif.seq, f"the policy of {pif.policy.system} requires witnesses: {message}"))
    return out


__all__ = ["check_witnesses", "cosign_with", "cosigned_notes", "policy_witness_problems", "store_cosigned"]
