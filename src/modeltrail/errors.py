"""Exception hierarchy of modeltrail.

Every error a user can cause derives from :class:`ModeltrailError`, so callers can catch one type.
Messages name the offending field and what was expected; each class also says which HTTP status the API
answers with (``http_status``)::

    >>> import modeltrail, tempfile
    >>> trail = modeltrail.init(tempfile.mkdtemp())
    >>> try:
    ...     trail.record("Not A Type", system="credit", actor={"id": "alice", "role": "data_scientist"})
    ... except ValidationError as exc:
    ...     print(exc.field, exc.http_status)
    type 422
    >>> trail.close()
"""

from __future__ import annotations

from typing import ClassVar


class ModeltrailError(Exception):
    """Base class of every error raised by modeltrail on purpose.

    ``http_status`` is the status the HTTP API answers with when a request ends in this error (the one
    mapping from errors to statuses; :mod:`modeltrail.server.errors` reads it). Subclasses override it.
    """

    http_status: ClassVar[int] = 400


class ValidationError(ModeltrailError, ValueError):
    """An input (event, policy, answer file, ...) does not have the expected shape.

    ``field`` is the dotted path of the offending field (``payload.score``), when one applies.
    """

    http_status: ClassVar[int] = 422

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


class UnavailableError(StoreError):
    """A part the request needs is down (the decision writer process died): retry later, the input is fine."""

    http_status: ClassVar[int] = 503


class NotFoundError(ModeltrailError, LookupError):
    """A referenced entity (event, blob, model version, checkpoint, ...) does not exist."""

    http_status: ClassVar[int] = 404


class ProofError(ModeltrailError):
    """A Merkle proof could not be produced or does not verify."""


class SignatureError(ModeltrailError):
    """A signed note or checkpoint signature does not verify."""


class IntegrityError(ModeltrailError):
    """Stored content does not match its hash (blob store, ledger)."""


class PermissionDeniedError(ModeltrailError):
    """The actor lacks the role required for a privileged action."""

    http_status: ClassVar[int] = 403


class PolicyError(ValidationError):
    """The policy file is invalid; the message names the line and the field."""


class GateFailedError(ModeltrailError):
    """A lifecycle transition needs a passed gate that is missing or failed."""

    http_status: ClassVar[int] = 409


class ApprovalError(ModeltrailError):
    """An approval was refused (four-eyes rule, wrong role, duplicate approver, ...)."""

    http_status: ClassVar[int] = 409


class LifecycleError(ModeltrailError):
    """A model-version state transition is not allowed from its current state."""

    http_status: ClassVar[int] = 409


class SuspendedError(ModeltrailError):
    """The guarded model is suspended by the kill switch and the fallback is to reject."""

    http_status: ClassVar[int] = 503


class BufferFullError(ModeltrailError):
    """The inference logging buffer stayed full past the configured timeout."""


class TrustError(ModeltrailError):
    """Loading an artifact needs an explicit trust flag and a matching hash (e.g. pickle)."""


class HoldError(ModeltrailError):
    """A purge or an erasure was refused because a legal hold covers what it would remove."""

    http_status: ClassVar[int] = 409
