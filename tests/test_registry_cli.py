"""Registry CLI end to end through click's CliRunner: policy, classify, gate, approvals, deploy, audit, tokens."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

import modeltrail
from _registry_support import (
    CLASSIFICATION_ANSWERS,
    POLICY,
    full_evidence,
    report,
    trained_model,
)
from modeltrail.cli import registry as cli
from modeltrail.cli.main import TrailContext
from modeltrail.cli.policy import policy_group


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend_url: str | None) -> Iterator[Path]:
    monkeypatch.delenv("MODELTRAIL_TOKEN", raising=False)
    monkeypatch.delenv("MODELTRAIL_USER", raising=False)
    modeltrail.init(tmp_path / "proj", url=backend_url).close()
    (tmp_path / "policy.yaml").write_text(POLICY)
    yield tmp_path


def run(project: Path, cmd: click.Command, *args: str, env: dict[str, str] | None = None, **kw: Any) -> Result:
    runner = CliRunner()
    env = {"MODELTRAIL_USER": "root", **(env or {})}
    return runner.invoke(cmd, list(args), obj=TrailContext(str(project / "proj")), env=env, **kw)


def text(r: Result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(r.output.split())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _setup_models(project: Path) -> None:
    with modeltrail.open(project / "proj") as t:
        ref = trained_model(t, 1)
        full_evidence(t, ref)
        bad = trained_model(t, 2)
        report(t, f"model:{bad}", "performance", {"performance.roc_auc": 0.62})


def test_cli_end_to_end(project: Path) -> None:
    r = run(project, policy_group, "set", str(project / "policy.yaml"))
    assert r.exit_code == 0, r.output
    assert "registered in event" in text(r)
    r = run(project, cli.classify_cmd, "--answers", str(CLASSIFICATION_ANSWERS), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["tier"] == "high"
    _setup_models(project)

    junit = project / "out" / "gate.xml"
    r = run(project, cli.gate_group, "check", "credit@1", "--stage", "production", "--junit", str(junit))
    assert r.exit_code == 0, r.output
    assert "PASSED" in text(r) and "performance.roc_auc" in text(r)
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and int(suite.get("tests", "0")) >= 8

    r = run(project, cli.gate_group, "check", "credit@2", "--stage", "production", "--json")
    assert r.exit_code == 1
    out = json.loads(r.output)
    assert out["passed"] is False and out["model"] == "model:credit@2"
    assert any(c["name"] == "performance.roc_auc" and not c["passed"] for c in out["checks"])

    # Four-eyes: alice registered credit@1 (and holds no approver role anyway).
    r = run(project, cli.approve_cmd, "credit@1", "--stage", "production", "--rationale", "mine", "--actor", "alice")
    assert r.exit_code == 1 and "approval refused" in text(r)
    r = run(project, cli.deploy_cmd, "credit@1", "--env", "production", "--actor", "erin")
    assert r.exit_code == 1 and "approvals incomplete" in text(r)
    for user in ("bob", "carol"):
        r = run(project, cli.approve_cmd, "credit@1", "--stage", "production", "--rationale", "ok", "--actor", user)
        assert r.exit_code == 0, r.output
    assert "approvals complete" in text(r)
    before = _now()
    r = run(project, cli.deploy_cmd, "credit@1", "--env", "production", "--actor", "erin")
    assert r.exit_code == 0, r.output
    r = run(project, cli.status_cmd, "credit@1")
    assert r.exit_code == 0 and "deployed" in text(r)

    r = run(project, cli.audit_group, "live-at", _now(), "--env", "production", "--json")
    assert r.exit_code == 0, r.output
    live = json.loads(r.output)
    assert [d["model"] for d in live] == ["credit@1"] and live[0]["traffic"] == 1.0
    r = run(project, cli.audit_group, "live-at", before, "--env", "production")
    assert r.exit_code == 0 and "nothing was deployed" in text(r)

    r = run(project, cli.suspend_cmd, "credit", "--env", "production", "--reason", "drift", "--actor", "bob")
    assert r.exit_code == 1 and "may not suspend" in text(r)
    r = run(project, cli.suspend_cmd, "credit", "--env", "production", "--reason", "drift", "--actor", "erin")
    assert r.exit_code == 0, r.output
    r = run(project, cli.resume_cmd, "credit@1", "--env", "production", "--reason", "explained", "--actor", "bob")
    assert r.exit_code == 0, r.output

    # Break glass: credit@2 failed its gate; only the cro may force it.
    r = run(project, cli.deploy_cmd, "credit@2", "--env", "production", "--break-glass", "incident", "--actor", "erin")
    assert r.exit_code == 1
    r = run(project, cli.deploy_cmd, "credit@2", "--env", "production", "--break-glass", "incident", "--actor", "frank")
    assert r.exit_code == 0 and "BREAK-GLASS" in text(r)
    r = run(project, cli.status_cmd, "credit")
    assert r.exit_code == 0 and "BREAK-GLASS" in text(r)
    r = run(project, cli.status_cmd, "credit@2", "--json")
    assert json.loads(r.output)["break_glass"][0]["actor"] == "frank"

    r = run(project, cli.retire_cmd, "credit@1", "--reason", "replaced", "--actor", "bob")
    assert r.exit_code == 0, r.output
    r = run(project, cli.reject_cmd, "credit@1", "--stage", "production", "--rationale", "x", "--actor", "carol")
    assert r.exit_code == 1 and "retired" in text(r)


def test_cli_bad_input_exits_2(project: Path) -> None:
    run(project, policy_group, "set", str(project / "policy.yaml"))
    r = run(project, cli.approve_cmd, "credit", "--stage", "production", "--rationale", "x", "--actor", "bob")
    assert r.exit_code == 2 and "NAME@VERSION" in text(r)
    r = run(project, cli.audit_group, "live-at", "last tuesday", "--env", "production")
    assert r.exit_code == 2
    bad = project / "bad.yaml"
    bad.write_text(POLICY.replace("min: 2", "min: 0"))
    r = run(project, policy_group, "set", str(bad))
    assert r.exit_code == 2 and "approvals.min" in text(r)


def test_cli_token_identity_and_impersonation_refused(project: Path) -> None:
    strict = project / "strict.yaml"
    strict.write_text(POLICY.replace("allow_impersonation: true", "allow_impersonation: false"))
    assert run(project, policy_group, "set", str(strict)).exit_code == 0
    _setup_models(project)
    r = run(project, cli.token_group, "create", "ci", "--service")
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[0]
    assert token.startswith("mt_")
    r = run(project, cli.gate_group, "check", "credit@1", "--stage", "staging", env={"MODELTRAIL_TOKEN": token})
    assert r.exit_code == 0, r.output
    with modeltrail.open(project / "proj") as t:
        gate = next(t.events("gate.evaluated", descending=True, limit=1))
        assert gate.actor.id == "ci" and gate.actor.kind == "service"
    r = run(project, cli.approve_cmd, "credit@1", "--stage", "production", "--rationale", "x", "--actor", "bob")
    assert r.exit_code == 1 and "impersonation" in text(r)


def test_cli_interactive_classification(project: Path) -> None:
    # Every question answered with its default (no / none of these): a minimal-risk system.
    r = run(project, cli.classify_cmd, "--system", "chat-helper", input="\n" * 60)
    assert r.exit_code == 0, r.output
    assert "minimal" in text(r)
    with modeltrail.open(project / "proj") as t:
        ev = next(t.events("system.classified"))
        assert ev.system == "chat-helper" and ev.payload["tier"] == "minimal" and ev.actor.id == "root"
