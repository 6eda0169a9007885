"""The ledger writer in a child process: wire format, durability, failures and kill -9 of either side."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

import modeltrail
from _acked import acknowledged, assert_all_recorded
from modeltrail.errors import StoreError, ValidationError
from modeltrail.events import EventInput, PreparedEvent, prepare
from modeltrail.runtime import DecisionLogger, guard
from modeltrail.runtime._batches import BuiltBatch, EventParts
from modeltrail.runtime._writer.process import decode_request, encode_request
from modeltrail.trail import Trail

SVC = {"id": "svc", "role": "inference", "kind": "service"}
TS = "2026-12-04T10:00:00.000000Z"

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["inference.decision", "x.y"]),
            st.sampled_from(["credit", "hiring"]),
            st.one_of(st.none(), _text.map(lambda s: "decision:" + s)),
            st.sampled_from([("svc", "inference"), ("bob", "reviewer")]),
            st.dictionaries(_text, st.one_of(st.integers(-(2**53) + 1, 2**53 - 1), _text, st.none()), max_size=4),
        ),
        max_size=12,
    ),
    st.integers(0, 2**48),
)
def test_request_round_trip(
    specs: list[tuple[str, str, str | None, tuple[str, str], dict[str, object]]], first_seq: int
) -> None:
    events = [
        prepare(EventInput(t, s, {"id": a, "role": r, "kind": "service"}, subj, payload))
        for t, s, subj, (a, r), payload in specs
    ]
    # The plain form: the events as they are, for the child to build.
    plain, no_hashes = encode_request(events)
    assert no_hashes == [] and list(decode_request(*plain)) == events
    # The built form.
    request, hashes = encode_request(events, first_seq, TS)
    back = decode_request(*request)
    # The child gets the events back (cut from the leaves) ...
    assert list(back) == events
    # ... and the leaves and hashes the parent built for first_seq, in BuiltBatch groups that fit there.
    parts = back.parts if isinstance(back, EventParts) else [back] if events else []
    assert all(isinstance(p, BuiltBatch) and p.ts == TS for p in parts)
    leaves = [leaf for p in parts for leaf in p.leaves]  # type: ignore[attr-defined]
    assert leaves == [ev.leaf(first_seq + i, TS) for i, ev in enumerate(events)]
    assert hashes == [hashlib.sha256(b"\x00" + leaf).digest() for leaf in leaves]
    assert [h for p in parts for h in p.hashes] == hashes  # type: ignore[attr-defined]
    seq = first_seq
    for p in parts:
        assert p.fits(seq, TS) and not p.fits(seq + 1, TS)  # type: ignore[attr-defined]
        seq += len(p)


def test_malformed_requests_are_refused() -> None:
    ev = prepare(EventInput("x.y", "s", SVC, None, {"a": 1}))
    (meta, leaves, hashes, lens), _ = encode_request([ev, ev], 7, TS)
    empty = b'{"g": [], "s": [], "seq": 0, "ts": "%s"}' % TS.encode()
    bad_requests = [
        (b"", leaves, hashes, lens),  # no meta at all
        (meta[:5], leaves, hashes, lens),  # cut-off JSON
        (b'{"g": 1, "s": ["a"], "seq": 0, "ts": "x"}', leaves, hashes, lens),  # groups not a list
        (meta.replace(b'"seq":7', b'"seq":-1'), leaves, hashes, lens),  # no valid position
        (meta.replace(b'"seq":7', b'"seq":"7"'), leaves, hashes, lens),
        (meta, leaves + b"\x00" + leaves, hashes, lens),  # one leaf too many
        (meta, leaves, hashes[:32], lens),  # one hash too few
        (meta, leaves, hashes + b"x", lens),  # a hash cut short
        (meta, leaves, hashes, lens[:4]),  # one head length too few
        (empty, b"x", b"", b""),  # bytes for a request without events
    ]
    (pmeta, heads, mids, _), _ = encode_request([ev, ev])
    bad_requests += [
        (pmeta, heads + b"\x00" + heads, mids, b""),  # one head too many
        (pmeta, heads, mids.split(b"\x00")[0], b""),  # one mid too few
        (pmeta, heads, mids, b"\x00\x00\x00\x00"),  # a third message that the plain form does not have
    ]
    for bad in bad_requests:
        with pytest.raises((ValueError, KeyError, TypeError)):
            decode_request(*bad)
    assert list(decode_request(empty, b"", b"", b"")) == []
    assert list(decode_request(b'{"g": [], "s": []}', b"", b"", b"")) == []


def test_process_writer_guesses_positions_and_recovers_from_other_writers(trail: Trail) -> None:
    # Big requests are built by the parent for the position it expects; events that other writers
    # append in between make the guess wrong, and the child rebuilds those requests.
    from modeltrail.runtime._writer.process import BUILD_MIN_EVENTS

    model, X = _model()
    with DecisionLogger(trail, writer="process") as lg:
        g = guard(trail, model, name="m", system="s", logger=lg, feature_names=list("abcde"))
        decisions = []
        for k in range(6):
            batch = g.decide_many(X[: BUILD_MIN_EVENTS + 10 * k])
            decisions += batch
            if k % 2:
                batch[-1].durable(30)  # so that the next batch is guessed to follow this one
                trail.record("x.other", system="s", actor=SVC, payload={"k": k})  # not through the logger
        receipts = [d.durable(30) for d in decisions]
    seqs = [r.seq for r in receipts]
    assert len(set(seqs)) == len(seqs)
    for d, r in zip(decisions, receipts, strict=True):
        ev = trail.get_event(r.seq)
        assert ev.leaf_hash.hex() == r.leaf_hash and ev.payload["decision_id"] == d.decision_id
    others = list(trail.events("x.other"))
    assert len(others) == 3
    # At least one landed amid the decisions, so a request built after it was guessed wrong.
    assert any(min(seqs) < e.seq < max(seqs) for e in others)
    trail.checkpoint()
    assert trail.verify().ok


def _model() -> tuple[LogisticRegression, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 5))
    y = (X[:, 0] - X[:, 1] + rng.normal(0, 0.5, 600) > 0).astype(int)
    return LogisticRegression().fit(X, y), X


def test_process_writer_records_what_the_thread_writer_would(trail: Trail) -> None:
    model, X = _model()
    with DecisionLogger(trail, writer="process") as lg:
        assert lg.writer == "process"
        g = guard(trail, model, name="m", system="s", logger=lg, feature_names=list("abcde"))
        decisions = [*g.decide_many(X[:500]), g.decide(dict(zip("abcde", X[500].tolist(), strict=True)))]
        receipts = [d.durable(30) for d in decisions]
        # Events of other kinds (validated by the writer) travel the same way; an invalid one fails alone.
        good = lg.submit(EventInput("x.y", "s", SVC, None, {"k": 1}))
        bad = lg.submit(EventInput("Bad Type", "s", SVC))
        lg.flush(30)
        assert good.durable().seq == receipts[-1].seq + 1
        with pytest.raises(ValidationError):
            bad.durable()
        assert lg.stats()["written"] == 502 and lg.stats()["failed"] == 1
    for d, r in zip(decisions, receipts, strict=True):
        ev = trail.get_event(r.seq)
        assert ev.leaf_hash.hex() == r.leaf_hash and ev.payload["decision_id"] == d.decision_id
    assert [r.seq for r in receipts] == list(range(receipts[0].seq, receipts[0].seq + len(receipts)))
    trail.checkpoint()
    assert trail.verify().ok


def test_process_writer_start_failure_is_reported(tmp_path: Path) -> None:
    t = modeltrail.init(tmp_path)
    try:
        (t.path / "config.json").rename(t.path / "config.json.away")  # the child cannot open the trail
        with pytest.raises(StoreError, match="cannot open the trail"):
            DecisionLogger(t, writer="process")
        with pytest.raises(ValidationError):
            DecisionLogger(t, writer="fork")  # type: ignore[arg-type]
    finally:
        t.close()


def test_killed_writer_process_fails_pending_and_later_calls_loudly(tmp_path: Path) -> None:
    t = modeltrail.init(tmp_path)
    model, X = _model()
    lg = DecisionLogger(t, writer="process", flush_interval=0.5)
    g = guard(t, model, name="m", system="s", logger=lg)
    acked = g.decide_many(X[:50])
    receipts = [d.durable(30) for d in acked]
    assert lg._process is not None
    pid = lg._process.pid
    os.kill(pid, signal.SIGSTOP)  # hold the child while a batch is on its way, then kill it
    pending = g.decide_many(X[50:100])
    time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    # What was not acknowledged fails with the reason; nothing is silently dropped or acknowledged.
    with pytest.raises(StoreError, match="writer process"):
        pending[0].durable(30)
    assert all(p.done for p in (d.pending for d in pending))
    with pytest.raises(StoreError, match="writer process"):
        g.decide_many(X[100:110])  # refused at once, before any work
    with pytest.raises(StoreError, match="writer process"):
        lg.close()  # the failure of the in-flight batch is reported once more, as for the thread writer
    for d, r in zip(acked, receipts, strict=True):
        assert t.get_event(r.seq).payload["decision_id"] == d.decision_id
    t.close()


PARENT = r"""
import sys, numpy as np, modeltrail
from sklearn.linear_model import LogisticRegression
from modeltrail.runtime import DecisionLogger, guard
t = modeltrail.open(sys.argv[1])
X = np.random.default_rng(0).normal(size=(400, 4)); y = (X[:, 0] > 0).astype(int)
lg = DecisionLogger(t, writer="process")
g = guard(t, LogisticRegression().fit(X, y), name="m", system="s", feature_names=list("abcd"), logger=lg)
sys.stdout.write(f"child {lg._process.pid}\n")
i = 0
while True:
    ds = g.decide_many(X[(i * 50) % 400 : (i * 50) % 400 + 50])
    r = ds[-1].durable()  # acknowledged only now (the batch is one submission)
    sys.stdout.write(f"{r.seq} {ds[-1].decision_id}\n")
    sys.stdout.flush()
    i += 1
