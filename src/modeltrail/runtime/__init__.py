"""Runtime: guarded serving with decision logging, the data policy, human oversight and the kill switch."""

from .datapolicy import DataPolicyPlan
from .guard import Decision, Decisions, Guard, default_logger, guard
from .killswitch import KillSwitch, Suspension, kill_switch_for
from .logger import DecisionLogger, PendingBatch, PendingDecision
from .oversight import (
    ReviewItem,
    ReviewRules,
    intervention_stats,
    label,
    label_csv,
    reveal,
    review,
    review_queue,
)

__all__ = [
    "DataPolicyPlan",
    "Decision",
    "DecisionLogger",
    "Decisions",
    "Guard",
    "KillSwitch",
    "PendingBatch",
    "PendingDecision",
    "ReviewItem",
    "ReviewRules",
    "Suspension",
    "default_logger",
    "guard",
    "intervention_stats",
    "kill_switch_for",
    "label",
    "label_csv",
    "reveal",
    "review",
    "review_queue",
]
