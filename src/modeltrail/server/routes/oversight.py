"""``/v1/labels`` and ``/v1/review``: ground truth and human review of routed decisions."""

from typing import Any

from fastapi import APIRouter

from ...errors import PermissionDeniedError, ValidationError
from ...runtime.oversight import label, review, review_queue
from ..deps import Auth, TrailDep
from ..models import LabelsIn, ReviewIn, receipt_json

router = APIRouter()


@router.post("/v1/labels")
def labels(body: LabelsIn, who: Auth, trail: TrailDep) -> dict[str, Any]:
    """Ground-truth labels for earlier decisions."""
    receipts = [label(trail, lab.decision_id, lab.actual, actor=who.acting_as()) for lab in body.labels]
    return {"receipts": [receipt_json(r) for r in receipts]}


@router.get("/v1/review")
def review_list(
    who: Auth, trail: TrailDep, model: str | None = None, status: str = "pending", limit: int = 100
) -> dict[str, Any]:
    """The human-review queue."""
    items = review_queue(trail, model=model, status=status)[: max(1, min(limit, 1000))]
    return {"items": [i.to_dict() for i in items]}


@router.post("/v1/review/{decision_id}")
def review_decide(decision_id: str, body: ReviewIn, who: Auth, trail: TrailDep) -> dict[str, Any]:
    """Accept or override a routed decision (humans only)."""
    if who.kind != "human":
        raise PermissionDeniedError("reviews are made by people, not by services")
    # Exactly one of: accept=true, or an override value (accept=false alone is not a review).
    if (body.accept is True) == (body.override is not None):
        raise ValidationError("give either accept=true or an override value", field="accept")
    if body.accept:
        r = review(trail, decision_id, actor=who.acting_as(), accept=True, reason=body.reason)
    else:
        r = review(trail, decision_id, actor=who.acting_as(), override=body.override, reason=body.reason)
    return receipt_json(r)
