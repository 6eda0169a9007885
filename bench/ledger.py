"""Ledger benchmark: append (batch and single), verify, inclusion proofs, against same-run baselines.

    python bench/ledger.py --events 1000000 --json

Prints one JSON object. Baselines use the same events: plain SQLite ``executemany`` of the same rows
into the same table layout with the same durability (WAL, synchronous=FULL), without canonical encoding
or hashing; and JSON lines appended to a file with one fsync per batch.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _workload import decision_payload

import modeltrail
from modeltrail.events import Actor, EventInput
from modeltrail.ledger.store import PAGE_SIZE, SQLITE_SCHEMA

ACTOR = Actor("scoring-service", "service", "service")


def make_events(n: int, seed: int) -> list[EventInput]:
    """Inference-decision-shaped events, deterministic for a seed."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(
            EventInput(
                type="inference.decision",
                system="credit-scoring",
                actor=ACTOR,
                subject=f"decision:{i:012d}",
                payload=decision_payload(rng),
            )
        )
    return out


def bench_batch_append(folder: Path, events: list[EventInput], batch: int) -> float:
    t = modeltrail.init(folder, checkpoint_every_events=10**12, checkpoint_every_seconds=10**9)
    start = time.perf_counter()
    for i in range(0, len(events), batch):
        t.record_many(events[i : i + batch])
    elapsed = time.perf_counter() - start
    t.close()
    return len(events) / elapsed


def bench_single_append(folder: Path, events: list[EventInput]) -> float:
    t = modeltrail.init(folder, checkpoint_every_events=10**12, checkpoint_every_seconds=10**9)
    start = time.perf_counter()
    for e in events:
        t.record(e.type, system=e.system, actor=e.actor, subject=e.subject, payload=e.payload)
    elapsed = time.perf_counter() - start
    t.close()
    return len(events) / elapsed


def baseline_sqlite(path: Path, events: list[EventInput], batch: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # the same storage settings as a new ledger
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(SQLITE_SCHEMA)
    start = time.perf_counter()
    seq = 0
    for i in range(0, len(events), batch):
        rows = []
        ts = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        for e in events[i : i + batch]:
            body = json.dumps(
                {
                    "actor": ACTOR.to_dict(),
                    "payload": e.payload,
                    "seq": seq,
                    "subject": e.subject,
                    "ts": ts,
                    "type": e.type,
                },
                separators=(",", ":"),
            ).encode()
            rows.append((seq, ts, e.type, e.system, e.subject, ACTOR.id, body, b""))
            seq += 1
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?)", rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(events) / elapsed


def baseline_jsonl(path: Path, events: list[EventInput], batch: int) -> float:
    start = time.perf_counter()
    with open(path, "a", encoding="utf-8") as fh:
        seq = 0
        for i in range(0, len(events), batch):
            lines = []
            for e in events[i : i + batch]:
                lines.append(
                    json.dumps(
                        {
                            "seq": seq,
                            "type": e.type,
                            "subject": e.subject,
                            "actor": ACTOR.to_dict(),
                            "payload": e.payload,
                        }
                    )
                )
                seq += 1
            fh.write("\n".join(lines) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    return len(events) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--single", type=int, default=2_000, help="events for the single-append measurement")
    ap.add_argument("--proofs", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print only the JSON object")
    args = ap.parse_args(argv)
    events = make_events(args.events, args.seed)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as d:
        root = Path(d)
        base_sqlite = baseline_sqlite(root / "plain.db", events, args.batch)
        base_jsonl = baseline_jsonl(root / "plain.jsonl", events, args.batch)
        batch_rate = bench_batch_append(root / "batch", events, args.batch)
        single_rate = bench_single_append(root / "single", events[: args.single])
        t = modeltrail.open(root / "batch")
        t.checkpoint()
        start = time.perf_counter()
        res = t.verify(workers=1)
        verify_rate_1 = res.events_checked / (time.perf_counter() - start)
        assert res.ok, res.problems
        start = time.perf_counter()
        res = t.verify(workers=0)  # one process per core, as `modeltrail verify` does
        verify_rate = res.events_checked / (time.perf_counter() - start)
        assert res.ok, res.problems
        size = t.size()
        rng = random.Random(args.seed)
        times = []
        for _ in range(args.proofs):
            seq = rng.randrange(size)
            s = time.perf_counter()
            t.inclusion_proof(seq, size)
            times.append((time.perf_counter() - s) * 1000)
        t.close()
    out = {
        "events": args.events,
        "batch": args.batch,
        "append_batch_events_per_s": round(batch_rate),
        "append_single_events_per_s": round(single_rate),
        "verify_events_per_s": round(verify_rate),
        "verify_single_process_events_per_s": round(verify_rate_1),
        "inclusion_proof_ms_p50": round(statistics.median(times), 4),
        "inclusion_proof_ms_p99": round(sorted(times)[int(len(times) * 0.99) - 1], 4),
        "baseline_sqlite_plain_events_per_s": round(base_sqlite),
        "baseline_jsonl_events_per_s": round(base_jsonl),
        "ratio_batch_vs_sqlite_plain": round(batch_rate / base_sqlite, 3),
        "ratio_batch_vs_jsonl": round(batch_rate / base_jsonl, 3),
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return out


if __name__ == "__main__":
    main()
