"""The cosigning witness (C2SP tlog-witness / tlog-cosignature): cosigns only consistent growth."""

from __future__ import annotations

import base64
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

import modeltrail
from modeltrail.cli.main import main
from modeltrail.errors import ProofError, SignatureError, ValidationError
from modeltrail.events import Actor
from modeltrail.governance.witnessing import cosign_with
from modeltrail.ledger.witness import (
    Witness,
    WitnessConflict,
    WitnessKey,
    build_request,
    cosigned_message,
    parse_request,
)
from modeltrail.ledger.witness_http import make_server

ALICE = Actor("alice", "data_scientist")


def _grow(t: modeltrail.Trail, n: int, tag: str = "r") -> None:
    t.record_many(
        [{"type": "run.started", "system": "s", "actor": ALICE, "subject": f"run:{tag}{i}"} for i in range(n)]
    )
    t.checkpoint()


def _truncate(t: modeltrail.Trail, keep: int) -> None:
    """Delete events from ``keep`` on, every tree node over them and their checkpoints (a rollback)."""
    t.store.execute("DELETE FROM events WHERE seq >= ?", (keep,))
    for (nid,) in t.store.execute("SELECT id FROM nodes"):
        lv, ix = nid >> 48, nid & ((1 << 48) - 1)
        if (ix + 1) << lv > keep:
            t.store.execute("DELETE FROM nodes WHERE id = ?", (nid,))
    t.store.execute("DELETE FROM checkpoints WHERE size > ?", (keep,))


@pytest.fixture()
def witness(tmp_path: Path) -> Witness:
    return Witness.create(tmp_path / "w", "witness.example.org/w1")


def test_cosigns_consistent_growth_and_verify_checks_it(
    tmp_path: Path, backend_url: str | None, witness: Witness
) -> None:
    with modeltrail.init(tmp_path / "t", url=backend_url) as t:
        witness.follow(t.origin, t.signer().verifier_key())
        _grow(t, 5)
        first = cosign_with(t, witness)
        assert witness.key.cosignature_time(first) is not None
        _grow(t, 7)
        second = cosign_with(t, witness)  # with a consistency proof from the size it cosigned before
        assert witness.last(t.origin)[0] == t.size()
        assert witness.key.cosignature_time(second) is not None
        assert t.verify(witnesses=[witness.key.vkey()]).ok
        other = Witness.create(tmp_path / "w2", "witness.example.org/w2")
        res = t.verify(witnesses=[witness.key.vkey(), other.key.vkey()])
        assert [p.kind for p in res.problems] == ["witness"]
        assert t.verify(witnesses=[witness.key.vkey(), other.key.vkey()], min_witnesses=1).ok


def test_rolled_back_log_is_refused(tmp_path: Path, backend_url: str | None, witness: Witness) -> None:
    with modeltrail.init(tmp_path / "t", url=backend_url) as t:
        witness.follow(t.origin, t.signer().verifier_key())
        _grow(t, 6)
        keep = t.size()
        _grow(t, 6)
        cosign_with(t, witness)
        _truncate(t, keep)
    with modeltrail.open(tmp_path / "t") as t:
        assert not t.verify().ok  # the known head kept outside the database says so
        with pytest.raises(ProofError, match="rollback"):
            cosign_with(t, witness)  # smaller than what the witness cosigned
        _grow(t, 20, tag="fork")  # grown again past the old size: a fork, not an extension
        with pytest.raises(ProofError):
            cosign_with(t, witness)
        assert witness.last(t.origin)[0] == keep + 6


def test_request_format_conflicts_and_bad_signatures(tmp_path: Path, witness: Witness) -> None:
    with modeltrail.init(tmp_path / "t") as t:
        witness.follow(t.origin, t.signer().verifier_key())
        _grow(t, 3)
        note = t.latest_checkpoint().note
        body = build_request(0, [], note)
        assert parse_request(body) == (0, [], note)
        with pytest.raises(WitnessConflict) as conflict:
            witness.add_checkpoint(build_request(2, [], note))
        assert conflict.value.size == 0
        line = witness.add_checkpoint(body, now=1_700_000_000)
        raw = base64.b64decode(line.split(" ")[-1])
        assert len(raw) == 4 + 8 + 64 and int.from_bytes(raw[4:12], "big") == 1_700_000_000
        # The signed message is the cosignature/v1 header, the time line, then the checkpoint body.
        body_text = note.split("\n\n", 1)[0] + "\n"
        assert cosigned_message(body_text, 5).startswith(b"cosignature/v1\ntime 5\n" + t.origin.encode())
        forged = note.replace(note.split("\n")[2], base64.b64encode(bytes(32)).decode())
        with pytest.raises(SignatureError):
            witness.add_checkpoint(build_request(0, [], forged))
        with pytest.raises(ValidationError):
            witness.add_checkpoint(b"old 01\n\n" + note.encode())


def test_witness_key_round_trip_and_rejects_a_wrong_id(witness: Witness) -> None:
    vkey = witness.key.vkey()
    assert WitnessKey.parse(vkey) == witness.key
    name, _, key = vkey.split("+", 2)
    with pytest.raises(ValidationError, match="key id"):
        WitnessKey.parse(f"{name}+{'0' * 8}+{key}")


