"""The HTTP API (``modeltrail serve``): a thin FastAPI layer over the library.

Every route authenticates with ``Authorization: Bearer <token>`` (tokens from ``modeltrail token
create``; only their hashes are stored) except ``/v1/health`` and the OpenAPI document. Authorisation is
the library's: the same roles, four-eyes and kill-switch rules as the CLI. Errors are JSON
(``{"error": …, "field": …}``) with a message naming the field; internal errors return only an id that is
logged server-side.
"""

import logging
import threading
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any, Literal

import orjson
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    ApprovalError,
    GateFailedError,
    LifecycleError,
    ModeltrailError,
    NotFoundError,
    PermissionDeniedError,
    SuspendedError,
    ValidationError,
)
from ..events import Actor, EventInput, PreparedEvent, prepare
from ..identity import Identity, resolve_identity
from ..ledger.gcpause import gc_paused
from ..policy import Policy
from ..trail import Trail, open_trail
from ..version import __version__

log = logging.getLogger("modeltrail.server")

DEFAULT_MAX_BODY = 10 * 1024 * 1024
MAX_INT = 2**63 - 1
"""Largest sequence number, tree size or version accepted (a signed 64-bit integer, as stored)."""
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Unauthorized(Exception):
    pass


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 before the app reads more than ``limit`` bytes (declared or streamed)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _too_large(send, self.limit)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await _too_large(send, self.limit)


async def _too_large(send: Send, limit: int) -> None:
    body = orjson.dumps({"error": f"request body over the limit of {limit} bytes"})
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------------------- models


class ErrorOut(BaseModel):
    """An error: a message and, for invalid input, the field it is about (``events[3].type``); internal
    errors carry only an id to find the server-side log entry."""

    error: str
    field: str | None = None
    id: str | None = None


class ActorIn(BaseModel):
    """The actor an event claims: it must be the authenticated identity, in a role it holds."""

    model_config = ConfigDict(extra="forbid")

    id: str
    role: str | None = None
    kind: str | None = None


