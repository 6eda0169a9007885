"""Canonical JSON (RFC 8785, JCS) for ledger leaves, with validation.

The ``rfc8785`` library is the reference encoder. It is pure Python, so the hot path uses ``orjson``
whenever its output is provably byte-identical to JCS: object keys all in the Basic Multilingual Plane
(``orjson`` sorts by UTF-8 bytes, i.e. by code point; JCS sorts by UTF-16 unit; the two agree on the
BMP), and no float whose shortest round-trip form differs from ECMAScript's ``Number.toString`` — that
is, integral floats, and magnitudes outside ``[1e-4, 1e16)`` where the exponent notations differ. Such
floats (a model's probability of 3e-05 is common) are formatted by :func:`es_number` and passed to
``orjson`` as ready fragments; only keys outside the BMP fall back to ``rfc8785``.
String escaping is identical (only ``"``, ``\\`` and control characters are escaped). Property tests
check the fast path against ``rfc8785`` on random documents.

Validation happens in one walk and names the offending field: non-string keys, NaN or Infinity,
integers beyond ±(2^53 - 1) (I-JSON, RFC 7493), strings that are not valid Unicode scalar values (lone
surrogates cannot be UTF-8), and values that are not JSON at all. The walk builds the field path only
when it fails, so valid documents pay for no string formatting.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import rfc8785

from ..errors import ValidationError

MAX_SAFE_INTEGER = 2**53 - 1
_ORJSON_OPTS = orjson.OPT_SORT_KEYS
_INFINITIES = (math.inf, -math.inf)


class _Bad(Exception):
    """Internal: a validation failure whose path is assembled while unwinding."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.parts: list[str] = []


