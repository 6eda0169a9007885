"""The decision record: the payload of one ``inference.decision`` event (``docs/events.md``).

Its fields are the event's payload keys. The guard builds one per decision; the column-wise batch
encoder (:mod:`._encoding.columnar`) compiles its template from :func:`dataclasses.fields` of this
class, so a field added here cannot be left out of either path without the tests noticing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class DecisionRecord:
    """What the ledger keeps of one guarded decision."""

    decision_id: str
    model: str
    env: str
    input: dict[str, Any]
    """The input fields the data policy keeps in clear (sealed and dropped ones are not here)."""
    pseudonyms: dict[str, Any]
    output: Any
    score: float | None
    confidence: float | None
    latency_us: int
    route: str
    review_reasons: list[dict[str, Any]] | None
    explanation: list[list[Any]] | None
    fallback: str | None

    def payload(self) -> dict[str, Any]:
        """The event payload (a plain dictionary, one key per field)."""
        return {
            "decision_id": self.decision_id,
            "model": self.model,
            "env": self.env,
            "input": self.input,
            "pseudonyms": self.pseudonyms,
            "output": self.output,
            "score": self.score,
            "confidence": self.confidence,
            "latency_us": self.latency_us,
            "route": self.route,
            "review_reasons": self.review_reasons,
            "explanation": self.explanation,
            "fallback": self.fallback,
        }


__all__ = ["DecisionRecord"]
