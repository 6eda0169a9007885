"""Fast, exact encoding of decision events into :class:`~modeltrail.events.PreparedEvent`.

``modeltrail.events.prepare`` validates any event by walking it in Python and then encodes it; for an
``inference.decision`` with a few dozen features that walk costs as much as the model call. Here the
shape of the event is fixed and known, so the constant parts (actor, system, type) are encoded once per
guard and only the values are checked, once, while the data policy copies them (:func:`normalise`).

The result must be byte-identical to RFC 8785 (JCS). ``orjson`` with sorted keys gives JCS output
(see :mod:`modeltrail.ledger.encoding`) except for some floats and non-BMP keys, so :func:`normalise` rewrites integral
floats as integers (JCS prints ``1169.0`` as ``1169`` either way, so the bytes do not change) and reports
any float whose shortest ``repr`` differs from ECMAScript's (magnitudes below 1e-4 or at/above 1e16);
for such an event the reference encoder is used instead. Tests compare both paths with ``prepare``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from ...errors import ValidationError
from ...events import DEFAULT_MAX_PAYLOAD_BYTES, Actor, EventInput, PreparedEvent, prepare
from ...ledger import encoding
from ...ledger.leaf import Slot, event_template, split_event

MAX_SAFE_INTEGER = encoding.MAX_SAFE_INTEGER

_dumps = orjson.dumps
_OPTS = orjson.OPT_SORT_KEYS


def is_missing(value: Any) -> bool:
    """Whether ``value`` stands for a missing input: None, a NaN (Python or NumPy), ``pd.NA`` or ``pd.NaT``."""
    if value is None:
        return True
    t = type(value)
    if t is float or t is np.float64 or t is np.float32:
        return bool(value != value)
    # pandas' missing markers, recognised without importing pandas.
    return t.__name__ in ("NAType", "NaTType") and t.__module__.startswith("pandas")


def normalise(value: Any, path: str) -> tuple[Any, bool]:
    """Return ``(value as a plain JSON value, whether the fast encoder is exact for it)``.

    Raises :class:`ValidationError` naming ``path`` for NaN/Infinity, integers beyond ±(2^53-1), strings
    that are not valid Unicode, and values that are not JSON at all. NumPy scalars become Python scalars.
    """
    t = type(value)
    if t is float:
        if value != value or value in (math.inf, -math.inf):
            raise ValidationError(f"{value!r} is not allowed in JSON (NaN/Infinity)", field=path)
        whole = value.is_integer()
        if whole and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return int(value), True
        a = value if value > 0 else -value
        # orjson writes a whole float as "1e17" or "9007199254740994.0", JCS without the ".0".
        return value, not whole and 1e-4 <= a < 1e16
    if t is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value, True
        raise ValidationError(f"integer {value} is outside ±(2^53-1); send it as a string", field=path)
    if t is str:
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError("string is not valid Unicode (lone surrogate)", field=path) from None
        return value, True
    if value is None or t is bool:
        return value, True
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", 0) == 0 and not isinstance(value, Mapping):
        # A NumPy scalar (np.float64, np.int64, np.bool_, np.str_): encode the Python value it holds.
        return normalise(item(), path)
    if isinstance(value, bool | int | float | str):
        base = (
            bool
            if isinstance(value, bool)
            else float
            if isinstance(value, float)
            else int
            if (isinstance(value, int))
            else str
        )
        return normalise(base(value), path)
    # Containers and anything else: the general validator decides (and names the offending field).
    return value, encoding.validate(value, path)


class DecisionEncoder:
    """Encodes ``inference.decision`` events for one (system, actor) pair.

    The constant parts of the leaf are built once here; :meth:`encode` then costs one C-level JSON
    call for the payload plus byte concatenation.
    """

    __slots__ = ("_head", "_mid", "actor", "end", "event_type", "max_payload_bytes", "system")

    def __init__(
        self,
        system: str,
        actor: Actor,
        event_type: str = "inference.decision",
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        """Validate ``system``, ``actor`` and the type once, through the ledger's own ``prepare``."""
        prepare(EventInput(event_type, system, actor, "decision:probe", {}, None, None))
        self.max_payload_bytes = max_payload_bytes
        self.event_type = event_type
        self.system = system
        self.actor = actor
        # The leaf template with the constant fields filled in (the subject is a short ASCII reference).
        parts = split_event(
            event_template(type=event_type, system=system, actor=actor.to_dict(), subject=Slot("subject", string=True))
        )
        assert parts.head.slots == ["payload", "refs", "sealed"] and parts.mid.slots == ["subject"]
        self._head, self._mid = parts.head.format(), parts.mid.format()
        self.end = parts.end.render({})

    def encode(
        self,
        subject: str,
        payload: Mapping[str, Any],
        sealed: Mapping[str, Any] | None,
        refs: Sequence[str] | None,
        fast: bool,
    ) -> PreparedEvent:
        """Build the prepared event. ``fast`` says every value was checked by :func:`normalise`.

        ``subject`` must be a short ASCII reference (the guard builds ``decision:<id>``); ``refs`` and
        ``sealed`` come from the guard and the sealer in the documented shapes.
        """
        payload_json = _dumps(payload, option=_OPTS) if fast else encoding.canonical_bytes(payload, "payload")
        if len(payload_json) > self.max_payload_bytes:
            raise ValidationError(
                f"encoded payload is {len(payload_json)} bytes, over the limit of {self.max_payload_bytes}",
                field="payload",
            )
        sealed_json = b"{}" if not sealed else _dumps(sealed, option=_OPTS)
        refs_json = b"[]" if not refs else _dumps(list(refs))
        return PreparedEvent(
            self.event_type,
            self.system,
            subject,
            self.actor.id,
            self._head % (payload_json, refs_json, sealed_json),
            self._mid % subject.encode(),
            self.end,
        )


__all__ = ["DecisionEncoder", "normalise"]
