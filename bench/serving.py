"""Serving benchmark with every feature on: the demo's real pipeline, against its bare model and JSON lines.

    python bench/serving.py --json [--decisions 20000] [--model credit-gbm|credit-logreg]

The workload is the demo's (``modeltrail demo``): German Credit rows with string and numeric columns, the
demo's scikit-learn pipeline (one-hot encoding and scaling, then gradient boosting or logistic
regression), the demo policy's data policy (``applicant_id`` pseudonymised, ``age_years`` and
``personal_status_sex`` sealed under each applicant's key, ``telephone`` dropped) and top-3
explanations per decision (:class:`modeltrail.evidence.explain.DecisionExplainer`: TreeSHAP for the
trees, linear terms for the regression). Prints one JSON object:

- ``bare_decisions_per_s``: the model's ``predict_proba`` alone on the same batches of 1,000 rows
  (a frame built from the rows, as the guard does).
- ``guard_decisions_per_s``: ``Guard.decide_many`` on the same batches, every feature on, until the last
  decision is durable in the ledger (thread writer, the default).
- ``jsonl_decisions_per_s``: the same pipeline writing JSON lines instead: the same model call and
  batch explanations, HMAC-SHA256 pseudonyms, AES-256-GCM sealing under per-applicant keys, one
  ``orjson`` line per decision and one fsync per batch.
- ``ratio_guard_vs_jsonl`` and ``ratio_guard_vs_bare``: the first over the other two, from this run.
- ``single_added_us_p50`` / ``_p99``: a guarded ``decide()`` with its explanation minus the bare
  model's ``predict_proba`` on a one-row frame, interleaved in one loop; percentiles subtracted.
  ``single_added_cpu_us_*``: the same in CPU time of the calling thread (``thread_time_ns``).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import modeltrail
from modeltrail.demo import LABEL, SYSTEM, _build_models, _features, _split, load_german_credit
from modeltrail.evidence.explain import DecisionExplainer
from modeltrail.policy import parse_policy
from modeltrail.runtime import guard

BATCH = 1_000
SEALED = ("age_years", "personal_status_sex")


def _workload(n: int, model_name: str, seed: int) -> tuple[Any, list[str], DecisionExplainer, list[dict[str, Any]]]:
    df = load_german_credit()
    rng = np.random.default_rng(seed)
    # As the demo does: each applicant gets an id, which the data policy pseudonymises.
    df.insert(0, "applicant_id", [f"APP-{k:06d}" for k in rng.choice(10**6, size=len(df), replace=False)])
    df[LABEL] = (df[LABEL] == "bad").astype(int)
    train, val, test = _split(df, seed)
    features = _features(df)
    model = _build_models(features, df, seed)[model_name].fit(train[features], train[LABEL])
    explainer = DecisionExplainer.fit(model, train[features])
    serving = pd.concat([val, test], ignore_index=True)
    pick = np.random.default_rng(seed).integers(0, len(serving), size=n)
    rows = serving.iloc[pick].drop(columns=[LABEL]).reset_index(drop=True).to_dict(orient="records")
    return model, features, explainer, rows


def _bare(model: Any, features: list[str], batches: list[list[dict[str, Any]]]) -> float:
    t = time.perf_counter()
    for part in batches:
        model.predict_proba(pd.DataFrame(part, columns=features))
    return sum(map(len, batches)) / (time.perf_counter() - t)


def _guarded(g: Any, batches: list[list[dict[str, Any]]]) -> float:
    t = time.perf_counter()
    last = None
    for part in batches:
        last = g.decide_many(part, subjects=[f"applicant:{r['applicant_id']}" for r in part])
    assert last is not None
    last[-1].durable(60)
    return sum(map(len, batches)) / (time.perf_counter() - t)


def _jsonl(
    model: Any, features: list[str], explainer: DecisionExplainer, batches: list[list[dict[str, Any]]], out: Path
) -> float:
    pseudonym_key = os.urandom(32)
    subject_keys: dict[str, AESGCM] = {}
    t = time.perf_counter()
    with out.open("wb") as f:
        for part in batches:
            frame = pd.DataFrame(part)
            P = model.predict_proba(frame[features])
            top = explainer.explain_many(frame[features], 3)
            lines = []
            for r, p, ex in zip(part, P.tolist(), top, strict=True):
                subject = f"applicant:{r['applicant_id']}"
                aes = subject_keys.get(subject)
                if aes is None:
                    aes = subject_keys[subject] = AESGCM(AESGCM.generate_key(bit_length=256))
                sealed = {}
                for name in SEALED:
                    nonce = os.urandom(12)
                    sealed[name] = (nonce + aes.encrypt(nonce, orjson.dumps(r[name]), name.encode())).hex()
                pseudo = hmac.new(pseudonym_key, f"applicant_id\x00{r['applicant_id']}".encode(), hashlib.sha256)
                kept = {k: v for k, v in r.items() if k not in SEALED and k not in ("applicant_id", "telephone")}
                i = int(p[1] > p[0])
                record = {
                    "decision_id": os.urandom(16).hex(),
                    "input": kept,
                    "pseudonyms": {"applicant_id": pseudo.hexdigest()},
                    "sealed": sealed,
                    "output": i,
                    "score": p[1],
                    "confidence": p[i],
                    "explanation": [[name, c] for name, c in ex],
                }
                lines.append(orjson.dumps(record))
            f.write(b"\n".join(lines) + b"\n")
            f.flush()
            os.fsync(f.fileno())
    return sum(map(len, batches)) / (time.perf_counter() - t)


def _single(g: Any, model: Any, features: list[str], rows: list[dict[str, Any]], calls: int) -> dict[str, float]:
    bare: list[int] = []
    guarded: list[int] = []
    bare_cpu: list[int] = []
    guarded_cpu: list[int] = []
    clock, cpu = time.perf_counter_ns, time.thread_time_ns
    for k in range(calls):
        r = rows[k % len(rows)]
        t0, c0 = clock(), cpu()
        model.predict_proba(pd.DataFrame([r], columns=features))
        t1, c1 = clock(), cpu()
        g.decide(r, subject=f"applicant:{r['applicant_id']}")
        t2, c2 = clock(), cpu()
        bare.append(t1 - t0)
        guarded.append(t2 - t1)
        bare_cpu.append(c1 - c0)
        guarded_cpu.append(c2 - c1)
    g.close()
    bc50, bc99 = np.percentile(bare_cpu, [50, 99]) / 1000
    gc50, gc99 = np.percentile(guarded_cpu, [50, 99]) / 1000
    b50, b99 = np.percentile(bare, [50, 99]) / 1000
    g50, g99 = np.percentile(guarded, [50, 99]) / 1000
    return {
        "single_bare_us_p50": round(float(b50), 1),
        "single_bare_us_p99": round(float(b99), 1),
        "single_guard_us_p50": round(float(g50), 1),
        "single_guard_us_p99": round(float(g99), 1),
        "single_added_us_p50": round(float(g50 - b50), 1),
        "single_added_us_p99": round(float(g99 - b99), 1),
        # CPU time of the calling thread: what a loaded machine's scheduling does not inflate.
        "single_added_cpu_us_p50": round(float(gc50 - bc50), 1),
        "single_added_cpu_us_p99": round(float(gc99 - bc99), 1),
    }


def main() -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print JSON only")
    ap.add_argument("--decisions", type=int, default=20_000)
    ap.add_argument("--calls", type=int, default=1_000, help="single decide() calls")
    ap.add_argument("--model", default="credit-gbm", choices=["credit-gbm", "credit-logreg"])
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    model, features, explainer, rows = _workload(args.decisions, args.model, args.seed)
    batches = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]
    policy = parse_policy(resources.files("modeltrail").joinpath("data/demo/policy.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        trail = modeltrail.init(Path(tmp) / "proj")
        g = guard(
            trail,
            model,
            name=args.model,
            system=SYSTEM,
            policy=policy,
            explainer=explainer,
            top_k=3,
            feature_names=features,
        )
        g.decide_many(batches[0][:50], subjects=[f"applicant:{r['applicant_id']}" for r in batches[0][:50]])
        bare = _bare(model, features, batches)
        guarded = _guarded(g, batches)
        jsonl = _jsonl(model, features, explainer, batches, Path(tmp) / "decisions.jsonl")
        single = _single(g, model, features, rows, args.calls)
        trail.close()
    result = {
        "model": args.model,
        "explainer": explainer.method,
        "decisions": len(rows),
        "bare_decisions_per_s": round(bare),
        "guard_decisions_per_s": round(guarded),
        "jsonl_decisions_per_s": round(jsonl),
        "ratio_guard_vs_jsonl": round(guarded / jsonl, 3),
        "ratio_guard_vs_bare": round(guarded / bare, 3),
        **single,
    }
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
