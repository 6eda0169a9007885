"""The shape of a generated document: sections made of blocks, each block citing the events it rests on.

A document kind (:mod:`modeltrail.documents.kinds`) builds a :class:`Document` from collected evidence;
the renderers (:mod:`modeltrail.documents.render`) turn it into Markdown, HTML or PDF through Jinja2
templates. Nothing in a document is free text typed at generation time: a value comes from an event, or
the block says explicitly that it awaits a statement by a named role, or that the trail holds no such
evidence (which the tests treat as a defect for anything evidence could fill).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Awaiting:
    """An open item: a statement a person must make (``modeltrail docs answer KEY``)."""

    key: str
    title: str
    role: str
    raised: str | None = None
    """When a generated document first listed the item (ISO 8601), None if this is the first."""
    due: str | None = None
    how: str = ""
    """The command that answers it (default: ``modeltrail docs answer KEY --text …``)."""

    @property
    def command(self) -> str:
        """How to answer the item."""
        return self.how or f"modeltrail docs answer {self.key} --system SYSTEM --text '…'"


@dataclass
class Field:
    """One labelled value. ``value`` None means ``awaiting`` (a statement) or ``missing`` (no evidence)."""

    label: str
    value: str | None = None
    seqs: tuple[int, ...] = ()
    awaiting: Awaiting | None = None
    missing: str | None = None
    """What evidence would fill the field, when the trail has none (an evidence gap, never silent)."""

    @property
    def kind(self) -> str:
        """``value``, ``awaiting`` or ``missing``."""
        if self.value is not None:
            return "value"
        return "awaiting" if self.awaiting is not None else "missing"


@dataclass
class Table:
    """Rows of cells under column names, with the events they come from."""

    columns: list[str]
    rows: list[list[str]]
    seqs: tuple[int, ...] = ()
    caption: str = ""
    empty: str = "none recorded"
    """What an empty table means, stated (e.g. "no serious incident recorded in the trail")."""

    kind: str = "table"


@dataclass
class Chart:
    """A horizontal bar chart (rendered as inline SVG in HTML, as a table in Markdown)."""

    title: str
    bars: list[tuple[str, float]]
    seqs: tuple[int, ...] = ()
    limit: float | None = None
    limit_label: str = ""
    kind: str = "chart"


@dataclass
class Text:
    """A paragraph stated from evidence (e.g. "not yet monitored: no monitor.* events in the trail")."""

    text: str
    seqs: tuple[int, ...] = ()
    kind: str = "text"


Block = Field | Table | Chart | Text


@dataclass
class Section:
    """A numbered part of a document, naming the catalogue requirements it answers."""

    id: str
    title: str
    requirements: tuple[str, ...] = ()
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Section:
        """Append blocks; returns the section for chaining."""
        self.blocks.extend(blocks)
        return self


@dataclass
class Document:
    """A document of one kind for one subject, before rendering."""

    kind: str
    title: str
    subject: str
    system: str
    sections: list[Section] = field(default_factory=list)
    data: dict[str, Any] | None = None
    """Machine-readable form (Annex VIII registration data), rendered as JSON."""

    def fields(self) -> list[Field]:
        """Every field of every section."""
        return [b for s in self.sections for b in s.blocks if isinstance(b, Field)]

    def open_items(self) -> list[Awaiting]:
        """The statements this document waits for, once each, in order."""
        seen: dict[str, Awaiting] = {}
        for f in self.fields():
            if f.awaiting is not None and f.awaiting.key not in seen:
                seen[f.awaiting.key] = f.awaiting
        return list(seen.values())

    def gaps(self) -> list[str]:
        """Labels of fields that evidence could fill but the trail holds none for."""
        return [f"{f.label}: {f.missing}" for f in self.fields() if f.kind == "missing"]

    def seqs(self) -> set[int]:
        """Every event seq cited by a block."""
        out: set[int] = set()
        for s in self.sections:
            for b in s.blocks:
                out.update(b.seqs)
        return out
