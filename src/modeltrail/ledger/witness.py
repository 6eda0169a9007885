"""A cosigning witness (C2SP tlog-witness) and its timestamped Ed25519 cosignatures (C2SP tlog-cosignature).

A trail's operator can roll the database back or show different people different logs; signatures made
with the trail's own key cannot reveal that. A witness is a separate party (another process, under another
user, ideally on another machine) that remembers the last checkpoint it cosigned for each log and cosigns a
new one only with a consistency proof from that one. A log that was rolled back or forked can then no
longer get a cosignature: the witness refuses it, and ``verify --witness KEY`` fails for lack of one.

Formats (sources: c2sp.org/tlog-witness, c2sp.org/tlog-cosignature, c2sp.org/signed-note):

- ``add-checkpoint`` request body: ``old <size>\\n``, the consistency proof (one base64 hash per line), an
  empty line, then the signed checkpoint note. A request whose ``old`` is not the size the witness last
  cosigned is answered "409 Conflict" with that size (``text/x.tlog.size``), so the log can retry.
- Cosignature: a note signature line ``— <witness name> base64(key id ‖ u64 timestamp ‖ Ed25519 sig)``
  over ``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint body; the key id is
  ``SHA-256(name ‖ "\\n" ‖ 0x04 ‖ public key)[:4]``.

The witness state is a folder: ``witness.key`` (0600), ``logs.json`` (origin -> the log's verifier key)
and ``state/<hash of origin>.json`` (the last cosigned size and root per log), each replaced atomically.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ModeltrailError, ProofError, StoreError, ValidationError
from . import merkle
from .note import Checkpoint, is_valid_key_name, verify_checkpoint

ALG_COSIGNATURE_V1 = 0x04
SIG_PREFIX = "\u2014 "


class WitnessConflict(ModeltrailError):
    """The request's ``old`` size is not the size the witness last cosigned (HTTP 409); ``size`` is that."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


def cosignature_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of a cosignature/v1 key."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key).digest()[:4]


