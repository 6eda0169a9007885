"""OpenSSF model signing: verify the signature a model folder ships with, and sign a registered model.

The OpenSSF format (``model_signing``, a Sigstore bundle holding a DSSE envelope over the digest of every
file of the folder) is checked here with its own library, key-based and offline: an elliptic-curve public
key in PEM. modeltrail does not re-implement it; it records the outcome.

- At registration, a folder that contains ``model.sig`` is verified against the given public key; the
  signature's and the key's SHA-256 go into the ``model.registered`` artifact (``model_signing``), and a
  signature that does not verify stops the registration.
- :func:`sign_registered_model` writes a registered model's folder (or file) out with a ``model.sig``
  made with a private key, and records ``model.signed``.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SignatureError, ValidationError
from ..events import Actor, Receipt

if TYPE_CHECKING:
    from ..trail import Trail

#: The file name the OpenSSF tools use for a signature shipped inside the model folder.
SIGNATURE_NAME = "model.sig"


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_folder(folder: str | os.PathLike[str], public_key: str | os.PathLike[str]) -> dict[str, Any]:
    """Verify ``folder/model.sig`` against ``public_key`` (PEM); the record for ``model.registered``.

    Raises :class:`SignatureError` when the signature is missing, made with another key, or does not
    cover the folder's files exactly (a changed, added or removed file).
    """
    import model_signing

    root = Path(folder)
    sig = root / SIGNATURE_NAME
    if not sig.is_file():
        raise SignatureError(f"{root} has no {SIGNATURE_NAME} to verify")
    key = Path(public_key)
    hashing = model_signing.hashing.Config().set_ignored_paths(paths=[sig])  # type: ignore[no-untyped-call]
    verifier = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=key)  # type: ignore[no-untyped-call]
    try:
        verifier.set_hashing_config(hashing).verify(root, sig)
    except (ValueError, OSError) as exc:  # the library reports every mismatch as ValueError
        raise SignatureError(f"the OpenSSF model signature of {root} does not verify: {exc}") from None
    return {
        "format": "openssf-model-signing/v1",
        "signature_sha256": _sha256_file(sig),
        "public_key_sha256": _sha256_file(key),
        "verified": True,
    }


def sign_registered_model(
    trail: Trail,
    model: str,
    private_key: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    actor: Actor | Mapping[str, str],
) -> tuple[Path, Receipt]:
    """Write ``model`` (``NAME@VERSION``) to ``out_dir`` with an OpenSSF ``model.sig``; record ``model.signed``.

    A folder artifact is unpacked as it was registered; a single-file artifact is written under its
    registered file name. ``out_dir`` must not exist yet (nothing is overwritten). Returns the signature
    path and the receipt.
    """
    import model_signing

    from .queries import get_model_version

    mv = get_model_version(trail, model)
    target = Path(out_dir)
    if target.exists():
        raise ValidationError(f"{target} exists already; give a new folder", field="out_dir")
    art = mv.artifact
    data = trail.blobs.get_bytes(str(art["sha256"]))
    tmp = target.with_name(target.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if art.get("format") == "directory":
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(tmp, filter="data")  # refuses links and paths outside the folder
            (tmp / SIGNATURE_NAME).unlink(missing_ok=True)  # a shipped signature is replaced, not signed over
        else:
            (tmp / str(art.get("filename") or f"model.{art.get('format') or 'bin'}")).write_bytes(data)
        signer = model_signing.signing.Config().use_elliptic_key_signer(private_key=Path(private_key))  # type: ignore[no-untyped-call]
        signer.sign(tmp, tmp / SIGNATURE_NAME)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    sig = target / SIGNATURE_NAME
    receipt = trail.record(
        "model.signed",
        system=mv.system,
        actor=actor,
        subject=mv.ref,
        payload={
            "format": "openssf-model-signing/v1",
            "artifact_sha256": art["sha256"],
            "signature_sha256": _sha256_file(sig),
        },
        refs=[f"blob:sha256:{art['sha256']}"],
    )
    return sig, receipt


__all__ = ["SIGNATURE_NAME", "sign_registered_model", "verify_folder"]
