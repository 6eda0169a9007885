"""Pure gate evaluation: a policy's gate for a stage against metric values and recorded evidence.

Nothing here reads the trail. The caller gathers the figures (from evidence reports and run metrics) and
the sequence numbers of the events holding each required evidence, and records the resulting
``gate.evaluated`` event itself. Approvals are not judged here either: they come after a passed gate and are
enforced by the registry; :attr:`GateResult.approvals` says what the stage asks for.

Metric lookup. Names are dotted (``performance.roc_auc``). For a threshold with ``groups`` each group is a
separate check named ``metric[group]``; its value is ``metrics[metric][group]`` when the metric maps groups
to numbers, else ``metrics["metric[group]"]`` (the flat form evidence reports use). A metric that is absent,
not a number or NaN fails its check: a gate never passes on missing data.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modeltrail.policy.model import Approvals, Policy, Threshold

CHECK_KINDS = ("threshold", "evidence", "policy", "warning")
"""``threshold``: a metric bound; ``evidence``: a required evidence record; ``policy``: refused by policy;
``warning``: a finding of the evidence the gate shows (four-fifths violations) — it fails the gate only
when the policy says ``fairness_warnings: fail``."""


@dataclass(frozen=True)
class Check:
    """One line of a gate evaluation."""

    name: str
    kind: str
    value: float | None
    threshold: str
    passed: bool
    evidence_seq: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary form (NaN values become ``None``)."""
        value = self.value if self.value is None or math.isfinite(self.value) else None
        return {
            "name": self.name,
            "kind": self.kind,
            "value": value,
            "threshold": self.threshold,
            "passed": self.passed,
            "evidence_seq": self.evidence_seq,
            "message": self.message,
        }


@dataclass(frozen=True)
class GateResult:
    """The outcome of :func:`evaluate_gate`: passed only when every check passed."""

    stage: str
    passed: bool
    checks: list[Check]
    system: str = ""
    approvals: Approvals | None = field(default=None)

    @property
    def failures(self) -> list[Check]:
        """The checks that failed."""
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary form (suitable as a ``gate.evaluated`` payload)."""
        return {
            "system": self.system,
            "stage": self.stage,
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
            "failed": len(self.failures),
            "approvals_required": self.approvals.to_dict() if self.approvals is not None else None,
        }

    def to_junit_xml(self) -> str:
        """JUnit XML for CI systems: one ``<testcase>`` per check, failed checks carry a ``<failure>``."""
        suite_name = (
            f"modeltrail.gate.{self.system}.{self.stage}" if self.system else f"modeltrail.gate.{self.stage}"
        )
        suites = ET.Element(
            "testsuites",
            name="modeltrail gate",
            tests=str(len(self.checks)),
            failures=str(len(self.failures)),
        )
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=suite_name,
            tests=str(len(self.checks)),
            failures=str(len(self.failures)),
            errors="0",
            skipped="0",
        )
        props = ET.SubElement(suite, "properties")
        for key, value in (
            ("system", self.system),
            ("stage", self.stage),
            ("passed", str(self.passed).lower()),
        ):
            ET.SubElement(props, "property", name=key, value=value)
        for check in self.checks:
            case = ET.SubElement(suite, "testcase", classname=f"{suite_name}.{check.kind}", name=check.name)
            detail = _detail(check)
            if check.passed:
                ET.SubElement(case, "system-out").text = detail
            else:
                failure = ET.SubElement(case, "failure", message=check.message, type=check.kind)
                failure.text = detail
        ET.indent(suites)
        return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _detail(check: Check) -> str:
    parts = [check.message]
    if check.value is not None:
        parts.append(f"value: {check.value:g}")
    if check.threshold:
        parts.append(f"threshold: {check.threshold}")
    if check.evidence_seq is not None:
        parts.append(f"evidence event: {check.evidence_seq}")
    return "\n".join(parts)


def _as_number(raw: Any) -> float | None:
    """A metric value as float, or ``None`` when it is not a real number."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return float(raw)


def _lookup(metrics: Mapping[str, Any], metric: str, group: str | None) -> tuple[bool, Any]:
    """(found, raw value) of ``metric`` (for ``group`` when given) in either accepted form."""
    if group is None:
        return (metric in metrics), metrics.get(metric)
    nested = metrics.get(metric)
    if isinstance(nested, Mapping) and group in nested:
        return True, nested[group]
    flat = f"{metric}[{group}]"
    return (flat in metrics), metrics.get(flat)


