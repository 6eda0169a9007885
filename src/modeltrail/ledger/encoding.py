"""Canonical JSON (RFC 8785, JCS) for ledger leaves, with validation.

The ``rfc8785`` library is the reference encoder. It is pure Python, so the hot path uses the
stdlib's C JSON encoder whenever its output is provably byte-identical to JCS: sorted keys that are
all in the Basic Multilingual Plane (Python sorts by code point, JCS by UTF-16 unit; they agree on the
BMP), no floats whose shortest ``repr`` differs from ECMAScript's ``Number.prototype.toString`` (that is,
integral floats, and magnitudes outside ``[1e-4, 1e16)`` where the exponent notations differ), and
string escaping, which is identical for ``ensure_ascii=False``. Property tests check the fast path
against ``rfc8785`` on random documents.

Validation happens during the same walk and names the offending field: non-string keys, NaN or
Infinity, integers beyond ±(2^53 - 1) (I-JSON, RFC 7493), strings that are not valid Unicode scalar
values (lone surrogates cannot be UTF-8), and values that are not JSON at all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import rfc8785

from ..errors import ValidationError

MAX_SAFE_INTEGER = 2**53 - 1

_dumps = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"), check_circular=False
).encode


def _key_ok(key: str, path: str) -> bool:
    """Validate a key; return True when it is safe for the stdlib sort order."""
    if key.isascii():
        return True
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("key is not valid Unicode (lone surrogate)", field=path) from None
    return all(ord(c) <= 0xFFFF for c in key)


def _check(value: Any, path: str, depth: int) -> bool:
    """Validate ``value``; return True when the stdlib encoder gives JCS bytes for it."""
    t = type(value)
    if t is str:
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError("string is not valid Unicode (lone surrogate)", field=path) from None
        return True
    if t is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return True
        raise ValidationError(f"integer {value} is outside ±(2^53-1); send it as a string", field=path)
    if t is float:
        if not math.isfinite(value):
            raise ValidationError(f"{value!r} is not allowed in JSON (NaN/Infinity)", field=path)
        a = abs(value)
        return 1e-4 <= a < 1e16 and not value.is_integer()
    if value is None or t is bool:
        return True
    if depth > 64:
        raise ValidationError("nesting deeper than 64 levels", field=path)
    if isinstance(value, Mapping):
        fast = True
        for k, v in value.items():
            if type(k) is not str:
                raise ValidationError(
                    f"object key {k!r} is a {type(k).__name__}, expected a string", field=path
                )
            sub = f"{path}.{k}"
            fast = _key_ok(k, sub) & _check(v, sub, depth + 1) & fast
        return fast
    if isinstance(value, list | tuple):
        fast = True
        for i, v in enumerate(value):
            fast = _check(v, f"{path}[{i}]", depth + 1) & fast
        return fast
    if isinstance(value, bytes | bytearray):
        raise ValidationError("bytes are not JSON; store them as a blob and reference the sha256", field=path)
    # Subclasses of the JSON scalars (numpy.float64, IntEnum, StrEnum) encode as their base value.
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float | str):
        base = float if isinstance(value, float) else int if isinstance(value, int) else str
        return _check(base(value), path, depth)
    if hasattr(value, "item"):
        raise ValidationError(
            f"{type(value).__name__} is not JSON; convert with .item() / float() / int()", field=path
        )
    raise ValidationError(f"{type(value).__name__} is not a JSON value", field=path)


def validate(value: Any, path: str) -> bool:
    """Validate a JSON-safe value; return True if the fast encoder is exact for it."""
    return _check(value, path, 0)


def canonical(value: Any, path: str = "value") -> str:
    """Validate ``value`` and return its RFC 8785 canonical JSON text."""
    if _check(value, path, 0):
        return _dumps(value)
    return canonical_slow(value)


def canonical_slow(value: Any) -> str:
    """RFC 8785 via the reference library (for values the fast path cannot encode exactly)."""
    out: bytes = rfc8785.dumps(value)
    return out.decode("utf-8")


def canonical_bytes(value: Any, path: str = "value") -> bytes:
    """Validate ``value`` and return its RFC 8785 canonical UTF-8 bytes."""
    return canonical(value, path).encode("utf-8")


def json_string(s: str) -> str:
    """Encode one string as JCS does (escaping identical to the stdlib with ensure_ascii=False)."""
    return _dumps(s)


def sequence_of_str(value: Sequence[str]) -> str:
    """Canonical JSON array of strings."""
    return _dumps(list(value))