def _utf8_ok(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _scalar(value: Any, t: type) -> bool:
    """Validate a non-container value; return its fast-path eligibility."""
    if t is float:
        if value != value or value in (math.inf, -math.inf):
            raise _Bad(f"{value!r} is not allowed in JSON (NaN/Infinity)")
        a = -value if value < 0 else value
        return 1e-4 <= a < 1e16 and not value.is_integer()
    if t is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return True
        raise _Bad(f"integer {value} is outside ±(2^53-1); send it as a string")
    if isinstance(value, bytes | bytearray):
        raise _Bad("bytes are not JSON; store them as a blob and reference the sha256")
    # Subclasses of the JSON scalars (numpy.float64, IntEnum, StrEnum) encode as their base value.
    if isinstance(value, bool):
        return True
    if isinstance(value, float):
        return _scalar(float(value), float)
    if isinstance(value, int):
        return _scalar(int(value), int)
    if isinstance(value, str):
        if not value.isascii() and not _utf8_ok(value):
            raise _Bad("string is not valid Unicode (lone surrogate)")
        return True
    if hasattr(value, "item"):
        raise _Bad(f"{type(value).__name__} is not JSON; convert with .item() / float() / int()")
    raise _Bad(f"{type(value).__name__} is not a JSON value")


def _walk(value: Any, depth: int) -> bool:
    """Validate ``value``; return True when the fast encoder gives JCS bytes for it."""
    t = type(value)
    if t is str:
        if value.isascii() or _utf8_ok(value):
            return True
        raise _Bad("string is not valid Unicode (lone surrogate)")
    if t is int or t is float:
        return _scalar(value, t)
    if value is None or t is bool:
        return True
    if depth > 64:
        raise _Bad("nesting deeper than 64 levels")
    fast = True
    if t is dict or isinstance(value, Mapping):
        for k, v in value.items():
            if type(k) is not str:
                raise _Bad(f"object key {k!r} is a {type(k).__name__}, expected a string")
            if not k.isascii():
                if not _utf8_ok(k):
                    e = _Bad("key is not valid Unicode (lone surrogate)")
                    e.parts.append("." + k)
                    raise e
                if any(ord(c) > 0xFFFF for c in k):
                    fast = False
            # The common scalars are checked inline: a call per value is most of the walk's cost.
            tv = type(v)
            if tv is str:
                if v.isascii() or _utf8_ok(v):
                    continue
            elif tv is int:
                if -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
                    continue
            elif tv is float:
                if v == v and v not in _INFINITIES:
                    if v.is_integer() or not 1e-4 <= (-v if v < 0 else v) < 1e16:
                        fast = False
                    continue
            elif tv is bool or v is None:
                continue
            try:
                if not _walk(v, depth + 1):
                    fast = False
            except _Bad as e:
                e.parts.append("." + k)
                raise
        return fast
    if t is list or t is tuple:
        for i, v in enumerate(value):
            try:
                if not _walk(v, depth + 1):
                    fast = False
            except _Bad as e:
                e.parts.append(f"[{i}]")
                raise
        return fast
    return _scalar(value, t)


def _check(value: Any, path: str, depth: int = 0) -> bool:
    try:
        return _walk(value, depth)
    except _Bad as e:
        raise ValidationError(e.message, field=path + "".join(reversed(e.parts))) from None


def validate(value: Any, path: str) -> bool:
    """Validate a JSON-safe value; return True if the fast encoder is exact for it."""
    return _check(value, path)


def canonical_bytes(value: Any, path: str = "value") -> bytes:
    """Validate ``value`` and return its RFC 8785 canonical UTF-8 bytes."""
    if _check(value, path):
        out: bytes = orjson.dumps(value, option=_ORJSON_OPTS)
        return out
    try:
        # Floats orjson would format differently go in as pre-formatted JSON fragments.
        fixed: bytes = orjson.dumps(_with_es_floats(value), option=_ORJSON_OPTS)
        return fixed
    except _NeedsReference:
        slow: bytes = rfc8785.dumps(value)
        return slow


class _NeedsReference(Exception):
    """Internal: a key outside the BMP, where orjson's key order differs from JCS's UTF-16 order."""


def es_number(x: float) -> str:
    """A finite float as ECMAScript's ``Number.prototype.toString`` writes it (RFC 8785 §3.2.2.3).

    Written here because no maintained library exposes just this: ``rfc8785`` formats whole
    documents in pure Python, and orjson's float format differs outside ``[1e-4, 1e16)`` and for
    integral values. Python's ``repr`` already gives the shortest round-trip digits (as ECMAScript
    requires); only their layout differs.
    """
    if x == 0:
        return "0"
    r = repr(x)
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    mantissa, _, exp_text = r.partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    all_digits = int_part + frac_part
    digits = all_digits.lstrip("0")
    # The value is 0.<digits> x 10^n.
    n = len(int_part) + (int(exp_text) if exp_text else 0) - (len(all_digits) - len(digits))
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        text = (digits if k == 1 else digits[0] + "." + digits[1:]) + ("e+" if e >= 0 else "e-") + str(abs(e))
    return sign + text


def _with_es_floats(value: Any) -> Any:
    """A copy of a validated value whose floats are orjson fragments in ECMAScript form."""
    t = type(value)
    if t is float or (t is not bool and isinstance(value, float)):
        return orjson.Fragment(es_number(float(value)).encode())
    if t is str or t is int or t is bool or value is None:
        return value
    if t is dict or isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not k.isascii() and any(ord(c) > 0xFFFF for c in k):
                raise _NeedsReference
            out[k] = _with_es_floats(v)
        return out
    if t is list or t is tuple:
        return [_with_es_floats(v) for v in value]
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value


def canonical(value: Any, path: str = "value") -> str:
    """Validate ``value`` and return its RFC 8785 canonical JSON text."""
    return canonical_bytes(value, path).decode("utf-8")


def canonical_slow(value: Any) -> str:
    """RFC 8785 via the reference library (for values the fast path cannot encode exactly)."""
    out: bytes = rfc8785.dumps(value)
    return out.decode("utf-8")


class _Strict(Exception):
    """Internal: the strict parse met a duplicate key, an unsafe integer or a non-JSON constant."""


class _Pairs(list[tuple[str, Any]]):
    """An object as its key/value pairs in document order (to locate what the strict parse refused)."""


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Strict
    return out


def _safe_int(text: str) -> int:
    value = int(text)
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    raise _Strict


def _no_constant(text: str) -> Any:
    raise _Strict


def _locate(value: Any, path: str) -> tuple[str, str] | None:
    """The path and reason of the first duplicate key or unsafe integer in a pairs tree."""
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for k, v in value:
            sub = f"{path}.{k}" if path else k
            if k in seen:
                return sub, f"duplicate key {k!r} (JSON objects must not repeat a key)"
            seen.add(k)
            found = _locate(v, sub)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _locate(v, f"{path}[{i}]")
            if found is not None:
                return found
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        return path, f"integer {value} is outside ±(2^53-1); send it as a string"
    elif isinstance(value, str) and value.endswith("\0") and value[:-1] in ("NaN", "Infinity", "-Infinity"):
        return path, f"{value[:-1]} is not allowed in JSON"
    return None


def loads_strict(raw: bytes | str, field: str = "body") -> Any:
    """Parse JSON text as the ledger can store it, or raise :class:`ValidationError` naming the field.

    Refused where a lenient parser would change the data silently: a repeated key (``{"a":1,"a":2}``
    would keep only ``2``), an integer beyond ±(2^53-1) (``2**64`` would become a float) and the
    non-standard ``NaN``/``Infinity``. The field path (``events[0].payload.a``) is found by a second
    parse only when the first one refused.
    """
    try:
        return json.loads(raw, object_pairs_hook=_unique_object, parse_int=_safe_int, parse_constant=_no_constant)
    except _Strict:
        tree = json.loads(raw, object_pairs_hook=_Pairs, parse_constant=lambda c: c + "\0")
        found = _locate(tree, "")
        where, why = found if found is not None else ("", "not valid JSON")
        raise ValidationError(why, field=where or field) from None
    except RecursionError:
        raise ValidationError("JSON nested too deeply", field=field) from None
    except ValueError as exc:  # json.JSONDecodeError, and bytes that are not UTF-8
        raise ValidationError(f"expected JSON: {exc}", field=field) from None


def json_string(s: str) -> bytes:
    """Encode one (already validated) string as JCS does."""
    out: bytes = orjson.dumps(s)
    return out


def sequence_of_str(value: Sequence[str]) -> bytes:
    """Canonical JSON array of (already validated) strings."""
    out: bytes = orjson.dumps(list(value))
    return out
