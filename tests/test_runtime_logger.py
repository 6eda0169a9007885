"""DecisionLogger: durability, buffer-full behaviour, write failures, flush, and kill -9 safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

import modeltrail
from _acked import acknowledged, assert_all_recorded
from modeltrail.errors import BufferFullError, StoreError, ValidationError
from modeltrail.events import EventInput, PreparedEvent, Receipt
from modeltrail.runtime import DecisionLogger
from modeltrail.trail import Trail

SVC = {"id": "svc", "role": "inference", "kind": "service"}


def _ev(i: int) -> EventInput:
    return EventInput("inference.decision", "s", SVC, f"decision:{i:032x}", {"i": i}, None, None)


def test_enqueue_is_acknowledged_only_when_durable(trail: Trail) -> None:
    with DecisionLogger(trail, flush_interval=0.005) as lg:
        pend = [lg.submit(_ev(i), f"{i:032x}") for i in range(500)]
        receipts = [p.durable(10) for p in pend]
        assert [trail.get_event(r.seq).payload["i"] for r in receipts] == list(range(500))
        assert lg.written == 500 and lg.batches >= 1 and lg.pending == 0
    # An invalid event fails alone, not its batch.
    with DecisionLogger(trail) as lg:
        good = lg.submit(_ev(1))
        bad = lg.submit(EventInput("Bad Type", "s", SVC))
        lg.flush(10)
        assert good.durable().seq > 0
        with pytest.raises(ValidationError):
            bad.durable()
        assert lg.failed == 1


def test_writer_stamps_commit_time(trail: Trail) -> None:
    with DecisionLogger(trail, flush_interval=0.001) as lg:
        t0 = time.perf_counter()
        p = lg.submit(_ev(1))
        p.durable(10)
        assert p.done_at is not None and t0 <= p.done_at <= time.perf_counter()


def test_switch_interval_lowered_only_when_asked_and_restored_after_the_last_close(
    trail: Trail, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modeltrail import speed as _speed

    # A fresh counter, so that loggers other tests left open in this process do not interfere.
    monkeypatch.setattr(_speed, "_switching", _speed._FastSwitching())
    saved = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        with DecisionLogger(trail, flush_interval=0.001, boost_writer=True) as a:
            assert sys.getswitchinterval() == pytest.approx(_speed.WRITE_SWITCH_INTERVAL)
            with DecisionLogger(trail, flush_interval=0.001, boost_writer=True):
                pass
            assert sys.getswitchinterval() == pytest.approx(_speed.WRITE_SWITCH_INTERVAL), "a is still open"
            assert a.submit(_ev(2)).durable(10).seq >= 1
        assert sys.getswitchinterval() == pytest.approx(0.005)
        # The host's setting is left alone unless the caller asks.
        with DecisionLogger(trail) as b:
            assert sys.getswitchinterval() == pytest.approx(0.005)
            assert b.submit(_ev(3)).durable(10).seq >= 1
        # A value somebody else set while a logger was open is theirs: closing does not undo it.
        with DecisionLogger(trail, flush_interval=0.001, boost_writer=True):
            sys.setswitchinterval(0.001)
        assert sys.getswitchinterval() == pytest.approx(0.001)
        with _speed.fast_switching():
            assert sys.getswitchinterval() == pytest.approx(_speed.WRITE_SWITCH_INTERVAL)
        assert sys.getswitchinterval() == pytest.approx(0.001)
    finally:
        sys.setswitchinterval(saved)


class _Gate:
    """An append function that blocks until released (a stalled disk)."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.release = threading.Event()

    def __call__(self, events: Sequence[PreparedEvent]) -> list[Receipt]:
        self.release.wait(10)
        return self.real(events)  # type: ignore[operator, no-any-return]


def test_buffer_full_block_then_raise(trail: Trail) -> None:
    lg = DecisionLogger(trail, capacity=4, max_batch=1, flush_interval=0, on_full="block", block_timeout=0.2)
    gate = _Gate(lg._append)
    lg._append = gate
    first = lg.submit(_ev(0))
    time.sleep(0.1)  # the writer took entry 0 and is stuck writing it
    for i in range(1, 5):
        lg.submit(_ev(i))
    t0 = time.monotonic()
    with pytest.raises(BufferFullError, match="stayed full"):
        lg.submit(_ev(99))
    assert 0.18 <= time.monotonic() - t0 < 2
    assert lg.waits == 1 and lg.full_errors == 1
    # A blocked caller proceeds as soon as room appears.
    threading.Timer(0.05, gate.release.set).start()
    late = lg.submit(_ev(5))
    assert lg.waits == 2
    lg.flush(10)
    assert first.done and late.durable().seq > first.durable().seq
    assert [trail.get_event(s).payload["i"] for s in range(1, trail.size())] == [0, 1, 2, 3, 4, 5]
    lg.close()


