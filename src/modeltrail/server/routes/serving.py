"""``/v1/models/…``: predictions through the guard, and the kill switch (suspend, resume)."""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path

from ...errors import ModeltrailError, ValidationError
from ...identity import Identity
from ...registry import resume, suspend
from ...trail import Trail
from ..deps import Auth, State, TrailDep
from ..models import MAX_INT, KillIn, PredictIn, receipt_json

if TYPE_CHECKING:
    from ...runtime.guard import Decision

router = APIRouter()

_SCALARS = (str, int, float, bool, type(None))


@router.post("/v1/models/{name}/{version}/predict")
def predict(
    name: str, version: Annotated[int, Path(ge=1, le=MAX_INT)], body: PredictIn, who: Auth, state: State
) -> dict[str, Any]:
    """Decide through the guard (data policy, review routing, kill switch); every decision is logged."""
    if body.features is not None:
        rows, where = [body.features], "features"
    elif body.rows:
        rows, where = body.rows, "rows"
    else:
        raise ValidationError("give 'features' or a non-empty 'rows'", field="features")
    for i, row in enumerate(rows):
        for key, value in row.items():
            if not isinstance(value, _SCALARS):
                at = f"{where}.{key}" if where == "features" else f"rows[{i}].{key}"
                raise ValidationError("expected a number, string, boolean or null", field=at)
    g = state.guard(name, version, body.env, who)
    decisions: Sequence[Decision]
    try:
        if body.features is not None:
            decisions = [g.decide(body.features, subject=body.subject)]
        else:
            decisions = g.decide_many(rows, subjects=body.subjects)
    except ModeltrailError:
        raise
    except (ValueError, TypeError) as exc:
        # The model itself refused the input (a string where it needs a number, an unseen category …).
        message = " ".join(str(exc).split())[:300]
        raise ValidationError(f"the model cannot score this input: {message}", field=where) from None
    for d in decisions[-1:]:
        d.durable(timeout=30)
    return {"decisions": [orjson.loads(orjson.dumps(d.to_dict(), default=str)) for d in decisions]}


def kill(trail: Trail, action: Literal["suspend", "resume"], name: str, body: KillIn, who: Identity) -> dict[str, Any]:
    """Suspend or resume ``name`` (or one version of it) through the registry."""
    ref = name if body.version is None else f"{name}@{body.version}"
    fn = suspend if action == "suspend" else resume
    return receipt_json(fn(trail, ref, body.env, actor=who, reason=body.reason))


@router.post("/v1/models/{name}/suspend")
def suspend_model(name: str, body: KillIn, who: Auth, trail: TrailDep) -> dict[str, Any]:
    """Kill switch: every guard of the model falls back within a second (roles.suspend)."""
    return kill(trail, "suspend", name, body, who)


@router.post("/v1/models/{name}/resume")
def resume_model(name: str, body: KillIn, who: Auth, trail: TrailDep) -> dict[str, Any]:
    """Resume a suspended model (roles.resume)."""
    return kill(trail, "resume", name, body, who)
