"""``/v1/health``: liveness, without authentication."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ...version import __version__
from ..deps import State, TrailDep

router = APIRouter()


@router.get("/v1/health")
def health(trail: TrailDep, state: State) -> Any:
    """Liveness: the trail opens and reports its size (no authentication).

    When the decision writer process has died, predictions cannot be logged (they answer 503): health
    says so with status 503 and the reason, so that a load balancer takes the instance out.
    """
    body: dict[str, Any] = {"status": "ok", "version": __version__, "size": trail.size()}
    problem = state.writer_problem()
    if problem is not None:
        body.update(status="degraded", decision_writer=problem)
        return JSONResponse(body, status_code=503)
    return body
