"""The canonical leaf bytes of a ledger event, defined once (``docs/ledger-format.md``).

A leaf is the RFC 8785 (JCS) encoding of the event object
``{actor, payload, refs, sealed, seq, subject, system, ts, type, v}``. Every way of producing one (the
validating :func:`modeltrail.events.prepare`, the guard's per-row encoder, its column-wise batch
encoder and the process writer that builds leaves ahead) writes the bytes through a template compiled
here from :data:`EVENT_FIELDS`, so no code anywhere else spells out the layout of a leaf.

A template is an object whose values are either constants (encoded once, canonically) or
:class:`Slot` holes filled later with already canonical bytes. :func:`compile_template` lays the keys
in JCS order and returns the constant text between the holes::

    >>> t = compile_template({"b": Slot("x"), "a": 1})
    >>> t.segments, t.slots
    ([b'{"a":1,"b":', b'}'], ['x'])

The append-time split used by the ledger follows from :data:`EVENT_FIELDS`: everything up to
``"seq":`` is an event's *head*, from there to ``"ts":`` its *mid*, the rest its *end*
(:data:`HEAD_FORMAT`, :data:`MID_FORMAT`, :data:`END_FORMAT`). :func:`build_leaves` splices the
sequence numbers and the timestamp in and hashes (RFC 9162 leaf hash).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from . import encoding

FORMAT_VERSION = 1


class Slot(NamedTuple):
    """A hole in a template, filled with canonical JSON bytes; ``string``: the quotes are in the template."""

    name: str
    string: bool = False


def _jcs_key(key: str) -> bytes:
    # RFC 8785 orders object keys by their UTF-16 code units.
    return key.encode("utf-16-be")


@dataclass(frozen=True, slots=True)
class Template:
    """Constant ``segments`` around the holes ``slots``: bytes = s0 + v1 + s1 + ... + vn + sn."""

    segments: list[bytes]
    slots: list[str]

    def fill(self, values: Mapping[str, bytes]) -> Template:
        """The template with the holes named in ``values`` filled (merged into the constant text)."""
        segments = [self.segments[0]]
        slots: list[str] = []
        for name, seg in zip(self.slots, self.segments[1:], strict=True):
            if name in values:
                segments[-1] += values[name] + seg
            else:
                slots.append(name)
                segments.append(seg)
        return Template(segments, slots)

    def split(self, name: str) -> tuple[Template, Template]:
        """The template before hole ``name`` and after it (the hole itself belongs to neither)."""
        k = self.slots.index(name)
        before = Template([*self.segments[:k], self.segments[k]], self.slots[:k])
        after = Template(self.segments[k + 1 :], self.slots[k + 1 :])
        return before, after

    def format(self) -> bytes:
        """A ``%``-format with one ``%s`` per hole (constants escaped)."""
        return b"%s".join(s.replace(b"%", b"%%") for s in self.segments)

    def render(self, values: Mapping[str, bytes]) -> bytes:
        """The bytes with every hole filled."""
        done = self.fill(values)
        if done.slots:
            raise KeyError(f"no values for {done.slots}")
        return done.segments[0]


def compile_template(obj: Mapping[str, Any]) -> Template:
    """Compile an object of constants, :class:`Slot` holes and nested objects into a :class:`Template`."""
    segments: list[bytes] = [b""]
    slots: list[str] = []

    def emit(value: Any) -> None:
        if isinstance(value, Slot):
            if value.string:
                segments[-1] += b'"'
            slots.append(value.name)
            segments.append(b'"' if value.string else b"")
        elif isinstance(value, Mapping):
            segments[-1] += b"{"
            for i, key in enumerate(sorted(value, key=_jcs_key)):
                segments[-1] += (b"," if i else b"") + encoding.json_string(key) + b":"
                emit(value[key])
            segments[-1] += b"}"
        else:
            segments[-1] += encoding.canonical_bytes(value, "template")

    emit(obj)
    return Template(segments, slots)


#: The event object of a leaf: the holes are the parts that vary from event to event.
EVENT_FIELDS: dict[str, Any] = {
    "v": FORMAT_VERSION,
    "seq": Slot("seq"),
    "ts": Slot("ts", string=True),
    "type": Slot("type", string=True),
    "system": Slot("system"),
    "actor": Slot("actor"),
    "subject": Slot("subject"),
    "refs": Slot("refs"),
    "payload": Slot("payload"),
    "sealed": Slot("sealed"),
}


def event_template(**fields: Any) -> Template:
    """The leaf template with some fields given (constants, :class:`Slot` holes or nested templates).

    The guard's column-wise encoder compiles its ``inference.decision`` events this way.
    """
    unknown = set(fields) - set(EVENT_FIELDS) | ({"seq", "ts", "v"} & set(fields))
    if unknown:
        raise ValueError(f"not event fields a template may set: {sorted(unknown)}")
    return compile_template({**EVENT_FIELDS, **fields})


class LeafParts(NamedTuple):
    """An event template split where the ledger splices ``seq`` and ``ts`` in: head, mid, end."""

    head: Template
    mid: Template
    end: Template


def split_event(template: Template) -> LeafParts:
    """Split an event template at its ``seq`` and ``ts`` holes."""
    head, rest = template.split("seq")
    mid, end = rest.split("ts")
    # The ts hole is a string: its quotes belong to the value the ledger splices in (build_leaves).
    mid = Template([*mid.segments[:-1], mid.segments[-1].removesuffix(b'"')], mid.slots)
    end = Template([end.segments[0].removeprefix(b'"'), *end.segments[1:]], end.slots)
    return LeafParts(head, mid, end)


_EVENT = split_event(compile_template(EVENT_FIELDS))
#: ``HEAD_FORMAT % (actor, payload, refs, sealed)``: an event's head (ends with ``"seq":``).
HEAD_FORMAT = _EVENT.head.format()
#: ``MID_FORMAT % (subject, system)``: an event's mid (ends with ``"ts":``).
MID_FORMAT = _EVENT.mid.format()
#: ``END_FORMAT % type_name``: an event's end (the type's quotes are in the format).
END_FORMAT = _EVENT.end.format()
HEAD_SLOTS, MID_SLOTS, END_SLOTS = _EVENT.head.slots, _EVENT.mid.slots, _EVENT.end.slots
assert HEAD_SLOTS == ["actor", "payload", "refs", "sealed"] and MID_SLOTS == ["subject", "system"]
assert END_SLOTS == ["type"]


def end_bytes(event_type: str) -> bytes:
    """An event's end for ``event_type`` (a validated dotted name: no escaping needed)."""
    return END_FORMAT % event_type.encode()


