"""Human oversight (AI Act Art. 14): review rules, the review queue, reviews, labels and reveals.

Review rules come from the policy's ``oversight.review_when``; any one of them routes a decision to a
human reviewer:

- ``confidence_below``: the model's confidence (max class probability) is under the threshold;
- ``outside_training_range``: a numeric input lies outside ``[min, max]`` seen in training (the
  ``training_range`` of the ``model.registered`` event);
- ``segments``: an input equals a named value (``age_band=<25``);
- ``missing_values``: at least this many inputs are missing (None, NaN, ``pd.NA``);
- ``sample_rate``: a deterministic spot check. Whether a decision is sampled depends only on its id
  (``SHA-256(decision id)`` read as a fraction), so an auditor can recompute which were due.

The guard records the rules that fired in the decision event's ``review_reasons``
(:meth:`ReviewRules.fired`); the review queue carries them and :func:`describe_reason` puts them in words.

Reviews are ledger events linked to the decision (``refs: ["event:<seq>", "decision:<id>"]``):
``oversight.reviewed`` (accepted) or ``oversight.overridden`` (with the reviewer's value). Only humans
review. ``reveal`` opens the sealed inputs of a decision for an actor whose policy user holds a
``roles.reveal`` role; every attempt is recorded, granted (``oversight.revealed``) or refused
(``oversight.reveal_refused``), before anything is returned or raised.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LifecycleError, NotFoundError, PermissionDeniedError, SignatureError, ValidationError
from ..events import Actor, Event, EventInput, Receipt
from ..governance.namespace import record_governed
from ..governance.signing import SIGNATURE_FIELD, override_body, signature_problem
from ..policy import Policy, ReviewWhen
from ..projections import catch_up, loads
from . import projection as _projection
from ._encoding.encode import is_missing
from .datapolicy import open_sealer, seal_context

if TYPE_CHECKING:
    from ..identity import Identity
    from ..trail import Trail

_NO_OVERRIDE: Any = object()


# ----------------------------------------------------------------------------------------- rules


def sampled(decision_id: str, rate: float) -> bool:
    """Whether the spot-check sampler picks ``decision_id`` at ``rate`` (deterministic, uniform)."""
    if rate <= 0:
        return False
    if rate >= 1:
        return True
    h = int.from_bytes(hashlib.sha256(decision_id.encode()).digest()[:8], "big")
    return h < rate * 2**64


def _json_num(x: float) -> int | float:
    """``x`` as it is written in an event: integral values as integers (JCS writes ``1.0`` as ``1``)."""
    return int(x) if float(x).is_integer() and abs(x) < 2**53 else float(x)


def describe_reason(reason: Mapping[str, Any]) -> str:
    """One routing reason (an item of ``review_reasons``) as a short sentence for people.

    Unknown rules (from another tool or a later version) are shown as their JSON-ish ``key=value`` pairs.
    """
    rule = reason.get("rule")
    field = reason.get("field")
    if rule == "confidence_below":
        conf, threshold = reason.get("confidence"), reason.get("threshold")
        if isinstance(conf, int | float) and not isinstance(conf, bool):
            return f"low confidence {conf:.3f} < {threshold}"
        return f"low confidence (< {threshold})"
    if rule == "outside_training_range":
        bounds = reason.get("range")
        rng = f"[{bounds[0]}, {bounds[1]}]" if isinstance(bounds, list | tuple) and len(bounds) == 2 else "?"
        if "value" in reason:
            return f"{field}={reason['value']} outside training range {rng}"
        return f"{field} outside training range {rng} (value not logged)"
    if rule == "segment":
        if "value" in reason:
            return f"segment {field}={reason['value']}"
        return f"segment on {field} (value not logged)"
    if rule == "sample_rate":
        return f"spot check (sample rate {reason.get('rate')})"
    if rule == "missing_values":
        fields = reason.get("fields")
        names = ", ".join(map(str, fields)) if isinstance(fields, list) else "?"
        return f"{reason.get('count')} missing input(s): {names}"
    return ", ".join(f"{k}={v}" for k, v in reason.items())


class ReviewRules:
    """Compiled ``review_when`` rules for one model (its training ranges bound in)."""

    __slots__ = ("active", "confidence_below", "missing_values", "ranges", "sample_rate", "segments")

    def __init__(self, when: ReviewWhen | None, training_range: Mapping[str, Any] | None = None) -> None:
        """Compile ``when``; ``training_range`` maps feature -> ``[min, max]``."""
        when = when or ReviewWhen()
        self.confidence_below = when.confidence_below
        ranges: list[tuple[str, float, float]] = []
        if when.outside_training_range and training_range:
            for name, bounds in training_range.items():
                if (
                    isinstance(bounds, list | tuple)
                    and len(bounds) == 2
                    and all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
                ):
                    ranges.append((name, float(bounds[0]), float(bounds[1])))
        self.ranges = tuple(ranges)
        self.segments = tuple((s.column, s.value) for s in when.segments)
        self.sample_rate = when.sample_rate or 0.0
        self.missing_values = when.missing_values
        self.active = bool(
            self.confidence_below is not None
            or self.ranges
            or self.segments
            or self.sample_rate
            or self.missing_values
        )

    def fired(
        self,
        features: Mapping[str, Any],
        confidence: float | None,
        decision_id: str,
        clear: Container[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every rule that fires for this decision, as the ``review_reasons`` of its event (empty: automatic).

        Each reason is a dict with ``rule`` and the details:

        - ``{"rule": "confidence_below", "confidence": c, "threshold": t}``;
        - ``{"rule": "outside_training_range", "field": f, "range": [min, max], "value": v}``;
        - ``{"rule": "segment", "field": f, "value": v}`` (the policy's segment ``f=v``);
        - ``{"rule": "sample_rate", "rate": r}`` (the deterministic spot check);
        - ``{"rule": "missing_values", "fields": [...], "count": k, "threshold": t}`` (names, no values).

        ``clear`` names the fields whose values the event holds in clear (the data policy's ``keep``); for
        any other field the ``value`` is left out, so a reason never carries a sealed, pseudonymised or
        dropped value. None means every field is in clear.
        """
        out: list[dict[str, Any]] = []
        if not self.active:
            return out
        c = self.confidence_below
        if c is not None and confidence is not None and confidence < c:
            out.append({"rule": "confidence_below", "confidence": _json_num(confidence), "threshold": _json_num(c)})
        for name, lo, hi in self.ranges:
            v = features.get(name)
            # A missing value (NaN) is counted by its own rule, not as out of range.
            if isinstance(v, int | float) and not isinstance(v, bool) and v == v and not (lo <= v <= hi):
                r: dict[str, Any] = {
                    "rule": "outside_training_range",
                    "field": name,
                    "range": [_json_num(lo), _json_num(hi)],
                }
                if clear is None or name in clear:
                    r["value"] = _json_num(v)
                out.append(r)
        for column, value in self.segments:
            v = features.get(column)
            if v is not None and str(v) == value:
                seg: dict[str, Any] = {"rule": "segment", "field": column}
                if clear is None or column in clear:
                    seg["value"] = value
                out.append(seg)
        if self.missing_values is not None:
            gaps = [k for k, v in features.items() if is_missing(v)]
            if len(gaps) >= self.missing_values:
                out.append(
                    {"rule": "missing_values", "fields": gaps, "count": len(gaps), "threshold": self.missing_values}
                )
        if self.sample_rate and sampled(decision_id, self.sample_rate):
            out.append({"rule": "sample_rate", "rate": _json_num(self.sample_rate)})
        return out

    def reasons(self, features: Mapping[str, Any], confidence: float | None, decision_id: str) -> list[str]:
        """Every rule that fires for this decision, in words (empty: automatic)."""
        return [describe_reason(r) for r in self.fired(features, confidence, decision_id)]

    def candidates(
        self, X: np.ndarray, names: Sequence[str], confidence: np.ndarray | None, decision_ids: Sequence[str]
    ) -> np.ndarray:
        """Rows of the numeric batch ``X`` (columns ``names``) that a rule may route to review.

        A superset, computed column by column: every row for which :meth:`needs_review` is true is in
        it (a segment ``f=v`` can only match a number equal to ``v``), so only these rows need the exact
        per-row check. Spot-check sampling is exact already (it depends on the id alone).
        """
        n = X.shape[0]
        mask = np.zeros(n, dtype=bool)
        if not self.active:
            return mask
        c = self.confidence_below
        if c is not None and confidence is not None:
            mask |= confidence < c
        where = {name: j for j, name in enumerate(names)}
        for name, lo, hi in self.ranges:
            j = where.get(name)
            if j is not None:
                col = X[:, j]
                mask |= (col < lo) | (col > hi)
        for column, value in self.segments:
            j = where.get(column)
            if j is None:
                continue
            col = X[:, j]
            try:
                target: float = int(value) if col.dtype.kind in "iu" else float(value)
            except ValueError:
                continue  # str() of a number never equals this text
            mask |= col == target
        if self.missing_values is not None:
            # NaN is the numeric batch's missing value.
            mask |= np.isnan(X).sum(axis=1) >= self.missing_values if X.dtype.kind == "f" else False
        if self.sample_rate:
            rate = self.sample_rate
            mask |= np.fromiter((sampled(d, rate) for d in decision_ids), dtype=bool, count=n)
        return mask

    def needs_review(self, features: Mapping[str, Any], confidence: float | None, decision_id: str) -> bool:
        """Whether any rule fires (stops at the first)."""
        if not self.active:
            return False
        c = self.confidence_below
        if c is not None and confidence is not None and confidence < c:
            return True
        for name, lo, hi in self.ranges:
            v = features.get(name)
            if (
                v is not None
                and type(v) is not bool
                and isinstance(v, int | float)
                and v == v  # NaN: missing, counted by its own rule
                and not (lo <= v <= hi)
            ):
                return True
        for column, value in self.segments:
            v = features.get(column)
            if v is not None and str(v) == value:
                return True
        m = self.missing_values
        if m is not None and sum(1 for v in features.values() if is_missing(v)) >= m:
            return True
        return bool(self.sample_rate) and sampled(decision_id, self.sample_rate)


