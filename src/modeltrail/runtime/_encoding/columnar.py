"""Column-wise encoding of a numeric batch of decisions: the fast path of ``Guard.decide_many``.

For a 2-D numeric batch whose fields the data policy keeps or drops, the ``inference.decision`` events
of the rows routed ``auto`` differ only in a few numbers, the decision id and the output. So instead of
a payload dictionary per row (validated value by value, then sorted and serialised), the batch is
encoded column by column:

1. NumPy checks the whole batch at once: finite, integers within ±(2^53-1), and which floats JCS
   writes differently from ``repr`` (whole values are written as integers; magnitudes under 1e-4 as
   ECMAScript does, through :func:`modeltrail.ledger.encoding.es_number`).
2. ``orjson`` formats each column straight from its NumPy buffer (columns with whole or tiny values
   go through Python numbers, with those values replaced), and one split cuts the text into one token
   per number.
3. The rows' tokens and the constant text between them (a template compiled once per guard by
   :mod:`modeltrail.ledger.leaf` from the leaf's definition and :class:`.record.DecisionRecord`) are
   laid into one list by slice assignment, joined once, and split into one event head per row: no
   per-row formatting call.

The bytes are identical to what :class:`.encode.DecisionEncoder` produces for the same decision; the
tests compare both paths on random batches (hypothesis), including whole, tiny, huge and negative-zero
values and integer columns. Written here rather than with a library because no JSON library emits a
canonical encoding of many rows over one template; ``orjson`` still does all the number formatting.

A batch that does not qualify (another data policy action, a non-ASCII field name, a value outside
JSON) returns ``None`` from :meth:`ColumnarPlan.encode` and takes the general path, which raises the
precise per-field error where there is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import numpy as np
import orjson

from ...errors import ValidationError
from ...ledger import encoding
from ...ledger.leaf import Slot, event_template, split_event
from .._batches import PreparedBatch
from ..datapolicy import DROP, KEEP, DataPolicyPlan
from ..record import DecisionRecord
from .encode import DecisionEncoder, normalise

MAX_SAFE_INTEGER = encoding.MAX_SAFE_INTEGER


_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def _array_text(col: np.ndarray) -> bytes:
    """``a,b,c`` for a 1-D int64 or float64 array, straight from its buffer (no Python number objects)."""
    return orjson.dumps(np.ascontiguousarray(col), option=_NUMPY)[1:-1]


def number_tokens(columns: Sequence[np.ndarray]) -> list[bytes] | None:
    """RFC 8785 text of every value of ``columns`` (1-D numeric arrays of equal length), column-major.

    Returns None when a value has no JSON form the fast path may write (NaN, infinity, an integer
    beyond ±(2^53-1)): the caller then takes the general path, which names the offending field.
    """
    texts: list[bytes] = []
    for col in columns:
        if not col.size:
            continue
        kind = col.dtype.kind
        if kind in "iu":
            if int(col.max()) > MAX_SAFE_INTEGER or int(col.min()) < -MAX_SAFE_INTEGER:
                return None
            texts.append(_array_text(col.astype(np.int64, copy=False)))
            continue
        if kind != "f":
            return None
        col = col.astype(np.float64, copy=False)
        if not np.isfinite(col).all():
            return None
        mag = np.abs(col)
        whole = col == np.trunc(col)
        safe_whole = whole & (mag <= MAX_SAFE_INTEGER)
        if safe_whole.all():
            # Integral floats are written as integers by JCS (1169.0 -> 1169); -0.0 becomes 0 as well.
            texts.append(_array_text(col.astype(np.int64)))
            continue
        # Tiny non-zero magnitudes and whole values beyond 2^53-1: repr's layout differs from ECMAScript's.
        odd = ~safe_whole & ((mag < 1e-4) | whole)
        if not safe_whole.any() and not odd.any():
            # The common case: orjson writes every double as repr does, which is JCS's form here.
            texts.append(_array_text(col))
            continue
        values: list[Any] = col.tolist()
        for i in np.flatnonzero(safe_whole).tolist():
            values[i] = int(values[i])
        for i in np.flatnonzero(odd).tolist():
            values[i] = orjson.Fragment(encoding.es_number(values[i]).encode())
        texts.append(orjson.dumps(values)[1:-1])
    if not texts:
        return []
    # One split for the batch; numbers contain no ",".
    return b",".join(texts).split(b",")


class ColumnarPlan:
    """The per-guard template of an ``auto`` decision event over a fixed list of input columns.

    The template is compiled by :mod:`modeltrail.ledger.leaf` from the leaf's own definition and the
    fields of :class:`.record.DecisionRecord`: the constant fields (actor, system, environment, model,
    route ``auto``) are filled in once, the varying ones are holes.
    """

    __slots__ = (
        "_end",
        "_head",
        "_mid_post",
        "_mid_pre",
        "_overhead",
        "actor_id",
        "columns",
        "max_payload",
        "system",
        "type",
    )

    def __init__(
        self,
        names: Sequence[str],
        data: DataPolicyPlan,
        encoder: DecisionEncoder,
        *,
        env: str,
        model_ref: str,
        mode: str | None,
    ) -> None:
        """Compile the template; raises ValueError when these columns cannot take the fast path."""
        kept: dict[str, int] = {}
        for j, name in enumerate(names):
            if type(name) is not str or not name.isascii():
                raise ValueError(f"column name {name!r} needs the general encoder")
            action = data.action_for(name)
            if action == KEEP:
                if name in kept:
                    raise ValueError("duplicate column names")
                kept[name] = j
            elif action != DROP:
                raise ValueError(f"column {name!r} is {action}: per-value work")
        # The holes of one row: confidence, decision id, the kept inputs, output, score; the latency share
        # and the batch's id and size are one per batch. Every other field is a constant of the guard.
        spec: dict[str, Any] = {
            "decision_id": Slot("decision_id", string=True),
            "model": model_ref,
            "env": env,
            "input": {name: Slot(f"input:{j}") for name, j in kept.items()},
            "pseudonyms": {},
            "output": Slot("output"),
            "score": Slot("score"),
            "confidence": Slot("confidence"),
            "latency_us": Slot("latency_us"),
            "route": "auto",
            "review_reasons": None,
            "explanation": None,
            "fallback": None,
            "mode": mode,
            "batch_id": Slot("batch_id", string=True),
            "batch_size": Slot("batch_size"),
        }
        payload = {f.name: spec.pop(f.name) for f in fields(DecisionRecord)}
        if spec:
            raise ValueError(f"the decision record has no fields {sorted(spec)}")
        constant = {
            "type": encoder.event_type,
            "system": encoder.system,
            "actor": encoder.actor.to_dict(),
            "subject": Slot("subject", string=True),
            "refs": [],
            "sealed": {},
        }
        parts = split_event(event_template(payload=payload, **constant))
        self._head = parts.head
        self.columns = [int(n.partition(":")[2]) for n in parts.head.slots if n.startswith("input:")]
        mid = parts.mid.segments
        self._mid_pre, self._mid_post = mid[0] + b"decision:", mid[1]
        self._end = parts.end.render({})
        if self._end != encoder.end:
            raise ValueError("the encoder's events have another end")
        # The bytes of a head around its payload, for the payload size limit.
        bare = split_event(event_template(payload=Slot("payload"), **constant)).head
        self._overhead = len(bare.render({"payload": b""}))
        self.type, self.system, self.actor_id = encoder.event_type, encoder.system, encoder.actor.id
        self.max_payload = encoder.max_payload_bytes

    def encode(
        self,
        X: np.ndarray,
        ids: Sequence[str],
        outputs: Sequence[bytes],
        confidence: np.ndarray,
        score: np.ndarray,
        latency_us: int,
        batch_id: str,
        batch_size: int,
        rows: Sequence[int] | None = None,
    ) -> PreparedBatch | None:
        """The events of ``rows`` (default: all) of the batch ``X`` (its columns in the guard's order).

        ``outputs`` holds each row's output already as canonical JSON; ``latency_us`` is each decision's
        share of the batch's time. Returns None when a value needs the general path (see
        :func:`number_tokens`).
        """
        if rows is not None:
            idx = np.asarray(rows, dtype=np.intp)
            X, confidence, score = X[idx], confidence[idx], score[idx]
            ids = [ids[i] for i in rows]
            outputs = [outputs[i] for i in rows]
        n = len(ids)
        if n == 0:
            return PreparedBatch(self.type, self.system, self.actor_id, self._end, [], [], [])
        cols = [confidence, *(X[:, j] for j in self.columns), score]
        tokens = number_tokens(cols)
        if tokens is None:
            return None
        id_bytes = [i.encode("ascii") for i in ids]
        # Each row is the template's constant segments interleaved with its values. The values are laid
        # into one list by slice assignment, joined once and split at the NULs: no per-row formatting.
        # A NUL ends each row (canonical JSON never holds a raw one).
        head = self._head.fill(
            {"latency_us": b"%d" % latency_us, "batch_id": batch_id.encode("ascii"), "batch_size": b"%d" % batch_size}
        )
        column_of: dict[str, Sequence[bytes]] = {
            "confidence": tokens[:n],
            "decision_id": id_bytes,
            "output": outputs,
            "score": tokens[(len(self.columns) + 1) * n :],
        }
        for k, j in enumerate(self.columns):
            column_of[f"input:{j}"] = tokens[(k + 1) * n : (k + 2) * n]
        values = [column_of[name] for name in head.slots]
        segments = [*head.segments[:-1], head.segments[-1] + b"\x00"]
        width = len(segments) + len(values)
        parts: list[bytes] = [b""] * (n * width)
        for p, seg in enumerate(segments):
            parts[2 * p :: width] = [seg] * n
        for p, column in enumerate(values):
            parts[2 * p + 1 :: width] = column
        heads = b"".join(parts).split(b"\x00")
        heads.pop()  # the empty text after the last row's NUL
        limit = self.max_payload + self._overhead
        if max(map(len, heads)) > limit:
            return None  # the general path raises the precise error
        pre, post = self._mid_pre, self._mid_post
        mids = (pre + (post + b"\x00" + pre).join(id_bytes) + post).split(b"\x00")
        subjects: list[str | None] = ("decision:" + "\x00decision:".join(ids)).split("\x00")  # type: ignore[assignment]
        return PreparedBatch(self.type, self.system, self.actor_id, self._end, heads, mids, subjects)


class ColumnarEncoder:
    """One guard's column-wise encoding: a compiled :class:`ColumnarPlan` per column list, and its labels.

    The plans and the labels' JSON are built once, on first use; a column list that cannot take the
    fast path is remembered as such (None).
    """

    __slots__ = ("_class_json", "_classes", "_data", "_encoder", "_env", "_mode", "_model_ref", "plans")

    def __init__(
        self,
        data: DataPolicyPlan,
        encoder: DecisionEncoder,
        *,
        env: str,
        model_ref: str,
        classes: list[Any] | None,
        mode: str | None = None,
    ) -> None:
        self._data, self._encoder, self._env, self._model_ref, self._classes = data, encoder, env, model_ref, classes
        self._mode = mode
        self.plans: dict[tuple[str, ...], ColumnarPlan | None] = {}
        self._class_json: list[bytes] | None = None

    def plan(self, names: list[str]) -> ColumnarPlan | None:
        """The plan for these input columns, or None when they need the general path."""
        key = tuple(names)
        cache = self.plans
        if key not in cache:
            try:
                cache[key] = ColumnarPlan(
                    names, self._data, self._encoder, env=self._env, model_ref=self._model_ref, mode=self._mode
                )
            except ValueError:
                cache[key] = None
        return cache[key]

    def outputs(self, idx: list[int]) -> list[bytes] | None:
        """Each output (by class index) as canonical JSON; labels are encoded once. None: general path."""
        classes = self._classes
        if classes is None:
            return [b"%d" % i for i in idx]
        table = self._class_json
        if table is None:
            try:
                encoded = [output_json(c) for c in classes]
            except ValidationError:
                encoded = [None]
            table = self._class_json = [e for e in encoded if e is not None] if None not in encoded else []
        if not table:
            return None
        return [table[i] for i in idx]


def output_json(value: Any) -> bytes | None:
    """A model output (class label) as canonical JSON, or None when it needs the general path."""
    v, ok = normalise(value, "output")
    if not ok:
        return None
    return orjson.dumps(v)


__all__ = ["ColumnarEncoder", "ColumnarPlan", "number_tokens", "output_json"]
