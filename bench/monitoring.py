"""Benchmark: the full drift report of N production rows × 30 columns (25 numeric, 5 categorical) against a
stored 1,000,000-row reference profile, and Evidently's ``DataDriftPreset`` on the same data in the same run.

    python bench/monitoring.py --rows 1000000 --json

Prints one JSON object: ``drift_report_s`` (modeltrail's report against the stored profile, measured in a
child process that loads the profile blob and the current Parquet file: ``peak_rss_mb`` is that child's
peak resident memory), ``profile_s`` (building the profile once, not part of a run), ``baseline_evidently_s``
(Evidently's report run, in its own environment: ``bash bench/make_evidently_venv.sh`` creates it in
/tmp/evidently-venv, or set ``EVIDENTLY_PYTHON``), ``speedup_vs_evidently`` and ``max_abs_diff_vs_evidently``
(over every column: the methods are the same, Evidently's defaults). Without Evidently's environment the
baseline is skipped with a message and its fields are null. ``drift_report_cpu_s``,
``baseline_evidently_cpu_s`` and ``speedup_vs_evidently_cpu`` are the same runs in CPU time of each
process (``time.process_time``): on a shared machine the wall-clock figures move with the other load,
the CPU times far less.

``--ingest-decisions N`` (e.g. 10000000; off by default, it takes minutes) adds
``ingest_then_monitor_10m_peak_rss_mb``: after a setup process has registered a model and recorded its
1,000,000-row reference profile (registration time, not measured), one child process logs N decisions
through the guard (30 inputs: 25 numeric, 5 integer-coded categories, the guard's columnar path, the
writer in its own process) into the trail, then runs ``monitor`` over them as one window; the figure is
that child's peak resident memory (target < 1 GiB; the writer process is apart), with ``ingest_s``,
``monitor_s`` and the window's ``exact`` flag (N beyond the 1,000,000-row budget: binned summary and
sample).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
N_NUMERIC, N_CATEGORICAL = 25, 5


def make_frame(rows: int, seed: int, shift: float) -> pd.DataFrame:
    """Synthetic data: numeric columns of several shapes (some with ties), categorical strings."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    for i in range(N_NUMERIC):
        kind = i % 5
        s = shift if i % 3 == 0 else 0.0
        if kind == 0:
            v = rng.normal(s, 1.0, rows)
        elif kind == 1:
            v = rng.exponential(1.0 + s, rows)
        elif kind == 2:
            v = np.round(rng.normal(50 + 10 * s, 10, rows))  # integers: many ties
        elif kind == 3:
            v = rng.lognormal(s, 0.5, rows)
        else:
            v = rng.uniform(0, 1 + s, rows)
        if i % 7 == 0:
            v[rng.random(rows) < 0.01] = np.nan
        cols[f"n{i}"] = v
    for j in range(N_CATEGORICAL):
        k = 4 + 3 * j
        p = np.ones(k)
        if shift and j % 2 == 0:
            p[0] += 2 * shift
        cols[f"c{j}"] = rng.choice([f"cat{j}_{m}" for m in range(k)], size=rows, p=p / p.sum())
    return pd.DataFrame(cols)


CHILD = r"""
import json, sys, time


def hwm_mb():
    # VmHWM is this process's own peak (ru_maxrss keeps the parent's peak across fork + exec on Linux).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


from modeltrail.monitor.profile import ReferenceProfile
from modeltrail.monitor.drift import drift_report
from modeltrail.monitor.windows import ParquetColumns
profile_path, current_path, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
prof = ReferenceProfile.from_file(profile_path)
cur = ParquetColumns(current_path)
t1 = time.perf_counter()
c1 = time.process_time()
rep = drift_report(prof, cur, workers=workers)
t2 = time.perf_counter()
print(json.dumps({"load_s": t1 - t0, "drift_report_s": t2 - t1, "drift_report_cpu_s": time.process_time() - c1,
                  "peak_rss_mb": hwm_mb(),
                  "values": {n: c.value for n, c in rep.columns.items()},
                  "methods": {n: c.method for n, c in rep.columns.items()},
                  "share": rep.share_drifted}))
"""


