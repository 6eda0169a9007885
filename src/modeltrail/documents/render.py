"""Render a :class:`~modeltrail.documents.model.Document` as Markdown, self-contained HTML or PDF.

Templates are Jinja2 files named ``KIND.md.j2`` and ``KIND.html.j2`` (each extends ``base.md.j2`` /
``base.html.j2``). The packaged ones live in ``modeltrail/templates/documents/``; a folder given by the
caller (``--templates DIR``), else ``$MODELTRAIL_TEMPLATES``, else ``<project>/templates/documents`` next to
the trail folder, is searched first, so a user overrides one kind (or the base layout) by dropping a file of
the same name there. Charts are drawn here as inline SVG (no script, no external resource: the HTML opens
offline); PDF is the HTML printed by WeasyPrint (the ``[pdf]`` extra) as PDF/A-3b.
"""

from __future__ import annotations

import functools
import html
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ..errors import ModeltrailError, ValidationError
from .model import Chart, Document

FORMATS = ("md", "html", "pdf", "json")
"""Output formats; ``json`` exists for the registration data only."""


def template_dirs(project_root: Path | None, override: str | os.PathLike[str] | None = None) -> list[Path]:
    """The user template folders searched before the packaged templates, most specific first."""
    out: list[Path] = []
    if override is not None:
        p = Path(override)
        if not p.is_dir():
            raise ValidationError(f"{p} is not a folder", field="templates")
        out.append(p)
    env = os.environ.get("MODELTRAIL_TEMPLATES")
    if env:
        out.append(Path(env))
    if project_root is not None and (project_root / "templates" / "documents").is_dir():
        out.append(project_root / "templates" / "documents")
    return out


def svg_chart(chart: Chart, width: int = 560) -> Markup:
    """A horizontal bar chart as inline SVG, with the limit drawn as a dashed line when there is one."""
    bars = chart.bars
    row, label_w, pad = 22, 190, 8
    height = row * len(bars) + 2 * pad + 14
    top = max([abs(v) for _, v in bars] + [abs(chart.limit) if chart.limit is not None else 0.0] + [1e-12])
    plot = width - label_w - 70

    def x(v: float) -> float:
        return label_w + plot * abs(v) / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(chart.title)}"><title>{html.escape(chart.title)}</title>'
    ]
    for i, (label, v) in enumerate(bars):
        y = pad + i * row
        over = chart.limit is not None and abs(v) > chart.limit
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">{html.escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{x(v) - label_w:.1f}" height="14" '
            f'fill="{"#c0392b" if over else "#2e6da4"}"/>'
            f'<text x="{x(v) + 4:.1f}" y="{y + 15}" font-size="12">{v:.3f}</text>'
        )
    if chart.limit is not None:
        lx = x(chart.limit)
        parts.append(
            f'<line x1="{lx:.1f}" y1="{pad}" x2="{lx:.1f}" y2="{height - 14}" stroke="#333" stroke-dasharray="4 3"/>'
            f'<text x="{lx:.1f}" y="{height - 2}" font-size="11" text-anchor="middle">limit {chart.limit:g}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _environment(dirs: list[Path]) -> jinja2.Environment:
    return _cached_environment(tuple(str(d) for d in dirs))


@functools.lru_cache(maxsize=16)
def _cached_environment(dirs: tuple[str, ...]) -> jinja2.Environment:
    # One environment per folder list: Jinja2 caches compiled templates per environment (and re-reads a
    # user's template when its file changes), so documents do not recompile the layout every time.
    loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(list(dirs)), jinja2.PackageLoader("modeltrail", "templates/documents")]
    )
    env = jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["svg"] = svg_chart
    env.filters["md_cell"] = _md_cell
    return env


def render_text(doc: Document, fmt: str, context: Mapping[str, Any], dirs: list[Path] | None = None) -> str:
    """The document as Markdown (``md``), HTML (``html``) or JSON (``json``, registration data)."""
    if fmt == "json":
        if doc.data is None:
            raise ValidationError(f"the {doc.kind} document has no JSON form; expected md, html or pdf", field="format")
        # A null value is never silent: every statement still awaited is listed with who makes it and how.
        items = [
            {"key": a.key, "statement": a.title, "role": a.role, "raised": a.raised, "due": a.due, "how": a.command}
            for a in doc.open_items()
        ]
        body = {**doc.data, "open_items": items, "provenance": {k: v for k, v in context.items() if k != "open_items"}}
        return json.dumps(body, indent=2, sort_keys=True, default=str) + "\n"
    if fmt not in ("md", "html"):
        raise ValidationError(f"expected one of {', '.join(FORMATS)}, got {fmt!r}", field="format")
    env = _environment(dirs or [])
    try:
        template = env.get_template(f"{doc.kind}.{fmt}.j2")
    except jinja2.TemplateNotFound:
        template = env.get_template(f"base.{fmt}.j2")
    try:
        return template.render(doc=doc, **context)
    except jinja2.TemplateError as exc:
        raise ModeltrailError(f"template {template.name} failed: {exc}") from exc


def pdf_available() -> bool:
    """Whether WeasyPrint (the ``[pdf]`` extra) can be imported."""
    try:
        import weasyprint  # type: ignore[import-untyped]  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def render_pdf(html_text: str) -> bytes:
    """The HTML printed as PDF/A-3b by WeasyPrint; :class:`ModeltrailError` when the extra is missing."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:
        raise ModeltrailError(
            "PDF output needs the [pdf] extra: pip install 'modeltrail[pdf]' (WeasyPrint with Pango)"
        ) from exc
    out: bytes = weasyprint.HTML(string=html_text).write_pdf(pdf_variant="pdf/a-3b")
    return out
