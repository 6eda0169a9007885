"""Runs: context manager, code and environment capture, ids, and the run CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

import modeltrail
from modeltrail.cli import lineage as cli
from modeltrail.errors import ValidationError
from modeltrail.ids import id_time_ms, is_id, new_id, uuid7
from modeltrail.lineage import capture_code, capture_environment, get_run, list_runs, metric_history, trail_run
from modeltrail.lineage.code import strip_credentials
from modeltrail.lineage.environment import package_lines
from modeltrail.trail import Trail

ALICE = {"id": "alice", "role": "data_scientist"}


@pytest.fixture
def trail(tmp_path: Path, backend_url: str | None) -> Trail:
    t = modeltrail.init(tmp_path, url=backend_url)  # SQLite and PostgreSQL
    yield t
    t.close()


def test_uuid7_is_version_7_and_increasing() -> None:
    ids = [uuid7() for _ in range(2000)]
    assert all(u.version == 7 and u.variant == "specified in RFC 4122" for u in ids)
    hexes = [u.hex for u in ids]
    assert hexes == sorted(hexes) and len(set(hexes)) == len(hexes)
    assert is_id(new_id()) and not is_id("xyz")
    assert abs(id_time_ms(hexes[0]) - id_time_ms(new_id())) < 5_000


def test_context_manager_success_records_params_metrics_and_end(trail: Trail) -> None:
    with trail_run(trail, "train", system="credit", actor=ALICE, params={"C": 0.5}, tags={"team": "risk"}) as run:
        run.log_params(max_iter=100)
        run.log_metric("roc_auc", 0.81)
        run.log_metrics({"loss": 0.4, "acc": 0.7}, step=3)
        run.log_metric_series("curve", [1.0, 0.5, 0.25])
        run.set_tags(stage="dev")
    info = get_run(trail, run.run_id)
    assert info.status == "completed" and info.error_type is None and info.duration_s is not None
    assert info.params == {"C": 0.5, "max_iter": 100}
    assert info.tags == {"team": "risk", "stage": "dev"}
    assert info.metrics == {"roc_auc": 0.81, "loss": 0.4, "acc": 0.7, "curve": 0.25}
    assert [h["step"] for h in metric_history(trail, run.run_id, "curve")] == [0, 1, 2]
    types = [e.type for e in trail.events("run.*", subject=run.ref)]
    assert types[0] == "run.started" and types[-1] == "run.ended"
    started = next(trail.events("run.started", subject=run.ref))
    assert started.payload["environment"]["packages_sha256"] in {r.split(":")[-1] for r in started.refs}


def test_context_manager_failure_is_recorded_and_reraised(trail: Trail) -> None:
    with pytest.raises(ZeroDivisionError), trail_run(trail, "boom", system="credit", actor=ALICE) as run:
        run.log_metric("x", 1)
        _ = 1 / 0
    info = get_run(trail, run.run_id)
    assert info.status == "failed"
    assert info.error_type == "builtins.ZeroDivisionError"
    assert [r.run_id for r in list_runs(trail, status="failed")] == [run.run_id]
    with pytest.raises(ValidationError):
        run.log_metric("y", 2)  # an ended run takes no more values


def test_metric_values_must_be_finite(trail: Trail) -> None:
    with trail_run(trail, "t", system="credit", actor=ALICE) as run:
        with pytest.raises(ValidationError, match=r"metrics\.loss"):
            run.log_metric("loss", float("nan"))
        with pytest.raises(ValidationError):
            run.log_metric("flag", True)  # type: ignore[arg-type]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_code_capture_in_a_git_repo(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "a@example.org")
    _git(repo, "config", "user.name", "A")
    _git(repo, "remote", "add", "origin", "https://bob:s3cret@git.example.org/org/repo.git")
    (repo / "train.py").write_text("print(1)\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "init")
    clean = capture_code(repo)
    assert clean.branch == "main" and clean.dirty is False and clean.diff_sha256 is None
    assert clean.commit is not None and len(clean.commit) == 40
    assert clean.remote == "https://git.example.org/org/repo.git"  # credentials stripped
    (repo / "train.py").write_text("print(2)\n")
    dirty = capture_code(repo)
    diff = subprocess.run(
        ["git", "diff", "HEAD", "--no-color", "--no-ext-diff", "--binary"], cwd=repo, capture_output=True
    ).stdout
    assert dirty.dirty is True and dirty.commit == clean.commit
    assert dirty.diff_sha256 == hashlib.sha256(diff).hexdigest()


def test_code_capture_outside_git_is_graceful(tmp_path: Path, trail: Trail) -> None:
    info = capture_code(tmp_path)
    assert info.commit is None and info.dirty is None
    with trail_run(trail, "t", system="credit", actor=ALICE, code_dir=tmp_path) as run:
        pass
    assert get_run(trail, run.run_id).code["commit"] is None


def test_strip_credentials_and_environment(trail: Trail) -> None:
    assert strip_credentials("https://tok@github.com/a/b") == "https://github.com/a/b"
    assert strip_credentials("git@github.com:a/b.git") == "git@github.com:a/b.git"
    env = capture_environment(trail.blobs)
    stored = trail.blobs.get_bytes(env.packages_sha256).decode().splitlines()
    assert stored == package_lines() and stored == sorted(stored)
    assert any(line.startswith("numpy==") for line in stored)


def test_cli_run_start_log_end(trail: Trail) -> None:
    runner = CliRunner()
    obj = cli_ctx(trail)
    start = next(c for c in cli.COMMANDS if c.name == "run")
    res = runner.invoke(
        start, ["start", "nightly", "--system", "credit", "--param", "depth=4", "--tag", "k=v"], obj=obj
    )
    assert res.exit_code == 0, res.output
    run_id = res.output.strip()
    assert is_id(run_id)
    res = runner.invoke(
        start, ["log", "--run", run_id, "--metric", "auc=0.8", "--param", "lr=0.1", "--step", "2"], obj=obj
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(start, ["log", "--metric", "auc=0.9"], obj=obj)  # the current run file
    assert res.exit_code == 0, res.output
    res = runner.invoke(start, ["end", "--run", run_id, "--status", "failed", "--error-type", "exit 3"], obj=obj)
    assert res.exit_code == 0, res.output
    info = get_run(trail, run_id)
    assert info.params == {"depth": 4, "lr": 0.1} and info.metrics == {"auc": 0.9}
    assert info.status == "failed" and info.error_type == "exit 3" and info.actor == "cli-user"
    res = runner.invoke(start, ["end", "--run", run_id], obj=obj)
    assert res.exit_code == 2 and "already ended" in res.output
    runs = next(c for c in cli.COMMANDS if c.name == "runs")
    res = runner.invoke(runs, ["show", run_id, "--json"], obj=obj)
    assert res.exit_code == 0 and '"auc"' in res.output
    res = runner.invoke(runs, ["list"], obj=obj)
    assert res.exit_code == 0 and run_id[:8] in res.output
    res = runner.invoke(runs, ["list", "--json", "--status", "failed"], obj=obj)
    assert [json.loads(x)["name"] for x in res.stdout.splitlines()] == ["nightly"]


def cli_ctx(trail: Trail) -> object:
    from modeltrail.cli.main import TrailContext

    tc = TrailContext(str(trail.path))
    tc._trail = trail
    tc.close = lambda: None  # type: ignore[method-assign]
    return tc
