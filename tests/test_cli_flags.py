"""The identity flags: --actor / --actor-role everywhere; --as and --role as hidden deprecated aliases."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

import modeltrail
from modeltrail.cli.flags import actor_options, impersonation_option
from modeltrail.cli.main import main


@click.command()
@impersonation_option
def _priv(as_user: str | None) -> None:
    click.echo(f"as_user={as_user}")


@click.command()
@actor_options("data_scientist")
def _rec(actor_id: str | None, actor_role: str | None) -> None:
    click.echo(f"{actor_id}/{actor_role}")


def test_new_and_old_spellings_fill_the_same_parameter() -> None:
    r = CliRunner()
    assert r.invoke(_priv, ["--actor", "rita"]).stdout == "as_user=rita\n"
    old = r.invoke(_priv, ["--as", "rita"])
    assert old.stdout == "as_user=rita\n" and "--as is deprecated; use --actor" in old.stderr
    assert r.invoke(_priv, []).stdout == "as_user=None\n"
    assert r.invoke(_rec, ["--actor", "ci", "--actor-role", "pipeline"]).stdout == "ci/pipeline\n"
    old = r.invoke(_rec, ["--role", "pipeline", "--actor", "ci"])
    assert old.stdout == "ci/pipeline\n" and "--role is deprecated" in old.stderr


def test_help_shows_only_the_new_spellings() -> None:
    text = CliRunner().invoke(_priv, ["--help"]).stdout + CliRunner().invoke(_rec, ["--help"]).stdout
    assert "--actor" in text and "--actor-role" in text and "--as" not in text and "--role " not in text


def test_every_command_spells_identity_flags_one_way() -> None:
    def walk(cmd: click.Command, path: str) -> list[tuple[str, str]]:
        out = [(path, o) for p in cmd.params if isinstance(p, click.Option) and not p.hidden for o in p.opts]
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                out += walk(sub, f"{path} {name}")
        return out

    flags = walk(main, "modeltrail")
    assert not [f for f in flags if f[1] in ("--as", "--actor-id")]
    # --role on a command means a dataset's role, never the actor's.
    assert {p for p, o in flags if o == "--role"} <= {"modeltrail dataset register", "modeltrail dataset import-dvc"}


def test_record_with_new_flags_and_missing_ones(tmp_path: Path) -> None:
    modeltrail.init(tmp_path).close()
    base = ["--trail", str(tmp_path), "record", "run.note", "--system", "s"]
    r = CliRunner().invoke(main, [*base, "--actor", "ci", "--actor-role", "pipeline"])
    assert r.exit_code == 0 and json.loads(r.stdout)["seq"] == 1
    r = CliRunner().invoke(main, [*base, "--actor", "ci"])
    assert r.exit_code == 2 and "--actor-role" in r.stderr
    with modeltrail.open(tmp_path) as t:
        assert t.get_event(1).actor.role == "pipeline"
