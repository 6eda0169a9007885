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
