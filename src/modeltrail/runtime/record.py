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
    """The guard's time for this decision; in a batch, its share of the batch's time (see ``batch_size``)."""
    route: str
    review_reasons: list[dict[str, Any]] | None
    explanation: list[list[Any]] | None
    fallback: str | None
    mode: str | None
    """How the served version is deployed (``live``, ``shadow``, ``canary``); None for a model that is not
    registered (a plain estimator or callable)."""
    batch_id: str | None
    """The id shared by the decisions of one ``decide_many`` call (None for a single ``decide``)."""
    batch_size: int | None
    """How many decisions that call made (None for a single ``decide``)."""

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
            "mode": self.mode,
            "batch_id": self.batch_id,
            "batch_size": self.batch_size,
        }


__all__ = ["DecisionRecord"]
