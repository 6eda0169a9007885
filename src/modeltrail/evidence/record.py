"""Store an evidence report in the blob store and record it as ``report.generated``.

The JSON document is stored content-addressed; the HTML rendering (when the renderer is available) is
stored too. The event carries the report's flat metrics, so gates read figures by name without opening
blobs, and refs point at the examined subject and at the stored document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

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


def record_report(
    trail: Trail,
    report: Report,
    *,
    subject: str,
    system: str,
    actor: Actor | Mapping[str, str],
    refs: Sequence[str] = (),
    out_dir: str | Path | None = None,
) -> RecordedReport:
    """Store ``report`` (JSON and HTML) and record ``report.generated`` about ``subject``.

    ``subject`` is the model or dataset reference the report examined (``model:credit@2``). When
    ``out_dir`` is given, ``<kind>-<subject>.json`` / ``.html`` copies are written there for people.
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
    if out_dir is not None:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{report.kind}-" + subject.replace(":", "_").replace("@", "-v").replace("/", "_")
        (folder / f"{stem}.json").write_bytes(doc)
        if html is not None:
            (folder / f"{stem}.html").write_text(html, encoding="utf-8")
    return RecordedReport(receipt, report_sha, html_sha, subject)
