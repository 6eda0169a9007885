"""PreparedBatch and EventParts: column-wise events that behave as sequences of PreparedEvent.

The ledger, the writer process's wire format and the decision logger take them without turning them
into one tuple per event; whatever form the events arrive in, the leaves must be the same bytes.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeltrail.events import EventInput, PreparedEvent, prepare
from modeltrail.runtime._batches import BuiltBatch, EventParts, PreparedBatch
from modeltrail.runtime._writer.process import decode_request, encode_request
from modeltrail.trail import Trail

SVC = {"id": "svc", "role": "inference", "kind": "service"}
TS = "2026-01-01T00:00:00.000000Z"

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)
_payloads = st.dictionaries(_text, st.one_of(st.integers(-1000, 1000), _text, st.none()), max_size=3)


def _batch(payloads: list[dict[str, object]], subjects: list[str | None], type_: str = "x.y") -> PreparedBatch:
    events = [prepare(EventInput(type_, "s", SVC, subj, p)) for p, subj in zip(payloads, subjects, strict=True)]
    return _as_batch(events)


def _as_batch(events: list[PreparedEvent]) -> PreparedBatch:
    first = events[0]
    return PreparedBatch(
        first.type,
        first.system,
        first.actor_id,
        first.end,
        [e.head for e in events],
        [e.mid for e in events],
        [e.subject for e in events],
    )


def test_batch_indexes_and_slices_like_a_list_of_events() -> None:
    events = [prepare(EventInput("x.y", "s", SVC, f"decision:{i}", {"i": i})) for i in range(5)]
    batch = _as_batch(events)
    assert len(batch) == 5
    assert list(batch) == events
    assert batch[0] == events[0] and batch[-1] == events[-1]
    assert isinstance(batch[1:3], PreparedBatch) and list(batch[1:3]) == events[1:3]
    assert list(batch[::-1]) == events[::-1]
    with pytest.raises(IndexError):
        batch[5]
    assert "5 events" in repr(batch)


def test_batch_refuses_columns_of_different_lengths() -> None:
    ev = prepare(EventInput("x.y", "s", SVC, None, {}))
    with pytest.raises(ValueError, match="as many"):
        PreparedBatch(ev.type, ev.system, ev.actor_id, ev.end, [ev.head], [], [None])


def test_parts_index_across_their_parts() -> None:
    events = [prepare(EventInput("x.y", "s", SVC, None, {"i": i})) for i in range(7)]
    parts = EventParts([events[:2], [], _as_batch(events[2:6]), events[6:]])
    assert len(parts) == 7 and len(parts.parts) == 3  # the empty part is dropped
    assert list(parts) == events
    assert [parts[i] for i in range(-7, 7)] == events + events
    assert list(parts[1:5]) == events[1:5]
    for bad in (7, -8):
        with pytest.raises(IndexError):
            parts[bad]
    assert len(EventParts([])) == 0 and list(EventParts([])) == []
    nested = EventParts([parts, events[:1]])  # parts of parts are flattened, not nested
    assert all(type(p) is not EventParts for p in nested.parts) and list(nested) == events + events[:1]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["inference.decision", "x.y"]),
            st.lists(
                st.tuples(_payloads, st.one_of(st.none(), _text.map("decision:".__add__))), min_size=1, max_size=5
            ),
            st.booleans(),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_wire_round_trip_of_mixed_parts(
    groups: list[tuple[str, list[tuple[dict[str, object], str | None]], bool]],
) -> None:
    parts: list[list[PreparedEvent] | PreparedBatch] = []
    flat: list[PreparedEvent] = []
    for type_, rows, columnar in groups:
        events = [prepare(EventInput(type_, "s", SVC, subj, p)) for p, subj in rows]
        flat += events
        parts.append(_as_batch(events) if columnar else events)
    for request, _ in (encode_request(EventParts(parts)), encode_request(EventParts(parts), 5, TS)):
        assert list(decode_request(*request)) == flat


def test_malformed_group_is_refused() -> None:
    ev = prepare(EventInput("x.y", "s", SVC, None, {"a": 1}))
    (meta, leaves, hashes, lens), _ = encode_request([ev], 0, "2026-12-04T10:00:00.000000Z")
    bad = meta.replace(b'"x.y"', b"12345")  # the group's type is no longer a string
    with pytest.raises(ValueError, match="four strings"):
        decode_request(bad, leaves, hashes, lens)


def test_ledger_writes_the_same_leaves_for_every_form(trail: Trail) -> None:
    payloads = [{"i": i, "note": "é" * (i % 3)} for i in range(9)]
    subjects = [f"decision:{i}" if i % 2 else None for i in range(9)]
    events = [prepare(EventInput("x.y", "s", SVC, s, p)) for p, s in zip(payloads, subjects, strict=True)]
    start = trail.size()
    forms: list[list[PreparedEvent] | PreparedBatch | EventParts] = [
        events,
        _as_batch(events),
        EventParts([events[:3], _as_batch(events[3:7]), events[7:]]),
    ]
    for form in forms:
        receipts = trail.append_prepared(form)
        assert len(receipts) == len(events)
        for i, r in enumerate(receipts):
            stored = trail.store.get_event(r.seq)
            assert stored is not None
            assert stored.leaf == events[i].leaf(r.seq, stored.ts)
            assert stored.subject == events[i].subject and stored.type == "x.y"
            assert stored.leaf_hash.hex() == r.leaf_hash
    assert trail.size() == start + 3 * len(events)
    assert trail.verify().ok


def test_logger_keeps_batches_whole_and_records_them(trail: Trail) -> None:
    from modeltrail.runtime import DecisionLogger

    batch = _batch([{"i": i} for i in range(50)], [f"decision:{i}" for i in range(50)])
    single = prepare(EventInput("x.y", "s", SVC, None, {"single": True}))
    with DecisionLogger(trail) as lg:
        pend = lg.submit_batch(batch, [f"d{i}" for i in range(50)])
        one = lg.submit(single)
        lg.flush(30)
        receipts = [p.durable(5) for p in pend]
        assert one.durable(5).seq not in {r.seq for r in receipts}
    for i, r in enumerate(receipts):
        stored = trail.store.get_event(r.seq)
        assert stored is not None and stored.leaf == batch[i].leaf(r.seq, stored.ts)
    assert trail.verify().ok


def test_event_rows_fill_by_column() -> None:
    from modeltrail.ledger.store import EventRows

    rows = EventRows(3)
    for column, value in enumerate((0, "t", "x.y", "s", None, "a", b"leaf0", b"h0")):
        rows.set_column(column, 0, [value])
    for column, values in enumerate(
        [range(1, 3), ["t"] * 2, ["x.y"] * 2, ["s"] * 2, ["d:1", None], ["a"] * 2, [b"leaf1", b"leaf2"], [b"h1", b"h2"]]
    ):
        rows.set_column(column, 1, values)
    assert len(rows) == 3
    assert list(rows) == [
        (0, "t", "x.y", "s", None, "a", b"leaf0", b"h0"),
        (1, "t", "x.y", "s", "d:1", "a", b"leaf1", b"h1"),
        (2, "t", "x.y", "s", None, "a", b"leaf2", b"h2"),
    ]


def _soon(seconds: int) -> str:
    """A timestamp a little ahead of now (within what the ledger accepts as built)."""
    from datetime import UTC, datetime, timedelta

    from modeltrail.events import format_ts

    return format_ts(datetime.now(UTC) + timedelta(seconds=seconds + 5))


def _built(events: list[PreparedEvent], first_seq: int, ts: str) -> BuiltBatch:
    (back,) = [decode_request(*encode_request(events, first_seq, ts)[0])]
    assert isinstance(back, BuiltBatch)
    return back


def test_built_batch_is_taken_as_built_where_it_fits(trail: Trail) -> None:
    events = [prepare(EventInput("x.y", "s", SVC, f"decision:{i}", {"i": i})) for i in range(5)]
    at = trail.size()
    last_ts = trail.store.get_event(at - 1).ts  # type: ignore[union-attr]
    ts = last_ts  # equal to the last timestamp is still in order
    built = _built(events, at, ts)
    receipts = trail.append_prepared(built)
    assert [r.seq for r in receipts] == list(range(at, at + 5)) and receipts.ts == ts  # type: ignore[attr-defined]
    for i, r in enumerate(receipts):
        stored = trail.store.get_event(r.seq)
        assert stored is not None and stored.ts == ts and stored.leaf == built.leaves[i]
        assert stored.leaf_hash == built.hashes[i] and r.leaf_hash == built.hashes[i].hex()
    assert trail.verify().ok


@pytest.mark.parametrize("miss", ["position", "timestamp", "future", "hash"])
def test_built_batch_that_does_not_fit_is_rebuilt(trail: Trail, miss: str) -> None:
    events = [prepare(EventInput("x.y", "s", SVC, None, {"i": i, "é": "ü"})) for i in range(4)]
    at = trail.size()
    if miss == "position":  # someone else appended in between
        built = _built(events, at - 1, "2999-01-01T00:00:00.000000Z")
    elif miss == "timestamp":  # built for a time before the ledger's last event
        built = _built(events, at, "2000-01-01T00:00:00.000000Z")
    elif miss == "future":  # by a clock far ahead
        built = _built(events, at, "2999-01-01T00:00:00.000000Z")
    else:  # a sender whose hashes do not match its leaves
        built = _built(events, at, _soon(0))
        built.hashes[0] = b"\0" * 32
    receipts = trail.append_prepared(built)
    assert receipts.ts not in {"2000-01-01T00:00:00.000000Z", "2999-01-01T00:00:00.000000Z", _soon(0)}  # type: ignore[attr-defined]
    for i, r in enumerate(receipts):
        stored = trail.store.get_event(r.seq)
        assert stored is not None and r.seq == at + i
        assert stored.leaf == events[i].leaf(r.seq, receipts.ts)  # type: ignore[attr-defined]
        assert stored.leaf_hash.hex() == r.leaf_hash
    assert trail.verify().ok


def test_built_batch_cuts_back_into_the_events_it_was_built_from() -> None:
    events = [prepare(EventInput("x.y", "s", SVC, f"decision:{i}", {"seq": i, "ts": "x"})) for i in range(3)]
    built = _built(events, 99, TS)
    assert list(built) == events and list(built.unbuilt()) == events
    assert built[1:].first_seq == 100 and list(built[1:]) == events[1:] and built[-1] == events[-1]
    with pytest.raises(IndexError):
        built[3]
    built.leaves[1] = built.leaves[1].replace(b'"seq":100', b'"seq":7', 1)  # not the leaf of seq 100 any more
    with pytest.raises(ValueError, match="not built for its position"):
        built.unbuilt()


def test_groups_appended_together_keep_their_own_receipts_and_timestamps(trail: Trail) -> None:
    # The writer child appends every request waiting in the pipe in one transaction; requests built
    # for different timestamps must each be taken as built.
    events = [prepare(EventInput("x.y", "s", SVC, None, {"i": i})) for i in range(6)]
    at = trail.size()
    ts1, ts2 = _soon(1), _soon(2)
    first, second = _built(events[:2], at, ts1), _built(events[2:5], at + 2, ts2)
    out = trail.append_prepared_each([first, [], second, events[5:]])
    assert [len(r) for r in out] == [2, 0, 3, 1]
    assert out[0][0].ts == ts1 and out[2][0].ts == ts2  # taken as built, each with its own timestamp
    assert out[3][0].ts == ts2  # a plain group after them is not stamped earlier than they are
    assert [r.seq for rs in out for r in rs] == list(range(at, at + 6))
    for rs, built in ((out[0], first), (out[2], second)):
        assert [r.leaf_hash for r in rs] == [h.hex() for h in built.hashes]
    assert trail.append_prepared_each([]) == [] and trail.append_prepared_each([[]]) == [[]]
    assert trail.verify().ok
