"""Rendering and validation of evidence reports: offline HTML, rich terminal summary, JSON Schema check.

The HTML is one self-contained document: inline CSS and inline SVG charts generated here (per-group
bars with interval whiskers, the calibration curve, importance bars, flip rates), no script and no
external URL, so it can be archived next to the JSON and opened years later without network access.

The report model (:mod:`modeltrail.evidence.report`) does not know this module: rendering is a view of
the JSON document. Schema validation lives in :mod:`modeltrail.evidence.schema` (``validate_report`` and
``load_schema`` are re-exported here for existing imports).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jinja2
import markupsafe
from rich.table import Table

from modeltrail.evidence.report import Report
from modeltrail.evidence.schema import load_schema, validate_report

__all__ = [
    "Citation",
    "load_schema",
    "render_html",
    "render_index",
    "rich_summary",
    "svg_bars",
    "svg_calibration",
    "svg_confusion",
    "svg_histogram",
    "svg_roc",
    "validate_report",
]

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


@dataclass(frozen=True)
class Citation:
    """Where a report is recorded: its ``report.generated`` event, the JSON's sha256, the checkpoint.

    ``checkpoint_size`` / ``checkpoint_root`` (hex) name a signed checkpoint whose tree contains the event
    (``size > seq``); None when no checkpoint covers it yet.
    """

    seq: int
    report_sha256: str
    checkpoint_size: int | None = None
    checkpoint_root: str | None = None
    origin: str | None = None


def svg_roc(fpr: Sequence[float], tpr: Sequence[float], auc: float | None, title: str = "ROC curve") -> str:
    """ROC curve (true positive rate against false positive rate) with the chance diagonal."""
    size, pad = 300, 40

    def px(v: float) -> float:
        return pad + v * size

    def py(v: float) -> float:
        return pad + size - v * size

    points = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(fpr, tpr, strict=True))
    label = f"{title} (AUC {auc:.3f})" if auc is not None else title
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{size + 2 * pad}" '
        f'height="{size + 2 * pad}" role="img" aria-label="{html.escape(label)}">',
        f'<text x="{pad}" y="{pad - 18}" class="t">{html.escape(label)}</text>',
        f'<rect x="{pad}" y="{pad}" width="{size}" height="{size}" class="frame"/>',
        f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" class="ref"/>',
        f'<polyline points="{points}" fill="none" stroke="{_PALETTE[1]}" stroke-width="2"/>',
    ]
    for t in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{px(t):.1f}" y="{pad + size + 16}" text-anchor="middle">{t:.1f}</text>')
        parts.append(f'<text x="{pad - 6}" y="{py(t) + 4:.1f}" text-anchor="end">{t:.1f}</text>')
    parts.append(
        f'<text x="{pad + size / 2}" y="{pad + size + 34}" text-anchor="middle">false positive rate</text></svg>'
    )
    return "".join(parts)


def svg_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str = "Confusion matrix") -> str:
    """2x2 confusion matrix as shaded cells (rows: true class, columns: decision) with counts."""
    cell, pad, left = 110, 30, 110  # a cell is as wide as its "decided negative" header
    total = max(sum(sum(r) for r in matrix), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{left + 2 * cell + pad}" '
        f'height="{pad * 2 + 2 * cell + 20}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="8" y="18" class="t">{html.escape(title)}</text>',
    ]
    for i, row in enumerate(matrix):
        y = pad + 20 + i * cell
        parts.append(f'<text x="{left - 6}" y="{y + cell / 2}" text-anchor="end">true {html.escape(labels[i])}</text>')
        for j, count in enumerate(row):
            x = left + j * cell
            shade = 0.15 + 0.75 * count / total
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{_PALETTE[0]}" '
                f'fill-opacity="{shade:.2f}"/><text x="{x + cell / 2}" y="{y + cell / 2 + 4}" '
                f'text-anchor="middle">{int(count)}</text>'
            )
    for j, name in enumerate(labels):
        parts.append(
            f'<text x="{left + j * cell + cell / 2}" y="{pad + 14}" text-anchor="middle">'
            f"decided {html.escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_histogram(title: str, edges: Sequence[float | None], counts: Sequence[int]) -> str:
    """Histogram of a numeric column: one bar per bin, the range under the axis."""
    width, height, pad = 320, 140, 24
    top = max([*counts, 1])
    bw = width / max(len(counts), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width + 2 * pad}" '
        f'height="{height + 2 * pad + 14}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{pad}" y="16" class="t">{html.escape(title[:48])}</text>',
    ]
    for i, c in enumerate(counts):
        h = height * c / top
        parts.append(
            f'<rect x="{pad + i * bw:.1f}" y="{pad + height - h:.1f}" width="{max(bw - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="{_PALETTE[2]}"><title>{int(c)}</title></rect>'
        )
    lo, hi = edges[0], edges[-1]
    parts.append(f'<text x="{pad}" y="{pad + height + 14}">{_fmt(lo, 3)}</text>')
    parts.append(f'<text x="{pad + width}" y="{pad + height + 14}" text-anchor="end">{_fmt(hi, 3)}</text>')
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
        if body.get("roc_curve"):
            roc = body["roc_curve"]
            charts.append(svg_roc(roc["fpr"], roc["tpr"], body.get("overall", {}).get("roc_auc")))
        if "confusion_matrix" in body:
            cm = body["confusion_matrix"]
            charts.append(svg_confusion(cm["matrix"], cm["labels"], f"Confusion matrix ({cm['decision']})"))
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
    elif report.kind == "data":
        for col in body.get("columns", []):
            hist = col.get("histogram")
            if hist:
                charts.append(svg_histogram(f"{col['name']} (distribution)", hist["edges"], hist["counts"]))
            elif col.get("top_values"):
                total = sum(v["count"] for v in col["top_values"]) or 1
                items = [(v["value"], v["count"] / total, None) for v in col["top_values"]]
                charts.append(svg_bars(f"{col['name']} (share of the top values)", items, max_value=1.0))
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


def render_html(report: Report, citation: Citation | None = None) -> str:
    """Self-contained offline HTML page of ``report`` (inline CSS and SVG, no script, no external URL).

    With ``citation`` the page names the ledger event that recorded the report, the sha256 of its JSON
    document and the checkpoint whose tree contains that event, so a reader can check the page against
    the trail (``modeltrail prove SEQ``).
    """
    intervals = _headline_intervals(report)
    return _template().render(
        report=report,
        title=f"{report.kind.capitalize()} report",
        citation=citation,
        headline=[(k, v, intervals.get(k)) for k, v in _headline(report)],
        grouped=sorted((k, v) for k, v in report.metrics.items() if "[" in k),
        charts=[markupsafe.Markup(c) for c in _charts(report)],  # generated here, labels escaped
        body_json=json.dumps(report.body, indent=2, sort_keys=True, ensure_ascii=False),
    )


_INDEX = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Evidence for {{ subject }} — modeltrail</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; color: #222; margin: 2rem auto; max-width: 1000px; padding: 0 1rem; }
table { border-collapse: collapse; } th, td { text-align: left; padding: .25rem .8rem .25rem 0;
border-bottom: 1px solid #eee; vertical-align: top; } code { font-size: 12px; } .meta { color: #666; }
</style></head><body>
<h1>Evidence for {{ subject }}</h1>
<p class="meta">Every report recorded about {{ subject }}{% if origin %} in trail {{ origin }}{% endif %}, newest
first. Each page names its event, the sha256 of its JSON and the checkpoint that covers it.</p>
<table>
<tr><th>report</th><th>event</th><th>headline</th><th>warnings</th><th>JSON sha256</th><th>checkpoint</th></tr>
{% for e in entries %}
<tr><td><a href="{{ e.html }}">{{ e.kind }}</a><br><span class="meta">{{ e.created_at }}</span></td>
<td>seq {{ e.citation.seq }}</td>
<td>{% for name, value, ci in e.headline %}{{ name }} {{ "%.4g" | format(value) }}{% if ci %}
 [{{ "%.3g" | format(ci[0]) }}, {{ "%.3g" | format(ci[1]) }}]{% endif %}<br>{% endfor %}</td>
<td>{{ e.warnings }}</td><td><code>{{ e.citation.report_sha256[:16] }}…</code></td>
<td>{% if e.citation.checkpoint_size is not none %}size {{ e.citation.checkpoint_size }}<br>
<code>{{ e.citation.checkpoint_root[:16] }}…</code>{% else %}none yet{% endif %}</td></tr>
{% endfor %}
</table></body></html>
"""
)

