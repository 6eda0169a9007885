"""Guard, data policy, oversight (review, override, stats, labels, reveal) and the oversight projection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import modeltrail
from modeltrail import projections
from modeltrail.errors import LifecycleError, PermissionDeniedError, SuspendedError, ValidationError
from modeltrail.events import Actor, EventInput, prepare
from modeltrail.governance import record_governed
from modeltrail.policy import parse_policy
from modeltrail.runtime import guard, intervention_stats, label, label_csv, reveal, review, review_queue
from modeltrail.runtime.oversight import ReviewRules, describe_reason, sampled
from modeltrail.trail import Trail

POLICY = """
system: credit-scoring
risk_tier: high
oversight:
  review_when: {confidence_below: 0.6, outside_training_range: true, segments: ["age_band=<25"]}
  fallback: human_review
data_policy:
  fields: {applicant_id: pseudonymise, age_years: seal, telephone: drop}
  default: keep
roles: {suspend: [ops], resume: [model_risk], reveal: [auditor]}
users:
  dave: {roles: [auditor]}
  carol: {roles: [compliance]}
  rita: {roles: [reviewer]}
"""
FEATURES = ["duration_months", "credit_amount", "age_years"]
ALICE = Actor("rita", "reviewer", "human")


@pytest.fixture()
def model() -> LogisticRegression:
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.integers(6, 60, 400), rng.integers(500, 15000, 400), rng.integers(19, 75, 400)])
    y = (X[:, 0] * 100 + rng.normal(0, 800, 400) > X[:, 1] / 3).astype(int)
    return LogisticRegression(max_iter=1000).fit(X.astype(float), y)


def _guard(trail: Trail, model: LogisticRegression, **kw: object):  # type: ignore[no-untyped-def]
    policy = parse_policy(POLICY)
    return guard(
        trail,
        model,
        name="credit",
        policy=policy,
        feature_names=FEATURES,
        training_range={"duration_months": [6, 60], "credit_amount": [500, 15000], "age_years": [19, 75]},
        **kw,  # type: ignore[arg-type]
    )


def _row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "duration_months": 24,
        "credit_amount": 4000.0,
        "age_years": 35,
        "applicant_id": "APP-000123",
        "telephone": "+49 30 1234567",
        "age_band": "25+",
    }
    row.update(over)
    return row


def test_data_policy_actions_and_no_raw_values(trail: Trail, model: LogisticRegression) -> None:
    g = _guard(trail, model)
    d = g.decide(_row(), subject="APP-000123")
    receipt = d.durable(10)
    ev = trail.get_event(receipt.seq)
    p = ev.payload
    assert ev.type == "inference.decision" and ev.subject == f"decision:{d.decision_id}"
    assert p["input"] == {"duration_months": 24, "credit_amount": 4000, "age_band": "25+"}  # keep
    assert p["pseudonyms"]["applicant_id"].startswith("ps2:")  # pseudonymise (a vault token on a new trail)
    assert set(ev.sealed) == {"age_years"} and set(ev.sealed["age_years"]) == {"alg", "key_id", "sha256"}
    assert trail.blobs.exists(ev.sealed["age_years"]["sha256"])  # ciphertext in the blob store
    leaf = ev.leaf.decode()
    for raw in ("APP-000123", "+49 30 1234567", "telephone", '"age_years":35'):
        assert raw not in leaf  # pseudonymised, dropped and sealed values never reach the ledger
    assert set(p) == {
        "decision_id",
        "model",
        "env",
        "input",
        "pseudonyms",
        "output",
        "score",
        "confidence",
        "latency_us",
        "route",
        "review_reasons",
        "explanation",
        "fallback",
        "mode",
        "batch_id",
        "batch_size",
    }
    # Same person, same pseudonym: linkable without being named.
    d2 = g.decide(_row(duration_months=12), subject="APP-000123")
    assert trail.get_event(d2.durable(10).seq).payload["pseudonyms"] == p["pseudonyms"]
    # The fast encoder is byte-identical to the ledger's own validating encoder.
    again = prepare(EventInput(ev.type, ev.system, ev.actor, ev.subject, ev.payload, ev.refs, ev.sealed))
    assert again.leaf(ev.seq, ev.ts) == ev.leaf


def test_seal_needs_subject_and_bad_values_raise_on_caller(trail: Trail, model: LogisticRegression) -> None:
    g = _guard(trail, model)
    with pytest.raises(ValidationError, match="subject"):
        g.decide(_row())
    with pytest.raises(ValidationError, match=r"input\.income"):
        g.decide(_row(income=float("inf")), subject="x")  # (NaN is a missing value, not an error)
    assert g.logger.pending == 0 and not list(trail.events("inference.decision"))


def test_encoder_matches_prepare_on_awkward_values(trail: Trail, model: LogisticRegression) -> None:
    g = guard(trail, lambda X: np.zeros(len(X)), name="zero", system="credit-scoring", feature_names=["a"])
    odd = {
        "a": 1.0,
        "tiny": 3e-7,
        "big": 1e21,
        "mid": 123456.789,
        "neg0": -0.0,
        "uni": "Zoë ✓",
        "np": np.float64(2.5),
        "i": np.int64(7),
    }
    ev = trail.get_event(g.decide(odd).durable(10).seq)
    again = prepare(EventInput(ev.type, ev.system, ev.actor, ev.subject, ev.payload, ev.refs, ev.sealed))
    assert again.leaf(ev.seq, ev.ts) == ev.leaf
    assert ev.payload["input"]["np"] == 2.5 and ev.payload["input"]["i"] == 7


def test_whole_floats_beyond_integers_are_written_as_jcs_does(trail: Trail) -> None:
    # orjson would write 9007199254740994.0; RFC 8785 writes the number without the fraction.
    from modeltrail.runtime._encoding.encode import normalise

    big = float(2**53 + 2)
    assert normalise(big, "x") == (big, False)
    g = guard(trail, lambda X: np.zeros(len(X)), name="zero", system="credit-scoring", feature_names=["a"])
    ev = trail.get_event(g.decide({"a": 1.0, "whole_big": big}).durable(10).seq)
    assert b'"whole_big":9007199254740994,' in ev.leaf or b'"whole_big":9007199254740994}' in ev.leaf


def test_review_rules() -> None:
    pol = parse_policy(POLICY)
    assert pol.oversight is not None
    rules = ReviewRules(pol.oversight.review_when, {"age_years": [19, 75]})
    assert rules.needs_review({"age_years": 30}, 0.55, "x")  # low confidence
    assert rules.needs_review({"age_years": 90}, 0.95, "x")  # outside the training range
    assert rules.needs_review({"age_years": 30, "age_band": "<25"}, 0.95, "x")  # segment
    assert not rules.needs_review({"age_years": 30, "age_band": "25+"}, 0.95, "x")
    assert len(rules.reasons({"age_years": 90, "age_band": "<25"}, 0.5, "x")) == 3
    fired = rules.fired({"age_years": 90.0, "age_band": "<25"}, 0.5, "x")
    assert fired == [
        {"rule": "confidence_below", "confidence": 0.5, "threshold": 0.6},
        {"rule": "outside_training_range", "field": "age_years", "range": [19, 75], "value": 90},
        {"rule": "segment", "field": "age_band", "value": "<25"},
    ]
    # Values of fields not kept in clear (sealed, pseudonymised, dropped) never enter a reason.
    hidden = rules.fired({"age_years": 90, "age_band": "<25"}, 0.9, "x", clear=())
    assert hidden == [
        {"rule": "outside_training_range", "field": "age_years", "range": [19, 75]},
        {"rule": "segment", "field": "age_band"},
    ]
    assert [describe_reason(r) for r in fired] == [
        "low confidence 0.500 < 0.6",
        "age_years=90 outside training range [19, 75]",
        "segment age_band=<25",
    ]
    assert describe_reason(hidden[0]) == "age_years outside training range [19, 75] (value not logged)"
    spot_policy = parse_policy(POLICY.replace('segments: ["age_band=<25"]', "sample_rate: 1"))
    assert spot_policy.oversight is not None
    spot = ReviewRules(spot_policy.oversight.review_when)
    assert spot.fired({}, 0.9, "x") == [{"rule": "sample_rate", "rate": 1}]
    assert describe_reason(spot.fired({}, 0.9, "x")[0]) == "spot check (sample rate 1)"
    ids = [f"{i:032x}" for i in range(20_000)]
    picked = sum(sampled(i, 0.1) for i in ids)
    assert 1800 < picked < 2200 and [sampled(i, 0.1) for i in ids[:50]] == [sampled(i, 0.1) for i in ids[:50]]


def test_review_override_flow_and_stats(trail: Trail, model: LogisticRegression) -> None:
    g = _guard(trail, model)
    routed = [g.decide(_row(age_years=90), subject=f"s{i}") for i in range(3)]
    auto = g.decide(_row(duration_months=6, credit_amount=12000.0, age_years=40), subject="s9")
    assert all(d.route == "review" for d in routed)
    for d in [*routed, auto]:
        d.durable(10)
    queue = review_queue(trail)
    assert [q.decision_id for q in queue] == [d.decision_id for d in routed]
    # Why each was routed is in the decision event and in the queue; age_years is sealed, so no value.
    why = [{"rule": "outside_training_range", "field": "age_years", "range": [19, 75]}]
    assert trail.get_event(routed[0].durable().seq).payload["review_reasons"] == why
    assert trail.get_event(auto.durable().seq).payload["review_reasons"] is None
    assert queue[0].review_reasons == why
    # The caller sees the same reasons at once, for single and batch decisions.
    assert routed[0].review_reasons == why and auto.review_reasons is None
    assert routed[0].to_dict()["review_reasons"] == why
    batch = g.decide_many(
        [_row(age_years=90), _row(duration_months=6, credit_amount=12000.0, age_years=40)], subjects=["s10", "s11"]
    )
    assert batch[0].review_reasons == why and batch[1].review_reasons is None
    for d in batch:
        d.durable(10)  # (the queue is read from the ledger: wait, or the checks below would race the writer)
    assert queue[0].why == "age_years outside training range [19, 75] (value not logged)"
    assert queue[0].to_dict()["why"] == queue[0].why
    assert queue[0].model == "model:credit" and queue[0].status == "pending"
    with pytest.raises(PermissionDeniedError, match="human"):
        review(trail, routed[0].decision_id, actor=Actor("bot", "svc", "service"), accept=True, reason="ok")
    with pytest.raises(ValidationError):
        review(trail, routed[0].decision_id, actor=ALICE, reason="no choice")
    r1 = review(trail, routed[0].decision_id, actor=ALICE, accept=True, reason="checked documents")
    r2 = review(trail, routed[1].decision_id, actor=ALICE, override=0, reason="income not verified")
    ev = trail.get_event(r2.seq)
    assert ev.type == "oversight.overridden" and ev.payload["original"] == routed[1].output
    dec_seq = routed[1].durable().seq
    assert f"event:{dec_seq}" in ev.refs and ev.payload["value"] == 0
    assert trail.get_event(r1.seq).payload["outcome"] == "accepted"
    with pytest.raises(LifecycleError):
        review(trail, routed[0].decision_id, actor=ALICE, override=1, reason="again")
    assert [q.decision_id for q in review_queue(trail)] == [routed[2].decision_id, batch[0].decision_id]
    assert len(review_queue(trail, status=None, model="credit")) == 4
    # A reviewer may also override an automatic decision: it enters the table then.
    review(trail, auto.decision_id, actor=Actor("carol", "compliance"), override=1, reason="spot check")
    stats = intervention_stats(trail)
    m = stats["models"]["model:credit"]
    assert (m["routed"], m["reviewed"], m["accepted"], m["overridden"], m["pending"]) == (4, 3, 1, 2, 2)
    assert m["override_rate"] == pytest.approx(2 / 3)
    assert stats["reviewers"]["rita"] == {"reviewed": 2, "accepted": 1, "overridden": 1, "override_rate": 0.5}
    assert stats["total"]["overridden"] == 2


def test_labels_and_csv(trail: Trail, model: LogisticRegression, tmp_path: Path) -> None:
    g = _guard(trail, model)
    ds = g.decide_many([_row(duration_months=12 + i) for i in range(4)], subjects=[f"s{i}" for i in range(4)])
    for d in ds:
        d.durable(10)
    r = label(trail, ds[0].decision_id, 1, actor=ALICE)
    assert trail.get_event(r.seq).payload == {"decision_id": ds[0].decision_id, "actual": 1}
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("decision_id,actual\n" + "".join(f"{d.decision_id},{i % 2}\n" for i, d in enumerate(ds[1:])))
    receipts = label_csv(trail, csv_path, actor=ALICE)
    assert len(receipts) == 3
    assert [trail.get_event(x.seq).payload["actual"] for x in receipts] == [0, 1, 0]
    projections.catch_up(trail)
    rows = trail.store.execute("SELECT decision_id, actual FROM oversight_labels ORDER BY label_seq", ())
    assert [(a, json.loads(b)) for a, b in rows] == [(d.decision_id, v) for d, v in zip(ds, [1, 0, 1, 0], strict=True)]
    bad = tmp_path / "bad.csv"
    bad.write_text("decision_id,actual\nnope,1\n")
    with pytest.raises(modeltrail.errors.NotFoundError, match=r"bad\.csv:2"):
        label_csv(trail, bad, actor=ALICE)


def test_reveal_with_and_without_role(trail: Trail, model: LogisticRegression) -> None:
    pol = parse_policy(POLICY)
    g = _guard(trail, model)
    d = g.decide(_row(age_years=41), subject="APP-7")
    d.durable(10)
    with pytest.raises(PermissionDeniedError, match="recorded"):
        reveal(trail, d.decision_id, purpose="curiosity", actor=Actor("carol", "compliance"), policy=pol)
    # Claiming the auditor role does not help: roles come from the policy's users.
    with pytest.raises(PermissionDeniedError):
        reveal(trail, d.decision_id, purpose="x", actor=Actor("carol", "auditor"), policy=pol)
    refused = list(trail.events("oversight.reveal_refused"))
    assert len(refused) == 2 and refused[0].actor.id == "carol" and refused[0].payload["purpose"] == "curiosity"
    values = reveal(trail, d.decision_id, purpose="complaint C-12", actor=Actor("dave", "auditor"), policy=pol)
    assert values == {"age_years": 41}
    (granted,) = list(trail.events("oversight.revealed"))
    assert granted.payload == {"decision_id": d.decision_id, "purpose": "complaint C-12", "fields": ["age_years"]}
    assert granted.actor.role == "auditor"


def test_fallbacks_in_process(trail: Trail, model: LogisticRegression) -> None:
    g = _guard(trail, model)
    ok = g.decide(_row(), subject="a")
    assert ok.route in ("auto", "review") and ok.output is not None
    record_governed(
        trail,
        "model.suspended",
        system="credit-scoring",
        actor=Actor("erin", "ops"),
        subject="model:credit",
        payload={"env": "production", "reason": "drift alert", "fallback": None},
    )
    g.switch.poll()
    d = g.decide(_row(), subject="a")
    assert (d.route, d.fallback, d.output) == ("fallback", "human_review", None)
    queued = {q.decision_id: q for q in (d.durable(10) and review_queue(trail))}
    assert queued[d.decision_id].why == "model suspended (fallback human_review)"
    g.register_fallback("rules", lambda row: int(float(str(row["credit_amount"])) < 5000))
    g.fallback = "rules"
    assert g.decide(_row(credit_amount=1000.0), subject="a").output == 1
    g.fallback = "reject"
    with pytest.raises(SuspendedError, match="drift alert"):
        g.decide(_row(), subject="a")
    g.logger.flush(10)
    refused = list(trail.events("inference.decision"))[-1]
    assert refused.payload["fallback"] == "reject" and refused.payload["output"] is None
    record_governed(
        trail,
        "model.resumed",
        system="credit-scoring",
        actor=Actor("bob", "model_risk"),
        subject="model:credit",
        payload={"env": "production", "reason": "fixed"},
    )
    g.switch.poll()
    assert g.decide(_row(), subject="a").route != "fallback"
    # Another environment was never affected.
    assert g.switch.status("credit", None, "staging") is None


def test_rebuild_equals_live(trail: Trail, model: LogisticRegression) -> None:
    g = _guard(trail, model)
    ds = [g.decide(_row(age_years=90 if i % 2 else 30), subject=f"s{i}") for i in range(6)]
    for d in ds:
        d.durable(10)
    review(trail, ds[1].decision_id, actor=ALICE, accept=True, reason="fine")
    review(trail, ds[3].decision_id, actor=ALICE, override=0, reason="no")
    label(trail, ds[0].decision_id, 0, actor=ALICE)
    label(trail, ds[0].decision_id, 1, actor=ALICE)  # the latest label wins
    live = projections.snapshot(trail)
    projections.rebuild(trail)
    assert projections.snapshot(trail) == live
    assert live["oversight_labels"][0][2] == "1"
    assert len(live["oversight_queue"]) == 3


def test_queue_table_from_an_older_version_is_rebuilt(trail: Trail, model: LogisticRegression) -> None:
    g = _guard(trail, model)
    d = g.decide_many([_row(age_years=90), _row()], subjects=["s1", "s2"])[0]
    d.durable(10)
    assert review_queue(trail)[0].review_reasons
    # A trail whose queue was folded by version 1 (no review_reasons column): the next query rebuilds it.
    with trail.store.append_txn():
        trail.store.execute("DROP TABLE oversight_queue", ())
        trail.store.execute(
            "CREATE TABLE oversight_queue (decision_id TEXT PRIMARY KEY, decision_seq BIGINT NOT NULL, ts TEXT NOT "
            "NULL, system TEXT NOT NULL, model TEXT, env TEXT, route TEXT NOT NULL, fallback TEXT, output TEXT, "
            "score DOUBLE PRECISION, confidence DOUBLE PRECISION, status TEXT NOT NULL, reviewer TEXT, "
            "reviewer_role TEXT, review_seq BIGINT, value TEXT, reason TEXT, reviewed_ts TEXT)",
            (),
        )
        trail.store.execute("UPDATE projection_cursors SET version = 1 WHERE name = 'oversight'", ())
    [item] = review_queue(trail)
    assert item.decision_id == d.decision_id and item.review_reasons == [
        {"rule": "outside_training_range", "field": "age_years", "range": [19, 75]}
    ]


def test_batch_and_predict_api(trail: Trail, model: LogisticRegression) -> None:
    g = guard(trail, model, name="plain", system="credit-scoring", feature_names=FEATURES)
    X = np.array([[24, 4000.0, 35], [6, 12000.0, 60]])
    proba = g.predict_proba(X)
    assert np.allclose(proba, model.predict_proba(X))
    assert list(g.predict(X)) == list(model.predict(X))
    g.logger.flush(10)
    evs = list(trail.events("inference.decision"))
    assert len(evs) == 4 and evs[0].payload["input"] == {"duration_months": 24, "credit_amount": 4000, "age_years": 35}
    assert g.logger.written >= 4


def test_decide_many_returns_decisions_built_when_read(trail: Trail, model: LogisticRegression) -> None:
    from modeltrail.runtime import Decision, Decisions, PendingBatch

    # A policy that keeps every field: numeric batches take the columnar path, unsure rows go to review.
    policy = parse_policy("system: s\nrisk_tier: high\noversight:\n  review_when: {confidence_below: 0.8}\n")
    g = guard(trail, model, name="credit", policy=policy, feature_names=FEATURES)
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.integers(6, 60, 40), rng.integers(500, 15000, 40), rng.integers(19, 75, 40)]).astype(float)
    batch = g.decide_many(X)
    assert isinstance(batch, Decisions) and isinstance(batch.pending, PendingBatch) and len(batch) == 40
    P = model.predict_proba(X)
    assert batch.outputs == P.argmax(axis=1).tolist() and batch.scores == P[:, 1].tolist()
    items = list(batch)
    assert all(isinstance(d, Decision) for d in items)
    assert [d.decision_id for d in items] == list(batch.decision_ids)
    assert batch[-1].decision_id == items[-1].decision_id and batch[0].output == items[0].output
    routed = [d for d in items if d.route == "review"]
    assert routed and all(d.review_reasons for d in routed)
    assert all(d.review_reasons is None for d in items if d.route == "auto")
    tail = batch[30:]
    assert isinstance(tail, Decisions) and len(tail) == 10 and tail[0].decision_id == items[30].decision_id
    assert [p.decision_id for p in batch.pending[38:]] == [d.decision_id for d in items[38:]]
    with pytest.raises(IndexError):
        batch[40]
    with pytest.raises(IndexError):
        batch.pending[-41]
    receipts = batch.durable(30)
    assert [r.seq for r in receipts] == [d.durable(30).seq for d in items]
    for d, r in zip(items, receipts, strict=True):
        assert trail.get_event(r.seq).payload["decision_id"] == d.decision_id
    assert batch.pending.done
    # Rows as mappings take the per-row path and give the same kind of result; an empty batch is empty.
    rows = g.decide_many([dict(zip(FEATURES, r, strict=True)) for r in X[:3].tolist()])
    assert isinstance(rows, Decisions) and rows.outputs == batch.outputs[:3]
    empty = g.decide_many(X[:0])
    assert isinstance(empty, Decisions) and len(empty) == 0 and list(empty) == [] and empty.durable() == []
