"""Model references: ``credit@2``, ``model:credit@2`` or a bare name ``credit`` (every version)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ValidationError

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-/]{0,199}")


@dataclass(frozen=True)
class ModelRef:
    """A model name and, optionally, one of its versions."""

    name: str
    version: int | None = None

    @property
    def subject(self) -> str:
        """The event subject: ``model:<name>@<version>``, or ``model:<name>`` for every version."""
        return f"model:{self.name}" if self.version is None else f"model:{self.name}@{self.version}"

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


def parse_model_ref(text: str, *, require_version: bool = False, field: str = "model") -> ModelRef:
    """Parse ``name@version`` (optionally prefixed ``model:``); the version is a whole number >= 1."""
    if not isinstance(text, str):
        raise ValidationError(f"expected NAME@VERSION, got {type(text).__name__}", field=field)
    raw = text.strip()
    if raw.startswith("model:"):
        raw = raw[len("model:") :]
    name, sep, version = raw.rpartition("@")
    if not sep:
        name, version = raw, ""
    if not _NAME_RE.fullmatch(name):
        raise ValidationError(f"expected a model name like credit or credit@2, got {text!r}", field=field)
    if not version:
        if sep or require_version:
            raise ValidationError(f"expected NAME@VERSION such as credit@2, got {text!r}", field=field)
        return ModelRef(name)
    if not version.isdigit() or int(version) < 1:
        raise ValidationError(f"expected a version number >= 1 after '@', got {text!r}", field=field)
    return ModelRef(name, int(version))


def parse_subject(subject: str | None) -> ModelRef | None:
    """The model reference in an event subject, or None when the subject is not a model."""
    if not subject or not subject.startswith("model:"):
        return None
    try:
        return parse_model_ref(subject)
    except ValidationError:
        return None