"""


def test_sigkill_of_the_serving_process_loses_no_acknowledged_decision(tmp_path: Path) -> None:
    modeltrail.init(tmp_path).close()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path)], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    lines: list[bytes] = []
    out = proc.stdout
    reader = threading.Thread(target=lambda: lines.extend(iter(out.readline, b"")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while len(lines) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.join(10)
    child = int(lines[0].split()[1])
    # The orphaned writer sees end of file, commits what it holds and exits by itself.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the writer process outlived its parent")
    assert_all_recorded(tmp_path, acknowledged(lines[1:]))


def test_prepared_event_identity() -> None:
    # The child rebuilds PreparedEvent tuples: equal fields mean equal leaves.
    ev = prepare(EventInput("x.y", "s", SVC, "decision:1", {"a": [1, 2.5, "é"]}))
    (back,) = decode_request(*encode_request([ev], 0, TS)[0])
    assert isinstance(back, PreparedEvent) and back.leaf(3, "2026-01-01T00:00:00Z") == ev.leaf(
        3, "2026-01-01T00:00:00Z"
    )


def test_waiters_read_the_answers_and_commit_times_come_from_the_child(tmp_path: Path) -> None:
    # No thread in the serving process waits for the child's answers: a caller waiting for durability
    # reads them itself, so it learns of the commit at once and not at the writer's next tick.
    t = modeltrail.init(tmp_path)
    try:
        with DecisionLogger(t, writer="process", flush_interval=0.01) as lg:
            assert lg.flush_interval == 0.01
            assert not any(th.name == "modeltrail-ledger-receiver" for th in threading.enumerate())
            started = time.perf_counter()
            p = lg.submit(EventInput("x.y", "s", SVC, None, {"k": 1}))
            receipt = p.durable(10)
            returned = time.perf_counter()
            assert p.done_at is not None and started <= p.done_at <= returned
            assert t.get_event(receipt.seq).leaf_hash.hex() == receipt.leaf_hash
            many = lg.submit_batch([EventInput("x.y", "s", SVC, None, {"k": i}) for i in range(300)], [None] * 300)
            lg.flush(10)
            assert all(q.done for q in many) and many[-1].durable().seq == receipt.seq + 300
        assert DecisionLogger(t, writer="process").flush_interval == 0.035  # then closed with the trail
    finally:
        t.close()
