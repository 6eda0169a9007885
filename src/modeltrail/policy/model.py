"""The policy file: typed model, schema validation with line-numbered errors, and its dictionary form.

A policy file is YAML (DESIGN §5). Top-level keys::

    system: credit-scoring              # required, the AI system this policy governs
    risk_tier: high                     # required: prohibited | high | limited | minimal
    protected_attributes: [sex, age_band]
    favourable_outcome: negative        # positive | negative: the prediction that benefits the person
    fairness_warnings: warn             # warn | fail: four-fifths violations in a gate's output
    gates:                              # one gate per stage (production, staging, ...)
      production:
        evidence: [data_report, fairness_report, ...]          # names from EVIDENCE_NAMES
        thresholds:
          performance.roc_auc: {min: 0.70}
          fairness.demographic_parity_difference: {max: 0.10, groups: [sex, age_band]}
        approvals: {roles: [model_risk, compliance], min: 2, four_eyes: true}
        refuse: "reason"                # optional: this gate never passes (prohibited systems)
        current_documents: true         # optional: required documents must not be stale (docs check)
    oversight:
      review_when: {confidence_below: 0.6, outside_training_range: true, segments: ["age_band=18-25"],
                    sample_rate: 0.01}
      fallback: human_review            # reject | human_review | previous_version | a callable name
    data_policy: {fields: {applicant_id: pseudonymise, telephone: drop}, default: keep}
    roles: {suspend: [ops], resume: [model_risk], reveal: [compliance], break_glass: [cro],
            tokens: [admin], keys: [admin]}    # tokens and keys default to admin
    users: {alice: {roles: [data_scientist]}}
    allow_impersonation: false          # true only for tests and demos: permits `--as USER`
    monitoring:
      drift: {metric: psi, warn: 0.1, alert: 0.25, window: 7d, features: [...]}
      performance: {metric: performance.roc_auc, min: 0.70, window: 30d}
      fairness: {metric: fairness.demographic_parity_difference, max: 0.10, groups: [sex], window: 30d}
      on_alert: [notify, require_review]
      notify: {webhook: "https://hooks.example/ml", secret_env: MODELTRAIL_WEBHOOK_SECRET,
               email: [oncall@example.org], smtp: "localhost:25", sender: modeltrail@example.org}
    retention: {"inference.*": P6M, "*": P10Y}    # event-type glob -> ISO 8601 duration
    checkpoint: {every_events: 10000, every_seconds: 300}

Every validation error is a :class:`~modeltrail.errors.PolicyError` whose message reads
``FILE:LINE: dotted.field: what was expected``.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from modeltrail.errors import NotFoundError, PolicyError, ValidationError
from modeltrail.policy._yaml import MarkedDict, MarkedList, load_marked
from modeltrail.policy.duration import Duration, parse_duration
from modeltrail.policy.retention_law import violations as retention_violations

RISK_TIERS = ("prohibited", "high", "limited", "minimal")
"""Risk tiers a policy can declare (the outcome of :func:`modeltrail.registry.classify.classify`)."""

EVIDENCE_NAMES: Mapping[str, str] = {
    "data_report": "data governance report: quality, completeness, representativeness, PII scan",
    "fairness_report": "fairness report: group metrics over the protected attributes",
    "performance_report": "performance report: metrics on held-out test data",
    "explainability_report": "explainability report: global and local feature attributions",
    "robustness_report": "robustness report: perturbation and stress tests",
    "model_card": "model card: intended use, limitations, evaluation summary",
    "risk_assessment": "risk assessment: entries of the risk register (Art. 9)",
    "classification": "risk classification record (Art. 5, Art. 6, Annex III, Art. 50)",
    "technical_documentation": "technical documentation (Annex IV)",
}
"""The fixed vocabulary of evidence a gate can require, with what each name stands for."""

DATA_ACTIONS = ("keep", "pseudonymise", "seal", "drop")
"""What happens to a logged field: kept as is, replaced by a keyed pseudonym, encrypted, or not stored."""

FALLBACKS = ("reject", "human_review", "previous_version")
"""Built-in fallbacks when a model is suspended or a decision needs review; else a callable name."""

ROLE_ACTIONS = (
    "suspend",
    "resume",
    "reveal",
    "break_glass",
    "tokens",
    "keys",
    "policy",
    "retention",
    "erasure",
    "holds",
    "subject_access",
)
"""Privileged actions whose permitted roles the policy lists."""

DRIFT_METRICS = ("psi", "ks", "js", "wasserstein", "chi2")
"""Drift statistics a monitoring rule may name."""

ALERT_ACTIONS = ("notify", "require_review", "suspend", "fallback")
"""Actions taken when a monitoring rule raises an alert."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_STAGE = re.compile(r"[a-z][a-z0-9_-]*")
_METRIC = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
_CALLABLE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*)?")
_EVENT_GLOB = re.compile(r"[a-z0-9_.*?\[\]-]+")
_SEGMENT = re.compile(r"[^=\s]+\s*=\s*\S.*")
_WINDOW = re.compile(r"(\d+)([smhdw])")
_URL = re.compile(r"https?://[^\s]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HOSTPORT = re.compile(r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}")
_WINDOW_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# --------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Threshold:
    """A bound on one metric; with ``groups`` the bound applies to the metric of each listed group."""

    metric: str
    min: float | None = None
    max: float | None = None
    groups: tuple[str, ...] = ()

    def describe(self) -> str:
        """The bound as text: ``min 0.75``, ``max 0.1`` or ``min 0.7, max 0.9``."""
        parts = []
        if self.min is not None:
            parts.append(f"min {self.min:g}")
        if self.max is not None:
            parts.append(f"max {self.max:g}")
        return ", ".join(parts)

    def accepts(self, value: float) -> bool:
        """True when ``value`` lies within the bound (both ends inclusive); NaN is never accepted."""
        if math.isnan(value):
            return False
        if self.min is not None and value < self.min:
            return False
        return not (self.max is not None and value > self.max)

    def to_dict(self) -> dict[str, Any]:
        """Dictionary form as written in a policy file."""
        out: dict[str, Any] = {}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.groups:
            out["groups"] = list(self.groups)
        return out


