"""Audit bundles: export on both backends, offline verification, and a failing check for every tampering."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modeltrail
from _audit_support import SYSTEM, decide, demo_copy, review, story
from _registry_support import ADMIN, make_trail
from modeltrail.audit.bundle import export_bundle
from modeltrail.audit.bundle_verify import canonical_zip, verify_bundle
from modeltrail.cli.main import main as cli
from modeltrail.errors import NotFoundError, PermissionDeniedError, ValidationError
from modeltrail.ledger import encoding
from modeltrail.ledger.note import NoteSigner


def _files(raw: bytes) -> list[tuple[str, bytes]]:
    zf = zipfile.ZipFile(io.BytesIO(raw))
    return [(i.filename, zf.read(i)) for i in zf.infolist()]


def _repack(files: list[tuple[str, bytes]], *, fix_manifest: bool) -> bytes:
    """Rebuild a canonical archive; with ``fix_manifest`` the manifest's hashes are made to match the files."""
    d = dict(files)
    try:
        man = json.loads(d["manifest.json"])
    except (ValueError, KeyError):
        fix_manifest = False  # the manifest itself was damaged: nothing to fix
    if fix_manifest:
        man["files"] = {n: hashlib.sha256(b).hexdigest() for n, b in files[2:]}
        d["manifest.json"] = encoding.canonical_bytes(man)
        files = [(n, d[n]) for n, _ in files]
    return canonical_zip(files)


@pytest.fixture
def bundle(tmp_path: Path, backend_url: str | None) -> bytes:
    trail = make_trail(tmp_path, url=backend_url)
    try:
        story(trail, policy=False)
        ids = [decide(trail, route="review" if i % 3 == 0 else "auto") for i in range(6)]
        review(trail, ids[0])
        trail.record("run.started", system="other-system", actor=ADMIN, subject="run:x", payload={})
        trail.rotate_key(ADMIN, reason="test rotation")
        decide(trail)
        info = export_bundle(trail, tmp_path / "b.zip", system=SYSTEM)
        assert info.omitted == 1 and info.blobs == 1 and info.sealed == 0
    finally:
        trail.close()
    return (tmp_path / "b.zip").read_bytes()


def test_bundle_verifies_offline(bundle: bytes, tmp_path: Path) -> None:
    res = verify_bundle(bundle)
    assert res.ok, res.problems
    assert len(res.keys) == 2  # the first key and the one it rotated to
    assert res.range is not None and res.omitted == 1 and res.blobs == 1 and res.consistency_proofs >= 1
    assert verify_bundle(bundle, pinned_keys=[res.first_key]).ok
    other = NoteSigner.generate(res.origin).verifier_key()
    pinned = verify_bundle(bundle, pinned_keys=[other])
    assert not pinned.ok and pinned.problems[0].kind == "key_not_pinned"
    # Through the CLI, from a folder with no trail at all.
    p = tmp_path / "elsewhere" / "b.zip"
    p.parent.mkdir()
    p.write_bytes(bundle)
    res_cli = CliRunner().invoke(cli, ["verify", str(p), "--json"])
    assert res_cli.exit_code == 0, res_cli.output
    assert json.loads(res_cli.output)["ok"] is True


