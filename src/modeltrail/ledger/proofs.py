"""Typed RFC 9162 proofs as a trail hands them out, with their JSON form and their own check.

:meth:`modeltrail.Trail.inclusion_proof` and :meth:`~modeltrail.Trail.consistency_proof` return these;
``to_dict()`` is the JSON form printed by ``modeltrail prove`` and served under ``/v1/proofs/``
(hashes in base64), and ``from_dict()`` reads it back, so a proof received over the wire can be checked
without a trail::

    >>> import modeltrail, tempfile
    >>> from modeltrail.events import Actor
    >>> t = modeltrail.init(tempfile.mkdtemp())
    >>> _ = t.record("run.started", system="demo", actor=Actor("alice", "data_scientist"))
    >>> cp = t.checkpoint()
    >>> p = t.inclusion_proof(1)
    >>> p.tree_size == cp.size and p.root == cp.root
    True
    >>> InclusionProof.from_dict(p.to_dict()).verify()  # raises ProofError if it does not hold
    >>> t.close()
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ValidationError
from . import merkle


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(d: Mapping[str, Any], key: str) -> bytes:
    value = d.get(key)
    if not isinstance(value, str):
        raise ValidationError("expected a base64 string", field=key)
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValidationError("expected a base64 string", field=key) from None


def _int(d: Mapping[str, Any], key: str) -> int:
    value = d.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError("expected a non-negative integer", field=key)
    return value


def _hashes(d: Mapping[str, Any]) -> tuple[bytes, ...]:
    value = d.get("proof")
    if not isinstance(value, list):
        raise ValidationError("expected a list of base64 hashes", field="proof")
    return tuple(_unb64({"proof": h}, "proof") for h in value)


def _note(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    if value is not None and not isinstance(value, str):
        raise ValidationError("expected a signed note or null", field=key)
    return value


def _check_kind(d: Mapping[str, Any], kind: str) -> None:
    if d.get("kind") != kind:
        raise ValidationError(f"expected {kind!r}", field="kind")


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Event ``seq`` (leaf ``leaf_hash``) is in the tree of ``tree_size`` leaves whose root is ``root``.

    ``checkpoint`` is the trail's signed note for that tree size, when one was stored.
    """

    kind: ClassVar[str] = "inclusion"

    seq: int
    tree_size: int
    leaf_hash: bytes
    root: bytes
    hashes: tuple[bytes, ...]
    checkpoint: str | None = None

    def verify(self) -> None:
        """Recompute the root from the leaf and the audit path; raises :class:`~modeltrail.errors.ProofError`."""
        merkle.verify_inclusion(self.leaf_hash, self.seq, self.tree_size, self.hashes, self.root)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as printed by ``modeltrail prove`` and served by the API.

        Hashes are base64 (``"encoding": "base64"``, as in C2SP notes); the roots are repeated in hex.
        """
        return {
            "kind": self.kind,
            "seq": self.seq,
            "tree_size": self.tree_size,
            "encoding": "base64",
            "leaf_hash": _b64(self.leaf_hash),
            "root": _b64(self.root),
            "proof": [_b64(h) for h in self.hashes],
            "leaf_hash_hex": self.leaf_hash.hex(),
            "root_hex": self.root.hex(),
            "checkpoint": self.checkpoint,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InclusionProof:
        """Parse the JSON form; raises :class:`~modeltrail.errors.ValidationError` naming the bad field."""
        _check_kind(d, cls.kind)
        return cls(
            seq=_int(d, "seq"),
            tree_size=_int(d, "tree_size"),
            leaf_hash=_unb64(d, "leaf_hash"),
            root=_unb64(d, "root"),
            hashes=_hashes(d),
            checkpoint=_note(d, "checkpoint"),
        )


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """The tree of ``old_size`` leaves (root ``old_root``) is a prefix of the one of ``new_size`` (``new_root``).

    ``old_checkpoint`` and ``new_checkpoint`` are the trail's signed notes for those sizes, when stored.
    """

    kind: ClassVar[str] = "consistency"

    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    hashes: tuple[bytes, ...]
    old_checkpoint: str | None = None
    new_checkpoint: str | None = None

    def verify(self) -> None:
        """Check that the old tree is a prefix of the new one; raises :class:`~modeltrail.errors.ProofError`."""
        merkle.verify_consistency(self.old_size, self.new_size, self.old_root, self.new_root, self.hashes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as printed by ``modeltrail prove`` and served by the API.

        Hashes are base64 (``"encoding": "base64"``, as in C2SP notes); the roots are repeated in hex.
        """
        return {
            "kind": self.kind,
            "old_size": self.old_size,
            "new_size": self.new_size,
            "encoding": "base64",
            "old_root": _b64(self.old_root),
            "new_root": _b64(self.new_root),
            "proof": [_b64(h) for h in self.hashes],
            "old_root_hex": self.old_root.hex(),
            "new_root_hex": self.new_root.hex(),
            "old_checkpoint": self.old_checkpoint,
            "new_checkpoint": self.new_checkpoint,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ConsistencyProof:
        """Parse the JSON form; raises :class:`~modeltrail.errors.ValidationError` naming the bad field."""
        _check_kind(d, cls.kind)
        return cls(
            old_size=_int(d, "old_size"),
            new_size=_int(d, "new_size"),
            old_root=_unb64(d, "old_root"),
            new_root=_unb64(d, "new_root"),
            hashes=_hashes(d),
            old_checkpoint=_note(d, "old_checkpoint"),
            new_checkpoint=_note(d, "new_checkpoint"),
        )


__all__ = ["ConsistencyProof", "InclusionProof"]
