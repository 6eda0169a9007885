"""What one running API holds between requests: the open trail, the policy in force, the guards."""

import threading
from dataclasses import dataclass, field
from typing import Literal

from ..errors import NotFoundError, ValidationError
from ..identity import Identity
from ..policy import Policy
from ..registry import stored_policy
from ..runtime.guard import Guard
from ..runtime.guard import guard as guard_model
from ..runtime.logger import DecisionLogger
from ..trail import Trail, open_trail

GuardKey = tuple[str, int, str, str]  # model name, version, environment, user id


@dataclass
class AppState:
    """The state of one app built by :func:`~modeltrail.server.create_app`, shared by its requests.

    The trail is opened on first use (so an app can be built, e.g. for its OpenAPI document, where no
    trail exists). Thread-safe: sync routes run in a thread pool.
    """

    trail_location: str | None
    decision_writer: Literal["thread", "process"] = "thread"
    _trail: Trail | None = field(default=None, init=False, repr=False)
    _policy: tuple[int | None, Policy | None] = field(default=(None, None), init=False, repr=False)
    _guards: dict[GuardKey, Guard] = field(default_factory=dict, init=False, repr=False)
    _logger: DecisionLogger | None = field(default=None, init=False, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.decision_writer not in ("thread", "process"):
            raise ValidationError(
                f"expected 'thread' or 'process', got {self.decision_writer!r}", field="decision_writer"
            )

    def trail(self) -> Trail:
        """The open trail (opened on first call)."""
        with self._lock:
            if self._trail is None:
                self._trail = open_trail(self.trail_location)
            return self._trail

    def policy(self) -> Policy | None:
        """The policy in force, or None; parsed once per registered version (a single-row read per request)."""
        t = self.trail()
        latest = next(iter(t.events("policy.registered", descending=True, limit=1)), None)
        cached_seq, cached = self._policy
        if latest is not None and cached is not None and latest.seq == cached_seq:
            return cached
        try:
            sp = stored_policy(t)
        except NotFoundError:
            return None
        if sp.seq is not None:
            self._policy = (sp.seq, sp.policy)
        return sp.policy

    def writer_problem(self) -> str | None:
        """Why predictions cannot be logged now (the decision writer process died), or None."""
        with self._lock:
            logger = self._logger
        return logger.writer_problem() if logger is not None else None

    def guard(self, name: str, version: int, env: str, who: Identity) -> Guard:
        """The guard serving ``name@version`` in ``env`` for ``who`` (built once, then reused)."""
        key = (name, version, env, who.user_id)
        with self._lock:
            g = self._guards.get(key)
            if g is None:
                if self.decision_writer == "process" and self._logger is None:
                    self._logger = DecisionLogger(self.trail(), writer="process")  # closed with the trail
                g = guard_model(self.trail(), f"{name}@{version}", env=env, actor=who.acting_as(), logger=self._logger)
                self._guards[key] = g
            return g