# ----------------------------------------------------------------------------------------- queue


@dataclass(frozen=True)
class ReviewItem:
    """A decision in the review queue and, once reviewed, the outcome."""

    decision_id: str
    decision_seq: int
    ts: str
    system: str
    model: str | None
    env: str | None
    route: str
    fallback: str | None
    output: Any
    score: float | None
    confidence: float | None
    status: str
    reviewer: str | None
    review_seq: int | None
    value: Any
    reason: str | None
    """The reviewer's reason (None until reviewed)."""
    review_reasons: list[dict[str, Any]] | None = None
    """Why the guard routed the decision to review: the rules that fired (see :meth:`ReviewRules.fired`).

    None for fallback and automatic decisions, and for decisions logged before reasons were recorded.
    """

    @property
    def why(self) -> str:
        """Why this decision is in the queue, in words (``review_reasons``, the kill switch, or a reviewer)."""
        if self.review_reasons:
            return "; ".join(describe_reason(r) for r in self.review_reasons)
        if self.route == "fallback":
            return f"model suspended (fallback {self.fallback})" if self.fallback else "model suspended"
        if self.route == "review":
            return "not recorded"
        return "automatic; reviewed on a reviewer's initiative"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the fields plus ``why``)."""
        out = dict(self.__dict__)
        out["why"] = self.why
        return out


_ITEM_COLS = (
    "decision_id, decision_seq, ts, system, model, env, route, fallback, output, score, confidence, status, "
    "reviewer, review_seq, value, reason, review_reasons"
)


def _item(r: tuple[Any, ...]) -> ReviewItem:
    return ReviewItem(
        decision_id=r[0],
        decision_seq=int(r[1]),
        ts=r[2],
        system=r[3],
        model=r[4],
        env=r[5],
        route=r[6],
        fallback=r[7],
        output=loads(r[8]),
        score=r[9],
        confidence=r[10],
        status=r[11],
        reviewer=r[12],
        review_seq=None if r[13] is None else int(r[13]),
        value=loads(r[14]),
        reason=r[15],
        review_reasons=_reasons(loads(r[16])),
    )


def _reasons(value: Any) -> list[dict[str, Any]] | None:
    if not isinstance(value, list):
        return None
    return [r for r in value if isinstance(r, dict)]


def _refresh(trail: Trail) -> None:
    catch_up(trail, [_projection.NAME])


def _model_filter(model: str | None) -> tuple[str, list[Any]]:
    if model is None:
        return "", []
    ref = model if model.startswith("model:") else f"model:{model}"
    if "@" in ref:
        return " AND model = ?", [ref]
    return " AND (model = ? OR model LIKE ?)", [ref, ref.replace("%", "").replace("_", "\\_") + "@%"]


def review_queue(
    trail: Trail,
    model: str | None = None,
    status: str | None = "pending",
    *,
    limit: int | None = None,
    after_seq: int | None = None,
) -> list[ReviewItem]:
    """Decisions awaiting review (``status="pending"``), or ``accepted`` / ``overridden`` / None for all.

    ``model`` is ``name`` (every version) or ``name@version``. Oldest first. ``after_seq`` pages: only
    decisions whose seq is greater (the last ``decision_seq`` of the previous page); with ``limit`` each
    page is one index range, whatever the queue's size.
    """
    if status not in (None, "pending", "accepted", "overridden"):
        raise ValidationError(f"expected pending, accepted, overridden or None, got {status!r}", field="status")
    _refresh(trail)
    where, args = "1 = 1", list[Any]()
    if status is not None:
        where += " AND status = ?"
        args.append(status)
    if after_seq is not None:
        where += " AND decision_seq > ?"
        args.append(int(after_seq))
    mwhere, margs = _model_filter(model)
    sql = f"SELECT {_ITEM_COLS} FROM oversight_queue WHERE {where}{mwhere} ORDER BY decision_seq"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_item(r) for r in trail.store.execute(sql, [*args, *margs])]


def review_count(trail: Trail, status: str = "pending", *, cap: int = 100_000) -> int:
    """How many decisions have review ``status``, counted up to ``cap`` (one index range, bounded)."""
    if status not in ("pending", "accepted", "overridden"):
        raise ValidationError(f"expected pending, accepted or overridden, got {status!r}", field="status")
    _refresh(trail)
    rows = trail.store.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM oversight_queue WHERE status = ? LIMIT {max(1, int(cap))}) AS capped",
        (status,),
    )
    return int(rows[0][0])


def get_review_item(trail: Trail, decision_id: str) -> ReviewItem | None:
    """The queue row of ``decision_id`` (None when it was automatic and never reviewed)."""
    _refresh(trail)
    rows = trail.store.execute(f"SELECT {_ITEM_COLS} FROM oversight_queue WHERE decision_id = ?", (decision_id,))
    return _item(rows[0]) if rows else None


def decision_event(trail: Trail, decision_id: str) -> Event:
    """The ``inference.decision`` event of ``decision_id`` (one indexed lookup); NotFoundError."""
    did = _decision_id(decision_id)
    for ev in trail.events("inference.decision", subject=f"decision:{did}", limit=1):
        return ev
    raise NotFoundError(f"no decision {did} in the trail")


def _decision_id(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("expected a decision id", field="decision_id")
    text = text.strip()
    return text[len("decision:") :] if text.startswith("decision:") else text


def _actor(actor: Actor | Mapping[str, str] | Identity) -> Actor:
    from ..identity import acting_actor

    return acting_actor(actor)


def _human(actor: Actor, action: str) -> None:
    if actor.kind != "human":
        raise PermissionDeniedError(
            f"{actor.id} is a {actor.kind} actor; only a human may {action} (AI Act Art. 14 human oversight)"
        )


def review(
    trail: Trail,
    decision_id: str,
    *,
    actor: Actor | Mapping[str, str] | Identity,
    accept: bool | None = None,
    override: Any = _NO_OVERRIDE,
    reason: str,
    signature: str | None = None,
) -> Receipt:
    """Record a human review of a decision: ``accept=True`` or ``override=<the reviewer's value>``.

    Records ``oversight.reviewed`` or ``oversight.overridden`` with ``refs`` to the decision event. Where the
    policy's ``oversight`` says ``signed: required``, an override carries the reviewer's SSH signature over
    :func:`override_body_for` (else :class:`~modeltrail.errors.SignatureError`, nothing recorded).
    Raises :class:`PermissionDeniedError` for a non-human actor, :class:`NotFoundError` for an unknown
    decision, :class:`LifecycleError` when the decision was already reviewed, and
    :class:`ValidationError` unless exactly one of ``accept`` / ``override`` is given with a reason.
    """
    who = _actor(actor)
    _human(who, "review a decision")
    overriding = override is not _NO_OVERRIDE
    if overriding == bool(accept):
        raise ValidationError("give exactly one of accept=True or override=<value>", field="accept")
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("a review needs a reason (it is part of the oversight record)", field="reason")
    ev = decision_event(trail, decision_id)
    did = str(ev.payload.get("decision_id") or _decision_id(decision_id))
    existing = get_review_item(trail, did)
    if existing is not None and existing.status != "pending":
        raise LifecycleError(
            f"decision {did} was already {existing.status} by {existing.reviewer} (event {existing.review_seq})"
        )
    refs = [f"event:{ev.seq}", f"decision:{did}"]
    if overriding:
        _check_override_signature(trail, ev.system, did, who, override, reason, signature)
        payload: dict[str, Any] = {
            "decision_id": did,
            "original": ev.payload.get("output"),
            "value": override,
            "reason": reason,
        }
        if signature is not None:
            payload[SIGNATURE_FIELD] = signature
        return record_governed(
            trail,
            "oversight.overridden",
            system=ev.system,
            actor=who,
            subject=f"decision:{did}",
            payload=payload,
            refs=refs,
        )
    return record_governed(
        trail,
        "oversight.reviewed",
        system=ev.system,
        actor=who,
        subject=f"decision:{did}",
        payload={"decision_id": did, "outcome": "accepted", "reason": reason},
        refs=refs,
    )


def override_body_for(
    trail: Trail, decision_id: str, *, actor: Actor | Mapping[str, str] | Identity, value: Any, reason: str
) -> bytes:
    """The bytes a reviewer signs to override ``decision_id`` with ``value`` (see :mod:`..governance.signing`)."""
    who = _actor(actor)
    ev = decision_event(trail, decision_id)
    did = str(ev.payload.get("decision_id") or _decision_id(decision_id))
    return override_body(system=ev.system, decision_id=did, actor_id=who.id, role=who.role, value=value, reason=reason)


def _check_override_signature(
    trail: Trail, system: str, did: str, who: Actor, value: Any, reason: str, signature: str | None
) -> None:
    """Refuse an override whose signature does not verify, or is missing where the policy requires one."""
    from ..registry.policy_store import policy_or_none

    policy = policy_or_none(trail, system)
    spec = policy.oversight if policy is not None else None
    body = override_body(system=system, decision_id=did, actor_id=who.id, role=who.role, value=value, reason=reason)
    bad = signature_problem(policy, spec, who.id, body, signature, "override")
    if bad is not None:
        raise SignatureError(f"override of decision {did} refused: {bad}")


def intervention_stats(trail: Trail) -> dict[str, Any]:
    """Human-intervention figures: per model and per reviewer, plus totals.

    ``routed`` counts decisions sent to review or fallback; ``reviewed`` those a human acted on (a
    reviewer may also act on an automatic decision); ``override_rate`` = overridden / reviewed.
    """
    _refresh(trail)
    sums = (
        "SUM(CASE WHEN route IN ('review','fallback') THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status <> 'pending' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status = 'accepted' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status = 'overridden' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END)"
    )
    keys = ("routed", "reviewed", "accepted", "overridden", "pending")

    def block(values: Iterable[Any]) -> dict[str, Any]:
        out: dict[str, Any] = dict(zip(keys, (int(v or 0) for v in values), strict=True))
        out["override_rate"] = out["overridden"] / out["reviewed"] if out["reviewed"] else None
        return out

    per_model = {
        str(r[0]): block(r[1:])
        for r in trail.store.execute(f"SELECT model, {sums} FROM oversight_queue GROUP BY model ORDER BY model", ())
    }
    per_reviewer = {}
    for r in trail.store.execute(
        "SELECT reviewer, COUNT(*), SUM(CASE WHEN status = 'accepted' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status = 'overridden' THEN 1 ELSE 0 END) FROM oversight_queue "
        "WHERE reviewer IS NOT NULL GROUP BY reviewer ORDER BY reviewer",
        (),
    ):
        reviewed, accepted, overridden = int(r[1]), int(r[2] or 0), int(r[3] or 0)
        per_reviewer[str(r[0])] = {
            "reviewed": reviewed,
            "accepted": accepted,
            "overridden": overridden,
            "override_rate": overridden / reviewed if reviewed else None,
        }
    total = block(sum(m[k] for m in per_model.values()) for k in keys)
    return {"total": total, "models": per_model, "reviewers": per_reviewer}


# ---------------------------------------------------------------------------------------- labels


def _label_event(ev: Event, did: str, actual: Any, actor: Actor) -> EventInput:
    return EventInput(
        "inference.label",
        ev.system,
        actor,
        f"decision:{did}",
        {"decision_id": did, "actual": actual},
        [f"event:{ev.seq}"],
        None,
    )


def label(trail: Trail, decision_id: str, actual: Any, *, actor: Actor | Mapping[str, str] | Identity) -> Receipt:
    """Record the ground truth ``actual`` of a decision (``inference.label``), for monitoring."""
    ev = decision_event(trail, decision_id)
    did = str(ev.payload.get("decision_id") or _decision_id(decision_id))
    return trail.record_many([_label_event(ev, did, actual, _actor(actor))])[0]


def _parse_actual(text: str) -> Any:
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    try:
        return int(t)
    except ValueError:
        pass
    try:
        f = float(t)
    except ValueError:
        return t
    return f if math.isfinite(f) else t


def label_csv(
    trail: Trail,
    path: str | os.PathLike[str],
    *,
    actor: Actor | Mapping[str, str] | Identity,
    batch_size: int = 5_000,
) -> list[Receipt]:
    """Record labels from a CSV file with the columns ``decision_id`` and ``actual`` (a header row).

    Values of ``actual`` are read as booleans, integers or numbers when they look like one, else text.
    Every decision id is checked first; an unknown id raises :class:`NotFoundError` naming the line and
    nothing is recorded. Labels are then appended in batches (one transaction each).
    """
    who = _actor(actor)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = set(reader.fieldnames or ())
        missing = {"decision_id", "actual"} - fields
        if missing:
            raise ValidationError(
                f"the CSV needs the columns decision_id and actual; missing {', '.join(sorted(missing))}",
                field="csv",
            )
        rows = [(i + 2, r["decision_id"] or "", r["actual"] or "") for i, r in enumerate(reader)]
    events: list[EventInput] = []
    for line, did_text, actual in rows:
        try:
            ev = decision_event(trail, did_text)
        except (NotFoundError, ValidationError) as exc:
            raise NotFoundError(f"{path}:{line}: {exc}") from None
        did = str(ev.payload.get("decision_id") or _decision_id(did_text))
        events.append(_label_event(ev, did, _parse_actual(actual), who))
    receipts: list[Receipt] = []
    for i in range(0, len(events), batch_size):
        receipts.extend(trail.record_many(events[i : i + batch_size]))
    return receipts


# ---------------------------------------------------------------------------------------- reveal


def _policy_for(trail: Trail, system: str) -> Policy | None:
    from ..registry.policy_store import policy_or_none

    return policy_or_none(trail, system)


def _reveal_role(policy: Policy | None, actor: Actor | Identity) -> str | None:
    """The reveal role the actor's policy user holds, or None."""
    from ..identity import Identity

    if policy is None:
        return None
    allowed = policy.roles.reveal
    if isinstance(actor, Identity):
        held: Iterable[str] = actor.roles
        uid = actor.user_id
    else:
        uid = actor.id
        user = policy.users.get(uid)
        # The roles come from the policy's users, never from what the caller claims.
        held = user.roles if user is not None else ()
    held = tuple(held)
    if actor.kind != "human":
        return None
    claimed = actor.role if isinstance(actor, Actor) else None
    if claimed is not None and claimed in allowed and claimed in held:
        return claimed
    return next((r for r in held if r in allowed), None) if uid else None


