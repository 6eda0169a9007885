"""The ledger event: its fields, validation, and its canonical leaf encoding.

An event is ``{v, seq, ts, type, system, actor{id, role, kind}, subject, refs[], payload{}, sealed{}}``
(DESIGN §1). Callers supply everything but ``v``, ``seq`` and ``ts``, which the ledger assigns when
it appends. The leaf bytes are the RFC 8785 canonical JSON of the whole event; see
``docs/ledger-format.md`` for the normative description.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import ValidationError
from .ledger import encoding

FORMAT_VERSION = 1
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024

#: The event vocabulary (DESIGN §1) that features, documents and auditors rely on. Other well-formed
#: dotted names are accepted so that integrations can add their own types.
KNOWN_TYPES: frozenset[str] = frozenset(
    {
        "trail.initialized",
        "key.rotated",
        "checkpoint.taken",
        "system.classified",
        "policy.registered",
        "run.started",
        "run.params",
        "run.metrics",
        "run.ended",
        "dataset.registered",
        "model.registered",
        "model.imported",
        "report.generated",
        "gate.evaluated",
        "model.approved",
        "model.approval_refused",
        "model.rejected",
        "model.approval_revoked",
        "model.deployed",
        "model.suspended",
        "model.resumed",
        "model.retired",
        "model.break_glass",
        "inference.decision",
        "inference.label",
        "oversight.reviewed",
        "oversight.overridden",
        "oversight.revealed",
        "monitor.alert",
        "doc.generated",
        "retention.purged",
        "subject.erased",
    }
)

ACTOR_KINDS = ("human", "service", "system")

_TYPE_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_SYSTEM_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")
_ROLE_RE = re.compile(r"[a-z][a-z0-9_\-]{0,63}")
_REF_RE = re.compile(r"[a-z][a-z0-9_\-]*:\S{1,500}")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused an event: an identifier, the role they acted in, and whether a human or a service."""

    id: str
    role: str
    kind: str = "human"

    def to_dict(self) -> dict[str, str]:
        """The JSON form stored in the event."""
        return {"id": self.id, "kind": self.kind, "role": self.role}


SYSTEM_ACTOR = Actor(id="modeltrail", role="system", kind="system")


@dataclass(frozen=True, slots=True)
class EventInput:
    """An event as a caller submits it (the ledger adds ``v``, ``seq`` and ``ts``)."""

    type: str
    system: str
    actor: Actor | Mapping[str, str]
    subject: str | None = None
    payload: Mapping[str, Any] | None = None
    refs: Sequence[str] | None = None
    sealed: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """Acknowledgement of a durable append: position, leaf hash (hex) and ledger timestamp."""

    seq: int
    leaf_hash: str
    ts: str


@dataclass(frozen=True, slots=True)
class Event:
    """An event read back from the ledger, with its exact leaf bytes and leaf hash."""

    seq: int
    ts: str
    type: str
    system: str
    actor: Actor
    subject: str | None
    payload: dict[str, Any]
    refs: list[str]
    sealed: dict[str, Any]
    leaf: bytes = field(repr=False)
    leaf_hash: bytes = field(repr=False)
    v: int = FORMAT_VERSION

    @classmethod
    def from_leaf(cls, leaf: bytes, leaf_hash: bytes) -> Event:
        """Decode leaf bytes (does not check the hash; :mod:`modeltrail.ledger.verify` does)."""
        d = json.loads(leaf)
        a = d["actor"]
        return cls(
            seq=d["seq"],
            ts=d["ts"],
            type=d["type"],
            system=d["system"],
            actor=Actor(id=a["id"], role=a["role"], kind=a["kind"]),
            subject=d["subject"],
            payload=d["payload"],
            refs=d["refs"],
            sealed=d["sealed"],
            leaf=leaf,
            leaf_hash=leaf_hash,
            v=d["v"],
        )

    def to_dict(self) -> dict[str, Any]:
        """The decoded event as a plain dictionary (the JSON object of the leaf)."""
        return {
            "v": self.v,
            "seq": self.seq,
            "ts": self.ts,
            "type": self.type,
            "system": self.system,
            "actor": self.actor.to_dict(),
            "subject": self.subject,
            "refs": list(self.refs),
            "payload": self.payload,
            "sealed": self.sealed,
        }


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """A validated event whose variable parts are already canonical JSON text.

    Everything but ``seq`` and ``ts`` is encoded outside the ledger's write lock, so the critical
    section only concatenates strings and hashes.
    """

    type: str
    system: str
    subject: str | None
    actor_id: str
    head: str  # '{"actor":…,"payload":…,"refs":…,"sealed":…,"seq":'
    mid: str  # ',"subject":…,"system":…,"ts":'
    end: str  # ',"type":…,"v":1}'

    def leaf(self, seq: int, ts: str) -> bytes:
        """The canonical leaf bytes for this event at position ``seq`` with timestamp ``ts``."""
        return f'{self.head}{seq}{self.mid}"{ts}"{self.end}'.encode()


