"""The requirement catalogue: obligations of the EU AI Act (and a few GDPR articles) as typed records.

The catalogue ships with the package (``modeltrail/data/eu-ai-act.yaml``) and is the single source of article
references for risk classification, policy gates, generated documents and compliance status. Ids such as
``art12.1`` or ``annex3.5`` are stable keys: code refers to requirements only through them.

>>> cat = load_catalogue()
>>> cat.get("annex3.5").article
'Annex III(5)'
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from modeltrail.errors import NotFoundError, ValidationError

KINDS = ("M", "H", "N")
"""Requirement kinds: machine-checkable, human-attested, not a tooling check."""

TIERS = ("prohibited", "high", "limited", "minimal", "gpai")
"""Risk tiers a requirement can be expected for."""

ROLES = ("provider", "deployer", "importer", "distributor", "gpai_provider")
"""Operator roles a requirement can apply to."""

AI_ACT = "EU 2024/1689"

_REQUIRED = ("id", "article", "title", "summary", "kind", "evidence", "applies_to", "risk_tiers")
_OPTIONAL = (
    "deadline",
    "retention",
    "applies_from",
    "amended_by",
    "formerly",
    "regulation",
    "unverified",
)


@dataclass(frozen=True)
class Requirement:
    """One obligation of the catalogue (see ``data/README.md`` and the catalogue README for the fields)."""

    id: str
    article: str
    title: str
    summary: str
    kind: str
    evidence: tuple[str, ...]
    applies_to: tuple[str, ...]
    risk_tiers: tuple[str, ...]
    deadline: str | None = None
    retention: str | None = None
    applies_from: str | None = None
    amended_by: str | None = None
    formerly: str | None = None
    regulation: str = AI_ACT
    unverified: bool = False


@dataclass(frozen=True)
class Catalogue:
    """The whole catalogue: regulation metadata plus the requirements in file order."""

    version: str
    regulation: Mapping[str, Any]
    kinds: Mapping[str, str]
    risk_tiers: Mapping[str, str]
    requirements: list[Requirement]
    _by_id: Mapping[str, Requirement] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id: dict[str, Requirement] = {}
        for req in self.requirements:
            if req.id in by_id:
                raise ValidationError("duplicate requirement id", field=f"requirements.{req.id}")
            by_id[req.id] = req
        # The dataclass is frozen; the index is derived data, so set it once here.
        object.__setattr__(self, "_by_id", by_id)

    def __contains__(self, requirement_id: object) -> bool:
        return requirement_id in self._by_id

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self.requirements)

    def __len__(self) -> int:
        return len(self.requirements)

    @property
    def ids(self) -> list[str]:
        """All requirement ids in file order."""
        return [r.id for r in self.requirements]

    def get(self, requirement_id: str) -> Requirement:
        """The requirement with this id; :class:`NotFoundError` if the catalogue has none."""
        try:
            return self._by_id[requirement_id]
        except KeyError:
            raise NotFoundError(f"no requirement {requirement_id!r} in catalogue {self.version}") from None

    def filter(
        self,
        *,
        tier: str | None = None,
        kind: str | None = None,
        applies_to: str | None = None,
        prefix: str | None = None,
    ) -> list[Requirement]:
        """Requirements matching every given criterion (tier, kind, operator role, id prefix)."""
        for name, value, allowed in (
            ("tier", tier, TIERS),
            ("kind", kind, KINDS),
            ("applies_to", applies_to, ROLES),
        ):
            if value is not None and value not in allowed:
                raise ValidationError(f"expected one of {', '.join(allowed)}, got {value!r}", field=name)
        return [
            r
            for r in self.requirements
            if (tier is None or tier in r.risk_tiers)
            and (kind is None or r.kind == kind)
            and (applies_to is None or applies_to in r.applies_to)
            and (prefix is None or r.id == prefix or r.id.startswith(prefix + "."))
        ]


def _str_tuple(raw: Any, where: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ValidationError("expected a list of strings", field=where)
    if allowed is not None:
        for item in raw:
            if item not in allowed:
                raise ValidationError(f"expected one of {', '.join(allowed)}, got {item!r}", field=where)
    return tuple(raw)


def _requirement(raw: Any, index: int) -> Requirement:
    if not isinstance(raw, dict):
        raise ValidationError("expected a mapping", field=f"requirements[{index}]")
    where = f"requirements.{raw.get('id', index)}"
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise ValidationError(f"missing {', '.join(missing)}", field=where)
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ValidationError(f"unknown keys {', '.join(unknown)}", field=where)
    for key in ("id", "article", "title", "summary", "kind"):
        if not isinstance(raw[key], str):
            raise ValidationError("expected a string", field=f"{where}.{key}")
    if raw["kind"] not in KINDS:
        raise ValidationError(f"expected one of {', '.join(KINDS)}", field=f"{where}.kind")
    optional: dict[str, Any] = {}
    for key in _OPTIONAL:
        if key in raw:
            value = raw[key]
            ok = isinstance(value, bool) if key == "unverified" else isinstance(value, str)
            if not ok:
                raise ValidationError("wrong type", field=f"{where}.{key}")
            optional[key] = value
    return Requirement(
        id=raw["id"],
        article=raw["article"],
        title=raw["title"],
        summary=" ".join(raw["summary"].split()),
        kind=raw["kind"],
        evidence=_str_tuple(raw["evidence"], f"{where}.evidence"),
        applies_to=_str_tuple(raw["applies_to"], f"{where}.applies_to", ROLES),
        risk_tiers=_str_tuple(raw["risk_tiers"], f"{where}.risk_tiers", TIERS),
        **optional,
    )


def parse_catalogue(text: str) -> Catalogue:
    """Build a :class:`Catalogue` from a catalogue file's YAML text; :class:`ValidationError` if malformed."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("requirements"), list):
        raise ValidationError("expected a mapping with a 'requirements' list", field="requirements")
    return Catalogue(
        version=str(data.get("version", "")),
        regulation=dict(data.get("regulation") or {}),
        kinds={str(k): " ".join(str(v).split()) for k, v in (data.get("kinds") or {}).items()},
        risk_tiers={str(k): " ".join(str(v).split()) for k, v in (data.get("risk_tiers") or {}).items()},
        requirements=[_requirement(r, i) for i, r in enumerate(data["requirements"])],
    )


@functools.cache
def _packaged() -> Catalogue:
    text = (
        resources.files("modeltrail").joinpath("data").joinpath("eu-ai-act.yaml").read_text(encoding="utf-8")
    )
    return parse_catalogue(text)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """The requirement catalogue: the packaged one (parsed once, then cached), or the file at ``path``."""
    if path is None:
        return _packaged()
    return parse_catalogue(Path(path).read_text(encoding="utf-8"))
