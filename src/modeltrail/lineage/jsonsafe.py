"""Turning user values (params, tags, profile figures) into JSON-safe payload values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MAX_SAFE_INT = 2**53


def json_value(value: Any) -> Any:
    """``value`` as a JSON-safe payload value.

    Strings, booleans and None stay; numpy scalars become Python numbers; integers outside ±2^53 and
    non-finite floats become strings (the ledger accepts neither, and a param must not be lost); lists,
    tuples and mappings are converted element-wise; anything else becomes ``str(value)``.
    """
    if value is None or isinstance(value, bool | str):
        return value
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        try:
            value = item()
        except (TypeError, ValueError):
            return str(value)
        if isinstance(value, bool | str) or value is None:
            return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INT <= value <= MAX_SAFE_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    return str(value)


def finite_float(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is not a real finite number (bools are not numbers)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
