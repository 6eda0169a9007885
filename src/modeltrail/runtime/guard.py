"""The guard: serves a model and logs every decision (AI Act Art. 12), with oversight and a kill switch.

``guard(trail, "credit@3")`` loads a registered model version (or wraps any estimator or callable) and
returns a :class:`Guard`. Each ``decide`` / ``predict`` / ``predict_proba`` call

1. checks the kill switch (a counter comparison; see :mod:`.killswitch`) and uses the configured
   fallback while the model is suspended;
2. calls the model and derives output, score and confidence (max class probability);
3. applies the review rules (:class:`.oversight.ReviewRules`) to pick the route ``auto`` or ``review``
   and, for ``review``, records which rules fired in the event's ``review_reasons``;
4. applies the data policy to the inputs (:mod:`.datapolicy`);
5. enqueues an ``inference.decision`` event on the shared :class:`.logger.DecisionLogger` and returns a
   :class:`Decision` at once; ``decision.durable()`` waits for the ledger.

The JSON encoding of the event happens on the caller's thread: it adds about 3 µs to the median call,
but the writer thread then needs so little of the GIL that the 99th percentile of the added latency
halves (150 -> 70 µs in ``bench/runtime.py`` on 2 cores with the request thread saturated, against
encoding on the writer thread). Every value is checked on the caller's thread, so an invalid input
raises there, synchronously.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from ..errors import LifecycleError, NotFoundError, SuspendedError, ValidationError
from ..events import Actor, PreparedEvent, Receipt, checked_index
from ..ids import new_id, new_ids
from ..ledger import encoding
from ..policy import Policy, load_policy
from ..speed import gc_paused
from ._encoding.columnar import ColumnarEncoder
from ._encoding.encode import DecisionEncoder, normalise
from .datapolicy import AppliedInput, DataPolicyPlan
from .fallback import FallbackFn, Fallbacks, deployed_versions
from .killswitch import KillSwitch, Suspension, kill_switch_for
from .logger import DecisionLogger, Entry, PendingDecision
from .oversight import ReviewRules
from .record import DecisionRecord
from .scoring import ModelAdapter, Scores, score_probabilities

if TYPE_CHECKING:
    from ..registry.lifecycle import Deployment
    from ..trail import Trail

GUARD_ACTOR = Actor(id="modeltrail-guard", role="inference", kind="service")
SKIPPED_EVENT = "inference.skipped"
Route = Literal["auto", "review", "fallback"]


@dataclass(slots=True)
class Decision:
    """The result of one guarded decision.

    ``output`` is what the caller should act on (None when a human must decide: ``route="fallback"``
    with the ``human_review`` fallback). With ``route="review"`` the output is provisional until a
    reviewer accepts or overrides it.
    """

    decision_id: str
    output: Any
    score: float | None
    confidence: float | None
    route: Route
    model: str
    latency_us: int
    pending: PendingDecision = field(repr=False)
    fallback: str | None = None
    explanation: list[list[Any]] | None = None
    review_reasons: list[dict[str, Any]] | None = None
    """For ``route="review"``: the review rules that fired (as recorded in the event)."""

    def durable(self, timeout: float | None = None) -> Receipt:
        """Wait until the decision's event is durable in the ledger; returns its receipt."""
        return self.pending.durable(timeout)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (for HTTP responses)."""
        return {
            "decision_id": self.decision_id,
            "output": self.output,
            "score": self.score,
            "confidence": self.confidence,
            "route": self.route,
            "model": self.model,
            "latency_us": self.latency_us,
            "fallback": self.fallback,
            "explanation": self.explanation,
            "review_reasons": self.review_reasons,
        }


class Decisions(Sequence[Decision]):
    """The decisions of one :meth:`Guard.decide_many` call, held column by column.

    Reading a decision (indexing, iterating) builds its :class:`Decision`. Building all of them up
    front, each with its pending receipt, cost the serving process about 2 µs per decision in
    ``bench/runtime.py``: the objects themselves and the garbage collector's passes over them, for
    batch callers that mostly want the outputs as a column. The columns are public and read-only by
    convention: ``decision_ids``, ``outputs``, ``scores``, ``confidences``, ``routes``.
    """

    __slots__ = (
        "confidences",
        "decision_ids",
        "explanations",
        "fallbacks",
        "indices",
        "latency_us",
        "model",
        "outputs",
        "pending",
        "review_reasons",
        "routes",
        "scores",
        "skipped",
    )

    def __init__(
        self,
        decision_ids: Sequence[str],
        outputs: Sequence[Any],
        scores: Sequence[float | None],
        confidences: Sequence[float | None],
        routes: Sequence[Route],
        model: str,
        latency_us: int,
        pending: Sequence[PendingDecision],
        fallbacks: Sequence[str | None] | None = None,
        explanations: Sequence[list[list[Any]] | None] | None = None,
        review_reasons: Sequence[list[dict[str, Any]] | None] | None = None,
    ) -> None:
        """One entry per decision in every sequence (``None`` for a column that is None throughout)."""
        self.decision_ids, self.outputs, self.scores, self.confidences = decision_ids, outputs, scores, confidences
        self.routes, self.model, self.latency_us, self.pending = routes, model, latency_us, pending
        self.fallbacks, self.explanations, self.review_reasons = fallbacks, explanations, review_reasons
        self.skipped: list[SkippedRow] = []
        """The rows ``on_error="skip"`` left out (each recorded as an ``inference.skipped`` event)."""
        self.indices: list[int] | None = None
        """Each decision's position in the input when rows were skipped (None: the same positions)."""

    def __len__(self) -> int:
        return len(self.decision_ids)

    def __repr__(self) -> str:
        return f"Decisions({len(self)} of {self.model})"

    @overload
    def __getitem__(self, index: int) -> Decision: ...

    @overload
    def __getitem__(self, index: slice) -> Decisions: ...

    def __getitem__(self, index: int | slice) -> Decision | Decisions:
        if isinstance(index, slice):
            return Decisions(*self._fields(index))
        return Decision(*self._fields(checked_index(index, len(self))))

    def _fields(self, index: int | slice) -> tuple[Any, ...]:
        """The constructor arguments of one decision, or of a slice (Decision and Decisions take the same)."""

        def pick(column: Sequence[Any] | None) -> Any:
            return None if column is None else column[index]

        return (
            self.decision_ids[index],
            self.outputs[index],
            self.scores[index],
            self.confidences[index],
            self.routes[index],
            self.model,
            self.latency_us,
            self.pending[index],
            pick(self.fallbacks),
            pick(self.explanations),
            pick(self.review_reasons),
        )

    def durable(self, timeout: float | None = None) -> list[Receipt]:
        """Wait until every decision's event is durable; their receipts, in order."""
        return [p.durable(timeout) for p in self.pending]