@dataclass(frozen=True)
class Approvals:
    """Human approvals a stage needs: ``min`` approvals by holders of ``roles``.

    With ``four_eyes`` the person who registered the model version may not approve it and each person
    counts once (enforced by the registry, not here).
    """

    roles: tuple[str, ...]
    min: int = 1
    four_eyes: bool = True
    signed: bool = False
    """``signed: required``: an approval counts only with its approver's valid SSH signature (users.*.ssh_key)."""

    def to_dict(self) -> dict[str, Any]:
        """Dictionary form as written in a policy file."""
        out: dict[str, Any] = {"roles": list(self.roles), "min": self.min, "four_eyes": self.four_eyes}
        if self.signed:
            out["signed"] = "required"
        return out


@dataclass(frozen=True)
class Gate:
    """The conditions for a model version to pass into ``stage``."""

    stage: str
    evidence: tuple[str, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    approvals: Approvals | None = None
    refuse: str | None = None
    """When set, the gate never passes; the text says why (used for prohibited systems)."""
    current_documents: bool = False
    """When set, a required document (model card, technical documentation, risk assessment) counts only
    while it is current: a document whose evidence changed since it was generated fails the gate."""

    def to_dict(self) -> dict[str, Any]:
        """Dictionary form as written in a policy file."""
        out: dict[str, Any] = {"evidence": list(self.evidence)}
        out["thresholds"] = {t.metric: t.to_dict() for t in self.thresholds}
        if self.approvals is not None:
            out["approvals"] = self.approvals.to_dict()
        if self.refuse is not None:
            out["refuse"] = self.refuse
        if self.current_documents:
            out["current_documents"] = True
        return out


@dataclass(frozen=True)
class Segment:
    """A slice of inputs (``column=value``) whose decisions always go to human review."""

    column: str
    value: str

    def __str__(self) -> str:
        return f"{self.column}={self.value}"


@dataclass(frozen=True)
class ReviewWhen:
    """When a decision is routed to a human reviewer (any condition suffices)."""

    confidence_below: float | None = None
    outside_training_range: bool = False
    segments: tuple[Segment, ...] = ()
    sample_rate: float | None = None
    missing_values: int | None = None
    """Route a decision with at least this many missing inputs (None, NaN) to review."""

    def to_dict(self) -> dict[str, Any]:
        """Dictionary form as written in a policy file."""
        out: dict[str, Any] = {}
        if self.confidence_below is not None:
            out["confidence_below"] = self.confidence_below
        out["outside_training_range"] = self.outside_training_range
        if self.segments:
            out["segments"] = [str(s) for s in self.segments]
        if self.sample_rate is not None:
            out["sample_rate"] = self.sample_rate
        if self.missing_values is not None:
            out["missing_values"] = self.missing_values
        return out


@dataclass(frozen=True)
class Oversight:
    """Human oversight (Art. 14): review triggers and what to do instead of the model's answer."""

    review_when: ReviewWhen = field(default_factory=ReviewWhen)
    fallback: str = "human_review"
    signed: bool = False
    """``signed: required``: a reviewer's override counts only with their valid SSH signature."""

    @property
    def fallback_kind(self) -> str:
        """``reject``, ``human_review``, ``previous_version``, or ``callable`` for a named function."""
        return self.fallback if self.fallback in FALLBACKS else "callable"

    def to_dict(self) -> dict[str, Any]:
        """Dictionary form as written in a policy file."""
        out: dict[str, Any] = {"review_when": self.review_when.to_dict(), "fallback": self.fallback}
        if self.signed:
            out["signed"] = "required"
        return out


@dataclass(frozen=True)
class DataPolicy:
    """What the inference logger does with each listed input field and (``default``) with the others."""

    fields: Mapping[str, str] = field(default_factory=dict)
    default: str = "keep"

    def action_for(self, name: str) -> str:
        """The action (one of :data:`DATA_ACTIONS`) for the field ``name``."""
        return self.fields.get(name, self.default)

    def to_dict(self) -> dict[str, Any]:
        """Dictionary form as written in a policy file."""
        return {"fields": dict(self.fields), "default": self.default}


@dataclass(frozen=True)
class Roles:
    """Roles permitted to perform each privileged action.

    An empty list means nobody may, except for the trail-wide ``tokens`` and ``keys``, where it means
    ``admin`` (see :func:`modeltrail.identity.admin_roles`).
    """

    suspend: tuple[str, ...] = ()
    resume: tuple[str, ...] = ()
    reveal: tuple[str, ...] = ()
    break_glass: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()  # who may create and revoke API tokens (empty: admin)
    keys: tuple[str, ...] = ()  # who may rotate the checkpoint signing key (empty: admin)
    policy: tuple[str, ...] = ()  # who may replace the policy in force (empty: compliance)
    retention: tuple[str, ...] = ()  # who may purge expired events (empty: compliance, dpo)
    erasure: tuple[str, ...] = ()  # who may erase a data subject (empty: dpo, compliance)
    holds: tuple[str, ...] = ()  # who may place and release legal holds (empty: legal, compliance)
    subject_access: tuple[str, ...] = ()  # who may answer access requests (empty: dpo, compliance)

    def permits(self, action: str, roles: Collection[str]) -> bool:
        """True when any of ``roles`` may perform ``action`` (one of :data:`ROLE_ACTIONS`)."""
        if action not in ROLE_ACTIONS:
            raise NotFoundError(
                f"unknown privileged action {action!r}; expected one of {', '.join(ROLE_ACTIONS)}"
            )
        allowed: tuple[str, ...] = getattr(self, action)
        return any(r in allowed for r in roles)

    def to_dict(self) -> dict[str, Any]:
        """Dictionary form as written in a policy file."""
        return {a: list(getattr(self, a)) for a in ROLE_ACTIONS}


@dataclass(frozen=True)
class User:
    """A configured person and the roles they hold."""

    id: str
    roles: tuple[str, ...]
    ssh_key: str | None = None
    """The person's SSH public key (``ssh-ed25519 AAAA…``): their approvals are checked against it."""


@dataclass(frozen=True)
class Witnesses:
    """``witnesses``: the witnesses whose cosignatures ``verify`` and ``audit check`` require, and how many."""

    keys: tuple[str, ...]
    """Witness verifier keys (``name+keyid+base64``, as ``modeltrail witness init`` prints)."""
    min: int
    """How many of them must have cosigned a checkpoint of the log."""

    def to_dict(self) -> dict[str, Any]:
        """Dictionary form as written in a policy file."""
        return {"keys": list(self.keys), "min": self.min}


@dataclass(frozen=True)
class DriftRule:
    """Input or score drift monitoring: ``warn`` and ``alert`` levels of a drift statistic over ``window``."""

    metric: str
    warn: float
    alert: float
    window: str = "1d"
    features: tuple[str, ...] = ()

    @property
    def window_seconds(self) -> float:
        """The window length in seconds."""
        return window_seconds(self.window)

    def to_dict(self) -> dict[str, Any]:
        """Dictionary form as written in a policy file."""
        out: dict[str, Any] = {
            "metric": self.metric,
            "warn": self.warn,
            "alert": self.alert,
            "window": self.window,
        }
        if self.features:
            out["features"] = list(self.features)
        return out


@dataclass(frozen=True)
class MetricRule:
    """A live metric (performance decay, fairness drift) that must stay within a bound over ``window``."""

    metric: str
    min: float | None = None
    max: float | None = None
    groups: tuple[str, ...] = ()
    window: str = "30d"

    @property
    def threshold(self) -> Threshold:
        """The bound as a :class:`Threshold` (same semantics as in gates)."""
        return Threshold(self.metric, self.min, self.max, self.groups)

    @property
    def window_seconds(self) -> float:
        """The window length in seconds."""
        return window_seconds(self.window)

    def to_dict(self) -> dict[str, Any]:
        """Dictionary form as written in a policy file."""
        return {"metric": self.metric, **self.threshold.to_dict(), "window": self.window}


@dataclass(frozen=True)
class Notify:
    """Where ``notify`` sends alerts: a webhook (HMAC-signed with the key in ``secret_env``) and e-mail."""

    webhook: str | None = None
    secret_env: str = "MODELTRAIL_WEBHOOK_SECRET"
    email: tuple[str, ...] = ()
    smtp: str = "localhost:25"
    sender: str = "modeltrail@localhost"

    def to_dict(self) -> dict[str, Any]:
        """Dictionary form as written in a policy file."""
        out: dict[str, Any] = {"secret_env": self.secret_env, "smtp": self.smtp, "sender": self.sender}
        if self.webhook is not None:
            out["webhook"] = self.webhook
        if self.email:
            out["email"] = list(self.email)
        return out


@dataclass(frozen=True)
class Monitoring:
    """Post-market monitoring rules (Art. 72) and what happens on an alert."""

    drift: DriftRule | None = None
    performance: MetricRule | None = None
    fairness: MetricRule | None = None
    on_alert: tuple[str, ...] = ("notify",)
    notify: Notify | None = None

    def to_dict(self) -> dict[str, Any]:
        """Dictionary form as written in a policy file."""
        out: dict[str, Any] = {}
        for name in ("drift", "performance", "fairness"):
            rule: DriftRule | MetricRule | None = getattr(self, name)
            if rule is not None:
                out[name] = rule.to_dict()
        out["on_alert"] = list(self.on_alert)
        if self.notify is not None:
            out["notify"] = self.notify.to_dict()
        return out


@dataclass(frozen=True)
class RetentionRule:
    """Events whose type matches ``pattern`` (a shell-style glob) are kept for ``period``."""

    pattern: str
    period: Duration


@dataclass(frozen=True)
class Checkpoint:
    """When signed checkpoints are taken automatically (besides approvals, deployments and documents)."""

    every_events: int | None = None
    every_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Dictionary form as written in a policy file."""
        out: dict[str, Any] = {}
        if self.every_events is not None:
            out["every_events"] = self.every_events
        if self.every_seconds is not None:
            out["every_seconds"] = self.every_seconds
        return out


@dataclass(frozen=True)
class Policy:
    """A validated policy; build it with :func:`load_policy`, :func:`parse_policy` or ``default_policy``."""

    system: str
    risk_tier: str
    protected_attributes: tuple[str, ...] = ()
    gates: Mapping[str, Gate] = field(default_factory=dict)
    oversight: Oversight | None = None
    data_policy: DataPolicy = field(default_factory=DataPolicy)
    roles: Roles = field(default_factory=Roles)
    users: Mapping[str, User] = field(default_factory=dict)
    allow_impersonation: bool = False
    monitoring: Monitoring | None = None
    retention: tuple[RetentionRule, ...] = ()
    checkpoint: Checkpoint | None = None
    favourable_outcome: str = "positive"
    """Which prediction is favourable to the person (``positive``: the model's positive class, e.g. credit
    granted; ``negative``: a model that predicts the adverse outcome, e.g. default risk). The fairness
    report computes disparate impact and the four-fifths rule on the favourable outcome's rate."""
    fairness_warnings: str = "warn"
    """``warn``: a fairness warning (four-fifths violations) shows in a gate's output without failing it;
    ``fail``: it fails the gate."""
    witnesses: Witnesses | None = None
    """Witness cosignatures the log must carry (checked by ``verify`` and ``audit check``)."""
    allowed_signers: str | None = None
    """Approvers' SSH keys in the ``allowed_signers`` format of ``ssh-keygen -Y verify`` (an alternative
    to ``users.*.ssh_key``; kept as text so the policy blob alone decides whose signature counts)."""
    source: str = field(default="<policy>", compare=False)
    """Where the policy came from (file path or a label), for messages; not part of equality."""

    @property
    def refuses_deployment(self) -> bool:
        """True for a prohibited system: no gate of this policy can pass."""
        return self.risk_tier == "prohibited" or any(g.refuse for g in self.gates.values())

    def gate(self, stage: str) -> Gate:
        """The gate for ``stage``; :class:`NotFoundError` naming the stages the policy defines."""
        try:
            return self.gates[stage]
        except KeyError:
            known = ", ".join(self.gates) or "none"
            raise NotFoundError(f"{self.source}: no gate for stage {stage!r} (gates: {known})") from None

    def user(self, user_id: str) -> User:
        """The configured user ``user_id``; :class:`NotFoundError` if the policy lists no such user."""
        try:
            return self.users[user_id]
        except KeyError:
            raise NotFoundError(f"{self.source}: no user {user_id!r} in the policy's users") from None

    def retention_for(self, event_type: str) -> Duration | None:
        """The keeping period for events of ``event_type``: the most specific matching glob wins.

        Specificity is the number of literal (non-wildcard) characters, so ``inference.decision`` beats
        ``inference.*`` beats ``*`` whatever their order in the file. ``None`` when no rule matches.
        """
        matches = [r for r in self.retention if fnmatch.fnmatchcase(event_type, r.pattern)]
        if not matches:
            return None
        best = max(matches, key=lambda r: len(r.pattern.replace("*", "").replace("?", "")))
        return best.period

    def to_dict(self) -> dict[str, Any]:
        """Dictionary form; :func:`parse_policy` of its YAML dump gives back an equal policy."""
        out: dict[str, Any] = {
            "system": self.system,
            "risk_tier": self.risk_tier,
            "protected_attributes": list(self.protected_attributes),
            "gates": {stage: gate.to_dict() for stage, gate in self.gates.items()},
        }
        if self.oversight is not None:
            out["oversight"] = self.oversight.to_dict()
        out["data_policy"] = self.data_policy.to_dict()
        out["roles"] = self.roles.to_dict()
        out["users"] = {
            uid: {"roles": list(u.roles), **({"ssh_key": u.ssh_key} if u.ssh_key else {})}
            for uid, u in self.users.items()
        }
        out["allow_impersonation"] = self.allow_impersonation
        if self.monitoring is not None:
            out["monitoring"] = self.monitoring.to_dict()
        out["retention"] = {r.pattern: r.period.text for r in self.retention}
        if self.checkpoint is not None:
            out["checkpoint"] = self.checkpoint.to_dict()
        if self.favourable_outcome != "positive":
            out["favourable_outcome"] = self.favourable_outcome
        if self.fairness_warnings != "warn":
            out["fairness_warnings"] = self.fairness_warnings
        if self.witnesses is not None:
            out["witnesses"] = self.witnesses.to_dict()
        if self.allowed_signers is not None:
            out["allowed_signers"] = self.allowed_signers
        return out

    def signer_keys(self, user_id: str) -> list[str]:
        """The SSH public keys whose signature counts as ``user_id``'s: ``users.*.ssh_key`` and the
        ``allowed_signers`` lines naming them for the ``modeltrail`` namespace."""
        from ..crypto import sshsig

        user = self.users.get(user_id)
        keys = [user.ssh_key] if user is not None and user.ssh_key else []
        if self.allowed_signers:
            keys += [a.key_line for a in sshsig.parse_allowed_signers(self.allowed_signers) if a.allows(user_id)]
        return keys

    def to_yaml(self) -> str:
        """The policy as YAML text (key order as in :meth:`to_dict`)."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=110)


def window_seconds(text: str) -> float:
    """Seconds in a monitoring window written as ``30m``, ``12h``, ``7d``, ``2w`` or an ISO 8601 duration
    without years or months (``P7D``, ``PT12H``)."""
    short = _WINDOW.fullmatch(text)
    if short:
        return float(int(short.group(1)) * _WINDOW_SECONDS[short.group(2)])
    d = parse_duration(text)
    if d.years or d.months:
        raise ValueError(f"a window must have a fixed length; {text!r} uses years or months")
    return ((d.weeks * 7 + d.days) * 24 + d.hours) * 3600 + d.minutes * 60 + d.seconds


# ---------------------------------------------------------------------------------------- validation


class PolicyFileError(PolicyError):
    """A :class:`PolicyError` located in a file: ``source:line: field: reason``.

    The parts are kept apart as well (``source``, ``line``, ``field``, ``reason``) for callers that render
    errors themselves (CLI, HTTP API).
    """

    def __init__(self, source: str, line: int, field: str, reason: str) -> None:
        super().__init__(f"{source}:{line}: {field}: {reason}")
        self.source = source
        self.line = line
        self.field = field
        self.reason = reason


def _describe(value: Any) -> str:
    """How a wrong value is shown in an error message."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _suggest(word: str, options: Collection[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Reader:
    """Validation helpers bound to one source; every failure raises a line-numbered :class:`PolicyError`."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, line: int, path: str, message: str) -> NoReturn:
        raise PolicyFileError(self.source, line, path, message)

    def mapping(
        self,
        value: Any,
        path: str,
        line: int,
        *,
        allowed: Collection[str] | None = None,
        required: Collection[str] = (),
    ) -> MarkedDict:
        """``value`` as a mapping with string keys, only ``allowed`` keys and every ``required`` key."""
        if not isinstance(value, MarkedDict):
            self.fail(line, path, f"expected a mapping, got {_describe(value)}")
        for key in value:
            where = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str):
                self.fail(value.key_lines[key], where, f"expected a text key, got {_describe(key)}")
            if allowed is not None and key not in allowed:
                self.fail(
                    value.key_lines[key],
                    where,
                    f"unknown key{_suggest(key, allowed)} (expected one of: {', '.join(allowed)})",
                )
        for key in required:
            if key not in value:
                self.fail(value.line, f"{path}.{key}" if path else key, "required key is missing")
        return value

    def number(
        self,
        value: Any,
        path: str,
        line: int,
        *,
        lo: float | None = None,
        hi: float | None = None,
        positive: bool = False,
    ) -> float:
        """``value`` as a finite number within ``[lo, hi]`` (``> 0`` with ``positive``)."""
        # bool is an int subclass in Python; `min: true` is a mistake, not the number 1.
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(line, path, f"expected a number, got {_describe(value)}")
        number = float(value)
        if not math.isfinite(number):
            self.fail(line, path, f"expected a finite number, got {_describe(value)}")
        if lo is not None and number < lo:
            self.fail(line, path, f"expected a number >= {lo:g}, got {value!r}")
        if hi is not None and number > hi:
            self.fail(line, path, f"expected a number <= {hi:g}, got {value!r}")
        if positive and number <= 0:
            self.fail(line, path, f"expected a number > 0, got {value!r}")
        return number

    def integer(self, value: Any, path: str, line: int, *, lo: int) -> int:
        """``value`` as an integer ``>= lo``."""
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(line, path, f"expected a whole number, got {_describe(value)}")
        if value < lo:
            self.fail(line, path, f"expected a whole number >= {lo}, got {value!r}")
        return value

    def boolean(self, value: Any, path: str, line: int) -> bool:
        """``value`` as ``true``/``false``."""
        if not isinstance(value, bool):
            self.fail(line, path, f"expected true or false, got {_describe(value)}")
        return value

    def text(
        self, value: Any, path: str, line: int, *, pattern: re.Pattern[str] | None = None, what: str = ""
    ) -> str:
        """``value`` as a non-empty string, optionally matching ``pattern`` (described by ``what``)."""
        if not isinstance(value, str) or not value.strip():
            self.fail(line, path, f"expected {what or 'a non-empty text'}, got {_describe(value)}")
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(line, path, f"expected {what}, got {value!r}")
        return value

    def choice(self, value: Any, path: str, line: int, options: Collection[str]) -> str:
        """``value`` as one of ``options``."""
        if not isinstance(value, str) or value not in options:
            hint = _suggest(value, options) if isinstance(value, str) else ""
            self.fail(line, path, f"expected one of {', '.join(options)}, got {_describe(value)}{hint}")
        return value

    def names(
        self,
        value: Any,
        path: str,
        line: int,
        *,
        pattern: re.Pattern[str] = _NAME,
        what: str = "a name",
        options: Collection[str] | None = None,
    ) -> tuple[str, ...]:
        """``value`` as a list of distinct names (each from ``options`` when given)."""
        if not isinstance(value, MarkedList):
            self.fail(line, path, f"expected a list, got {_describe(value)}")
        seen: list[str] = []
        for i, (item, item_line) in enumerate(zip(value, value.item_lines, strict=True)):
            where = f"{path}[{i}]"
            name = self.choice(item, where, item_line, options) if options is not None else None
            if name is None:
                name = self.text(item, where, item_line, pattern=pattern, what=what)
            if name in seen:
                self.fail(item_line, where, f"{name!r} is listed twice")
            seen.append(name)
        return tuple(seen)


_TOP_KEYS = (
    "system",
    "risk_tier",
    "protected_attributes",
    "gates",
    "oversight",
    "data_policy",
    "roles",
    "users",
    "allow_impersonation",
    "monitoring",
    "retention",
    "checkpoint",
    "favourable_outcome",
    "fairness_warnings",
    "witnesses",
    "allowed_signers",
)
FAVOURABLE_OUTCOMES = ("positive", "negative")
FAIRNESS_WARNINGS = ("warn", "fail")


def _threshold(
    r: _Reader,
    raw: Any,
    metric: str,
    path: str,
    line: int,
    protected: tuple[str, ...],
    *,
    bound_keys: bool = True,
) -> Threshold:
    node = r.mapping(raw, path, line, allowed=("min", "max", "groups"))
    lo = hi = None
    if "min" in node:
        lo = r.number(node["min"], f"{path}.min", node.value_lines["min"])
    if "max" in node:
        hi = r.number(node["max"], f"{path}.max", node.value_lines["max"])
    if bound_keys and lo is None and hi is None:
        r.fail(node.line, path, "expected at least one of min, max")
    if lo is not None and hi is not None and lo > hi:
        r.fail(node.value_lines["min"], path, f"min {lo:g} is greater than max {hi:g}")
    groups: tuple[str, ...] = ()
    if "groups" in node:
        groups = r.names(node["groups"], f"{path}.groups", node.value_lines["groups"], what="a column name")
        for i, g in enumerate(groups):
            if g not in protected:
                r.fail(
                    node["groups"].item_lines[i],
                    f"{path}.groups[{i}]",
                    f"{g!r} is not a protected attribute "
                    f"(protected_attributes: {', '.join(protected) or 'none'})",
                )
    return Threshold(metric, lo, hi, groups)


def _gate(r: _Reader, raw: Any, stage: str, path: str, line: int, protected: tuple[str, ...]) -> Gate:
    allowed = ("evidence", "thresholds", "approvals", "refuse", "current_documents")
    node = r.mapping(raw, path, line, allowed=allowed)
    evidence: tuple[str, ...] = ()
    if "evidence" in node:
        evidence = r.names(
            node["evidence"], f"{path}.evidence", node.value_lines["evidence"], options=EVIDENCE_NAMES
        )
    thresholds: list[Threshold] = []
    if "thresholds" in node:
        tpath = f"{path}.thresholds"
        tnode = r.mapping(node["thresholds"], tpath, node.value_lines["thresholds"])
        for metric, spec in tnode.items():
            mpath = f"{tpath}.{metric}"
            r.text(
                metric,
                mpath,
                tnode.key_lines[metric],
                pattern=_METRIC,
                what="a dotted metric name such as performance.roc_auc",
            )
            thresholds.append(_threshold(r, spec, metric, mpath, tnode.value_lines[metric], protected))
    approvals = None
    if "approvals" in node:
        apath = f"{path}.approvals"
        anode = r.mapping(
            node["approvals"],
            apath,
            node.value_lines["approvals"],
            allowed=("roles", "min", "four_eyes", "signed"),
            required=("roles",),
        )
        roles = r.names(anode["roles"], f"{apath}.roles", anode.value_lines["roles"], what="a role name")
        if not roles:
            r.fail(anode.value_lines["roles"], f"{apath}.roles", "expected at least one role")
        count = (
            r.integer(anode["min"], f"{apath}.min", anode.value_lines["min"], lo=1) if "min" in anode else 1
        )
        four_eyes = (
            r.boolean(anode["four_eyes"], f"{apath}.four_eyes", anode.value_lines["four_eyes"])
            if "four_eyes" in anode
            else True
        )
        signed = False
        if "signed" in anode:
            value = anode["signed"]
            if value not in ("required", "optional"):
                r.fail(anode.value_lines["signed"], f"{apath}.signed", "expected 'required' or 'optional'")
            signed = value == "required"
        approvals = Approvals(roles, count, four_eyes, signed)
    refuse = None
    if "refuse" in node:
        refuse = r.text(
            node["refuse"], f"{path}.refuse", node.value_lines["refuse"], what="the reason as text"
        )
    current = (
        r.boolean(node["current_documents"], f"{path}.current_documents", node.value_lines["current_documents"])
        if "current_documents" in node
        else False
    )
    return Gate(stage, evidence, tuple(thresholds), approvals, refuse, current)


def _count(r: _Reader, value: Any, path: str, line: int) -> int:
    """A whole number of at least 1 (a count of fields)."""
    n = r.number(value, path, line, lo=1)
    if n != int(n):
        r.fail(line, path, f"expected a whole number of fields, got {value!r}")
    return int(n)


def _oversight(r: _Reader, raw: Any, line: int) -> Oversight:
    node = r.mapping(raw, "oversight", line, allowed=("review_when", "fallback", "signed"))
    signed = False
    if "signed" in node:
        if node["signed"] not in ("required", "optional"):
            r.fail(node.value_lines["signed"], "oversight.signed", "expected 'required' or 'optional'")
        signed = node["signed"] == "required"
    review = ReviewWhen()
    if "review_when" in node:
        path = "oversight.review_when"
        w = r.mapping(
            node["review_when"],
            path,
            node.value_lines["review_when"],
            allowed=("confidence_below", "outside_training_range", "segments", "sample_rate", "missing_values"),
        )
        lines = w.value_lines
        segments: list[Segment] = []
        if "segments" in w:
            texts = r.names(
                w["segments"], f"{path}.segments", lines["segments"], pattern=_SEGMENT, what="column=value"
            )
            for text in texts:
                column, value = text.split("=", 1)
                segments.append(Segment(column.strip(), value.strip()))
        review = ReviewWhen(
            confidence_below=r.number(
                w["confidence_below"], f"{path}.confidence_below", lines["confidence_below"], lo=0, hi=1
            )
            if "confidence_below" in w
            else None,
            outside_training_range=r.boolean(
                w["outside_training_range"], f"{path}.outside_training_range", lines["outside_training_range"]
            )
            if "outside_training_range" in w
            else False,
            segments=tuple(segments),
            sample_rate=r.number(w["sample_rate"], f"{path}.sample_rate", lines["sample_rate"], lo=0, hi=1)
            if "sample_rate" in w
            else None,
            missing_values=_count(r, w["missing_values"], f"{path}.missing_values", lines["missing_values"])
            if "missing_values" in w
            else None,
        )
    fallback = "human_review"
    if "fallback" in node:
        value = node["fallback"]
        fpath, fline = "oversight.fallback", node.value_lines["fallback"]
        expected = f"one of {', '.join(FALLBACKS)} or a callable name (module:function)"
        if not isinstance(value, str) or (value not in FALLBACKS and not _CALLABLE.fullmatch(value)):
            r.fail(
                fline,
                fpath,
                f"expected {expected}, got {_describe(value)}",
            )
        if value not in FALLBACKS and "." not in value and ":" not in value:
            # A bare word is far more likely a misspelt built-in than a function name.
            r.fail(
                fline,
                fpath,
                f"expected {expected}, got {value!r}{_suggest(value, FALLBACKS)}",
            )
        fallback = value
    return Oversight(review, fallback, signed)


def _rule_window(r: _Reader, node: MarkedDict, path: str, default: str) -> str:
    if "window" not in node:
        return default
    text = r.text(node["window"], f"{path}.window", node.value_lines["window"], what="a window such as 7d")
    try:
        window_seconds(text)
    except ValueError:
        r.fail(
            node.value_lines["window"],
            f"{path}.window",
            f"expected a window such as 30m, 12h, 7d, 2w or P7D, got {text!r}",
        )
    return text


def _monitoring(r: _Reader, raw: Any, line: int, protected: tuple[str, ...]) -> Monitoring:
    node = r.mapping(raw, "monitoring", line, allowed=("drift", "performance", "fairness", "on_alert", "notify"))
    drift = None
    if "drift" in node:
        path = "monitoring.drift"
        d = r.mapping(
            node["drift"],
            path,
            node.value_lines["drift"],
            allowed=("metric", "warn", "alert", "window", "features"),
            required=("metric", "warn", "alert"),
        )
        lines = d.value_lines
        warn = r.number(d["warn"], f"{path}.warn", lines["warn"], lo=0)
        alert = r.number(d["alert"], f"{path}.alert", lines["alert"], lo=0)
        if warn > alert:
            r.fail(lines["warn"], path, f"warn {warn:g} is greater than alert {alert:g}")
        drift = DriftRule(
            metric=r.choice(d["metric"], f"{path}.metric", lines["metric"], DRIFT_METRICS),
            warn=warn,
            alert=alert,
            window=_rule_window(r, d, path, "1d"),
            features=r.names(d["features"], f"{path}.features", lines["features"], what="a column name")
            if "features" in d
            else (),
        )
    rules: dict[str, MetricRule] = {}
    for name in ("performance", "fairness"):
        if name not in node:
            continue
        path = f"monitoring.{name}"
        m = r.mapping(
            node[name],
            path,
            node.value_lines[name],
            allowed=("metric", "min", "max", "groups", "window"),
            required=("metric",),
        )
        metric = r.text(
            m["metric"],
            f"{path}.metric",
            m.value_lines["metric"],
            pattern=_METRIC,
            what="a dotted metric name",
        )
        bound = MarkedDict({k: v for k, v in m.items() if k in ("min", "max", "groups")})
        bound.line, bound.key_lines, bound.value_lines = m.line, m.key_lines, m.value_lines
        t = _threshold(r, bound, metric, path, m.line, protected)
        rules[name] = MetricRule(metric, t.min, t.max, t.groups, _rule_window(r, m, path, "30d"))
    on_alert: tuple[str, ...] = ("notify",)
    if "on_alert" in node:
        on_alert = r.names(
            node["on_alert"], "monitoring.on_alert", node.value_lines["on_alert"], options=ALERT_ACTIONS
        )
    notify = _notify(r, node["notify"], node.value_lines["notify"]) if "notify" in node else None
    return Monitoring(drift, rules.get("performance"), rules.get("fairness"), on_alert, notify)


def _notify(r: _Reader, raw: Any, line: int) -> Notify:
    path = "monitoring.notify"
    n = r.mapping(raw, path, line, allowed=("webhook", "secret_env", "email", "smtp", "sender"))
    lines = n.value_lines
    webhook = None
    if "webhook" in n:
        webhook = r.text(n["webhook"], f"{path}.webhook", lines["webhook"], pattern=_URL, what="an http(s) URL")
    email: tuple[str, ...] = ()
    if "email" in n:
        email = r.names(n["email"], f"{path}.email", lines["email"], pattern=_EMAIL, what="an e-mail address")
    out = Notify(webhook=webhook, email=email)
    if "secret_env" in n:
        env = r.text(n["secret_env"], f"{path}.secret_env", lines["secret_env"], pattern=_ENV, what="a variable name")
        out = Notify(webhook, env, email, out.smtp, out.sender)
    if "smtp" in n:
        smtp = r.text(n["smtp"], f"{path}.smtp", lines["smtp"], pattern=_HOSTPORT, what="host:port")
        out = Notify(out.webhook, out.secret_env, out.email, smtp, out.sender)
    if "sender" in n:
        sender = r.text(n["sender"], f"{path}.sender", lines["sender"], pattern=_EMAIL, what="an e-mail address")
        out = Notify(out.webhook, out.secret_env, out.email, out.smtp, sender)
    return out


def _build(r: _Reader, doc: Any) -> Policy:
    if doc is None:
        r.fail(1, "(file)", "expected a policy mapping, got an empty document")
    root = r.mapping(doc, "", 1, allowed=_TOP_KEYS, required=("system", "risk_tier"))
    lines = root.value_lines

    def has(key: str) -> bool:
        return key in root

    system = r.text(
        root["system"],
        "system",
        lines["system"],
        pattern=_NAME,
        what="a system name (letters, digits, . _ -)",
    )
    tier = r.choice(root["risk_tier"], "risk_tier", lines["risk_tier"], RISK_TIERS)
    protected: tuple[str, ...] = ()
    if has("protected_attributes"):
        protected = r.names(
            root["protected_attributes"],
            "protected_attributes",
            lines["protected_attributes"],
            what="a column name",
        )

    gates: dict[str, Gate] = {}
    if has("gates"):
        gnode = r.mapping(root["gates"], "gates", lines["gates"])
        for stage, spec in gnode.items():
            r.text(
                stage,
                f"gates.{stage}",
                gnode.key_lines[stage],
                pattern=_STAGE,
                what="a stage name (lower-case letters, digits, _ -)",
            )
            gates[stage] = _gate(r, spec, stage, f"gates.{stage}", gnode.value_lines[stage], protected)

    oversight = _oversight(r, root["oversight"], lines["oversight"]) if has("oversight") else None

    data_policy = DataPolicy()
    if has("data_policy"):
        dnode = r.mapping(
            root["data_policy"], "data_policy", lines["data_policy"], allowed=("fields", "default")
        )
        fields: dict[str, str] = {}
        if "fields" in dnode:
            fnode = r.mapping(dnode["fields"], "data_policy.fields", dnode.value_lines["fields"])
            for name, action in fnode.items():
                fields[name] = r.choice(
                    action, f"data_policy.fields.{name}", fnode.value_lines[name], DATA_ACTIONS
                )
        default = (
            r.choice(dnode["default"], "data_policy.default", dnode.value_lines["default"], DATA_ACTIONS)
            if "default" in dnode
            else "keep"
        )
        data_policy = DataPolicy(fields, default)

    roles = Roles()
    if has("roles"):
        rnode = r.mapping(root["roles"], "roles", lines["roles"], allowed=ROLE_ACTIONS)
        roles = Roles(
            **{a: r.names(rnode[a], f"roles.{a}", rnode.value_lines[a], what="a role name") for a in rnode}
        )

    users: dict[str, User] = {}
    if has("users"):
        unode = r.mapping(root["users"], "users", lines["users"])
        for uid, spec in unode.items():
            upath = f"users.{uid}"
            r.text(uid, upath, unode.key_lines[uid], pattern=_NAME, what="a user id (letters, digits, . _ -)")
            u = r.mapping(spec, upath, unode.value_lines[uid], allowed=("roles", "ssh_key"), required=("roles",))
            ssh_key = None
            if "ssh_key" in u:
                ssh_key = u["ssh_key"]
                if not isinstance(ssh_key, str) or not ssh_key.startswith(("ssh-", "ecdsa-")):
                    r.fail(u.value_lines["ssh_key"], f"{upath}.ssh_key", "expected an SSH public key line")
            users[uid] = User(
                uid, r.names(u["roles"], f"{upath}.roles", u.value_lines["roles"], what="a role name"), ssh_key
            )

    impersonation = (
        r.boolean(root["allow_impersonation"], "allow_impersonation", lines["allow_impersonation"])
        if has("allow_impersonation")
        else False
    )
    monitoring = (
        _monitoring(r, root["monitoring"], lines["monitoring"], protected) if has("monitoring") else None
    )

    retention: list[RetentionRule] = []
    if has("retention"):
        tnode = r.mapping(root["retention"], "retention", lines["retention"])
        for pattern, period in tnode.items():
            path = f"retention.{pattern}"
            r.text(
                pattern,
                path,
                tnode.key_lines[pattern],
                pattern=_EVENT_GLOB,
                what="an event-type glob such as inference.*",
            )
            text = r.text(
                period, path, tnode.value_lines[pattern], what="an ISO 8601 duration such as P6M or P10Y"
            )
            try:
                retention.append(RetentionRule(pattern, parse_duration(text)))
            except ValueError as exc:
                r.fail(tnode.value_lines[pattern], path, str(exc))
        for pattern, reason in retention_violations(tier, [(x.pattern, x.period) for x in retention]):
            r.fail(tnode.value_lines[pattern], f"retention.{pattern}", reason)

    checkpoint = None
    if has("checkpoint"):
        cnode = r.mapping(
            root["checkpoint"], "checkpoint", lines["checkpoint"], allowed=("every_events", "every_seconds")
        )
        checkpoint = Checkpoint(
            every_events=r.integer(
                cnode["every_events"], "checkpoint.every_events", cnode.value_lines["every_events"], lo=1
            )
            if "every_events" in cnode
            else None,
            every_seconds=r.number(
                cnode["every_seconds"],
                "checkpoint.every_seconds",
                cnode.value_lines["every_seconds"],
                positive=True,
            )
            if "every_seconds" in cnode
            else None,
        )

    favourable = (
        r.choice(root["favourable_outcome"], "favourable_outcome", lines["favourable_outcome"], FAVOURABLE_OUTCOMES)
        if has("favourable_outcome")
        else "positive"
    )
    fairness_warnings = (
        r.choice(root["fairness_warnings"], "fairness_warnings", lines["fairness_warnings"], FAIRNESS_WARNINGS)
        if has("fairness_warnings")
        else "warn"
    )
    witnesses = _witnesses(r, root["witnesses"], lines["witnesses"]) if has("witnesses") else None
    allowed_signers = None
    if has("allowed_signers"):
        allowed_signers = r.text(root["allowed_signers"], "allowed_signers", lines["allowed_signers"])
        from ..crypto import sshsig

        try:
            sshsig.parse_allowed_signers(allowed_signers)
        except ValidationError as exc:
            r.fail(lines["allowed_signers"], "allowed_signers", exc.reason)
    return Policy(
        system=system,
        risk_tier=tier,
        protected_attributes=protected,
        gates=gates,
        oversight=oversight,
        data_policy=data_policy,
        roles=roles,
        users=users,
        allow_impersonation=impersonation,
        monitoring=monitoring,
        retention=tuple(retention),
        checkpoint=checkpoint,
        favourable_outcome=favourable,
        fairness_warnings=fairness_warnings,
        witnesses=witnesses,
        allowed_signers=allowed_signers,
        source=r.source,
    )


def _witnesses(r: _Reader, raw: Any, line: int) -> Witnesses:
    from ..ledger.witness import WitnessKey

    node = r.mapping(raw, "witnesses", line, allowed=("keys", "min"), required=("keys",))
    kline = node.value_lines["keys"]
    keys = node["keys"]
    if not isinstance(keys, MarkedList) or not keys:
        r.fail(kline, "witnesses.keys", f"expected a non-empty list of witness keys, got {_describe(keys)}")
    out: list[str] = []
    for i, (key, key_line) in enumerate(zip(keys, keys.item_lines, strict=True)):
        text = r.text(key, f"witnesses.keys[{i}]", key_line, what="a witness key name+keyid+base64")
        try:
            WitnessKey.parse(text)
        except ValidationError as exc:
            r.fail(key_line, f"witnesses.keys[{i}]", exc.reason)
        if text in out:
            r.fail(key_line, f"witnesses.keys[{i}]", "listed twice")
        out.append(text)
    need = len(out)
    if "min" in node:
        need = r.integer(node["min"], "witnesses.min", node.value_lines["min"], lo=1)
        if need > len(out):
            r.fail(node.value_lines["min"], "witnesses.min", f"expected at most {len(out)} (the keys listed)")
    return Witnesses(tuple(out), need)


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate and build a :class:`Policy` from YAML ``text``; ``source`` names it in error messages.

    Raises :class:`~modeltrail.errors.PolicyError` (``source:line: field: expected ...``) on the first error:
    YAML syntax, duplicate or unknown keys, wrong types, out-of-range numbers, ``min`` above ``max``, unknown
    evidence names, group columns outside ``protected_attributes``, malformed durations.
    """
    r = _Reader(source)
    try:
        doc = load_marked(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = f"invalid YAML: {exc.problem or exc.context}"
        # PyYAML often notices an unclosed bracket lines later; the context says where the construct began.
        if exc.context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
            message += f" ({exc.context} started on line {exc.context_mark.line + 1})"
        r.fail(line, "(file)", message)
    except yaml.YAMLError as exc:
        r.fail(1, "(file)", f"invalid YAML: {exc}")
    return _build(r, doc)


def load_policy(path: str | Path) -> Policy:
    """Read and validate the policy file at ``path`` (see :func:`parse_policy`); errors start with it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{p}: cannot read policy file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{p}: policy file is not UTF-8 text ({exc.reason})") from exc
    return parse_policy(text, str(p))
