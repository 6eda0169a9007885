"""Acknowledged events survive kill -9 of the writer, and the ledger still verifies afterwards."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import modeltrail

WRITER = r"""
import sys, threading
import modeltrail
t = modeltrail.open(sys.argv[1])
lock = threading.Lock()
def work(k):
    i = 0
    while True:
        batch = k % 2 == 0
        if batch:
            rs = t.record_many([{"type": "inference.decision", "system": "s",
                                 "actor": {"id": f"w{k}", "role": "svc", "kind": "service"},
                                 "payload": {"k": k, "i": i, "j": j}} for j in range(20)])
        else:
            rs = [t.record("inference.decision", system="s", actor={"id": f"w{k}", "role": "svc", "kind": "service"},
                           payload={"k": k, "i": i})]
        with lock:
            for r in rs:
                sys.stdout.write(f"{r.seq} {r.leaf_hash}\n")
            sys.stdout.flush()
        i += 1
threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(4)]
for th in threads: th.start()
for th in threads: th.join()
"""


def _drain(proc: subprocess.Popen[bytes], lines: list[bytes]) -> None:
    assert proc.stdout is not None
    lines.extend(iter(proc.stdout.readline, b""))


def test_sigkill_loses_no_acknowledged_event(tmp_path: Path) -> None:
    modeltrail.init(tmp_path, checkpoint_every_events=500).close()
    acked: dict[int, str] = {}
    rng = random.Random(7)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for _round in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, env=env
        )
        assert proc.stdout is not None
        lines: list[bytes] = []
        reader = threading.Thread(target=_drain, args=(proc, lines), daemon=True)
        reader.start()
        time.sleep(rng.uniform(0.6, 1.5))
        proc.send_signal(signal.SIGKILL)  # mid-stream: no flush, no atexit, no clean close
        proc.wait()
        reader.join(10)
        for line in lines:
            parts = line.decode().split()
            # A line cut by the kill is not an acknowledgement.
            if len(parts) == 2 and len(parts[1]) == 64 and line.endswith(b"\n"):
                acked[int(parts[0])] = parts[1]
    assert len(acked) > 200
    with modeltrail.open(tmp_path) as t:
        stored = {r.seq: r.leaf_hash.hex() for r in t.rows()}
        for seq, h in acked.items():
            assert stored.get(seq) == h, f"acknowledged event {seq} lost or changed"
        assert sorted(stored) == list(range(len(stored)))
        t.checkpoint()
        res = t.verify()
        assert res.ok, res.problems
