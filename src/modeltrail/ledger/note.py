"""Signed notes (C2SP ``signed-note``) with Ed25519 keys, and transparency-log checkpoints in them.

A signed note is a UTF-8 text ending in a newline, a blank line, then one or more signature lines::

    <text, may contain empty lines>\\n
    \\n
    — <key name> base64(4-byte key id || 64-byte Ed25519 signature of the text)\\n

The key id is ``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]`` (0x01 names Ed25519).
Keys travel as strings::

    verifier key  <name>+<8 hex key id>+base64(0x01 || 32-byte public key)
    signer key    PRIVATE+KEY+<name>+<8 hex key id>+base64(0x01 || 32-byte seed)

These are the formats of ``golang.org/x/mod/sumdb/note``, so notes and keys interoperate with the Go
tools and with other transparency-log software. Two choices here are stricter than that package: a
base64 field must be the canonical encoding of its bytes (otherwise one signature would have several
spellings), and a note that carries two signatures by the same key is rejected instead of de-duplicated.

A checkpoint (C2SP ``tlog-checkpoint``) is a note whose text is ``origin``, tree ``size`` and
base64 ``root`` hash, one per line, optionally followed by non-empty extension lines.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import SignatureError, ValidationError

ALG_ED25519 = 0x01
SIG_PREFIX = "— "  # U+2014 EM DASH, then a space
SEPARATOR = "\n\n"
KEY_ID_SIZE = 4
ED25519_SIG_SIZE = 64
ED25519_KEY_SIZE = 32
ROOT_SIZE = 32
# The spec asks verifiers to accept at least 16 signatures; the cap bounds the work a hostile note causes.
MAX_SIGNATURES = 100
MAX_TREE_SIZE = 2**64 - 1

_HEX_ID = re.compile(r"[0-9a-fA-F]{8}", re.ASCII)
_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)


class MalformedNoteError(SignatureError, ValidationError):
    """A signed note does not follow the format, so none of its signatures can be trusted.

    It is a :class:`SignatureError` (the note does not verify) and a :class:`ValidationError` (the
    input has the wrong shape), so callers may catch either.
    """


# -- helpers ----------------------------------------------------------------------------------


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Decode standard base64, or None unless ``text`` is exactly the canonical encoding."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except ValueError:  # binascii.Error and UnicodeEncodeError both derive from ValueError
        return None
    # Non-zero padding bits or missing padding would give a second spelling of the same bytes.
    return raw if _b64encode(raw) == text else None


def _bad_char(text: str) -> str | None:
    """The first character a note may not contain (ASCII control other than newline, lone surrogate)."""
    for ch in text:
        cp = ord(ch)
        if (cp < 0x20 and ch != "\n") or 0xD800 <= cp <= 0xDFFF:
            return ch
    return None


def is_valid_key_name(name: str) -> bool:
    """True if ``name`` may name a note key: non-empty, no Unicode spaces, no '+', no control characters."""
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name) and _bad_char(name) is None


def compute_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 ``public_key`` (32 bytes) under ``name``."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return digest[:KEY_ID_SIZE]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _parse_key_fields(name: str, hex_id: str, key64: str, field: str) -> tuple[bytes, bytes]:
    """Check name and hex id syntax and decode ``0x01 || 32 bytes``; return (key id, 32 key bytes)."""
    if not is_valid_key_name(name):
        raise ValidationError(f"invalid key name {name!r}", field=field)
    if not _HEX_ID.fullmatch(hex_id):
        raise ValidationError(f"key id must be 8 hex digits, got {hex_id!r}", field=field)
    raw = _b64decode(key64)
    if raw is None:
        raise ValidationError("key is not canonical base64", field=field)
    if len(raw) != 1 + ED25519_KEY_SIZE or raw[0] != ALG_ED25519:
        raise ValidationError("key must be 0x01 (Ed25519) followed by 32 bytes", field=field)
    return bytes.fromhex(hex_id), raw[1:]


# -- keys ---------------------------------------------------------------------------------------


class NoteVerifier:
    """An Ed25519 public key with its note name, parsed from a verifier key string."""

    def __init__(self, verifier_key: str) -> None:
        """Parse ``name+<hex id>+<base64(0x01||pubkey)>``; raises ValidationError if malformed."""
        parts = verifier_key.split("+", 2)  # base64 may contain "+": only the first two separate
        if len(parts) != 3:
            raise ValidationError("expected name+keyid+key", field="verifier_key")
        name, hex_id, key64 = parts
        key_id, pub = _parse_key_fields(name, hex_id, key64, "verifier_key")
        if compute_key_id(name, pub) != key_id:
            raise ValidationError("key id does not match the name and public key", field="verifier_key")
        self.name = name
        self.key_id = key_id
        self.public_key = pub
        self._key = Ed25519PublicKey.from_public_bytes(pub)

    @classmethod
    def from_public_key(cls, key: Ed25519PublicKey, name: str) -> NoteVerifier:
        """A verifier for ``key`` under ``name``."""
        if not is_valid_key_name(name):
            raise ValidationError(f"invalid key name {name!r}", field="name")
        pub = _raw_public(key)
        kid = compute_key_id(name, pub)
        return cls(f"{name}+{kid.hex()}+{_b64encode(bytes([ALG_ED25519]) + pub)}")

    @property
    def key_id_hex(self) -> str:
        """The key id as 8 lower-case hex digits."""
        return self.key_id.hex()

    def verifier_key(self) -> str:
        """The verifier key string (canonical form: lower-case hex id)."""
        return f"{self.name}+{self.key_id_hex}+{_b64encode(bytes([ALG_ED25519]) + self.public_key)}"

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """True if ``sig`` (64 bytes, without key id) is this key's Ed25519 signature of ``msg``."""
        if len(sig) != ED25519_SIG_SIZE:
            return False
        try:
            self._key.verify(sig, msg)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoteVerifier) and other.verifier_key() == self.verifier_key()

    def __hash__(self) -> int:
        return hash(self.verifier_key())

    def __repr__(self) -> str:
        return f"NoteVerifier({self.verifier_key()!r})"


