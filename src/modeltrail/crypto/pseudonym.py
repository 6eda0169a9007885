"""Keyed pseudonyms for identifiers (DESIGN §1, personal data).

A pseudonym is ``HMAC-SHA256(key, input)`` truncated to 128 bits, so the records of one person can be
linked across events without the ledger naming them, and nobody without the key can test a guess.

Format (version 1)::

    pseudonym = "ps1:" + base64url_nopad(HMAC-SHA256(key, input)[:16])      # 26 ASCII characters

    input     = "modeltrail/pseudonym/v1" 0x00
                u32be(len(field_utf8)) field_utf8
                type_tag value_bytes

    type_tag  value_bytes
    "s"       UTF-8 of the string after Unicode NFC normalisation
    "i"       decimal ASCII of the integer (canonical: no sign for >= 0, no leading zeros)
    "f"       repr() of the float (shortest round-trip form), -0.0 written as 0.0; NaN/Inf rejected
    "b"       "1" for True, "0" for False

The field name is length-prefixed and the value is the last item, so the encoding is injective: the
string ``"12"`` in field ``a``, the integer ``12`` in field ``a`` and ``"12"`` in field ``b`` all give
different pseudonyms. 128 bits keeps collisions negligible (birthday bound ~2^64 values per field) while
keeping the token short. The ``ps1:`` prefix names this format so that a later version can coexist.
"""

from __future__ import annotations

import base64
import hmac as std_hmac
import math
import struct
import unicodedata

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from ..errors import ValidationError

PREFIX = "ps1:"
DOMAIN = b"modeltrail/pseudonym/v1\x00"
TRUNCATE_BYTES = 16
MIN_KEY_BYTES = 16
_FIELD_CACHE_LIMIT = 1024

Scalar = str | int | float | bool


class Pseudonymiser:
    """Deterministic, keyed, domain-separated pseudonyms (format in the module docstring).

    Thread-safe: the cached HMAC states are only ever copied, never updated in place.
    """

    __slots__ = ("_base", "_fields", "_key_id")

    def __init__(self, key: bytes) -> None:
        """Create a pseudonymiser with a secret ``key`` (at least 16 bytes; 32 random bytes advised)."""
        if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_BYTES:
            raise ValidationError(f"pseudonym key must be at least {MIN_KEY_BYTES} bytes", field="key")
        base = crypto_hmac.HMAC(bytes(key), hashes.SHA256())
        base.update(DOMAIN)
        self._base = base
        # HMAC states with the domain and field prefix already absorbed: one copy + one update per call.
        self._fields: dict[str, crypto_hmac.HMAC] = {}
        kid = crypto_hmac.HMAC(bytes(key), hashes.SHA256())
        kid.update(b"modeltrail/pseudonym/key-id/v1")
        self._key_id = "psk-" + kid.finalize()[:8].hex()

    def __repr__(self) -> str:
        return f"Pseudonymiser(key_id={self._key_id!r})"

    @property
    def key_id(self) -> str:
        """Public fingerprint of the key (``psk-`` + 16 hex), safe to record next to pseudonyms."""
        return self._key_id

    def _state_for(self, field: str) -> crypto_hmac.HMAC:
        state = self._fields.get(field)
        if state is None:
            if not isinstance(field, str) or not field:
                raise ValidationError("field name must be a non-empty string", field="field")
            encoded = field.encode("utf-8")
            state = self._base.copy()
            state.update(struct.pack(">I", len(encoded)) + encoded)
            # Field names come from code, not data, so the cache stays small; the limit only guards
            # against a caller passing data values as field names.
            if len(self._fields) < _FIELD_CACHE_LIMIT:
                self._fields[field] = state
        return state

    def pseudonym(self, value: Scalar, field: str) -> str:
        """Return the pseudonym of ``value`` as used in ``field`` (e.g. ``"customer_id"``)."""
        mac = self._state_for(field).copy()
        mac.update(_encode_value(value))
        return PREFIX + base64.urlsafe_b64encode(mac.finalize()[:TRUNCATE_BYTES]).rstrip(b"=").decode("ascii")

    __call__ = pseudonym

    def matches(self, pseudonym: str, value: Scalar, field: str) -> bool:
        """Return whether ``pseudonym`` is the pseudonym of ``value`` in ``field`` (constant-time compare).

        Used to find a person's records for an access or erasure request without a lookup table.
        """
        return std_hmac.compare_digest(
            pseudonym.encode("ascii", "replace"), self.pseudonym(value, field).encode()
        )


def _encode_value(value: Scalar) -> bytes:
    """Type-tagged canonical bytes of a scalar (see the module docstring)."""
    # Exact type checks first: bool is a subclass of int and must not encode like 1 / 0.
    cls = type(value)
    if cls is str:
        return b"s" + unicodedata.normalize("NFC", value).encode("utf-8")  # type: ignore[arg-type]
    if cls is int:
        return b"i" + str(value).encode("ascii")
    if cls is bool:
        return b"b1" if value else b"b0"
    if cls is float:
        f = float(value)
        if not math.isfinite(f):
            raise ValidationError("cannot pseudonymise NaN or infinity", field="value")
        return b"f" + repr(f + 0.0).encode("ascii")  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, bool):
        return b"b1" if value else b"b0"
    if isinstance(value, str):
        return _encode_value(str(value))
    if isinstance(value, int):
        return _encode_value(int(value))
    if isinstance(value, float):
        return _encode_value(float(value))
    raise ValidationError(f"expected str, int, float or bool, got {cls.__name__}", field="value")
