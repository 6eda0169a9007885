"""The columnar batch path of ``decide_many``: byte-identical events, exact routing, and its fall-backs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modeltrail
from modeltrail.errors import ValidationError
from modeltrail.events import EventInput, prepare
from modeltrail.ids import new_ids
from modeltrail.ledger import encoding
from modeltrail.policy import parse_policy
from modeltrail.runtime import guard
from modeltrail.runtime._encoding.columnar import ColumnarPlan, number_tokens, output_json
from modeltrail.runtime.guard import Guard, _Batch
from modeltrail.runtime.scoring import Scores
from modeltrail.trail import Trail

# Values where JCS and repr disagree, or that are easy to get wrong, mixed with ordinary ones.
AWKWARD = [0.0, -0.0, 1.0, -3.0, 1169.0, 3e-05, -1e-07, 1e-4, 9.99e-05, 0.5, 1e16, 1e21, 2.0**53, 2.0**53 + 2, 123.456]
values = st.one_of(
    st.sampled_from(AWKWARD),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(-1e6, 1e6, allow_nan=False),
)


class FixedProba:
    """A classifier whose probabilities the test chooses (0, 1 and tiny ones included)."""

    def __init__(self, P: np.ndarray, classes: list[Any]) -> None:
        self.P = P
        self.classes_ = np.array(classes, dtype=object)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.P[: len(X)]

    def predict(self, X: Any) -> np.ndarray:
        return self.P[: len(X)].argmax(axis=1)


@settings(max_examples=300, deadline=None)
@given(st.lists(values, min_size=1, max_size=30))
def test_number_tokens_are_rfc8785_numbers(xs: list[float]) -> None:
    tokens = number_tokens([np.asarray(xs, dtype=np.float64)])
    assert tokens == [encoding.canonical_bytes(x) for x in xs]


# Doubles JCS writes as repr does: neither whole nor below 1e-4 in magnitude.
_ordinary = st.one_of(st.floats(1e-4, 1e15), st.floats(-1e15, -1e-4)).filter(lambda x: x != int(x))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(_ordinary, min_size=1, max_size=40), st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False))
)
def test_number_tokens_written_from_the_array_buffer(xs: list[float], small: list[float]) -> None:
    # Columns without whole or tiny values are formatted by orjson straight from the array; they must
    # still read exactly as the ledger's own encoder writes each value (float32 widened first).
    assert number_tokens([np.asarray(xs)]) == [encoding.canonical_bytes(x) for x in xs]
    f32 = np.asarray(small, dtype=np.float32)
    assert number_tokens([f32]) == [encoding.canonical_bytes(float(x)) for x in f32.tolist()]
    ints = np.arange(-3, 4, dtype=np.int16)
    assert number_tokens([ints, np.asarray(xs)]) == [b"%d" % i for i in range(-3, 4)] + [
        encoding.canonical_bytes(x) for x in xs
    ]


def test_number_tokens_refuse_what_has_no_json_form() -> None:
    assert number_tokens([np.array([1.0, np.nan])]) is None
    assert number_tokens([np.array([np.inf])]) is None
    assert number_tokens([np.array([2**53], dtype=np.int64)]) is None
    assert number_tokens([np.array([True])]) is None
    assert number_tokens([np.array([-(2**53) + 1, 7], dtype=np.int64)]) == [b"-9007199254740991", b"7"]


@pytest.fixture(scope="module")
def shared_trail(tmp_path_factory: pytest.TempPathFactory) -> Trail:
    t = modeltrail.init(tmp_path_factory.mktemp("columnar"))
    yield t
    t.close()


def _per_row_event(
    g: Guard,
    did: str,
    row: dict[str, Any],
    output: Any,
    score: float,
    conf: float,
    latency: int,
    batch: tuple[str | None, int | None] = (None, None),
) -> Any:
    """The event the guard's per-row path writes for one ``auto`` decision (of a batch, when given)."""
    b = _Batch([did], [row], [None], Scores([output], [score], [conf]), ["auto"], g.model_ref)
    payload, sealed, fast = g._event(b, 0, latency, *batch)
    return g._entry(did, payload, sealed, fast)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    n=st.integers(1, 12),
    k=st.integers(1, 6),
    labels=st.sampled_from([[0, 1], ["bad", "good"], ["a", "b", "c"]]),
)
def test_columnar_events_equal_the_per_row_encoder(
    shared_trail: Trail, data: st.DataObject, n: int, k: int, labels: list[Any]
) -> None:
    X = np.asarray(data.draw(st.lists(st.lists(values, min_size=k, max_size=k), min_size=n, max_size=n)))
    raw = np.asarray(
        data.draw(
            st.lists(
                st.lists(st.sampled_from([0.0, 1.0, 2e-05, 0.3, 0.7]), min_size=len(labels), max_size=len(labels)),
                min_size=n,
                max_size=n,
            )
        )
    )
    P = raw / np.where(raw.sum(axis=1, keepdims=True) == 0, 1, raw.sum(axis=1, keepdims=True))
    names = [f"z{j}" if j % 2 else f"a{j}" for j in range(k)]  # not in key order: the plan sorts
    # The last column is dropped; with a single column, sometimes too (then no input is kept at all).
    drop = names[-1] if k > 1 or data.draw(st.booleans()) else None
    policy = parse_policy(
        "system: s\nrisk_tier: high\n" + (f"data_policy:\n  fields: {{{drop}: drop}}\n" if drop else "")
    )
    t = shared_trail
    g = guard(t, FixedProba(P, labels), name="m", system="s", policy=policy, feature_names=names)
    plan = ColumnarPlan(names, g.data, g._encoder, env=g.env, model_ref=g.model_ref, mode=g.mode)
    ids = new_ids(n)
    idx = P.argmax(axis=1)
    conf = P[np.arange(n), idx]
    score = P[:, 1] if P.shape[1] == 2 else conf
    outs = [output_json(g._model.classes[i]) for i in idx]  # type: ignore[index]
    got = plan.encode(X, ids, outs, conf, score, 1234, "b1", len(ids))  # type: ignore[arg-type]
    assert got is not None
    for i in range(n):
        row = dict(zip(names, X[i].tolist(), strict=True))
        want = _per_row_event(
            g, ids[i], row, g._model.classes[idx[i]], float(score[i]), float(conf[i]), 1234, ("b1", n)  # type: ignore[index]
        )
        assert got[i] == want
        # And both agree with the ledger's own validating encoder.
        ev = got[i]
        leaf = ev.leaf(5, "2026-01-01T00:00:00Z")
        # (Numbers parsed as floats: JCS numbers are doubles, 1e16 is not an integer of the ledger.)
        assert encoding.canonical_bytes(json.loads(leaf, parse_int=float)) == leaf


