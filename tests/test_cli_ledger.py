"""End-to-end CLI for the ledger: init, record, log, show, checkpoint, prove, verify, key."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from modeltrail.cli.main import main
from modeltrail.ledger import merkle
from modeltrail.ledger.note import NoteVerifier, verify_checkpoint


def _run(args: list[str], cwd: Path) -> tuple[int, str, str]:
    import os

    runner = CliRunner()

    old = os.getcwd()
    os.chdir(cwd)
    try:
        r = runner.invoke(main, args, catch_exceptions=False, env={"MODELTRAIL_URL": None})
    finally:
        os.chdir(old)
    return r.exit_code, r.stdout, r.stderr


def test_cli_roundtrip(tmp_path: Path) -> None:
    code, out, _ = _run(["init"], tmp_path)
    assert code == 0 and "verifier key" in out
    for i in range(5):
        code, out, _ = _run(
            [
                "record",
                "run.metrics",
                "--system",
                "credit",
                "--actor",
                "ci",
                "--role",
                "pipeline",
                "--payload",
                json.dumps({"i": i}),
            ],
            tmp_path,
        )
        assert code == 0 and json.loads(out)["seq"] == i + 1
    code, out, _ = _run(["log", "--json", "--type", "run.*"], tmp_path)
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["seq"] for x in lines] == [1, 2, 3, 4, 5]
    for x in lines:
        leaf = base64.b64decode(x["leaf"])
        assert merkle.leaf_hash(leaf).hex() == x["leaf_hash"]
        assert x["event"]["payload"]["i"] == x["seq"] - 1
    code, out, _ = _run(["log"], tmp_path)
    assert code == 0 and "run.metrics" in out
    code, out, _ = _run(["show", "3"], tmp_path)
    assert json.loads(out)["event"]["type"] == "run.metrics"
    code, note, _ = _run(["checkpoint"], tmp_path)
    assert code == 0
    code, vkey, _ = _run(["key", "show"], tmp_path)
    cp = verify_checkpoint(note, [NoteVerifier(vkey.strip())])
    assert cp.size == 6
    code, out, _ = _run(["prove", "2"], tmp_path)
    p = json.loads(out)
    merkle.verify_inclusion(
        base64.b64decode(p["leaf_hash"]),
        2,
        p["tree_size"],
        [base64.b64decode(h) for h in p["proof"]],
        cp.root,
    )
    code, out, _ = _run(["prove", "--consistency", "1", "6"], tmp_path)
    c = json.loads(out)
    merkle.verify_consistency(
        1, 6, base64.b64decode(c["old_root"]), cp.root, [base64.b64decode(h) for h in c["proof"]]
    )
    code, out, _ = _run(["verify", "--json"], tmp_path)
    assert code == 0 and json.loads(out)["ok"] is True
    code, out, _ = _run(["verify"], tmp_path)
    assert code == 0 and "OK" in out


def test_cli_verify_fails_with_exit_1_and_names_seq(tmp_path: Path) -> None:
    _run(["init"], tmp_path)
    for i in range(3):
        _run(
            [
                "record",
                "run.metrics",
                "--system",
                "s",
                "--actor",
                "a",
                "--role",
                "r",
                "--payload",
                json.dumps({"i": i}),
            ],
            tmp_path,
        )
    _run(["checkpoint"], tmp_path)
    db = sqlite3.connect(tmp_path / ".modeltrail" / "ledger.db")
    leaf = db.execute("SELECT leaf FROM events WHERE seq = 2").fetchone()[0]
    db.execute("UPDATE events SET leaf = ? WHERE seq = 2", (leaf.replace(b'"i":1', b'"i":9'),))
    db.commit()
    db.close()
    code, out, err = _run(["verify"], tmp_path)
    assert code == 1 and "seq 2" in err
    code, out, _ = _run(["verify", "--json"], tmp_path)
    assert code == 1 and json.loads(out)["first_problem"]["seq"] == 2


def test_cli_bad_input_exit_2_names_field(tmp_path: Path) -> None:
    _run(["init"], tmp_path)
    code, _, err = _run(["record", "Bad", "--system", "s", "--actor", "a", "--role", "r"], tmp_path)
    assert code == 2 and "type" in err
    code, _, err = _run(
        ["record", "run.x", "--system", "s", "--actor", "a", "--role", "r", "--payload", "[1"], tmp_path
    )
    assert code == 2 and "payload" in err
    code, _, err = _run(["show", "999"], tmp_path)
    assert code == 1 and "999" in err


def test_cli_without_trail(tmp_path: Path) -> None:
    code, _, err = _run(["log"], tmp_path)
    assert code == 1 and "modeltrail init" in err


def test_cli_rebuild_equals_live(tmp_path: Path) -> None:
    from modeltrail.demo import run_demo

    run_demo(tmp_path / "d", decisions=40)
    code, out, err = _run(["rebuild", "--check"], tmp_path / "d")
    assert code == 0, err
    assert "equals the live state" in out and "projection tables" in out
