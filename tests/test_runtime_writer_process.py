"""The ledger writer in a child process: wire format, durability, failures and kill -9 of either side."""

from __future__ import annotations

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
from modeltrail.runtime.writer_process import decode_request, encode_request
from modeltrail.trail import Trail

SVC = {"id": "svc", "role": "inference", "kind": "service"}

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
    )
)
def test_request_round_trip(specs: list[tuple[str, str, str | None, tuple[str, str], dict[str, object]]]) -> None:
    events = [
        prepare(EventInput(t, s, {"id": a, "role": r, "kind": "service"}, subj, payload))
        for t, s, subj, (a, r), payload in specs
    ]
    assert list(decode_request(*encode_request(events))) == events


def test_malformed_requests_are_refused() -> None:
    ev = prepare(EventInput("x.y", "s", SVC, None, {"a": 1}))
    meta, heads, mids = encode_request([ev, ev])
    bad_requests = [
        (b"", heads, mids),  # no meta at all
        (meta[:5], heads, mids),  # cut-off JSON
        (b'{"g": 1, "s": ["a"]}', heads, mids),  # groups not a list
        (meta, heads + b"\x00" + heads, mids),  # one head too many
        (meta, heads, mids.split(b"\x00")[0]),  # one mid too few
        (meta, b"x", b""),  # bytes for a request without events
    ]
    for bad in bad_requests:
        with pytest.raises((ValueError, KeyError, TypeError)):
            decode_request(*bad)
    assert decode_request(b'{"g": [], "s": []}', b"", b"") == []


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
    (back,) = decode_request(*encode_request([ev]))
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
            many = lg.submit_many([(EventInput("x.y", "s", SVC, None, {"k": i}), None) for i in range(300)])
            lg.flush(10)
            assert all(q.done for q in many) and many[-1].durable().seq == receipt.seq + 300
        assert DecisionLogger(t, writer="process").flush_interval == 0.035  # then closed with the trail
    finally:
        t.close()