POLICY = """
system: credit
risk_tier: high
oversight:
  review_when: {confidence_below: 0.65, outside_training_range: true, segments: ["term=36"], sample_rate: 0.05}
"""


def test_routes_and_reasons_equal_the_per_row_rules(trail: Trail) -> None:
    rng = np.random.default_rng(5)
    n = 3000
    X = np.column_stack([rng.normal(0, 1, n), rng.choice([12.0, 24.0, 36.0], n), rng.normal(100, 30, n)])
    P1 = 1 / (1 + np.exp(-2 * X[:, 0]))
    P = np.column_stack([1 - P1, P1])
    names = ["score", "term", "income"]
    g = guard(
        trail,
        FixedProba(P, ["no", "yes"]),
        name="m",
        policy=parse_policy(POLICY),
        feature_names=names,
        training_range={"income": [40, 160], "score": [-2.5, 2.5]},
    )
    decisions = g.decide_many(X)
    assert g._columnar.plans and next(iter(g._columnar.plans.values())) is not None  # the columnar path ran
    routed = 0
    for d, x in zip(decisions, X.tolist(), strict=True):
        row = dict(zip(names, x, strict=True))
        expected = g.rules.needs_review(row, d.confidence, d.decision_id)
        assert (d.route == "review") == expected
        if expected:
            routed += 1
            assert d.review_reasons == g.rules.fired(row, d.confidence, d.decision_id, clear=set(names))
        else:
            assert d.review_reasons is None
    assert 0 < routed < n
    receipts = [d.durable(30) for d in decisions]
    for d, r in zip(decisions[:300], receipts[:300], strict=True):
        ev = trail.get_event(r.seq)
        assert ev.payload["route"] == d.route and ev.payload["decision_id"] == d.decision_id
        again = prepare(EventInput(ev.type, ev.system, ev.actor, ev.subject, ev.payload, ev.refs, ev.sealed))
        assert again.leaf(ev.seq, ev.ts) == ev.leaf
    trail.checkpoint()
    assert trail.verify().ok


def test_batches_that_need_per_value_work_take_the_general_path(trail: Trail) -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(20, 3))
    P = np.column_stack([np.full(20, 0.3), np.full(20, 0.7)])
    names = ["applicant_id", "x", "y"]
    pseudo = parse_policy("system: s\nrisk_tier: high\ndata_policy:\n  fields: {applicant_id: pseudonymise}\n")
    g = guard(trail, FixedProba(P, [0, 1]), name="p", policy=pseudo, feature_names=names)
    ds = g.decide_many(X)
    ev = trail.get_event(ds[0].durable(10).seq)
    assert set(ev.payload["pseudonyms"]) == {"applicant_id"} and set(ev.payload["input"]) == {"x", "y"}
    assert list(g._columnar.plans.values()) == [None]  # compiled once, known not to qualify

    g2 = guard(trail, FixedProba(P, [0, 1]), name="q", system="s", feature_names=names)
    bad = X.copy()
    bad[3, 2] = np.inf  # (a NaN is a missing value, logged as null)
    with pytest.raises(ValidationError, match=r"rows\[3\]\.input\.y"):
        g2.decide_many(bad)
    with pytest.raises(ValidationError, match=r"2\^53"):
        g2.decide_many(np.array([[1, 2, 2**60]], dtype=np.int64))
    size = trail.size()
    g2.logger.flush(10)
    assert trail.size() == size  # nothing of a refused batch was logged

    # A DataFrame of one numeric kind goes columnar; mixed kinds go the general way; same events.
    frame = pd.DataFrame({"applicant_id": [1.5, 2.5], "x": [3.0, 4.0], "y": [5.25, 6.0]})
    mixed = pd.DataFrame({"applicant_id": [1.5, 2.5], "x": [3, 4], "y": [5.25, 6.0]})
    a = g2.decide_many(frame)
    b = g2.decide_many(mixed)
    ea = [trail.get_event(d.durable(10).seq).payload["input"] for d in a]
    eb = [trail.get_event(d.durable(10).seq).payload["input"] for d in b]
    assert ea == eb == [{"applicant_id": 1.5, "x": 3, "y": 5.25}, {"applicant_id": 2.5, "x": 4, "y": 6}]
