"""Key files in a trail's keys/ folder: signing keys, CURRENT, rotation, secrets, permissions."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modeltrail.crypto.keys import (
    InsecureKeyFileError,
    check_private_key_permissions,
    create_secret_key,
    create_signing_key,
    current_signing_key_id,
    list_verifier_keys,
    load_secret_key,
    load_signing_key,
    set_current_signing_key,
)
from modeltrail.errors import IntegrityError, NotFoundError, SignatureError, ValidationError
from modeltrail.ledger.note import Checkpoint, NoteVerifier, sign_checkpoint, verify_checkpoint

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file permissions")

ORIGIN = "example.com/trail"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Run with umask 0, the worst case for files created with default permissions."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_create_signing_key_files_and_modes(keys_dir: Path, open_umask: None) -> None:
    signer = create_signing_key(keys_dir, ORIGIN)
    key_file = keys_dir / "signing" / f"{signer.key_id_hex}.key"
    pub_file = keys_dir / "signing" / f"{signer.key_id_hex}.pub"
    assert _mode(key_file) == 0o600
    assert _mode(keys_dir) == 0o700
    assert _mode(keys_dir / "signing") == 0o700
    assert key_file.read_text() == signer.signer_key() + "\n"
    assert pub_file.read_text() == signer.verifier_key() + "\n"
    assert signer.name == ORIGIN
    assert sorted(p.name for p in (keys_dir / "signing").iterdir()) == sorted([key_file.name, pub_file.name])
    check_private_key_permissions(key_file)


def test_private_key_never_created_readable(
    keys_dir: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every file that will hold the private key must be created 0600 by open() itself, exclusively.
    calls: list[tuple[str, int, int]] = []
    real_open = os.open

    def spy(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        calls.append((str(path), flags, mode))
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", spy)
    signer = create_signing_key(keys_dir, ORIGIN)
    creates = [c for c in calls if c[1] & os.O_CREAT and f"{signer.key_id_hex}.key" in c[0]]
    assert creates, calls
    for _, flags, mode in creates:
        assert mode == 0o600
        assert flags & os.O_EXCL


def test_create_refuses_to_overwrite(keys_dir: Path) -> None:
    private = Ed25519PrivateKey.generate()
    signer = create_signing_key(keys_dir, ORIGIN, private_key=private)
    key_file = keys_dir / "signing" / f"{signer.key_id_hex}.key"
    before = key_file.read_bytes()
    with pytest.raises(ValidationError, match="already exists"):
        create_signing_key(keys_dir, ORIGIN, private_key=private)
    assert key_file.read_bytes() == before
    assert not [p for p in (keys_dir / "signing").iterdir() if p.name.startswith(".")]


def test_invalid_key_name_rejected(keys_dir: Path) -> None:
    with pytest.raises(ValidationError):
        create_signing_key(keys_dir, "has space")
    assert not (keys_dir / "signing").exists()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o620, 0o602, 0o700 | 0o070])
def test_permission_check_rejects_group_or_other_access(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k.key"
    path.write_text("x")
    path.chmod(mode)
    with pytest.raises(InsecureKeyFileError, match="chmod 600"):
        check_private_key_permissions(path)


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_permission_check_accepts_owner_only(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k.key"
    path.write_text("x")
    path.chmod(mode)
    check_private_key_permissions(path)


def test_load_refuses_readable_key(keys_dir: Path) -> None:
    signer = create_signing_key(keys_dir, ORIGIN)
    set_current_signing_key(keys_dir, signer.key_id_hex)
    (keys_dir / "signing" / f"{signer.key_id_hex}.key").chmod(0o644)
    with pytest.raises(InsecureKeyFileError):
        load_signing_key(keys_dir)


def test_current_switching(keys_dir: Path) -> None:
    assert current_signing_key_id(keys_dir) is None
    first = create_signing_key(keys_dir, ORIGIN)
    with pytest.raises(NotFoundError, match="no current signing key"):
        load_signing_key(keys_dir)
    set_current_signing_key(keys_dir, first.key_id_hex)
    assert (keys_dir / "signing" / "CURRENT").read_text() == first.key_id_hex + "\n"
    assert load_signing_key(keys_dir).verifier_key() == first.verifier_key()

    second = create_signing_key(keys_dir, ORIGIN)
    assert load_signing_key(keys_dir).key_id == first.key_id  # creating does not switch
    set_current_signing_key(keys_dir, second.key_id_hex)
    assert current_signing_key_id(keys_dir) == second.key_id_hex
    assert load_signing_key(keys_dir).verifier_key() == second.verifier_key()
    assert load_signing_key(keys_dir, first.key_id_hex).verifier_key() == first.verifier_key()
    # no temporary files left behind by the atomic replace
    assert not [p for p in (keys_dir / "signing").iterdir() if p.name.startswith(".")]


def test_set_current_validates(keys_dir: Path) -> None:
    signer = create_signing_key(keys_dir, ORIGIN)
    set_current_signing_key(keys_dir, signer.key_id_hex)
    with pytest.raises(NotFoundError):
        set_current_signing_key(keys_dir, "00000000" if signer.key_id_hex != "00000000" else "00000001")
    for bad in ["", "ABCDEF01", "abc", "../../etc"]:
        with pytest.raises(ValidationError):
            set_current_signing_key(keys_dir, bad)
    assert current_signing_key_id(keys_dir) == signer.key_id_hex


def test_corrupt_current_or_key_file(keys_dir: Path) -> None:
    a = create_signing_key(keys_dir, ORIGIN)
    b = create_signing_key(keys_dir, ORIGIN)
    (keys_dir / "signing" / "CURRENT").write_text("garbage\n")
    with pytest.raises(IntegrityError):
        load_signing_key(keys_dir)
    # a key file holding another key than its name says
    a_file = keys_dir / "signing" / f"{a.key_id_hex}.key"
    a_file.write_text(b.signer_key() + "\n")
    with pytest.raises(IntegrityError, match="holds key"):
        load_signing_key(keys_dir, a.key_id_hex)
    a_file.write_text("not a key\n")
    with pytest.raises(IntegrityError):
        load_signing_key(keys_dir, a.key_id_hex)
    with pytest.raises(NotFoundError):
        load_signing_key(keys_dir, "0badc0de" if a.key_id_hex != "0badc0de" else "0badc0df")


def test_old_key_still_verifies_after_rotation(keys_dir: Path) -> None:
    root = bytes(32)
    old = create_signing_key(keys_dir, ORIGIN)
    set_current_signing_key(keys_dir, old.key_id_hex)
    old_note = sign_checkpoint(Checkpoint(ORIGIN, 5, root), load_signing_key(keys_dir))

    new = create_signing_key(keys_dir, ORIGIN)
    set_current_signing_key(keys_dir, new.key_id_hex)
    new_note = sign_checkpoint(Checkpoint(ORIGIN, 9, root), load_signing_key(keys_dir))

    verifiers = list_verifier_keys(keys_dir)
    assert sorted(verifiers) == sorted([old.verifier_key(), new.verifier_key()])
    assert verify_checkpoint(old_note, verifiers).size == 5
    assert verify_checkpoint(new_note, verifiers).size == 9
    # without the rotated-away key the old checkpoint no longer verifies
    with pytest.raises(SignatureError):
        verify_checkpoint(old_note, [NoteVerifier(new.verifier_key())])


def test_list_verifier_keys_empty(keys_dir: Path) -> None:
    assert list_verifier_keys(keys_dir) == []


def test_secret_keys(keys_dir: Path, open_umask: None) -> None:
    secret = create_secret_key(keys_dir, "pseudonym")
    path = keys_dir / "pseudonym.secret"
    assert len(secret) == 32
    assert path.read_bytes() == secret
    assert _mode(path) == 0o600
    assert load_secret_key(keys_dir, "pseudonym") == secret
    assert create_secret_key(keys_dir, "other") != secret
    with pytest.raises(ValidationError, match="already exists"):
        create_secret_key(keys_dir, "pseudonym")
    assert load_secret_key(keys_dir, "pseudonym") == secret


def test_secret_key_errors(keys_dir: Path) -> None:
    with pytest.raises(NotFoundError):
        load_secret_key(keys_dir, "missing")
    for bad in ["", "../escape", "a/b", ".hidden", "UPPER", "x" * 65]:
        with pytest.raises(ValidationError):
            create_secret_key(keys_dir, bad)
    create_secret_key(keys_dir, "short")
    (keys_dir / "short.secret").write_bytes(b"too short")
    with pytest.raises(IntegrityError):
        load_secret_key(keys_dir, "short")
    (keys_dir / "short.secret").chmod(0o604)
    with pytest.raises(InsecureKeyFileError):
        load_secret_key(keys_dir, "short")
