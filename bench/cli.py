"""CLI benchmark: start-up and the first page of every listing, run as the installed command.

    python bench/cli.py --events 1000000 --json

Builds a trail of N events with ``record_many`` (inference decisions, one in ten routed to review, plus a
few dataset versions, runs and model versions), then times each command as a separate process, the way a
user runs it: ``modeltrail --help``, ``log -n 20`` (first page, a page deep in the ledger, newest first),
``review list -n 20``, ``runs/datasets/models list -n 20``. Each is run ``--repeat`` times after one
warm-up call (the warm-up also folds the projections, reported as ``warmup_s``). The baseline, measured
in the same run, is ``python -c pass`` with the same interpreter, so the ratios separate the command's
own cost from the machine's process start-up. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import modeltrail
from modeltrail.events import Actor, EventInput

SERVICE = Actor("scoring-service", "service", "service")
ALICE = Actor("alice", "data_scientist", "human")


def build(folder: Path, n: int, seed: int) -> float:
    """A trail of about ``n`` events; returns the seconds it took."""
    rng = random.Random(seed)
    start = time.perf_counter()
    t = modeltrail.init(folder, checkpoint_every_events=10**12, checkpoint_every_seconds=10**9)
    _lineage(t)
    batch = 50_000
    done = t.size()
    while done < n:
        events = []
        for i in range(done, min(n, done + batch)):
            review = rng.random() < 0.1
            score = round(rng.random(), 6)
            did = f"{i:016x}{rng.getrandbits(64):016x}"
            events.append(
                EventInput(
                    type="inference.decision",
                    system="credit-scoring",
                    actor=SERVICE,
                    subject=f"decision:{did}",
                    payload={
                        "decision_id": did,
                        "model": "model:credit@3",
                        "env": "prod",
                        "route": "review" if review else "auto",
                        "output": int(score > 0.5),
                        "score": score,
                        "confidence": max(score, 1 - score),
                        "review_reasons": [{"rule": "confidence_below", "confidence": score, "threshold": 0.6}]
                        if review
                        else None,
                        "features": {"duration_months": rng.randint(4, 72), "credit_amount": rng.randint(250, 18000)},
                    },
                )
            )
        t.record_many(events)
        done += len(events)
    t.checkpoint()
    t.close()
    return time.perf_counter() - start


def _lineage(t: modeltrail.Trail) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from modeltrail.lineage import register_dataset, register_model, start_run

    rng = np.random.default_rng(0)
    for _ in range(3):
        X = rng.normal(size=(200, 3))
        y = (X[:, 0] > 0).astype(int)
        ds = register_dataset(t, X, name="applications", system="credit-scoring", actor=ALICE)
        run = start_run(
            t, "train", system="credit-scoring", actor=ALICE, datasets=[ds], capture_git=False, capture_env=False
        )
        run.end()
        register_model(
            t, LogisticRegression().fit(X, y), name="credit", system="credit-scoring", actor=ALICE, run=run
        )


def _time(cmd: list[str], env: dict[str, str], repeat: int) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, check=False)
        runs.append(time.perf_counter() - start)
        if out.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {out.stderr.decode()[-2000:]}")
    return {
        "median_s": round(statistics.median(runs), 4),
        "min_s": round(min(runs), 4),
        "max_s": round(max(runs), 4),
        "runs_s": [round(r, 4) for r in runs],
        "lines": len(out.stdout.splitlines()),
    }


def main() -> None:
    """Build the trail, time the commands, print one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--trail", type=Path, help="Reuse (or keep) the trail in this folder.")
    ap.add_argument("--json", action="store_true", help="Print only the JSON object (the default output too).")
    args = ap.parse_args()

    exe = shutil.which("modeltrail", path=str(Path(sys.executable).parent)) or shutil.which("modeltrail")
    if exe is None:
        raise SystemExit("the modeltrail command is not installed (pip install -e .)")
    tmp = None
    if args.trail is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-cli-")
        folder = Path(tmp.name) / "trail"
    else:
        folder = args.trail
    build_s = None
    if not (folder / "config.json").exists() and not (folder / ".modeltrail" / "config.json").exists():
        build_s = round(build(folder, args.events, args.seed), 2)
    with modeltrail.open(folder) as t:
        size = t.size()
    env = {**os.environ, "MODELTRAIL_URL": str(folder), "COLUMNS": "120"}
    # An installed package has its bytecode compiled (pip does it); without this, a shell that sets
    # PYTHONDONTWRITEBYTECODE would time the compiling of every module on every run instead.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    commands = {
        "help": [exe, "--help"],
        "log_first_page": [exe, "log", "-n", "20"],
        "log_deep_page": [exe, "log", "-n", "20", "--after", str(size // 2)],
        "log_newest_page": [exe, "log", "-n", "20", "--reverse"],
        "log_type_page": [exe, "log", "-n", "20", "--type", "model.*"],
        "review_list_page": [exe, "review", "list", "-n", "20"],
        "runs_list_page": [exe, "runs", "list", "-n", "20"],
        "datasets_list_page": [exe, "datasets", "list", "-n", "20"],
        "models_list_page": [exe, "models", "list", "-n", "20"],
    }
    baseline = _time([sys.executable, "-c", "pass"], env, args.repeat)
    results: dict[str, Any] = {}
    for name, cmd in commands.items():
        start = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        warm = time.perf_counter() - start
        res = _time(cmd, env, args.repeat)
        res["warmup_s"] = round(warm, 3)
        res["ratio_to_python_start"] = round(res["median_s"] / baseline["median_s"], 1)
        results[name] = res
    print(
        json.dumps(
            {
                "benchmark": "cli",
                "events": size,
                "build_s": build_s,
                "repeat": args.repeat,
                "command": exe,
                "trail": str(folder),
                "baseline_python_c_pass": baseline,
                "commands": results,
                "targets": {"help_s": 0.3, "log_first_page_s": 0.5, "list_first_page_s": 1.0},
                "met": {
                    "help": results["help"]["max_s"] <= 0.3,
                    "log": results["log_first_page"]["max_s"] <= 0.5,
                    "lists": all(results[k]["max_s"] <= 1.0 for k in results if k.endswith("_page")),
                },
            },
            indent=2,
        )
    )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