INGEST_CHILD = r"""
import json, sys, time
import numpy as np
import pandas as pd


def hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


import modeltrail
from modeltrail.events import Actor
from modeltrail.monitor.profile import build_profile, record_profile
from modeltrail.monitor.run import monitor
from modeltrail.runtime import guard
from modeltrail.runtime.logger import DecisionLogger
from sklearn.linear_model import LogisticRegression

phase, folder, n, n_ref = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
N_NUM, N_CAT = 25, 5
names = [f"n{i}" for i in range(N_NUM)] + [f"c{j}" for j in range(N_CAT)]


def data(rows, seed, shift):
    rng = np.random.default_rng(seed)
    X = np.empty((rows, N_NUM + N_CAT))
    for i in range(N_NUM):
        X[:, i] = rng.normal(shift if i % 3 == 0 else 0.0, 1.0 + i % 4, rows)
    for j in range(N_CAT):
        X[:, N_NUM + j] = rng.integers(0, 4 + 3 * j, rows)
    return X


actor = Actor("bench", "ops", "service")
if phase == "setup":
    # Registration time, its own process: the reference profile is built once, not by the monitor.
    trail = modeltrail.init(folder)
    Xr = data(n_ref, 1, 0.0)
    y = (Xr[:, 0] + Xr[:, 1] > 0).astype(int)
    model = LogisticRegression(max_iter=200).fit(Xr[:20000], y[:20000])
    trail.register_model(model, name="bench", system="bench", actor=actor)
    ref = pd.DataFrame(Xr, columns=names)
    for j in range(N_CAT):
        ref[f"c{j}"] = ref[f"c{j}"].astype(np.int64)
    prof = build_profile(ref, categorical=[f"c{j}" for j in range(N_CAT)], scores=model.predict_proba(Xr)[:, 1])
    record_profile(trail, prof, model="model:bench@1", system="bench", actor=actor)
    trail.close()
    print(json.dumps({"setup_peak_rss_mb": hwm_mb()}))
    sys.exit(0)
trail = modeltrail.open(folder)
logger = DecisionLogger(trail, writer="process", boost_writer=True)
g = guard(trail, "bench@1", env="production", feature_names=names, logger=logger)
chunk = 10_000
X = data(200_000, 2, 0.2)  # served in rotation: ingest memory does not grow with n
t0 = time.perf_counter()
done, last = 0, None
while done < n:
    k = min(chunk, n - done)
    s = done % X.shape[0]
    last = g.decide_many(X[s : s + k])
    done += k
last[-1].durable(600)
logger.flush(600)
ingest_s = time.perf_counter() - t0
ingest_peak = hwm_mb()
logger.close()
del X, g, last
t1 = time.perf_counter()
c1 = time.process_time()
(res,) = monitor(trail, "bench@1", "production", every="3650d", actor=actor)
monitor_s = time.perf_counter() - t1
print(json.dumps({"ingest_s": ingest_s, "monitor_s": monitor_s, "monitor_cpu_s": time.process_time() - c1,
                  "ingest_peak_rss_mb": ingest_peak, "peak_rss_mb": hwm_mb(), "window": res.window,
                  "share_drifted": res.drift.share_drifted}))
"""


def ingest_then_monitor(n: int, reference_rows: int) -> dict[str, object]:
    """Log ``n`` decisions and monitor them in one child process; its peak memory and timings."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        t0 = time.perf_counter()
        out: dict[str, object] = {}
        for phase in ("setup", "run"):
            child = subprocess.run(
                [sys.executable, "-c", INGEST_CHILD, phase, str(Path(tmp, "trail")), str(n), str(reference_rows)],
                capture_output=True, text=True, check=True, env=env,
            )  # fmt: skip
            out.update(json.loads(child.stdout.strip().splitlines()[-1]))
        out["total_s"] = time.perf_counter() - t0
        return out


def evidently_python() -> str | None:
    """The interpreter of Evidently's environment, if it exists."""
    cand = os.environ.get("EVIDENTLY_PYTHON") or "/tmp/evidently-venv/bin/python"
    return cand if Path(cand).exists() else None