def reveal(
    trail: Trail,
    decision_id: str,
    *,
    purpose: str,
    actor: Actor | Mapping[str, str] | Identity,
    policy: Policy | None = None,
) -> dict[str, Any]:
    """Unseal the sealed inputs of a decision for an authorised human, recording the access first.

    The actor's user must hold one of the policy's ``roles.reveal`` roles. A refused attempt is recorded
    as ``oversight.reveal_refused`` and raises :class:`PermissionDeniedError`; a granted one records
    ``oversight.revealed`` (purpose, fields) and returns ``{field: value}``. Pseudonymised fields cannot be
    revealed (they are one-way); dropped fields were never stored. A field whose subject key was erased
    raises :class:`NotFoundError`.
    """
    from ..identity import Identity

    if not isinstance(purpose, str) or not purpose.strip():
        raise ValidationError("a reveal needs a purpose (it is recorded)", field="purpose")
    ev = decision_event(trail, decision_id)
    did = str(ev.payload.get("decision_id") or _decision_id(decision_id))
    pol = policy if policy is not None else _policy_for(trail, ev.system)
    ident: Actor | Identity = actor if isinstance(actor, Identity) else _actor(actor)
    who = _actor(ident)
    role = _reveal_role(pol, ident)
    fields = sorted(ev.sealed)
    refs = [f"event:{ev.seq}", f"decision:{did}"]
    if role is None:
        if pol is None:
            why = "no policy is in force, so no role may reveal sealed data"
        elif who.kind != "human":
            why = f"{who.id} is a {who.kind} actor; only a human may reveal"
        else:
            need = ", ".join(pol.roles.reveal) or "none (the policy grants reveal to no role)"
            why = f"{who.id} holds none of the reveal roles ({need})"
        record_governed(
            trail,
            "oversight.reveal_refused",
            system=ev.system,
            actor=who,
            subject=f"decision:{did}",
            payload={"decision_id": did, "purpose": purpose, "fields": fields, "reason": why},
            refs=refs,
        )
        raise PermissionDeniedError(f"reveal of decision {did} refused: {why}; the attempt was recorded")
    record_governed(
        trail,
        "oversight.revealed",
        system=ev.system,
        actor=Actor(who.id, role, who.kind),
        subject=f"decision:{did}",
        payload={"decision_id": did, "purpose": purpose, "fields": fields},
        refs=refs,
    )
    if not fields:
        return {}
    sealer = open_sealer(trail)
    try:
        return {
            name: sealer.unseal_ref(trail.blobs, ev.sealed[name], context=seal_context(did, name)) for name in fields
        }
    finally:
        sealer.store.close()


__all__ = [
    "ReviewItem",
    "ReviewRules",
    "decision_event",
    "describe_reason",
    "get_review_item",
    "intervention_stats",
    "label",
    "label_csv",
    "override_body_for",
    "reveal",
    "review",
    "review_count",
    "review_queue",
    "sampled",
]
