"""Column-wise encoding of a numeric batch of decisions: the fast path of ``Guard.decide_many``.

For a 2-D numeric batch whose fields the data policy keeps or drops, the ``inference.decision`` events
of the rows routed ``auto`` differ only in a few numbers, the decision id and the output. So instead of
a payload dictionary per row (validated value by value, then sorted and serialised), the batch is
encoded column by column:

1. NumPy checks the whole batch at once: finite, integers within ±(2^53-1), and which floats JCS
   writes differently from ``repr`` (whole values are written as integers; magnitudes under 1e-4 as
   ECMAScript does, through :func:`modeltrail.ledger.encoding.es_number`).
2. One ``orjson`` call formats every number of the batch (column-major), and one split cuts that text
   into one token per number.
3. One ``%``-format per row places the row's tokens in a template of the event's head built once per
   guard, with the constant parts (actor, environment, model, keys in RFC 8785 order) already encoded.

The bytes are identical to what :class:`.encode.DecisionEncoder` produces for the same decision; the
tests compare both paths on random batches (hypothesis), including whole, tiny, huge and negative-zero
values and integer columns. Written here rather than with a library because no JSON library emits a
template-per-row canonical encoding; ``orjson`` still does all the number formatting.

A batch that does not qualify (another data policy action, a non-ASCII field name, a value outside
JSON) returns ``None`` from :meth:`ColumnarPlan.encode` and takes the general path, which raises the
precise per-field error where there is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from ..events import PreparedBatch
from ..ledger import encoding
from .datapolicy import DROP, KEEP, DataPolicyPlan
from .encode import DecisionEncoder, normalise

MAX_SAFE_INTEGER = encoding.MAX_SAFE_INTEGER


def _literal(b: bytes) -> bytes:
    """Constant bytes for a %-template (a literal ``%`` must be doubled)."""
    return b.replace(b"%", b"%%")


def number_tokens(columns: Sequence[np.ndarray]) -> list[bytes] | None:
    """RFC 8785 text of every value of ``columns`` (1-D numeric arrays of equal length), column-major.

    Returns None when a value has no JSON form the fast path may write (NaN, infinity, an integer
    beyond ±(2^53-1)): the caller then takes the general path, which names the offending field.
    """
    flat: list[Any] = []
    for col in columns:
        kind = col.dtype.kind
        if kind in "iu":
            if col.size and (int(col.max()) > MAX_SAFE_INTEGER or int(col.min()) < -MAX_SAFE_INTEGER):
                return None
            flat += col.tolist()
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
            flat += col.astype(np.int64).tolist()
            continue
        values = col.tolist()
        for i in np.flatnonzero(safe_whole).tolist():
            values[i] = int(values[i])
        # Tiny non-zero magnitudes and whole values beyond 2^53-1: repr's layout differs from ECMAScript's.
        odd = ~safe_whole & ((mag < 1e-4) | whole)
        for i in np.flatnonzero(odd).tolist():
            values[i] = orjson.Fragment(encoding.es_number(values[i]).encode())
        flat += values
    if not flat:
        return []
    # "[a,b,c]" -> [a, b, c]: one formatting call for the batch; numbers contain no ",".
    return orjson.dumps(flat)[1:-1].split(b",")


class ColumnarPlan:
    """The per-guard template of an ``auto`` decision event over a fixed list of input columns."""

    __slots__ = (
        "_end",
        "_head_a",
        "_head_b",
        "_mid",
        "_overhead",
        "_type",
        "actor_id",
        "columns",
        "encoder",
        "max_payload",
        "system",
    )

    def __init__(
        self,
        names: Sequence[str],
        data: DataPolicyPlan,
        encoder: DecisionEncoder,
        *,
        env: str,
        model_ref: str,
    ) -> None:
        """Compile the template; raises ValueError when these columns cannot take the fast path."""
        kept: list[tuple[str, int]] = []
        for j, name in enumerate(names):
            if type(name) is not str or not name.isascii():
                raise ValueError(f"column name {name!r} needs the general encoder")
            action = data.action_for(name)
            if action == KEEP:
                kept.append((name, j))
            elif action != DROP:
                raise ValueError(f"column {name!r} is {action}: per-value work")
        if len({n for n, _ in kept}) != len(kept):
            raise ValueError("duplicate column names")
        # ASCII keys: plain byte order is RFC 8785's UTF-16 code unit order.
        kept.sort()
        self.columns = [j for _, j in kept]
        self.encoder = encoder
        self.system = encoder._system
        self.actor_id = encoder._actor_id
        self._type = encoder._type
        self._end = encoder._end
        self.max_payload = encoder.max_payload_bytes
        input_tmpl = b",".join(_literal(encoding.json_string(n)) + b":%s" for n, _ in kept)
        before_payload = b'{"actor":' + _literal(encoder._actor_json) + b',"payload":'
        after_payload = b',"refs":[],"sealed":{},"seq":'
        # Payload keys in RFC 8785 order; %s: confidence, decision id, inputs..., output, score.
        self._head_a = (
            before_payload
            + b'{"confidence":%s,"decision_id":"%s","env":'
            + _literal(encoding.json_string(env))
            + b',"explanation":null,"fallback":null,"input":{'
            + input_tmpl
            + b'},"latency_us":'
        )
        self._head_b = (
            b',"model":'
            + _literal(encoding.json_string(model_ref))
            + b',"output":%s,"pseudonyms":{},"review_reasons":null,"route":"auto","score":%s}'
            + after_payload
        )
        self._overhead = len(before_payload) + len(after_payload)
        self._mid = b',"subject":"decision:%s","system":' + _literal(encoding.json_string(self.system)) + b',"ts":'

    def encode(
        self,
        X: np.ndarray,
        ids: Sequence[str],
        outputs: Sequence[bytes],
        confidence: np.ndarray,
        score: np.ndarray,
        latency_us: int,
        rows: Sequence[int] | None = None,
    ) -> PreparedBatch | None:
        """The events of ``rows`` (default: all) of the batch ``X`` (its columns in the guard's order).

        ``outputs`` holds each row's output already as canonical JSON. Returns None when a value needs
        the general path (see :func:`number_tokens`).
        """
        if rows is not None:
            idx = np.asarray(rows, dtype=np.intp)
            X, confidence, score = X[idx], confidence[idx], score[idx]
            ids = [ids[i] for i in rows]
            outputs = [outputs[i] for i in rows]
        n = len(ids)
        if n == 0:
            return PreparedBatch(self._type, self.system, self.actor_id, self._end, [], [], [])
        cols = [confidence, *(X[:, j] for j in self.columns), score]
        tokens = number_tokens(cols)
        if tokens is None:
            return None
        k = len(self.columns)
        id_bytes = [i.encode("ascii") for i in ids]
        # One flat list in the template's argument order, column-major: row i's arguments are flat[i::n].
        flat = tokens[:n] + id_bytes + tokens[n : (k + 1) * n] + list(outputs) + tokens[(k + 1) * n :]
        tmpl = self._head_a + b"%d" % latency_us + self._head_b
        heads = [tmpl % tuple(flat[i::n]) for i in range(n)]
        limit = self.max_payload + self._overhead
        if max(map(len, heads)) > limit:
            return None  # the general path raises the precise error
        mid = self._mid
        return PreparedBatch(
            self._type,
            self.system,
            self.actor_id,
            self._end,
            heads,
            [mid % ib for ib in id_bytes],
            ["decision:" + did for did in ids],
        )


def output_json(value: Any) -> bytes | None:
    """A model output (class label) as canonical JSON, or None when it needs the general path."""
    v, ok = normalise(value, "output")
    if not ok:
        return None
    return orjson.dumps(v)


__all__ = ["ColumnarPlan", "number_tokens", "output_json"]
