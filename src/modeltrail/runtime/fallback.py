"""Fallbacks: what a suspended model's guard answers instead (AI Act Art. 14: the kill switch).

``reject`` refuses the request, ``human_review`` leaves the output to a person, ``previous_version``
serves the version deployed before (per :func:`modeltrail.registry.deployments`) unless it is
suspended too, and any other name is a function registered on the guard or importable as
``module:attr``. A fallback that is not available answers as ``reject``.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import SuspendedError
from ..policy import FALLBACKS
from .killswitch import KillSwitch, Suspension
from .scoring import ModelAdapter, Scores, no_scores

if TYPE_CHECKING:
    from ..trail import Trail

FallbackFn = Callable[[Mapping[str, Any]], Any]


def deployed_versions(trail: Trail, name: str, env: str, *, active: bool = False) -> list[int]:
    """Versions of ``name`` deployed to ``env`` (in any state since), in deployment order.

    ``active``: only those deployed there now (live or suspended) and serving for real (not shadows).
    """
    from ..registry.lifecycle import deployments

    found = deployments(trail, model=name, env=env)
    if active:
        found = [d for d in found if d.state != "ended" and d.mode != "shadow"]
    return [d.version for d in found]


class Fallbacks:
    """The fallbacks of one guard: the registered functions and the previous version, loaded once."""

    def __init__(
        self,
        trail: Trail,
        *,
        name: str,
        version: int | None,
        env: str,
        model_ref: str,
        switch: KillSwitch,
        trusted: bool,
        feature_names: Callable[[], list[str] | None],
    ) -> None:
        self.trail, self.name, self.version, self.env, self.model_ref = trail, name, version, env, model_ref
        self.switch, self.trusted, self._feature_names = switch, trusted, feature_names
        self._fallbacks: dict[str, FallbackFn] = {}
        self._previous: ModelAdapter | None = None
        self._lock = threading.Lock()

    def register(self, name: str, fn: FallbackFn) -> None:
        """Make ``fn(features) -> output`` available as the fallback called ``name``."""
        self._fallbacks[name] = fn

    def answer(self, rows: Sequence[Mapping[str, Any]], susp: Suspension, default: str) -> tuple[Scores, str, str]:
        """The fallback's answer for ``rows``: scores, the model reference that answered, and the label.

        The fallback is the suspension's when it names an available one, else ``default``; the label
        is ``reject`` when the chosen fallback is not available.
        """
        kind = self._kind(susp, default)
        n = len(rows)
        if kind == "previous_version":
            try:
                prev = self._previous_model()
            except SuspendedError:
                return no_scores(n), self.model_ref, "reject"
            scores = prev.score(prev.matrix(rows))
            if prev.proba is None:
                scores = scores._replace(scores=[None] * n)  # a fallback's outputs are not scores
            return scores, prev.ref, kind
        if kind in ("reject", "human_review"):
            return no_scores(n), self.model_ref, kind
        try:
            fn = self._named_fallback(kind)
        except SuspendedError:
            return no_scores(n), self.model_ref, "reject"
        return no_scores(n, [fn(r) for r in rows]), self.model_ref, kind

    def _kind(self, susp: Suspension, default: str) -> str:
        chosen = susp.fallback
        if chosen and (chosen in FALLBACKS or chosen in self._fallbacks):
            return chosen
        return default

    def _named_fallback(self, name: str) -> FallbackFn:
        fn = self._fallbacks.get(name)
        if fn is not None:
            return fn
        module, sep, attr = name.partition(":")
        if not sep:
            module, _, attr = name.rpartition(".")
        try:
            obj: Any = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError, ValueError):
            raise SuspendedError(
                f"{self.model_ref} is suspended in {self.env} and its fallback {name!r} is neither registered on "
                "the guard (guard.register_fallback) nor importable; the request was refused"
            ) from None
        if not callable(obj):
            raise SuspendedError(f"the fallback {name!r} of {self.model_ref} is not callable; the request was refused")
        loaded: FallbackFn = obj
        self._fallbacks[name] = loaded
        return loaded

    def _previous_model(self) -> ModelAdapter:
        with self._lock:
            if self._previous is not None:
                return self._previous
            from ..lineage.models import load_model

            candidates = [
                v
                for v in deployed_versions(self.trail, self.name, self.env)
                if v != self.version and self.switch.status(self.name, v, self.env) is None
            ]
            if not candidates:
                raise SuspendedError(
                    f"{self.model_ref} is suspended in {self.env} and no previously deployed version of {self.name} "
                    "is available as fallback; the request was refused"
                )
            v = candidates[-1]
            obj = load_model(self.trail, f"{self.name}@{v}", trusted=self.trusted)
            self._previous = ModelAdapter(obj, f"model:{self.name}@{v}", self._feature_names())
            return self._previous


__all__ = ["FallbackFn", "Fallbacks", "deployed_versions"]