class NoteSigner:
    """An Ed25519 private key with its note name, able to sign note texts."""

    def __init__(self, signer_key: str) -> None:
        """Parse ``PRIVATE+KEY+name+<hex id>+<base64(0x01||seed)>``; raises ValidationError if malformed."""
        parts = signer_key.split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise ValidationError("expected PRIVATE+KEY+name+keyid+key", field="signer_key")
        name, hex_id, key64 = parts[2:]
        key_id, seed = _parse_key_fields(name, hex_id, key64, "signer_key")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.name = name
        self.public_key = _raw_public(self._key.public_key())
        self.key_id = compute_key_id(name, self.public_key)
        if self.key_id != key_id:
            raise ValidationError("key id does not match the name and private key", field="signer_key")

    @classmethod
    def from_private_key(cls, key: Ed25519PrivateKey, name: str) -> NoteSigner:
        """A signer for an existing ``key`` under ``name`` (see :func:`is_valid_key_name`)."""
        if not is_valid_key_name(name):
            raise ValidationError(f"invalid key name {name!r}", field="name")
        seed = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        kid = compute_key_id(name, _raw_public(key.public_key()))
        return cls(f"PRIVATE+KEY+{name}+{kid.hex()}+{_b64encode(bytes([ALG_ED25519]) + seed)}")

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        """A signer with a fresh random Ed25519 key."""
        return cls.from_private_key(Ed25519PrivateKey.generate(), name)

    @property
    def key_id_hex(self) -> str:
        """The key id as 8 lower-case hex digits."""
        return self.key_id.hex()

    def signer_key(self) -> str:
        """The secret signer key string; store it only in a file readable by its owner."""
        seed = self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return f"PRIVATE+KEY+{self.name}+{self.key_id_hex}+{_b64encode(bytes([ALG_ED25519]) + seed)}"

    def verifier_key(self) -> str:
        """The public verifier key string matching this signer."""
        return f"{self.name}+{self.key_id_hex}+{_b64encode(bytes([ALG_ED25519]) + self.public_key)}"

    def verifier(self) -> NoteVerifier:
        """A :class:`NoteVerifier` for this key."""
        return NoteVerifier(self.verifier_key())

    def sign(self, msg: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``msg`` (deterministic, RFC 8032)."""
        return self._key.sign(msg)

    def __repr__(self) -> str:
        # Never include the seed: reprs end up in logs and tracebacks.
        return f"NoteSigner(name={self.name!r}, key_id={self.key_id_hex!r})"


# -- notes --------------------------------------------------------------------------------------


class NoteSignature(NamedTuple):
    """One signature line of an opened note; ``verified`` is False for keys the reader does not know."""

    name: str
    key_id: bytes
    verified: bool


@dataclass(frozen=True)
class OpenedNote:
    """A note whose signatures were checked: its text and every signature line, in order."""

    text: str
    signatures: list[NoteSignature]


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise ValidationError("note text must be non-empty and end with a newline", field="text")
    bad = _bad_char(text)
    if bad is not None:
        raise ValidationError(f"note text contains the forbidden character U+{ord(bad):04X}", field="text")


def sign_note(text: str, *signers: NoteSigner) -> str:
    """Sign ``text`` with each signer and return the signed note.

    ``text`` must end with a newline and contain no ASCII control characters other than newline; it may
    contain empty lines (the last empty line of a note is the separator). Raises ValidationError.
    """
    _check_text(text)
    if not signers:
        raise ValidationError("at least one signer is needed", field="signers")
    msg = text.encode("utf-8")
    seen: set[tuple[str, bytes]] = set()
    lines = []
    for s in signers:
        if (s.name, s.key_id) in seen:
            raise ValidationError(f"key {s.name}+{s.key_id_hex} given twice", field="signers")
        seen.add((s.name, s.key_id))
        lines.append(f"{SIG_PREFIX}{s.name} {_b64encode(s.key_id + s.sign(msg))}\n")
    return text + "\n" + "".join(lines)


def _index(verifiers: Iterable[NoteVerifier | str]) -> dict[tuple[str, bytes], NoteVerifier]:
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        ver = NoteVerifier(v) if isinstance(v, str) else v
        prev = known.setdefault((ver.name, ver.key_id), ver)
        if prev != ver:
            # Two different keys with the same name and id: a signature could not be attributed.
            msg = f"two verifier keys share name and id {ver.name}+{ver.key_id_hex}"
            raise ValidationError(msg, field="verifiers")
    return known


def open_note(note: str | bytes, verifiers: Iterable[NoteVerifier | str]) -> OpenedNote:
    """Check the format and signatures of ``note`` against the known ``verifiers``.

    Signatures by unknown keys (name and key id not both matching a verifier) are listed with
    ``verified=False``. Raises :class:`MalformedNoteError` if the note is malformed, and
    :class:`SignatureError` if a signature by a known key fails or no known key signed the note.
    """
    known = _index(verifiers)
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedNoteError("note is not valid UTF-8", field="note") from None
    bad = _bad_char(note)
    if bad is not None:
        raise MalformedNoteError(f"note contains the forbidden character U+{ord(bad):04X}", field="note")
    split = note.rfind(SEPARATOR)
    if split < 0:
        raise MalformedNoteError("no blank line between text and signatures", field="note")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedNoteError("the signature block must be non-empty and end with a newline", field="note")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"more than {MAX_SIGNATURES} signatures", field="note")
    msg = text.encode("utf-8")
    seen: set[tuple[str, bytes]] = set()
    sigs: list[NoteSignature] = []
    for n, line in enumerate(lines, 1):
        where = f"signature line {n}"
        if not line.startswith(SIG_PREFIX):
            raise MalformedNoteError("does not start with an em dash and a space", field=where)
        name, space, b64 = line[len(SIG_PREFIX) :].partition(" ")
        if not space or not is_valid_key_name(name):
            raise MalformedNoteError("expected '— <key name> <base64 signature>'", field=where)
        raw = _b64decode(b64)
        if raw is None or len(raw) <= KEY_ID_SIZE:
            raise MalformedNoteError("not canonical base64 of a key id and signature", field=where)
        key_id, sig = raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:]
        if (name, key_id) in seen:
            raise MalformedNoteError(f"second signature by key {name}+{key_id.hex()}", field=where)
        seen.add((name, key_id))
        verifier = known.get((name, key_id))
        if verifier is None:
            sigs.append(NoteSignature(name, key_id, False))
            continue
        if not verifier.verify(msg, sig):
            raise SignatureError(f"{where}: signature by known key {name}+{key_id.hex()} does not verify")
        sigs.append(NoteSignature(name, key_id, True))
    if not any(s.verified for s in sigs):
        names = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in sigs)
        raise SignatureError(f"note is not signed by any known key (signed by {names})")
    return OpenedNote(text, sigs)


# -- checkpoints ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A transparency-log tree head: ``origin`` (log identity), tree ``size``, 32-byte ``root`` hash."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint.origin")
        if type(self.size) is not int or not 0 <= self.size <= MAX_TREE_SIZE:
            raise ValidationError(f"expected an integer in 0..2^64-1, not {self.size!r}", field="checkpoint.size")
        if not isinstance(self.root, bytes) or len(self.root) != ROOT_SIZE:
            raise ValidationError(f"expected {ROOT_SIZE} bytes", field="checkpoint.root")
        if not isinstance(self.extensions, tuple):
            raise ValidationError("expected a tuple of lines", field="checkpoint.extensions")
        for i, ext in enumerate(self.extensions):
            _check_line(ext, f"checkpoint.extensions[{i}]")

    def to_text(self) -> str:
        """The note text: origin, size and base64 root, then extension lines, each ending in a newline."""
        lines = [self.origin, str(self.size), _b64encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note text strictly; raises ValidationError naming the bad line."""
        if not text.endswith("\n"):
            raise ValidationError("checkpoint text must end with a newline", field="checkpoint")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise ValidationError("expected origin, size and root lines", field="checkpoint")
        origin, size, root64, *extensions = lines
        if not _DECIMAL.fullmatch(size):
            raise ValidationError(f"expected decimal digits, no leading zero: {size!r}", field="checkpoint.size")
        root = _b64decode(root64)
        if root is None:
            raise ValidationError("root is not canonical base64", field="checkpoint.root")
        return cls(origin, int(size), root, tuple(extensions))


def _check_line(value: str, field: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValidationError("expected a non-empty line", field=field)
    bad = _bad_char(value)
    if bad is not None or "\n" in value:
        raise ValidationError(f"forbidden character U+{ord(bad or chr(10)):04X}", field=field)


def sign_checkpoint(cp: Checkpoint, signer: NoteSigner) -> str:
    """The signed note of checkpoint ``cp`` (the log's key name should equal ``cp.origin``)."""
    return sign_note(cp.to_text(), signer)


def verify_checkpoint(note: str | bytes, verifiers: Iterable[NoteVerifier | str]) -> Checkpoint:
    """Open a checkpoint note (see :func:`open_note`) and parse its text.

    The caller still has to check that ``origin`` is the log it expects.
    """
    return Checkpoint.parse(open_note(note, verifiers).text)