def leaf(head: bytes, seq: int, mid: bytes, ts: str, end: bytes) -> bytes:
    """The leaf bytes of an event at position ``seq`` with ledger timestamp ``ts``."""
    return b'%s%d%s"%s"%s' % (head, seq, mid, ts.encode(), end)


def leaf_hash(leaf_bytes: bytes) -> bytes:
    """The RFC 9162 leaf hash: SHA-256 of 0x00 and the leaf."""
    return hashlib.sha256(b"\x00" + leaf_bytes).digest()


def build_leaves(
    heads: Sequence[bytes], mids: Sequence[bytes], ends: bytes | Sequence[bytes], first_seq: int, ts: str
) -> tuple[list[bytes], list[bytes]]:
    """The leaves and leaf hashes of events ``first_seq, first_seq + 1, ...`` at ``ts``.

    ``ends``: one end shared by every event, or one per event. One list comprehension per column
    rather than a loop over events: this is the hottest code of every batch append.
    """
    quoted_ts = b'"%s"' % ts.encode()
    seqs = range(first_seq, first_seq + len(heads))
    if isinstance(ends, bytes):
        tail = quoted_ts + ends
        leaves = [b"%s%d%s%s" % (h, s, m, tail) for h, s, m in zip(heads, seqs, mids, strict=True)]
    else:
        leaves = [b"%s%d%s%s%s" % (h, s, m, quoted_ts, e) for h, s, m, e in zip(heads, seqs, mids, ends, strict=True)]
    sha256 = hashlib.sha256
    return leaves, [sha256(b"\x00" + x).digest() for x in leaves]


class LeafRows(NamedTuple):
    """Consecutive events as columns: what the ledger stores of each besides ``seq`` and ``ts``."""

    types: Sequence[str]
    systems: Sequence[str]
    subjects: Sequence[str | None]
    actors: Sequence[str]
    leaves: Sequence[bytes]
    hashes: Sequence[bytes]


@runtime_checkable
class LeafGroup(Protocol):
    """Events the ledger appends as one group: consecutive positions, one timestamp, one receipt list.

    This is all the log (:class:`modeltrail.ledger.log.Log`) knows of what it appends: how many events,
    whether their leaves were built ahead for a position (and for which timestamp), and their rows at
    the position and timestamp the log gives them. How the events were encoded or batched is the
    producer's business (:class:`modeltrail.events.PreparedEvents` for plain events; the runtime's
    column-wise and built-ahead batches).
    """

    def __len__(self) -> int:
        """The number of events."""
        ...

    def built_ts(self, first_seq: int, not_before: str | None) -> str | None:
        """The timestamp the leaves were built for, if they are right at ``first_seq`` after ``not_before``."""
        ...

    def rows(self, first_seq: int, ts: str) -> Iterable[LeafRows]:
        """The events' rows at ``first_seq`` onwards with timestamp ``ts``, in order, in chunks."""
        ...


__all__ = [
    "END_FORMAT",
    "EVENT_FIELDS",
    "FORMAT_VERSION",
    "HEAD_FORMAT",
    "MID_FORMAT",
    "LeafGroup",
    "LeafParts",
    "LeafRows",
    "Slot",
    "Template",
    "build_leaves",
    "compile_template",
    "end_bytes",
    "event_template",
    "leaf",
    "leaf_hash",
    "split_event",
]