def main() -> None:
    """Run the benchmark and print one JSON object."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000, help="production rows (current window)")
    ap.add_argument("--reference-rows", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=1, help="threads for the drift report")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--json", action="store_true", help="print JSON (the only output format)")
    ap.add_argument(
        "--ingest-decisions", type=int, default=0, help="also log and monitor this many decisions (e.g. 10000000)"
    )
    ap.add_argument("--only-ingest", action="store_true", help="skip the drift report and its baseline")
    args = ap.parse_args()
    if args.only_ingest:
        r = ingest_then_monitor(args.ingest_decisions or 10_000_000, args.reference_rows)
        print(json.dumps(_ingest_fields(args.ingest_decisions or 10_000_000, r)))
        return
    from modeltrail.monitor.profile import build_profile

    ref = make_frame(args.reference_rows, 1, 0.0)
    cur = make_frame(args.rows, 2, 0.1)
    with tempfile.TemporaryDirectory() as tmp:
        ref_path, cur_path, prof_path = Path(tmp, "ref.parquet"), Path(tmp, "cur.parquet"), Path(tmp, "profile.npz")
        ref.to_parquet(ref_path)
        cur.to_parquet(cur_path)
        t0 = time.perf_counter()
        prof = build_profile(ref)
        profile_s = time.perf_counter() - t0
        prof_path.write_bytes(prof.to_bytes())
        del ref, cur, prof
        env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(prof_path), str(cur_path), str(args.workers)],
            capture_output=True, text=True, check=True, env=env,
        )  # fmt: skip
        ours = json.loads(child.stdout)
        out: dict[str, object] = {
            "rows": args.rows,
            "reference_rows": args.reference_rows,
            "columns": N_NUMERIC + N_CATEGORICAL,
            "workers": args.workers,
            "drift_report_s": round(ours["drift_report_s"], 3),
            "drift_report_cpu_s": round(ours["drift_report_cpu_s"], 3),
            "load_profile_and_current_s": round(ours["load_s"], 3),
            "profile_s": round(profile_s, 3),
            "peak_rss_mb": round(ours["peak_rss_mb"], 1),
            "share_drifted": ours["share"],
            "methods": sorted(set(ours["methods"].values())),
            "baseline_evidently_s": None,
            "speedup_vs_evidently": None,
            "baseline_evidently_cpu_s": None,
            "speedup_vs_evidently_cpu": None,
            "max_abs_diff_vs_evidently": None,
            "evidently": None,
        }
        py = evidently_python()
        if args.no_baseline or py is None:
            if py is None:
                print(
                    "Evidently environment missing (bash bench/make_evidently_venv.sh): baseline skipped",
                    file=sys.stderr,
                )
        else:
            num = ",".join(f"n{i}" for i in range(N_NUMERIC))
            cat = ",".join(f"c{j}" for j in range(N_CATEGORICAL))
            ev = subprocess.run(
                [py, str(HERE / "_evidently_baseline.py"), str(ref_path), str(cur_path), num, cat],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            base = json.loads(ev.stdout.strip().splitlines()[-1])
            diffs = [abs(float(base["columns"][n]["value"]) - float(v)) for n, v in ours["values"].items()]
            out["baseline_evidently_s"] = round(base["seconds"], 3)
            out["speedup_vs_evidently"] = round(base["seconds"] / ours["drift_report_s"], 1)
            out["max_abs_diff_vs_evidently"] = max(diffs)
            if base.get("cpu_seconds"):
                out["baseline_evidently_cpu_s"] = round(base["cpu_seconds"], 3)
                out["speedup_vs_evidently_cpu"] = round(base["cpu_seconds"] / ours["drift_report_cpu_s"], 1)
            out["evidently"] = {"share": base["share"], "peak_rss_mb_parent": None}
    out["bench_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if args.ingest_decisions:
        out.update(
            _ingest_fields(args.ingest_decisions, ingest_then_monitor(args.ingest_decisions, args.reference_rows))
        )
    print(json.dumps(out))


def _ingest_fields(n: int, r: dict[str, object]) -> dict[str, object]:
    key = "ingest_then_monitor_10m_peak_rss_mb" if n == 10_000_000 else f"ingest_then_monitor_{n}_peak_rss_mb"
    return {key: r["peak_rss_mb"], "ingest_then_monitor": {"decisions": n, **r}}


if __name__ == "__main__":
    main()
