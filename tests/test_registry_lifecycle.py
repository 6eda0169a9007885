"""Registry lifecycle: gates on real thresholds, approvals (four-eyes), deployment, break-glass, kill switch."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import modeltrail
from _registry_support import (
    SYSTEM,
    actor,
    doc,
    full_evidence,
    make_trail,
    register_model,
    report,
    trained_model,
)
from modeltrail import projections
from modeltrail import registry as reg
from modeltrail.errors import (
    ApprovalError,
    GateFailedError,
    LifecycleError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from modeltrail.identity import identity_for_user

ALICE = actor("alice", "data_scientist")
BOB = actor("bob", "model_risk")
CAROL = actor("carol", "compliance")
ERIN = actor("erin", "ops")
FRANK = actor("frank", "cro")
MALLORY = actor("mallory", "model_risk")


@pytest.fixture
def trail(tmp_path: Path, backend_url: str | None) -> Iterator[modeltrail.Trail]:
    t = make_trail(tmp_path, url=backend_url)
    yield t
    t.close()


def _ready(trail: modeltrail.Trail, version: int = 1) -> str:
    """A version with a passed production gate."""
    ref = trained_model(trail, version)
    full_evidence(trail, ref)
    result, _ = reg.evaluate_gate_for(trail, ref, "production", actor=ALICE)
    assert result.passed, [c.message for c in result.failures]
    return ref


def _approved(trail: modeltrail.Trail, version: int = 1) -> str:
    ref = _ready(trail, version)
    reg.approve(trail, ref, "production", actor=BOB, rationale="metrics fine")
    reg.approve(trail, ref, "production", actor=CAROL, rationale="documentation complete")
    return ref


# ------------------------------------------------------------------------------------------ gates


def test_gate_passes_on_real_thresholds_and_cites_evidence(trail: modeltrail.Trail, tmp_path: Path) -> None:
    ref = trained_model(trail)
    full_evidence(trail, ref)
    result, receipt = reg.evaluate_gate_for(trail, ref, "production", actor=ALICE)
    assert result.passed
    ev = trail.get_event(receipt.seq)
    assert ev.type == "gate.evaluated" and ev.subject == "model:credit@1"
    assert set(ev.payload) == {"stage", "passed", "policy_sha256", "checks"}
    checks = {c["name"]: c for c in ev.payload["checks"]}
    # The data report belongs to the training dataset, found through the model.registered links.
    missing = checks["data.missing_rate"]
    assert missing["value"] == 0.0 and trail.get_event(missing["evidence_seq"]).subject.startswith("dataset:")
    assert checks["performance.roc_auc"]["value"] == pytest.approx(0.79)
    assert trail.get_event(checks["classification"]["evidence_seq"]).type == "system.classified"
    assert trail.get_event(checks["model_card"]["evidence_seq"]).type == "doc.generated"
    assert checks["fairness.demographic_parity_difference[sex]"]["passed"]
    # Each cited evidence event is also a ref of the gate event; the policy text is a retrievable blob.
    for c in ev.payload["checks"]:
        assert f"event:{c['evidence_seq']}" in ev.refs
    assert trail.blobs.exists(ev.payload["policy_sha256"])
    assert reg.status(trail, ref).state == "validated"


def test_gate_fails_below_threshold_and_junit_names_the_failure(trail: modeltrail.Trail, tmp_path: Path) -> None:
    ref = trained_model(trail)
    full_evidence(trail, ref, roc_auc=0.71)
    result, receipt = reg.evaluate_gate_for(trail, ref, "production", actor=ALICE)
    assert not result.passed
    assert [c.name for c in result.failures] == ["performance.roc_auc"]
    assert trail.get_event(receipt.seq).payload["passed"] is False
    junit = tmp_path / "gate.xml"
    junit.write_text(result.to_junit_xml(), encoding="utf-8")
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failed = [tc.get("name") for tc in suite.iter("testcase") if tc.find("failure") is not None]
    assert failed == ["performance.roc_auc"]
    # The same figure passes the looser staging gate.
    staging, _ = reg.evaluate_gate_for(trail, ref, "staging", actor=ALICE)
    assert staging.passed
    assert reg.status(trail, ref).state == "validated"


def test_gate_uses_worst_linked_dataset_and_missing_evidence_fails(trail: modeltrail.Trail) -> None:
    ref = trained_model(trail)
    st = reg.status(trail, ref)
    test_ds = next(d["ref"] for d in st.version.datasets if d["role"] == "test")
    bad = report(trail, test_ds, "data", {"data.missing_rate": 0.2})
    result, _ = reg.evaluate_gate_for(trail, ref, "staging", actor=ALICE)
    checks = {c.name: c for c in result.checks}
    assert not checks["data.missing_rate"].passed and checks["data.missing_rate"].evidence_seq == bad.seq
    assert not checks["performance_report"].passed  # no performance report recorded yet
    assert reg.status(trail, ref).state == "registered"


def test_gate_unknown_stage_and_unknown_model(trail: modeltrail.Trail) -> None:
    ref = trained_model(trail)
    with pytest.raises(NotFoundError, match="no gate for stage 'canary'"):
        reg.evaluate_gate_for(trail, ref, "canary", actor=ALICE)
    with pytest.raises(NotFoundError, match="not registered"):
        reg.evaluate_gate_for(trail, "credit@9", "production", actor=ALICE)


# ------------------------------------------------------------------------------------------ approvals


def test_four_eyes_registrant_cannot_approve_and_refusal_is_recorded(trail: modeltrail.Trail) -> None:
    # bob (model_risk) registers the version himself, then tries to approve it.
    ref = trained_model(trail, registrant="bob")
    full_evidence(trail, ref)
    reg.evaluate_gate_for(trail, ref, "production", actor=ALICE)
    with pytest.raises(ApprovalError, match="four-eyes"):
        reg.approve(trail, ref, "production", actor=BOB, rationale="looks good to me")
    refused = next(trail.events("model.approval_refused", descending=True, limit=1))
    assert refused.actor.id == "bob" and refused.subject == "model:credit@1"
    assert refused.payload["rule"] == "four_eyes" and refused.payload["stage"] == "production"
    st = reg.status(trail, ref)
    assert st.approvals == [] and [r.rule for r in st.refusals] == ["four_eyes"]


def test_same_person_counts_once_and_second_approval_is_refused(trail: modeltrail.Trail) -> None:
    ref = _ready(trail)
    dave = identity_for_user("dave", reg.current_policy(trail, SYSTEM))  # holds model_risk AND compliance
    first = reg.approve(trail, ref, "production", actor=dave, rationale="reviewed")
    assert trail.get_event(first.seq).payload["complete"] is False
    with pytest.raises(ApprovalError, match="duplicate"):
        reg.approve(trail, ref, "production", actor=actor("dave", "compliance"), rationale="again, other hat")
    with pytest.raises(ApprovalError, match=r"incomplete.*has 1: dave"):
        reg.deploy(trail, ref, "production", actor=ERIN)
    assert reg.status(trail, ref).state == "validated"
    second = reg.approve(trail, ref, "production", actor=CAROL, rationale="documentation complete")
    ev = trail.get_event(second.seq)
    assert ev.payload["complete"] is True
    assert reg.status(trail, ref).state == "approved"


def test_wrong_role_is_refused_and_recorded(trail: modeltrail.Trail) -> None:
    ref = _ready(trail)
    with pytest.raises(ApprovalError, match=r"\(role\)"):
        reg.approve(trail, ref, "production", actor=ERIN, rationale="ship it")
    assert next(trail.events("model.approval_refused")).payload["rule"] == "role"
    # An Actor claiming a role the policy does not grant is not believed.
    with pytest.raises(PermissionDeniedError, match="does not grant"):
        reg.approve(trail, ref, "production", actor=actor("erin", "compliance"), rationale="ship it")


def test_approval_needs_a_passed_gate_and_cites_checkpoint(trail: modeltrail.Trail) -> None:
    ref = trained_model(trail)
    with pytest.raises(ApprovalError, match="gate"):
        reg.approve(trail, ref, "production", actor=BOB, rationale="trust me")
    assert next(trail.events("model.approval_refused")).payload["rule"] == "gate"
    full_evidence(trail, ref)
    _, gate = reg.evaluate_gate_for(trail, ref, "production", actor=ALICE)
    r = reg.approve(trail, ref, "production", actor=BOB, rationale="metrics fine")
    ev = trail.get_event(r.seq)
    assert ev.payload["gate_seq"] == gate.seq and f"event:{gate.seq}" in ev.refs
    cp = ev.payload["checkpoint"]
    stored = {(c.size, c.root.hex()) for c in trail.checkpoints()}
    assert (cp["size"], cp["root_hex"]) in stored and cp["size"] > gate.seq
    with pytest.raises(ValidationError):
        reg.approve(trail, ref, "production", actor=CAROL, rationale="  ")


def test_revoke_and_reject(trail: modeltrail.Trail) -> None:
    ref = _approved(trail)
    assert reg.status(trail, ref).state == "approved"
    with pytest.raises(NotFoundError):
        reg.revoke_approval(trail, ref, "production", actor=MALLORY, reason="not mine")
    reg.revoke_approval(trail, ref, "production", actor=CAROL, reason="new fairness concern")
    st = reg.status(trail, ref)
    assert st.state == "validated" and [a.status for a in st.approvals] == ["active", "revoked"]
    with pytest.raises(ApprovalError, match="incomplete"):
        reg.deploy(trail, ref, "production", actor=ERIN)
    with pytest.raises(PermissionDeniedError):
        reg.reject(trail, ref, "production", actor=ERIN, rationale="no")
    reg.reject(trail, ref, "production", actor=CAROL, rationale="fairness concern confirmed")
    assert reg.status(trail, ref).state == "rejected"
    with pytest.raises(LifecycleError, match="rejected"):
        reg.approve(trail, ref, "production", actor=MALLORY, rationale="overrule")


# ------------------------------------------------------------------------------------------ deployment


def test_deploy_refused_without_gate_and_without_approvals(trail: modeltrail.Trail) -> None:
    ref = trained_model(trail)
    with pytest.raises(GateFailedError, match="gate of credit@1 has not been evaluated"):
        reg.deploy(trail, ref, "production", actor=ERIN)
    full_evidence(trail, ref, roc_auc=0.6)
    reg.evaluate_gate_for(trail, ref, "production", actor=ALICE)
    with pytest.raises(GateFailedError, match="failed"):
        reg.deploy(trail, ref, "production", actor=ERIN)
    report(trail, f"model:{ref}", "performance", {"performance.roc_auc": 0.8})
    reg.evaluate_gate_for(trail, ref, "production", actor=ALICE)
    with pytest.raises(ApprovalError, match="needs 2 approval"):
        reg.deploy(trail, ref, "production", actor=ERIN)
    assert list(trail.events("model.deployed")) == []
    # staging has a gate without approvals: the passed staging gate is enough.
    reg.evaluate_gate_for(trail, ref, "staging", actor=ALICE)
    r = reg.deploy(trail, ref, "staging", actor=ERIN, traffic=0.5)
    assert trail.get_event(r.seq).payload["traffic"] == 0.5
    with pytest.raises(ValidationError):
        reg.deploy(trail, ref, "staging", actor=ERIN, traffic=1.5)


def test_deploy_with_approvals_cites_them_and_takes_checkpoint(trail: modeltrail.Trail) -> None:
    ref = _approved(trail)
    r = reg.deploy(trail, ref, "production", actor=ERIN)
    ev = trail.get_event(r.seq)
    approvals = [a.seq for a in reg.status(trail, ref).approvals]
    assert ev.payload["approval_seqs"] == approvals and ev.payload["break_glass"] is False
    assert set(ev.payload) == {"env", "traffic", "stage", "gate_seq", "approval_seqs", "break_glass", "reason"}
    cp = trail.latest_checkpoint()
    assert cp is not None and cp.size == r.seq + 1
    st = reg.status(trail, ref)
    assert st.state == "deployed" and st.deployments[0].state == "live"


def test_break_glass_deploy_is_recorded_and_shown(trail: modeltrail.Trail) -> None:
    ref = trained_model(trail)
    with pytest.raises(PermissionDeniedError, match="break glass"):
        reg.deploy(trail, ref, "production", actor=ERIN, break_glass_reason="outage")
    r = reg.deploy(trail, ref, "production", actor=FRANK, break_glass_reason="regulator-ordered hotfix")
    deployed = trail.get_event(r.seq)
    assert deployed.payload["break_glass"] is True and deployed.actor.role == "cro"
    bg = next(trail.events("model.break_glass"))
    assert bg.payload["action"] == "deploy" and "regulator-ordered hotfix" in bg.payload["reason"]
    assert f"event:{bg.seq}" in deployed.refs
    st = reg.status(trail, ref)
    assert st.state == "deployed" and st.version.break_glass and st.break_glass[0].actor == "frank"
    # Still visible after the deployment is retired.
    reg.retire(trail, ref, actor=BOB, reason="replaced")
    st = reg.status(trail, ref)
    assert st.state == "retired" and st.version.break_glass and len(st.break_glass) == 1


def test_suspend_resume_roles_and_states(trail: modeltrail.Trail) -> None:
    ref = _approved(trail)
    reg.deploy(trail, ref, "production", actor=ERIN)
    with pytest.raises(PermissionDeniedError, match="suspend"):
        reg.suspend(trail, ref, "production", actor=BOB, reason="drift")
    r = reg.suspend(trail, "credit", "production", actor=ERIN, reason="drift alert")
    ev = trail.get_event(r.seq)
    assert ev.subject == "model:credit" and ev.payload["fallback"] == "human_review"
    assert reg.status(trail, ref).state == "suspended"
    with pytest.raises(LifecycleError, match="nothing of it is live"):
        reg.suspend(trail, ref, "production", actor=ERIN, reason="again")
    with pytest.raises(LifecycleError, match="resume it first"):
        reg.deploy(trail, ref, "production", actor=ERIN)
    with pytest.raises(PermissionDeniedError, match="resume"):
        reg.resume(trail, ref, "production", actor=ERIN, reason="fixed")
    reg.resume(trail, ref, "production", actor=BOB, reason="drift explained")
    assert reg.status(trail, ref).state == "deployed"
    refused = [(e.actor.id, e.payload["action"]) for e in trail.events("model.action_refused")]
    assert refused == [("bob", "suspend"), ("erin", "resume")]  # refused kill-switch actions are evidence too
    with pytest.raises(LifecycleError, match="deployed"):
        reg.reject(trail, ref, "production", actor=CAROL, rationale="too late")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_live_at_before_during_and_after(trail: modeltrail.Trail) -> None:
    v1 = _approved(trail, 1)
    before = _now()
    time.sleep(0.002)
    d1 = reg.deploy(trail, v1, "production", actor=ERIN)
    during_v1 = _now()
    v2 = _approved(trail, 2)
    d2 = reg.deploy(trail, v2, "production", actor=ERIN, traffic=0.2)
    canary = _now()
    reg.suspend(trail, v2, "production", actor=ERIN, reason="canary errors")
    suspended = _now()
    reg.retire(trail, v1, actor=BOB, reason="end of life", env="production")
    after_v1 = _now()

    assert reg.live_at(trail, before, "production") == []
    assert reg.live_at(trail, during_v1, "production") == [("credit@1", 1.0, d1.seq, False)]
    assert reg.live_at(trail, canary, "production") == [
        ("credit@1", 1.0, d1.seq, False),
        ("credit@2", 0.2, d2.seq, False),
    ]
    assert reg.live_at(trail, suspended, "production")[1].suspended
    assert reg.live_at(trail, after_v1, "production") == [("credit@2", 0.2, d2.seq, True)]
    assert reg.live_at(trail, after_v1, "staging") == []
    assert reg.status(trail, v1).state == "retired"
    with pytest.raises(LifecycleError):
        reg.deploy(trail, v1, "production", actor=ERIN)
    with pytest.raises(ValidationError):
        reg.live_at(trail, "yesterday", "production")


def test_full_traffic_deploy_replaces_previous_version(trail: modeltrail.Trail) -> None:
    v1 = _approved(trail, 1)
    reg.deploy(trail, v1, "production", actor=ERIN)
    v2 = _approved(trail, 2)
    reg.deploy(trail, v2, "production", actor=ERIN)
    assert [d.model for d in reg.live_at(trail, _now(), "production")] == ["credit@2"]
    assert reg.status(trail, v1).state == "approved"
    assert reg.status(trail, v1).deployments[0].state == "ended"
    # One answer to "what is and was deployed": the registry's, in deployment order, filterable.
    every = reg.deployments(trail, model="credit", env="production")
    assert [(d.version, d.state) for d in every] == [(1, "ended"), (2, "live")]
    assert [d.version for d in reg.deployments(trail, state="live")] == [2]
    assert reg.deployments(trail, model="credit", env="staging") == []
    assert reg.status(trail, v2).deployments == reg.deployments(trail, model="credit", version=2)


def test_rebuild_equals_live(trail: modeltrail.Trail) -> None:
    v1 = _approved(trail, 1)
    reg.deploy(trail, v1, "production", actor=ERIN, traffic=0.5)
    reg.suspend(trail, v1, "production", actor=ERIN, reason="drift")
    reg.resume(trail, v1, "production", actor=BOB, reason="ok")
    v2 = trained_model(trail, 2, registrant="bob")
    full_evidence(trail, v2)
    reg.evaluate_gate_for(trail, v2, "production", actor=ALICE)
    with pytest.raises(ApprovalError):
        reg.approve(trail, v2, "production", actor=BOB, rationale="mine")
    reg.deploy(trail, v2, "production", actor=FRANK, break_glass_reason="incident")
    reg.approve(trail, v1, "production", actor=MALLORY, rationale="third look")
    reg.revoke_approval(trail, v1, "production", actor=MALLORY, reason="withdrawn")
    register_model(trail, "other", 1)
    doc(trail, f"system:{SYSTEM}", "risk_assessment")
    reg.retire(trail, v1, actor=BOB, reason="done")
    live = projections.snapshot(trail)
    assert live["registry_versions"] and live["registry_deployments"] and live["registry_break_glass"]
    projections.rebuild(trail)
    assert projections.snapshot(trail) == live


def test_gate_on_an_undefined_metric_fails_with_the_reports_reason(trail: modeltrail.Trail) -> None:
    ref = trained_model(trail)
    full_evidence(trail, ref)
    # A later fairness report could not compute the parity for `sex` (a group without any positive).
    reason = "no positive outcome in group sex=female"
    digest = trail.blobs.put_bytes(b"fairness report without a defined parity")
    trail.record(
        "report.generated",
        system="credit-scoring",
        actor=ALICE,
        subject=f"model:{ref}",
        payload={
            "kind": "fairness",
            "report_sha256": digest,
            "html_sha256": None,
            "schema": "modeltrail/report/fairness/v1",
            "metrics": {"fairness.equalized_odds_difference[sex]": 0.05},
            "undefined": {"fairness.demographic_parity_difference[sex]": reason},
            "warnings": [],
        },
        refs=[f"model:{ref}", f"blob:sha256:{digest}"],
    )
    result, _ = reg.evaluate_gate_for(trail, ref, "production", actor=ALICE)
    check = {c.name: c for c in result.checks}["fairness.demographic_parity_difference[sex]"]
    assert not result.passed and not check.passed
    assert reason in check.message and "undefined" in check.message
