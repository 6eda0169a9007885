"""Listings page and stream: --limit/-n, --after, --all, --tsv, --json, the terminal default, no cut ids."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import modeltrail
from modeltrail.cli.listing import TERMINAL_LIMIT, Page, emit
from modeltrail.cli.main import main
from modeltrail.events import Actor

LONG_ACTOR = "service-account-with-a-very-long-identifier-0123456789"


@pytest.fixture()
def trail_dir(tmp_path: Path) -> Path:
    d = tmp_path / "t"
    with modeltrail.init(d) as t:
        t.record_many(
            {
                "type": "run.metrics",
                "system": "credit",
                "actor": {"id": LONG_ACTOR, "role": "pipeline"},
                "subject": f"decision:{i:032d}",
                "payload": {"i": i, "text": "x" * 300},
            }
            for i in range(120)
        )
    return d


def _log(trail_dir: Path, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, ["--trail", str(trail_dir), "log", *args], catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def test_pipe_gets_every_row_in_full_as_tsv(trail_dir: Path) -> None:
    code, out, _ = _log(trail_dir)
    lines = out.splitlines()
    assert code == 0 and lines[0].split("\t") == ["seq", "ts", "type", "actor", "subject", "payload"]
    assert len(lines) == 1 + 121  # trail.created and the 120 events
    row = lines[-1].split("\t")
    assert row[3] == LONG_ACTOR and row[4] == f"decision:{119:032d}"
    assert json.loads(row[5]) == {"i": 119, "text": "x" * 300}


def test_limit_after_and_reverse_page_by_seq(trail_dir: Path) -> None:
    code, out, err = _log(trail_dir, "-n", "10", "--json")
    seqs = [json.loads(x)["seq"] for x in out.splitlines()]
    assert code == 0 and seqs == list(range(10)) and "--after 9" in err
    _, out, err = _log(trail_dir, "--limit", "10", "--after", "9", "--json")
    assert [json.loads(x)["seq"] for x in out.splitlines()] == list(range(10, 20))
    _, out, _ = _log(trail_dir, "-n", "3", "--reverse", "--json")
    assert [json.loads(x)["seq"] for x in out.splitlines()] == [120, 119, 118]
    _, out, err = _log(trail_dir, "-n", "3", "--reverse", "--after", "118", "--json")
    assert [json.loads(x)["seq"] for x in out.splitlines()] == [117, 116, 115] and "--after 115" in err
    # The last page says nothing more.
    _, out, err = _log(trail_dir, "--after", "115", "--tsv")
    assert len(out.splitlines()) == 1 + 5 and err == ""


def test_conflicting_options_are_usage_errors(trail_dir: Path) -> None:
    code, _, err = _log(trail_dir, "--json", "--tsv")
    assert code == 2 and "--json or --tsv" in err
    code, _, err = _log(trail_dir, "--all", "-n", "3")
    assert code == 2 and "--all or --limit" in err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_default_is_one_page_with_full_identifiers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    out = _Tty()
    page = Page.from_options(None, None, False, False, False, out=out)
    assert page.fmt == "table" and page.limit == TERMINAL_LIMIT
    rows = [(str(i), LONG_ACTOR, "p" * 500) for i in range(TERMINAL_LIMIT + 5)]
    n = emit(
        page,
        ("seq", "actor", "payload"),
        rows,
        cells=lambda r: r,
        as_dict=lambda r: {"seq": r[0]},
        cursor=lambda r: int(r[0]),
        out=out,
    )
    lines = out.getvalue().splitlines()
    assert n == TERMINAL_LIMIT and len(lines) == 1 + TERMINAL_LIMIT
    assert all(LONG_ACTOR in ln for ln in lines[1:])
    assert lines[1].endswith("…") and len(lines[1]) == 100
    assert Page.from_options(None, None, True, False, False, out=out).limit is None


def test_tsv_escapes_tabs_and_newlines() -> None:
    out = io.StringIO()
    page = Page.from_options(None, None, False, False, True, out=out)
    emit(page, ("a", "b"), [("x\ty", "1\n2")], cells=lambda r: r, as_dict=dict, cursor=lambda r: None, out=out)
    assert out.getvalue().splitlines() == ["a\tb", "x\\ty\t1\\n2"]


def test_log_with_record_cli_actor(trail_dir: Path) -> None:
    with modeltrail.open(trail_dir) as t:
        t.record("run.metrics", system="credit", actor=Actor("a", "r"), payload={})
    code, out, _ = _log(trail_dir, "--type", "run.*", "--after", "119", "--tsv")
    assert code == 0 and [ln.split("\t")[0] for ln in out.splitlines()[1:]] == ["120", "121"]


def test_runs_and_datasets_lists_page_newest_first(tmp_path: Path) -> None:
    import numpy as np

    from modeltrail.lineage import register_dataset, start_run

    d = tmp_path / "t"
    alice = Actor("alice", "data_scientist", "human")
    with modeltrail.init(d) as t:
        runs = [
            start_run(t, f"r{i}", system="credit", actor=alice, capture_git=False, capture_env=False)
            for i in range(5)
        ]
        sets = [
            register_dataset(t, np.arange(10 + i), name="ds", system="credit", actor=alice) for i in range(4)
        ]

    def listing(*args: str) -> tuple[list[dict[str, object]], str]:
        r = CliRunner().invoke(main, ["--trail", str(d), *args, "--json"], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return [json.loads(x) for x in r.stdout.splitlines()], r.stderr

    first, err = listing("runs", "list", "-n", "2")
    assert [r["run_id"] for r in first] == [runs[4].run_id, runs[3].run_id]
    cursor = err.split("--after ")[1].split()[0]
    rest, err = listing("runs", "list", "--after", cursor)
    assert [r["run_id"] for r in rest] == [r.run_id for r in reversed(runs[:3])] and err == ""
    first, err = listing("datasets", "list", "-n", "3")
    assert [x["ref"] for x in first] == [s.ref for s in reversed(sets[1:])] and "--after" in err
    rest, _ = listing("datasets", "list", "--after", err.split("--after ")[1].split()[0])
    assert [x["ref"] for x in rest] == [sets[0].ref]