_INDEX_HEADLINE = {
    "performance": ("performance.roc_auc", "performance.accuracy", "performance.r2"),
    "fairness": (
        "fairness.demographic_parity_difference",
        "fairness.equalized_odds_difference",
        "fairness.disparate_impact",
    ),
    "explainability": ("explainability.top_feature_share",),
    "robustness": ("robustness.flip_rate_noise", "robustness.accuracy_drop_noise", "robustness.crash_count"),
    "data": ("data.missing_rate", "data.pii_findings", "data.duplicate_rate"),
}


def render_index(subject: str, reports: Sequence[tuple[Report, Citation, str]], origin: str | None = None) -> str:
    """Index page linking every report of one model version (or dataset): ``(report, citation, href)``."""
    entries = []
    for report, citation, href in reports:
        cis = _headline_intervals(report)
        names = _INDEX_HEADLINE.get(report.kind, ())
        headline = [(n, report.metrics[n], cis.get(n)) for n in names if n in report.metrics]
        entries.append(
            {
                "kind": report.kind,
                "created_at": report.created_at,
                "citation": citation,
                "html": href,
                "headline": headline,
                "warnings": len(report.warnings),
            }
        )
    return _INDEX.render(subject=subject, entries=entries, origin=origin)


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
    """Intervals of the headline (ungrouped) figures that the report has them for."""
    out: dict[str, tuple[float, float]] = {}
    body = report.body
    if report.kind == "performance":
        ci = body.get("overall", {}).get("ci", {})
        for k, pair in ci.items():
            if pair[0] is not None and pair[1] is not None:
                out[f"performance.{k}"] = (pair[0], pair[1])
    elif report.kind == "fairness":
        # An aggregate (worst case over the attributes) takes the interval of the attribute that sets it.
        for key, value in report.metrics.items():
            if "[" in key or not key.startswith("fairness."):
                continue
            name = key.removeprefix("fairness.")
            for attr in body.get("attributes", []):
                d = attr.get("disparities", {}).get(name)
                if isinstance(d, dict) and d.get("value") == value and d.get("ci") and None not in d["ci"]:
                    out[key] = (d["ci"][0], d["ci"][1])
                    break
    return out
