"""HTTP ingest benchmark: events per second through ``modeltrail serve``, acknowledged as durable.

    python bench/http_ingest.py --json

Starts the real command (``modeltrail --trail <tmp> serve`` on a free loopback port, uvicorn, default
trail configuration: a signed checkpoint every 10,000 events) in its own process on a fresh trail,
creates a service token, then several client connections (threads with one keep-alive ``httpx.Client``
each) POST batches of inference-decision-shaped events to ``/v1/events``. The clock runs from the first
request to the last response; an event counts only when its receipt (seq, leaf hash, ts) came back in
a 200 response, i.e. after the commit that made it durable. Request bodies are encoded before the clock
starts, so the figure is the server's (the clients share the machine, though: on a small machine they
compete with the server for CPU). Afterwards the ledger size is checked against the receipts.

Prints one JSON object: ``http_ingest_events_per_s`` plus the batch size, client count, events,
requests, seconds and request latency percentiles.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from _workload import decision_payload

TARGET_EVENTS_PER_S = 20_000


def make_batches(total: int, batch: int, seed: int) -> list[bytes]:
    """Request bodies of ``batch`` inference-decision-shaped events each (as in bench/ledger.py)."""
    rng = random.Random(seed)
    bodies = []
    for start in range(0, total, batch):
        events = []
        for i in range(start, min(start + batch, total)):
            events.append(
                {
                    "type": "inference.decision",
                    "system": "credit-scoring",
                    "subject": f"decision:{i:012d}",
                    "payload": decision_payload(rng),
                }
            )
        bodies.append(orjson.dumps({"events": events}))
    return bodies


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_healthy(httpx: Any, url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"modeltrail serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"modeltrail serve did not answer within {timeout:.0f} s")
        time.sleep(0.05)


def run(
    events: int = 200_000, batch: int = 1_000, clients: int = 4, seed: int = 7, tmp: str | None = None
) -> dict[str, Any]:
    """Measure HTTP ingest end to end; returns the result object (raises if the server is unavailable)."""
    import httpx  # the [server] extra

    import modeltrail
    from modeltrail.events import Actor
    from modeltrail.identity import create_token

    bodies = make_batches(events, batch, seed)
    warmup = make_batches(batch, batch, seed + 1)[0]
    with tempfile.TemporaryDirectory(prefix="mt-bench-http-", dir=tmp or os.environ.get("BENCH_TMP")) as d:
        folder = Path(d) / "t"
        with modeltrail.init(folder) as t:  # no policy: the admin role manages tokens
            token = create_token(t, "ingest-service", Actor("bench-admin", "admin"), kind="service")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = Path(d) / "server.log"
        cmd = [sys.executable, "-c", "from modeltrail.cli.main import main; main()"]
        cmd += ["--trail", str(folder), "serve", "--host", "127.0.0.1", "--port", str(port)]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(httpx, url, proc)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            size0 = httpx.get(f"{url}/v1/health").json()["size"]
            with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
                for _ in range(3):  # warm-up: imports, first connection, caches
                    c.post("/v1/events", content=warmup).raise_for_status()
            size_before = size0 + 3 * batch

            latencies: list[float] = []
            acknowledged = [0] * clients
            errors: list[str] = []
            lock = threading.Lock()
            next_index = iter(range(len(bodies)))
            start_gate = threading.Barrier(clients + 1)

            def client(k: int) -> None:
                with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
                    start_gate.wait()
                    while True:
                        with lock:
                            i = next(next_index, None)
                        if i is None:
                            return
                        t0 = time.perf_counter()
                        r = c.post("/v1/events", content=bodies[i])
                        elapsed = time.perf_counter() - t0
                        if r.status_code != 200:
                            errors.append(f"{r.status_code}: {r.text[:200]}")
                            return
                        acknowledged[k] += len(orjson.loads(r.content)["receipts"])
                        latencies.append(elapsed)

            threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
            for th in threads:
                th.start()
            start_gate.wait()
            t0 = time.perf_counter()
            for th in threads:
                th.join()
            seconds = time.perf_counter() - t0
            if errors:
                raise RuntimeError(f"ingest failed: {errors[0]}")
            size_after = httpx.get(f"{url}/v1/health").json()["size"]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    total = sum(acknowledged)
    # Every acknowledged event is in the ledger (nothing else appends while the benchmark runs).
    assert size_after - size_before == total, (size_before, size_after, total)
    lat_ms = sorted(x * 1000 for x in latencies)
    rate = total / seconds
    return {
        "http_ingest_events_per_s": round(rate),
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "meets_target": rate >= TARGET_EVENTS_PER_S,
        "events": total,
        "batch": batch,
        "clients": clients,
        "requests": len(latencies),
        "seconds": round(seconds, 3),
        "request_ms_p50": round(statistics.median(lat_ms), 2),
        "request_ms_p99": round(lat_ms[max(0, int(len(lat_ms) * 0.99) - 1)], 2),
        "body_bytes_per_request": round(statistics.mean(len(b) for b in bodies)),
        "ledger_events_after": size_after,
        "server": "modeltrail serve (uvicorn, one process)",
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse arguments, run, print the JSON object."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000, help="events to send in the timed run")
    ap.add_argument("--batch", type=int, default=1_000, help="events per request")
    ap.add_argument("--clients", type=int, default=4, help="concurrent client connections")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print the JSON object on one line")
    args = ap.parse_args(argv)
    out = run(args.events, args.batch, args.clients, args.seed)
    print(json.dumps(out, indent=None if args.json else 2))
    return out


if __name__ == "__main__":
    main()
