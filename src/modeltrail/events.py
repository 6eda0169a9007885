"""The ledger event: its fields, validation, and its canonical leaf encoding.

An event is ``{v, seq, ts, type, system, actor{id, role, kind}, subject, refs[], payload{}, sealed{}}``
(DESIGN §1). Callers supply everything but ``v``, ``seq`` and ``ts``, which the ledger assigns when
it appends. The leaf bytes are the RFC 8785 canonical JSON of the whole event; see
``docs/ledger-format.md`` for the normative description.
"""

from __future__ import annotations

import json
import re
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, overload

from .errors import ValidationError
from .ledger import encoding
from .ledger import leaf as leaf_format
from .ledger.leaf import LeafGroup, LeafRows, build_leaves

FORMAT_VERSION = leaf_format.FORMAT_VERSION
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024

#: The event vocabulary (DESIGN §1) that features, documents and auditors rely on. Other well-formed
#: dotted names are accepted so that integrations can add their own types.
KNOWN_TYPES: frozenset[str] = frozenset(
    {
        "trail.initialized",
        "key.rotated",
        "key.rotation_refused",
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
        "model.action_refused",
        "inference.decision",
        "inference.skipped",
        "inference.label",
        "oversight.reviewed",
        "oversight.overridden",
        "oversight.revealed",
        "oversight.reveal_refused",
        "token.created",
        "token.revoked",
        "token.refused",
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


class Receipt(NamedTuple):
    """Acknowledgement of a durable append: position, leaf hash (hex) and ledger timestamp."""

    seq: int
    leaf_hash: str
    ts: str


def checked_index(index: int, length: int) -> int:
    """``index`` of a sequence of ``length`` items as a position from 0; IndexError when out of range.

    For the lazy sequences (receipts, batches, decisions) that build their items when read.
    """
    position = index + length if index < 0 else index
    if not 0 <= position < length:
        raise IndexError(index)
    return position


class LazyReceipts(Sequence[Receipt]):
    """Receipts of consecutive events appended in one transaction, each built only when read.

    Subclasses say how to build the receipt at a position (:meth:`_at`) and how to take a sub-range
    (:meth:`_range`); indexing, negative indexes and slices (views, no copy) are shared here.
    """

    __slots__ = ()

    @abstractmethod
    def _at(self, index: int) -> Receipt:
        """The receipt at ``index`` (0 <= index < len(self))."""

    @abstractmethod
    def _range(self, lo: int, hi: int) -> LazyReceipts:
        """The receipts ``lo`` to ``hi`` (0 <= lo <= hi <= len(self)) as a view."""

    @overload
    def __getitem__(self, index: int) -> Receipt: ...

    @overload
    def __getitem__(self, index: slice) -> LazyReceipts: ...

    def __getitem__(self, index: int | slice) -> Receipt | LazyReceipts:
        n = len(self)
        if isinstance(index, slice):
            lo, hi, step = index.indices(n)
            if step != 1:
                raise ValueError("receipt slices take no step")
            return self._range(lo, max(lo, hi))
        return self._at(checked_index(index, n))


class Receipts(LazyReceipts):
    """Receipts of one transaction from the first sequence number, the timestamp and the leaf hashes.

    Building a :class:`Receipt` tuple per event cost the ledger writer about 0.4 µs per event, for
    receipts that most callers of a batch append never look at one by one.
    """

    __slots__ = ("_hexes", "_n", "_seq", "_start", "_ts")

    def __init__(self, seq: int, ts: str, hexes: str, start: int = 0, n: int | None = None) -> None:
        """``hexes``: the leaf hashes of events ``seq, seq+1, ...`` as 64 hex digits each."""
        self._seq, self._ts, self._hexes, self._start = seq, ts, hexes, start
        self._n = len(hexes) // 64 - start if n is None else n

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"Receipts(seq={self.first_seq}, n={self._n}, ts={self._ts!r})"

    @property
    def first_seq(self) -> int:
        """The sequence number of the first event (meaningless when empty)."""
        return self._seq + self._start

    @property
    def ts(self) -> str:
        """The ledger timestamp shared by every event of the transaction."""
        return self._ts

    def hashes_hex(self) -> str:
        """The leaf hashes of these events, concatenated (64 hex digits each)."""
        return self._hexes[64 * self._start : 64 * (self._start + self._n)]

    def _at(self, index: int) -> Receipt:
        k = self._start + index
        return tuple.__new__(Receipt, (self._seq + k, self._hexes[64 * k : 64 * k + 64], self._ts))

    def _range(self, lo: int, hi: int) -> Receipts:
        return Receipts(self._seq, self._ts, self._hexes, self._start + lo, hi - lo)


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
    purged: bool = False
    """True for an event whose payload a retention purge or an erasure removed (only the indexed columns
    and the leaf hash remain: ``payload``, ``refs`` and ``sealed`` are empty, the subject is gone)."""

    @classmethod
    def purged_stub(cls, seq: int, ts: str, type_: str, system: str, actor_id: str, leaf_hash: bytes) -> Event:
        """The event left of a purged leaf: what the row's indexed columns still say."""
        return cls(seq, ts, type_, system, Actor(actor_id, "unknown", "unknown"), None, {}, [], {}, b"", leaf_hash,
                   purged=True)

    @classmethod
    def from_stored(cls, row: Sequence[Any]) -> Event:
        """Decode a stored row (``EventRow``'s columns); a purged row gives :meth:`purged_stub`."""
        seq, ts, type_, system, _subject, actor_id, leaf, leaf_hash = row
        if not leaf:
            return cls.purged_stub(seq, ts, type_, system, actor_id, bytes(leaf_hash))
        return cls.from_leaf(bytes(leaf), bytes(leaf_hash))

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


class PreparedEvent(NamedTuple):
    """A validated event whose variable parts are already canonical JSON bytes.

    Everything but ``seq`` and ``ts`` is encoded outside the ledger's write lock, so the critical
    section only splices two values in and hashes. ``head`` ends with ``"seq":``, ``mid`` with
    ``"ts":``, and ``end`` holds ``"type"`` and ``"v"`` (keys in RFC 8785 order).
    """

    type: str
    system: str
    subject: str | None
    actor_id: str
    head: bytes
    mid: bytes
    end: bytes

    def leaf(self, seq: int, ts: str) -> bytes:
        """The canonical leaf bytes for this event at position ``seq`` with timestamp ``ts``."""
        return leaf_format.leaf(self.head, seq, self.mid, ts, self.end)


class PreparedEvents(Sequence[PreparedEvent]):
    """Prepared events of any types, systems and actors, appended as one group (a :class:`LeafGroup`)."""

    __slots__ = ("events",)

    def __init__(self, events: Sequence[PreparedEvent]) -> None:
        self.events = events

    def __len__(self) -> int:
        return len(self.events)

    def __repr__(self) -> str:
        return f"PreparedEvents({len(self)} events)"

    @overload
    def __getitem__(self, index: int) -> PreparedEvent: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[PreparedEvent]: ...

    def __getitem__(self, index: int | slice) -> PreparedEvent | Sequence[PreparedEvent]:
        return self.events[index]

    def built_ts(self, first_seq: int, not_before: str | None) -> str | None:
        """Never built ahead: the ledger builds the leaves."""
        return None

    def rows(self, first_seq: int, ts: str) -> Iterator[LeafRows]:
        """The rows at ``first_seq`` and ``ts``: the events transposed in one C-level ``zip``, then built."""
        if not self.events:
            return
        types, systems, subjects, actors, heads, mids, ends = zip(*self.events, strict=True)
        leaves, hashes = build_leaves(heads, mids, ends, first_seq, ts)
        yield LeafRows(types, systems, subjects, actors, leaves, hashes)


def as_group(events: Sequence[PreparedEvent] | LeafGroup) -> LeafGroup:
    """``events`` as a :class:`LeafGroup` (a plain sequence of prepared events is wrapped)."""
    return events if isinstance(events, LeafGroup) else PreparedEvents(events)


def _new_prepared(*fields: Any) -> PreparedEvent:
    # tuple.__new__ skips the NamedTuple's Python-level constructor: one event = one call fewer.
    return tuple.__new__(PreparedEvent, fields)


_HEAD, _MID = leaf_format.HEAD_FORMAT, leaf_format.MID_FORMAT
# Caches of values already validated: names repeat a lot. Each has a bound (a client sending 200,000
# distinct types must not grow the server without limit); past it, values are validated every time.
_CACHE_BOUND = 10_000
_actor_cache: dict[tuple[str, str, str], tuple[str, bytes]] = {}
_ok_types: set[str] = set()
_ok_systems: dict[str, bytes] = {}
_ok_refs: set[str] = set()


def _check_actor(value: Actor | Mapping[str, str], field_name: str) -> tuple[str, bytes]:
    """Validate an actor; return (id, canonical JSON). Results are cached: actors repeat a lot."""
    if isinstance(value, Actor):
        key = (value.id, value.role, value.kind)
    elif isinstance(value, Mapping):
        unknown = set(value) - {"id", "role", "kind"}
        if unknown:
            raise ValidationError(f"unknown keys {sorted(unknown)}; expected id, role, kind", field=field_name)
        if "id" not in value or "role" not in value:
            raise ValidationError("expected an object with 'id' and 'role' (and optional 'kind')", field=field_name)
        key = (value["id"], value["role"], value.get("kind", "human"))
    else:
        raise ValidationError(f"expected an Actor or a mapping, got {type(value).__name__}", field=field_name)
    try:
        hit = _actor_cache.get(key)  # only validated keys are cached, so a hit is a valid actor
    except TypeError:  # a list or object in a field: bad input, reported below
        hit = None
    if hit is not None:
        return hit
    for part, name in zip(key, ("id", "role", "kind"), strict=True):
        if not isinstance(part, str):  # a list or object here is bad input, not an unhashable cache key
            raise ValidationError(f"expected a string, got {type(part).__name__}", field=f"{field_name}.{name}")
    aid, role, kind = key
    if not isinstance(aid, str) or not aid.strip() or len(aid) > 200:
        raise ValidationError("expected a non-empty string of at most 200 characters", field=f"{field_name}.id")
    encoding.validate(aid, f"{field_name}.id")
    if not isinstance(role, str) or not _ROLE_RE.fullmatch(role):
        raise ValidationError(
            f"expected a lower-case role name like 'data_scientist', got {role!r}", field=f"{field_name}.role"
        )
    if kind not in ACTOR_KINDS:
        raise ValidationError(f"expected one of {', '.join(ACTOR_KINDS)}, got {kind!r}", field=f"{field_name}.kind")
    out = (aid, encoding.canonical_bytes({"id": aid, "kind": kind, "role": role}))
    if len(_actor_cache) < _CACHE_BOUND:
        _actor_cache[key] = out
    return out


def prepare(event: EventInput, *, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES, where: str = "") -> PreparedEvent:
    """Validate an event input and pre-encode it; raises :class:`ValidationError` naming the field.

    ``where`` prefixes the field path in errors (``events[3].``); it costs nothing on success.
    """
    try:
        return _prepare(event, max_payload_bytes)
    except ValidationError as exc:
        if not where:
            raise
        raise exc.within(where.rstrip(".")) from None


def _prepare(event: EventInput, max_payload_bytes: int) -> PreparedEvent:
    # Field paths here are relative to the event; prepare() prefixes them only when one fails.
    etype = event.type
    if not isinstance(etype, str) or etype not in _ok_types:
        if not isinstance(etype, str) or len(etype) > 128 or not _TYPE_RE.fullmatch(etype):
            raise ValidationError(
                f"expected a dotted lower-case name like 'model.registered', got {etype!r}", field="type"
            )
        if len(_ok_types) < _CACHE_BOUND:
            _ok_types.add(etype)
    system = event.system
    system_json = _ok_systems.get(system) if isinstance(system, str) else None
    if system_json is None:
        if not isinstance(system, str) or not _SYSTEM_RE.fullmatch(system):
            raise ValidationError(
                f"expected a system name of letters, digits, '.', '_' or '-' (max 128), got {system!r}",
                field="system",
            )
        system_json = encoding.json_string(system)
        if len(_ok_systems) < _CACHE_BOUND:
            _ok_systems[system] = system_json
    actor_id, actor_json = _check_actor(event.actor, "actor")
    subject = event.subject
    if subject is None:
        subject_json = b"null"
    else:
        if not isinstance(subject, str) or not subject or len(subject) > 512:
            raise ValidationError("expected a non-empty string of at most 512 characters or null", field="subject")
        if not subject.isascii():
            encoding.validate(subject, "subject")
        subject_json = encoding.json_string(subject)
    payload = event.payload
    if payload is None:
        payload_json = b"{}"
    else:
        if type(payload) is not dict and not isinstance(payload, Mapping):
            raise ValidationError(f"expected a JSON object, got {type(payload).__name__}", field="payload")
        payload_json = encoding.canonical_bytes(payload, "payload")
        if len(payload_json) > max_payload_bytes:
            raise ValidationError(
                f"encoded payload is {len(payload_json)} bytes, over the limit of {max_payload_bytes}; "
                "store large content as a blob and reference its sha256",
                field="payload",
            )
    refs = event.refs
    if not refs:
        if refs is not None and (isinstance(refs, str) or not isinstance(refs, Sequence)):
            raise ValidationError("expected a list of reference strings like 'event:12'", field="refs")
        refs_json = b"[]"
    else:
        if isinstance(refs, str) or not isinstance(refs, Sequence):
            raise ValidationError("expected a list of reference strings like 'event:12'", field="refs")
        if len(refs) > 10_000:
            raise ValidationError("at most 10000 references", field="refs")
        for i, r in enumerate(refs):
            if isinstance(r, str) and r in _ok_refs:
                continue
            if not isinstance(r, str) or not _REF_RE.fullmatch(r):
                raise ValidationError(
                    f"expected '<kind>:<id>' such as 'event:12' or 'blob:sha256:<hex>', got {r!r}",
                    field=f"refs[{i}]",
                )
            encoding.validate(r, f"refs[{i}]")
            if len(_ok_refs) < 100_000:
                _ok_refs.add(r)
        refs_json = encoding.sequence_of_str(refs)
    sealed = event.sealed
    if not sealed:
        if sealed is not None and not isinstance(sealed, Mapping):
            raise ValidationError(f"expected a JSON object, got {type(sealed).__name__}", field="sealed")
        sealed_json = b"{}"
    else:
        if not isinstance(sealed, Mapping):
            raise ValidationError(f"expected a JSON object, got {type(sealed).__name__}", field="sealed")
        for name, ref in sealed.items():
            if not isinstance(ref, Mapping) or not isinstance(ref.get("key_id"), str):
                raise ValidationError("expected {alg, key_id, sha256}", field=f"sealed.{name}")
            if not isinstance(ref.get("sha256"), str) or not _HEX64_RE.fullmatch(ref["sha256"]):
                raise ValidationError("expected 64 lower-case hex characters", field=f"sealed.{name}.sha256")
        sealed_json = encoding.canonical_bytes(sealed, "sealed")
    return _new_prepared(
        etype,
        system,
        subject,
        actor_id,
        _HEAD % (actor_json, payload_json, refs_json, sealed_json),
        _MID % (subject_json, system_json),
        leaf_format.end_bytes(etype),
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
