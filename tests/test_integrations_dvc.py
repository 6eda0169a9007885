"""DVC import (modeltrail.integrations.dvc): outputs of dvc.lock and *.dvc files as dataset versions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import modeltrail
from modeltrail.cli.main import main
from modeltrail.errors import NotFoundError, ValidationError
from modeltrail.integrations.dvc import import_dvc
from modeltrail.trail import Trail

ALICE = {"id": "alice", "role": "data_scientist"}


@pytest.fixture
def trail(tmp_path: Path, backend_url: str | None) -> Iterator[Trail]:
    t = modeltrail.init(tmp_path, url=backend_url)  # SQLite and PostgreSQL
    yield t
    t.close()


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "dvcrepo"
    (repo / "data").mkdir(parents=True)
    (repo / "dvc.lock").write_text(
        """schema: '2.0'
stages:
  prepare:
    cmd: python prepare.py
    deps:
    - path: data/raw.csv
      hash: md5
      md5: 0123456789abcdef0123456789abcdef
      size: 2048
    - path: prepare.py
      md5: ffffffffffffffffffffffffffffffff
      size: 100
    outs:
    - path: data/prepared
      hash: md5
      md5: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.dir
      size: 4096
      nfiles: 2
"""
    )
    (repo / "data" / "raw.csv.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 2048\n  hash: md5\n  path: raw.csv\n"
    )
    return repo


def test_import_dvc(tmp_path: Path, trail: Trail) -> None:
    repo = _repo(tmp_path)
    found = import_dvc(trail, repo, system="credit", actor=ALICE)
    by_name = {d.name: d for d in found}
    assert set(by_name) == {"data/prepared", "data/raw.csv"}  # prepare.py is code, not data
    prepared, raw = by_name["data/prepared"], by_name["data/raw.csv"]
    assert prepared.hash_method == "dvc-md5" and prepared.content_hash == "a" * 32
    assert prepared.format == "directory" and prepared.extra["dvc"]["nfiles"] == 2
    assert prepared.parents == [raw.ref] and raw.extra["dvc"]["file"] == "data/raw.csv.dvc"
    n = trail.size()
    assert [d.ref for d in import_dvc(trail, repo, system="credit", actor=ALICE)] == [d.ref for d in found]
    assert trail.size() == n  # idempotent


def test_import_dvc_refuses_a_missing_folder_and_a_bad_role(tmp_path: Path, trail: Trail) -> None:
    with pytest.raises(NotFoundError):
        import_dvc(trail, tmp_path / "nowhere", system="credit", actor=ALICE)
    with pytest.raises(ValidationError) as e:
        import_dvc(trail, _repo(tmp_path), system="credit", actor=ALICE, role="training")
    assert e.value.field == "role"


def test_cli_import_dvc(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    runner = CliRunner()
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert runner.invoke(main, ["init"], env={"MODELTRAIL_URL": None}).exit_code == 0
        r = runner.invoke(
            main,
            ["dataset", "import-dvc", str(repo), "--system", "credit", "--actor", "alice", "--actor-role",
             "data_scientist"],
            env={"MODELTRAIL_URL": None},
        )
    finally:
        os.chdir(old)
    assert r.exit_code == 0, r.output
    assert sorted(r.stdout.split()) == ["dataset:data/prepared@aaaaaaaaaaaaaaaa", "dataset:data/raw.csv@0123456789abcdef"]