@dataclass(frozen=True, slots=True)
class SkippedRow:
    """A row of a batch that failed validation and was skipped (``on_error="skip"``)."""

    index: int
    """The row's position in the input."""
    decision_id: str
    """The id its ``inference.skipped`` event was recorded under."""
    error: ValidationError
    """Why (the field is relative to the row, e.g. ``input.age``)."""
    pending: PendingDecision = field(repr=False)

    def durable(self, timeout: float | None = None) -> Receipt:
        """Wait until the row's ``inference.skipped`` event is durable."""
        return self.pending.durable(timeout)


OnError = Literal["raise", "skip"]


@dataclass(slots=True)
class _Batch:
    """The rows of one call as the guard decided them, column by column, before they are logged."""

    ids: list[str]
    inputs: Sequence[Mapping[str, Any]] | Mapping[int, Mapping[str, Any]]
    """Each row's input by position (the column-wise path keeps only the rows it routes to review)."""
    subjects: Sequence[str | None]
    scores: Scores
    routes: list[Route]
    model_ref: str
    fallback: str | None = None
    """The fallback that answered every row (None: the model did)."""
    explanations: list[list[list[Any]] | None] | None = None
    applied: Sequence[AppliedInput] | None = None
    """Each row's input as the data policy checked it before the model call (sealing still to do)."""
    batch_id: str | None = None
    batch_size: int | None = None
    """The call's id and row count (with any skipped rows), for the decisions of ``decide_many``."""


class _Draft:
    """A decision event whose JSON encoding the writer thread does (see :class:`.logger.Draft`)."""

    __slots__ = ("enc", "fast", "payload", "sealed", "subject")

    def __init__(
        self, enc: DecisionEncoder, subject: str, payload: dict[str, Any], sealed: dict[str, Any], fast: bool
    ) -> None:
        self.enc = enc
        self.subject = subject
        self.payload = payload
        self.sealed = sealed
        self.fast = fast

    def to_prepared(self) -> PreparedEvent:
        return self.enc.encode(self.subject, self.payload, self.sealed, None, self.fast)


def _explanation(pairs: Sequence[tuple[Any, Any]]) -> list[list[Any]]:
    """Top contributions as logged: ``[[feature, value], ...]``; a value that is not finite becomes null."""
    out: list[list[Any]] = []
    for f, c in pairs:
        v = float(c)
        out.append([str(f), v if math.isfinite(v) else None])
    return out


def _explanation_fast(explanation: list[list[Any]]) -> tuple[list[list[Any]], bool]:
    """The explanation normalised as the ledger writes it, and whether the fast encoder is exact for it."""
    ok = True
    out: list[list[Any]] = []
    for f, c in explanation:
        if c is None or (1e-4 <= abs(c) < 1e16 and not c.is_integer()):
            out.append([f, c])
        else:
            v, fine = normalise(c, "explanation")
            out.append([f, v])
            ok = ok and fine
        ok = ok and f.isascii()
    return out, ok


