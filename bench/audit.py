"""Audit benchmark: reconstructing one decision on a large trail, against the same on a small one.

    python bench/audit.py --decisions 1000000 --json

Builds a trail (SQLite, embedded default) with the story of one model version (dataset, run, model,
reports, gate, two approvals, deployment) followed by ``--decisions`` inference decisions written
through the batch path (``Trail.record_many``, batches of 10,000), one in 50 with a human review and
one in 20 with a label, then times :func:`modeltrail.audit.reconstruct.reconstruct` (inclusion proof
verified against the signed checkpoint included) for ``--queries`` decisions drawn at random.

Prints one JSON object:

- ``reconstruct_ms_p50`` / ``_p99`` / ``_max``: per reconstruction on the large trail;
- ``baseline_small_ms_p50`` / ``_p99``: the same on a trail of ``--small`` decisions built the same way in
  this run, and ``ratio_p50_large_vs_small``: near 1 when every lookup is indexed (a scan would make
  it grow with the trail);
- ``build_events_per_s``: how fast the large trail was written; ``events``: its size.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import modeltrail
from modeltrail.audit.reconstruct import reconstruct
from modeltrail.events import Actor, EventInput
from modeltrail.ids import new_id

SYSTEM = "bench-credit"
MODEL = "model:credit@1"
ALICE = Actor("alice", "data_scientist")
BOB = Actor("bob", "model_risk")
CAROL = Actor("carol", "compliance")
SERVICE = Actor("scoring", "service", "service")


def _story(trail: modeltrail.Trail) -> None:
    """The events a deployed model version rests on, recorded as the registry and lineage write them."""
    ds = "dataset:credit-train@0123456789abcdef"
    run = "run:" + new_id()
    trail.record("dataset.registered", system=SYSTEM, actor=ALICE, subject=ds, payload={"name": "credit-train"})
    trail.record("run.started", system=SYSTEM, actor=ALICE, subject=run, payload={"name": "train"}, refs=[ds])
    trail.record("run.ended", system=SYSTEM, actor=ALICE, subject=run, payload={"status": "completed"})
    trail.record(
        "model.registered", system=SYSTEM, actor=ALICE, subject=MODEL, payload={"name": "credit"}, refs=[run, ds]
    )
    trail.record("report.generated", system=SYSTEM, actor=ALICE, subject=MODEL, payload={"kind": "performance"})
    gate = trail.record(
        "gate.evaluated", system=SYSTEM, actor=ALICE, subject=MODEL, payload={"stage": "production", "passed": True}
    )
    a1 = trail.record("model.approved", system=SYSTEM, actor=BOB, subject=MODEL, payload={"stage": "production"})
    a2 = trail.record("model.approved", system=SYSTEM, actor=CAROL, subject=MODEL, payload={"stage": "production"})
    trail.record(
        "model.deployed",
        system=SYSTEM,
        actor=BOB,
        subject=MODEL,
        payload={"env": "production", "gate_seq": gate.seq, "approval_seqs": [a1.seq, a2.seq]},
    )


def build(path: Path, decisions: int, seed: int) -> tuple[modeltrail.Trail, list[str], float]:
    """A trail with the story and ``decisions`` decisions; returns it, the decision ids and events/s."""
    rng = random.Random(seed)
    trail = modeltrail.init(path, checkpoint_every_events=10_000)
    _story(trail)
    ids: list[str] = []
    t0 = time.perf_counter()
    batch: list[EventInput] = []
    for i in range(decisions):
        did = new_id()
        ids.append(did)
        subject = f"decision:{did}"
        score = rng.random()
        batch.append(
            EventInput(
                "inference.decision",
                SYSTEM,
                SERVICE,
                subject,
                {
                    "decision_id": did,
                    "model": MODEL,
                    "env": "production",
                    "input": {"duration_months": rng.randint(4, 72), "credit_amount": rng.randint(250, 18000)},
                    "output": int(score > 0.5),
                    "score": round(score, 6),
                    "route": "auto",
                },
                None,
                None,
            )
        )
        if i % 50 == 0:
            batch.append(
                EventInput("oversight.reviewed", SYSTEM, BOB, subject, {"decision_id": did, "reason": "ok"}, None, None)
            )
        if i % 20 == 0:
            batch.append(EventInput("inference.label", SYSTEM, SERVICE, subject, {"actual": 0}, None, None))
        if len(batch) >= 10_000:
            trail.record_many(batch)
            batch = []
    if batch:
        trail.record_many(batch)
    rate = (trail.size()) / (time.perf_counter() - t0)
    trail.checkpoint()
    return trail, ids, rate


def time_reconstruct(trail: modeltrail.Trail, ids: list[str], queries: int, seed: int) -> list[float]:
    """Milliseconds per reconstruction of ``queries`` random decisions (after two warm-up calls)."""
    rng = random.Random(seed + 1)
    for did in ids[:2]:
        reconstruct(trail, did)
    out = []
    for _ in range(queries):
        did = rng.choice(ids)
        t0 = time.perf_counter()
        rec = reconstruct(trail, did)
        out.append((time.perf_counter() - t0) * 1000)
        if not rec.proof_verified or rec.deployment is None or rec.model is None:
            raise SystemExit(f"reconstruction of {did} is incomplete")
    return out


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Build both trails, time the reconstructions and return the result object."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--decisions", type=int, default=100_000, help="decisions in the large trail")
    ap.add_argument("--small", type=int, default=1_000, help="decisions in the baseline trail")
    ap.add_argument("--queries", type=int, default=300, help="reconstructions timed per trail")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print only the JSON object")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {"decisions": args.decisions, "queries": args.queries}
    with tempfile.TemporaryDirectory(prefix="mt-bench-audit-") as tmp:
        small, small_ids, _ = build(Path(tmp) / "small", args.small, args.seed)
        base = time_reconstruct(small, small_ids, args.queries, args.seed)
        small.close()
        large, ids, rate = build(Path(tmp) / "large", args.decisions, args.seed)
        out["events"] = large.size()
        out["build_events_per_s"] = round(rate)
        times = time_reconstruct(large, ids, args.queries, args.seed)
        large.close()
    out["reconstruct_ms_p50"] = round(statistics.median(times), 3)
    out["reconstruct_ms_p99"] = round(_pct(times, 99), 3)
    out["reconstruct_ms_max"] = round(max(times), 3)
    out["baseline_small_decisions"] = args.small
    out["baseline_small_ms_p50"] = round(statistics.median(base), 3)
    out["baseline_small_ms_p99"] = round(_pct(base, 99), 3)
    out["ratio_p50_large_vs_small"] = round(out["reconstruct_ms_p50"] / out["baseline_small_ms_p50"], 2)
    out["cpus"] = os.cpu_count()
    out["python"] = sys.version.split()[0]
    return out


if __name__ == "__main__":
    result = main()
    print(json.dumps(result, indent=None if "--json" in sys.argv else 2))
