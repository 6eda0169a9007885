"""Rendering and validation of evidence reports: offline HTML, rich terminal summary, JSON Schema check.

The HTML is one self-contained document: inline CSS and inline SVG charts generated here (per-group
bars with interval whiskers, the calibration curve, importance bars, flip rates), no script and no
external URL, so it can be archived next to the JSON and opened years later without network access.

Schemas live in ``modeltrail/data/schemas/report-<kind>-v<version>.json``. :func:`validate_report` checks a
report document against its schema with a small validator written here for the JSON Schema subset those
files use (``type``, ``required``, ``properties``, ``additionalProperties``, ``items``, ``enum``,
``const``, ``minimum``, ``maximum``, ``minItems``, ``maxItems``): the project does not depend on
``jsonschema``, and the subset keeps the check dependency-free and fast; if ``jsonschema`` is installed
it is not needed.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import jinja2
import markupsafe
from rich.table import Table

from modeltrail.errors import NotFoundError, ValidationError
from modeltrail.evidence.report import Report

__all__ = ["load_schema", "render_html", "rich_summary", "svg_bars", "svg_calibration", "validate_report"]

_PALETTE = ("#2f6f9f", "#c8553d", "#588b4e", "#8c6bb1", "#d4a017", "#4a4a4a")


# --------------------------------------------------------------------------------------------------
# SVG charts
# --------------------------------------------------------------------------------------------------


def _fmt(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def svg_bars(
    title: str,
    items: Sequence[tuple[str, float | None, tuple[float | None, float | None] | None]],
    *,
    reference: float | None = None,
    max_value: float | None = None,
) -> str:
    """Horizontal bar chart: ``(label, value, (ci_low, ci_high) | None)`` rows; optional reference line."""
    row_h, label_w, bar_w, pad = 22, 220, 360, 8
    height = pad * 2 + 20 + row_h * max(len(items), 1)
    values = [v for _, v, _ in items if v is not None]
    values += [c for _, _, ci in items if ci for c in ci if c is not None]
    top = max_value if max_value is not None else max([*values, reference or 0.0, 1e-12])
    top = top if top > 0 else 1.0

    def x(v: float) -> float:
        return label_w + bar_w * max(0.0, min(v, top)) / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{label_w + bar_w + 70}" '
        f'height="{height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{pad}" y="{pad + 12}" class="t">{html.escape(title)}</text>',
    ]
    for i, (label, value, ci) in enumerate(items):
        y = pad + 20 + i * row_h
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{html.escape(label[:34])}</text>')
        if value is not None and math.isfinite(value):
            colour = _PALETTE[i % len(_PALETTE)]
            parts.append(
                f'<rect x="{label_w}" y="{y + 3}" width="{x(value) - label_w:.1f}" height="{row_h - 8}" '
                f'fill="{colour}"/>'
            )
            if ci and ci[0] is not None and ci[1] is not None:
                yc = y + row_h / 2 - 1
                parts.append(
                    f'<line x1="{x(ci[0]):.1f}" x2="{x(ci[1]):.1f}" y1="{yc}" y2="{yc}" class="ci"/>'
                    f'<line x1="{x(ci[0]):.1f}" x2="{x(ci[0]):.1f}" y1="{yc - 4}" y2="{yc + 4}" class="ci"/>'
                    f'<line x1="{x(ci[1]):.1f}" x2="{x(ci[1]):.1f}" y1="{yc - 4}" y2="{yc + 4}" class="ci"/>'
                )
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 14}">{_fmt(value)}</text>')
    if reference is not None:
        rx = x(reference)
        parts.append(f'<line x1="{rx:.1f}" x2="{rx:.1f}" y1="{pad + 16}" y2="{height - pad}" class="ref"/>')
    parts.append("</svg>")
    return "".join(parts)


def svg_calibration(curve: Sequence[dict[str, Any]], title: str = "Calibration curve") -> str:
    """Reliability diagram: fraction of positives against mean predicted probability, with the diagonal."""
    size, pad = 300, 40

    def px(v: float) -> float:
        return pad + v * size

    def py(v: float) -> float:
        return pad + size - v * size

    points = " ".join(f"{px(c['mean_predicted']):.1f},{py(c['fraction_positive']):.1f}" for c in curve)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{size + 2 * pad}" '
        f'height="{size + 2 * pad}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{pad}" y="{pad - 18}" class="t">{html.escape(title)}</text>',
        f'<rect x="{pad}" y="{pad}" width="{size}" height="{size}" class="frame"/>',
        f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" class="ref"/>',
        f'<polyline points="{points}" fill="none" stroke="{_PALETTE[0]}" stroke-width="2"/>',
    ]
    for c in curve:
        parts.append(
            f'<circle cx="{px(c["mean_predicted"]):.1f}" cy="{py(c["fraction_positive"]):.1f}" r="3.5" '
            f'fill="{_PALETTE[0]}"><title>{c["count"]} rows</title></circle>'
        )
    for t in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{px(t):.1f}" y="{pad + size + 16}" text-anchor="middle">{t:.1f}</text>')
        parts.append(f'<text x="{pad - 6}" y="{py(t) + 4:.1f}" text-anchor="end">{t:.1f}</text>')
    parts.append(
        f'<text x="{pad + size / 2}" y="{pad + size + 34}" text-anchor="middle">mean predicted probability</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _charts(report: Report) -> list[str]:
    body = report.body
    charts: list[str] = []
    if report.kind == "fairness":
        for attr in body.get("attributes", []):
            items = [
                (g["group"], g.get("selection_rate"), tuple(g["ci"]["selection_rate"]) if "ci" in g else None)
                for g in attr["groups"]
            ]
            charts.append(svg_bars(f"Selection rate by {attr['name']}", items, max_value=1.0))
            items = [(g["group"], g.get("tpr"), tuple(g["ci"]["tpr"]) if "ci" in g else None) for g in attr["groups"]]
            charts.append(svg_bars(f"True positive rate by {attr['name']}", items, max_value=1.0))
    elif report.kind == "performance":
        main = (
            "roc_auc"
            if "roc_auc" in body.get("overall", {})
            else ("accuracy" if body.get("task") == "classification" else "mae")
        )
        for attr in body.get("groups", []):
            items = [(g["group"], g.get(main), tuple(g["ci"][main]) if "ci" in g else None) for g in attr["groups"]]
            overall = body["overall"].get(main)
            charts.append(svg_bars(f"{main} by {attr['name']}", items, reference=overall))
        if "calibration" in body:
            charts.append(svg_calibration(body["calibration"]["curve"]))
    elif report.kind == "explainability":
        items = [(e["feature"], e.get("importance"), None) for e in body.get("importances", [])[:20]]
        charts.append(svg_bars(f"Feature importance ({body.get('method')})", items))
    elif report.kind == "robustness":
        checks = body.get("checks", {})
        flips: list[tuple[str, float | None, tuple[float | None, float | None] | None]] = [
            ("noise", checks.get("noise", {}).get("flip_rate"), None),
            ("missing values", checks.get("missing", {}).get("flip_rate"), None),
        ]
        flips += [
            (f"out of range: {c['column']}", c["flip_rate"], None)
            for c in checks.get("out_of_range", {}).get("columns", [])
        ]
        flips += [
            (f"unseen: {c['column']}", c["flip_rate"], None)
            for c in checks.get("unseen_category", {}).get("columns", [])
        ]
        charts.append(svg_bars("Share of decisions that flip", flips, max_value=1.0))
    return charts


# --------------------------------------------------------------------------------------------------
# HTML, rich, notebook
# --------------------------------------------------------------------------------------------------


@cache
def _template() -> jinja2.Template:
    text = resources.files("modeltrail").joinpath("templates/report.html.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(text)


def _headline(report: Report) -> list[tuple[str, float]]:
    return sorted((k, v) for k, v in report.metrics.items() if "[" not in k)


def render_html(report: Report) -> str:
    """Self-contained offline HTML page of ``report`` (inline CSS and SVG, no script, no external URL)."""
    return _template().render(
        report=report,
        title=f"{report.kind.capitalize()} report",
        headline=_headline(report),
        grouped=sorted((k, v) for k, v in report.metrics.items() if "[" in k),
        charts=[markupsafe.Markup(c) for c in _charts(report)],  # generated here, labels escaped
        body_json=json.dumps(report.body, indent=2, sort_keys=True, ensure_ascii=False),
    )


def rich_summary(report: Report) -> Table:
    """A rich table of the report's headline figures and warnings for the terminal."""
    subject = ", ".join(f"{k}={v}" for k, v in sorted(report.subject.items())) or "-"
    table = Table(title=f"{report.kind.capitalize()} report — {subject}", title_justify="left")
    table.add_column("figure", style="bold")
    table.add_column("value", justify="right")
    table.add_column("interval", justify="right")
    cis = _headline_intervals(report)
    for name, value in _headline(report):
        ci = cis.get(name)
        table.add_row(name, f"{value:.4g}", f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else "")
    for w in report.warnings[:10]:
        table.add_row("[yellow]warning[/yellow]", w, "")
    if len(report.warnings) > 10:
        table.add_row("[yellow]warning[/yellow]", f"... {len(report.warnings) - 10} more", "")
    return table


def _headline_intervals(report: Report) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    if report.kind == "performance":
        ci = report.body.get("overall", {}).get("ci", {})
        for k, pair in ci.items():
            if pair[0] is not None and pair[1] is not None:
                out[f"performance.{k}"] = (pair[0], pair[1])
    return out


# --------------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------------


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
