"""Gate evaluation: thresholds, evidence, per-group checks, missing metrics, JUnit XML."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from modeltrail.errors import NotFoundError
from modeltrail.policy import Check, GateResult, default_policy, evaluate_gate, load_policy, parse_policy

DEMO_POLICY = Path(__file__).parent / "data" / "policies" / "full-gate.yaml"

EVIDENCE = {
    "classification": 3,
    "data_report": 10,
    "fairness_report": 12,
    "performance_report": 11,
    "explainability_report": 13,
    "model_card": 14,
    "risk_assessment": 15,
}

GOOD_METRICS: dict[str, float | dict[str, float]] = {
    "performance.roc_auc": 0.78,
    "fairness.demographic_parity_difference": {"sex": 0.04, "age_band": 0.08},
    "fairness.equalized_odds_difference[sex]": 0.12,  # flat form, as evidence reports write it
    "fairness.equalized_odds_difference[age_band]": 0.15,
    "data.missing_rate": 0.0,
    "data.pii_findings": 0,
}


def _by_name(checks: list[Check], name: str) -> Check:
    return next(c for c in checks if c.name == name)


def test_demo_gate_passes_with_good_figures() -> None:
    policy = load_policy(DEMO_POLICY)
    result = evaluate_gate(
        policy, "production", GOOD_METRICS, EVIDENCE, metric_sources={"performance.roc_auc": 11}
    )
    assert result.passed, [c.message for c in result.failures]
    # 7 evidence + 3 plain thresholds + 2 grouped thresholds x 2 groups
    assert len(result.checks) == 7 + 3 + 4
    assert {c.kind for c in result.checks} == {"evidence", "threshold"}
    auc = _by_name(result.checks, "performance.roc_auc")
    assert (auc.value, auc.threshold, auc.passed, auc.evidence_seq) == (0.78, "min 0.7", True, 11)
    card = _by_name(result.checks, "model_card")
    assert (card.passed, card.evidence_seq) == (True, 14)
    assert result.approvals is not None and result.approvals.min == 2


def test_threshold_failure_and_boundaries() -> None:
    policy = load_policy(DEMO_POLICY)
    metrics = dict(GOOD_METRICS, **{"performance.roc_auc": 0.69, "data.missing_rate": 0.05})
    result = evaluate_gate(policy, "production", metrics, EVIDENCE)
    assert not result.passed
    assert [c.name for c in result.failures] == ["performance.roc_auc"]
    assert "violates min 0.7" in result.failures[0].message
    # Bounds are inclusive: exactly at max passes.
    assert _by_name(result.checks, "data.missing_rate").passed


def test_group_checks_fail_individually() -> None:
    policy = load_policy(DEMO_POLICY)
    metrics = dict(GOOD_METRICS)
    metrics["fairness.demographic_parity_difference"] = {"sex": 0.04, "age_band": 0.16}
    result = evaluate_gate(policy, "production", metrics, EVIDENCE)
    assert not result.passed
    assert [c.name for c in result.failures] == ["fairness.demographic_parity_difference[age_band]"]
    sex = _by_name(result.checks, "fairness.demographic_parity_difference[sex]")
    assert sex.passed and sex.threshold == "max 0.1" and sex.value == 0.04


def test_missing_metric_is_a_failure_never_a_pass() -> None:
    policy = load_policy(DEMO_POLICY)
    metrics = {k: v for k, v in GOOD_METRICS.items() if k != "data.pii_findings"}
    metrics["fairness.demographic_parity_difference"] = {"sex": 0.04}
    result = evaluate_gate(policy, "production", metrics, EVIDENCE)
    assert not result.passed
    failed = {c.name: c for c in result.failures}
    assert set(failed) == {"data.pii_findings", "fairness.demographic_parity_difference[age_band]"}
    assert failed["data.pii_findings"].value is None
    assert "was not recorded" in failed["data.pii_findings"].message
    assert "group 'age_band'" in failed["fairness.demographic_parity_difference[age_band]"].message
    # Nothing at all recorded: every check fails.
    empty = evaluate_gate(policy, "production", {}, {})
    assert not any(c.passed for c in empty.checks)


def test_non_numbers_fail() -> None:
    policy = load_policy(DEMO_POLICY)
    for bad in (math.nan, "0.8", True, None):
        broken: dict[str, object] = dict(GOOD_METRICS, **{"performance.roc_auc": bad})
        result = evaluate_gate(policy, "production", broken, EVIDENCE)  # type: ignore[arg-type]
        assert [c.name for c in result.failures] == ["performance.roc_auc"], bad
    # A per-group mapping where a single figure is expected is refused, not silently aggregated.
    grouped = dict(GOOD_METRICS, **{"performance.roc_auc": {"sex": 0.9}})
    result = evaluate_gate(policy, "production", grouped, EVIDENCE)
    assert "per group" in result.failures[0].message


def test_missing_evidence() -> None:
    policy = load_policy(DEMO_POLICY)
    evidence: dict[str, int | None] = dict(EVIDENCE, model_card=None)
    del evidence["risk_assessment"]
    result = evaluate_gate(policy, "production", GOOD_METRICS, evidence)
    assert [(c.name, c.kind) for c in result.failures] == [
        ("model_card", "evidence"),
        ("risk_assessment", "evidence"),
    ]
    assert result.failures[0].message == "no model_card recorded"


def test_unknown_stage() -> None:
    with pytest.raises(NotFoundError, match="no gate for stage 'canary'"):
        evaluate_gate(load_policy(DEMO_POLICY), "canary", GOOD_METRICS, EVIDENCE)


def test_prohibited_policy_never_passes() -> None:
    policy = default_policy("prohibited", "social-score")
    result = evaluate_gate(policy, "production", {}, {"classification": 1})
    assert not result.passed
    assert result.failures[0].kind == "policy"
    assert "Art. 5" in result.failures[0].message


def test_min_and_max_together() -> None:
    policy = parse_policy(
        "system: s\nrisk_tier: minimal\ngates:\n  production:\n    thresholds:\n"
        "      performance.calibration_slope: {min: 0.8, max: 1.2}\n"
    )

    def check(value: float) -> GateResult:
        return evaluate_gate(policy, "production", {"performance.calibration_slope": value}, {})

    assert check(1.0).passed and not check(0.7).passed and not check(1.3).passed
    assert check(1.0).checks[0].threshold == "min 0.8, max 1.2"


def test_junit_xml_parses() -> None:
    policy = load_policy(DEMO_POLICY)
    metrics = dict(GOOD_METRICS, **{"performance.roc_auc": 0.5})
    evidence = dict(EVIDENCE, model_card=None)
    result = evaluate_gate(policy, "production", metrics, evidence)
    root = ET.fromstring(result.to_junit_xml())
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "modeltrail.gate.credit-scoring.production"
    cases = suite.findall("testcase")
    assert len(cases) == len(result.checks) == int(suite.get("tests", "-1"))
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == ["model_card", "performance.roc_auc"]
    assert int(suite.get("failures", "-1")) == 2
    failure = cases[[c.get("name") for c in cases].index("performance.roc_auc")].find("failure")
    assert failure is not None and "violates min 0.7" in (failure.get("message") or "")
    assert "fairness.demographic_parity_difference[sex]" in [c.get("name") for c in cases]


def test_to_dict_is_json_safe() -> None:
    policy = load_policy(DEMO_POLICY)
    metrics = dict(GOOD_METRICS, **{"performance.roc_auc": math.nan})
    data = evaluate_gate(policy, "production", metrics, EVIDENCE).to_dict()
    text = json.dumps(data, allow_nan=False)
    again = json.loads(text)
    assert again["passed"] is False and again["failed"] == 1 and again["stage"] == "production"
    assert again["approvals_required"]["roles"] == ["model_risk", "compliance"]
    assert again["checks"][0].keys() == {
        "name",
        "kind",
        "value",
        "threshold",
        "passed",
        "evidence_seq",
        "message",
    }
