"""The attacks of issue 21, each refused or reported, on SQLite and PostgreSQL.

A "direct append" goes around every library check: it prepares the event and hands it to the ledger's
low-level append (``trail.log.append``), as someone with write access to the database could.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import modeltrail
from _registry_support import ADMIN, POLICY, SYSTEM, full_evidence, make_trail, trained_model
from modeltrail import projections
from modeltrail.audit.check import check
from modeltrail.cli.main import main
from modeltrail.errors import ApprovalError, PermissionDeniedError, ValidationError
from modeltrail.events import Actor, EventInput, PreparedEvents, Receipt, prepare
from modeltrail.registry import (
    approve,
    approve_policy,
    deploy,
    evaluate_gate_for,
    propose_policy,
    register_policy,
    status,
    suspend,
)
from modeltrail.runtime.killswitch import KillSwitch
from modeltrail.runtime.oversight import review_queue

BOB, CAROL, ERIN = Actor("bob", "model_risk"), Actor("carol", "compliance"), Actor("erin", "ops")
NOBODY = Actor("eve", "ops")  # not a user of the policy: her claimed role is granted by nobody


def direct(trail: modeltrail.Trail, type_: str, actor: Actor, subject: str | None, **kw: Any) -> int:
    """Append around the library (the store's low-level append); returns the seq."""
    ev = EventInput(type_, kw.pop("system", SYSTEM), actor, subject, kw.pop("payload", {}), kw.pop("refs", None))
    receipt: Receipt = trail.log.append([PreparedEvents([prepare(ev)])])[0][0]
    return receipt.seq


@pytest.fixture()
def gov(tmp_path: Path, backend_url: str | None) -> Any:
    """A trail with credit@1 gated, approved twice and deployed to production; credit@2 failed its gate."""
    t = make_trail(tmp_path, url=backend_url)
    ref = trained_model(t)
    full_evidence(t, ref)
    evaluate_gate_for(t, ref, "production", actor=BOB)
    approve(t, ref, "production", actor=BOB, rationale="ok")
    approve(t, ref, "production", actor=CAROL, rationale="ok")
    deploy(t, ref, "production", actor=ERIN)
    bad = trained_model(t, version=2)
    full_evidence(t, bad, roc_auc=0.5)
    result, _ = evaluate_gate_for(t, bad, "production", actor=BOB)
    assert not result.passed
    yield t
    t.close()


def kinds(t: modeltrail.Trail) -> dict[str, int]:
    return check(t).kinds()


def test_clean_trail_passes_the_audit(gov: modeltrail.Trail) -> None:
    res = check(gov)
    assert res.ok, res.violations
    assert res.governance_events >= 8 and res.events_checked == gov.size()
    assert gov.verify().ok


# --------------------------------------------------------------------------- 1. admission


@pytest.mark.parametrize("type_", ["model.approved", "model.resumed", "policy.registered", "doc.generated", "hold.x"])
def test_generic_ingest_refuses_governance_types_and_names_the_command(gov: modeltrail.Trail, type_: str) -> None:
    before = gov.size()
    with pytest.raises(ValidationError) as err:
        gov.record(type_, system=SYSTEM, actor=BOB, subject="model:credit@2", payload={"stage": "production"})
    assert err.value.field == "type" and "governance event" in str(err.value) and "use `" in str(err.value)
    with pytest.raises(ValidationError, match=r"events\[1\]\.type"):
        gov.record_many([EventInput("run.started", SYSTEM, BOB), EventInput(type_, SYSTEM, BOB)])
    assert gov.size() == before


def test_append_prepared_refuses_governance_types(gov: modeltrail.Trail) -> None:
    forged = prepare(EventInput("model.approved", SYSTEM, BOB, "model:credit@2", {"stage": "production"}))
    for batch in ([forged], PreparedEvents([forged])):
        with pytest.raises(ValidationError, match="modeltrail approve"):
            gov.append_prepared(batch)
    with pytest.raises(ValidationError, match="incident"):
        gov.append_prepared([prepare(EventInput("incident.closed", SYSTEM, BOB, None))])


def test_cli_record_refuses_a_forged_approval(gov: modeltrail.Trail) -> None:
    args = ["--trail", str(gov.path), "record", "model.approved", "--system", SYSTEM, "--actor", "bob"]
    r = CliRunner().invoke(main, [*args, "--role", "model_risk", "--subject", "model:credit@2"])
    assert r.exit_code == 2, r.output  # a validation error, like any malformed event
    assert "use `modeltrail approve`" in " ".join(r.stderr.split()) and "Traceback" not in r.output


# --------------------------------------------------------------------------- 2. rules on replay


def test_forged_approvals_do_not_count_and_are_reported(gov: modeltrail.Trail) -> None:
    # credit@2 failed its gate: approvals of it are inadmissible whoever signs them.
    a = direct(gov, "model.approved", BOB, "model:credit@2", payload={"stage": "production", "complete": True})
    b = direct(gov, "model.approved", NOBODY, "model:credit@2", payload={"stage": "production", "complete": True})
    with pytest.raises(Exception, match="gate"):
        deploy(gov, "credit@2", "production", actor=ERIN)
    projections.rebuild(gov)
    st = status(gov, "credit@2")
    assert st.approvals == [] and st.version.state == "registered"
    found = {v.seq: v.kind for v in check(gov).violations}
    assert found[a] == "inadmissible" and found[b] in ("approval_role", "inadmissible")


def test_approval_by_the_registrant_or_an_unknown_role_is_reported(gov: modeltrail.Trail) -> None:
    ref = trained_model(gov, version=3)
    full_evidence(gov, ref)
    evaluate_gate_for(gov, ref, "production", actor=BOB)
    own = direct(gov, "model.approved", Actor("alice", "model_risk"), "model:credit@3", payload={"stage": "production"})
    fake = direct(gov, "model.approved", NOBODY, "model:credit@3", payload={"stage": "production"})
    found = {v.seq: v.kind for v in check(gov).violations}
    # alice does not hold model_risk; were she granted it, four-eyes would still refuse her own model.
    assert found[own] == "approval_role" and found[fake] == "approval_role"
    projections.rebuild(gov)
    assert status(gov, "credit@3").approvals == []


def test_forged_resume_and_suspend_change_no_kill_switch(gov: modeltrail.Trail) -> None:
    suspend(gov, "credit@1", "production", actor=ERIN, reason="drift")
    ks = KillSwitch(gov, start=False)
    assert ks.status("credit", 1, "production") is not None
    resumed = direct(gov, "model.resumed", NOBODY, "model:credit", payload={"env": "production", "reason": "x"})
    other = direct(
        gov, "model.suspended", NOBODY, "model:credit", payload={"env": "staging", "reason": "x", "fallback": "reject"}
    )
    ks.poll()
    assert ks.status("credit", 1, "production") is not None  # still suspended
    assert ks.status("credit", 1, "staging") is None  # the forged suspension imposes nothing
    projections.rebuild(gov)
    assert status(gov, "credit@1").version.state == "suspended"
    found = {v.seq: v.kind for v in check(gov).violations}
    assert found[resumed] == "role" and found[other] == "role"


def test_deployment_of_a_failed_version_without_approvals_takes_no_effect(gov: modeltrail.Trail) -> None:
    seq = direct(gov, "model.deployed", ERIN, "model:credit@2", payload={"env": "production", "traffic": 1.0})
    projections.rebuild(gov)
    assert status(gov, "credit@2").version.state != "deployed"
    assert status(gov, "credit@1").version.state == "deployed"  # not replaced by the forged one
    assert {v.seq: v.kind for v in check(gov).violations}[seq] == "deployment_unapproved"


def test_review_by_a_service_or_of_no_decision_changes_no_queue(gov: modeltrail.Trail) -> None:
    did = "d-1"
    direct(
        gov,
        "inference.decision",
        Actor("svc", "service", "service"),
        f"decision:{did}",
        payload={"decision_id": did, "route": "review", "model": "model:credit@1", "env": "production"},
    )
    bot = direct(
        gov, "oversight.reviewed", Actor("bot", "reviewer", "service"), f"decision:{did}", payload={"decision_id": did}
    )
    ghost = direct(gov, "oversight.reviewed", CAROL, "decision:none", payload={"decision_id": "none"})
    projections.rebuild(gov)
    assert [q.status for q in review_queue(gov) if q.decision_id == did] == ["pending"]
    found = {v.seq: v.kind for v in check(gov).violations}
    assert bot in found and ghost in found


def test_policy_registration_attacks_leave_the_policy_in_force(gov: modeltrail.Trail) -> None:
    from modeltrail.registry import stored_policy

    in_force = stored_policy(gov, SYSTEM)
    loose = POLICY.replace("min: 0.75", "min: 0.10")
    digest = gov.blobs.put_bytes(loose.encode())
    by_ops = direct(gov, "policy.registered", ERIN, f"system:{SYSTEM}", payload={"policy_sha256": digest})
    empty = direct(gov, "policy.registered", CAROL, f"system:{SYSTEM}", payload={})
    missing = direct(gov, "policy.registered", CAROL, f"system:{SYSTEM}", payload={"policy_sha256": "ab" * 32})
    assert stored_policy(gov, SYSTEM).sha256 == in_force.sha256
    # Every privileged action keeps working (no KeyError, no missing blob).
    suspend(gov, "credit@1", "production", actor=ERIN, reason="still works")
    found = {v.seq: v.kind for v in check(gov).violations}
    assert found[by_ops] == "policy_change_role" and found[empty] == "inadmissible" and found[missing] == "policy_blob"


def test_policy_set_by_a_data_scientist_is_refused(gov: modeltrail.Trail, tmp_path: Path) -> None:
    loose = tmp_path / "loose.yaml"
    loose.write_text(POLICY.replace("min: 0.75", "min: 0.10"))
    with pytest.raises(PermissionDeniedError, match="compliance"):
        register_policy(gov, loose, actor=Actor("alice", "data_scientist"))
    r = CliRunner().invoke(
        main, ["--trail", str(gov.path), "policy", "set", str(loose)], env={"MODELTRAIL_USER": "alice"}
    )
    assert r.exit_code == 1 and "compliance" in " ".join(r.stderr.split())
    with pytest.raises(PermissionDeniedError, match="compliance"):
        propose_policy(gov, loose, actor=Actor("alice", "data_scientist"))


# --------------------------------------------------------------------------- 6. two people change a high-risk policy


DAVE = Actor("dave", "compliance")


def test_a_high_risk_policy_change_needs_a_second_approver(gov: modeltrail.Trail, tmp_path: Path) -> None:
    from modeltrail.registry import stored_policy

    before = stored_policy(gov, SYSTEM).sha256
    loose = tmp_path / "loose.yaml"
    loose.write_text(POLICY.replace("min: 0.75", "min: 0.70"))
    with pytest.raises(ApprovalError, match="second person"):
        register_policy(gov, loose, actor=CAROL)  # one compliance officer alone may not
    _, proposal = propose_policy(gov, loose, actor=CAROL)
    assert stored_policy(gov, SYSTEM).sha256 == before  # a proposal changes nothing yet
    with pytest.raises(ApprovalError, match="second person"):
        approve_policy(gov, proposal.seq, actor=CAROL)  # not by the proposer
    with pytest.raises(PermissionDeniedError):
        approve_policy(gov, proposal.seq, actor=BOB)  # not without the policy role
    _, registered = approve_policy(gov, proposal.seq, actor=DAVE)
    now = stored_policy(gov, SYSTEM)
    assert now.seq == registered.seq and now.sha256 != before
    assert gov.get_event(registered.seq).payload["proposal_seq"] == proposal.seq
    with pytest.raises(ApprovalError, match="already took effect"):
        approve_policy(gov, proposal.seq, actor=DAVE)
    assert check(gov).ok, check(gov).violations


def test_a_stale_proposal_cannot_be_approved(gov: modeltrail.Trail) -> None:
    _, first = propose_policy(gov, POLICY.replace("min: 0.75", "min: 0.72"), actor=CAROL)
    _, second = propose_policy(gov, POLICY.replace("min: 0.75", "min: 0.80"), actor=CAROL)
    approve_policy(gov, second.seq, actor=DAVE)
    with pytest.raises(ApprovalError, match="stale"):
        approve_policy(gov, first.seq, actor=DAVE)


def test_a_one_person_change_around_the_library_takes_no_effect(gov: modeltrail.Trail) -> None:
    from modeltrail.registry import stored_policy

    in_force = stored_policy(gov, SYSTEM).sha256
    loose = POLICY.replace("min: 0.75", "min: 0.10").replace("risk_tier: high", "risk_tier: minimal")
    digest = gov.blobs.put_bytes(loose.encode())
    alone = direct(gov, "policy.registered", CAROL, f"system:{SYSTEM}", payload={"policy_sha256": digest})
    prop = direct(gov, "policy.proposed", CAROL, f"system:{SYSTEM}", payload={"policy_sha256": digest})
    own = direct(
        gov, "policy.registered", CAROL, f"system:{SYSTEM}", payload={"policy_sha256": digest, "proposal_seq": prop}
    )
    other = gov.blobs.put_bytes(POLICY.replace("min: 0.75", "min: 0.11").encode())
    swapped = direct(
        gov, "policy.registered", DAVE, f"system:{SYSTEM}", payload={"policy_sha256": other, "proposal_seq": prop}
    )
    missing = direct(gov, "policy.proposed", CAROL, f"system:{SYSTEM}", payload={"policy_sha256": "cd" * 32})
    projections.rebuild(gov)
    assert stored_policy(gov, SYSTEM).sha256 == in_force
    found = {v.seq: v.kind for v in check(gov).violations}
    assert found == {
        alone: "policy_change_unapproved",
        own: "policy_change_unapproved",
        swapped: "policy_change_unapproved",
        missing: "policy_blob",
    }


def test_cli_policy_set_proposes_and_approve_puts_it_in_force(gov: modeltrail.Trail, tmp_path: Path) -> None:
    loose = tmp_path / "loose.yaml"
    loose.write_text(POLICY.replace("min: 0.75", "min: 0.70"))
    runner = CliRunner()
    base = ["--trail", str(gov.path)]
    r = runner.invoke(main, [*base, "policy", "set", str(loose)], env={"MODELTRAIL_USER": "carol"})
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "proposed in event" in out and "modeltrail policy approve" in out
    seq = int(out.split("modeltrail policy approve ")[1].split("`")[0])
    same = runner.invoke(main, [*base, "policy", "approve", str(seq)], env={"MODELTRAIL_USER": "carol"})
    assert same.exit_code == 1 and "second person" in " ".join(same.stderr.split())
    ok = runner.invoke(main, [*base, "policy", "approve", str(seq)], env={"MODELTRAIL_USER": "dave"})
    assert ok.exit_code == 0, ok.output
    assert "in force from event" in " ".join(ok.output.split())


def test_edited_projection_rows_do_not_make_deploy_succeed(gov: modeltrail.Trail) -> None:
    projections.catch_up(gov)
    for seq, who, role in ((900001, "bob", "model_risk"), (900002, "carol", "compliance")):
        gov.store.execute(
            "INSERT INTO registry_approvals (seq, model, version, stage, approver, role, status, rationale, "
            "gate_seq, ts) VALUES (?, 'credit', 2, 'production', ?, ?, 'active', 'x', NULL, 'now')",
            (seq, who, role),
        )
    gov.store.execute(
        "INSERT INTO registry_stage_approvals (model, version, stage, complete, seq) "
        "VALUES ('credit', 2, 'production', 1, 900002)"
    )
    gov.store.execute("UPDATE registry_versions SET gate_passed = 1 WHERE model = 'credit' AND version = 2")
    with pytest.raises((ApprovalError, modeltrail.errors.GateFailedError)):
        deploy(gov, "credit@2", "production", actor=ERIN)
    projections.rebuild(gov)
    assert status(gov, "credit@2").approvals == []


def test_a_made_up_ref_fails_verify_and_the_audit(gov: modeltrail.Trail) -> None:
    seq = direct(gov, "run.started", ERIN, "run:r", refs=["event:102575"])
    later = direct(gov, "run.started", ERIN, "run:s", refs=[f"event:{seq + 2}"])
    direct(gov, "run.started", ERIN, "run:t")  # event seq + 2 exists, but after the one citing it
    gov.checkpoint()
    res = gov.verify()
    assert [p.seq for p in res.problems if p.kind == "ref"] == [seq, later]
    found = {v.seq: v.kind for v in check(gov).violations}
    assert found[seq] == "ref_missing" and found[later] == "ref_later"


# --------------------------------------------------------------------------- 4. keys, rollback


def test_swapped_key_file_fails_verify_without_key(gov: modeltrail.Trail) -> None:
    from modeltrail.crypto import keys as keyfiles
    from modeltrail.ledger.note import Checkpoint, sign_checkpoint

    evil = keyfiles.create_signing_key(gov.keys_dir, gov.origin)
    for cp in gov.checkpoints():
        note = sign_checkpoint(Checkpoint(gov.origin, cp.size, cp.root, ()), evil)
        gov.store.execute("UPDATE checkpoints SET note = ?, key_id = ? WHERE id = ?", (note, evil.key_id_hex, cp.id))
    for f in (gov.keys_dir / "signing").glob("*"):
        if f.suffix in (".key", ".pub") and f.stem != evil.key_id_hex:
            f.unlink()  # the original key files are swapped for the attacker's
    keyfiles.set_current_signing_key(gov.keys_dir, evil.key_id_hex)
    gov._signer = None
    res = gov.verify()
    assert not res.ok and "checkpoint_key" in {p.kind for p in res.problems}
    assert gov.verifier_keys() == [evil.verifier_key()]  # the trail's own key files now name only the new key
    assert "key_not_chained" in kinds(gov)


def test_rotation_stays_chained(gov: modeltrail.Trail) -> None:
    gov.rotate_key(ADMIN, reason="yearly")
    deploy(gov, "credit@1", "staging", actor=ERIN, stage="production")
    assert gov.verify().ok and check(gov).ok


def test_deleting_the_newest_events_and_their_checkpoints_is_caught(gov: modeltrail.Trail) -> None:
    size = gov.size()
    suspend(gov, "credit@1", "production", actor=ERIN, reason="incident")
    gov.checkpoint()
    projections.catch_up(gov)
    gov.store.execute("DELETE FROM events WHERE seq >= ?", (size,))
    gov.store.execute("DELETE FROM checkpoints WHERE size > ?", (size,))
    reopened = modeltrail.open(gov.path) if gov.config.url is None else gov
    try:
        problems = {p.kind for p in reopened.verify().problems}
        assert "truncated" in problems and "projection_cursor" in problems
    finally:
        if reopened is not gov:
            reopened.close()


def test_rolled_back_sqlite_file_is_caught(tmp_path: Path) -> None:
    t = make_trail(tmp_path)
    ref = trained_model(t)
    t.checkpoint()
    db = t.path / "ledger.db"
    t.close()
    backup = tmp_path / "old.db"
    shutil.copy(db, backup)
    with modeltrail.open(t.path) as t2:
        t2.record("run.started", system=SYSTEM, actor=ERIN, subject="run:after")
        t2.checkpoint()
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copy(backup, db)
    with modeltrail.open(t.path) as t3:
        res = t3.verify()
        assert not res.ok and res.first_problem is not None and res.first_problem.kind == "truncated"
    r = CliRunner().invoke(main, ["--trail", str(t.path), "verify", "--json"])
    assert r.exit_code == 1 and json.loads(r.stdout)["first_problem"]["kind"] == "truncated"
    assert ref


# --------------------------------------------------------------------------- 3. the CLI


def test_audit_check_cli(gov: modeltrail.Trail) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["--trail", str(gov.path), "audit", "check", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"] is True
    seq = direct(gov, "model.deployed", ERIN, "model:credit@2", payload={"env": "production"})
    bad = runner.invoke(main, ["--trail", str(gov.path), "audit", "check", "--json"])
    out = json.loads(bad.stdout)
    assert bad.exit_code == 1 and out["violations"][0]["seq"] == seq
    assert out["violations"][0]["kind"] == "deployment_unapproved"
    text = runner.invoke(main, ["--trail", str(gov.path), "audit", "check"])
    assert text.exit_code == 1 and "deployment_unapproved" in " ".join(text.stderr.split())


def test_decision_served_by_an_undeployed_version_is_reported(gov: modeltrail.Trail) -> None:
    did = "d-9"
    seq = direct(
        gov,
        "inference.decision",
        Actor("svc", "service", "service"),
        f"decision:{did}",
        payload={"decision_id": did, "route": "auto", "model": "model:credit@2", "env": "production"},
    )
    ok = direct(
        gov,
        "inference.decision",
        Actor("svc", "service", "service"),
        "decision:d-10",
        payload={"decision_id": "d-10", "route": "auto", "model": "model:credit@1", "env": "production"},
    )
    found = {v.seq: v.kind for v in check(gov).violations}
    assert found == {seq: "decision_not_deployed"} and ok not in found
