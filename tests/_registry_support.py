"""Shared set-up for the registry tests: a policy, and events recorded exactly as notes/EVENTS.md defines them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import modeltrail
from modeltrail.events import Actor, Receipt
from modeltrail.registry import register_policy

SYSTEM = "credit-scoring"
ADMIN = Actor("root", "admin")

POLICY = """\
system: credit-scoring
risk_tier: high
protected_attributes: [sex]
gates:
  staging:
    evidence: [data_report, performance_report]
    thresholds:
      performance.roc_auc: {min: 0.70}
      data.missing_rate: {max: 0.05}
  production:
    evidence: [classification, data_report, performance_report, fairness_report, model_card]
    thresholds:
      performance.roc_auc: {min: 0.75}
      fairness.demographic_parity_difference: {max: 0.10, groups: [sex]}
      data.missing_rate: {max: 0.05}
    approvals: {roles: [model_risk, compliance], min: 2, four_eyes: true}
oversight:
  fallback: human_review
roles:
  suspend: [ops]
  resume: [model_risk]
  break_glass: [cro]
  tokens: [admin]
users:
  root: {roles: [admin]}
  alice: {roles: [data_scientist]}
  bob: {roles: [model_risk]}
  carol: {roles: [compliance]}
  dave: {roles: [model_risk, compliance]}
  erin: {roles: [ops]}
  frank: {roles: [cro]}
  mallory: {roles: [model_risk]}
allow_impersonation: true
"""

GOOD_DATA = {"data.missing_rate": 0.0, "data.pii_findings": 0.0, "data.rows": 1000}
GOOD_PERF = {"performance.roc_auc": 0.79, "performance.accuracy": 0.76}
GOOD_FAIR = {"fairness.demographic_parity_difference[sex]": 0.04, "fairness.equalized_odds_difference[sex]": 0.06}
CLASSIFICATION_ANSWERS = Path(modeltrail.__file__).parent / "data" / "demo" / "classification-answers.yaml"


def make_trail(tmp_path: Path, policy: str = POLICY, url: str | None = None) -> modeltrail.Trail:
    """A new trail (ledger in ``url`` when given, e.g. PostgreSQL) with the test policy registered."""
    trail = modeltrail.init(tmp_path / "proj", url=url)
    register_policy(trail, policy, actor=ADMIN)
    return trail


def actor(user: str, role: str) -> Actor:
    return Actor(user, role)


def register_dataset(trail: modeltrail.Trail, name: str, h16: str, role: str) -> str:
    ref = f"dataset:{name}@{h16}"
    trail.record(
        "dataset.registered",
        system=SYSTEM,
        actor=actor("alice", "data_scientist"),
        subject=ref,
        payload={"name": name, "content_hash": h16 * 4, "role": role, "rows": 800, "parents": []},
    )
    return ref


def register_model(
    trail: modeltrail.Trail, name: str = "credit", version: int = 1, registrant: str = "alice", datasets: Any = ()
) -> str:
    """Record ``model.registered`` for ``name@version`` per the payload contract; returns ``name@version``."""
    subject = f"model:{name}@{version}"
    links = [{"ref": ref, "role": role} for ref, role in datasets]
    trail.record(
        "model.registered",
        system=SYSTEM,
        actor=actor(registrant, "data_scientist"),
        subject=subject,
        payload={
            "name": name,
            "version": version,
            "artifact": {
                "sha256": "ab" * 32,
                "format": "skops",
                "size": 1234,
                "framework": "sklearn",
                "framework_version": "1.5",
                "trusted_pickle": False,
            },
            "signature": {"inputs": [], "outputs": []},
            "run_id": None,
            "datasets": links,
            "training_range": {},
            "registrant": registrant,
        },
        refs=[ref for ref, _ in datasets],
    )
    return f"{name}@{version}"


def report(trail: modeltrail.Trail, subject: str, kind: str, metrics: dict[str, float]) -> Receipt:
    """Record ``report.generated`` for ``subject`` with ``metrics`` (report stored as a blob)."""
    digest = trail.blobs.put_bytes(repr((subject, kind, sorted(metrics.items()))).encode())
    return trail.record(
        "report.generated",
        system=SYSTEM,
        actor=actor("alice", "data_scientist"),
        subject=subject,
        payload={
            "kind": kind,
            "report_sha256": digest,
            "html_sha256": None,
            "schema": f"modeltrail/report/{kind}/v1",
            "metrics": metrics,
            "warnings": [],
        },
        refs=[subject, f"blob:sha256:{digest}"],
    )


def doc(trail: modeltrail.Trail, subject: str, kind: str) -> Receipt:
    from modeltrail.registry import record_document

    return record_document(trail, subject, kind, system=SYSTEM, actor=actor("alice", "data_scientist"))


def classify_system(trail: modeltrail.Trail) -> None:
    from modeltrail.registry import record_classification
    from modeltrail.registry.classify import load_answers

    record_classification(trail, SYSTEM, load_answers(CLASSIFICATION_ANSWERS), actor=actor("carol", "compliance"))


def full_evidence(trail: modeltrail.Trail, model: str = "credit@1", *, roc_auc: float = 0.79) -> None:
    """Every piece of evidence the production gate asks for, with passing figures unless told otherwise."""
    subject = f"model:{model}"
    report(trail, subject, "performance", {**GOOD_PERF, "performance.roc_auc": roc_auc})
    report(trail, subject, "fairness", GOOD_FAIR)
    doc(trail, subject, "model_card")
    classify_system(trail)


def trained_model(trail: modeltrail.Trail, version: int = 1, registrant: str = "alice") -> str:
    """A model version linked to a train and a test dataset, the train one with a clean data report."""
    train = register_dataset(trail, "german-credit", f"{version:016x}", "train")
    test = register_dataset(trail, "german-credit-test", f"{version + 100:016x}", "test")
    report(trail, train, "data", GOOD_DATA)
    return register_model(trail, version=version, registrant=registrant, datasets=[(train, "train"), (test, "test")])
