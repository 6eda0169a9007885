"""Canonical JSON: the fast path must be byte-identical to RFC 8785 (reference library) and validation
must reject what JSON/I-JSON cannot carry, naming the field."""

from __future__ import annotations

import json
import math
from enum import IntEnum

import numpy as np
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from modeltrail.errors import ValidationError
from modeltrail.ledger import encoding

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


def _valid_unicode(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_matches_rfc8785(value: object) -> None:
    try:
        got = encoding.canonical(value)
    except ValidationError:
        # Only lone surrogates may be rejected from this strategy.
        assert not _valid_unicode(json.dumps(value, ensure_ascii=False, allow_nan=False))
        return
    assert got.encode() == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        -0.0,
        0.1,
        1e-7,
        1e21,
        1e16,
        123456789012345.6,
        5e-324,
        1.7976931348623157e308,
        2.5e-5,
        1e-4,
        100.0,
    ],
)
def test_float_edge_cases(value: float) -> None:
    assert encoding.canonical({"x": value}).encode() == rfc8785.dumps({"x": value})
    assert encoding.es_number(value) == rfc8785.dumps(value).decode()


@settings(max_examples=3000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_es_number_matches_the_reference_for_every_float(value: float) -> None:
    # es_number lays out repr()'s digits as ECMAScript does; the reference encoder is the judge.
    assert encoding.es_number(value) == rfc8785.dumps(value).decode()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, max_value=1e-4, min_value=-1e-4), min_size=1))
def test_documents_with_small_floats_take_the_fragment_path_exactly(values: list[float]) -> None:
    doc = {"scores": values, "nested": {"p": values[0], "label": "x"}}
    assert encoding.canonical_bytes(doc) == rfc8785.dumps(doc)


def test_non_bmp_key_order_uses_utf16() -> None:
    value = {"\U0001f600": 1, "\ufb01": 2, "a": 3}
    assert encoding.canonical(value).encode() == rfc8785.dumps(value)


def test_string_escapes() -> None:
    value = {"s": 'a"b\\c\n\t\r\b\f\x00\x1f\x7f\u2028é€😀'}
    assert encoding.canonical(value).encode() == rfc8785.dumps(value)


@pytest.mark.parametrize(
    ("value", "field", "fragment"),
    [
        ({"score": math.nan}, "payload.score", "NaN"),
        ({"score": math.inf}, "payload.score", "Infinity"),
        ({"a": {1: "x"}}, "payload.a", "key 1"),
        ({"big": 2**60}, "payload.big", "2^53"),
        ({"s": "\ud800"}, "payload.s", "surrogate"),
        ({"b": b"raw"}, "payload.b", "bytes"),
        ({"o": object()}, "payload.o", "not a JSON value"),
        ({"l": [1, {"deep": math.nan}]}, "payload.l[1].deep", "NaN"),
        ({"arr": np.array([1, 2])}, "payload.arr", "convert"),
    ],
)
def test_rejections_name_the_field(value: object, field: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        encoding.canonical(value, "payload")
    assert err.value.field == field
    assert fragment in str(err.value)


def test_numpy_scalars_and_enums_encode_as_numbers() -> None:
    class Level(IntEnum):
        HIGH = 3

    assert (
        encoding.canonical({"a": np.float64(0.25), "b": Level.HIGH, "c": np.float64(2.0)})
        == '{"a":0.25,"b":3,"c":2}'
    )


def test_deep_nesting_rejected() -> None:
    v: object = 1
    for _ in range(100):
        v = [v]
    with pytest.raises(ValidationError, match="nesting"):
        encoding.canonical(v)
