"""JSON Schema validation of evidence report documents (no rendering, no third-party validator).

Schemas live in ``modeltrail/data/schemas/report-<kind>-v<version>.json``. :func:`validate_report` checks a
report document against its schema with a small validator written here for the JSON Schema subset those
files use (``type``, ``required``, ``properties``, ``additionalProperties``, ``items``, ``enum``,
``const``, ``minimum``, ``maximum``, ``minItems``, ``maxItems``): the project does not depend on
``jsonschema``, and the subset keeps the check dependency-free and fast.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from modeltrail.errors import NotFoundError, ValidationError

__all__ = ["load_schema", "validate_report"]


@cache
def load_schema(kind: str, version: int = 1) -> dict[str, Any]:
    """The JSON Schema of report ``kind`` at ``version`` shipped with the package."""
    path = resources.files("modeltrail").joinpath(f"data/schemas/report-{kind}-v{version}.json")
    if not path.is_file():
        raise NotFoundError(f"no schema for {kind} reports version {version}")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _type_ok(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def _check(value: Any, schema: dict[str, Any], path: str) -> None:
    if "const" in schema and value != schema["const"]:
        raise ValidationError(f"expected {schema['const']!r}, got {value!r}", field=path)
    if "enum" in schema and value not in schema["enum"]:
        raise ValidationError(f"expected one of {schema['enum']}, got {value!r}", field=path)
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, t) for t in names):
            raise ValidationError(f"expected {' or '.join(names)}, got {type(value).__name__}", field=path)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise ValidationError(f"{value} is below {schema['minimum']}", field=path)
        if "maximum" in schema and value > schema["maximum"]:
            raise ValidationError(f"{value} is above {schema['maximum']}", field=path)
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                raise ValidationError("is required", field=f"{path}.{key}" if path else key)
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if key in props:
                _check(item, props[key], sub)
            elif extra is False:
                raise ValidationError("is not allowed", field=sub)
            elif isinstance(extra, dict):
                _check(item, extra, sub)
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise ValidationError(f"needs at least {schema['minItems']} items", field=path)
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise ValidationError(f"allows at most {schema['maxItems']} items", field=path)
        if "items" in schema:
            for i, item in enumerate(value):
                _check(item, schema["items"], f"{path}[{i}]")


def validate_report(document: dict[str, Any]) -> None:
    """Check a report document (``Report.to_dict()`` or parsed JSON) against its versioned schema.

    Raises :class:`~modeltrail.errors.ValidationError` naming the first offending field, or
    :class:`~modeltrail.errors.NotFoundError` for an unknown kind or version.
    """
    if not isinstance(document, dict):
        raise ValidationError("a report document is a JSON object")
    kind, version = document.get("kind"), document.get("schema_version")
    if not isinstance(kind, str) or not isinstance(version, int):
        raise ValidationError("kind and schema_version are required", field="kind")
    _check(document, load_schema(kind, version), "")