def test_changing_any_file_fails(bundle: bytes) -> None:
    files = _files(bundle)
    for i, (name, data) in enumerate(files):
        for pos in (0, len(data) // 2, len(data) - 1):
            changed = bytearray(data)
            changed[pos] ^= 0x01
            tampered = [*files[:i], (name, bytes(changed)), *files[i + 1 :]]
            # Fixing the manifest's hashes would undo a change to the manifest itself.
            for fix in (False,) if name == "manifest.json" else (False, True):
                res = verify_bundle(_repack(tampered, fix_manifest=fix))
                assert not res.ok, (name, pos, fix)


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_removing_or_adding_a_file_fails(bundle: bytes) -> None:
    files = _files(bundle)
    for i in range(len(files)):
        for fix in (False, True):
            assert not verify_bundle(_repack([*files[:i], *files[i + 1 :]], fix_manifest=fix)).ok, files[i][0]
    for extra in ("zzz.txt", "blobs/" + "0" * 64, "sealed/3.json"):
        for fix in (False, True):
            res = verify_bundle(_repack([*files, (extra, b"{}")], fix_manifest=fix))
            assert not res.ok, extra
    # Reordering entries, or a second copy of an entry, also fails.
    assert not verify_bundle(canonical_zip([files[0], files[1], *reversed(files[2:])])).ok
    assert not verify_bundle(canonical_zip([*files, files[-1]])).ok


def test_resigned_forgery_fails(bundle: bytes) -> None:
    """An attacker who rewrites an event and re-signs the manifest with their own key is caught."""
    files = dict(_files(bundle))
    lines = files["events.jsonl"].splitlines()
    row = json.loads(lines[-1])
    ev = json.loads(base64.b64decode(row["leaf"]))
    ev["payload"]["output"] = 0
    row["leaf"] = base64.b64encode(encoding.canonical_bytes(ev)).decode()
    lines[-1] = json.dumps(row, separators=(",", ":"), sort_keys=True).encode()
    files["events.jsonl"] = b"\n".join(lines) + b"\n"
    man = json.loads(files["manifest.json"])
    names = list(files)
    man["files"] = {n: hashlib.sha256(files[n]).hexdigest() for n in names[2:]}
    files["manifest.json"] = encoding.canonical_bytes(man)
    from modeltrail.audit.bundle_verify import manifest_note_text
    from modeltrail.ledger.note import sign_note

    forger = NoteSigner.generate(man["origin"])
    files["manifest.sig"] = sign_note(manifest_note_text(man["origin"], files["manifest.json"]), forger).encode()
    res = verify_bundle(canonical_zip([(n, files[n]) for n in names]))
    assert not res.ok and res.problems[0].kind == "manifest_signature"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_byte_flip_fails(bundle: bytes, data: st.DataObject) -> None:
    pos = data.draw(st.integers(0, len(bundle) - 1))
    bit = data.draw(st.integers(0, 7))
    raw = bytearray(bundle)
    raw[pos] ^= 1 << bit
    assert not verify_bundle(bytes(raw)).ok
    # Appending or truncating bytes fails too.
    cut = data.draw(st.integers(1, 64))
    assert not verify_bundle(bundle[:-cut]).ok
    assert not verify_bundle(bundle + bytes(cut)).ok


def test_garbage_is_a_problem_not_a_crash() -> None:
    for raw in (b"", b"PK\x03\x04", b"not a zip", canonical_zip([("manifest.json", b"{")])):
        res = verify_bundle(raw)
        assert not res.ok and res.problems


def test_decision_scope_and_sealed_values(tmp_path: Path) -> None:
    demo = demo_copy(tmp_path)
    with modeltrail.open(demo / ".modeltrail") as t:
        d = next(e for e in t.events("inference.decision") if e.sealed)
        did = str(d.payload["decision_id"])
        info = export_bundle(t, tmp_path / "d.zip", system=d.system, decisions=[did])
        assert info.sealed == 0 and info.omitted == 0
        with pytest.raises(PermissionDeniedError):
            export_bundle(
                t,
                tmp_path / "x.zip",
                system=d.system,
                decisions=[did],
                include_sealed=True,
                purpose="p",
                actor=modeltrail.Actor("bob", "model_risk"),
            )
        assert not (tmp_path / "x.zip").exists()
        info = export_bundle(
            t,
            tmp_path / "s.zip",
            system=d.system,
            decisions=[did],
            include_sealed=True,
            purpose="audit",
            actor=modeltrail.Actor("dave", "auditor"),
        )
        assert info.sealed == 1
        with pytest.raises(ValidationError):
            export_bundle(t, tmp_path / "y.zip", system="other", decisions=[did])
        with pytest.raises(ValidationError):
            export_bundle(t, tmp_path / "y.txt", system=d.system)
        with pytest.raises(NotFoundError):
            export_bundle(
                t, tmp_path / "y.zip", system=d.system, since="2000-01-01T00:00:00Z", until="2000-01-02T00:00:00Z"
            )
    plain = verify_bundle(tmp_path / "d.zip")
    assert plain.ok and plain.range is None
    names = [n for n, _ in _files((tmp_path / "d.zip").read_bytes())]
    assert not any(n.startswith("sealed/") for n in names)
    sealed = verify_bundle(tmp_path / "s.zip")
    assert sealed.ok, sealed.problems
    files = dict(_files((tmp_path / "s.zip").read_bytes()))
    body = json.loads(files[f"sealed/{d.seq}.json"])
    assert set(body["values"]) == set(d.sealed)
    # The CLI: export by period and by decision, then verify each.
    runner = CliRunner()
    base = ["--trail", str(demo / ".modeltrail")]
    out = runner.invoke(
        cli, [*base, "audit", "export", "--system", d.system, "--decisions", did, "-o", str(tmp_path / "c.zip")]
    )
    assert out.exit_code == 0, out.output
    assert runner.invoke(cli, ["verify", str(tmp_path / "c.zip")]).exit_code == 0
    out = runner.invoke(
        cli, [*base, "audit", "export", "--system", d.system, "--from", d.ts, "-o", str(tmp_path / "p.zip")]
    )
    assert out.exit_code == 0, out.output
    period = verify_bundle(tmp_path / "p.zip")
    assert period.ok and period.range is not None and period.range[0] == d.seq
    bad = tmp_path / "bad.zip"
    raw = bytearray((tmp_path / "p.zip").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad.write_bytes(bytes(raw))
    assert runner.invoke(cli, ["verify", str(bad)]).exit_code == 1
