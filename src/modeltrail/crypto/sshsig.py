"""Verifying SSH signatures (the SSHSIG format of ``ssh-keygen -Y sign``, as git uses for signed commits).

A person approving a model signs the approval with the SSH key they already have; the policy lists their
public key. A process that can write to the ledger can then no longer make up that person's approval.

Format (source: OpenSSH ``PROTOCOL.sshsig``): the armored blob ``-----BEGIN SSH SIGNATURE-----`` holds
``"SSHSIG" ‖ uint32 1 ‖ string publickey ‖ string namespace ‖ string reserved ‖ string hash_algorithm ‖
string signature``; the signature is over ``"SSHSIG" ‖ string namespace ‖ string reserved ‖
string hash_algorithm ‖ string H(message)``. Keys: Ed25519, ECDSA (P-256/384/521) and RSA
(``rsa-sha2-256``/``-512``). Written here because ``cryptography`` parses SSH keys but not SSHSIG blobs; the
signature checks themselves are ``cryptography``'s.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..errors import SignatureError, ValidationError

NAMESPACE = "modeltrail"
_BEGIN, _END = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"
_HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
_ECDSA_HASH = {"nistp256": hashes.SHA256(), "nistp384": hashes.SHA384(), "nistp521": hashes.SHA512()}


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise SignatureError("truncated SSH signature")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def string(self) -> bytes:
        return self.take(self.uint32())


def _ssh_string(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def unarmor(text: str) -> bytes:
    """The binary SSHSIG blob of an armored signature; ValidationError when it is not one."""
    body = text.strip()
    if not body.startswith(_BEGIN) or not body.endswith(_END):
        raise ValidationError("expected an armored SSH signature (-----BEGIN SSH SIGNATURE-----)", field="signature")
    try:
        return base64.b64decode("".join(body[len(_BEGIN) : -len(_END)].split()), validate=True)
    except ValueError:
        raise ValidationError("the SSH signature is not base64", field="signature") from None


def public_key_blob(key_line: str) -> bytes:
    """The wire-format blob of an OpenSSH public key line (``ssh-ed25519 AAAA… comment``)."""
    parts = key_line.split()
    if len(parts) < 2:
        raise ValidationError("expected '<type> <base64> [comment]'", field="ssh_key")
    try:
        return base64.b64decode(parts[1], validate=True)
    except ValueError:
        raise ValidationError("the SSH public key is not base64", field="ssh_key") from None


@dataclass(frozen=True)
class AllowedSigner:
    """One line of an allowed-signers file: who (principal patterns) may sign with which key, for what."""

    principals: tuple[str, ...]
    key_line: str
    namespaces: tuple[str, ...] | None = None
    """``namespaces="…"``: the namespaces the key may sign in (None: any)."""

    def allows(self, principal: str, namespace: str = NAMESPACE) -> bool:
        """Whether this line lets ``principal`` sign in ``namespace`` (patterns use ``*`` and ``?``)."""
        if self.namespaces is not None and not any(fnmatch.fnmatchcase(namespace, n) for n in self.namespaces):
            return False
        return any(fnmatch.fnmatchcase(principal, p) for p in self.principals)


_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


def _option_split(text: str) -> tuple[str, str]:
    """The options field (with quoted values) and the rest of the line."""
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch.isspace() and not quoted:
            return text[:i], text[i:].strip()
    return text, ""


def _options(field: str, line: int) -> tuple[str, ...] | None:
    namespaces = None
    for opt in [o for o in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', field) if o]:
        name, _, value = opt.partition("=")
        name = name.lower()
        if name == "namespaces":
            namespaces = tuple(n for n in value.strip('"').split(",") if n)
        else:
            # cert-authority, valid-after/-before: not supported here; refusing beats ignoring a limit.
            raise ValidationError(f"line {line}: option {name!r} is not supported", field="allowed_signers")
    return namespaces


def parse_allowed_signers(text: str) -> list[AllowedSigner]:
    """Parse the ``ssh-keygen -Y verify -f allowed_signers`` format (see ssh-keygen(1), ALLOWED SIGNERS).

    Each line: ``principals [options] keytype base64-key [comment]``; ``#`` comments and blank lines are
    skipped. Principals are comma-separated patterns; of the options, ``namespaces="…"`` is supported and
    any other raises :class:`ValidationError` naming the line (a key limited by ``valid-before`` or a
    certificate authority must not count as a plain key).
    """
    out: list[AllowedSigner] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        principals_field, _, rest = line.partition(" ")
        rest = rest.strip()
        namespaces = None
        if rest and rest.split()[0] not in _KEY_TYPES:
            opts, rest = _option_split(rest)
            namespaces = _options(opts, n)
        parts = rest.split()
        if len(parts) < 2 or parts[0] not in _KEY_TYPES:
            raise ValidationError(f"line {n}: expected 'principals [options] keytype key'", field="allowed_signers")
        principals = tuple(p for p in principals_field.split(",") if p)
        if not principals or any(p.startswith("!") for p in principals):
            raise ValidationError(f"line {n}: expected principal names or patterns", field="allowed_signers")
        key_line = f"{parts[0]} {parts[1]}"
        try:
            serialization.load_ssh_public_key(key_line.encode())
        except (ValueError, UnsupportedAlgorithm):
            raise ValidationError(f"line {n}: not a valid SSH public key", field="allowed_signers") from None
        out.append(AllowedSigner(principals, key_line, namespaces))
    return out


def verify(signature: str, message: bytes, key_line: str, namespace: str = NAMESPACE) -> None:
    """Check that ``signature`` (armored SSHSIG) by ``key_line`` covers ``message`` in ``namespace``.

    Raises :class:`SignatureError` naming what does not match (the key, the namespace, the signature).
    """
    r = _Reader(unarmor(signature))
    if r.take(6) != b"SSHSIG" or r.uint32() != 1:
        raise SignatureError("not an SSHSIG version 1 signature")
    pub_blob, ns, reserved, hash_alg, sig_blob = r.string(), r.string(), r.string(), r.string(), r.string()
    if pub_blob != public_key_blob(key_line):
        raise SignatureError("the signature was made with another key than the one the policy lists")
    if ns != namespace.encode():
        raise SignatureError(f"the signature is for namespace {ns.decode(errors='replace')!r}, not {namespace!r}")
    hasher = _HASHES.get(hash_alg.decode(errors="replace"))
    if hasher is None:
        raise SignatureError(f"unsupported SSHSIG hash {hash_alg!r}")
    signed = (
        b"SSHSIG"
        + _ssh_string(ns)
        + _ssh_string(reserved)
        + _ssh_string(hash_alg)
        + _ssh_string(hasher(message).digest())
    )
    s = _Reader(sig_blob)
    sig_type, raw = s.string().decode(errors="replace"), s.string()
    key = serialization.load_ssh_public_key(key_line.encode())
    try:
        if isinstance(key, Ed25519PublicKey) and sig_type == "ssh-ed25519":
            key.verify(raw, signed)
        elif isinstance(key, ec.EllipticCurvePublicKey) and sig_type.startswith("ecdsa-sha2-"):
            curve = sig_type[len("ecdsa-sha2-") :]
            rs = _Reader(raw)
            der = encode_dss_signature(int.from_bytes(rs.string(), "big"), int.from_bytes(rs.string(), "big"))
            key.verify(der, signed, ec.ECDSA(_ECDSA_HASH[curve]))
        elif isinstance(key, rsa.RSAPublicKey) and sig_type in ("rsa-sha2-256", "rsa-sha2-512"):
            algo: hashes.HashAlgorithm = hashes.SHA256() if sig_type == "rsa-sha2-256" else hashes.SHA512()
            key.verify(raw, signed, padding.PKCS1v15(), algo)
        else:
            raise SignatureError(f"unsupported SSH signature type {sig_type!r} for this key")
    except (InvalidSignature, KeyError) as exc:
        raise SignatureError("the SSH signature does not verify") from exc


__all__ = ["NAMESPACE", "AllowedSigner", "parse_allowed_signers", "public_key_blob", "unarmor", "verify"]
