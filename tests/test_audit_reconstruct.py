"""Reconstruction, tabletop and trace: library on both backends, CLI end to end on a demo trail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import modeltrail
from _audit_support import CAROL, ERIN, MODEL, SYSTEM, decide, demo_copy, review, story
from modeltrail.audit.reconstruct import proof_dict, reconstruct, render_html
from modeltrail.audit.tabletop import first_seq_after, parse_age, tabletop
from modeltrail.audit.trace import trace
from modeltrail.cli.main import main as cli
from modeltrail.errors import NotFoundError, ValidationError
from modeltrail.governance.namespace import record_governed
from modeltrail.trail import Trail


def test_reconstruct_full_story(trail: Trail) -> None:
    seqs = story(trail)
    did = decide(trail, route="review")
    rseq = review(trail, did)
    trail.checkpoint()
    rec = reconstruct(trail, did)
    assert rec.model is not None and rec.model.seq == seqs["model"]
    assert rec.run is not None and rec.run.seq == seqs["run"]
    assert [e.seq for e in rec.run_events] == [seqs["run_ended"]]
    assert [e.seq for e in rec.datasets] == [seqs["dataset"]]
    assert [e.seq for e in rec.reports] == [seqs["report"]]
    assert [e.seq for e in rec.gates] == [seqs["gate"]]
    assert [e.seq for e in rec.approvals] == [seqs["approval1"], seqs["approval2"]]
    assert rec.deployment is not None and rec.deployment.seq == seqs["deployed"] and rec.in_force
    assert rec.policy is not None and rec.policy.seq == seqs["policy"]
    assert [e.seq for e in rec.oversight] == [rseq]
    assert rec.inputs["visible"] == {"duration_months": 12, "credit_amount": 1000}
    assert rec.proof_verified and not rec.checkpoint_taken
    assert rec.proof["tree_size"] == trail.size()
    d = rec.to_dict()
    assert d["decision_id"] == did and rseq in d["cited_seqs"] and seqs["deployed"] in d["cited_seqs"]
    json.dumps(d)
    html = render_html(rec)
    assert did in html and "verified" in html and "model.deployed" in html


def test_checkpoint_taken_when_decision_is_newer(trail: Trail) -> None:
    story(trail)
    trail.checkpoint()
    did = decide(trail)
    before = len(trail.checkpoints())
    rec = reconstruct(trail, f"decision:{did}")
    assert rec.checkpoint_taken and rec.proof_verified
    assert len(trail.checkpoints()) == before + 1
    # Read-only mode: no checkpoint is taken and the proof is reported as missing, not as verified.
    did2 = decide(trail)
    rec2 = reconstruct(trail, did2, take_checkpoint=False)
    assert not rec2.proof_verified and rec2.proof == {}


def test_deployment_in_force_follows_lifecycle(trail: Trail) -> None:
    story(trail)
    ok = decide(trail)
    record_governed(
        trail, "model.suspended", system=SYSTEM, actor=ERIN, subject="model:credit", payload={"env": "production"}
    )
    suspended = decide(trail, route="fallback")
    record_governed(
        trail, "model.resumed", system=SYSTEM, actor=CAROL, subject="model:credit", payload={"env": "production"}
    )
    resumed = decide(trail)
    other_env = decide(trail, env="staging")
    assert reconstruct(trail, ok).in_force
    rec = reconstruct(trail, suspended)
    assert not rec.in_force and [e.type for e in rec.lifecycle] == ["model.suspended"]
    rec = reconstruct(trail, resumed)
    assert rec.in_force and [e.type for e in rec.lifecycle] == ["model.suspended", "model.resumed"]
    # No deployment of this version to staging: no gate, no approvals, not in force.
    rec = reconstruct(trail, other_env)
    assert rec.deployment is None and rec.gates == [] and rec.approvals == [] and not rec.in_force


def test_unknown_decision_and_bad_input(trail: Trail) -> None:
    with pytest.raises(NotFoundError):
        reconstruct(trail, "0" * 32)
    with pytest.raises(ValidationError):
        reconstruct(trail, "  ")


def test_proof_dict_accepts_typed_proofs() -> None:
    class Typed:
        def to_dict(self) -> dict[str, Any]:
            return {"kind": "inclusion", "seq": 1}

    assert proof_dict(Typed()) == {"kind": "inclusion", "seq": 1}
    assert proof_dict({"kind": "inclusion"}) == {"kind": "inclusion"}
    with pytest.raises(ValidationError):
        proof_dict(42)


def test_tabletop_draws_old_decisions_and_records(trail: Trail) -> None:
    story(trail)
    ids = [decide(trail) for _ in range(5)]
    trail.checkpoint()
    later = datetime.now(UTC) + timedelta(days=100)
    res = tabletop(trail, actor=CAROL, older_than="90d", seed=1, now=later)
    assert res.passed, res.findings
    assert res.decision is not None and res.decision.payload["decision_id"] in ids
    again = tabletop(trail, actor=CAROL, older_than="90d", seed=1, now=later)
    assert again.decision is not None and again.decision.seq == res.decision.seq  # the seed repeats the draw
    ev = trail.get_event(res.event_seq or 0)
    assert ev.type == "audit.tabletop" and ev.payload["passed"] is True and ev.actor.id == "carol"
    assert ev.payload["decision_id"] == res.decision.payload["decision_id"]
    none = tabletop(trail, actor=CAROL, older_than="90d", seed=1)
    assert not none.passed and none.decision is None
    assert trail.get_event(none.event_seq or 0).payload["passed"] is False


def test_tabletop_fails_on_missing_approvals(trail: Trail) -> None:
    decide(trail, model="model:ghost@1")
    res = tabletop(trail, actor=CAROL, older_than="0d", seed=0, now=datetime.now(UTC) + timedelta(seconds=5))
    assert not res.passed
    failed = {f["check"] for f in res.findings if not f["passed"]}
    assert {"model", "approvals", "deployment", "gate"} <= failed
    assert not next(f for f in res.findings if f["check"] == "deployment_in_force")["required"]


def test_first_seq_after_and_ages(trail: Trail) -> None:
    story(trail)
    assert first_seq_after(trail, "1970-01-01T00:00:00.000000Z") == 0
    assert first_seq_after(trail, "2999-01-01T00:00:00.000000Z") == trail.size()
    ts = trail.get_event(3).ts
    cut = first_seq_after(trail, ts)
    assert trail.get_event(cut - 1).ts <= ts and (cut == trail.size() or trail.get_event(cut).ts > ts)
    assert parse_age("90d") == timedelta(days=90) and parse_age("P2W") == timedelta(weeks=2)
    assert parse_age("12h") == timedelta(hours=12)
    for bad in ("soon", "P1M", "-3d"):
        with pytest.raises(ValidationError):
            parse_age(bad)


def test_trace_history(trail: Trail) -> None:
    seqs = story(trail)
    record_governed(
        trail, "model.suspended", system=SYSTEM, actor=ERIN, subject="model:credit", payload={"env": "production"}
    )
    tr = trace(trail, "credit@1")
    types = [e.type for e in tr.history]
    assert types[0] == "model.registered" and "model.deployed" in types and types[-1] == "model.suspended"
    assert tr.registered.seq == seqs["model"]
    assert any(n["ref"].startswith("run:") for n in tr.upstream["nodes"])
    with pytest.raises(ValidationError):
        trace(trail, "credit")
    with pytest.raises(NotFoundError):
        trace(trail, "nothing@1")
    assert tr.ref == MODEL


def _cli(path: Path, args: list[str], code: int = 0) -> str:
    res = CliRunner().invoke(cli, ["--trail", str(path), *args], catch_exceptions=False)
    assert res.exit_code == code, res.output
    return res.output


def test_cli_reconstruct_reveal_tabletop_trace(tmp_path: Path) -> None:
    demo = demo_copy(tmp_path)
    trail_dir = demo / ".modeltrail"
    with modeltrail.open(trail_dir) as t:
        d = next(e for e in t.events("inference.decision") if e.sealed)
        did = d.payload["decision_id"]
    out = json.loads(_cli(trail_dir, ["audit", "reconstruct", did, "--json"]))
    assert out["proof_verified"] and out["revealed"] is None and out["inputs"]["sealed"] == sorted(d.sealed)
    assert out["deployment"]["type"] == "model.deployed" and len(out["approvals"]) == 2
    html = tmp_path / "r.html"
    text = _cli(trail_dir, ["audit", "reconstruct", did, "--html", str(html)])
    assert "verified" in text and did in html.read_text()
    # Reveal: needs --purpose, refused (and recorded) for a user without the role, granted for an auditor.
    _cli(trail_dir, ["audit", "reconstruct", did, "--reveal"], code=2)
    _cli(trail_dir, ["audit", "reconstruct", did, "--reveal", "--purpose", "x", "--actor", "bob"], code=1)
    out = json.loads(
        _cli(trail_dir, ["audit", "reconstruct", did, "--reveal", "--purpose", "audit", "--actor", "dave", "--json"])
    )
    assert set(out["revealed"]) == set(d.sealed)
    with modeltrail.open(trail_dir) as t:
        assert [e.payload["purpose"] for e in t.events("oversight.revealed")] == ["audit"]
        assert len(list(t.events("oversight.reveal_refused"))) == 1
        assert t.get_event(out["reveal_event"]).type == "oversight.revealed"
    _cli(trail_dir, ["audit", "reconstruct", "0" * 32], code=1)
    args = ["--trail", str(trail_dir), "audit", "tabletop", "--older-than", "0d", "--seed", "5", "--actor", "dave"]
    run = CliRunner().invoke(cli, [*args, "--json"])
    res = json.loads(run.output)
    assert res["decision_id"] and res["event_seq"] is not None
    assert run.exit_code == (0 if res["passed"] else 1)
    assert res["passed"] == all(f["passed"] for f in res["findings"] if f["required"])
    _cli(trail_dir, ["audit", "tabletop", "--seed", "5", "--actor", "dave"], code=1)  # nothing 90 days old
    tr = json.loads(_cli(trail_dir, ["audit", "trace", "credit-logreg@1", "--json"]))
    assert tr["ref"] == "model:credit-logreg@1" and tr["oversight"]
    assert "model.deployed" in _cli(trail_dir, ["audit", "trace", "credit-logreg@1"])
