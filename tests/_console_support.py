"""A small trail for the console tests: a policy with four-eyes approvals, a live model with a running guard's
decisions in the review queue, a version awaiting approval, an alert and an incident; console users."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import modeltrail
from modeltrail.events import Actor
from modeltrail.lineage.models import register_model
from modeltrail.monitor.incidents import open_incident
from modeltrail.registry import approve, deploy, evaluate_gate_for, register_policy
from modeltrail.runtime.guard import guard
from modeltrail.server.console.auth import ConsoleUsers

SYSTEM = "credit-scoring"
PASSWORD = "correct horse battery"
POLICY = """\
system: credit-scoring
risk_tier: high
gates:
  production:
    approvals: {roles: [model_risk, compliance], min: 2, four_eyes: true}
oversight:
  review_when:
    confidence_below: 0.97
  fallback: human_review
roles:
  suspend: [ops, model_risk]
  resume: [model_risk]
  tokens: [compliance]
users:
  alice: {roles: [data_scientist, model_risk]}
  bob: {roles: [model_risk]}
  carol: {roles: [compliance]}
  dave: {roles: [auditor]}
  erin: {roles: [ops]}
"""
ALICE = Actor("alice", "data_scientist")
BOB = Actor("bob", "model_risk")
CAROL = Actor("carol", "compliance")
ERIN = Actor("erin", "ops")
SERVICE = Actor("scoring-service", "service", "service")
FEATURES = ["income", "debt"]


def _model(seed: int) -> tuple[LogisticRegression, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"income": rng.normal(50, 10, 200), "debt": rng.normal(10, 5, 200)})
    y = (x["debt"] * 3 > x["income"] * 0.6 + rng.normal(0, 3, 200)).astype(int)
    return LogisticRegression().fit(x, y), x


def build(folder: Path, decisions: int = 40) -> dict[str, Any]:
    """Build the trail in ``folder``; returns it open with the refs and the running guard (the caller closes both)."""
    t = modeltrail.init(folder)
    register_policy(t, POLICY, actor=CAROL)
    m1, x1 = _model(1)
    v1 = register_model(t, m1, name="credit", system=SYSTEM, actor=ALICE, training_data=x1)
    evaluate_gate_for(t, v1.ref, "production", actor=ALICE)
    approve(t, v1.ref, "production", actor=BOB, rationale="Validation reviewed")
    approve(t, v1.ref, "production", actor=CAROL, rationale="Compliant")
    deploy(t, v1.ref, "production", actor=ERIN)
    m2, x2 = _model(2)
    v2 = register_model(t, m2, name="credit", system=SYSTEM, actor=ALICE, training_data=x2)
    evaluate_gate_for(t, v2.ref, "production", actor=ALICE)
    g = guard(t, v1.ref, env="production", system=SYSTEM, actor=SERVICE)
    rows = x1.head(decisions).to_dict(orient="records")
    served = g.decide_many(rows, subjects=[f"applicant:{i}" for i in range(len(rows))])
    served[-1].durable(timeout=30)
    alert = t.record(
        "monitor.alert",
        system=SYSTEM,
        actor=Actor("modeltrail-monitor", "ops", "service"),
        subject=str(v1.ref),
        payload={
            "env": "production",
            "level": "alert",
            "findings": [{"metric": "psi", "column": "income", "value": 0.31, "limit": 0.25, "level": "alert"}],
            "actions": [],
        },
    )
    open_incident(
        t, model=str(v1.ref), type="health", severity="high", title="Wrong refusals reported",
        actor=CAROL, system=SYSTEM, env="production",
    )  # fmt: skip
    t.checkpoint()
    users = ConsoleUsers(t.keys_dir)
    for who in ("alice", "bob", "carol", "dave", "erin"):
        users.set_password(who, PASSWORD)
    users.close()
    return {
        "trail": t,
        "v1": str(v1.ref).removeprefix("model:"),
        "v2": str(v2.ref).removeprefix("model:"),
        "guard": g,
        "alert_seq": alert.seq,
        "review": [d.decision_id for d in served if d.route == "review"],
    }
