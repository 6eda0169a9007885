"""modeltrail: a tamper-evident audit trail for machine-learning systems.

Typical use (``modeltrail.open()`` opens ``./.modeltrail``, a path, or ``$MODELTRAIL_URL``)::

    >>> import modeltrail, tempfile
    >>> trail = modeltrail.init(tempfile.mkdtemp())
    >>> r = trail.record("model.registered", system="credit-scoring",
    ...                  actor={"id": "alice", "role": "data_scientist"}, payload={"name": "credit"})
    >>> r.seq  # event 0 is trail.initialized
    1
    >>> trail.verify().ok
    True
    >>> trail.close()

Where each concern lives: docs/architecture.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ModeltrailError, ValidationError
from .version import __version__

if TYPE_CHECKING:
    from .events import Actor, Event, EventInput, Receipt
    from .trail import Trail, init, open_trail

    open = open_trail

_LAZY = {
    "Actor": "events",
    "Event": "events",
    "EventInput": "events",
    "Receipt": "events",
    "Trail": "trail",
    "init": "trail",
    "open_trail": "trail",
    "open": "trail",
}


def __getattr__(name: str) -> Any:
    """Load the ledger modules on first use, so ``modeltrail --help`` does not pay for them."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), "open_trail" if name == "open" else name)
    globals()[name] = value
    return value

__all__ = [
    "Actor",
    "Event",
    "EventInput",
    "ModeltrailError",
    "Receipt",
    "Trail",
    "ValidationError",
    "__version__",
    "init",
    "open",
    "open_trail",
]