class EventIn(BaseModel):
    """One event to append; the actor defaults to the authenticated identity in its first role."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(max_length=128, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", examples=["run.metrics"])
    system: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$", examples=["credit-scoring"])
    subject: str | None = Field(default=None, min_length=1, max_length=512)
    payload: dict[str, Any] = Field(default_factory=dict)
    refs: list[str] = Field(default_factory=list, max_length=10_000)
    actor: ActorIn | None = None


class EventBatch(BaseModel):
    """A batch appended atomically."""

    events: list[EventIn]


class ReceiptOut(BaseModel):
    """Acknowledgement of a durable append."""

    seq: int
    leaf_hash: str
    ts: str


class BatchOut(BaseModel):
    """Receipts of a batch, in order."""

    receipts: list[ReceiptOut]


class PredictIn(BaseModel):
    """One input (``features``) or several (``rows``), with optional data-subject references."""

    features: dict[str, Any] | None = None
    rows: list[dict[str, Any]] | None = None
    subject: str | None = None
    subjects: list[str | None] | None = None
    env: str = "production"


class LabelIn(BaseModel):
    """Ground truth for one decision."""

    decision_id: str
    actual: Any


class LabelsIn(BaseModel):
    """Ground truth for several decisions."""

    labels: list[LabelIn]


class ReviewIn(BaseModel):
    """A human review: ``accept: true``, or ``override`` with a (non-null) value; a reason is required."""

    accept: bool | None = None
    override: Any = None
    reason: str


class KillIn(BaseModel):
    """Suspend or resume a model (or one version) in an environment."""

    env: str
    reason: str
    version: int | None = Field(default=None, ge=1, le=MAX_INT)


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its ``$defs`` substituted in place (for an operation's ``openapi_extra``)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    out: dict[str, Any] = resolve(schema)
    return out


_EVENT_KEYS = frozenset(EventIn.model_fields)
_ACTOR_KEYS = frozenset(ActorIn.model_fields)
_SCALARS = (str, int, float, bool, type(None))
Seq = Annotated[int, Path(ge=0, le=MAX_INT, description="Sequence number of an event (0-based).")]


# ------------------------------------------------------------------------------------------ app


def create_app(
    trail_location: str | None = None,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    decision_writer: Literal["thread", "process"] = "thread",
) -> Any:
    """Build the ASGI app serving the trail at ``trail_location`` (default: as ``modeltrail.open``).

    ``decision_writer`` chooses how the predictions' decisions reach the ledger: the logger's writer
    thread, or a child process (``DecisionLogger(writer="process")``, smaller latency tail).
    """
    if decision_writer not in ("thread", "process"):
        raise ValidationError(f"expected 'thread' or 'process', got {decision_writer!r}", field="decision_writer")
    app = FastAPI(
        title="modeltrail",
        version=__version__,
        description="Tamper-evident audit trail for machine-learning systems: events, proofs, oversight.",
        responses={
            "4XX": {"model": ErrorOut, "description": "Refused: what is wrong and, for invalid input, the field"},
            "5XX": {"model": ErrorOut, "description": "Internal error (an id to find the log entry), or 503 suspended"},
        },
    )
    state: dict[str, Any] = {"trail": None, "guards": {}, "policy": (None, None), "logger": None}
    lock = threading.RLock()
    bearer = HTTPBearer(auto_error=False, description="An API token from `modeltrail token create`.")

    def trail() -> Trail:
        with lock:
            if state["trail"] is None:
                state["trail"] = open_trail(trail_location)
            t: Trail = state["trail"]
            return t

    def policy_or_none() -> Policy | None:
        """The policy in force; parsed once per registered version (a single-row read per request)."""
        from ..registry import stored_policy

        t = trail()
        latest = next(iter(t.events("policy.registered", descending=True, limit=1)), None)
        cached_seq, cached = state["policy"]
        if latest is not None and cached is not None and latest.seq == cached_seq:
            hit: Policy = cached
            return hit
        try:
            sp = stored_policy(t)
        except NotFoundError:
            return None
        if sp.seq is not None:
            state["policy"] = (sp.seq, sp.policy)
        return sp.policy

    def identity(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Identity:
        header = request.headers.get("authorization", "")
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Unauthorized("missing bearer token")
        try:
            return resolve_identity(trail(), policy_or_none(), token=token.strip())
        except PermissionDeniedError as exc:
            raise _Unauthorized(str(exc)) from None

    Auth = Annotated[Identity, Depends(identity)]

    @app.exception_handler(_Unauthorized)
    async def unauthorized(_: Request, exc: _Unauthorized) -> JSONResponse:
        return JSONResponse({"error": f"authentication required: {exc}"}, 401, {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Unknown paths (404) and methods (405) answer in the same JSON shape as every other error.
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse({"error": first.get("msg", "invalid request"), "field": field or None}, 422)

    @app.exception_handler(ModeltrailError)
    async def library_error(_: Request, exc: ModeltrailError) -> JSONResponse:
        status = 400
        if isinstance(exc, ValidationError):
            return JSONResponse({"error": exc.reason, "field": exc.field}, 422)
        if isinstance(exc, PermissionDeniedError):
            status = 403
        elif isinstance(exc, NotFoundError):
            status = 404
        elif isinstance(exc, ApprovalError | GateFailedError | LifecycleError):
            status = 409
        elif isinstance(exc, SuspendedError):
            status = 503
        return JSONResponse({"error": str(exc)}, status)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex
        log.exception("internal error %s on %s %s", error_id, request.method, request.url.path)
        return JSONResponse({"error": "internal error", "id": error_id}, 500)

    # -- health ----------------------------------------------------------------------------------

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        """Liveness: the trail opens and reports its size (no authentication)."""
        return {"status": "ok", "version": __version__, "size": trail().size()}

    # -- events -----------------------------------------------------------------------------------

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

    def ingest_batch(raw: bytes, who: Identity) -> bytes:
        """Parse, validate and append a request body (a worker thread: appends from concurrent requests
        share a commit)."""
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValidationError(f"expected a JSON object: {exc}", field="body") from None
        events = body.get("events") if type(body) is dict else None
        if type(events) is not list:
            raise ValidationError("expected {'events': [ … ]}", field="events")
        t = trail()
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

    @app.post(
        "/v1/events",
        response_model=BatchOut,
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": _inline_schema(EventBatch)}}}
        },
    )
    async def ingest(request: Request, who: Auth) -> Response:
        """Append a batch of events atomically (all or none); returns the receipts once durable."""
        raw = await request.body()
        return Response(await run_in_threadpool(ingest_batch, raw, who), media_type="application/json")

    @app.get("/v1/events")
    def list_events(
        who: Auth,
        type: str | None = None,
        subject: str | None = None,
        after_seq: Annotated[int, Query(ge=-1, le=MAX_INT)] = -1,
        limit: int = 100,
    ) -> dict[str, Any]:
        """Events in seq order after ``after_seq`` (page with the last seq returned)."""
        limit = max(1, min(limit, 1000))
        events = list(trail().events(type, subject=subject, after_seq=after_seq, limit=limit))
        return {
            "events": [{"seq": e.seq, "leaf_hash": e.leaf_hash.hex(), "event": e.to_dict()} for e in events],
            "next_after_seq": events[-1].seq if events else None,
        }

    @app.get("/v1/events/{seq}")
    def get_event(seq: Seq, who: Auth) -> dict[str, Any]:
        """One event with its leaf hash."""
        e = trail().get_event(seq)
        return {"seq": e.seq, "leaf_hash": e.leaf_hash.hex(), "event": e.to_dict()}

    # -- checkpoints, proofs, verification -------------------------------------------------------------

    @app.post("/v1/checkpoint")
    def checkpoint(who: Auth) -> dict[str, Any]:
        """Sign a checkpoint of the current tree head."""
        cp = trail().checkpoint()
        return {"id": cp.id, "size": cp.size, "root": cp.root.hex(), "note": cp.note, "ts": cp.ts}

    @app.get("/v1/checkpoint/latest")
    def latest_checkpoint(who: Auth) -> dict[str, Any]:
        """The latest signed checkpoint."""
        cp = trail().latest_checkpoint()
        if cp is None:
            raise NotFoundError("no checkpoint yet")
        return {"id": cp.id, "size": cp.size, "root": cp.root.hex(), "note": cp.note, "ts": cp.ts}

    @app.get("/v1/proofs/inclusion/{seq}")
    def inclusion(seq: Seq, who: Auth, size: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None) -> dict[str, Any]:
        """RFC 9162 inclusion proof of event ``seq`` (default: against the latest checkpoint)."""
        return trail().inclusion_proof(seq, size).to_dict()

    @app.get("/v1/proofs/consistency")
    def consistency(
        old: Annotated[int, Query(ge=1, le=MAX_INT)],
        who: Auth,
        new: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    ) -> dict[str, Any]:
        """RFC 9162 consistency proof between two tree sizes."""
        return trail().consistency_proof(old, new).to_dict()

    @app.get("/v1/verify")
    def verify(who: Auth) -> dict[str, Any]:
        """Recompute and check every event, node, checkpoint root and signature."""
        result: dict[str, Any] = trail().verify().to_dict()
        return result

    # -- serving and oversight --------------------------------------------------------------------

    def guard_for(name: str, version: int, env: str, who: Identity) -> Any:
        from ..runtime.guard import guard

        key = (name, version, env, who.user_id)
        with lock:
            g = state["guards"].get(key)
            if g is None:
                if decision_writer == "process" and state["logger"] is None:
                    from ..runtime.logger import DecisionLogger

                    state["logger"] = DecisionLogger(trail(), writer="process")  # closed with the trail
                g = guard(trail(), f"{name}@{version}", env=env, actor=who.acting_as(), logger=state["logger"])
                state["guards"][key] = g
            return g

    @app.post("/v1/models/{name}/{version}/predict")
    def predict(
        name: str, version: Annotated[int, Path(ge=1, le=MAX_INT)], body: PredictIn, who: Auth
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
        g = guard_for(name, version, body.env, who)
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

    @app.post("/v1/labels")
    def labels(body: LabelsIn, who: Auth) -> dict[str, Any]:
        """Ground-truth labels for earlier decisions."""
        from ..runtime.oversight import label

        receipts = [label(trail(), lab.decision_id, lab.actual, actor=who.acting_as()) for lab in body.labels]
        return {"receipts": [{"seq": r.seq, "leaf_hash": r.leaf_hash, "ts": r.ts} for r in receipts]}

    @app.get("/v1/review")
    def review_list(who: Auth, model: str | None = None, status: str = "pending", limit: int = 100) -> dict[str, Any]:
        """The human-review queue."""
        from ..runtime.oversight import review_queue

        items = review_queue(trail(), model=model, status=status)[: max(1, min(limit, 1000))]
        return {"items": [i.to_dict() for i in items]}

    @app.post("/v1/review/{decision_id}")
    def review_decide(decision_id: str, body: ReviewIn, who: Auth) -> dict[str, Any]:
        """Accept or override a routed decision (humans only)."""
        from ..runtime.oversight import review

        if who.kind != "human":
            raise PermissionDeniedError("reviews are made by people, not by services")
        # Exactly one of: accept=true, or an override value (accept=false alone is not a review).
        if (body.accept is True) == (body.override is not None):
            raise ValidationError("give either accept=true or an override value", field="accept")
        kw: dict[str, Any] = {"accept": True} if body.accept else {"override": body.override}
        r = review(trail(), decision_id, actor=who.acting_as(), reason=body.reason, **kw)
        return {"seq": r.seq, "leaf_hash": r.leaf_hash, "ts": r.ts}

    def kill(action: str, name: str, body: KillIn, who: Identity) -> dict[str, Any]:
        from ..registry import resume, suspend

        ref = name if body.version is None else f"{name}@{body.version}"
        fn = suspend if action == "suspend" else resume
        r = fn(trail(), ref, body.env, actor=who, reason=body.reason)
        return {"seq": r.seq, "leaf_hash": r.leaf_hash, "ts": r.ts}

    @app.post("/v1/models/{name}/suspend")
    def suspend_model(name: str, body: KillIn, who: Auth) -> dict[str, Any]:
        """Kill switch: every guard of the model falls back within a second (roles.suspend)."""
        return kill("suspend", name, body, who)

    @app.post("/v1/models/{name}/resume")
    def resume_model(name: str, body: KillIn, who: Auth) -> dict[str, Any]:
        """Resume a suspended model (roles.resume)."""
        return kill("resume", name, body, who)

    return BodyLimit(app, max_body_bytes) if max_body_bytes else app


def fastapi_app(app: Any) -> FastAPI:
    """The FastAPI object inside what :func:`create_app` returns (for its OpenAPI document)."""
    inner = app.app if isinstance(app, BodyLimit) else app
    assert isinstance(inner, FastAPI)
    return inner
