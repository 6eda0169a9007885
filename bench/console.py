"""Console benchmark: server time of every console page on a trail of 1,000,000 events.

    python bench/console.py --events 1000000 --trail /tmp/bench-console   # builds once, then reuses

Builds a trail with a policy (four-eyes production gate), two model versions (one approved and deployed),
a monitoring alert, an incident, a few generated-looking document events, and N inference decisions
recorded with ``record_many`` (one in ten routed to review; every 50th routed one reviewed), then signs in
to the console in-process and requests every page ``--repeat`` times. The time measured is the server's:
an ASGI wrapper around the app times each request from its first byte in to its last byte out (the test
client's own overhead is not counted). The first request of each page is reported as ``warmup_ms`` (it
folds the projections the first time). Prints one JSON object with p50/p99/max per page.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import modeltrail
from modeltrail.events import Actor, EventInput

SYSTEM = "credit-scoring"
PASSWORD = "bench console password"
POLICY = """\
system: credit-scoring
risk_tier: high
gates:
  production:
    approvals: {roles: [model_risk, compliance], min: 2, four_eyes: true}
oversight:
  fallback: human_review
roles:
  suspend: [ops]
  resume: [model_risk]
  tokens: [compliance]
users:
  alice: {roles: [data_scientist, model_risk]}
  bob: {roles: [model_risk]}
  carol: {roles: [compliance]}
  erin: {roles: [ops]}
"""
ALICE = Actor("alice", "data_scientist")
BOB = Actor("bob", "model_risk")
CAROL = Actor("carol", "compliance")
ERIN = Actor("erin", "ops")
SERVICE = Actor("scoring-service", "service", "service")


def build(folder: Path, n: int, seed: int) -> float:
    """A trail of about ``n`` events for the console; returns the seconds it took."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from modeltrail.lineage.models import register_model
    from modeltrail.monitor.incidents import open_incident
    from modeltrail.registry import approve, deploy, evaluate_gate_for, register_policy
    from modeltrail.runtime.oversight import review
    from modeltrail.server.console.auth import ConsoleUsers

    start = time.perf_counter()
    rng = random.Random(seed)
    t = modeltrail.init(folder, checkpoint_every_events=10**12, checkpoint_every_seconds=10**9)
    register_policy(t, POLICY, actor=CAROL)
    X = np.random.default_rng(0).normal(size=(200, 2))
    y = (X[:, 0] > 0).astype(int)
    refs = []
    for _ in range(2):
        mv = register_model(t, LogisticRegression().fit(X, y), name="credit", system=SYSTEM, actor=ALICE)
        evaluate_gate_for(t, mv.ref, "production", actor=ALICE)
        refs.append(mv.ref)
    approve(t, refs[0], "production", actor=BOB, rationale="reviewed")
    approve(t, refs[0], "production", actor=CAROL, rationale="compliant")
    deploy(t, refs[0], "production", actor=ERIN)
    done = t.size()
    batch = 50_000
    while done < n:
        events = []
        for i in range(done, min(n, done + batch)):
            routed = rng.random() < 0.1
            score = round(rng.random(), 6)
            did = f"{i:016x}{rng.getrandbits(64):016x}"
            events.append(
                EventInput(
                    type="inference.decision",
                    system=SYSTEM,
                    actor=SERVICE,
                    subject=f"decision:{did}",
                    payload={
                        "decision_id": did,
                        "model": "model:credit@1",
                        "env": "production",
                        "route": "review" if routed else "auto",
                        "output": int(score > 0.5),
                        "score": score,
                        "confidence": max(score, 1 - score),
                        "review_reasons": [{"rule": "confidence_below", "confidence": score, "threshold": 0.6}]
                        if routed
                        else None,
                        "features": {"income": rng.randint(10, 200), "debt": rng.randint(0, 80)},
                    },
                )
            )
        t.record_many(events)
        done += len(events)
    # Some reviews, an alert, an incident and document events: the pages have something to list.
    from modeltrail.runtime.oversight import review_queue

    for k, item in enumerate(review_queue(t, limit=200)):
        if k % 4 == 0:
            review(t, item.decision_id, actor=BOB, accept=True, reason="consistent")
    t.record(
        "monitor.alert", system=SYSTEM, actor=Actor("modeltrail-monitor", "ops", "service"), subject=str(refs[0]),
        payload={"env": "production", "level": "alert", "actions": [],
                 "findings": [{"metric": "psi", "column": "income", "value": 0.3, "limit": 0.25, "level": "alert"}]},
    )  # fmt: skip
    open_incident(t, model=str(refs[0]), type="health", severity="high", title="Bench incident", actor=CAROL,
                  system=SYSTEM, env="production")  # fmt: skip
    t.checkpoint()
    users = ConsoleUsers(t.keys_dir)
    users.set_password("bob", PASSWORD)
    users.close()
    t.close()
    return time.perf_counter() - start


