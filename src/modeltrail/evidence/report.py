"""The common shape of every evidence report.

A report is a JSON document with a versioned schema. ``metrics`` holds the flat figures that policy
gates read by name (``fairness.demographic_parity_difference``, ``performance.roc_auc`` ...); ``body``
holds everything else the report shows. Reports are stored content-addressed in the blob store and
recorded as a ledger event (see :mod:`modeltrail.evidence.record`). The model knows nothing of its
views: :func:`modeltrail.evidence.render.render_html` renders a report (``IPython.display.HTML`` of it
in a notebook).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

REPORT_KINDS = ("data", "fairness", "performance", "explainability", "robustness")


@dataclass
class Report:
    """One evidence report.

    ``kind`` is one of :data:`REPORT_KINDS`; ``subject`` names what was examined (dataset and/or model
    version references such as ``{"dataset": "dataset:german-credit@1a2b...", "model": "model:credit@2"}``);
    ``metrics`` maps dotted metric names to numbers (or, for per-group figures, ``name[group]`` keys);
    ``body`` is the full JSON-safe content; ``warnings`` are human-readable caveats (small groups, ...).
    """

    kind: str
    schema_version: int
    subject: dict[str, str]
    metrics: dict[str, float]
    body: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    created_at: str = ""
    undefined: dict[str, str] = field(default_factory=dict)
    """Metric names the report could not compute, with the reason (a gate on one of them fails, saying why)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary form (the stored document)."""
        return {
            "kind": self.kind,
            "schema": f"modeltrail/report/{self.kind}/v{self.schema_version}",
            "schema_version": self.schema_version,
            "subject": dict(self.subject),
            "metrics": dict(self.metrics),
            "body": self.body,
            "warnings": list(self.warnings),
            "created_at": self.created_at,
            **({"undefined": dict(self.undefined)} if self.undefined else {}),
        }

    def to_json(self) -> bytes:
        """Deterministic UTF-8 JSON bytes (sorted keys), suitable for content addressing."""
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, allow_nan=False).encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Inverse of :meth:`to_dict`."""
        return cls(
            kind=str(data["kind"]),
            schema_version=int(data["schema_version"]),
            subject={str(k): str(v) for k, v in data["subject"].items()},
            metrics={str(k): float(v) for k, v in data["metrics"].items()},
            body=dict(data["body"]),
            warnings=[str(w) for w in data.get("warnings", [])],
            created_at=str(data.get("created_at", "")),
            undefined={str(k): str(v) for k, v in data.get("undefined", {}).items()},
        )

    def validate(self) -> None:
        """Check :meth:`to_dict` against the report's versioned JSON Schema (raises ValidationError)."""
        from modeltrail.evidence.schema import validate_report

        validate_report(self.to_dict())
