"""The reserved governance namespace and the internal append path of the operations that check its rules.

An approval, a deployment or a suspension means something only if the rules were checked when it was
written: who may approve, four-eyes, a passed gate, complete approvals. Generic ingest
(:meth:`Trail.record`, :meth:`Trail.record_many`, ``modeltrail record``, ``POST /v1/events``) therefore
refuses these types, naming the command that writes them; the library operations append through
:func:`record_governed`. What goes around the library (a direct append to the database) is caught on
replay (:mod:`modeltrail.governance.rules`) and by ``modeltrail audit check``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..events import Actor, EventInput, PreparedEvent, Receipt, prepare

if TYPE_CHECKING:
    from ..trail import Trail

#: Reserved event type -> the command (or library function) that writes it after checking its rules.
RESERVED: Mapping[str, str] = {
    "trail.initialized": "modeltrail init",
    "key.rotated": "modeltrail key rotate",
    "key.rotation_refused": "modeltrail key rotate",
    "policy.registered": "modeltrail policy set (a high-risk change: modeltrail policy approve)",
    "policy.proposed": "modeltrail policy set",
    "gate.evaluated": "modeltrail gate check",
    "model.approved": "modeltrail approve",
    "model.approval_refused": "modeltrail approve",
    "model.rejected": "modeltrail reject",
    "model.approval_revoked": "modeltrail revoke-approval",
    "model.deployed": "modeltrail deploy",
    "model.suspended": "modeltrail suspend",
    "model.resumed": "modeltrail resume",
    "model.retired": "modeltrail retire",
    "model.break_glass": "modeltrail deploy --break-glass",
    "model.action_refused": "modeltrail suspend / resume",
    "oversight.reviewed": "modeltrail review decide",
    "oversight.overridden": "modeltrail review decide",
    "oversight.revealed": "modeltrail reveal",
    "oversight.reveal_refused": "modeltrail reveal",
    "token.created": "modeltrail token create",
    "token.revoked": "modeltrail token revoke",
    "token.refused": "modeltrail token create / revoke",
    # Written by operations later releases add; reserved now so no old client can write them first.
    "subject.erased": "the erasure operation (modeltrail erase)",
    "retention.purged": "the retention operation (modeltrail retention apply)",
}

#: Reserved families: every type under these prefixes (``hold.placed``, ``incident.reported``, ...).
RESERVED_PREFIXES: Mapping[str, str] = {
    "hold.": "the legal-hold operations (modeltrail hold)",
    "retention.": "the retention operations (modeltrail retention apply)",
    "subject.": "the data-subject operations (modeltrail erase, modeltrail subject export)",
    "incident.": "the incident operations (modeltrail incident)",
    "doc.": "modeltrail.registry.record_document",
}


_answers: dict[str, str | None] = {}
_ANSWERS_BOUND = 10_000  # event types repeat; a flood of distinct ones must not grow memory without end


def reserved_command(type_: str) -> str | None:
    """The command that writes the reserved type ``type_``, or None when anyone may record it."""
    try:
        return _answers[type_]  # every generic append asks: one dict lookup, not a scan of the prefixes
    except KeyError:
        pass
    cmd = RESERVED.get(type_)
    if cmd is None:
        cmd = next((what for prefix, what in RESERVED_PREFIXES.items() if type_.startswith(prefix)), None)
    if len(_answers) < _ANSWERS_BOUND:
        _answers[type_] = cmd
    return cmd


def is_reserved(type_: str) -> bool:
    """Whether ``type_`` belongs to the governance namespace."""
    return reserved_command(type_) is not None


def refuse_reserved(type_: Any, field: str = "type") -> None:
    """Raise :class:`ValidationError` when generic ingest is asked to write a reserved type."""
    if isinstance(type_, str):
        cmd = reserved_command(type_)
        if cmd is not None:
            raise ValidationError(
                f"{type_!r} is a governance event: only the operation that checks its rules may write it; use `{cmd}`",
                field=field,
            )


_PREFIXES = tuple(RESERVED_PREFIXES)


def refuse_reserved_prepared(events: Sequence[PreparedEvent]) -> None:
    """:func:`refuse_reserved` for events already prepared (``Trail.append_prepared``), one cheap test each."""
    for i, ev in enumerate(events):
        t = ev.type
        if t in RESERVED or t.startswith(_PREFIXES):
            refuse_reserved(t, f"events[{i}].type")


def record_governed(
    trail: Trail,
    type_: str,
    *,
    system: str,
    actor: Actor | Mapping[str, str],
    subject: str | None = None,
    payload: Mapping[str, Any] | None = None,
    refs: Sequence[str] | None = None,
) -> Receipt:
    """Append one governance event after its operation checked the rules (the only path that may).

    Library code only: callers are the operations of :mod:`modeltrail.registry`, :mod:`modeltrail.identity`,
    :mod:`modeltrail.runtime.oversight` and the trail itself. The rules are checked again on replay, so a
    caller that misuses this path gains nothing a direct append would not.
    """
    prepared = prepare(
        EventInput(type_, system, actor, subject, payload, refs, None), max_payload_bytes=trail.config.max_payload_bytes
    )
    return trail.append_governed(prepared)


def record_governed_many(trail: Trail, events: Sequence[EventInput]) -> list[Receipt]:
    """Append several governance events atomically (all or none), after their operation checked the rules.

    Library code only, as :func:`record_governed`; the receipts come back in order.
    """
    limit = trail.config.max_payload_bytes
    prepared = []
    for i, ev in enumerate(events):
        try:
            prepared.append(prepare(ev, max_payload_bytes=limit))
        except ValidationError as exc:
            raise exc.within(f"events[{i}]") from None
    return trail.append_governed_many(prepared) if prepared else []


__all__ = [
    "RESERVED",
    "RESERVED_PREFIXES",
    "is_reserved",
    "record_governed",
    "record_governed_many",
    "refuse_reserved",
    "refuse_reserved_prepared",
    "reserved_command",
]
