"""``/v1/events``: append batches of events (as the authenticated identity) and read them back."""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...errors import PermissionDeniedError, ValidationError
from ...events import Actor, EventInput, PreparedEvent, prepare
from ...governance.namespace import refuse_reserved
from ...identity import Identity
from ...ledger import encoding
from ...ledger.gcpause import gc_paused
from ...trail import Trail
from ..deps import Auth, TrailDep
from ..models import MAX_INT, ActorIn, BatchOut, EventBatch, EventIn, Seq, inline_schema

router = APIRouter()

_EVENT_KEYS = frozenset(EventIn.model_fields)
_ACTOR_KEYS = frozenset(ActorIn.model_fields)


def claimed_actor(claimed: Any, who: Identity, i: int) -> Actor:
    """The actor an event names: only the caller, in a role the caller holds (fields relative to the event)."""
    if not isinstance(claimed, dict):
        raise ValidationError("expected an object with 'id' (and optional 'role', 'kind')", field="actor")
    if not claimed.keys() <= _ACTOR_KEYS:
        raise ValidationError(f"unknown keys {sorted(set(claimed) - _ACTOR_KEYS)}", field="actor")
    if claimed.get("id") != who.user_id:
        raise PermissionDeniedError(f"events[{i}].actor: you may only record events as {who.user_id}")
    if claimed.get("kind") not in (None, who.kind):
        raise PermissionDeniedError(f"events[{i}].actor.kind: {who.user_id} is a {who.kind}")
    role = claimed.get("role")
    if role is None or role == who.primary_role:
        return who.acting_as()
    if not isinstance(role, str):
        raise ValidationError("expected a role name", field="actor.role")
    try:
        return who.acting_as(role)
    except PermissionDeniedError as exc:
        raise PermissionDeniedError(f"events[{i}].actor.role: {exc}") from None


def ingest_batch(t: Trail, raw: bytes, who: Identity) -> bytes:
    """Parse, validate and append a request body (a worker thread: appends from concurrent requests
    share a commit)."""
    # Strict: a repeated key or an integer beyond ±(2^53-1) is refused with its path, not silently changed.
    body = encoding.loads_strict(raw)
    events = body.get("events") if type(body) is dict else None
    if type(events) is not list:
        raise ValidationError("expected {'events': [ … ]}", field="events")
    limit = t.config.max_payload_bytes
    actor = who.acting_as()
    prepared: list[PreparedEvent] = []
    add = prepared.append
    i = 0
    try:
        with gc_paused():
            for i, e in enumerate(events):
                if type(e) is not dict:
                    raise ValidationError("expected an event object", field="")
                if not e.keys() <= _EVENT_KEYS:
                    raise ValidationError(f"unknown keys {sorted(set(e) - _EVENT_KEYS)}", field="")
                if "type" not in e or "system" not in e:
                    raise ValidationError("is required", field="type" if "type" not in e else "system")
                # Governance types are written only by the operations that check their rules.
                refuse_reserved(e["type"])
                claimed = e.get("actor")
                ev = EventInput(
                    e["type"],
                    e["system"],
                    actor if claimed is None else claimed_actor(claimed, who, i),
                    e.get("subject"),
                    e.get("payload"),
                    e.get("refs"),
                )
                add(prepare(ev, max_payload_bytes=limit))
    except ValidationError as exc:
        # Field paths are relative to the event; the batch position is added only on failure.
        raise ValidationError(exc.reason, field=f"events[{i}]" + (f".{exc.field}" if exc.field else "")) from None
    receipts = t.append_prepared(prepared)
    return orjson.dumps({"receipts": [{"seq": r.seq, "leaf_hash": r.leaf_hash, "ts": r.ts} for r in receipts]})


@router.post(
    "/v1/events",
    response_model=BatchOut,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": inline_schema(EventBatch)}}}
    },
)
async def ingest(request: Request, who: Auth, trail: TrailDep) -> Response:
    """Append a batch of events atomically (all or none); returns the receipts once durable."""
    # The body is read raw and parsed (strictly, see encoding.loads_strict) in a worker thread: pydantic
    # per event would cost more than the append (the schema above documents the same shape).
    raw = await request.body()
    return Response(await run_in_threadpool(ingest_batch, trail, raw, who), media_type="application/json")


@router.get("/v1/events")
def list_events(
    who: Auth,
    trail: TrailDep,
    type: str | None = None,
    subject: str | None = None,
    after_seq: Annotated[int, Query(ge=-1, le=MAX_INT)] = -1,
    limit: int = 100,
) -> dict[str, Any]:
    """Events in seq order after ``after_seq`` (page with the last seq returned)."""
    limit = max(1, min(limit, 1000))
    events = list(trail.events(type, subject=subject, after_seq=after_seq, limit=limit))
    return {
        "events": [{"seq": e.seq, "leaf_hash": e.leaf_hash.hex(), "event": e.to_dict()} for e in events],
        "next_after_seq": events[-1].seq if events else None,
    }


@router.get("/v1/events/{seq}")
def get_event(seq: Seq, who: Auth, trail: TrailDep) -> dict[str, Any]:
    """One event with its leaf hash."""
    e = trail.get_event(seq)
    return {"seq": e.seq, "leaf_hash": e.leaf_hash.hex(), "event": e.to_dict()}
