"""Shared set-up for the audit tests: a model version's story recorded event by event, and a demo trail.

The governance events of the story are stand-ins appended on the library's internal path
(``record_governed``): these tests are about reading the ledger back, not about the rules.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import modeltrail
from modeltrail.events import Actor
from modeltrail.governance.namespace import record_governed
from modeltrail.ids import new_id

SYSTEM = "credit-scoring"
ALICE = Actor("alice", "data_scientist")
BOB = Actor("bob", "model_risk")
CAROL = Actor("carol", "compliance")
ERIN = Actor("erin", "ops")
SERVICE = Actor("scoring", "service", "service")
MODEL = "model:credit@1"


def story(trail: modeltrail.Trail, *, policy: bool = True) -> dict[str, int]:
    """Policy (a stand-in unless ``policy`` is False), dataset, run, model, report (with its blob), gate,
    two approvals, deployment; returns their seqs."""
    seqs: dict[str, int] = {}
    ds = "dataset:credit-train@0123456789abcdef"
    run_id = new_id()
    run = "run:" + run_id
    if policy:
        seqs["policy"] = record_governed(
            trail,
            "policy.registered",
            system=SYSTEM,
            actor=CAROL,
            subject=f"system:{SYSTEM}",
            payload={"sha256": "00" * 32},
        ).seq
    seqs["dataset"] = trail.record(
        "dataset.registered", system=SYSTEM, actor=ALICE, subject=ds, payload={"name": "credit-train", "rows": 800}
    ).seq
    seqs["run"] = trail.record(
        "run.started",
        system=SYSTEM,
        actor=ALICE,
        subject=run,
        payload={"name": "train", "code": {"commit": "abc123"}, "environment": {"python": "3.11"}},
        refs=[ds],
    ).seq
    seqs["run_ended"] = trail.record(
        "run.ended", system=SYSTEM, actor=ALICE, subject=run, payload={"status": "completed"}
    ).seq
    seqs["model"] = trail.record(
        "model.registered",
        system=SYSTEM,
        actor=ALICE,
        subject=MODEL,
        payload={
            "name": "credit",
            "version": 1,
            "artifact": {"sha256": "ab" * 32, "size": 10, "format": "skops"},
            "run_id": run_id,
            "datasets": [{"ref": ds, "role": "train"}],
        },
        refs=[run, ds],
    ).seq
    blob = trail.blobs.put_bytes(b'{"kind": "performance", "metrics": {"performance.roc_auc": 0.8}}')
    seqs["report"] = trail.record(
        "report.generated",
        system=SYSTEM,
        actor=ALICE,
        subject=MODEL,
        payload={"kind": "performance", "report_sha256": blob, "metrics": {"performance.roc_auc": 0.8}},
        refs=[MODEL, f"blob:sha256:{blob}"],
    ).seq
    seqs["gate"] = record_governed(
        trail,
        "gate.evaluated",
        system=SYSTEM,
        actor=ALICE,
        subject=MODEL,
        payload={"stage": "production", "passed": True},
    ).seq
    seqs["approval1"] = record_governed(
        trail, "model.approved", system=SYSTEM, actor=BOB, subject=MODEL, payload={"stage": "production"}
    ).seq
    seqs["approval2"] = record_governed(
        trail, "model.approved", system=SYSTEM, actor=CAROL, subject=MODEL, payload={"stage": "production"}
    ).seq
    seqs["deployed"] = record_governed(
        trail,
        "model.deployed",
        system=SYSTEM,
        actor=ERIN,
        subject=MODEL,
        payload={
            "env": "production",
            "gate_seq": seqs["gate"],
            "approval_seqs": [seqs["approval1"], seqs["approval2"]],
        },
    ).seq
    return seqs


def decide(trail: modeltrail.Trail, *, route: str = "auto", model: str = MODEL, env: str = "production") -> str:
    """Record one decision the way the guard writes it; returns its id."""
    did = new_id()
    trail.record(
        "inference.decision",
        system=SYSTEM,
        actor=SERVICE,
        subject=f"decision:{did}",
        payload={
            "decision_id": did,
            "model": model,
            "env": env,
            "input": {"duration_months": 12, "credit_amount": 1000},
            "output": 1,
            "score": 0.7,
            "route": route,
        },
    )
    return did


def review(trail: modeltrail.Trail, did: str) -> int:
    """A human accepts decision ``did``."""
    return record_governed(
        trail,
        "oversight.reviewed",
        system=SYSTEM,
        actor=BOB,
        subject=f"decision:{did}",
        payload={"decision_id": did, "outcome": "accepted", "reason": "fine"},
    ).seq


_DEMO: dict[str, Any] = {}


def demo_copy(tmp_path: Path) -> Path:
    """A copy of a small demo folder (built once per session): real lineage, evidence, sealed inputs."""
    from modeltrail.demo import run_demo

    if "dir" not in _DEMO:
        import tempfile

        base = Path(tempfile.mkdtemp(prefix="mt-audit-demo-"))
        run_demo(base / "demo", decisions=200, seed=7)
        _DEMO["dir"] = base / "demo"
    dst = tmp_path / "demo"
    shutil.copytree(_DEMO["dir"], dst)
    return dst
