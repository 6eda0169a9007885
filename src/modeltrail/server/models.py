"""Request and response bodies of the HTTP API (pydantic models; their JSON schemas are the OpenAPI ones)."""

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from ..events import Receipt

MAX_INT = 2**63 - 1
"""Largest sequence number, tree size or version accepted (a signed 64-bit integer, as stored)."""

Seq = Annotated[int, Path(ge=0, le=MAX_INT, description="Sequence number of an event (0-based).")]


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


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
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


def receipt_json(r: Receipt) -> dict[str, Any]:
    """The JSON form of a :class:`~modeltrail.events.Receipt` (``seq``, ``leaf_hash``, ``ts``)."""
    return {"seq": r.seq, "leaf_hash": r.leaf_hash, "ts": r.ts}
