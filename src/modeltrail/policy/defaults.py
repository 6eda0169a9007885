"""Default policies per risk tier: the starting point a classification selects.

The defaults are deliberately conservative starting points, to be tuned per system in its policy file:

- ``high``: a ``staging`` gate (performance and data evidence, no approvals) and a ``production`` gate with
  every evidence kind, strict performance/fairness/data thresholds and two approvals (model risk and
  compliance) under the four-eyes rule; oversight with human review below 0.6 confidence; monitoring;
  inference logs kept six months (the Art. 19(1) / 26(6) minimum), everything else ten years (Art. 18).
- ``limited``: a lighter production gate (performance, data, model card, classification; one approval).
- ``minimal``: a production gate on performance only.
- ``prohibited``: every gate refuses (Art. 5: the system may not be placed on the market or used).

Fairness thresholds are per group when ``protected_attributes`` are given, otherwise they apply to the
report's overall figure.
"""

from __future__ import annotations

from collections.abc import Sequence

from modeltrail.errors import ValidationError
from modeltrail.policy.duration import parse_duration
from modeltrail.policy.model import (
    EVIDENCE_NAMES,
    RISK_TIERS,
    Approvals,
    Checkpoint,
    DataPolicy,
    DriftRule,
    Gate,
    MetricRule,
    Monitoring,
    Oversight,
    Policy,
    RetentionRule,
    ReviewWhen,
    Roles,
    Threshold,
)

_PROHIBITED_REASON = (
    "classified as a prohibited practice under Art. 5 of the AI Act: the system may not be placed on the "
    "market, put into service or used"
)


def _retention(inference: str) -> tuple[RetentionRule, ...]:
    return (
        RetentionRule("inference.*", parse_duration(inference)),
        RetentionRule("*", parse_duration("P10Y")),
    )


def default_policy(
    tier: str, system: str = "unnamed-system", protected_attributes: Sequence[str] = ()
) -> Policy:
    """The default policy for a risk ``tier`` (``prohibited``, ``high``, ``limited``, ``minimal``).

    ``protected_attributes`` (column names) make the high-risk fairness thresholds apply per group.
    """
    if tier not in RISK_TIERS:
        raise ValidationError(f"expected one of {', '.join(RISK_TIERS)}, got {tier!r}", field="tier")
    groups = tuple(protected_attributes)
    checkpoint = Checkpoint(every_events=10_000, every_seconds=300.0)

    if tier == "prohibited":
        refusal = Gate("production", evidence=("classification",), refuse=_PROHIBITED_REASON)
        return Policy(
            system=system,
            risk_tier=tier,
            protected_attributes=groups,
            gates={"production": refusal},
            roles=Roles(suspend=("ops", "compliance"), reveal=("compliance",)),
            retention=_retention("P10Y"),
            checkpoint=checkpoint,
            source=f"default policy ({tier})",
        )

    if tier == "high":
        production = Gate(
            "production",
            evidence=tuple(EVIDENCE_NAMES),
            thresholds=(
                Threshold("performance.roc_auc", min=0.75),
                Threshold("fairness.demographic_parity_difference", max=0.10, groups=groups),
                Threshold("fairness.equalized_odds_difference", max=0.10, groups=groups),
                Threshold("data.missing_rate", max=0.05),
                Threshold("data.pii_findings", max=0.0),
            ),
            approvals=Approvals(("model_risk", "compliance"), min=2, four_eyes=True),
        )
        staging = Gate(
            "staging",
            evidence=("data_report", "performance_report"),
            thresholds=(Threshold("performance.roc_auc", min=0.70), Threshold("data.pii_findings", max=0.0)),
        )
        return Policy(
            system=system,
            risk_tier=tier,
            protected_attributes=groups,
            gates={"staging": staging, "production": production},
            oversight=Oversight(
                ReviewWhen(confidence_below=0.6, outside_training_range=True), "human_review"
            ),
            data_policy=DataPolicy({}, "keep"),
            roles=Roles(
                suspend=("ops", "model_risk", "compliance"),
                resume=("model_risk",),
                reveal=("compliance",),
                break_glass=(),
            ),
            monitoring=Monitoring(
                drift=DriftRule("psi", warn=0.1, alert=0.25, window="7d"),
                performance=MetricRule("performance.roc_auc", min=0.70, window="30d"),
                fairness=MetricRule(
                    "fairness.demographic_parity_difference", max=0.10, groups=groups, window="30d"
                ),
                on_alert=("notify", "require_review"),
            ),
            retention=_retention("P6M"),
            checkpoint=checkpoint,
            source=f"default policy ({tier})",
        )

    if tier == "limited":
        production = Gate(
            "production",
            evidence=("data_report", "performance_report", "model_card", "classification"),
            thresholds=(Threshold("performance.roc_auc", min=0.70), Threshold("data.pii_findings", max=0.0)),
            approvals=Approvals(("model_risk",), min=1, four_eyes=True),
        )
        return Policy(
            system=system,
            risk_tier=tier,
            protected_attributes=groups,
            gates={"production": production},
            roles=Roles(suspend=("ops", "model_risk"), resume=("model_risk",), reveal=("compliance",)),
            monitoring=Monitoring(
                drift=DriftRule("psi", warn=0.1, alert=0.25, window="7d"), on_alert=("notify",)
            ),
            retention=_retention("P6M"),
            checkpoint=checkpoint,
            source=f"default policy ({tier})",
        )

    production = Gate(
        "production",
        evidence=("performance_report",),
        thresholds=(Threshold("performance.roc_auc", min=0.70),),
    )
    return Policy(
        system=system,
        risk_tier=tier,
        protected_attributes=groups,
        gates={"production": production},
        roles=Roles(suspend=("ops",), resume=("ops",)),
        retention=_retention("P6M"),
        checkpoint=checkpoint,
        source=f"default policy ({tier})",
    )
