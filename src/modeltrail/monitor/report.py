# ruff: noqa: E501  (SVG and HTML fragments read better unbroken)
"""The monitoring report: time series per feature and metric, distribution overlays, alerts — as one HTML
page with inline SVG (no script, no external asset), citing the events it was built from and the signed
checkpoint covering them.

The charts are drawn by hand: a few polylines and bars in SVG are simpler and lighter than pulling a
plotting library into the core install, and they keep the page self-contained for an auditor.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .alerts import alerts
from .incidents import incidents
from .run import CHECKED
from .windows import model_ref

if TYPE_CHECKING:
    from ..trail import Trail

W, H, PAD = 560, 150, 32


def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _line_chart(
    title: str, xs: Sequence[str], series: dict[str, list[float | None]], levels: Sequence[float] = ()
) -> str:
    vals = [v for s in series.values() for v in s if v is not None and math.isfinite(v)] + list(levels)
    if not vals or not xs:
        return ""
    lo, hi = min(0.0, min(vals)), max(vals)
    hi = hi if hi > lo else lo + 1.0
    n = len(xs)

    def px(i: int) -> float:
        return PAD + (W - 2 * PAD) * (i / (n - 1) if n > 1 else 0.5)

    def py(v: float) -> float:
        return H - PAD + (2 * PAD - H) * (v - lo) / (hi - lo)

    parts = [f'<svg width="{W}" height="{H}" role="img" aria-label="{_esc(title)}"><title>{_esc(title)}</title>']
    parts.append(
        f'<rect x="{PAD}" y="{PAD / 2}" width="{W - 2 * PAD}" height="{H - 1.5 * PAD}" fill="#fafafa" stroke="#ddd"/>'
    )
    for lv, colour in zip(levels, ("#e0a800", "#c62828"), strict=False):
        parts.append(
            f'<line x1="{PAD}" x2="{W - PAD}" y1="{py(lv):.1f}" y2="{py(lv):.1f}" stroke="{colour}" stroke-dasharray="4 3"/>'
        )
    palette = ("#1565c0", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457")
    for k, (name, s) in enumerate(series.items()):
        pts = [f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(s) if v is not None and math.isfinite(v)]
        colour = palette[k % len(palette)]
        if len(pts) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{" ".join(pts)}"/>')
        for p in pts:
            x, y = p.split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="2.2" fill="{colour}"/>')
        parts.append(f'<text x="{W - PAD + 2}" y="{PAD + 12 * k}" font-size="10" fill="{colour}">{_esc(name)}</text>')
    parts.append(f'<text x="{PAD}" y="{H - 6}" font-size="10">{_esc(xs[0])}</text>')
    parts.append(f'<text x="{W - PAD}" y="{H - 6}" font-size="10" text-anchor="end">{_esc(xs[-1])}</text>')
    parts.append(
        f'<text x="4" y="{py(hi) + 4:.1f}" font-size="10">{hi:.3g}</text><text x="4" y="{py(lo):.1f}" font-size="10">{lo:.3g}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _overlay(title: str, keys: Sequence[str], ref: Sequence[float], cur: Sequence[float]) -> str:
    if not keys:
        return ""
    top = max([*ref, *cur, 1e-12])
    n = len(keys)
    bw = (W - 2 * PAD) / n
    parts = [f'<svg width="{W}" height="{H}" role="img" aria-label="{_esc(title)}"><title>{_esc(title)}</title>']
    for i, (r, c) in enumerate(zip(ref, cur, strict=True)):
        x = PAD + i * bw
        for v, colour, off in ((r, "#90a4ae", 0.0), (c, "#1565c0", bw / 2)):
            h = (H - 1.5 * PAD) * v / top
            parts.append(
                f'<rect x="{x + off:.1f}" y="{H - PAD - h:.1f}" width="{max(bw / 2 - 1, 0.5):.1f}" height="{h:.1f}" fill="{colour}"><title>{_esc(keys[i])}: {v:.4f}</title></rect>'
            )
    parts.append(f'<text x="{PAD}" y="{H - 6}" font-size="10">{_esc(keys[0])}</text>')
    parts.append(f'<text x="{W - PAD}" y="{H - 6}" font-size="10" text-anchor="end">{_esc(keys[-1])}</text>')
    parts.append(
        f'<text x="{W - PAD}" y="12" font-size="10" text-anchor="end"><tspan fill="#90a4ae">■ reference</tspan> <tspan fill="#1565c0">■ current</tspan></text></svg>'
    )
    return "".join(parts)


def monitoring_report(trail: Trail, model: str, env: str | None = None) -> str:
    """The HTML report of every recorded check of ``model`` (optionally one environment)."""
    ref = model_ref(model)
    checks = [e for e in trail.events(CHECKED, subject=ref) if env is None or e.payload.get("env") == env]
    cp = trail.latest_checkpoint()
    xs = [str(e.payload["window"].get("end") or e.ts)[:19] for e in checks]
    features = sorted({k for e in checks for k in (e.payload.get("drift") or {})})
    rules = sorted({k for e in checks for k in (e.payload.get("rule_values") or {})})
    body = [f"<h1>Monitoring report: {_esc(ref)}{' in ' + _esc(env) if env else ''}</h1>"]
    body.append(f"<p>{len(checks)} checked windows, events {', '.join(str(e.seq) for e in checks[:200])}")
    if cp is not None:
        covered = (
            "covers every cited event"
            if not checks or cp.size > checks[-1].seq
            else "does not yet cover the latest events"
        )
        body.append(f"; signed checkpoint of size {cp.size}, root <code>{cp.root.hex()}</code> ({covered})")
    body.append(".</p>")
    if checks:
        rule_metric = next(
            (f.get("metric") for e in checks for f in e.payload.get("findings", []) if f.get("rule") == "drift"), None
        )
        findings = [f for f in checks[-1].payload.get("findings", []) if f.get("rule") == "drift"]
        levels = [findings[0]["warn"], findings[0]["alert"]] if findings else []
        if rules:
            series = {c: [e.payload.get("rule_values", {}).get(c) for e in checks] for c in rules}
            body.append(
                f"<h2>Drift rule ({_esc(rule_metric)}) per feature</h2>" + _line_chart("drift rule", xs, series, levels)
            )
        body.append("<h2>Drift per feature (Evidently-default method)</h2><div>")
        for c in features:
            s = [(e.payload.get("drift") or {}).get(c, {}).get("value") for e in checks]
            method = next(((e.payload.get("drift") or {}).get(c, {}).get("method") for e in reversed(checks)), "")
            body.append(
                f"<figure><figcaption>{_esc(c)} ({_esc(method)})</figcaption>{_line_chart(c, xs, {c: s})}</figure>"
            )
        body.append("</div>")
        metrics = sorted({k for e in checks for k in (e.payload.get("estimated") or {})})
        if metrics:
            series = {
                m.removeprefix("performance."): [e.payload["estimated"].get(m, {}).get("value") for e in checks]
                for m in metrics
            }
            real = sorted({k for e in checks for k in (e.payload.get("performance") or {}) if k.count(".") == 1})
            for m in real:
                if m in metrics:
                    series[m.removeprefix("performance.") + " (labels)"] = [
                        e.payload.get("performance", {}).get(m) for e in checks
                    ]
            body.append(
                "<h2>Performance: CBPE estimates and realised figures</h2>" + _line_chart("performance", xs, series)
            )
        last = checks[-1]
        digest = last.payload.get("results_sha256")
        if digest and trail.blobs.exists(digest):
            full = json.loads(trail.blobs.get_bytes(digest))
            body.append(f"<h2>Distributions in the latest window (event {last.seq})</h2><div>")
            for c, d in sorted((full.get("distributions") or {}).items()):
                body.append(
                    f"<figure><figcaption>{_esc(c)}</figcaption>{_overlay(c, d['keys'], d['reference'], d['current'])}</figure>"
                )
            body.append("</div>")
    rows = [
        f"<tr><td>{a.seq}</td><td>{_esc(a.ts)}</td><td>{_esc(a.level)}</td><td>{_esc(', '.join(f['rule'] + ':' + str(f['metric']) for f in a.findings))}</td>"
        f"<td>{_esc(', '.join(a.actions))}</td><td>{_esc(a.cleared_by or 'open')}</td></tr>"
        for a in alerts(trail, ref, include_cleared=True)
    ]
    body.append(
        "<h2>Alerts</h2><table><tr><th>event</th><th>time</th><th>level</th><th>findings</th><th>actions</th><th>cleared by</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    inc_rows = [
        f"<tr><td>{_esc(i.id[:12])}</td><td>{_esc(i.type)}</td><td>{_esc(i.status)}</td><td>{_esc(i.deadline)}</td><td>{_esc(i.basis)}</td></tr>"
        for i in incidents(trail)
        if i.model == ref
    ]
    if inc_rows:
        body.append(
            "<h2>Serious incidents</h2><table><tr><th>id</th><th>type</th><th>status</th><th>deadline</th><th>basis</th></tr>"
            + "".join(inc_rows)
            + "</table>"
        )
    style = "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}figure{display:inline-block;margin:.5em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>Monitoring {_esc(ref)}</title><style>{style}</style></head><body>{''.join(body)}</body></html>"