def _actor(value: Actor | Mapping[str, str], field_name: str) -> Actor:
    if isinstance(value, Actor):
        a = value
    elif isinstance(value, Mapping):
        unknown = set(value) - {"id", "role", "kind"}
        if unknown:
            raise ValidationError(
                f"unknown keys {sorted(unknown)}; expected id, role, kind", field=field_name
            )
        if "id" not in value or "role" not in value:
            raise ValidationError(
                "expected an object with 'id' and 'role' (and optional 'kind')", field=field_name
            )
        a = Actor(id=value["id"], role=value["role"], kind=value.get("kind", "human"))
    else:
        raise ValidationError(f"expected an Actor or a mapping, got {type(value).__name__}", field=field_name)
    if not isinstance(a.id, str) or not a.id.strip() or len(a.id) > 200:
        raise ValidationError(
            "expected a non-empty string of at most 200 characters", field=f"{field_name}.id"
        )
    encoding.validate(a.id, f"{field_name}.id")
    if not isinstance(a.role, str) or not _ROLE_RE.fullmatch(a.role):
        raise ValidationError(
            f"expected a lower-case role name like 'data_scientist', got {a.role!r}",
            field=f"{field_name}.role",
        )
    if a.kind not in ACTOR_KINDS:
        raise ValidationError(
            f"expected one of {', '.join(ACTOR_KINDS)}, got {a.kind!r}", field=f"{field_name}.kind"
        )
    return a


def prepare(
    event: EventInput, *, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES, where: str = ""
) -> PreparedEvent:
    """Validate an event input and pre-encode it; raises :class:`ValidationError` naming the field."""
    p = where
    if not isinstance(event.type, str) or not _TYPE_RE.fullmatch(event.type) or len(event.type) > 128:
        raise ValidationError(
            f"expected a dotted lower-case name like 'model.registered', got {event.type!r}", field=f"{p}type"
        )
    if not isinstance(event.system, str) or not _SYSTEM_RE.fullmatch(event.system):
        raise ValidationError(
            f"expected a system name of letters, digits, '.', '_' or '-' (max 128), got {event.system!r}",
            field=f"{p}system",
        )
    actor = _actor(event.actor, f"{p}actor")
    subject = event.subject
    if subject is not None:
        if not isinstance(subject, str) or not subject or len(subject) > 512:
            raise ValidationError(
                "expected a non-empty string of at most 512 characters or null", field=f"{p}subject"
            )
        encoding.validate(subject, f"{p}subject")
    payload = {} if event.payload is None else event.payload
    if not isinstance(payload, Mapping):
        raise ValidationError(f"expected a JSON object, got {type(payload).__name__}", field=f"{p}payload")
    payload_json = encoding.canonical(payload, f"{p}payload")
    if len(payload_json) > max_payload_bytes or len(payload_json.encode()) > max_payload_bytes:
        raise ValidationError(
            f"encoded payload is {len(payload_json.encode())} bytes, over the limit of {max_payload_bytes}; "
            "store large content as a blob and reference its sha256",
            field=f"{p}payload",
        )
    refs = [] if event.refs is None else event.refs
    if isinstance(refs, str) or not isinstance(refs, Sequence):
        raise ValidationError("expected a list of reference strings like 'event:12'", field=f"{p}refs")
    if len(refs) > 10_000:
        raise ValidationError("at most 10000 references", field=f"{p}refs")
    for i, r in enumerate(refs):
        if not isinstance(r, str) or not _REF_RE.fullmatch(r):
            raise ValidationError(
                f"expected '<kind>:<id>' such as 'event:12' or 'blob:sha256:<hex>', got {r!r}",
                field=f"{p}refs[{i}]",
            )
    sealed = {} if event.sealed is None else event.sealed
    if not isinstance(sealed, Mapping):
        raise ValidationError(f"expected a JSON object, got {type(sealed).__name__}", field=f"{p}sealed")
    for name, ref in sealed.items():
        if not isinstance(ref, Mapping) or not isinstance(ref.get("key_id"), str):
            raise ValidationError("expected {alg, key_id, sha256}", field=f"{p}sealed.{name}")
        if not isinstance(ref.get("sha256"), str) or not _HEX64_RE.fullmatch(ref["sha256"]):
            raise ValidationError("expected 64 lower-case hex characters", field=f"{p}sealed.{name}.sha256")
    sealed_json = encoding.canonical(sealed, f"{p}sealed")
    head = (
        '{"actor":'
        + encoding.canonical(actor.to_dict(), f"{p}actor")
        + ',"payload":'
        + payload_json
        + ',"refs":'
        + encoding.sequence_of_str(refs)
        + ',"sealed":'
        + sealed_json
        + ',"seq":'
    )
    mid = (
        ',"subject":'
        + ("null" if subject is None else encoding.json_string(subject))
        + ',"system":'
        + encoding.json_string(event.system)
        + ',"ts":'
    )
    end = ',"type":' + encoding.json_string(event.type) + f',"v":{FORMAT_VERSION}}}'
    return PreparedEvent(
        type=event.type,
        system=event.system,
        subject=subject,
        actor_id=actor.id,
        head=head,
        mid=mid,
        end=end,
    )


def format_ts(dt: datetime) -> str:
    """RFC 3339 UTC timestamp with microseconds, e.g. ``2026-11-25T06:17:47.123456Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: str, field_name: str = "ts") -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp (a naive one is taken as UTC)."""
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"expected an ISO 8601 timestamp like 2026-11-25T06:00:00Z, got {value!r}", field=field_name
        ) from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
