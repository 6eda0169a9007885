"""The examples run end to end as their READMEs say (each in its own temporary folder)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

import modeltrail
from modeltrail.registry import status

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CSV = Path(__file__).parent / "data" / "german_credit.csv"


def _run(args: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_sklearn_training_pipeline(tmp_path: Path) -> None:
    script = str(EXAMPLES / "sklearn_training" / "train.py")
    out = _run([script, "--trail", "trail"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "credit@1"
    assert "refused" in out.stderr and "deployed to production" in out.stderr

    # A second run on an explicit CSV path registers the next version and stops after the gate.
    out2 = _run([script, "--trail", "trail", "--data", str(CSV), "--no-deploy"], tmp_path)
    assert out2.returncode == 0, out2.stderr
    assert out2.stdout.strip().splitlines()[-1] == "credit@2"

    with modeltrail.open(tmp_path / "trail") as trail:
        assert trail.verify().ok
        counts = Counter(e.type for e in trail.events())
        for t in (
            "policy.registered",
            "dataset.registered",
            "run.started",
            "run.metrics",
            "run.ended",
            "model.registered",
            "report.generated",
            "gate.evaluated",
            "model.approval_refused",
            "model.approved",
            "model.deployed",
        ):
            assert counts[t] >= 1, t
        assert counts["policy.registered"] == 1  # the unchanged policy is not registered again
        assert counts["model.registered"] == 2 and counts["model.deployed"] == 1
        kinds = {e.payload["kind"] for e in trail.events("report.generated")}
        assert kinds == {"data", "performance", "fairness"}
        refused = next(iter(trail.events("model.approval_refused")))
        assert refused.actor.id == "alice" and refused.payload["rule"] == "four_eyes"
        st = status(trail, "credit@1")
        assert [a.approver for a in st.approvals] == ["bob", "carol"]
        assert {d.env for d in st.deployments} == {"production"}


def test_mlflow_import_example(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    script = str(EXAMPLES / "mlflow_import" / "import_run.py")
    out = _run([script, "--trail", "trail", "--create-store", "store"], tmp_path, timeout=240)
    assert out.returncode == 0, out.stderr
    run_ref, model_ref = out.stdout.strip().splitlines()[-2:]
    assert run_ref.startswith("run:") and model_ref == "model:credit@1"
    with modeltrail.open(tmp_path / "trail") as trail:
        assert trail.verify().ok
        imported = next(iter(trail.events("model.imported")))
        assert imported.subject == model_ref and imported.payload["source"] == "mlflow"
        started = next(iter(trail.events("run.started")))
        assert started.subject == run_ref and started.payload["params"]["C"] == "0.5"
        assert len(list(trail.events("run.metrics"))) == 3  # the full metric history, one event per step
        ds = next(iter(trail.events("dataset.registered")))
        assert ds.payload["hash_method"] == "mlflow-digest"


def _workflow_commands(doc: object) -> list[str]:
    """Every ``modeltrail …`` command in the ``run:`` steps of a parsed workflow."""
    found: list[str] = []
    jobs = doc["jobs"] if isinstance(doc, dict) else {}
    for job in jobs.values():
        for step in job.get("steps", []):
            script = step.get("run", "")
            for m in re.finditer(r"(?:^|[\s$(;&|])modeltrail\s+([a-z][a-z-]*)(?:\s+([a-z][a-z-]*))?", script):
                found.append(" ".join(g for g in m.groups() if g))
    return found


def test_github_actions_workflow_uses_existing_commands() -> None:
    from modeltrail.cli.main import main

    doc = yaml.safe_load((EXAMPLES / "github-actions" / "gate.yml").read_text(encoding="utf-8"))
    commands = _workflow_commands(doc)
    assert "gate check" in commands
    for cmd in commands:
        words = cmd.split()
        group = main.commands.get(words[0])
        assert group is not None, cmd
        if hasattr(group, "commands") and len(words) > 1:
            assert words[1] in group.commands, cmd
    # The secrets and variables the workflow header promises are the ones the steps use.
    env = doc["jobs"]["gate"]["env"]
    assert "MODELTRAIL_URL" in env and "MODELTRAIL_TOKEN" in env


def test_example_readmes_exist() -> None:
    for folder in ("sklearn_training", "mlflow_import", "fastapi_app"):
        assert (EXAMPLES / folder / "README.md").is_file(), folder
