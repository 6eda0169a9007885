"""A CI job that sets MODELTRAIL_TOKEN keeps one identity in every command, lineage ones included."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

import modeltrail
from _registry_support import ADMIN, make_trail
from modeltrail.cli.main import main
from modeltrail.identity import create_token


def test_lineage_commands_act_as_the_token_user(tmp_path: Path) -> None:
    t = make_trail(tmp_path)
    token = create_token(t, "ci", ADMIN, kind="service")
    t.close()
    old = os.getcwd()
    os.chdir(tmp_path / "proj")
    try:
        env = {"MODELTRAIL_URL": None, "MODELTRAIL_TOKEN": token, "MODELTRAIL_USER": None}
        r = CliRunner().invoke(main, ["run", "start", "nightly", "--system", "credit-scoring"], env=env)
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(main, ["run", "start", "x", "--system", "credit-scoring", "--actor", "alice"], env=env)
        assert r.exit_code != 0 and "conflicts with the token" in r.stderr
    finally:
        os.chdir(old)
    with modeltrail.open(tmp_path / "proj") as t2:
        started = list(t2.events("run.started"))
        assert [(e.actor.id, e.actor.kind) for e in started] == [("ci", "service")]
