"""Kill switch across processes: a guard in another process switches to its fallback within 1 s."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import modeltrail
from modeltrail.events import Actor
from modeltrail.governance import record_governed
from modeltrail.runtime.killswitch import KillSwitch

SERVER = r"""
import sys, time, numpy as np, modeltrail
from sklearn.linear_model import LogisticRegression
from modeltrail.runtime import guard
t = modeltrail.open(sys.argv[1])
X = np.random.default_rng(0).normal(size=(100, 3)); y = (X[:, 0] > 0).astype(int)
g = guard(t, LogisticRegression().fit(X, y), name="credit", system="credit-scoring", feature_names=["a", "b", "c"],
          fallback="human_review")
row = {"a": 0.3, "b": -1.0, "c": 2.0}
while True:
    d = g.decide(row)
    sys.stdout.write(f"{time.time():.6f} {d.route} {d.fallback}\n")
    sys.stdout.flush()
    time.sleep(0.005)
"""


def test_suspend_reaches_another_process_within_one_second(tmp_path: Path) -> None:
    modeltrail.init(tmp_path).close()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path)], stdout=subprocess.PIPE, env=env)
    lines: list[str] = []
    assert proc.stdout is not None
    out = proc.stdout
    reader = threading.Thread(target=lambda: lines.extend(x.decode() for x in iter(out.readline, b"")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while len(lines) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(lines) >= 20, "the serving process did not start"
        with modeltrail.open(tmp_path) as t:
            record_governed(
                t,
                "model.suspended",
                system="credit-scoring",
                actor=Actor("erin", "ops"),
                subject="model:credit",
                payload={"env": "production", "reason": "incident 42", "fallback": None},
            )
            recorded = time.time()
            time.sleep(1.5)
            record_governed(
                t,
                "model.resumed",
                system="credit-scoring",
                actor=Actor("bob", "model_risk"),
                subject="model:credit",
                payload={"env": "production", "reason": "resolved"},
            )
            resumed = time.time()
            time.sleep(1.2)
    finally:
        proc.kill()
        proc.wait()
        reader.join(5)
    parsed = [(float(ts), route, fb) for ts, route, fb in (x.split() for x in lines if x.count(" ") == 2)]
    assert all(r != "fallback" for ts, r, _ in parsed if ts < recorded - 0.01)
    first_fallback = min(ts for ts, r, fb in parsed if r == "fallback" and fb == "human_review")
    switch_s = first_fallback - recorded
    print(f"kill switch took {switch_s * 1000:.0f} ms")
    assert switch_s < 1.0
    after = [r for ts, r, _ in parsed if recorded + 1.0 <= ts < resumed]
    assert after and all(r == "fallback" for r in after)
    back = min(ts for ts, r, _ in parsed if ts > resumed and r != "fallback")
    assert back - resumed < 1.0


def test_latest_applicable_event_decides(tmp_path: Path) -> None:
    with modeltrail.init(tmp_path) as t:
        ks = KillSwitch(t, start=False)
        ops = Actor("erin", "ops")

        def rec(kind: str, subject: str, env: str | None) -> None:
            payload = {"env": env, "reason": "r"} | ({"fallback": "reject"} if kind == "suspended" else {})
            record_governed(t, f"model.{kind}", system="s", actor=ops, subject=subject, payload=payload)

        rec("suspended", "model:credit@2", "production")
        ks.poll()
        assert ks.status("credit", 2, "production") is not None
        assert ks.status("credit", 3, "production") is None
        assert ks.status("credit", 2, "staging") is None
        rec("suspended", "model:credit", None)  # every version, every environment
        ks.poll()
        s = ks.status("credit", 3, "staging")
        assert s is not None and s.fallback == "reject"
        rec("resumed", "model:credit@3", "staging")
        gen = ks.generation
        assert ks.poll() and ks.generation == gen + 1
        assert ks.status("credit", 3, "staging") is None and ks.status("credit", 2, "production") is not None
        assert not ks.poll()


def test_closing_the_trail_stops_its_workers_and_writes_out_buffered_decisions(tmp_path: Path) -> None:
    # A poller or writer left running on a closed trail used connections closed under it (a crash in
    # SQLite, seen in CI): closing the trail stops them first.
    import numpy as np

    from modeltrail.runtime import guard

    t = modeltrail.init(tmp_path)
    g = guard(t, lambda X: np.zeros(len(X)), name="m", system="s", feature_names=["a"])
    pending = [g.decide({"a": float(i)}) for i in range(20)]
    switch, logger = g.switch, g.logger
    assert switch._thread is not None and switch._thread.is_alive()
    t.close()
    assert not switch._thread.is_alive() and logger._closed
    assert all(p.pending.done for p in pending)
    with modeltrail.open(tmp_path) as again:
        ids = {e.payload["decision_id"] for e in again.events("inference.decision")}
        assert ids == {p.decision_id for p in pending}
        # A new guard on the reopened trail gets a fresh, running kill switch.
        assert guard(again, lambda X: np.zeros(len(X)), name="m", system="s").switch is not switch
