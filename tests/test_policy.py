"""Policy files: schema validation with line-numbered errors, demo file, defaults per tier, CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from modeltrail.cli.policy import COMMANDS
from modeltrail.errors import NotFoundError, PolicyError, ValidationError
from modeltrail.policy import (
    EVIDENCE_NAMES,
    RISK_TIERS,
    PolicyFileError,
    default_policy,
    load_policy,
    parse_duration,
    parse_policy,
)
from modeltrail.requirements import load_catalogue

DEMO_POLICY = Path(
    str(resources.files("modeltrail").joinpath("data").joinpath("demo").joinpath("policy.yaml"))
)

# A valid policy in the shape of DESIGN §5 (plus protected_attributes, which groups refer to).
BASE = """\
system: credit-scoring
risk_tier: high
protected_attributes: [sex, age_band]
gates:
  production:
    evidence: [data_report, fairness_report, performance_report]
    thresholds:
      performance.roc_auc: {min: 0.75}
      fairness.demographic_parity_difference: {max: 0.10, groups: [sex, age_band]}
      data.pii_findings: {max: 0}
    approvals: {roles: [model_risk, compliance], min: 2, four_eyes: true}
oversight:
  review_when: {confidence_below: 0.6}
  fallback: human_review
monitoring:
  drift: {metric: psi, warn: 0.1, alert: 0.25, window: 1d}
  on_alert: [notify, require_review]
retention:
  inference.*: P6Y
  "*": P10Y
