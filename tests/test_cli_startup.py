"""CLI start-up: the root command imports no heavy library, and its static command table is true."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import click
from click.testing import CliRunner

from modeltrail.cli import main as cli_main

HEAVY = ("pandas", "scipy", "sklearn", "numpy", "rich", "fairlearn", "jinja2")


def _modules_after(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env={**os.environ}
    )
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_library() -> None:
    loaded = _modules_after("import modeltrail.cli.main")
    assert not [m for m in HEAVY if m in loaded], sorted(m for m in HEAVY if m in loaded)
    assert "modeltrail.cli.lineage" not in loaded and "modeltrail.trail" not in loaded


def test_help_lists_every_command_without_loading_extensions() -> None:
    code = (
        "from click.testing import CliRunner\n"
        "from modeltrail.cli.main import main\n"
        "r = CliRunner().invoke(main, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "import modeltrail.cli.main as m\n"
        "missing = [n for n in m.LAZY_COMMANDS if '  ' + n + ' ' not in r.output]\n"
        "assert not missing, missing"
    )
    loaded = _modules_after(code)
    assert not [m for m in HEAVY if m in loaded and m != "rich"], sorted(m for m in HEAVY if m in loaded)
    assert not [m for m in loaded if m.startswith("modeltrail.cli.") and m.split(".")[-1] in cli_main.EXTENSIONS]


def test_log_on_a_trail_loads_no_data_library() -> None:
    code = (
        "import tempfile, pathlib, modeltrail\n"
        "from click.testing import CliRunner\n"
        "from modeltrail.cli.main import main\n"
        "d = pathlib.Path(tempfile.mkdtemp()) / 't'\n"
        "modeltrail.init(d).close()\n"
        "r = CliRunner().invoke(main, ['--trail', str(d), 'log', '-n', '5'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'trail.created' in r.output or 'seq' in r.output, r.output"
    )
    loaded = _modules_after(code)
    assert not [m for m in ("pandas", "scipy", "sklearn") if m in loaded]


def test_static_table_matches_the_real_commands() -> None:
    real: dict[str, tuple[str, click.Command]] = {}
    for name in cli_main.EXTENSIONS:
        try:
            mod = importlib.import_module(f"modeltrail.cli.{name}")
        except ModuleNotFoundError:
            continue
        for cmd in mod.COMMANDS:
            assert cmd.name is not None
            if name in cli_main.GROUP_CONTRIBUTORS.get(cmd.name, ()):
                continue  # adds subcommands to a group another module owns
            real[cmd.name] = (name, cmd)
    for name, (module, help_text) in cli_main.LAZY_COMMANDS.items():
        assert name in real, f"{name} is in LAZY_COMMANDS but no EXTENSIONS module has it"
        assert real[name][0] == module, (name, module, real[name][0])
        for limit in (45, 80, 300):
            stand_in = click.Command(name, help=help_text)
            assert stand_in.get_short_help_str(limit) == real[name][1].get_short_help_str(limit), name
    # Every extension command is in the table, so none of them is imported at start-up.
    assert set(real) <= set(cli_main.LAZY_COMMANDS), sorted(set(real) - set(cli_main.LAZY_COMMANDS))


def test_commands_property_and_lazy_lookup_give_the_same_commands() -> None:
    group = cli_main.main
    assert isinstance(group, cli_main.LazyGroup)
    ctx = click.Context(group)
    names = group.list_commands(ctx)
    assert set(names) == set(group.commands)
    for name in ("review", "models", "serve", "log"):
        cmd = group.get_command(ctx, name)
        assert cmd is not None and cmd.name == name
    assert group.get_command(ctx, "no-such-command") is None


def test_unknown_command_is_a_usage_error() -> None:
    r = CliRunner().invoke(cli_main.main, ["frobnicate"])
    assert r.exit_code == 2 and "No such command" in r.output
