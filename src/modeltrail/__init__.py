"""modeltrail: a tamper-evident audit trail for machine-learning systems.

Typical use::

    import modeltrail
    trail = modeltrail.open()          # ./.modeltrail, or $MODELTRAIL_URL
    trail.record("model.registered", system="credit-scoring",
                 actor={"id": "alice", "role": "data_scientist"}, payload={"name": "credit"})
"""

from __future__ import annotations

from .errors import ModeltrailError, ValidationError
from .events import Actor, Event, EventInput, Receipt
from .trail import Trail, init, open_trail
from .version import __version__

open = open_trail

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
