"""``/v1/checkpoint``, ``/v1/proofs``, ``/v1/verify``: signed tree heads, RFC 9162 proofs, full verification."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ...errors import NotFoundError
from ...trail import StoredCheckpoint
from ..deps import Auth, TrailDep
from ..models import MAX_INT, Seq

router = APIRouter()


def checkpoint_json(cp: StoredCheckpoint) -> dict[str, Any]:
    """The JSON form of a stored checkpoint (root in hex, as ``modeltrail checkpoint --json``)."""
    return {"id": cp.id, "size": cp.size, "root": cp.root.hex(), "note": cp.note, "ts": cp.ts}


@router.post("/v1/checkpoint")
def checkpoint(who: Auth, trail: TrailDep) -> dict[str, Any]:
    """Sign a checkpoint of the current tree head."""
    return checkpoint_json(trail.checkpoint())


@router.get("/v1/checkpoint/latest")
def latest_checkpoint(who: Auth, trail: TrailDep) -> dict[str, Any]:
    """The latest signed checkpoint."""
    cp = trail.latest_checkpoint()
    if cp is None:
        raise NotFoundError("no checkpoint yet")
    return checkpoint_json(cp)


@router.get("/v1/proofs/inclusion/{seq}")
def inclusion(
    seq: Seq, who: Auth, trail: TrailDep, size: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None
) -> dict[str, Any]:
    """RFC 9162 inclusion proof of event ``seq`` (default: against the latest checkpoint)."""
    return trail.inclusion_proof(seq, size).to_dict()


@router.get("/v1/proofs/consistency")
def consistency(
    old: Annotated[int, Query(ge=1, le=MAX_INT)],
    who: Auth,
    trail: TrailDep,
    new: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
) -> dict[str, Any]:
    """RFC 9162 consistency proof between two tree sizes."""
    return trail.consistency_proof(old, new).to_dict()


@router.get("/v1/verify")
def verify(who: Auth, trail: TrailDep) -> dict[str, Any]:
    """Recompute and check every event, node, checkpoint root and signature."""
    return trail.verify().to_dict()