"""


def _error(text: str, source: str = "policy.yaml") -> PolicyFileError:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source)
    assert isinstance(info.value, PolicyFileError)
    return info.value


def test_base_policy_parses() -> None:
    p = parse_policy(BASE, "policy.yaml")
    gate = p.gate("production")
    assert gate.evidence == ("data_report", "fairness_report", "performance_report")
    assert [t.metric for t in gate.thresholds] == [
        "performance.roc_auc",
        "fairness.demographic_parity_difference",
        "data.pii_findings",
    ]
    assert gate.thresholds[1].groups == ("sex", "age_band")
    assert gate.approvals is not None and gate.approvals.min == 2 and gate.approvals.four_eyes
    assert p.oversight is not None and p.oversight.review_when.confidence_below == 0.6
    assert p.monitoring is not None and p.monitoring.drift is not None
    assert p.monitoring.drift.window_seconds == 86400
    assert p.allow_impersonation is False
    assert p.data_policy.action_for("anything") == "keep"


def test_wrong_type_names_line_and_dotted_field() -> None:
    text = BASE.replace("performance.roc_auc: {min: 0.75}", "performance.roc_auc: {min: high}")
    err = _error(text)
    assert str(err) == (
        "policy.yaml:8: gates.production.thresholds.performance.roc_auc.min: expected a number, got 'high'"
    )
    assert (err.line, err.field, err.source) == (
        8,
        "gates.production.thresholds.performance.roc_auc.min",
        "policy.yaml",
    )


def test_unknown_key_suggests_the_right_one() -> None:
    err = _error(BASE.replace("    thresholds:", "    tresholds:"))
    assert err.line == 7
    assert err.field == "gates.production.tresholds"
    assert "did you mean 'thresholds'?" in str(err)


def test_unknown_top_level_key() -> None:
    err = _error(BASE + "retension: {}\n")
    assert err.line == 21 and err.field == "retension"
    assert "did you mean 'retention'" in err.reason


def test_min_greater_than_max() -> None:
    text = BASE.replace("performance.roc_auc: {min: 0.75}", "performance.roc_auc: {min: 0.9, max: 0.8}")
    err = _error(text)
    assert err.line == 8
    assert err.field == "gates.production.thresholds.performance.roc_auc"
    assert "min 0.9 is greater than max 0.8" in err.reason


def test_unknown_evidence_name() -> None:
    text = BASE.replace(
        "[data_report, fairness_report, performance_report]", "[data_report, fairness_reprot]"
    )
    err = _error(text)
    assert err.line == 6
    assert err.field == "gates.production.evidence[1]"
    assert "did you mean 'fairness_report'" in err.reason


def test_evidence_in_block_list_reports_the_item_line() -> None:
    text = BASE.replace(
        "    evidence: [data_report, fairness_report, performance_report]\n",
        "    evidence:\n      - data_report\n      - model_cards\n",
    )
    err = _error(text)
    assert (err.line, err.field) == (8, "gates.production.evidence[1]")


def test_bad_retention_duration() -> None:
    err = _error(BASE.replace("inference.*: P6Y", "inference.*: 6 years"))
    assert (err.line, err.field) == (19, "retention.inference.*")
    assert "ISO 8601 duration" in err.reason
    for bad in ("P", "PT", "P1.5Y", "p6m", "P6M1Y"):
        with pytest.raises(PolicyError):
            parse_policy(BASE.replace("inference.*: P6Y", f"inference.*: {bad}"))


def test_group_must_be_a_protected_attribute() -> None:
    err = _error(BASE.replace("groups: [sex, age_band]", "groups: [sex, race]"))
    assert (err.line, err.field) == (
        9,
        "gates.production.thresholds.fairness.demographic_parity_difference.groups[1]",
    )
    assert "not a protected attribute" in err.reason


def test_boolean_is_not_a_number_and_ranges_are_checked() -> None:
    err = _error(BASE.replace("confidence_below: 0.6", "confidence_below: true"))
    assert (err.line, err.field) == (13, "oversight.review_when.confidence_below")
    assert "got true (a boolean)" in err.reason
    err = _error(BASE.replace("confidence_below: 0.6", "confidence_below: 1.5"))
    assert "<= 1" in err.reason
    err = _error(BASE.replace("min: 2, four_eyes", "min: 0, four_eyes"))
    assert (err.line, err.field) == (11, "gates.production.approvals.min")


def test_missing_required_key_and_wrong_tier() -> None:
    err = _error(BASE.replace("system: credit-scoring\n", ""))
    assert (err.line, err.field) == (1, "system")
    err = _error(BASE.replace("risk_tier: high", "risk_tier: hihg"))
    assert (err.line, err.field) == (2, "risk_tier")
    assert "did you mean 'high'" in err.reason


def test_yaml_syntax_error_and_duplicates_are_located() -> None:
    err = _error(BASE.replace("  fallback: human_review", "  fallback: [human_review"))
    assert err.field == "(file)" and err.line >= 14
    err = _error(BASE + "system: other\n")
    assert err.line == 21 and "duplicate key 'system'" in err.reason
    err = _error("")
    assert err.line == 1


def test_fallback_values() -> None:
    for value in ("reject", "human_review", "previous_version", "mybank.fallbacks:manual_queue"):
        p = parse_policy(BASE.replace("fallback: human_review", f"fallback: {value}"))
        assert p.oversight is not None and p.oversight.fallback == value
    err = _error(BASE.replace("fallback: human_review", "fallback: human_reveiw"))
    assert (err.line, err.field) == (14, "oversight.fallback")
    assert "did you mean 'human_review'" in err.reason


def test_drift_warn_above_alert() -> None:
    err = _error(BASE.replace("warn: 0.1, alert: 0.25", "warn: 0.3, alert: 0.25"))
    assert (err.line, err.field) == (16, "monitoring.drift")


def test_load_policy_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BASE.replace("data.pii_findings: {max: 0}", "data.pii_findings: {maximum: 0}"))
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert str(info.value).startswith(
        f"{path}:10: gates.production.thresholds.data.pii_findings.maximum: unknown key"
    )
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")


def test_demo_policy() -> None:
    p = load_policy(DEMO_POLICY)
    assert p.system == "credit-scoring" and p.risk_tier == "high"
    assert p.protected_attributes == ("sex", "age_band")
    prod = p.gate("production")
    bounds = {t.metric: (t.min, t.max, t.groups) for t in prod.thresholds}
    assert bounds["performance.roc_auc"] == (0.70, None, ())
    assert bounds["fairness.demographic_parity_difference"] == (None, 0.15, ("sex", "age_band"))
    assert bounds["fairness.equalized_odds_difference"] == (None, 0.40, ("sex", "age_band"))
    assert bounds["data.missing_rate"] == (None, 0.05, ())
    assert bounds["data.pii_findings"] == (None, 0.0, ())
    assert prod.approvals is not None
    assert (prod.approvals.roles, prod.approvals.min, prod.approvals.four_eyes) == (
        ("model_risk", "compliance"),
        2,
        True,
    )
    assert {u: p.user(u).roles for u in p.users} == {
        "alice": ("data_scientist", "model_risk"),
        "bob": ("model_risk",),
        "carol": ("compliance",),
        "dave": ("auditor",),
        "erin": ("ops",),
        "modeltrail-monitor": ("ops",),
    }
    assert p.roles.permits("suspend", p.user("erin").roles)
    assert not p.roles.permits("suspend", p.user("dave").roles)
    assert p.allow_impersonation is True
    assert p.oversight is not None and p.oversight.review_when.confidence_below == 0.6
    assert p.oversight.fallback_kind == "human_review"
    dp = p.data_policy
    assert [
        dp.action_for(f)
        for f in ("applicant_id", "age_years", "personal_status_sex", "telephone", "duration")
    ] == [
        "pseudonymise",
        "seal",
        "seal",
        "drop",
        "keep",
    ]
    with pytest.raises(NotFoundError):
        p.user("mallory")
    with pytest.raises(NotFoundError, match="staging, production"):
        p.gate("canary")


def test_retention_most_specific_rule_wins() -> None:
    p = parse_policy(BASE.replace('  "*": P10Y', '  "*": P10Y\n  inference.decision: P1Y'))
    assert str(p.retention_for("inference.decision")) == "P1Y"
    assert str(p.retention_for("inference.batch")) == "P6Y"
    assert str(p.retention_for("model.approved")) == "P10Y"
    assert parse_policy(BASE.replace('  "*": P10Y\n', "")).retention_for("model.approved") is None


def test_duration_arithmetic() -> None:
    d = parse_duration("P1Y2M3DT4H5M6.5S")
    assert (d.years, d.months, d.days, d.hours, d.minutes, d.seconds) == (1, 2, 3, 4, 5, 6.5)
    start = datetime(2024, 1, 31, tzinfo=UTC)
    assert parse_duration("P1M").add_to(start) == datetime(2024, 2, 29, tzinfo=UTC)
    assert parse_duration("P10Y").add_to(start) == datetime(2034, 1, 31, tzinfo=UTC)
    assert parse_duration("PT72H").add_to(start) == datetime(2024, 2, 3, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_duration("10Y")


def test_to_dict_round_trips_through_yaml() -> None:
    for p in (parse_policy(BASE), load_policy(DEMO_POLICY)):
        again = parse_policy(yaml.safe_dump(p.to_dict(), sort_keys=False), "again")
        assert again == p
        json.dumps(p.to_dict())  # JSON-safe


@pytest.mark.parametrize("tier", RISK_TIERS)
def test_default_policies_are_valid_and_round_trip(tier: str) -> None:
    p = default_policy(tier, "some-system", ["sex"])
    assert p.risk_tier == tier and p.system == "some-system"
    assert parse_policy(p.to_yaml()) == p
    assert "production" in p.gates


def test_default_policy_strictness_by_tier() -> None:
    high = default_policy("high").gate("production")
    assert set(high.evidence) == set(EVIDENCE_NAMES)
    assert high.approvals is not None and high.approvals.min == 2 and high.approvals.four_eyes
    assert {t.metric for t in high.thresholds} >= {
        "performance.roc_auc",
        "fairness.demographic_parity_difference",
        "data.pii_findings",
    }
    limited = default_policy("limited").gate("production")
    assert limited.approvals is not None and limited.approvals.min == 1
    assert len(limited.evidence) < len(high.evidence)
    minimal = default_policy("minimal").gate("production")
    assert minimal.evidence == ("performance_report",) and minimal.approvals is None
    assert [t.metric for t in minimal.thresholds] == ["performance.roc_auc"]
    prohibited = default_policy("prohibited")
    assert prohibited.refuses_deployment and prohibited.gate("production").refuse
    assert not default_policy("high").refuses_deployment
    with pytest.raises(ValidationError):
        default_policy("gpai")


def test_catalogue_loads_and_filters() -> None:
    cat = load_catalogue()
    assert len(cat) == len(set(cat.ids)) > 200
    assert cat.get("annex3.5").article == "Annex III(5)"
    assert "art6.3" in cat and "art99" not in cat
    gpai = cat.filter(tier="gpai", applies_to="gpai_provider")
    assert {r.id for r in gpai} >= {"art53.1a", "art55.1"}
    assert all(r.kind == "M" for r in cat.filter(kind="M"))
    assert [r.id for r in cat.filter(prefix="annex3")] == [f"annex3.{i}" for i in range(1, 9)]
    with pytest.raises(NotFoundError):
        cat.get("art99")
    with pytest.raises(ValidationError):
        cat.filter(tier="extreme")


def test_cli_validate_and_show(tmp_path: Path) -> None:
    group = COMMANDS[0]
    runner = CliRunner()
    ok = runner.invoke(group, ["validate", str(DEMO_POLICY)])
    assert ok.exit_code == 0, ok.output
    assert "valid" in ok.output and "credit-scoring" in ok.output

    bad = tmp_path / "policy.yaml"
    bad.write_text(BASE.replace("{min: 0.75}", "{min: high}"))
    res = runner.invoke(group, ["validate", str(bad)])
    assert res.exit_code == 1
    assert f"{bad}:8: gates.production.thresholds.performance.roc_auc.min: expected a number" in res.output

    shown = runner.invoke(group, ["show", str(DEMO_POLICY)])
    assert shown.exit_code == 0, shown.output
    assert "credit-scoring" in shown.output and "2 of model_risk" in shown.output
    assert "applicant_id: pseudonymise" in shown.output
    as_json = runner.invoke(group, ["show", "--json", str(DEMO_POLICY)])
    assert as_json.exit_code == 0
    assert json.loads(as_json.output)["gates"]["production"]["approvals"]["min"] == 2
    assert runner.invoke(group, ["show", str(bad)]).exit_code == 2
