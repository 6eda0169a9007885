"""Model registry: policies in the trail, gates, approvals, deployment lifecycle and classification records.

Everything is recorded as ledger events and read back through the ``registry`` projection
(:mod:`modeltrail.registry.projection`), which ``modeltrail rebuild`` recreates from the ledger.
"""

from __future__ import annotations

from .classification import latest_classification, record_classification
from .documents import record_document
from .lifecycle import (
    Approval,
    BreakGlass,
    Deployment,
    Evidence,
    GateRecord,
    LiveDeployment,
    Refusal,
    VersionInfo,
    VersionStatus,
    all_versions,
    approval_body_for,
    approve,
    collect_evidence,
    deploy,
    deployment_body_for,
    deployments,
    evaluate_gate_for,
    get_version,
    live_at,
    reject,
    rejection_body_for,
    resume,
    retire,
    revoke_approval,
    status,
    suspend,
    versions,
)
from .policy_store import (
    StoredPolicy,
    approve_policy,
    current_policy,
    needs_second_approver,
    policy_or_none,
    propose_policy,
    register_policy,
    stored_policy,
)
from .refs import ModelRef, parse_model_ref

__all__ = [
    "Approval",
    "BreakGlass",
    "Deployment",
    "Evidence",
    "GateRecord",
    "LiveDeployment",
    "ModelRef",
    "Refusal",
    "StoredPolicy",
    "VersionInfo",
    "VersionStatus",
    "all_versions",
    "approval_body_for",
    "approve",
    "approve_policy",
    "collect_evidence",
    "current_policy",
    "deploy",
    "deployment_body_for",
    "deployments",
    "evaluate_gate_for",
    "get_version",
    "latest_classification",
    "live_at",
    "needs_second_approver",
    "parse_model_ref",
    "policy_or_none",
    "propose_policy",
    "record_classification",
    "record_document",
    "register_policy",
    "reject",
    "rejection_body_for",
    "resume",
    "retire",
    "revoke_approval",
    "status",
    "stored_policy",
    "suspend",
    "versions",
]
