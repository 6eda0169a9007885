"""Key providers: who holds the key-encryption key that wraps the per-subject data keys.

The key hierarchy::

    key-encryption key (KEK)      held by a provider: a local file (0600) or a KMS key that never leaves it
      └─ data keys (DEK), one per data subject, stored wrapped in keys/subjects.db
           └─ sealed values (AES-256-GCM) in the blob store

A provider wraps and unwraps data keys under an authenticated context (the key id and subject reference,
so a wrapped key cannot be moved to another row) and can destroy its KEK, which makes every data key it
wrapped unreadable at once (the end of a trail). Erasing one subject does not need the provider: their
wrapped keys are overwritten and removed (:meth:`SubjectKeyStore.erase`).

Built in: :class:`FileKeyProvider` (the default: AES-256-GCM under a 32-byte secret file) and
:class:`AwsKmsKeyProvider` (AWS KMS ``Encrypt``/``Decrypt`` with an encryption context, through boto3).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import IntegrityError, NotFoundError, PermissionDeniedError, StoreError

_NONCE = 12


class KeyProvider(Protocol):
    """Wraps, unwraps and destroys: the three things a data-key store asks of whoever holds the KEK."""

    name: str

    def wrap(self, plaintext: bytes, context: bytes) -> bytes:
        """Encrypt a data key under the KEK, bound to ``context``."""
        ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        """Decrypt a wrapped data key; :class:`IntegrityError` for a wrong context or a tampered blob."""
        ...

    def destroy(self) -> None:
        """Destroy the KEK: every key it wrapped becomes unreadable."""
        ...


class FileKeyProvider:
    """AES-256-GCM under a 32-byte secret in a local file (mode 0600), created on first use."""

    name = "file"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Use (or create) the secret at ``path``."""
        from .seal import load_or_create_master_key

        self.path = Path(path)
        self._aead: AESGCM | None = AESGCM(load_or_create_master_key(self.path))

    def _cipher(self) -> AESGCM:
        if self._aead is None or not self.path.exists():
            raise NotFoundError(f"the key-encryption key {self.path} was destroyed")
        return self._aead

    def wrap(self, plaintext: bytes, context: bytes) -> bytes:
        """``nonce || AES-256-GCM(KEK, plaintext, aad=context)``."""
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._cipher().encrypt(nonce, plaintext, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        """Reverse of :meth:`wrap`."""
        try:
            return self._cipher().decrypt(wrapped[:_NONCE], wrapped[_NONCE:], context)
        except InvalidTag:
            raise IntegrityError("wrapped key does not open: wrong context, altered, or another KEK") from None

    def destroy(self) -> None:
        """Overwrite the secret file with zeros, then remove it."""
        if self.path.exists():
            size = self.path.stat().st_size
            with self.path.open("r+b") as fh:
                fh.write(b"\x00" * size)
                fh.flush()
                os.fsync(fh.fileno())
            self.path.unlink()
        self._aead = None


class AwsKmsKeyProvider:
    """A KMS key (symmetric, ``SYMMETRIC_DEFAULT``) that never leaves AWS: KMS encrypts and decrypts.

    The context is passed as the KMS encryption context ``{"modeltrail": <hex>}``, which KMS authenticates
    and logs in CloudTrail: every unwrap of a data key is an auditable KMS call. ``client`` is a boto3
    KMS client (default: ``boto3.client("kms", region_name=region)``).
    """

    name = "aws-kms"

    def __init__(self, key_id: str, *, client: Any = None, region: str | None = None) -> None:
        """Use the KMS key ``key_id`` (id, ARN or ``alias/...``)."""
        if client is None:
            import boto3

            client = boto3.client("kms", region_name=region)
        self.key_id = key_id
        self._kms = client

    def _call(self, op: str, **kw: Any) -> Any:
        from botocore.exceptions import ClientError

        try:
            return getattr(self._kms, op)(**kw)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("InvalidCiphertextException", "IncorrectKeyException"):
                raise IntegrityError(f"KMS refused to unwrap: {code}") from None
            if code == "AccessDeniedException":
                # Also what KMS implementations answer for a blob of another key than the pinned one.
                raise PermissionDeniedError(f"KMS denied {op} with key {self.key_id}: {code}") from None
            if code in ("KMSInvalidStateException", "NotFoundException", "DisabledException"):
                raise NotFoundError(
                    f"KMS key {self.key_id} is not usable ({code}): it was disabled or destroyed"
                ) from None
            raise StoreError(f"KMS {op} failed: {code or exc}") from None

    def wrap(self, plaintext: bytes, context: bytes) -> bytes:
        """KMS ``Encrypt`` with the context; the ciphertext blob KMS returns."""
        out = self._call(
            "encrypt", KeyId=self.key_id, Plaintext=plaintext, EncryptionContext={"modeltrail": context.hex()}
        )
        return bytes(out["CiphertextBlob"])

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        """KMS ``Decrypt`` with the same context (and the key pinned, so a blob of another key is refused)."""
        out = self._call(
            "decrypt", CiphertextBlob=wrapped, KeyId=self.key_id, EncryptionContext={"modeltrail": context.hex()}
        )
        return bytes(out["Plaintext"])

    def destroy(self, pending_days: int = 7) -> None:
        """Schedule the KMS key's deletion (KMS waits 7 to 30 days; it is unusable from now on)."""
        self._call("schedule_key_deletion", KeyId=self.key_id, PendingWindowInDays=pending_days)


__all__ = ["AwsKmsKeyProvider", "FileKeyProvider", "KeyProvider"]