Scope = MutableMapping[str, Any]
App = Callable[[Scope, Any, Any], Awaitable[None]]


class Timed:
    """ASGI wrapper: the server time of each HTTP request, from its start to its last body byte."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        start = time.perf_counter()

        async def timed_send(message: MutableMapping[str, Any]) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last_ms = (time.perf_counter() - start) * 1000

        await self.app(scope, receive, timed_send)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    """Build (or reuse) the trail, time every page, print one JSON object."""
    from fastapi.testclient import TestClient

    from modeltrail.server import create_app

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--trail", type=Path, help="Reuse (or keep) the trail in this folder.")
    args = ap.parse_args()

    tmp = None
    if args.trail is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-console-")
        folder = Path(tmp.name) / "trail"
    else:
        folder = args.trail
    build_s = None
    if not (folder / ".modeltrail" / "config.json").exists() and not (folder / "config.json").exists():
        build_s = round(build(folder, args.events, args.seed), 1)

    app = Timed(create_app(str(folder)))
    c = TestClient(app, base_url="http://127.0.0.1")
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text)
    assert token
    r = c.post("/login", data={"user": "bob", "password": PASSWORD, "csrf": token.group(1)}, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    with modeltrail.open(folder) as t:
        size = t.size()
        last = next(t.events("inference.decision", descending=True, limit=1))
        routed = next(
            e for e in t.events("inference.decision", descending=True, limit=200) if e.payload["route"] == "review"
        )
        model_event = next(t.events("model.*", limit=1))
    pages = {
        "overview": "/",
        "compliance_status": "/compliance",
        "model_version": "/models/credit/v/1",
        "deployments": "/deployments",
        "review_queue": "/review",
        "review_queue_deep_page": f"/review?after={size // 2}",
        "review_decision": f"/review/{routed.payload['decision_id']}",
        "monitoring": "/monitoring",
        "incidents": "/incidents",
        "audit_newest": "/audit",
        "audit_deep_page": f"/audit?before={size // 2}",
        "audit_type_filter": "/audit?type=model.*",
        "audit_subject_filter": f"/audit?subject=decision:{last.payload['decision_id']}",
        "audit_event_with_proof": f"/audit/events/{size // 2}",
        "audit_event_old_with_proof": f"/audit/events/{model_event.seq}",
        "reconstruct_decision": f"/audit/reconstruct?decision={routed.payload['decision_id']}",
        "documents": "/documents",
        "docs": "/docs",
    }
    results: dict[str, Any] = {}
    for name, path in pages.items():
        r = c.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        warm = app.last_ms
        times = []
        for _ in range(args.repeat):
            c.get(path)
            times.append(app.last_ms)
        results[name] = {
            "path": path,
            "warmup_ms": round(warm, 1),
            "p50_ms": round(statistics.median(times), 1),
            "p99_ms": round(_pct(times, 0.99), 1),
            "max_ms": round(max(times), 1),
        }
    heaviest = max(results, key=lambda k: results[k]["p99_ms"])
    print(
        json.dumps(
            {
                "benchmark": "console",
                "events": size,
                "build_s": build_s,
                "repeat": args.repeat,
                "trail": str(folder),
                "pages": results,
                "heaviest": {"page": heaviest, **results[heaviest]},
                "target_ms": 300,
                "met": all(v["p99_ms"] <= 300 for v in results.values()),
            },
            indent=2,
        )
    )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
