"""Training runs: start, params, metrics, tags and end, each a ledger event.

::

    with trail_run(trail, "train-credit", system="credit-scoring", actor=alice) as run:
        run.log_params({"max_depth": 4})
        ...
        run.log_metric("roc_auc", 0.81)

A run records ``run.started`` (code version from git, environment, params, tags), then ``run.params`` and
``run.metrics`` events, and ``run.ended`` with its status. Leaving the ``with`` block through an exception
records a ``failed`` run with the exception type and re-raises. Without a context manager call
:meth:`Run.end` yourself; the CLI (``modeltrail run start|log|end``) re-attaches to a run by its id with
:func:`attach_run`, so non-Python pipelines can log to one run from several processes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..events import Actor, EventInput, Receipt, parse_ts
from ..ids import new_id
from .code import capture_code
from .entities import DatasetVersion, run_ref
from .environment import capture_environment
from .jsonsafe import finite_float, json_value

if TYPE_CHECKING:
    from ..trail import Trail

RUN_STATUSES = ("completed", "failed")
METRICS_PER_EVENT = 500
"""Metrics of one step go into one ``run.metrics`` event up to this many; more are split into a batch."""
MAX_NAME = 250

DatasetLike = DatasetVersion | str


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise ValidationError(f"expected a non-empty name of at most {MAX_NAME} characters, got {value!r}", field=field)
    return value


def _params(params: Mapping[str, Any] | None, field: str = "params") -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ValidationError(f"expected a mapping, got {type(params).__name__}", field=field)
    return {_name(k, f"{field}.{k}"): json_value(v) for k, v in params.items()}


def _tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise ValidationError(f"expected a mapping, got {type(tags).__name__}", field="tags")
    return {_name(k, f"tags.{k}"): str(v) for k, v in tags.items()}


def _metric(name: Any, value: Any) -> tuple[str, float | int]:
    key = _name(name, "metrics")
    num = finite_float(value)
    if num is None:
        raise ValidationError(f"expected a finite number, got {value!r}", field=f"metrics.{key}")
    # Integers (counts) stay integers in the payload when they are exactly representable.
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 2**53:
        return key, int(value)
    return key, num


def _step(step: Any) -> int | None:
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= 2**53:
        raise ValidationError(f"expected a whole number >= 0 or None, got {step!r}", field="step")
    return step


def _dataset_refs(datasets: Iterable[DatasetLike] | None) -> list[str]:
    out: list[str] = []
    for i, d in enumerate(datasets or ()):
        ref = d.ref if isinstance(d, DatasetVersion) else d
        if not isinstance(ref, str) or not ref.startswith("dataset:"):
            raise ValidationError(
                f"expected a DatasetVersion or 'dataset:NAME@HASH', got {d!r}", field=f"datasets[{i}]"
            )
        if ref not in out:
            out.append(ref)
    return out


class Run:
    """A training run in progress. Create one with :func:`start_run` or :func:`trail_run`."""

    def __init__(
        self,
        trail: Trail,
        run_id: str,
        name: str,
        *,
        system: str,
        actor: Actor | Mapping[str, str],
        started_ts: str | None = None,
        started_seq: int | None = None,
    ) -> None:
        self.trail = trail
        self.run_id = run_id
        self.name = name
        self.system = system
        self.actor = actor
        self.started_ts = started_ts
        self.started_seq = started_seq
        self.ended = False
        self.status: str | None = None
        self._t0 = time.monotonic() if started_ts is None else None

    @property
    def id(self) -> str:
        """The run id (UUIDv7, 32 hex characters)."""
        return self.run_id

    @property
    def ref(self) -> str:
        """``run:<id>``, the event subject and the reference to use in other events."""
        return run_ref(self.run_id)

    def __repr__(self) -> str:
        return f"Run({self.name!r}, id={self.run_id}, system={self.system!r})"

    def _event(self, type_: str, payload: dict[str, Any], refs: Sequence[str] = ()) -> EventInput:
        return EventInput(type_, self.system, self.actor, self.ref, payload, list(refs) or None)

    def _check_open(self) -> None:
        if self.ended:
            raise ValidationError(f"run {self.run_id} has already ended ({self.status})", field="run")

    def log_params(self, params: Mapping[str, Any] | None = None, **more: Any) -> Receipt:
        """Record parameters (``run.params``); later values of a key replace earlier ones in queries."""
        self._check_open()
        merged = _params({**(params or {}), **more})
        return self.trail.record(
            "run.params", system=self.system, actor=self.actor, subject=self.ref, payload={"params": merged}
        )

    def log_param(self, key: str, value: Any) -> Receipt:
        """Record one parameter."""
        return self.log_params({key: value})

    def set_tags(self, tags: Mapping[str, Any] | None = None, **more: Any) -> Receipt:
        """Record tags (string values); they travel in a ``run.params`` event as ``tags`` next to ``params``."""
        self._check_open()
        merged = _tags({**(tags or {}), **more})
        return self.trail.record(
            "run.params",
            system=self.system,
            actor=self.actor,
            subject=self.ref,
            payload={"params": {}, "tags": merged},
        )

    def log_metric(self, name: str, value: float, step: int | None = None) -> Receipt:
        """Record one metric value (optionally at a step of a series)."""
        return self.log_metrics({name: value}, step=step)[0]

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> list[Receipt]:
        """Record several metric values of one step; one event, or one atomic batch when there are many."""
        self._check_open()
        if not isinstance(metrics, Mapping) or not metrics:
            raise ValidationError("expected a non-empty mapping of metric name to number", field="metrics")
        s = _step(step)
        items = [_metric(k, v) for k, v in metrics.items()]
        events = [
            self._event("run.metrics", {"metrics": dict(items[i : i + METRICS_PER_EVENT]), "step": s})
            for i in range(0, len(items), METRICS_PER_EVENT)
        ]
        if len(events) == 1:
            e = events[0]
            return [self.trail.record(e.type, system=e.system, actor=e.actor, subject=e.subject, payload=e.payload)]
        return self.trail.record_many(events)

    def log_metric_series(self, name: str, values: Iterable[float], *, start_step: int = 0) -> list[Receipt]:
        """Record a whole series (e.g. a loss curve) as one atomic batch, one event per step."""
        self._check_open()
        s0 = _step(start_step) or 0
        events = [
            self._event("run.metrics", {"metrics": dict([_metric(name, v)]), "step": s0 + i})
            for i, v in enumerate(values)
        ]
        return self.trail.record_many(events) if events else []

    def _duration(self) -> float:
        if self._t0 is not None:
            return round(time.monotonic() - self._t0, 6)
        if self.started_ts is None:
            return 0.0
        delta = datetime.now(UTC) - parse_ts(self.started_ts)
        return round(max(delta.total_seconds(), 0.0), 6)

    def end(self, status: str = "completed", *, error_type: str | None = None) -> Receipt:
        """Record ``run.ended`` with ``status`` (completed or failed) and the duration in seconds."""
        self._check_open()
        if status not in RUN_STATUSES:
            raise ValidationError(f"expected one of {', '.join(RUN_STATUSES)}, got {status!r}", field="status")
        receipt = self.trail.record(
            "run.ended",
            system=self.system,
            actor=self.actor,
            subject=self.ref,
            payload={"status": status, "error_type": error_type, "duration_s": self._duration()},
        )
        self.ended = True
        self.status = status
        return receipt

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.ended:
            return
        if exc_type is None:
            self.end("completed")
        else:
            # Recorded, never swallowed: returning None lets the exception propagate.
            self.end("failed", error_type=f"{exc_type.__module__}.{exc_type.__qualname__}")


def start_run(
    trail: Trail,
    name: str,
    *,
    system: str,
    actor: Actor | Mapping[str, str],
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    datasets: Iterable[DatasetLike] | None = None,
    code_dir: str | Path | None = None,
    capture_git: bool = True,
    capture_env: bool = True,
    source: str | None = None,
    link: Mapping[str, Any] | None = None,
) -> Run:
    """Record ``run.started`` and return the :class:`Run`.

    The code version comes from the git work tree of ``code_dir`` (default: the working directory); its
    uncommitted diff and the installed-package list are stored as blobs and referenced from the event.
    ``datasets`` become inputs of the run (``refs`` of the event). ``source``/``link`` are set by importers
    (``"mlflow"`` and the tracking URI and run id there).
    """
    _name(name, "name")
    run_id = new_id()
    code = capture_code(code_dir, trail.blobs).to_dict() if capture_git else {}
    env = capture_environment(trail.blobs).to_dict() if capture_env else {}
    payload: dict[str, Any] = {
        "run_id": run_id,
        "name": name,
        "code": code,
        "environment": env,
        "params": _params(params),
        "tags": _tags(tags),
    }
    if source is not None:
        payload["source"] = source
    if link is not None:
        payload["link"] = json_value(dict(link))
    refs = _dataset_refs(datasets)
    for digest in (code.get("diff_sha256"), env.get("packages_sha256")):
        if digest:
            refs.append(f"blob:sha256:{digest}")
    r = trail.record("run.started", system=system, actor=actor, subject=run_ref(run_id), payload=payload, refs=refs)
    run = Run(trail, run_id, name, system=system, actor=actor, started_seq=r.seq)
    run.started_ts = r.ts
    return run


def trail_run(
    trail: Trail,
    name: str,
    *,
    system: str,
    actor: Actor | Mapping[str, str],
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    datasets: Iterable[DatasetLike] | None = None,
    code_dir: str | Path | None = None,
) -> Run:
    """Start a run for use as a context manager: ``with trail_run(...) as run:``.

    The block's normal end records ``completed``; an exception records ``failed`` with the exception's
    qualified type name and propagates.
    """
    return start_run(
        trail, name, system=system, actor=actor, params=params, tags=tags, datasets=datasets, code_dir=code_dir
    )


def attach_run(trail: Trail, run_id: str, *, actor: Actor | Mapping[str, str]) -> Run:
    """A :class:`Run` handle for a run started earlier (possibly by another process), to log to or end it.

    Raises :class:`~modeltrail.errors.NotFoundError` for an unknown id and ValidationError when it ended.
    """
    from .queries import get_run

    info = get_run(trail, run_id)
    run = Run(
        trail, info.run_id, info.name, system=info.system, actor=actor, started_ts=info.started, started_seq=info.seq
    )
    if info.status not in ("running", "unknown"):
        run.ended = True
        run.status = info.status
    return run


__all__ = ["RUN_STATUSES", "Run", "attach_run", "start_run", "trail_run"]
