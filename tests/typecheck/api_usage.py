"""The public API as users write it (the README's training script and serving app), checked by mypy --strict.

Not run by pytest (the README examples are run by tests/test_readme.py): this file pins the *types* a user
sees, so a change that turns a typed result back into ``Any`` or breaks a documented call fails
``scripts/test.sh`` (``mypy tests/typecheck/api_usage.py``). ``assert_type`` fails type checking unless the
expression has exactly that type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, assert_type

import numpy as np

import modeltrail
from modeltrail import Actor, Event, Receipt, Trail
from modeltrail.errors import ModeltrailError, NotFoundError, ValidationError
from modeltrail.evidence import fairness_report, performance_report, record_report
from modeltrail.integrations.dvc import import_dvc
from modeltrail.ledger.proofs import ConsistencyProof, InclusionProof
from modeltrail.ledger.verify import VerificationResult
from modeltrail.lineage import DatasetVersion, Graph, ModelVersion, Run
from modeltrail.policy import Policy
from modeltrail.policy.gates import GateResult
from modeltrail.registry import VersionStatus, register_policy, status, suspend
from modeltrail.registry.classify import Classification, classify
from modeltrail.runtime.guard import Decision, Decisions, Guard
from modeltrail.runtime.oversight import ReviewItem, review_queue
from modeltrail.trail import StoredCheckpoint

ALICE = Actor("alice", "data_scientist")
BOB = Actor("bob", "model_risk")
CAROL = Actor("carol", "compliance")


def ledger(folder: Path) -> None:
    """Recording, reading, checkpoints, proofs, verification."""
    trail = modeltrail.init(folder)
    assert_type(trail, Trail)
    r = trail.record("run.metrics", system="credit-scoring", actor=ALICE, payload={"auc": 0.81})
    assert_type(r, Receipt)
    assert_type(r.seq, int)
    batch = trail.record_many([{"type": "run.metrics", "system": "credit-scoring", "actor": ALICE}])
    assert_type(batch, list[Receipt])
    for e in trail.events("run.*", subject=None, limit=10):
        assert_type(e, Event)
    assert_type(trail.get_event(0), Event)
    cp = trail.checkpoint()
    assert_type(cp, StoredCheckpoint)
    p = trail.inclusion_proof(r.seq)
    assert_type(p, InclusionProof)
    assert_type(p.hashes, tuple[bytes, ...])
    assert_type(p.checkpoint, str | None)
    p.verify()
    assert_type(p.to_dict(), dict[str, Any])
    c = trail.consistency_proof(1, cp.size)
    assert_type(c, ConsistencyProof)
    assert_type(ConsistencyProof.from_dict(c.to_dict()), ConsistencyProof)
    result = trail.verify(trusted_keys=trail.verifier_keys(), workers=1)
    assert_type(result, VerificationResult)
    assert_type(result.ok, bool)
    trail.close()
    with modeltrail.open(folder) as again:
        assert_type(again, Trail)


def training(trail: Trail, X: Any, y: Any, df: Any, model: Any) -> None:
    """The README's training script: dataset, run, model, evidence, gate, approvals, deployment."""
    policy, _ = register_policy(trail, "policy.yaml", actor=CAROL)
    assert_type(policy, Policy)
    data = trail.register_dataset(df, name="german-credit", system="credit-scoring", actor=ALICE)
    assert_type(data, DatasetVersion)
    assert_type(data.ref, str)
    with trail.run("train-hgb", system="credit-scoring", actor=ALICE, datasets=[data]) as run:
        assert_type(run, Run)
        mv = trail.register_model(
            model, name="credit", system="credit-scoring", actor=ALICE, run=run, datasets=[data], training_data=X
        )
        assert_type(mv, ModelVersion)
    score = np.asarray(model.predict_proba(X))[:, 1]
    for report in (performance_report(y, score > 0.5, score), fairness_report(y, score > 0.5, df[["sex"]])):
        record_report(trail, report, subject=mv.ref, system="credit-scoring", actor=ALICE)
    gate, receipt = trail.gate(mv.ref, "production", actor=ALICE)
    assert_type(gate, GateResult)
    assert_type(gate.passed, bool)
    assert_type(receipt, Receipt)
    assert_type(trail.approve(mv.ref, "production", actor=BOB, rationale="Validation evidence reviewed"), Receipt)
    assert_type(trail.deploy(mv.ref, "production", actor=Actor("erin", "ops")), Receipt)
    assert_type(status(trail, mv.ref), VersionStatus)
    assert_type(trail.lineage(mv.ref, direction="up"), Graph)
    loaded = trail.load_model(mv.ref)  # the user's own model object
    assert_type(loaded, Any)
    assert_type(import_dvc(trail, ".", system="credit-scoring", actor=ALICE), list[DatasetVersion])


def serving(trail: Trail) -> None:
    """The README's serving app: guard, decisions, review, labels, kill switch."""
    guard = trail.guard("credit@1", env="production", actor=Actor("scoring-api", "service", "service"))
    assert_type(guard, Guard)
    applicant = {"applicant_id": "APP-000017", "duration_months": 24, "credit_amount": 5000, "age_years": 31}
    d = guard.decide(applicant, subject="applicant:APP-000017")
    assert_type(d, Decision)
    assert_type(d.durable(), Receipt)
    many = guard.decide_many([applicant, applicant])
    assert_type(many, Decisions)
    assert_type(many.durable(), list[Receipt])
    for item in review_queue(trail):
        assert_type(item, ReviewItem)
        assert_type(trail.review(item.decision_id, actor=BOB, override=0, reason="Income verified"), Receipt)
    assert_type(trail.review(d.decision_id, actor=BOB, accept=True, reason="Checked"), Receipt)
    assert_type(trail.label(d.decision_id, 1, actor=BOB), Receipt)
    assert_type(suspend(trail, "credit", "production", actor=Actor("erin", "ops"), reason="Drift alarm"), Receipt)
    guard.close()


def classification() -> None:
    """Risk screening, without a trail."""
    result = classify({"art5_manipulation": False})
    assert_type(result, Classification)
    assert_type(result.tier, str)


def errors(trail: Trail) -> None:
    """One base class to catch; the field of invalid input; the status the HTTP API answers with."""
    try:
        trail.get_event(10**9)
    except NotFoundError as exc:
        assert_type(exc.http_status, int)
    except ValidationError as exc:
        assert_type(exc.field, str | None)
    except ModeltrailError:
        pass