def _raw(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def cosigned_message(body: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: header, time line, then the checkpoint body."""
    return b"cosignature/v1\ntime %d\n" % timestamp + body.encode()


@dataclass(frozen=True)
class WitnessKey:
    """A witness's public identity: its name and Ed25519 key, as a vkey ``name+keyid+base64(0x04‖pub)``."""

    name: str
    public_key: bytes

    @classmethod
    def parse(cls, vkey: str) -> WitnessKey:
        """Parse a witness verifier key; raises ValidationError naming what is wrong."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not is_valid_key_name(parts[0]):
            raise ValidationError("expected '<name>+<key id hex>+<base64 key>'", field="witness")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except ValueError:
            raise ValidationError("the key part is not base64", field="witness") from None
        if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise ValidationError("expected a cosignature/v1 (0x04) Ed25519 key", field="witness")
        key = cls(parts[0], raw[1:])
        if cosignature_key_id(key.name, key.public_key).hex() != parts[1]:
            raise ValidationError("the key id does not match the key", field="witness")
        return key

    def vkey(self) -> str:
        """The verifier key text."""
        kid = cosignature_key_id(self.name, self.public_key).hex()
        return f"{self.name}+{kid}+{base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key).decode()}"

    def cosignature_time(self, note: str) -> int | None:
        """The timestamp of this witness's valid cosignature on ``note``, or None when it has none."""
        split = note.rfind("\n\n")
        if split < 0:
            return None
        body, block = note[: split + 1], note[split + 2 :]
        kid = cosignature_key_id(self.name, self.public_key)
        pub = Ed25519PublicKey.from_public_bytes(self.public_key)
        for line in block.splitlines():
            if not line.startswith(SIG_PREFIX + self.name + " "):
                continue
            try:
                raw = base64.b64decode(line.rsplit(" ", 1)[1], validate=True)
            except ValueError:
                continue
            if len(raw) != 4 + 8 + 64 or raw[:4] != kid:
                continue
            (ts,) = struct.unpack(">Q", raw[4:12])
            try:
                pub.verify(raw[12:], cosigned_message(body, ts))
            except InvalidSignature:
                continue
            return int(ts)
        return None


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` all or nothing; :class:`StoreError` when the disk refuses (e.g. full)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {path}: {exc}") from exc


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def build_request(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """An ``add-checkpoint`` request body."""
    lines = [f"old {old_size}", *(_b64(p) for p in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


def parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    """(old size, consistency proof, checkpoint note) of an ``add-checkpoint`` body; ValidationError if bad."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("the request is not UTF-8", field="body") from None
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise ValidationError("expected 'old N', proof lines, an empty line, then the checkpoint", field="body")
    lines = head.split("\n")
    first = lines[0].split(" ")
    if len(first) != 2 or first[0] != "old" or not first[1].isdigit() or (first[1] != "0" and first[1][0] == "0"):
        raise ValidationError("the first line must be 'old <size>'", field="body")
    proof: list[bytes] = []
    for i, line in enumerate(lines[1:], 1):
        try:
            h = base64.b64decode(line, validate=True)
        except ValueError:
            h = b""
        if len(h) != 32:
            raise ValidationError("expected a base64 SHA-256 hash", field=f"body line {i + 1}")
        proof.append(h)
    return int(first[1]), proof, note


class Witness:
    """A witness's state folder: its signing key, the logs it follows, and what it last cosigned."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        """Open an existing witness folder (see :meth:`create`)."""
        self.folder = Path(folder)
        try:
            data = json.loads((self.folder / "witness.json").read_text(encoding="utf-8"))
            pem = (self.folder / "witness.key").read_bytes()
        except (OSError, ValueError) as exc:
            raise ModeltrailError(f"no witness at {self.folder} (create one with `modeltrail witness init`)") from exc
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ModeltrailError(f"{self.folder / 'witness.key'} does not hold an Ed25519 key")
        self._key = key
        self.name = str(data["name"])

    @classmethod
    def create(cls, folder: str | os.PathLike[str], name: str) -> Witness:
        """Create a witness named ``name`` (a schema-less URL such as ``witness.example.org/w1``)."""
        if not is_valid_key_name(name):
            raise ValidationError("expected a key name without spaces or '+'", field="name")
        d = Path(folder)
        if (d / "witness.key").exists():
            raise ModeltrailError(f"a witness already exists at {d}")
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        (d / "state").mkdir(mode=0o700, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_atomic(d / "witness.key", pem)
        write_atomic(d / "witness.json", json.dumps({"name": name, "format": "modeltrail-witness/1"}).encode())
        write_atomic(d / "logs.json", b"{}")
        return cls(d)

    @property
    def key(self) -> WitnessKey:
        """The public identity of this witness."""
        return WitnessKey(self.name, _raw(self._key.public_key()))

    def logs(self) -> dict[str, str]:
        """Origin -> verifier key of every log this witness follows."""
        data: dict[str, str] = json.loads((self.folder / "logs.json").read_text(encoding="utf-8"))
        return data

    def follow(self, origin: str, verifier_key: str) -> None:
        """Start following the log ``origin`` whose checkpoints ``verifier_key`` signs."""
        logs = self.logs()
        logs[origin] = verifier_key
        write_atomic(self.folder / "logs.json", json.dumps(logs, indent=2, sort_keys=True).encode())

    def _state_path(self, origin: str) -> Path:
        return self.folder / "state" / f"{hashlib.sha256(origin.encode()).hexdigest()[:32]}.json"

    def last(self, origin: str) -> tuple[int, bytes]:
        """(size, root) of the last checkpoint cosigned for ``origin`` (0 and the empty root at first)."""
        try:
            d = json.loads(self._state_path(origin).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return 0, merkle.EMPTY_ROOT
        return int(d["size"]), base64.b64decode(d["root"])

    def add_checkpoint(self, body: bytes, *, now: int | None = None) -> str:
        """Handle an ``add-checkpoint`` request; returns the cosignature line(s) to append to the note.

        Raises :class:`ValidationError` (400) for a malformed request, :class:`NotFoundError`-like
        :class:`ModeltrailError` (404) for an unknown log, :class:`SignatureError` (403) for a bad log
        signature, :class:`WitnessConflict` (409) when ``old`` is not the last cosigned size, and
        :class:`ProofError` (422) when the consistency proof does not verify: a rolled-back or forked log.
        """
        old_size, proof, note = parse_request(body)
        body_text = note.split("\n\n", 1)[0] + "\n"
        try:
            origin = Checkpoint.parse(body_text).origin
        except (ModeltrailError, ValueError) as exc:
            raise ValidationError(f"not a checkpoint: {exc}", field="checkpoint") from None
        vkey = self.logs().get(origin)
        if vkey is None:
            raise UnknownLogError(f"this witness does not follow the log {origin!r}")
        cp = verify_checkpoint(note, [vkey])
        last_size, last_root = self.last(origin)
        if old_size != last_size:
            raise WitnessConflict(f"the last checkpoint cosigned for {origin} has size {last_size}", last_size)
        if cp.size < last_size:
            raise ProofError(f"checkpoint size {cp.size} is smaller than the last cosigned ({last_size}): rollback")
        if old_size == 0:
            if proof:
                raise ValidationError("a proof from size 0 must be empty", field="body")
        elif cp.size == old_size:
            if cp.root != last_root or proof:
                raise ProofError(f"a different root for size {cp.size} than the one cosigned: the log forked")
        else:
            merkle.verify_consistency(old_size, cp.size, last_root, cp.root, proof)
        write_atomic(
            self._state_path(origin),
            json.dumps({"origin": origin, "size": cp.size, "root": _b64(cp.root)}).encode(),
        )
        ts = int(time.time()) if now is None else now
        sig = self._key.sign(cosigned_message(body_text, ts))
        raw = cosignature_key_id(self.name, _raw(self._key.public_key())) + struct.pack(">Q", ts) + sig
        return f"{SIG_PREFIX}{self.name} {_b64(raw)}\n"


class UnknownLogError(ModeltrailError):
    """The witness does not follow the log the checkpoint is for (HTTP 404)."""


def count_cosignatures(note: str, witnesses: Iterable[WitnessKey]) -> int:
    """How many of ``witnesses`` validly cosigned ``note``."""
    return sum(1 for w in witnesses if w.cosignature_time(note) is not None)


__all__ = [
    "UnknownLogError",
    "Witness",
    "WitnessConflict",
    "WitnessKey",
    "build_request",
    "cosigned_message",
    "count_cosignatures",
    "parse_request",
]
