"""An audit bundle verifier written from docs/audit-bundle.md alone, without modeltrail's code.

It uses only the standard library (struct, zlib, hashlib, base64, json), ``rfc8785`` for canonical JSON
and ``cryptography`` for Ed25519 — the point is that the page is precise enough to verify a bundle that
modeltrail wrote, and to reject the same tampering modeltrail's verifier rejects.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from _audit_support import SYSTEM, decide, review, story
from _registry_support import ADMIN, make_trail
from modeltrail.audit.bundle import export_bundle


class Bad(Exception):
    pass


def read_zip(raw: bytes) -> list[tuple[str, bytes]]:
    """§1: parse the archive and insist on the canonical layout, byte by byte."""
    pos, out, central = 0, [], b""
    while raw[pos : pos + 4] == b"PK\x03\x04":
        (ver, flags, method, mtime, mdate, crc, csize, usize, nlen, xlen) = struct.unpack(
            "<HHHHHIIIHH", raw[pos + 4 : pos + 30]
        )
        name = raw[pos + 30 : pos + 30 + nlen].decode("ascii")
        if (ver, flags, method, mtime, mdate, xlen) != (20, 0, 0, 0, 0x21, 0) or csize != usize:
            raise Bad(f"local header of {name} is not canonical")
        data = raw[pos + 30 + nlen : pos + 30 + nlen + usize]
        if zlib.crc32(data) != crc:
            raise Bad(f"CRC of {name}")
        central += (
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                0x0314,
                20,
                0,
                0,
                0,
                0x21,
                crc,
                usize,
                usize,
                nlen,
                0,
                0,
                0,
                0,
                0o100644 << 16,
                pos,
            )
            + name.encode()
        )
        out.append((name, data))
        pos += 30 + nlen + usize
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(out), len(out), len(central), pos, 0)
    if raw[pos:] != central + eocd:
        raise Bad("central directory or end record is not canonical")
    return out


def largest_pow2_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def node(a: bytes, b: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + a + b).digest()


def inclusion_root(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2."""
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise Bad("proof too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn:
        raise Bad("proof too short")
    return r


def consistent(m: int, n: int, r1: bytes, r2: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2."""
    path = ([r1] if m & (m - 1) == 0 else []) + proof
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == r1 and sr == r2


def parse_vkey(vkey: str) -> tuple[str, bytes, Ed25519PublicKey]:
    name, kid, key64 = vkey.split("+", 2)
    raw = base64.b64decode(key64)
    assert raw[0] == 1 and hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == kid
    return name, bytes.fromhex(kid), Ed25519PublicKey.from_public_bytes(raw[1:])


def open_note(note: str, keys: list[str]) -> str:
    """C2SP signed note: the text, if a chain key signed it (a failing known-key signature is fatal)."""
    text, _, sigs = note.rpartition("\n\n")
    text += "\n"
    ok = False
    for line in sigs.rstrip("\n").split("\n"):
        name, b64 = line.removeprefix("— ").split(" ")
        raw = base64.b64decode(b64)
        for k in keys:
            kname, kid, pub = parse_vkey(k)
            if (kname, kid) == (name, raw[:4]):
                try:
                    pub.verify(raw[4:], text.encode())
                except InvalidSignature:
                    raise Bad("a known key's signature fails") from None
                ok = True
    if not ok:
        raise Bad("no chain key signed the note")
    return text


def verify(raw: bytes) -> dict[str, Any]:
    files = read_zip(raw)
    names = [n for n, _ in files]
    if (
        names[:2] != ["manifest.json", "manifest.sig"]
        or names[2:] != sorted(names[2:])
        or len(set(names)) != len(names)
    ):
        raise Bad("entry order")
    c = dict(files)
    manifest = json.loads(c["manifest.json"])
    if rfc8785.dumps(manifest) != c["manifest.json"] or manifest["format"] != "modeltrail-audit-bundle/1":
        raise Bad("manifest encoding")
    if set(manifest["files"]) != set(names[2:]):
        raise Bad("file set")
    for n in names[2:]:
        if hashlib.sha256(c[n]).hexdigest() != manifest["files"][n]:
            raise Bad(f"hash of {n}")
    origin = manifest["origin"]
    events, leaf_hashes = {}, {}
    for line in c["events.jsonl"].splitlines():
        row = json.loads(line)
        leaf = base64.b64decode(row["leaf"])
        ev = json.loads(leaf)
        if rfc8785.dumps(ev) != leaf or ev["seq"] != row["seq"]:
            raise Bad("event leaf")
        events[row["seq"]] = ev
        leaf_hashes[row["seq"]] = hashlib.sha256(b"\x00" + leaf).digest()
    chain = [events[0]["payload"]["verifier_key"]]
    for s in sorted(events):
        if events[s]["type"] == "key.rotated":
            if events[s]["payload"]["old_verifier_key"] not in chain:
                raise Bad("rotation from an unknown key")
            chain.append(events[s]["payload"]["new_verifier_key"])
    if json.loads(c["keys.json"])["verifier_keys"] != chain:
        raise Bad("key chain")
    sig_text = open_note(c["manifest.sig"].decode(), chain)
    if sig_text != f"modeltrail-audit-bundle/1\n{origin}\n{hashlib.sha256(c['manifest.json']).hexdigest()}\n":
        raise Bad("manifest signature text")
    cps = []
    for line in c["checkpoints.jsonl"].splitlines():
        body = open_note(json.loads(line)["note"], chain).split("\n")
        if body[0] != origin:
            raise Bad("origin")
        cps.append((int(body[1]), base64.b64decode(body[2])))
    size, root = cps[-1]
    if manifest["head"] != {"size": size, "root": base64.b64encode(root).decode()}:
        raise Bad("head")
    pairs = list(itertools.pairwise(cps))
    for ((a, ra), (b, rb)), line in zip(pairs, c["consistency.jsonl"].splitlines(), strict=True):
        p = json.loads(line)
        if (p["old_size"], p["new_size"]) != (a, b) or not consistent(
            a, b, ra, rb, [base64.b64decode(h) for h in p["proof"]]
        ):
            raise Bad("consistency")
    for line in c["inclusion.jsonl"].splitlines():
        p = json.loads(line)
        if inclusion_root(p["seq"], size, leaf_hashes[p["seq"]], [base64.b64decode(h) for h in p["proof"]]) != root:
            raise Bad(f"inclusion of {p['seq']}")
    if "range.json" in c:
        rng = json.loads(c["range.json"])
        lo, hi = rng["start"], rng["end"]
        leaves = {**{s: base64.b64decode(h) for s, h in rng["omitted"]}, **leaf_hashes}
        nodes = iter(rng["nodes"])

        def mth(s: int, e: int) -> bytes:
            if e <= lo or s >= hi:
                ns, ne, h = next(nodes)
                if (ns, ne) != (s, e):
                    raise Bad("range node")
                return base64.b64decode(h)
            if e - s == 1:
                return leaves[s]
            k = largest_pow2_below(e - s)
            return node(mth(s, s + k), mth(s + k, e))

        if mth(0, size) != root or next(nodes, None) is not None:
            raise Bad("range root")
    for n in names:
        if n.startswith("blobs/") and hashlib.sha256(c[n]).hexdigest() != n[6:]:
            raise Bad("blob name")
    return {"events": len(events), "head": size, "keys": len(chain)}


@pytest.fixture
def bundle(tmp_path: Path) -> bytes:
    with make_trail(tmp_path) as trail:
        story(trail, policy=False)
        did = decide(trail, route="review")
        review(trail, did)
        trail.record("run.started", system="other-system", actor=ADMIN, subject="run:y", payload={})
        trail.rotate_key(ADMIN, reason="independent verifier test")
        decide(trail)
        export_bundle(trail, tmp_path / "b.zip", system=SYSTEM)
    return (tmp_path / "b.zip").read_bytes()


def test_independent_verifier_accepts_modeltrail_bundle(bundle: bytes) -> None:
    out = verify(bundle)
    assert out["keys"] == 2 and out["events"] > 10


def test_independent_verifier_rejects_tampering(bundle: bytes) -> None:
    for pos in range(0, len(bundle), max(1, len(bundle) // 300)):
        raw = bytearray(bundle)
        raw[pos] ^= 0x20
        with pytest.raises((Bad, ValueError, KeyError, IndexError, StopIteration, UnicodeDecodeError, AssertionError)):
            verify(bytes(raw))