def _threshold_check(
    threshold: Threshold,
    group: str | None,
    metrics: Mapping[str, Any],
    sources: Mapping[str, int],
    undefined: Mapping[str, str],
) -> Check:
    name = threshold.metric if group is None else f"{threshold.metric}[{group}]"
    bound = threshold.describe()
    seq = sources.get(name, sources.get(threshold.metric))
    found, raw = _lookup(metrics, threshold.metric, group)
    if not found and name in undefined:
        return Check(name, "threshold", None, bound, False, seq, f"metric {name} is undefined: {undefined[name]}")
    if not found:
        where = f" for group {group!r}" if group is not None else ""
        return Check(
            name, "threshold", None, bound, False, seq, f"metric {threshold.metric}{where} was not recorded"
        )
    if group is None and isinstance(raw, Mapping):
        return Check(
            name,
            "threshold",
            None,
            bound,
            False,
            seq,
            f"metric {name} is per group ({', '.join(map(str, raw))}); list the groups in the threshold",
        )
    value = _as_number(raw)
    if value is None or math.isnan(value):
        return Check(name, "threshold", value, bound, False, seq, f"metric {name} is not a number: {raw!r}")
    if threshold.accepts(value):
        return Check(name, "threshold", value, bound, True, seq, f"{name} = {value:g} meets {bound}")
    return Check(name, "threshold", value, bound, False, seq, f"{name} = {value:g} violates {bound}")


def _fairness_warnings(policy: Policy, metrics: Mapping[str, Any], sources: Mapping[str, int]) -> list[Check]:
    """Four-fifths violations recorded by a fairness report, as warning checks (or failures by policy)."""
    violations = _as_number(metrics.get("fairness.four_fifths_violations"))
    if violations is None or violations <= 0:
        return []
    fail = policy.fairness_warnings == "fail"
    failing = sorted(
        f"{key[len('fairness.disparate_impact[') : -1]} {v:.3g}"
        for key, value in metrics.items()
        if key.startswith("fairness.disparate_impact[")
        and "+" not in key
        and (v := _as_number(value)) is not None
        and v < 0.8
    )
    name = "fairness.four_fifths_violations"
    detail = f" (disparate impact {', '.join(failing)})" if failing else ""
    verb = "fails the gate (fairness_warnings: fail)" if fail else "a warning, not a gate failure"
    message = f"{int(violations)} attribute(s) fail the four-fifths rule{detail}: {verb}"
    return [Check(name, "warning", violations, "0 (four-fifths rule)", not fail, sources.get(name), message)]


def evaluate_gate(
    policy: Policy,
    stage: str,
    metrics: Mapping[str, float | Mapping[str, float]],
    evidence: Mapping[str, int | None],
    *,
    metric_sources: Mapping[str, int] | None = None,
    undefined: Mapping[str, str] | None = None,
    stale: Mapping[str, str] | None = None,
) -> GateResult:
    """Evaluate the gate of ``policy`` for ``stage``.

    ``metrics`` maps dotted metric names to numbers, or to ``{group: number}`` for per-group figures (the flat
    ``name[group]`` keys of evidence reports work too). ``evidence`` maps evidence names to the sequence
    number of the event that recorded them (``None`` or absent: not recorded). ``metric_sources`` optionally
    maps a metric name (or ``name[group]``) to the event its value came from, shown as ``evidence_seq``.
    ``undefined`` maps metric names that a report could not compute to the reason (the ``undefined`` of a
    ``report.generated`` payload); a check on one fails with that reason. ``stale`` maps evidence names
    whose document is out of date to why; under the gate's ``current_documents: true`` such evidence fails.
    Four-fifths violations in the metrics show as a ``warning`` check, which fails the gate only under
    ``fairness_warnings: fail``.

    Raises :class:`~modeltrail.errors.NotFoundError` if the policy has no gate for ``stage``.
    """
    gate = policy.gate(stage)
    sources = metric_sources or {}
    checks: list[Check] = []
    if gate.refuse is not None or policy.risk_tier == "prohibited":
        reason = gate.refuse or "the policy's risk tier is prohibited (Art. 5): no deployment is allowed"
        checks.append(Check("refused by policy", "policy", None, "", False, None, reason))
    for name in gate.evidence:
        seq = evidence.get(name)
        # bool is an int subclass: `True` is not an event number.
        if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0:
            why = (stale or {}).get(name) if gate.current_documents else None
            if why is not None:
                checks.append(
                    Check(name, "evidence", None, "current", False, seq, f"{name} (event {seq}) is stale: {why}")
                )
            else:
                checks.append(
                    Check(name, "evidence", None, "required", True, seq, f"{name} recorded in event {seq}")
                )
        else:
            checks.append(Check(name, "evidence", None, "required", False, None, f"no {name} recorded"))
    for threshold in gate.thresholds:
        groups: tuple[str | None, ...] = threshold.groups or (None,)
        for group in groups:
            checks.append(_threshold_check(threshold, group, metrics, sources, undefined or {}))
    checks.extend(_fairness_warnings(policy, metrics, sources))
    return GateResult(
        stage=stage,
        passed=all(c.passed for c in checks),
        checks=checks,
        system=policy.system,
        approvals=gate.approvals,
    )
