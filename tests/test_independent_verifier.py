"""An independent verifier written from docs/ledger-format.md alone.

It uses only hashlib, base64, json and Ed25519 from `cryptography` — none of modeltrail's ledger code —
on what the CLI exports (``log --json``, ``checkpoint``, ``key show``, ``prove``). If the format doc and
the implementation ever drift apart, this test fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import rfc8785
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from modeltrail.cli.main import main


def _leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def _mth(hashes: list[bytes]) -> bytes:
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(hashes[:k]) + _mth(hashes[k:])).digest()


def _verify_note(note: str, verifier_key: str) -> tuple[str, int, bytes]:
    name, key_id_hex, key_b64 = verifier_key.split("+", 2)  # base64 may itself contain "+"
    raw = base64.b64decode(key_b64)
    assert raw[0] == 0x01
    pub = raw[1:]
    assert hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4].hex() == key_id_hex
    body, sigs = note.split("\n\n", 1)
    body += "\n"
    ok = False
    for line in sigs.splitlines():
        assert line.startswith("\u2014 ")
        sig_name, sig_b64 = line[2:].split(" ")
        blob = base64.b64decode(sig_b64)
        if sig_name == name and blob[:4].hex() == key_id_hex:
            Ed25519PublicKey.from_public_bytes(pub).verify(blob[4:], body.encode())
            ok = True
    assert ok, "no trusted signature"
    origin, size, root = body.splitlines()[:3]
    return origin, int(size), base64.b64decode(root)


def _verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    # RFC 9162 §2.1.3.2, transcribed.
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def _cli(args: list[str], cwd: Path) -> str:
    old = os.getcwd()
    os.chdir(cwd)
    try:
        r = CliRunner().invoke(main, args, catch_exceptions=False, env={"MODELTRAIL_URL": None})
    finally:
        os.chdir(old)
    assert r.exit_code == 0, r.output
    return r.stdout


def test_independent_verification_from_exports(tmp_path: Path) -> None:
    _cli(["init", "--origin", "example.org/credit-scoring"], tmp_path)
    for i in range(23):
        payload = {"i": i, "score": i / 7, "name": "é\u2028" if i == 3 else "x", "whole": 2.0}
        _cli(
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
                json.dumps(payload),
            ],
            tmp_path,
        )
    note = _cli(["checkpoint"], tmp_path)
    vkey = _cli(["key", "show"], tmp_path).strip()
    lines = [json.loads(x) for x in _cli(["log", "--json"], tmp_path).splitlines()]

    origin, size, root = _verify_note(note, vkey)
    assert origin == "example.org/credit-scoring" and size == len(lines) == 24

    hashes = []
    last_ts = ""
    for pos, line in enumerate(lines):
        leaf = base64.b64decode(line["leaf"])
        event = json.loads(leaf)
        assert event["seq"] == pos == line["seq"]
        assert list(event) == ["actor", "payload", "refs", "sealed", "seq", "subject", "system", "ts", "type", "v"]
        assert rfc8785.dumps(event) == leaf  # canonical JCS bytes
        assert event["ts"] >= last_ts and event["ts"].endswith("Z")
        last_ts = event["ts"]
        h = _leaf_hash(leaf)
        assert h.hex() == line["leaf_hash"]
        hashes.append(h)
    assert _mth(hashes) == root
    assert lines[0]["event"]["type"] == "trail.initialized"
    assert lines[0]["event"]["payload"]["verifier_key"] == vkey

    for seq in (0, 5, 23):
        p = json.loads(_cli(["prove", str(seq)], tmp_path))
        assert p["checkpoint"] == note
        assert _verify_inclusion(hashes[seq], seq, p["tree_size"], [base64.b64decode(x) for x in p["proof"]], root)
