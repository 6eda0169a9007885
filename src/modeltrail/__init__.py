"""modeltrail: a tamper-evident audit trail for machine-learning systems.

Typical use::

    import modeltrail
    trail = modeltrail.open()          # ./.modeltrail, or $MODELTRAIL_URL
    trail.record("model.registered", system="credit-scoring",
                 actor={"id": "alice", "role": "data_scientist"}, payload={"name": "credit"})
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from .errors import ModeltrailError, ValidationError

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