def test_buffer_full_raise_mode(trail: Trail) -> None:
    lg = DecisionLogger(trail, capacity=2, max_batch=1, flush_interval=0, on_full="raise")
    gate = _Gate(lg._append)
    lg._append = gate
    lg.submit(_ev(0))
    time.sleep(0.1)
    lg.submit(_ev(1))
    lg.submit(_ev(2))
    t0 = time.monotonic()
    with pytest.raises(BufferFullError, match="refused"):
        lg.submit(_ev(3))
    assert time.monotonic() - t0 < 0.05 and lg.full_errors == 1 and lg.waits == 0
    gate.release.set()
    lg.close()
    assert lg.written == 3


def test_write_failure_reaches_every_waiter_and_flush(trail: Trail) -> None:
    lg = DecisionLogger(trail, flush_interval=0.05)

    def disk_full(events: Sequence[PreparedEvent]) -> list[Receipt]:
        raise StoreError("database or disk is full")

    lg._append = disk_full
    pend = [lg.submit(_ev(i)) for i in range(10)]
    with pytest.raises(StoreError, match="disk is full"):
        lg.flush(10)
    for p in pend:
        with pytest.raises(StoreError, match="disk is full"):
            p.durable(1)
    assert lg.failed == 10 and lg.written == 0
    lg.flush(1)  # the failure was reported once
    lg.close()
    with pytest.raises(StoreError, match="closed"):
        lg.submit(_ev(1))


WRITER = r"""
import sys, numpy as np, modeltrail
from sklearn.linear_model import LogisticRegression
from modeltrail.runtime import guard
t = modeltrail.open(sys.argv[1])
X = np.random.default_rng(0).normal(size=(200, 4)); y = (X[:, 0] > 0).astype(int)
g = guard(t, LogisticRegression().fit(X, y), name="m", system="s", feature_names=["a", "b", "c", "d"])
i = 0
while True:
    ds = g.decide_many([dict(zip("abcd", X[(i + k) % 200].tolist())) for k in range(50)])
    for d in ds[:-1]:
        d.durable()
    r = ds[-1].durable()  # acknowledged only now
    sys.stdout.write(f"{r.seq} {ds[-1].decision_id}\n")
    sys.stdout.flush()
    i += 1
"""


def test_sigkill_loses_no_durable_decision(tmp_path: Path) -> None:
    modeltrail.init(tmp_path).close()
    acked: dict[int, str] = {}
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for wait in (1.5, 2.0):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None
        lines: list[bytes] = []
        out = proc.stdout
        reader = threading.Thread(target=lambda o=out, ls=lines: ls.extend(iter(o.readline, b"")), daemon=True)
        reader.start()
        deadline = time.monotonic() + 20
        while not lines and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(wait)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reader.join(10)
        acked.update(acknowledged(lines))
    assert_all_recorded(tmp_path, acked)


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_invalid_entries_of_a_batch_fail_alone_and_the_rest_keep_their_receipts(tmp_path: Path, writer: str) -> None:
    t = modeltrail.init(tmp_path)
    entries = [(_ev(i) if i % 3 else EventInput("Bad Type", "s", SVC), f"{i:032x}") for i in range(10)]
    with DecisionLogger(t, writer=writer) as lg:  # type: ignore[arg-type]
        pend = lg.submit_batch([e for e, _ in entries], [did for _, did in entries])
        lg.flush(30)
        for i, p in enumerate(pend):
            if i % 3:
                assert t.get_event(p.durable().seq).payload["i"] == i
            else:
                with pytest.raises(ValidationError):
                    p.durable()
        assert lg.written == 6 and lg.failed == 4
        assert "failed" in repr(pend[0]) and "durable" in repr(pend[1])
        with pytest.raises(ValidationError, match="decision ids"):
            lg.submit_batch([_ev(1)], [])
    t.close()
