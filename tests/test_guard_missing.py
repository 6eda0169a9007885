"""Missing values, row-level validation of a batch and per-decision latency (issue #14 points 7 and 8)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modeltrail.errors import ValidationError
from modeltrail.policy import parse_policy
from modeltrail.runtime import guard
from modeltrail.trail import Trail

POLICY = """
system: credit-scoring
risk_tier: high
data_policy:
  fields: {applicant_id: pseudonymise, phone: drop}
oversight:
  review_when: {missing_values: 2, outside_training_range: true}
"""


class Recording:
    """A model that keeps what it was given and answers 0.8 for class 1."""

    classes_ = np.array([0, 1])

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def predict_proba(self, X: Any) -> np.ndarray:
        self.seen.append(X)
        return np.tile([0.2, 0.8], (len(X), 1))

    def predict(self, X: Any) -> np.ndarray:
        return np.ones(len(X), dtype=int)


NAMES = ["applicant_id", "age", "income", "purpose", "phone"]


def _guard(trail: Trail, model: Recording) -> Any:
    return guard(
        trail,
        model,
        name="credit",
        policy=parse_policy(POLICY),
        feature_names=NAMES,
        training_range={"age": [18, 80], "income": [0, 10_000]},
    )


def _row(**over: Any) -> dict[str, Any]:
    row = {"applicant_id": "A-1", "age": 30, "income": 2500.5, "purpose": "car", "phone": "+49 1"}
    row.update(over)
    return row


def test_missing_values_are_null_in_the_ledger_and_nan_for_the_model(trail: Trail) -> None:
    model = Recording()
    g = _guard(trail, model)
    d = g.decide(_row(income=float("nan"), purpose=pd.NA))
    ev = trail.get_event(d.durable(10).seq)
    assert ev.payload["input"] == {"age": 30, "income": None, "purpose": None}
    X = model.seen[-1]
    assert math.isnan(X[0][2]) and math.isnan(X[0][3])  # what scikit-learn's imputers and trees expect
    # Two missing inputs reach the rule's threshold; a NaN is not "outside the training range".
    assert d.route == "review"
    assert ev.payload["review_reasons"] == [
        {"rule": "missing_values", "fields": ["income", "purpose"], "count": 2, "threshold": 2}
    ]
    one = g.decide(_row(age=None))
    assert one.route == "auto"
    assert trail.get_event(one.durable(10).seq).payload["input"]["age"] is None
    # A missing identifier has nothing to pseudonymise: it stays absent.
    ev = trail.get_event(g.decide(_row(applicant_id=None)).durable(10).seq)
    assert ev.payload["pseudonyms"] == {}


def test_missing_values_in_a_frame_and_an_array(trail: Trail) -> None:
    model = Recording()
    g = _guard(trail, model)
    frame = pd.DataFrame([_row(), _row(income=None, purpose=None), _row(age=np.nan)])
    ds = g.decide_many(frame)
    inputs = [trail.get_event(r.seq).payload["input"] for r in ds.durable(10)]
    assert [i["income"] for i in inputs] == [2500.5, None, 2500.5] and inputs[2]["age"] is None
    assert [d.route for d in ds] == ["auto", "review", "auto"]
    g2 = guard(trail, Recording(), name="plain", system="credit-scoring", feature_names=["a", "b"])
    ds = g2.decide_many(np.array([[1.0, np.nan], [2.0, 3.0]]))
    assert [trail.get_event(r.seq).payload["input"] for r in ds.durable(10)] == [{"a": 1, "b": None}, {"a": 2, "b": 3}]


def test_a_bad_row_is_named_before_any_model_call(trail: Trail) -> None:
    model = Recording()
    g = _guard(trail, model)
    rows = [_row(), _row(), _row(income=float("inf")), _row(age=2**60), _row()]
    size = trail.size()
    with pytest.raises(ValidationError, match=r"2 of 5 rows are invalid") as info:
        g.decide_many(rows)
    assert info.value.field == "rows[2].input.income"
    assert model.seen == []
    g.logger.flush(10)
    assert trail.size() == size  # nothing of a refused batch was logged

    ds = g.decide_many(rows, on_error="skip")
    assert len(ds) == 3 and ds.indices == [0, 1, 4] and len(model.seen[-1]) == 3
    assert [(s.index, s.error.field) for s in ds.skipped] == [(2, "input.income"), (3, "input.age")]
    skipped = [trail.get_event(s.durable(10).seq) for s in ds.skipped]
    assert {e.type for e in skipped} == {"inference.skipped"}
    p = skipped[0].payload
    assert p["index"] == 2 and p["field"] == "input.income" and p["batch_size"] == 5
    decided = trail.get_event(ds.durable(10)[0].seq).payload
    assert decided["batch_id"] == p["batch_id"]
    assert "1152921504606846976" in skipped[1].leaf.decode()  # age is kept in clear: its reason is exact
    g2 = guard(
        trail,
        Recording(),
        name="sealed",
        policy=parse_policy(POLICY.replace("phone: drop", "phone: drop, age: seal")),
        feature_names=NAMES,
    )
    ds = g2.decide_many([_row(), _row(age=2**60)], subjects=["s1", "s2"], on_error="skip")
    leaf = trail.get_event(ds.skipped[0].durable(10).seq).leaf.decode()
    assert "1152921504606846976" not in leaf and "not recorded" in leaf  # a sealed field's value never


def test_each_decision_records_its_share_of_the_batch(trail: Trail) -> None:
    g = _guard(trail, Recording())
    n = 50
    ds = g.decide_many([_row(age=20 + i % 40) for i in range(n)])
    payloads = [trail.get_event(r.seq).payload for r in ds.durable(10)]
    assert len({p["batch_id"] for p in payloads}) == 1 and {p["batch_size"] for p in payloads} == {n}
    assert len({p["latency_us"] for p in payloads}) == 1 and payloads[0]["latency_us"] == ds.latency_us
    # The numeric fast path records the same.
    g2 = guard(trail, Recording(), name="plain", system="credit-scoring", feature_names=["a", "b"])
    ds = g2.decide_many(np.arange(2 * n, dtype=float).reshape(n, 2))
    payloads = [trail.get_event(r.seq).payload for r in ds.durable(10)]
    assert {p["batch_size"] for p in payloads} == {n} and len({p["batch_id"] for p in payloads}) == 1
    assert ds.latency_us >= 1
