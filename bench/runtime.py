"""Runtime benchmark: the guard's added latency, batch throughput with durability, and same-run baselines.

    python bench/runtime.py --json

Prints one JSON object:

- ``added_latency_us_p50`` / ``_p99``: per call, a guarded ``decide()`` (logging on) minus the bare
  model's ``predict_proba`` on the same single row (batch size 1, a logistic regression on 20 numeric
  features), both timed with ``perf_counter_ns`` in one interleaved loop; the percentiles of each
  distribution are subtracted. The raw percentiles are printed as well.
  Measured with the guard's default ``encode_on="caller"`` and ``DecisionLogger(writer="process")``
  with its defaults, the configuration the serving guide recommends; the ``*_thread_writer`` keys repeat
  the measurement with the library's default writer thread, the ``*_encode_on_writer`` keys with the
  thread writer and the encoding on that thread.
- ``added_cpu_us_p50`` / ``_p99``: the same comparison in CPU time of the calling thread
  (``thread_time_ns``), which a busy machine's scheduling noise does not inflate.
- ``durable_ms_p50`` / ``_p99`` and ``durable_within_50ms``: time from ``decide()`` returning to the
  commit that made the decision durable (stamped by the writer), on every 20th call above.
- ``batch_decisions_per_s``: ``decide_many`` over batches of 1,000 rows (a NumPy array, so the guard's
  columnar path) until the last is durable, with ``DecisionLogger(writer="process")``: the ledger
  appends run in a child process. ``batch_decisions_per_s_thread_writer`` repeats it with the default
  writer thread, which shares the GIL with the calling thread.
- ``ledger_append_events_per_s``: the ledger's own ceiling in this run (already encoded decision events
  appended in batches of 10,000), to read the figure above against.
- ``baseline_jsonl_decisions_per_s``: the same model call plus the same decision written as JSON lines
  to a file, one fsync per 1,000 decisions.
- ``baseline_mlflow_decisions_per_s``: MLflow tracking (local SQLite store) logging each decision as a
  run with params and metrics; null when MLflow is not installed.
- ``ratio_batch_vs_jsonl`` / ``ratio_batch_vs_ledger_ceiling``: ``batch_decisions_per_s`` over the
  JSON-lines baseline and over the ledger's ceiling, both from this run: machines of one kind differ
  by a third in speed from day to day, and these ratios move far less than the absolute figures.
- ``http_ingest_events_per_s``: events per second through ``modeltrail serve`` (``bench/http_ingest.py``:
  batches of 1,000 events POSTed to ``/v1/events`` by 4 client connections, counted when the durable
  receipts come back); ``http_ingest`` holds that run's details. Null with ``http_ingest_note`` when the
  ``[server]`` extra is not installed or ``--http-events 0``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

import modeltrail
from modeltrail.ids import new_id
from modeltrail.runtime import guard
from modeltrail.runtime.guard import _Batch
from modeltrail.runtime.logger import DecisionLogger, PendingDecision
from modeltrail.runtime.scoring import Scores

N_FEATURES = 20
NAMES = [f"f{i:02d}" for i in range(N_FEATURES)]


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] + rng.normal(0, 0.5, n) > 0).astype(int)
    return X, y


def bench_latency(
    trail: Any, model: LogisticRegression, X: np.ndarray, calls: int, encode_on: str, writer: str = "thread"
) -> dict[str, Any]:
    """Interleaved bare vs guarded single-row calls, plus enqueue->durable times of a sample."""
    logger = DecisionLogger(trail, writer=writer, boost_writer=True)  # type: ignore[arg-type]
    try:
        return _latency_run(trail, model, X, calls, encode_on, logger)
    finally:
        logger.close()


def _latency_run(
    trail: Any, model: LogisticRegression, X: np.ndarray, calls: int, encode_on: str, logger: DecisionLogger
) -> dict[str, Any]:
    g = guard(trail, model, name="bench", system="bench", feature_names=NAMES, logger=logger)
    g._encode_on_caller = encode_on == "caller"  # the measured alternative: encoding on the writer thread
    rows = [dict(zip(NAMES, r, strict=True)) for r in X.tolist()]
    singles = [X[i : i + 1] for i in range(len(X))]
    proba = model.predict_proba
    for i in range(2000):  # warm-up (imports, caches, the writer's first commits)
        proba(singles[i])
        g.decide(rows[i])
    g.logger.flush(30)
    bare: list[float] = []
    guarded: list[float] = []
    # (pending, perf_counter at enqueue) for a sample; the writer stamps each entry's commit time, so
    # no observer thread competes for the GIL and distorts what it measures.
    sampled: list[tuple[PendingDecision, float]] = []
    now = time.perf_counter_ns
    cpu = time.thread_time_ns
    bare_cpu: list[float] = []
    guarded_cpu: list[float] = []
    n = len(rows)
    for i in range(calls):
        k = i % n
        c0 = cpu()
        t0 = now()
        proba(singles[k])
        t1 = now()
        c1 = cpu()
        d = g.decide(rows[k])
        t2 = now()
        c2 = cpu()
        bare.append((t1 - t0) / 1000)
        guarded.append((t2 - t1) / 1000)
        bare_cpu.append((c1 - c0) / 1000)
        guarded_cpu.append((c2 - c1) / 1000)
        if i % 20 == 0:
            sampled.append((d.pending, t2 / 1e9))
    g.logger.flush(60)
    durable_ms = [((p.done_at or float("inf")) - t_enq) * 1000 for p, t_enq in sampled]
    return {
        "added_latency_us_p50": round(_pct(guarded, 50) - _pct(bare, 50), 1),
        "added_latency_us_p99": round(_pct(guarded, 99) - _pct(bare, 99), 1),
        "bare_us_p50": round(_pct(bare, 50), 1),
        "bare_us_p99": round(_pct(bare, 99), 1),
        "guarded_us_p50": round(_pct(guarded, 50), 1),
        "guarded_us_p99": round(_pct(guarded, 99), 1),
        # CPU time of the calling thread: the same comparison without preemption by other processes.
        "added_cpu_us_p50": round(_pct(guarded_cpu, 50) - _pct(bare_cpu, 50), 1),
        "added_cpu_us_p99": round(_pct(guarded_cpu, 99) - _pct(bare_cpu, 99), 1),
        "durable_ms_p50": round(_pct(durable_ms, 50), 2),
        "durable_ms_p99": round(_pct(durable_ms, 99), 2),
        "durable_within_50ms": _pct(durable_ms, 99) <= 50.0,
        "gil_switch_interval_s_while_logging": sys.getswitchinterval(),
    }


def bench_batch(trail: Any, model: LogisticRegression, X: np.ndarray, total: int, writer: str) -> float:
    """decide_many in batches of 1,000 until the last decision is durable; decisions per second."""
    logger = DecisionLogger(trail, writer=writer, boost_writer=True)  # type: ignore[arg-type]
    try:
        return _batch_run(trail, model, X, total, logger)
    finally:
        logger.close()


def _batch_run(trail: Any, model: LogisticRegression, X: np.ndarray, total: int, logger: DecisionLogger) -> float:
    g = guard(trail, model, name="bench-batch", system="bench", feature_names=NAMES, logger=logger)
    g.decide_many(X[:1000])[-1].durable(30)
    t0 = time.perf_counter()
    done = 0
    last = None
    while done < total:
        chunk = X[(done % len(X)) : (done % len(X)) + 1000]
        last = g.decide_many(chunk)
        done += len(chunk)
    assert last is not None
    last[-1].durable(120)
    g.logger.flush(120)
    return done / (time.perf_counter() - t0)


def bench_ledger_ceiling(trail: Any, model: LogisticRegression, X: np.ndarray, total: int) -> float:
    """Append already encoded decision events straight to the ledger: the storage ceiling of this run."""
    g = guard(trail, model, name="bench-ceiling", system="bench", feature_names=NAMES)
    P = model.predict_proba(X)
    events = []
    for i in range(total):
        row = dict(zip(NAMES, X[i % len(X)].tolist(), strict=True))
        p = float(P[i % len(X), 1])
        did = new_id()
        batch = _Batch([did], [row], [None], Scores([int(p > 0.5)], [p], [max(p, 1 - p)]), ["auto"], "m")
        events.append(g._entry(did, *g._event(batch, 0, 40)))
    t0 = time.perf_counter()
    for i in range(0, total, 10_000):
        trail.append_prepared(events[i : i + 10_000])
    return total / (time.perf_counter() - t0)


def bench_jsonl(path: Path, model: LogisticRegression, X: np.ndarray, total: int) -> float:
    """Baseline: same model call, same decision as one JSON line each, fsync per 1,000 decisions."""
    t0 = time.perf_counter()
    done = 0
    with open(path, "w", encoding="utf-8") as fh:
        while done < total:
            chunk = X[(done % len(X)) : (done % len(X)) + 1000]
            P = model.predict_proba(chunk)
            idx = P.argmax(axis=1)
            lines = []
            for row, p, k in zip(chunk.tolist(), P.tolist(), idx.tolist(), strict=True):
                rec = {
                    "decision_id": new_id(),
                    "ts": time.time(),
                    "model": "model:bench@1",
                    "env": "production",
                    "input": dict(zip(NAMES, row, strict=True)),
                    "output": k,
                    "score": p[1],
                    "confidence": p[k],
                    "route": "auto",
                }
                lines.append(json.dumps(rec, separators=(",", ":")))
            fh.write("\n".join(lines) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            done += len(chunk)
    return done / (time.perf_counter() - t0)


def bench_mlflow(folder: Path, model: LogisticRegression, X: np.ndarray, total: int) -> tuple[float | None, str | None]:
    """Baseline: MLflow tracking with a local SQLite store, one run per decision (params + metrics)."""
    try:
        import mlflow
    except ImportError:
        return None, "mlflow is not installed in this environment"
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    mlflow.set_experiment("decisions")
    t0 = time.perf_counter()
    for i in range(total):
        row = X[i % len(X) : i % len(X) + 1]
        p = model.predict_proba(row)[0]
        with mlflow.start_run():
            mlflow.log_params({n: float(v) for n, v in zip(NAMES, row[0].tolist(), strict=True)})
            mlflow.log_metrics({"score": float(p[1]), "confidence": float(p.max()), "output": float(p.argmax())})
    return total / (time.perf_counter() - t0), None


def bench_http_ingest(events: int) -> tuple[dict[str, Any] | None, str | None]:
    """``bench/http_ingest.py``'s run (a real ``modeltrail serve`` process); None and why when unavailable."""
    if events <= 0:
        return None, "skipped (--http-events 0)"
    for module in ("fastapi", "uvicorn", "httpx"):
        if importlib.util.find_spec(module) is None:
            return None, f"{module} is not installed (pip install 'modeltrail[server]')"
    spec = importlib.util.spec_from_file_location("bench_http_ingest", Path(__file__).with_name("http_ingest.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    result: dict[str, Any] = mod.run(events=events)
    return result, None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every measurement and return the result object."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--calls", type=int, default=20_000, help="single-row calls in the latency loop")
    ap.add_argument("--batch-total", type=int, default=300_000, help="decisions in the batch run")
    ap.add_argument("--mlflow-total", type=int, default=200, help="decisions logged through MLflow")
    ap.add_argument("--http-events", type=int, default=200_000, help="events sent to the HTTP API (0: skip)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print only the JSON object")
    ap.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="sys.setswitchinterval for the run (default: Python's 0.005 s)",
    )
    args = ap.parse_args(argv)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    X, y = _data(5_000, args.seed)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mt-bench-runtime-") as tmp:
        root = Path(tmp)
        trail = modeltrail.init(root / "t")
        # Headline: the configuration for serving, DecisionLogger(writer="process") with its defaults.
        out.update(bench_latency(trail, model, X, args.calls, "caller", "process"))
        lat_thread = bench_latency(trail, model, X, args.calls, "caller", "thread")  # the library default
        lat_writer = bench_latency(trail, model, X, args.calls, "writer", "thread")
        for key in ("added_latency_us_p50", "added_latency_us_p99", "added_cpu_us_p99", "durable_ms_p99"):
            out[f"{key}_thread_writer"] = lat_thread[key]
        out["added_latency_us_p50_encode_on_writer"] = lat_writer["added_latency_us_p50"]
        out["added_latency_us_p99_encode_on_writer"] = lat_writer["added_latency_us_p99"]
        out["durable_ms_p99_encode_on_writer"] = lat_writer["durable_ms_p99"]
        out["batch_decisions_per_s"] = round(bench_batch(trail, model, X, args.batch_total, "process"))
        out["batch_decisions_per_s_thread_writer"] = round(bench_batch(trail, model, X, args.batch_total, "thread"))
        out["ledger_append_events_per_s"] = round(bench_ledger_ceiling(trail, model, X, 100_000))
        trail.close()
        out["baseline_jsonl_decisions_per_s"] = round(bench_jsonl(root / "decisions.jsonl", model, X, args.batch_total))
        out["ratio_batch_vs_jsonl"] = round(out["batch_decisions_per_s"] / out["baseline_jsonl_decisions_per_s"], 2)
        out["ratio_batch_vs_ledger_ceiling"] = round(
            out["batch_decisions_per_s"] / out["ledger_append_events_per_s"], 2
        )
        mlflow_rate, note = bench_mlflow(root, model, X, args.mlflow_total)
        out["baseline_mlflow_decisions_per_s"] = None if mlflow_rate is None else round(mlflow_rate, 1)
        if note:
            out["baseline_mlflow_note"] = note
    http, http_note = bench_http_ingest(args.http_events)
    out["http_ingest_events_per_s"] = None if http is None else http["http_ingest_events_per_s"]
    if http is not None:
        out["http_ingest"] = {k: v for k, v in http.items() if k not in ("http_ingest_events_per_s", "cpus", "python")}
    if http_note:
        out["http_ingest_note"] = http_note
    out["features"] = N_FEATURES
    out["cpus"] = os.cpu_count()
    out["python"] = sys.version.split()[0]
    out["gil_switch_interval_s"] = sys.getswitchinterval()  # restored once the loggers closed
    return out


if __name__ == "__main__":
    result = main()
    print(json.dumps(result, indent=None if "--json" in sys.argv else 2))
