"""Store an evidence report in the blob store and record it as ``report.generated``.

The JSON document is stored content-addressed; the HTML rendering (when the renderer is available) is
stored too. The event carries the report's flat metrics, so gates read figures by name without opening
blobs, and refs point at the examined subject and at the stored document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..events import Actor, Receipt
from ..trail import Trail
from .report import Report


@dataclass(frozen=True)
class RecordedReport:
    """Where a recorded report lives: its event, and the blob digests of its JSON and HTML forms."""

    receipt: Receipt
    report_sha256: str
    html_sha256: str | None
    subject: str
    html_path: Path | None = None


def _stem(kind: str, subject: str) -> str:
    return f"{kind}-" + subject.replace(":", "_").replace("@", "-v").replace("/", "_")


def citation_for(trail: Trail, seq: int, report_sha256: str) -> Any:
    """The :class:`~modeltrail.evidence.render.Citation` of the report recorded in event ``seq``.

    The checkpoint cited is the first signed checkpoint whose tree contains the event (``size > seq``).
    """
    from .render import Citation

    covering = next((cp for cp in trail.checkpoints() if cp.size > seq), None)
    return Citation(
        seq=seq,
        report_sha256=report_sha256,
        checkpoint_size=covering.size if covering is not None else None,
        checkpoint_root=covering.root.hex() if covering is not None else None,
        origin=trail.origin,
    )


def write_index(trail: Trail, subject: str, out_dir: str | Path) -> Path:
    """Write ``index-<subject>.html`` and a cited HTML page of every report about ``subject`` into ``out_dir``.

    The pages are rendered from the stored JSON documents (the ledger is the source of truth), each
    naming its event, its sha256 and the checkpoint that covers it; the index links them, newest first.
    """
    from .render import render_html, render_index

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for ev in trail.events("report.generated", subject=subject, descending=True):
        digest = str(ev.payload["report_sha256"])
        report = Report.from_dict(json.loads(trail.blobs.get_bytes(digest)))
        citation = citation_for(trail, ev.seq, digest)
        name = f"{_stem(report.kind, subject)}-{ev.seq}.html"
        (folder / name).write_text(render_html(report, citation), encoding="utf-8")
        rows.append((report, citation, name))
    path = folder / f"index-{_stem('reports', subject)}.html"
    path.write_text(render_index(subject, rows, trail.origin), encoding="utf-8")
    return path


def record_report(
    trail: Trail,
    report: Report,
    *,
    subject: str,
    system: str,
    actor: Actor | Mapping[str, str],
    refs: Sequence[str] = (),
    out_dir: str | Path | None = None,
    checkpoint: bool = False,
) -> RecordedReport:
    """Store ``report`` (JSON and HTML) and record ``report.generated`` about ``subject``.

    ``subject`` is the model or dataset reference the report examined (``model:credit@2``). When
    ``out_dir`` is given, ``<kind>-<subject>.json`` / ``.html`` copies are written there for people; that
    HTML copy cites the event, the report's sha256 and the covering checkpoint (``checkpoint=True`` signs
    one right after the event so that there is one to cite). The stored HTML blob is the page without the
    citation: it is hashed into the event, which can not contain its own sequence number.
    """
    doc = report.to_json()
    report_sha = trail.blobs.put_bytes(doc)
    html_sha: str | None = None
    html: str | None = None
    try:
        from .render import render_html
    except ImportError:  # the renderer is optional in minimal installs
        render_html = None  # type: ignore[assignment]
    if render_html is not None:
        html = render_html(report)
        html_sha = trail.blobs.put_bytes(html.encode("utf-8"))
    payload = {
        "kind": report.kind,
        "schema": f"modeltrail/report/{report.kind}/v{report.schema_version}",
        "report_sha256": report_sha,
        "html_sha256": html_sha,
        "metrics": {k: float(v) for k, v in report.metrics.items()},
        "warnings": list(report.warnings)[:50],
    }
    if report.undefined:
        payload["undefined"] = dict(report.undefined)
    all_refs = [subject, f"blob:sha256:{report_sha}", *refs]
    receipt = trail.record(
        "report.generated", system=system, actor=actor, subject=subject, payload=payload, refs=all_refs
    )
    if checkpoint:
        trail.checkpoint()
    html_path: Path | None = None
    if out_dir is not None:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stem = _stem(report.kind, subject)
        (folder / f"{stem}.json").write_bytes(doc)
        if render_html is not None:
            html_path = folder / f"{stem}.html"
            cited = render_html(report, citation_for(trail, receipt.seq, report_sha))
            html_path.write_text(cited, encoding="utf-8")
    return RecordedReport(receipt, report_sha, html_sha, subject, html_path)
