"""Recording a risk classification (:func:`modeltrail.registry.classify.classify`) as a ``system.classified`` event.

The questionnaire and the classifier are :mod:`modeltrail.registry.classify` (no ledger access); this
module records their outcome with who answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import ValidationError
from ..events import Actor, Receipt
from ..identity import Identity, acting_actor
from .classify import Classification, classify

if TYPE_CHECKING:
    from ..trail import Trail


def record_classification(
    trail: Trail, system: str, answers: Mapping[str, object], *, actor: Actor | Identity
) -> tuple[Classification, Receipt]:
    """Classify ``system`` from questionnaire ``answers`` and record the outcome with who answered.

    The payload holds the tier, the reasons with their article references and the answers (see
    :meth:`Classification.to_dict`). Raises :class:`ValidationError` naming the question for a bad answer;
    nothing is recorded then.
    """
    if not isinstance(system, str) or not system.strip():
        raise ValidationError("expected a system name", field="system")
    result = classify(answers)
    who = acting_actor(actor)
    receipt = trail.record(
        "system.classified",
        system=system,
        actor=who,
        subject=f"system:{system}",
        payload=result.to_dict(),
    )
    return result, receipt


def latest_classification(trail: Trail, system: str) -> tuple[int, dict[str, object]] | None:
    """(event seq, payload) of the latest classification of ``system``, or None."""
    ev = next(iter(trail.events("system.classified", system=system, descending=True, limit=1)), None)
    return None if ev is None else (ev.seq, dict(ev.payload))


__all__ = ["latest_classification", "record_classification"]
