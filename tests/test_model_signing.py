"""OpenSSF model signing: a shipped signature verified at registration, a registered model signed on export."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import modeltrail
from modeltrail.cli.main import main as cli
from modeltrail.errors import SignatureError, ValidationError
from modeltrail.lineage.models import register_model
from modeltrail.lineage.modelsigning import SIGNATURE_NAME, sign_registered_model, verify_folder

model_signing = pytest.importorskip("model_signing")

ALICE = {"id": "alice", "role": "data_scientist"}


def _keys(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    priv, pub = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    priv.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    pub.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return priv, pub


def _signed_model(tmp_path: Path, priv: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (folder / "config.json").write_text('{"layers": 3}\n')
    model_signing.signing.Config().use_elliptic_key_signer(private_key=priv).sign(folder, folder / SIGNATURE_NAME)
    return folder


def _verifies(folder: Path, pub: Path) -> bool:
    try:
        verify_folder(folder, pub)
    except SignatureError:
        return False
    return True


def test_shipped_signature_is_verified_and_recorded(tmp_path: Path) -> None:
    priv, pub = _keys(tmp_path, "producer")
    folder = _signed_model(tmp_path, priv)
    with modeltrail.init(tmp_path / "trail") as t:
        mv = register_model(t, folder, name="vision", system="s", actor=ALICE, signing_key=pub)
        rec = t.get_event(mv.seq).payload["artifact"]["model_signing"]
        assert rec["verified"] is True and rec["format"] == "openssf-model-signing/v1"
        assert len(rec["signature_sha256"]) == 64 and len(rec["public_key_sha256"]) == 64
        size = t.size()
        # Another key, a changed file or an added file: refused, nothing recorded.
        _, other = _keys(tmp_path, "other")
        with pytest.raises(SignatureError):
            register_model(t, folder, name="vision", system="s", actor=ALICE, signing_key=other)
        (folder / "extra.txt").write_text("not signed")
        with pytest.raises(SignatureError):
            register_model(t, folder, name="vision", system="s", actor=ALICE, signing_key=pub)
        (folder / "extra.txt").unlink()
        (folder / "weights.bin").write_bytes(b"tampered")
        with pytest.raises(SignatureError, match="does not verify"):
            register_model(t, folder, name="vision", system="s", actor=ALICE, signing_key=pub)
        (folder / SIGNATURE_NAME).unlink()
        with pytest.raises(SignatureError, match=r"no model\.sig"):
            register_model(t, folder, name="vision", system="s", actor=ALICE, signing_key=pub)
        with pytest.raises(ValidationError) as err:
            register_model(t, folder / "config.json", name="vision", system="s", actor=ALICE, signing_key=pub)
        assert err.value.field == "signing_key"
        assert t.size() == size


def test_a_registered_model_is_signed_on_export(tmp_path: Path) -> None:
    priv, pub = _keys(tmp_path, "release")
    folder = _signed_model(tmp_path, _keys(tmp_path, "producer")[0])
    with modeltrail.init(tmp_path / "trail") as t:
        mv = register_model(t, folder, name="vision", system="s", actor=ALICE)
        sig, receipt = sign_registered_model(t, str(mv), priv, tmp_path / "release", actor=ALICE)
        out = sig.parent
        assert sorted(p.name for p in out.iterdir()) == ["config.json", SIGNATURE_NAME, "weights.bin"]
        assert _verifies(out, pub)  # the shipped signature was replaced by ours, not signed over
        ev = t.get_event(receipt.seq)
        assert ev.type == "model.signed" and ev.payload["artifact_sha256"] == mv.sha256
        with pytest.raises(ValidationError):
            sign_registered_model(t, str(mv), priv, out, actor=ALICE)  # nothing is overwritten
        (out / "config.json").write_text("{}")
        assert not _verifies(out, pub)
        # A single-file model, through the CLI.
        single = tmp_path / "model.onnx"
        single.write_bytes(b"onnx bytes")
        mv2 = register_model(t, single, name="tiny", system="s", actor=ALICE)
    res = CliRunner().invoke(
        cli, ["--trail", str(tmp_path / "trail"), "export", "model-signing", str(mv2), "--key", str(priv),
              "-o", str(tmp_path / "tiny")],
        env={"MODELTRAIL_USER": "alice"},
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (tmp_path / "tiny" / "model.onnx").read_bytes() == b"onnx bytes" and _verifies(tmp_path / "tiny", pub)
