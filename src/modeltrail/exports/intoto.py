"""An in-toto Statement v1 with an SLSA Provenance v1 predicate for a model version, in a DSSE envelope.

The subject is the model artifact (its SHA-256); the build's inputs are the datasets (content hashes)
and the code (commit), its parameters the run's; the builder is the training run recorded in the ledger.
The envelope is signed with the trail's Ed25519 checkpoint key. DSSE is small and exactly specified
(PAE, then a signature over it), so signing and checking are written here from the DSSE v1 spec; the
tests check the envelope independently with securesystemslib.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import SignatureError, ValidationError
from ..ledger.note import NoteSigner, NoteVerifier
from ..trail import Trail
from .facts import model_facts

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUILD_TYPE = "https://modeltrail.dev/training-run/v1"


def provenance_statement(trail: Trail, model: str) -> dict[str, Any]:
    """The in-toto Statement v1 (SLSA Provenance v1 predicate) of ``model`` (``NAME@VERSION``)."""
    f = model_facts(trail, model)
    art = f.artifact
    if not art.get("sha256"):
        raise ValidationError(f"{f.ref} has no artifact hash to attest", field="model")
    deps: list[dict[str, Any]] = []
    for ds, role in f.datasets:
        h = str(ds.payload.get("content_hash") or "")
        dep: dict[str, Any] = {"uri": f"modeltrail:{ds.subject}", "name": str(ds.payload.get("name") or ds.subject)}
        if len(h) == 64:
            dep["digest"] = {"sha256": h}
        dep["annotations"] = {"role": role, "event": ds.seq}
        deps.append(dep)
    code = (f.run.payload.get("code") or {}) if f.run is not None else {}
    if code.get("commit"):
        deps.append(
            {
                "uri": str(code.get("remote") or "git"),
                "digest": {"gitCommit": str(code["commit"])},
                "annotations": {"dirty": code.get("dirty"), "diff_sha256": code.get("diff_sha256")},
            }
        )
    env = (f.run.payload.get("environment") or {}) if f.run is not None else {}
    if env.get("packages_sha256"):
        deps.append(
            {
                "uri": f"modeltrail:blob:sha256:{env['packages_sha256']}",
                "digest": {"sha256": str(env["packages_sha256"])},
                "annotations": {"python": env.get("python"), "platform": env.get("platform")},
            }
        )
    run_id = str(f.run.subject) if f.run is not None else f"model:{f.name}@{f.version}"
    metadata: dict[str, Any] = {"invocationId": run_id}
    if f.run is not None:
        metadata["startedOn"] = f.run.ts
    end = f.run_end
    if end is not None:
        metadata["finishedOn"] = end.ts
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f.ref, "digest": {"sha256": str(art["sha256"])}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"system": f.system, "model": f.ref, "params": f.params},
                "internalParameters": {"trail": trail.origin, "registered_event": f.registered.seq},
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {"id": f"modeltrail:{trail.origin}/{run_id}"},
                "metadata": metadata,
            },
        },
    }


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: ``DSSEv1 SP len(type) SP type SP len(body) SP body``."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def keyid(verifier_key: str) -> str:
    """The DSSE key id used here: the note key id (8 hex digits) of the trail's verifier key."""
    return NoteVerifier(verifier_key).key_id_hex


def sign_envelope(statement: dict[str, Any], signer: NoteSigner) -> dict[str, Any]:
    """A DSSE envelope of ``statement`` signed with the Ed25519 key of ``signer``."""
    body = json.dumps(statement, separators=(",", ":"), sort_keys=True).encode("utf-8")
    sig = signer.sign(pae(PAYLOAD_TYPE, body))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(body).decode("ascii"),
        "signatures": [{"keyid": signer.key_id_hex, "sig": base64.b64encode(sig).decode("ascii")}],
    }


def verify_envelope(envelope: dict[str, Any], verifier_key: str) -> dict[str, Any]:
    """Check a DSSE envelope against a note verifier key and return the decoded statement.

    Raises :class:`SignatureError` when no signature by that key verifies.
    """
    v = NoteVerifier(verifier_key)
    try:
        body = base64.b64decode(envelope["payload"], validate=True)
        message = pae(str(envelope["payloadType"]), body)
        sigs = list(envelope["signatures"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureError(f"malformed DSSE envelope: {exc}") from None
    key = Ed25519PublicKey.from_public_bytes(v.public_key)
    for s in sigs:
        if s.get("keyid") not in (None, "", v.key_id_hex):
            continue
        try:
            key.verify(base64.b64decode(s["sig"], validate=True), message)
        except (InvalidSignature, KeyError, ValueError):
            continue
        statement: dict[str, Any] = json.loads(body)
        return statement
    raise SignatureError("no signature in the envelope verifies with the given key")


def provenance_envelope(trail: Trail, model: str) -> dict[str, Any]:
    """The signed DSSE envelope of :func:`provenance_statement` (the trail's current signing key)."""
    return sign_envelope(provenance_statement(trail, model), trail.signer())
