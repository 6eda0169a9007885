"""`modeltrail docs …` and `modeltrail status --requirements` end to end on a demo trail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from modeltrail.cli.main import main
from modeltrail.demo import run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return run_demo(tmp_path_factory.mktemp("cli-docs") / "demo", decisions=60, seed=7)


def _run(demo: Any, *args: str) -> Any:
    return CliRunner().invoke(main, ["--trail", str(demo.trail_path), *args], catch_exceptions=False)


def test_build_list_check_answer_cycle(demo: Any, tmp_path: Path) -> None:
    model = demo.deployed.removeprefix("model:")
    r = _run(
        demo,
        "docs",
        "build",
        model,
        "--kind",
        "model_card",
        "--kind",
        "qms",
        "--format",
        "md,html",
        "--out",
        str(tmp_path),
        "--json",
        "--actor",
        "carol",
    )
    assert r.exit_code == 0, r.output
    built = json.loads(r.output)
    assert [d["kind"] for d in built] == ["model_card", "qms"]
    assert Path(built[0]["files"]["md"]).is_file() and Path(built[0]["files"]["html"]).is_file()

    r = _run(demo, "docs", "list", "--system", "credit-scoring", "--json")
    assert r.exit_code == 0
    listed = {(d["kind"], d["subject"]): d for d in json.loads(r.output)}
    assert listed[("model_card", demo.deployed)]["seq"] == built[0]["seq"]

    r = _run(demo, "docs", "check", "--system", "credit-scoring", "--json")
    fresh = {s["kind"]: s for s in json.loads(r.output)}
    assert not fresh["model_card"]["stale"] and not fresh["qms"]["stale"]  # just generated
    # The demo's Annex IV cites the model card it generated: a newer model card makes it stale.
    assert fresh["annex_iv"]["stale"] and fresh["annex_iv"]["newer"] == [built[0]["seq"]]
    assert r.exit_code == 1

    r = _run(
        demo,
        "docs",
        "answer",
        "qms.strategy",
        "--system",
        "credit-scoring",
        "--text",
        "Comply through gates and generated documents",
        "--actor",
        "carol",
    )
    assert r.exit_code == 0, r.output
    seq = int(r.output.rsplit("event", 1)[1])

    r = _run(demo, "docs", "check", "--system", "credit-scoring", "--json")
    assert r.exit_code == 1
    stale = {s["kind"]: s for s in json.loads(r.output) if s["stale"]}
    assert "qms" in stale and stale["qms"]["newer"] == [seq]
    assert "model_card" not in stale  # the model card does not rest on the QMS strategy

    r = _run(demo, "docs", "verify", built[0]["files"]["md"])
    assert r.exit_code == 0 and "signature OK" in r.output
    Path(built[0]["files"]["md"]).write_text("edited by hand\n")
    r = _run(demo, "docs", "verify", built[0]["files"]["md"])
    assert r.exit_code == 1 and "does not match" in r.output


def test_answers_file_and_risk_commands(demo: Any, tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text("system.provider: ACME Bank AG, Frankfurt\nsystem.contact: ai-office@acme.example\n")
    r = _run(demo, "docs", "answer", "--system", "credit-scoring", "--file", str(answers), "--actor", "carol")
    assert r.exit_code == 0 and "recorded 2 statements" in r.output
    r = _run(
        demo,
        "docs",
        "risk",
        "add",
        "R1",
        "--system",
        "credit-scoring",
        "--title",
        "Age discrimination",
        "--category",
        "discrimination",
        "--likelihood",
        "3",
        "--impact",
        "4",
        "--owner",
        "bob",
        "--review-by",
        "2000-01-01",
        "--actor",
        "bob",
    )
    assert r.exit_code == 0, r.output
    r = _run(demo, "docs", "risk", "list", "--system", "credit-scoring", "--json")
    data = json.loads(r.output)
    assert data["risks"][0]["score"] == 12 and data["risks"][0]["overdue"] is True
    assert data["proposed"]
    r = _run(
        demo,
        "docs",
        "risk",
        "add",
        "R2",
        "--system",
        "credit-scoring",
        "--title",
        "x",
        "--category",
        "nope",
        "--likelihood",
        "1",
        "--impact",
        "1",
        "--owner",
        "bob",
        "--review-by",
        "2999-01-01",
        "--actor",
        "bob",
    )
    assert r.exit_code == 2 and "category" in r.output


def test_status_requirements_text_json_html(demo: Any) -> None:
    r = _run(demo, "status", "--requirements", "--json")
    assert r.exit_code == 0, r.output
    st = json.loads(r.output)
    assert st["system"] == "credit-scoring" and st["tiers"] == ["high"]
    states = {q["id"]: q["state"] for q in st["requirements"]}
    assert states["annex3.5"] == "satisfied" and states["art72.2"] == "missing"
    assert st["articles"]["Art. 5"]["readiness"] == 1.0
    r = _run(demo, "status", "--requirements", "--system", "credit-scoring", "--html")
    assert r.exit_code == 0 and r.output.startswith("<!DOCTYPE html>")
    r = _run(demo, "status", "--requirements", "--system", "credit-scoring")
    assert r.exit_code == 0 and "readiness per article" in r.output
    r = _run(demo, "status", "--requirements", "--system", "nope")
    assert r.exit_code == 1 and "no events for system" in r.output
    # The model status is unchanged.
    r = _run(demo, "status", demo.deployed.removeprefix("model:"), "--json")
    assert r.exit_code == 0 and json.loads(r.output)["version"]["model"] == "credit-logreg"


def test_bad_kind_and_format_exit_2(demo: Any) -> None:
    model = demo.deployed.removeprefix("model:")
    r = _run(demo, "docs", "build", model, "--kind", "annex_v", "--actor", "carol")
    assert r.exit_code == 2 and "kind" in r.output
    r = _run(demo, "docs", "build", model, "--kind", "qms", "--format", "docx", "--actor", "carol")
    assert r.exit_code == 2 and "format" in r.output
    r = _run(demo, "docs", "answer", "nope.key", "--system", "credit-scoring", "--text", "x", "--actor", "carol")
    assert r.exit_code == 2 and "unknown statement key" in r.output
