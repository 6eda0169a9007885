"""One leaf format: every way of producing a leaf writes the bytes RFC 8785 gives for the event.

The forms: a plain event validated by ``prepare``, the guard's per-row encoder, its column-wise batch
encoder, a batch built ahead for a position (the process writer's), and the ledger's own append of
each. The reference is the ``rfc8785`` library applied to the event object.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modeltrail
from modeltrail.events import Actor, EventInput, format_ts, prepare
from modeltrail.ids import new_ids
from modeltrail.ledger import leaf
from modeltrail.runtime._encoding.columnar import ColumnarPlan, output_json
from modeltrail.runtime._encoding.encode import DecisionEncoder, normalise
from modeltrail.runtime._writer.process import decode_request, encode_request
from modeltrail.runtime.datapolicy import DataPolicyPlan
from modeltrail.runtime.record import DecisionRecord
from modeltrail.trail import Trail

ACTOR = Actor(id="guard-é", role="inference", kind="service")
# The reference library refuses whole doubles beyond 2^53 (test_runtime_columnar covers those).
AWKWARD = [0.0, -0.0, 1.0, -3.0, 1169.0, 3e-05, -1e-07, 1e-4, 0.5, 1e15 + 0.5, 2.0**52, 123.456]
values = st.one_of(st.sampled_from(AWKWARD), st.floats(-(2.0**52), 2.0**52, allow_nan=False))
probabilities = st.sampled_from([0.0, 1.0, 2e-05, 0.25, 0.3, 0.7])


@pytest.fixture(scope="module")
def shared_trail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trail]:
    t = modeltrail.init(tmp_path_factory.mktemp("leaf"))
    yield t
    t.close()


def reference(ev: dict[str, Any]) -> bytes:
    out: bytes = rfc8785.dumps(ev)
    return out


def test_the_templates_are_the_event_object_in_rfc8785_order() -> None:
    assert leaf.HEAD_FORMAT == b'{"actor":%s,"payload":%s,"refs":%s,"sealed":%s,"seq":'
    assert leaf.MID_FORMAT == b',"subject":%s,"system":%s,"ts":'
    assert leaf.END_FORMAT == b',"type":"%s","v":1}'
    t = leaf.compile_template({"é": 1, "z": leaf.Slot("a", string=True), "a": {"y": [1.0], "b": None}})
    assert t.render({"a": b"x%"}) == reference({"é": 1, "z": "x%", "a": {"y": [1.0], "b": None}})
    with pytest.raises(ValueError, match="seq"):
        leaf.event_template(seq=1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), n=st.integers(1, 8), k=st.integers(0, 4), seq=st.integers(0, 2**40))
def test_every_input_form_writes_the_same_leaf(
    shared_trail: Trail, data: st.DataObject, n: int, k: int, seq: int
) -> None:
    names = [f"z{j}" if j % 2 else f"a{j}" for j in range(k)]  # not in key order
    X = np.asarray(data.draw(st.lists(st.lists(values, min_size=k, max_size=k), min_size=n, max_size=n)))
    X = X.reshape(n, k)
    P = np.asarray(data.draw(st.lists(st.tuples(probabilities, probabilities), min_size=n, max_size=n)))
    conf, score = P.max(axis=1), P[:, 1]
    outputs = [int(i) for i in P.argmax(axis=1)]
    ids = new_ids(n)
    ts = "2026-03-04T05:06:07.000008Z"
    enc = DecisionEncoder("credit-1", ACTOR)
    plan = ColumnarPlan(
        names, DataPolicyPlan(shared_trail, None), enc, env="production", model_ref="model:m@1", mode="live"
    )
    columnar = plan.encode(X, ids, [output_json(o) or b"" for o in outputs], conf, score, 42, "b7", n)
    assert columnar is not None
    leaves, hashes = leaf.build_leaves(columnar.heads, columnar.mids, columnar.end, seq, ts)
    request, _ = encode_request(columnar, seq, ts)
    built = decode_request(*request)
    for i in range(n):
        raw = DecisionRecord(
            ids[i], "model:m@1", "production", dict(zip(names, X[i].tolist(), strict=True)), {}, outputs[i],
            float(score[i]), float(conf[i]), 42, "auto", None, None, None, "live", "b7", n,
        )  # fmt: skip
        # As the guard does: values checked and normalised (whole floats as integers) for the fast encoder.
        checked = {name: normalise(v, name) for name, v in raw.input.items()}
        sc, cf = normalise(raw.score, "score"), normalise(raw.confidence, "confidence")
        fast_ok = all(ok for _, ok in (*checked.values(), sc, cf))
        payload = DecisionRecord(
            raw.decision_id, raw.model, raw.env, {k: v for k, (v, _) in checked.items()}, {}, raw.output,
            sc[0], cf[0], 42, "auto", None, None, None, "live", "b7", n,
        ).payload()  # fmt: skip
        event = {
            "v": 1, "seq": seq + i, "ts": ts, "type": "inference.decision", "system": "credit-1",
            "actor": ACTOR.to_dict(), "subject": f"decision:{ids[i]}", "refs": [], "payload": raw.payload(),
            "sealed": {},
        }  # fmt: skip
        want = reference(event)
        plain = prepare(EventInput("inference.decision", "credit-1", ACTOR, f"decision:{ids[i]}", payload))
        per_row = enc.encode(f"decision:{ids[i]}", payload, None, None, fast_ok)
        slow = enc.encode(f"decision:{ids[i]}", payload, None, None, False)
        for name, form in (("plain", plain), ("per_row", per_row), ("slow", slow), ("columnar", columnar[i])):
            assert (name, form.leaf(seq + i, ts)) == (name, want)
        assert leaves[i] == want and hashes[i] == leaf.leaf_hash(want)
        assert built[i].leaf(seq + i, ts) == want
    # The ledger writes the same bytes for every form it is given.
    t = shared_trail
    now = format_ts(datetime.now(UTC))
    first = t.size()
    request, _ = encode_request(columnar, first + n, now)
    t.append_prepared(columnar)
    t.append_prepared(decode_request(*request))  # built ahead for exactly this position
    for i in range(n):
        a, b = t.get_event(first + i), t.get_event(first + n + i)
        for ev in (a, b):
            assert ev.leaf == reference(ev.to_dict())
            assert ev.leaf_hash == leaf.leaf_hash(ev.leaf)
        assert a.payload == b.payload