def _share_us(t0: int, n: int) -> int:
    """Each of ``n`` decisions' share of the time since ``t0`` (ns), in µs, rounded up."""
    return -(-(time.perf_counter_ns() - t0) // (1000 * max(n, 1)))


_default_loggers: weakref.WeakKeyDictionary[Trail, DecisionLogger] = weakref.WeakKeyDictionary()
_loggers_lock = threading.Lock()


def default_logger(trail: Trail) -> DecisionLogger:
    """The process-wide decision logger of ``trail``, shared by its guards (one writer thread)."""
    with _loggers_lock:
        lg = _default_loggers.get(trail)
        if lg is None or lg._closing:
            lg = DecisionLogger(trail)
            _default_loggers[trail] = lg
        return lg


def serving_deployment(trail: Trail, name: str, version: int, env: str) -> Deployment:
    """The deployment of ``name@version`` to ``env`` that a guard may serve (live or suspended).

    Raises :class:`LifecycleError` (HTTP 409) naming the reason when there is none: a registered
    version that is not deployed to ``env`` is not served, whatever the caller asks for.
    """
    from ..registry.lifecycle import deployments

    found = deployments(trail, model=name, version=version, env=env)
    active = [d for d in found if d.state in ("live", "suspended")]
    if active:
        return active[-1]
    ended = f" (its deployment there ended at event {found[-1].ended_seq})" if found else ""
    raise LifecycleError(
        f"{name}@{version} is not deployed to {env}{ended}: a guard serves only a deployed version. "
        f"Deploy it first (modeltrail deploy {name}@{version} --env {env}; --mode shadow or canary for a trial)"
    )


def _resolve_policy(trail: Trail, policy: Policy | str | os.PathLike[str] | None, system: str | None) -> Policy | None:
    if isinstance(policy, Policy):
        return policy
    if policy is not None:
        return load_policy(Path(policy))
    from ..registry.policy_store import policy_or_none

    return policy_or_none(trail, system)


class Guard:
    """A model behind logging, oversight rules, the data policy and the kill switch.

    Build one with :func:`guard`. Thread-safe: share one guard between request handlers.
    """

    def __init__(
        self,
        trail: Trail,
        model: Any,
        *,
        name: str,
        version: int | None,
        env: str,
        system: str,
        policy: Policy | None,
        actor: Actor,
        explainer: Any = None,
        top_k: int = 3,
        fallback: str | FallbackFn | None = None,
        training_range: Mapping[str, Any] | None = None,
        feature_names: Sequence[str] | None = None,
        logger: DecisionLogger | None = None,
        kill_switch: KillSwitch | None = None,
        trusted: bool = False,
        mode: str | None = None,
    ) -> None:
        """Prefer :func:`guard`, which resolves registered models, policies and defaults.

        ``mode`` is the deployment mode of a registered version (``live``, ``shadow``, ``canary``); a
        guard with a mode serves only while that version is deployed to ``env`` (checked again whenever
        a deployment, suspension or retirement is recorded). None: a model that is not registered.
        """
        self.trail = trail
        self.name = name
        self.version = version
        self.env = env
        self.system = system
        self.policy = policy
        self.actor = actor
        self.explainer = explainer
        self.top_k = top_k
        self.trusted = trusted
        self.mode = mode
        self._undeployed: str | None = None
        self._skip_encoder: DecisionEncoder | None = None
        self.model_ref = f"model:{name}@{version}" if version is not None else f"model:{name}"
        self._model = ModelAdapter(model, self.model_ref, feature_names)
        oversight = policy.oversight if policy is not None else None
        self.rules = ReviewRules(oversight.review_when if oversight else None, training_range)
        self.data = DataPolicyPlan(trail, policy.data_policy if policy is not None else None)
        self.logger = logger or default_logger(trail)
        self.switch = kill_switch or kill_switch_for(trail)
        self._encoder = DecisionEncoder(system, actor, max_payload_bytes=trail.config.max_payload_bytes)
        # The JSON encoding runs on the caller's thread (see the module docstring). Measurements may turn
        # this off to encode on the writer thread instead (bench/runtime.py's *_encode_on_writer keys).
        self._encode_on_caller = True
        self._fallbacks = Fallbacks(
            trail,
            name=name,
            version=version,
            env=env,
            model_ref=self.model_ref,
            switch=self.switch,
            trusted=trusted,
            feature_names=lambda: self._model.names,
        )
        if callable(fallback):
            fname = getattr(fallback, "__name__", "fallback")
            self._fallbacks.register(fname, fallback)
            self.fallback: str = fname
        elif isinstance(fallback, str):
            self.fallback = fallback
        elif oversight is not None:
            self.fallback = oversight.fallback
        else:
            self.fallback = "reject"
        self._seen_generation = -1
        self._suspension: Suspension | None = None
        self._columnar = self._columnar_encoder()

    def _columnar_encoder(self) -> ColumnarEncoder:
        return ColumnarEncoder(
            self.data,
            self._encoder,
            env=self.env,
            model_ref=self.model_ref,
            classes=self._model.classes,
            mode=self.mode,
        )

    def __repr__(self) -> str:
        return f"Guard({self.model_ref!r}, env={self.env!r}, system={self.system!r})"

    # -- configuration ---------------------------------------------------------------------------

    def register_fallback(self, name: str, fn: FallbackFn) -> None:
        """Make ``fn(features) -> output`` available as the fallback called ``name``."""
        if not callable(fn):
            raise ValidationError("expected a callable", field="fn")
        self._fallbacks.register(name, fn)

    @property
    def suspension(self) -> Suspension | None:
        """The suspension in force for this guard's model and environment, if any.

        Raises :class:`LifecycleError` when the guarded registered version is no longer deployed to the
        guard's environment (retired, rejected or replaced): a guard serves only what is deployed.
        """
        sw = self.switch
        if sw.generation != self._seen_generation:
            # Read the generation first: a change racing with this lookup is picked up next call.
            gen = sw.generation
            self._suspension = sw.status(self.name, self.version, self.env)
            if self.mode is not None and self.version is not None:
                self._recheck_deployment()
            self._seen_generation = gen
        if self._undeployed is not None:
            raise LifecycleError(self._undeployed)
        return self._suspension

    def _recheck_deployment(self) -> None:
        assert self.version is not None
        try:
            dep = serving_deployment(self.trail, self.name, self.version, self.env)
        except LifecycleError as exc:
            self._undeployed = str(exc)
            return
        self._undeployed = None
        if dep.mode != self.mode:
            # Redeployed in another mode: the decisions from now on say so.
            self.mode = dep.mode
            self._columnar = self._columnar_encoder()

    # -- deciding --------------------------------------------------------------------------------

    def decide(self, features: Mapping[str, Any], subject: str | None = None) -> Decision:
        """Decide on one input (a mapping of feature name to value) and log it.

        ``subject`` identifies the data subject; it is needed (and only used) when the data policy seals
        a field. Raises :class:`SuspendedError` when the model is suspended and the fallback is
        ``reject`` (the refused call is logged too).
        """
        t0 = time.perf_counter_ns()
        if not isinstance(features, Mapping):
            raise ValidationError(f"expected a mapping of feature values, got {type(features).__name__}", field="input")
        susp = self.suspension
        if susp is not None:
            return self._decide_fallback([features], [subject], susp, t0)[0]
        m = self._model
        # Checked before the model runs: an input the ledger cannot take is refused without side effects.
        applied = self.data.check(features, subject=subject)
        scores = m.score(m.matrix([features], missing=bool(applied.missing)))
        did = new_id()
        route: Route = "review" if self.rules.needs_review(features, scores.confidences[0], did) else "auto"
        explanations = [self._explain(features)] if self.explainer is not None else None
        batch = _Batch([did], [features], [subject], scores, [route], self.model_ref, None, explanations, [applied])
        return self._log(batch, t0)

    def decide_many(
        self,
        rows: Sequence[Mapping[str, Any]] | Any,
        subjects: Sequence[str | None] | None = None,
        *,
        on_error: OnError = "raise",
    ) -> Decisions:
        """Decide on many inputs with one model call and one buffer operation; one event per row.

        ``rows`` is a sequence of mappings, a 2-D array (columns in the model's feature order) or a
        DataFrame. ``subjects`` gives each row's data subject (needed only for sealed fields). Missing
        values (None, NaN, ``pd.NA``) are recorded as null and given to the model as NaN.

        Every row is checked before the model is called. ``on_error="raise"`` (the default) refuses the
        batch with a :class:`ValidationError` naming the first bad row (``rows[7].input.age``) and how
        many are bad; nothing is scored or logged. ``on_error="skip"`` decides on the other rows and
        records each bad one as an ``inference.skipped`` event (index and reason, no values); the
        result's ``skipped`` lists them and ``indices`` maps its decisions back to the input.
        """
        if on_error not in ("raise", "skip"):
            raise ValidationError(f"expected 'raise' or 'skip', got {on_error!r}", field="on_error")
        # Batches allocate a few containers per row, none in a cycle: pausing the cycle collector
        # for the batch saves a quarter of the per-decision cost in a large process (bench/runtime.py).
        with gc_paused():
            return self._decide_many(rows, subjects, on_error)

    def _decide_many(self, rows: Any, subjects: Sequence[str | None] | None, on_error: OnError = "raise") -> Decisions:
        t0 = time.perf_counter_ns()
        if self._encode_on_caller and self.explainer is None and self.suspension is None:
            numeric = self._model.numeric_batch(rows)
            # A float batch with a NaN or an infinity is checked row by row on the general path.
            if numeric is not None and (numeric[0].dtype.kind != "f" or bool(np.isfinite(numeric[0]).all())):
                n = numeric[0].shape[0]
                if subjects is not None and len(subjects) != n:
                    raise ValidationError(f"expected {n} subjects, got {len(subjects)}", field="subjects")
                return self._decide_columnar(*numeric, subjects, t0)
        dicts = self._model.rows(rows)
        n = len(dicts)
        if n == 0:
            return Decisions([], [], [], [], [], self.model_ref, 0, [])
        subs: Sequence[str | None] = subjects if subjects is not None else [None] * n
        if len(subs) != n:
            raise ValidationError(f"expected {n} subjects, got {len(subs)}", field="subjects")
        susp = self.suspension
        if susp is not None:
            return self._decide_fallback(dicts, subs, susp, t0)
        m = self._model
        size = n
        bid = new_id()
        applied, skipped, any_missing = self._check_rows(dicts, subs, on_error, bid)
        if skipped:
            keep = sorted(set(range(n)) - {r.index for r in skipped})
            dicts, subs, applied = [dicts[i] for i in keep], [subs[i] for i in keep], [applied[i] for i in keep]
            n = len(dicts)
            if n == 0:
                empty = Decisions([], [], [], [], [], self.model_ref, 0, [])
                empty.skipped, empty.indices = skipped, []
                return empty
        if isinstance(rows, np.ndarray) and not m.use_frame and rows.ndim == 2 and not skipped and not any_missing:
            X = rows
        else:
            X = m.matrix(dicts, missing=any_missing)
        ids = new_ids(n)
        scores = m.score(X)
        rules = self.rules
        routes: list[Route] = (
            [
                "review" if rules.needs_review(d, c, i) else "auto"
                for d, c, i in zip(dicts, scores.confidences, ids, strict=True)
            ]
            if rules.active
            else ["auto"] * n
        )
        explanations = self._explain_many(dicts, X) if self.explainer is not None else None
        batch = _Batch(ids, dicts, subs, scores, routes, self.model_ref, None, explanations, applied, bid, size)
        decisions = self._log_many(batch, t0)
        if skipped:
            decisions.skipped = skipped
            decisions.indices = keep
        return decisions

    def _check_rows(
        self, dicts: Sequence[Mapping[str, Any]], subs: Sequence[str | None], on_error: OnError, batch_id: str
    ) -> tuple[list[AppliedInput], list[SkippedRow], bool]:
        """Each row checked by the data policy before any model call: (checked inputs, skipped rows, any missing).

        With ``on_error="raise"`` the first bad row raises (naming it and the count of bad rows); with
        ``"skip"`` each bad row is recorded as an ``inference.skipped`` event and left out.
        """
        check = self.data.check
        names = self._model.names
        applied: list[AppliedInput] = []
        bad: list[tuple[int, ValidationError]] = []
        any_missing = False
        placeholder = AppliedInput({}, {}, {}, False)
        for i, (row, sub) in enumerate(zip(dicts, subs, strict=True)):
            try:
                a = check(row, subject=sub)
                if names is not None and len(a.kept) + len(a.pseudonyms) < len(names):
                    absent = next((k for k in names if k not in row), None)
                    if absent is not None:
                        raise ValidationError(f"missing model input {absent!r}", field=f"input.{absent}")
            except ValidationError as exc:
                bad.append((i, exc))
                applied.append(placeholder)
                continue
            any_missing = any_missing or bool(a.missing)
            applied.append(a)
        if not bad:
            return applied, [], any_missing
        if on_error == "raise":
            first, err = bad[0]
            more = f" ({len(bad)} of {len(dicts)} rows are invalid; on_error='skip' decides on the others)"
            where = f"rows[{first}].{err.field}" if err.field else f"rows[{first}]"
            raise ValidationError(err.reason + more, field=where)
        return applied, self._record_skipped(bad, batch_id, len(dicts)), any_missing

    def _record_skipped(
        self, bad: Sequence[tuple[int, ValidationError]], batch_id: str, size: int
    ) -> list[SkippedRow]:
        """One ``inference.skipped`` event per bad row: where it was and why (values only of kept fields)."""
        enc = self._skip_encoder
        if enc is None:
            enc = self._skip_encoder = DecisionEncoder(
                self.system, self.actor, SKIPPED_EVENT, max_payload_bytes=self.trail.config.max_payload_bytes
            )
        ids = new_ids(len(bad))

        def reason(exc: ValidationError) -> str:
            # A reason may quote the value: only for a field whose value the policy keeps in clear anyway.
            field = exc.field or ""
            if field.startswith("input.") and self.data.action_for(field[len("input.") :]) == "keep":
                return exc.reason
            return "invalid value (not recorded: the data policy does not keep this field in clear)"

        entries = [
            enc.encode(
                f"decision:{did}",
                {
                    "decision_id": did,
                    "model": self.model_ref,
                    "env": self.env,
                    "mode": self.mode,
                    "batch_id": batch_id,
                    "batch_size": size,
                    "index": i,
                    "field": exc.field,
                    "reason": reason(exc),
                },
                {},
                None,
                False,
            )
            for did, (i, exc) in zip(ids, bad, strict=True)
        ]
        pending = self.logger.submit_batch(entries, ids)
        return [
            SkippedRow(i, did, exc, p) for did, (i, exc), p in zip(ids, bad, pending, strict=True)
        ]

    def _decide_columnar(
        self, X: np.ndarray, names: list[str], Xm: Any, subjects: Sequence[str | None] | None, t0: int
    ) -> Decisions:
        """``decide_many`` for a numeric batch: vectorised checks and routing, column-wise encoding.

        Rows routed to review, and any batch the columnar encoder cannot write exactly, go through the
        same per-row code as :meth:`decide` (:meth:`_event`), so the events are identical either way.
        """
        m = self._model
        assert m.proba is not None
        n = X.shape[0]
        ids = new_ids(n)
        scores = score_probabilities(np.asarray(m.proba(Xm)), m.classes)
        conf, score, idx_l = scores.confidence, scores.score, scores.class_index
        if conf is None or score is None:  # a one-row batch: the scorer's scalar path keeps no arrays
            conf, score = np.asarray(scores.confidences, dtype=np.float64), np.asarray(scores.scores, dtype=np.float64)
        assert conf is not None and score is not None and idx_l is not None
        rules = self.rules
        routes: list[Route] = ["auto"] * n
        review_rows: list[int] = []
        dicts: dict[int, Mapping[str, Any]] = {}
        if rules.active:
            for i in np.flatnonzero(rules.candidates(X, names, conf, ids)).tolist():
                d = dicts[i] = dict(zip(names, X[i].tolist(), strict=True))
                if rules.needs_review(d, scores.confidences[i], ids[i]):
                    routes[i] = "review"
                    review_rows.append(i)
        subs: Sequence[str | None] = subjects if subjects is not None else [None] * n
        latency = _share_us(t0, n)
        bid = new_id()
        plan = self._columnar.plan(names)
        out_json = self._columnar.outputs(idx_l)
        prepared: Sequence[Entry] | None = None
        mixed: list[Entry] = []
        if plan is not None and out_json is not None:
            if review_rows:
                auto = [i for i in range(n) if routes[i] == "auto"]
                encoded = plan.encode(X, ids, out_json, conf, score, latency, bid, n, auto)
                if encoded is not None:
                    # Review rows get their events below, in their places among the auto rows.
                    mixed = [None] * n  # type: ignore[list-item]
                    for i, ev in zip(auto, encoded, strict=True):
                        mixed[i] = ev
                    prepared = mixed
            else:
                prepared = plan.encode(X, ids, out_json, conf, score, latency, bid, n)
        if prepared is None:
            # The general encoder for every row (it raises the precise error, if there is one).
            all_rows = [dicts.get(i) or dict(zip(names, r, strict=True)) for i, r in enumerate(X.tolist())]
            return self._log_many(_Batch(ids, all_rows, subs, scores, routes, self.model_ref), t0)
        batch = _Batch(ids, dicts, subs, scores, routes, self.model_ref)
        reasons: list[list[dict[str, Any]] | None] = [None] * n
        for i in review_rows:
            payload, sealed, fast = self._event(batch, i, latency, bid, n)
            mixed[i] = self._entry(ids[i], payload, sealed, fast)
            reasons[i] = payload["review_reasons"]
        pending = self.logger.submit_batch(prepared, ids)
        return Decisions(
            ids,
            scores.outputs,
            scores.scores,
            scores.confidences,
            routes,
            self.model_ref,
            latency,
            pending,
            review_reasons=reasons if review_rows else None,
        )

    def predict(self, X: Any) -> Any:
        """Like the model's ``predict``: an array of outputs, one logged decision per row."""
        return np.asarray(
            [d.output for d in self.decide_many(X)], dtype=object if self._model.classes is None else None
        )

    def predict_proba(self, X: Any) -> Any:
        """Like the model's ``predict_proba``, one logged decision per row (not while suspended)."""
        m = self._model
        if m.proba is None:
            raise ValidationError(f"{self.model_ref} has no predict_proba", field="model")
        susp = self.suspension
        if susp is not None:
            self.decide_many(X)  # logs the fallback decisions (and raises for reject)
            raise SuspendedError(
                f"{self.model_ref} is suspended in {self.env} ({susp.reason}); probabilities are not available"
            )
        t0 = time.perf_counter_ns()
        dicts = self._model.rows(X)
        n = len(dicts)
        Xm = X if isinstance(X, np.ndarray) and not m.use_frame and X.ndim == 2 else m.matrix(dicts)
        P = np.asarray(m.proba(Xm))
        ids = new_ids(n)
        scores = score_probabilities(P, m.classes)
        routes: list[Route] = [
            "review" if self.rules.needs_review(d, c, i) else "auto"
            for d, c, i in zip(dicts, scores.confidences, ids, strict=True)
        ]
        self._log_many(_Batch(ids, dicts, [None] * n, scores, routes, self.model_ref), t0)
        return P

    # -- internals -------------------------------------------------------------------------------

    def _explain(self, features: Mapping[str, Any]) -> list[list[Any]] | None:
        # The explainer gets the input mapping: DecisionExplainer's fast path takes exactly that, and a
        # one-row frame per decision would cost far more than the explanation itself.
        assert self.explainer is not None
        return _explanation(self.explainer.explain(features, self.top_k))

    def _explain_many(self, dicts: Sequence[Mapping[str, Any]], X: Any) -> list[list[list[Any]] | None]:
        """Every row's explanation, in one batch call where the explainer has one (``explain_many``).

        One transform and one vectorised pass (TreeSHAP, linear terms, native contributions) for the
        batch instead of one per row. ``X`` is the model's input, reused when it is a frame already.
        """
        explainer = self.explainer
        many = getattr(explainer, "explain_many", None)
        if many is None:
            return [self._explain(d) for d in dicts]
        names = list(getattr(explainer, "feature_names", None) or self._model.names or [])
        if hasattr(X, "columns") and set(names) <= set(X.columns):
            frame = X
        else:
            import pandas as pd

            frame = pd.DataFrame([{k: d.get(k) for k in names} for d in dicts], columns=names)
        return [_explanation(pairs) for pairs in many(frame, self.top_k)]

    def _entry(self, did: str, payload: dict[str, Any], sealed: dict[str, Any], fast: bool) -> Entry:
        draft = _Draft(self._encoder, f"decision:{did}", payload, sealed, fast)
        return draft.to_prepared() if self._encode_on_caller else draft

    def _event(
        self, batch: _Batch, i: int, latency_us: int, batch_id: str | None = None, batch_size: int | None = None
    ) -> tuple[dict[str, Any], dict[str, Any], bool]:
        """Row ``i``'s event payload and sealed fields, and whether the fast encoder is exact for it."""
        did, features, scores, route = batch.ids[i], batch.inputs[i], batch.scores, batch.routes[i]
        if batch.applied is not None:
            applied = self.data.seal(batch.applied[i], decision_id=did, subject=batch.subjects[i])
        else:
            applied = self.data.apply(features, decision_id=did, subject=batch.subjects[i])
        out, ok = normalise(scores.outputs[i], "output")
        score, conf = scores.scores[i], scores.confidences[i]
        # Probabilities of exactly 0 or 1 must be written as integers (JCS), tiny ones need the slow path.
        sc, score_ok = (None, True) if score is None else normalise(score, "score")
        cf, conf_ok = (None, True) if conf is None else normalise(conf, "confidence")
        # Why a human must look (only for routed decisions, so the common path pays nothing): the rules that
        # fired, with feature values only for fields the data policy keeps in clear.
        reasons: list[dict[str, Any]] | None = None
        reasons_ok = True
        if route == "review":
            reasons = self.rules.fired(features, conf, did, clear=applied.kept)
            reasons_ok = encoding.validate(reasons, "review_reasons")
        explanation = None if batch.explanations is None else batch.explanations[i]
        expl_ok = True
        if explanation is not None:
            explanation, expl_ok = _explanation_fast(explanation)
        payload = DecisionRecord(
            decision_id=did,
            model=batch.model_ref,
            env=self.env,
            input=applied.kept,
            pseudonyms=applied.pseudonyms,
            output=out,
            score=sc,
            confidence=cf,
            latency_us=latency_us,
            route=route,
            review_reasons=reasons,
            explanation=explanation,
            fallback=batch.fallback,
            mode=self.mode,
            batch_id=batch_id,
            batch_size=batch_size,
        ).payload()
        fast = applied.fast and ok and score_ok and conf_ok and reasons_ok and expl_ok
        return payload, applied.sealed, fast

    def _log(self, batch: _Batch, t0: int) -> Decision:
        """Log the one decision of ``batch``; its :class:`Decision`."""
        latency = (time.perf_counter_ns() - t0) // 1000
        payload, sealed, fast = self._event(batch, 0, latency)
        did, scores = batch.ids[0], batch.scores
        pending = self.logger.submit(self._entry(did, payload, sealed, fast), did)
        explanation = None if batch.explanations is None else batch.explanations[0]
        return Decision(
            did,
            scores.outputs[0],
            scores.scores[0],
            scores.confidences[0],
            batch.routes[0],
            batch.model_ref,
            latency,
            pending,
            batch.fallback,
            explanation,
            payload["review_reasons"],
        )

    def _log_many(self, batch: _Batch, t0: int) -> Decisions:
        """Log every decision of ``batch`` in one buffer operation; their :class:`Decisions`."""
        ids, n = batch.ids, len(batch.ids)
        if batch.applied is not None and n > 1:
            # Sealed in one go: the subjects' keys and the envelopes in batches, not one query each.
            batch.applied = self.data.seal_many(batch.applied, ids, batch.subjects)
        size = batch.batch_size or n
        latency = _share_us(t0, size)
        bid = batch.batch_id or new_id()
        events = [self._event(batch, i, latency, bid, size) for i in range(n)]
        entry = self._entry
        pending = self.logger.submit_batch([entry(ids[i], *ev) for i, ev in enumerate(events)], ids)
        scores = batch.scores
        return Decisions(
            ids,
            scores.outputs,
            scores.scores,
            scores.confidences,
            batch.routes,
            batch.model_ref,
            latency,
            pending,
            None if batch.fallback is None else [batch.fallback] * n,
            batch.explanations,
            [ev[0]["review_reasons"] for ev in events],
        )

    def _decide_fallback(
        self, rows: Sequence[Mapping[str, Any]], subs: Sequence[str | None], susp: Suspension, t0: int
    ) -> Decisions:
        n = len(rows)
        ids = new_ids(n)
        scores, ref, label = self._fallbacks.answer(rows, susp, self.fallback)
        decisions = self._log_many(_Batch(ids, rows, subs, scores, ["fallback"] * n, ref, label), t0)
        if label == "reject":
            raise SuspendedError(
                f"{self.model_ref} is suspended in {self.env} since {susp.ts} by {susp.actor}"
                + (f" ({susp.reason})" if susp.reason else "")
                + f"; fallback is to reject. The refused request was logged as decision {decisions[0].decision_id}."
            )
        return decisions

    def close(self) -> None:
        """Flush this guard's pending decisions (the shared logger and kill switch stay up for others)."""
        self.logger.flush()


def guard(
    trail: Trail,
    model_ref_or_callable: Any,
    *,
    env: str = "production",
    system: str | None = None,
    policy: Policy | str | os.PathLike[str] | None = None,
    actor: Actor | None = None,
    explainer: Any = None,
    top_k: int = 3,
    fallback: str | FallbackFn | None = None,
    name: str | None = None,
    feature_names: Sequence[str] | None = None,
    training_range: Mapping[str, Any] | None = None,
    logger: DecisionLogger | None = None,
    kill_switch: KillSwitch | None = None,
    trusted: bool = False,
) -> Guard:
    """Wrap a model for serving with decision logging, oversight, the data policy and the kill switch.

    ``model_ref_or_callable``: ``"name@version"`` (or ``"model:name@version"``) of a registered model,
    ``"name"`` for the version currently deployed to ``env``, or an estimator / callable (give ``name``
    so the kill switch and the logs can refer to it). ``policy`` defaults to the policy in force for the
    system; ``fallback`` (``reject``, ``human_review``, ``previous_version``, a registered name or a
    callable) defaults to the policy's ``oversight.fallback``, else ``reject``.

    A registered version is served only while it is deployed to ``env`` (live or suspended, in any
    mode; see :func:`modeltrail.registry.deploy`): otherwise :class:`LifecycleError`. An estimator or
    callable that is not registered is not subject to this rule; its decisions record no ``mode``.
    """
    version: int | None = None
    mode: str | None = None
    sig_names: list[str] | None = None
    rng = training_range
    if isinstance(model_ref_or_callable, str):
        from ..lineage.models import load_model
        from ..lineage.queries import get_model_version

        ref = model_ref_or_callable.strip()
        ref = ref[len("model:") :] if ref.startswith("model:") else ref
        if "@" not in ref:
            deployed = deployed_versions(trail, ref, env, active=True)
            if not deployed:
                raise NotFoundError(f"no version of model {ref!r} is deployed to {env!r}; give NAME@VERSION")
            ref = f"{ref}@{deployed[-1]}"
        mv = get_model_version(trail, ref)
        # Refused before the artifact is loaded: nothing of an undeployed version runs.
        mode = serving_deployment(trail, mv.name, mv.version, env).mode
        obj = load_model(trail, mv, trusted=trusted)
        name, version = mv.name, mv.version
        system = system or mv.system
        inputs = mv.signature.get("inputs") if isinstance(mv.signature, Mapping) else None
        if isinstance(inputs, list) and inputs and all(isinstance(i, Mapping) and "name" in i for i in inputs):
            sig_names = [str(i["name"]) for i in inputs]
        rng = rng if rng is not None else mv.training_range
    else:
        obj = model_ref_or_callable
        if name is None:
            name = getattr(obj, "__name__", None) or type(obj).__name__
    pol = _resolve_policy(trail, policy, system)
    system = system or (pol.system if pol is not None else None)
    if not system:
        raise ValidationError("name the AI system (system=...) or configure a policy", field="system")
    return Guard(
        trail,
        obj,
        name=name,
        version=version,
        env=env,
        system=system,
        policy=pol,
        actor=actor or GUARD_ACTOR,
        explainer=explainer,
        top_k=top_k,
        fallback=fallback,
        training_range=rng,
        feature_names=feature_names or sig_names,
        logger=logger,
        kill_switch=kill_switch,
        trusted=trusted,
        mode=mode,
    )


__all__ = [
    "GUARD_ACTOR",
    "SKIPPED_EVENT",
    "Decision",
    "Decisions",
    "FallbackFn",
    "Guard",
    "OnError",
    "SkippedRow",
    "default_logger",
    "guard",
    "serving_deployment",
]
