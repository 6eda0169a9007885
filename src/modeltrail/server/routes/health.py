"""``/v1/health``: liveness, without authentication."""

from typing import Any

from fastapi import APIRouter

from ...version import __version__
from ..deps import TrailDep

router = APIRouter()


@router.get("/v1/health")
def health(trail: TrailDep) -> dict[str, Any]:
    """Liveness: the trail opens and reports its size (no authentication)."""
    return {"status": "ok", "version": __version__, "size": trail.size()}
