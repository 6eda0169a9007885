"""Key providers: the file KEK and AWS KMS (against moto), alone and wrapping the per-subject data keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modeltrail.crypto.providers import AwsKmsKeyProvider, FileKeyProvider, KeyProvider
from modeltrail.crypto.seal import Sealer, SubjectKeyStore
from modeltrail.errors import IntegrityError, NotFoundError, PermissionDeniedError

moto = pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")


@pytest.fixture()
def kms() -> Iterator[Any]:
    with moto.mock_aws():
        yield boto3.client("kms", region_name="eu-central-1")


def _roundtrip(p: KeyProvider) -> None:
    secret = b"k" * 32
    wrapped = p.wrap(secret, b"ctx-1")
    assert secret not in wrapped
    assert p.unwrap(wrapped, b"ctx-1") == secret
    with pytest.raises(IntegrityError):
        p.unwrap(wrapped, b"ctx-2")  # bound to its context


def test_file_provider(tmp_path: Path) -> None:
    p = FileKeyProvider(tmp_path / "kek.secret")
    _roundtrip(p)
    assert (tmp_path / "kek.secret").stat().st_mode & 0o777 == 0o600
    wrapped = p.wrap(b"x" * 32, b"c")
    p.destroy()
    assert not (tmp_path / "kek.secret").exists()
    with pytest.raises(NotFoundError):
        p.unwrap(wrapped, b"c")


def test_aws_kms_provider_against_moto(kms: Any) -> None:
    key_id = kms.create_key(Description="modeltrail KEK")["KeyMetadata"]["KeyId"]
    p = AwsKmsKeyProvider(key_id, client=kms)
    _roundtrip(p)
    wrapped = p.wrap(b"y" * 32, b"c")
    other = AwsKmsKeyProvider(kms.create_key()["KeyMetadata"]["KeyId"], client=kms)
    with pytest.raises((IntegrityError, PermissionDeniedError)):
        other.unwrap(wrapped, b"c")  # the key is pinned: a blob of another key is refused
    p.destroy()
    # Real KMS then refuses Decrypt (KMSInvalidStateException -> NotFoundError); moto only records the state.
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_subject_keys_wrapped_by_kms(tmp_path: Path, kms: Any) -> None:
    provider = AwsKmsKeyProvider(kms.create_key()["KeyMetadata"]["KeyId"], client=kms)
    store = SubjectKeyStore(tmp_path / "subjects.db", provider=provider)
    sealer = Sealer(store)
    sealed = sealer.seal("APP-1", {"age": 41}, "ctx")
    assert sealer.unseal(sealed, context="ctx") == {"age": 41}
    # The stored wrapped key is a KMS ciphertext: the local master secret alone does not open it.
    plain = SubjectKeyStore(tmp_path / "subjects.db")
    with pytest.raises(IntegrityError):
        Sealer(plain).unseal(sealed, context="ctx")
    plain.close()
    # Erasure needs no KMS call: the wrapped key is gone from the store.
    assert store.erase("APP-1")
    with pytest.raises(NotFoundError, match="erased"):
        sealer.unseal(sealed, context="ctx")
    store.close()