def test_http_add_checkpoint(tmp_path: Path, witness: Witness) -> None:
    with modeltrail.init(tmp_path / "t") as t:
        witness.follow(t.origin, t.signer().verifier_key())
        _grow(t, 2)
        note = t.latest_checkpoint().note
        srv = make_server(witness, "127.0.0.1", 0)
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{srv.server_address[1]}/add-checkpoint"
        try:
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(urllib.request.Request(url, data=build_request(9, [], note), method="POST"))
            assert err.value.code == 409 and err.value.read() == b"0\n"
            assert err.value.headers["Content-Type"] == "text/x.tlog.size"
            with urllib.request.urlopen(
                urllib.request.Request(url, data=build_request(0, [], note), method="POST")
            ) as r:
                line = r.read().decode()
            assert witness.key.cosignature_time(note + line) is not None
        finally:
            srv.shutdown()
            srv.server_close()


def test_cli_witness_flow(tmp_path: Path) -> None:
    runner = CliRunner()
    wdir = tmp_path / "w"
    r = runner.invoke(main, ["witness", "init", "--dir", str(wdir), "--name", "w.example/1"])
    assert r.exit_code == 0
    vkey = r.stdout.strip()
    with modeltrail.init(tmp_path / "t") as t:
        origin, key = t.origin, t.signer().verifier_key()
        _grow(t, 2)
    assert runner.invoke(main, ["witness", "follow", "--dir", str(wdir), origin, key]).exit_code == 0
    trail = ["--trail", str(tmp_path / "t")]
    assert runner.invoke(main, [*trail, "witness", "cosign", "--dir", str(wdir)]).exit_code == 0
    assert runner.invoke(main, [*trail, "verify", "--witness", vkey]).exit_code == 0
    other = WitnessKey("w.example/2", bytes(32)).vkey()
    bad = runner.invoke(main, [*trail, "verify", "--witness", other])
    assert bad.exit_code == 1 and "witness" in bad.stderr


# ------------------------------------------------------------------ a policy requires N witnesses (point 8)


def test_a_policy_can_require_n_witness_cosignatures(
    tmp_path: Path, backend_url: str | None, witness: Witness
) -> None:
    from modeltrail.audit.check import check
    from modeltrail.registry import register_policy

    second = Witness.create(tmp_path / "w2", "witness.example.org/w2")
    third = Witness.create(tmp_path / "w3", "witness.example.org/w3")
    keys = [w.key.vkey() for w in (witness, second, third)]
    policy = "system: s\nrisk_tier: limited\nwitnesses:\n  min: 2\n  keys:\n" + "".join(f"    - {k}\n" for k in keys)
    with modeltrail.init(tmp_path / "t", url=backend_url) as t:
        register_policy(t, policy, actor=ALICE)
        for w in (witness, second, third):
            w.follow(t.origin, t.signer().verifier_key())
        _grow(t, 3)
        res = t.verify()
        assert [p.kind for p in res.problems] == ["witness"] and "0 of the required 2" in res.problems[0].message
        assert check(t).kinds() == {"witness_cosignatures": 1}
        cosign_with(t, witness)
        assert not t.verify().ok and not check(t).ok  # one of two
        cosign_with(t, third)
        assert t.verify().ok and check(t).ok
        r = CliRunner().invoke(main, ["--trail", str(t.path), "audit", "check", "--json"])
        assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    "witnesses,field",
    [
        ("{keys: [not-a-key]}", "witnesses.keys[0]"),
        ("{keys: []}", "witnesses.keys"),
        ("{min: 1}", "witnesses.keys"),
    ],
)
def test_bad_witness_requirements_are_refused(witnesses: str, field: str) -> None:
    from modeltrail.errors import PolicyError
    from modeltrail.policy import parse_policy

    with pytest.raises(PolicyError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_policy(f"system: s\nrisk_tier: minimal\nwitnesses: {witnesses}\n")


def test_more_required_than_listed_is_refused(witness: Witness) -> None:
    from modeltrail.errors import PolicyError
    from modeltrail.policy import parse_policy

    with pytest.raises(PolicyError, match=r"witnesses\.min"):
        parse_policy(f"system: s\nrisk_tier: minimal\nwitnesses: {{keys: ['{witness.key.vkey()}'], min: 2}}\n")


def test_a_rolled_back_ledger_file_fails_verify_and_is_refused_by_the_witness(
    tmp_path: Path, witness: Witness
) -> None:
    # The whole SQLite file is replaced by an older copy (as from a backup): the trail itself cannot tell
    # from its database, but the known head and the witness (outside it) can.
    import shutil

    with modeltrail.init(tmp_path / "t") as t:
        witness.follow(t.origin, t.signer().verifier_key())
        _grow(t, 4)
        cosign_with(t, witness)
        db = next((tmp_path / "t").rglob("ledger.db"))
    backup = tmp_path / "old.db"
    shutil.copy(db, backup)
    with modeltrail.open(tmp_path / "t") as t:
        t.record("model.note", system="s", actor=ALICE, subject="run:after")  # what the rollback undoes
        _grow(t, 4, tag="later")
        cosign_with(t, witness)
        cosigned = witness.last(t.origin)[0]
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copy(backup, db)
    with modeltrail.open(tmp_path / "t") as t:
        assert t.size() < cosigned
        res = t.verify()
        assert not res.ok and res.first_problem is not None and res.first_problem.kind == "truncated"
        with pytest.raises(ProofError, match="rollback"):
            cosign_with(t, witness)
    assert witness.last(t.origin)[0] == cosigned  # the witness still holds the larger head
