"""Exception hierarchy of modeltrail.

Every error a user can cause derives from :class:`ModeltrailError`, so callers can catch one type.
Messages name the offending field and what was expected.
"""

from __future__ import annotations


class ModeltrailError(Exception):
    """Base class of every error raised by modeltrail on purpose."""


class ValidationError(ModeltrailError, ValueError):
    """An input (event, policy, answer file, ...) does not have the expected shape.

    ``field`` is the dotted path of the offending field (``payload.score``), when one applies.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message

    def within(self, where: str) -> ValidationError:
        """The same error with its field path under ``where`` (``events[3]``), for one item of a batch."""
        return ValidationError(self.reason, field=f"{where}.{self.field}" if self.field else where)


class TrailNotFoundError(ModeltrailError):
    """No trail exists at the given location (run ``modeltrail init``)."""


class TrailExistsError(ModeltrailError):
    """``init`` was asked to create a trail where one already exists."""


class StoreError(ModeltrailError):
    """The storage backend failed (disk full, database gone, ...). Nothing was acknowledged."""


class NotFoundError(ModeltrailError, LookupError):
    """A referenced entity (event, blob, model version, checkpoint, ...) does not exist."""


class ProofError(ModeltrailError):
    """A Merkle proof could not be produced or does not verify."""


class SignatureError(ModeltrailError):
    """A signed note or checkpoint signature does not verify."""


class IntegrityError(ModeltrailError):
    """Stored content does not match its hash (blob store, ledger)."""


class PermissionDeniedError(ModeltrailError):
    """The actor lacks the role required for a privileged action."""


class PolicyError(ValidationError):
    """The policy file is invalid; the message names the line and the field."""


class GateFailedError(ModeltrailError):
    """A lifecycle transition needs a passed gate that is missing or failed."""


class ApprovalError(ModeltrailError):
    """An approval was refused (four-eyes rule, wrong role, duplicate approver, ...)."""


class LifecycleError(ModeltrailError):
    """A model-version state transition is not allowed from its current state."""


class SuspendedError(ModeltrailError):
    """The guarded model is suspended by the kill switch and the fallback is to reject."""


class BufferFullError(ModeltrailError):
    """The inference logging buffer stayed full past the configured timeout."""


class TrustError(ModeltrailError):
    """Loading an artifact needs an explicit trust flag and a matching hash (e.g. pickle)."""
