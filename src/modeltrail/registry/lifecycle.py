"""Model-version lifecycle: gates, approvals, deployment, suspension and retirement, all recorded as events.

States: ``registered`` → ``validated`` (a gate passed) → ``approved`` (the stage's approvals complete) →
``deployed`` (per environment, with a traffic share) → ``retired``; ``suspended`` from a deployment and
``rejected`` from any state before deployment (see :mod:`modeltrail.registry.projection` for how the state
is derived). Every function checks the current state first and raises
:class:`~modeltrail.errors.LifecycleError` for a transition that does not apply.

The rules come from the policy in force for the model's system (:mod:`modeltrail.registry.policy_store`):

- a gate collects the latest evidence reports of the version and of the datasets it was trained and tested
  on, and cites the event of every figure it used;
- an approval needs an approver role of the stage, a passed gate for the stage, and (four-eyes) an approver
  other than the registrant who has not approved already; a refused approval is recorded too;
- a deployment needs a passed gate and complete approvals (distinct approvers holding the required roles).
  A holder of the policy's ``break_glass`` role can force it with a reason; the forced deployment is recorded
  loudly (``model.break_glass``) and stays visible in the version's status for good.

Approvals and deployments take a signed checkpoint (DESIGN §1): an approval cites the checkpoint that covers
the gate evaluation it relied on; a deployment is followed by a checkpoint covering it.

The check-then-record sequence is not a distributed lock: two processes approving the same version at the
same instant could both pass the duplicate check. Both approvals are then recorded and the one person still
counts once when approvals are counted.
"""

from __future__ import annotations

import math
import sys
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import (
    ApprovalError,
    GateFailedError,
    LifecycleError,
    NotFoundError,
    PermissionDeniedError,
    SignatureError,
    ValidationError,
)
from ..events import Actor, Receipt, format_ts, parse_ts
from ..governance.namespace import record_governed
from ..governance.signing import SIGNATURE_FIELD, approval_body, signature_problem
from ..identity import Identity, acting_actor, identity_from_actor
from ..policy import Approvals, Gate, GateResult, Policy, evaluate_gate
from ..projections import CURSOR_DDL, catch_up, loads
from .policy_store import StoredPolicy, adopt_policy, stored_policy
from .projection import NAME, latest_gates
from .refs import ModelRef, parse_model_ref

if TYPE_CHECKING:
    from ..trail import Trail

REPORT_EVIDENCE: Mapping[str, str] = {
    "data": "data_report",
    "fairness": "fairness_report",
    "performance": "performance_report",
    "explainability": "explainability_report",
    "robustness": "robustness_report",
}
"""Evidence report kinds (``report.generated`` payload ``kind``) and the policy evidence name each satisfies."""

DOC_EVIDENCE = ("model_card", "risk_assessment", "technical_documentation")
"""Policy evidence names satisfied by a ``doc.generated`` event whose payload ``kind`` has that name."""

TERMINAL = ("rejected", "retired")


# ------------------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class VersionInfo:
    """One registered model version as the registry projection holds it."""

    model: str
    version: int
    system: str
    state: str
    registrant: str
    registered_seq: int
    registered_ts: str
    artifact_sha256: str | None
    run_id: str | None
    datasets: list[dict[str, str]]
    gate_stage: str | None
    gate_seq: int | None
    gate_passed: bool | None
    state_seq: int
    break_glass: bool

    @property
    def ref(self) -> ModelRef:
        """The version's reference."""
        return ModelRef(self.model, self.version)

    @property
    def subject(self) -> str:
        """The event subject ``model:<name>@<version>``."""
        return self.ref.subject

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {k: v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Approval:
    """An approval of one version for one stage (``status`` active or revoked)."""

    seq: int
    stage: str
    approver: str
    role: str
    status: str
    rationale: str
    gate_seq: int | None
    ts: str
    revoked_seq: int | None


@dataclass(frozen=True)
class Deployment:
    """One deployment of a version to an environment (``state`` live, suspended or ended)."""

    deployed_seq: int
    model: str
    version: int
    env: str
    traffic: float
    stage: str | None
    state: str
    deployed_ts: str
    break_glass: bool
    ended_seq: int | None
    ended_ts: str | None


@dataclass(frozen=True)
class BreakGlass:
    """A forced action recorded with ``model.break_glass``."""

    seq: int
    action: str
    actor: str
    reason: str
    ts: str


@dataclass(frozen=True)
class Refusal:
    """A refused approval (``model.approval_refused``) and the rule that refused it."""

    seq: int
    stage: str
    actor: str
    rule: str
    reason: str


@dataclass(frozen=True)
class GateRecord:
    """The latest gate evaluation of one stage."""

    stage: str
    seq: int
    passed: bool


@dataclass(frozen=True)
class VersionStatus:
    """Everything the registry knows about one version: state, gates, approvals, deployments, break-glass."""

    version: VersionInfo
    gates: dict[str, GateRecord]
    approvals: list[Approval]
    deployments: list[Deployment]
    break_glass: list[BreakGlass]
    refusals: list[Refusal]

    @property
    def state(self) -> str:
        """The lifecycle state."""
        return self.version.state

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "version": self.version.to_dict(),
            "gates": {s: g.__dict__ for s, g in self.gates.items()},
            "approvals": [a.__dict__ for a in self.approvals],
            "deployments": [d.__dict__ for d in self.deployments],
            "break_glass": [b.__dict__ for b in self.break_glass],
            "refusals": [r.__dict__ for r in self.refusals],
        }


class LiveDeployment(NamedTuple):
    """A deployment active at some time: model reference, traffic share, deployment event, suspended then."""

    model: str
    traffic: float
    deployed_seq: int
    suspended: bool


@dataclass(frozen=True)
class Evidence:
    """What a gate is evaluated on: metric values, the event of each value, and evidence name → event."""

    metrics: dict[str, float]
    metric_sources: dict[str, int]
    evidence: dict[str, int | None] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ queries


_prepared: weakref.WeakSet[Any] = weakref.WeakSet()


def _sync(trail: Trail) -> None:
    """Fold new events into the registry tables before a query."""
    if trail.store not in _prepared:
        # catch_up's lock-free fast path reads the cursor table and expects a missing table to raise a
        # ModeltrailError; the SQLite backend raises sqlite3.OperationalError, so make sure it exists.
        trail.store.execute(CURSOR_DDL, ())
        _prepared.add(trail.store)
    catch_up(trail, [NAME])


def _rows(trail: Trail, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    return trail.store.execute(sql, tuple(args))


_VERSION_COLS = (
    "model, version, system, state, registrant, registered_seq, registered_ts, artifact_sha256, run_id, datasets, "
    "gate_stage, gate_seq, gate_passed, state_seq, break_glass"
)


def _version(row: tuple[Any, ...]) -> VersionInfo:
    return VersionInfo(
        model=row[0],
        version=int(row[1]),
        system=row[2],
        state=row[3],
        registrant=row[4],
        registered_seq=int(row[5]),
        registered_ts=row[6],
        artifact_sha256=row[7],
        run_id=row[8],
        datasets=list(loads(row[9]) or []),
        gate_stage=row[10],
        gate_seq=None if row[11] is None else int(row[11]),
        gate_passed=None if row[12] is None else bool(row[12]),
        state_seq=int(row[13]),
        break_glass=bool(row[14]),
    )


def _lookup(trail: Trail, ref: ModelRef) -> VersionInfo:
    if ref.version is None:
        rows = _rows(
            trail,
            f"SELECT {_VERSION_COLS} FROM registry_versions WHERE model = ? ORDER BY version DESC LIMIT 1",
            (ref.name,),
        )
        if not rows:
            raise NotFoundError(f"no model named {ref.name!r} is registered")
        return _version(rows[0])
    rows = _rows(
        trail, f"SELECT {_VERSION_COLS} FROM registry_versions WHERE model = ? AND version = ?", (ref.name, ref.version)
    )
    if not rows:
        raise NotFoundError(f"model version {ref} is not registered")
    return _version(rows[0])


def _ref(model_ref: str | ModelRef, *, require_version: bool = True) -> ModelRef:
    if isinstance(model_ref, ModelRef):
        if require_version and model_ref.version is None:
            raise ValidationError(f"expected NAME@VERSION, got {model_ref}", field="model")
        return model_ref
    return parse_model_ref(model_ref, require_version=require_version)


def get_version(trail: Trail, model_ref: str | ModelRef) -> VersionInfo:
    """The registered version ``model_ref`` (``name@v``; a bare name means its latest version)."""
    _sync(trail)
    return _lookup(trail, _ref(model_ref, require_version=False))


def versions(trail: Trail, name: str) -> list[VersionInfo]:
    """Every registered version of model ``name``, oldest first."""
    _sync(trail)
    return [
        _version(r)
        for r in _rows(
            trail, f"SELECT {_VERSION_COLS} FROM registry_versions WHERE model = ? ORDER BY version", (name,)
        )
    ]


def _approvals(trail: Trail, info: VersionInfo, stage: str | None = None) -> list[Approval]:
    sql = (
        "SELECT seq, stage, approver, role, status, rationale, gate_seq, ts, revoked_seq FROM registry_approvals "
        "WHERE model = ? AND version = ?"
    )
    args: list[Any] = [info.model, info.version]
    if stage is not None:
        sql += " AND stage = ?"
        args.append(stage)
    return [
        Approval(
            int(r[0]),
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            None if r[6] is None else int(r[6]),
            r[7],
            None if r[8] is None else int(r[8]),
        )
        for r in _rows(trail, sql + " ORDER BY seq", args)
    ]


_DEPLOYMENT_COLS = (
    "deployed_seq, model, version, env, traffic, stage, state, deployed_ts, break_glass, ended_seq, ended_ts"
)


def _deployment(r: tuple[Any, ...]) -> Deployment:
    return Deployment(
        int(r[0]),
        r[1],
        int(r[2]),
        r[3],
        float(r[4]),
        r[5],
        r[6],
        r[7],
        bool(r[8]),
        None if r[9] is None else int(r[9]),
        r[10],
    )


def _deployments(trail: Trail, where: str, args: Iterable[Any]) -> list[Deployment]:
    sql = f"SELECT {_DEPLOYMENT_COLS} FROM registry_deployments WHERE {where} ORDER BY deployed_seq"
    return [_deployment(r) for r in _rows(trail, sql, args)]


def deployments(
    trail: Trail,
    *,
    model: str | None = None,
    version: int | None = None,
    env: str | None = None,
    state: str | None = None,
) -> list[Deployment]:
    """What is and was deployed, in deployment order: the one answer, from the registry projection.

    Filters: ``model`` (a name), ``version``, ``env`` and ``state`` (``live``, ``suspended`` or
    ``ended``). Only deployments of registered versions count, as everywhere in the registry.
    """
    _sync(trail)
    where, args = ["1 = 1"], []
    for column, value in (("model", model), ("version", version), ("env", env), ("state", state)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    return _deployments(trail, " AND ".join(where), args)


def _from_ledger(trail: Trail, info: VersionInfo, stage: str) -> tuple[list[Approval], GateRecord | None, str]:
    """The active approvals of ``stage``, its latest gate and the registrant, as the ledger replay has them.

    Deployment and approval decide from the ledger, not from projection rows: a row added to the approval
    table (someone with write access to the database) must not make a deployment succeed.
    """
    from ..governance.rules import replay_for

    replay = replay_for(trail)
    with replay.lock:
        v = replay.versions.get((info.model, info.version))
        if v is None:
            return [], None, info.registrant
        approvals = [
            Approval(a.seq, a.stage, a.approver, a.role, "active", "", None, "", None)
            for a in v.approvals
            if a.active and a.stage == stage
        ]
        g = v.gates.get(stage)
        return approvals, None if g is None else GateRecord(stage, g[0], g[1]), v.registrant


def _gates(trail: Trail, info: VersionInfo) -> dict[str, GateRecord]:
    found = latest_gates(trail.store.execute, info.model, info.version)
    return {stage: GateRecord(stage, seq, passed) for stage, (seq, passed) in sorted(found.items())}


def status(trail: Trail, model_ref: str | ModelRef) -> VersionStatus:
    """The full status of a version (a bare model name means its latest version)."""
    info = get_version(trail, model_ref)
    bg = [
        BreakGlass(int(r[0]), r[1], r[2], r[3], r[4])
        for r in _rows(
            trail,
            "SELECT seq, action, actor, reason, ts FROM registry_break_glass "
            "WHERE model = ? AND version = ? ORDER BY seq",
            (info.model, info.version),
        )
    ]
    refusals = [
        Refusal(int(r[0]), r[1], r[2], r[3], r[4])
        for r in _rows(
            trail,
            "SELECT seq, stage, actor, rule, reason FROM registry_refusals "
            "WHERE model = ? AND version = ? ORDER BY seq",
            (info.model, info.version),
        )
    ]
    return VersionStatus(
        version=info,
        gates=_gates(trail, info),
        approvals=_approvals(trail, info),
        deployments=deployments(trail, model=info.model, version=info.version),
        break_glass=bg,
        refusals=refusals,
    )


def _when(value: str | datetime) -> str:
    dt = value if isinstance(value, datetime) else parse_ts(value, "time")
    return format_ts(dt)


def live_at(trail: Trail, when: str | datetime, env: str) -> list[LiveDeployment]:
    """What was deployed in environment ``env`` at time ``when`` (ISO 8601; naive means UTC).

    One entry per deployment active then, with its traffic share, deployment event and whether it was
    suspended at that moment. Ledger timestamps have a fixed width, so text comparison orders them.
    """
    _sync(trail)
    ts = _when(when)
    rows = _rows(
        trail,
        "SELECT deployed_seq, model, version, traffic FROM registry_deployments WHERE env = ? AND deployed_ts <= ? "
        "AND (ended_ts IS NULL OR ended_ts > ?) ORDER BY deployed_seq",
        (env, ts, ts),
    )
    out = []
    for deployed_seq, model, version, traffic in rows:
        suspended = bool(
            _rows(
                trail,
                "SELECT 1 FROM registry_suspensions WHERE deployed_seq = ? AND suspended_ts <= ? "
                "AND (resumed_ts IS NULL OR resumed_ts > ?)",
                (deployed_seq, ts, ts),
            )
        )
        out.append(LiveDeployment(f"{model}@{version}", float(traffic), int(deployed_seq), suspended))
    return out


# ------------------------------------------------------------------------------------------ evidence


def _numbers(metrics: Any) -> dict[str, float]:
    """Flat ``{name: number}`` from a report's metrics (``{group: number}`` values become ``name[group]``)."""
    out: dict[str, float] = {}
    if not isinstance(metrics, dict):
        return out
    for name, value in metrics.items():
        if isinstance(value, dict):
            for group, v in value.items():
                if not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v):
                    out[f"{name}[{group}]"] = float(v)
        elif not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value):
            out[str(name)] = float(value)
    return out


def collect_evidence(trail: Trail, info: VersionInfo, gate: Gate | None = None) -> Evidence:
    """Gather what a gate of ``info`` is judged on.

    Reports: the latest ``report.generated`` per kind for the version and for each dataset linked to it.
    When several of those report one metric, the value that violates the gate's threshold wins (the gate
    holds only if it holds on every linked dataset); otherwise the latest. Run metrics of the version's
    training run fill in metrics no report gives. Classification: the latest ``system.classified`` of the
    system. Documents: the latest ``doc.generated`` of each kind for the version, the model or the system.
    """
    _sync(trail)
    subjects = [info.subject, *[d["ref"] for d in info.datasets if isinstance(d.get("ref"), str)]]
    marks = ",".join("?" * len(subjects))
    latest: dict[tuple[str, str], tuple[int, dict[str, float]]] = {}
    for seq, subject, kind, metrics in _rows(
        trail,
        f"SELECT seq, subject, kind, metrics FROM registry_reports WHERE subject IN ({marks}) ORDER BY seq",
        subjects,
    ):
        latest[(subject, kind)] = (int(seq), _numbers(loads(metrics)))
    evidence: dict[str, int | None] = {}
    candidates: dict[str, list[tuple[float, int]]] = {}
    for (_, kind), (seq, metrics) in latest.items():
        name = REPORT_EVIDENCE.get(kind)
        if name is not None:
            evidence[name] = max(seq, evidence.get(name) or -1)
        for metric, value in metrics.items():
            candidates.setdefault(metric, []).append((value, seq))
    bounds = {t.metric: t for t in (gate.thresholds if gate is not None else ())}
    metrics_out: dict[str, float] = {}
    sources: dict[str, int] = {}
    for metric, values in candidates.items():
        bound = bounds.get(metric.split("[", 1)[0])
        failing = [c for c in values if bound is not None and not bound.accepts(c[0])]
        value, seq = max(failing or values, key=lambda c: c[1])
        metrics_out[metric], sources[metric] = value, seq
    if info.run_id:
        for ev in trail.events("run.metrics", subject=f"run:{info.run_id}"):
            for metric, value in _numbers(ev.payload.get("metrics")).items():
                if metric not in candidates:
                    metrics_out[metric], sources[metric] = value, ev.seq
    row = _rows(trail, "SELECT max(seq) FROM registry_classification WHERE system = ?", (info.system,))
    if row and row[0][0] is not None:
        evidence["classification"] = int(row[0][0])
    doc_subjects = (info.subject, f"model:{info.model}", f"system:{info.system}")
    for kind, seq in _rows(
        trail,
        "SELECT kind, max(seq) FROM registry_docs WHERE subject IN (?, ?, ?) GROUP BY kind",
        doc_subjects,
    ):
        if kind in DOC_EVIDENCE:
            evidence[kind] = int(seq)
    return Evidence(metrics_out, sources, evidence)


# ------------------------------------------------------------------------------------------ helpers


def _policy_for(trail: Trail, info: VersionInfo, policy: Policy | None) -> StoredPolicy:
    if policy is None:
        return stored_policy(trail, info.system)
    if policy.system != info.system:
        raise ValidationError(
            f"the policy governs {policy.system!r} but {info.ref} belongs to {info.system!r}", field="policy"
        )
    return adopt_policy(trail, policy)


def _plain_actor(actor: Actor | Identity) -> Actor:
    """The actor of an unprivileged action (anyone identified may perform it)."""
    return acting_actor(actor)


def _require_state(info: VersionInfo, action: str, forbidden: Iterable[str]) -> None:
    if info.state in forbidden:
        raise LifecycleError(f"cannot {action} {info.ref}: it is {info.state} (since event {info.state_seq})")


def _effective(approvals: Iterable[Approval], spec: Approvals, registrant: str) -> list[Approval]:
    """Approvals that count: active, by a required role, not by the registrant (four-eyes), one per person."""
    seen: set[str] = set()
    out = []
    for a in sorted(approvals, key=lambda a: a.seq):
        if a.status != "active" or a.role not in spec.roles or a.approver in seen:
            continue
        if spec.four_eyes and a.approver == registrant:
            continue
        seen.add(a.approver)
        out.append(a)
    return out


def _describe_need(spec: Approvals, have: list[Approval]) -> str:
    who = ", ".join(f"{a.approver} ({a.role})" for a in have) or "none"
    rule = "; four-eyes: the registrant's own approval does not count" if spec.four_eyes else ""
    roles = " or ".join(spec.roles)
    return f"needs {spec.min} approval(s) by distinct people holding {roles}; has {len(have)}: {who}{rule}"


# ------------------------------------------------------------------------------------------ gates


def evaluate_gate_for(
    trail: Trail,
    model_ref: str | ModelRef,
    stage: str,
    *,
    actor: Actor | Identity,
    policy: Policy | None = None,
) -> tuple[GateResult, Receipt]:
    """Evaluate the policy gate for ``stage`` on a version and record ``gate.evaluated``.

    Each check cites the event its figure or evidence came from (``evidence_seq``). The gate passes only if
    every check passes; a failed gate is recorded too.
    """
    _sync(trail)
    info = _lookup(trail, _ref(model_ref))
    _require_state(info, "evaluate a gate for", TERMINAL)
    sp = _policy_for(trail, info, policy)
    gate = sp.policy.gate(stage)
    ev = collect_evidence(trail, info, gate)
    result = evaluate_gate(sp.policy, stage, ev.metrics, ev.evidence, metric_sources=ev.metric_sources)
    cited = sorted({c.evidence_seq for c in result.checks if c.evidence_seq is not None})
    refs = [info.subject, f"blob:sha256:{sp.sha256}"]
    if sp.seq is not None:
        refs.append(f"event:{sp.seq}")
    refs += [f"event:{s}" for s in cited]
    receipt = record_governed(
        trail,
        "gate.evaluated",
        system=info.system,
        actor=_plain_actor(actor),
        subject=info.subject,
        payload={
            "stage": stage,
            "passed": result.passed,
            "policy_sha256": sp.sha256,
            "checks": [c.to_dict() for c in result.checks],
        },
        refs=refs,
    )
    return result, receipt


# ------------------------------------------------------------------------------------------ approvals


def approval_body_for(
    trail: Trail, model_ref: str | ModelRef, stage: str, *, actor: Actor | Identity, rationale: str
) -> bytes:
    """The bytes ``actor`` signs to approve ``model_ref`` for ``stage`` now (see :mod:`..governance.signing`)."""
    _sync(trail)
    info = _lookup(trail, _ref(model_ref))
    sp = _policy_for(trail, info, None)
    spec = sp.policy.gate(stage).approvals
    if spec is None:
        raise ApprovalError(f"the {stage} gate of {sp.policy.system} asks for no approvals")
    who = identity_from_actor(actor, sp.policy).actor_for(spec.roles, f"approve {info.ref} for {stage}")
    _, gate, _ = _from_ledger(trail, info, stage)
    return approval_body(
        system=info.system,
        subject=info.subject,
        actor_id=who.id,
        role=who.role,
        stage=stage,
        gate_seq=gate.seq if gate is not None else None,
        rationale=rationale,
    )


def _refuse(trail: Trail, info: VersionInfo, stage: str, who: Actor, rule: str, reason: str) -> ApprovalError:
    r = record_governed(
        trail,
        "model.approval_refused",
        system=info.system,
        actor=who,
        subject=info.subject,
        payload={"stage": stage, "reason": reason, "rule": rule},
        refs=[info.subject],
    )
    return ApprovalError(f"approval refused ({rule}): {reason} (recorded as event {r.seq})")


def approve(
    trail: Trail,
    model_ref: str | ModelRef,
    stage: str,
    *,
    actor: Actor | Identity,
    rationale: str,
    policy: Policy | None = None,
    signature: str | None = None,
) -> Receipt:
    """Approve a version for ``stage``; records ``model.approved`` citing the gate and a fresh checkpoint.

    ``signature`` is the approver's armored SSH signature (``ssh-keygen -Y sign -n modeltrail``) over
    :func:`approval_body_for`; it must verify against their ``ssh_key`` in the policy, and is required where
    the stage says ``signed: required`` (else :class:`SignatureError`, nothing recorded).

    Refused (recorded as ``model.approval_refused``, then :class:`ApprovalError`) when the approver lacks an
    approver role of the stage (rule ``role``), registered the version under four-eyes (``four_eyes``),
    already approved it for the stage (``duplicate``), or the stage's latest gate did not pass (``gate``).
    """
    if not isinstance(rationale, str) or not rationale.strip():
        raise ValidationError("a rationale is required for an approval", field="rationale")
    _sync(trail)
    info = _lookup(trail, _ref(model_ref))
    _require_state(info, "approve", (*TERMINAL, "suspended"))
    sp = _policy_for(trail, info, policy)
    spec = sp.policy.gate(stage).approvals
    if spec is None:
        raise ApprovalError(f"the {stage} gate of {sp.policy.system} asks for no approvals")
    ident = identity_from_actor(actor, sp.policy)
    role = ident.role_for(spec.roles)
    who = ident.acting_as(role)
    if role is None:
        held = ", ".join(ident.roles) or "none"
        raise _refuse(
            trail,
            info,
            stage,
            who,
            "role",
            f"{ident.user_id} holds {held}; approving {stage} needs {' or '.join(spec.roles)}",
        )
    existing, gate, registrant = _from_ledger(trail, info, stage)
    if spec.four_eyes and ident.user_id == registrant:
        raise _refuse(
            trail,
            info,
            stage,
            who,
            "four_eyes",
            f"{ident.user_id} registered {info.ref} and cannot approve it (four-eyes rule)",
        )
    mine = [a for a in existing if a.status == "active" and a.approver == ident.user_id]
    if mine:
        raise _refuse(
            trail,
            info,
            stage,
            who,
            "duplicate",
            f"{ident.user_id} already approved {info.ref} for {stage} (event {mine[0].seq}); one person counts once",
        )
    if gate is None or not gate.passed:
        what = "has not been evaluated" if gate is None else f"failed (event {gate.seq})"
        raise _refuse(
            trail,
            info,
            stage,
            who,
            "gate",
            f"the {stage} gate of {info.ref} {what}; run `modeltrail gate check {info.ref} --stage {stage}`",
        )
    body = approval_body(
        system=info.system,
        subject=info.subject,
        actor_id=who.id,
        role=who.role,
        stage=stage,
        gate_seq=gate.seq,
        rationale=rationale,
    )
    bad_sig = signature_problem(sp.policy, spec, who.id, body, signature)
    if bad_sig is not None:
        raise SignatureError(f"approval of {info.ref} refused: {bad_sig}")
    mine_now = Approval(-1, stage, ident.user_id, role, "active", rationale, gate.seq, "", None)
    complete = len(_effective([*existing, mine_now], spec, registrant)) >= spec.min
    # The checkpoint covers the gate evaluation this approval relies on, so the approval can cite a signed head.
    cp = trail.checkpoint()
    receipt = record_governed(
        trail,
        "model.approved",
        system=info.system,
        actor=who,
        subject=info.subject,
        payload={
            "stage": stage,
            "rationale": rationale,
            "gate_seq": gate.seq,
            "checkpoint": {"size": cp.size, "root_hex": cp.root.hex()},
            "complete": complete,
            **({SIGNATURE_FIELD: signature} if signature is not None else {}),
        },
        refs=[info.subject, f"event:{gate.seq}"],
    )
    return receipt


def reject(
    trail: Trail,
    model_ref: str | ModelRef,
    stage: str,
    *,
    actor: Actor | Identity,
    rationale: str,
    policy: Policy | None = None,
) -> Receipt:
    """Reject a version for good (``model.rejected``): by an approver role of ``stage``.

    A version serving traffic cannot be rejected: suspend or retire its deployments first.
    """
    if not isinstance(rationale, str) or not rationale.strip():
        raise ValidationError("a rationale is required for a rejection", field="rationale")
    _sync(trail)
    info = _lookup(trail, _ref(model_ref))
    _require_state(info, "reject", TERMINAL)
    if info.state == "deployed":
        raise LifecycleError(f"cannot reject {info.ref}: it is deployed; suspend or retire it first")
    sp = _policy_for(trail, info, policy)
    spec = sp.policy.gate(stage).approvals
    ident = identity_from_actor(actor, sp.policy)
    who = ident.actor_for(spec.roles, f"reject {info.ref} for {stage}") if spec else ident.acting_as()
    return record_governed(
        trail,
        "model.rejected",
        system=info.system,
        actor=who,
        subject=info.subject,
        payload={"stage": stage, "rationale": rationale},
        refs=[info.subject],
    )


def revoke_approval(
    trail: Trail,
    model_ref: str | ModelRef,
    stage: str,
    *,
    actor: Actor | Identity,
    reason: str,
    policy: Policy | None = None,
) -> Receipt:
    """Withdraw the actor's own active approval of a version for ``stage`` (``model.approval_revoked``)."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("a reason is required to revoke an approval", field="reason")
    _sync(trail)
    info = _lookup(trail, _ref(model_ref))
    _require_state(info, "revoke an approval of", TERMINAL)
    sp = _policy_for(trail, info, policy)
    ident = identity_from_actor(actor, sp.policy)
    existing, _, registrant = _from_ledger(trail, info, stage)
    mine = [a for a in existing if a.status == "active" and a.approver == ident.user_id]
    if not mine:
        raise NotFoundError(f"{ident.user_id} has no active approval of {info.ref} for {stage}")
    target = mine[0]
    spec = sp.policy.gate(stage).approvals
    rest = [a for a in existing if a.seq != target.seq]
    complete = spec is not None and len(_effective(rest, spec, registrant)) >= spec.min
    return record_governed(
        trail,
        "model.approval_revoked",
        system=info.system,
        actor=ident.acting_as(target.role if target.role in ident.roles else None),
        subject=info.subject,
        payload={"stage": stage, "approval_seq": target.seq, "reason": reason, "complete": complete},
        refs=[info.subject, f"event:{target.seq}"],
    )


# ------------------------------------------------------------------------------------------ deployment


def deploy(
    trail: Trail,
    model_ref: str | ModelRef,
    env: str,
    *,
    actor: Actor | Identity,
    traffic: float = 1.0,
    stage: str | None = None,
    break_glass_reason: str | None = None,
    policy: Policy | None = None,
) -> Receipt:
    """Deploy a version to ``env`` with a ``traffic`` share (0 < traffic <= 1); ``stage`` defaults to ``env``.

    Needs a passed gate for the stage (else :class:`GateFailedError`) and its complete approvals (else
    :class:`ApprovalError`), both naming what is missing. With ``break_glass_reason`` a holder of the policy's
    ``break_glass`` role forces the deployment anyway: ``model.break_glass`` is recorded first, then
    ``model.deployed`` with ``break_glass: true``. A policy that refuses deployment (prohibited practice)
    cannot be overridden. A full-traffic deployment replaces the model's other versions in ``env``.
    """
    if not isinstance(env, str) or not env.strip():
        raise ValidationError("expected an environment name", field="env")
    if isinstance(traffic, bool) or not isinstance(traffic, int | float) or not 0 < traffic <= 1:
        raise ValidationError(f"expected a share in (0, 1], got {traffic!r}", field="traffic")
    _sync(trail)
    info = _lookup(trail, _ref(model_ref))
    _require_state(info, "deploy", TERMINAL)
    _incident_hold(trail, info.subject, "deploy")
    suspended = _deployments(
        trail, "model = ? AND version = ? AND env = ? AND state = 'suspended'", (info.model, info.version, env)
    )
    if suspended:
        raise LifecycleError(f"cannot deploy {info.ref} to {env}: it is suspended there; resume it first")
    sp = _policy_for(trail, info, policy)
    stage = stage or env
    gate_spec = sp.policy.gate(stage)
    ident = identity_from_actor(actor, sp.policy)

    ledger_approvals, gate, registrant = _from_ledger(trail, info, stage)
    gate_problem = None
    if gate is None:
        gate_problem = f"the {stage} gate of {info.ref} has not been evaluated"
    elif not gate.passed:
        gate_problem = f"the latest {stage} gate of {info.ref} failed (event {gate.seq})"
    counted: list[Approval] = []
    approval_problem = None
    if gate_spec.approvals is not None:
        counted = _effective(ledger_approvals, gate_spec.approvals, registrant)
        if len(counted) < gate_spec.approvals.min:
            approval_problem = f"{stage} approvals incomplete: {_describe_need(gate_spec.approvals, counted)}"

    forced = False
    who = ident.acting_as()
    refs = [info.subject]
    if gate_problem or approval_problem:
        problems = "; ".join(p for p in (gate_problem, approval_problem) if p)
        if not break_glass_reason:
            error = GateFailedError if gate_problem else ApprovalError
            raise error(f"deployment of {info.ref} to {env} refused: {problems}")
        if sp.policy.refuses_deployment:
            raise PermissionDeniedError(
                f"break-glass refused: the policy for {sp.policy.system} forbids deployment outright ({problems})"
            )
        who = ident.actor_for(sp.policy.roles.break_glass, f"force the deployment of {info.ref} (break glass)")
        bg = record_governed(
            trail,
            "model.break_glass",
            system=info.system,
            actor=who,
            subject=info.subject,
            payload={"action": "deploy", "reason": f"{break_glass_reason.strip()} (bypassed: {problems})"},
            refs=[info.subject],
        )
        refs.append(f"event:{bg.seq}")
        forced = True
    if gate is not None:
        refs.append(f"event:{gate.seq}")
    refs += [f"event:{a.seq}" for a in counted]
    receipt = record_governed(
        trail,
        "model.deployed",
        system=info.system,
        actor=who,
        subject=info.subject,
        payload={
            "env": env,
            "traffic": float(traffic),
            "stage": stage,
            "gate_seq": gate.seq if gate is not None else None,
            "approval_seqs": [a.seq for a in counted],
            "break_glass": forced,
            "reason": break_glass_reason.strip() if forced and break_glass_reason else None,
        },
        refs=refs,
    )
    trail.checkpoint()  # a signed head covering the deployment (DESIGN §1)
    return receipt


def _target(trail: Trail, model: str | ModelRef) -> tuple[ModelRef, VersionInfo]:
    ref = _ref(model, require_version=False)
    return ref, _lookup(trail, ref)


def _active(trail: Trail, ref: ModelRef, env: str, state: str) -> list[Deployment]:
    where = "model = ? AND env = ? AND state = ?"
    args: list[Any] = [ref.name, env, state]
    if ref.version is not None:
        where += " AND version = ?"
        args.append(ref.version)
    return _deployments(trail, where, args)


def suspend(
    trail: Trail,
    model: str | ModelRef,
    env: str,
    *,
    actor: Actor | Identity,
    reason: str,
    fallback: str | None = None,
    policy: Policy | None = None,
) -> Receipt:
    """Suspend a version (``name@v``) or every version of a model (``name``) in ``env``: the kill switch.

    Needs a role from the policy's ``roles.suspend``. ``fallback`` defaults to the policy's oversight fallback.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("a reason is required to suspend", field="reason")
    _sync(trail)
    ref, info = _target(trail, model)
    sp = _policy_for(trail, info, policy)
    who = _privileged(trail, actor, sp.policy, sp.policy.roles.suspend, "suspend", ref, env, info.system)
    live = _active(trail, ref, env, "live")
    if not live:
        raise LifecycleError(f"cannot suspend {ref} in {env}: nothing of it is live there")
    if fallback is None:
        fallback = sp.policy.oversight.fallback if sp.policy.oversight is not None else "reject"
    receipt = record_governed(
        trail,
        "model.suspended",
        system=info.system,
        actor=who,
        subject=ref.subject,
        payload={"env": env, "reason": reason, "fallback": fallback},
        refs=[ref.subject, *(f"event:{d.deployed_seq}" for d in live)],
    )
    _notify_kill_switch(trail)
    return receipt


def resume(
    trail: Trail,
    model: str | ModelRef,
    env: str,
    *,
    actor: Actor | Identity,
    reason: str,
    policy: Policy | None = None,
) -> Receipt:
    """Resume a suspended version (or model) in ``env``; needs a role from the policy's ``roles.resume``."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("a reason is required to resume", field="reason")
    _sync(trail)
    ref, info = _target(trail, model)
    sp = _policy_for(trail, info, policy)
    who = _privileged(trail, actor, sp.policy, sp.policy.roles.resume, "resume", ref, env, info.system)
    held = _active(trail, ref, env, "suspended")
    if not held:
        raise LifecycleError(f"cannot resume {ref} in {env}: nothing of it is suspended there")
    receipt = record_governed(
        trail,
        "model.resumed",
        system=info.system,
        actor=who,
        subject=ref.subject,
        payload={"env": env, "reason": reason},
        refs=[ref.subject, *(f"event:{d.deployed_seq}" for d in held)],
    )
    _notify_kill_switch(trail)
    return receipt


def _privileged(
    trail: Trail,
    actor: Actor | Identity,
    policy: Policy,
    roles: tuple[str, ...],
    action: str,
    ref: ModelRef,
    env: str,
    system: str,
) -> Actor:
    """The actor for a kill-switch action; a refusal is recorded (``model.action_refused``), then raised."""
    try:
        return identity_from_actor(actor, policy).actor_for(roles, f"{action} {ref} in {env}")
    except PermissionDeniedError as exc:
        claimed = actor if isinstance(actor, Actor) else Actor(actor.user_id, actor.primary_role, actor.kind)
        record_governed(
            trail,
            "model.action_refused",
            system=system,
            actor=claimed,
            subject=ref.subject,
            payload={"action": action, "env": env, "reason": str(exc)},
        )
        raise


def _notify_kill_switch(trail: Trail) -> None:
    """Guards in this process switch at once; other processes' pollers see the event within a second."""
    ks_module = sys.modules.get("modeltrail.runtime.killswitch")
    if ks_module is not None:
        ks_module.notify(trail)


def retire(
    trail: Trail,
    model_ref: str | ModelRef,
    *,
    actor: Actor | Identity,
    reason: str,
    env: str | None = None,
    policy: Policy | None = None,
) -> Receipt:
    """Take a version out of ``env`` (or out of service entirely when ``env`` is None): ``model.retired``.

    The version becomes ``retired`` once no deployment of it remains. Needs a role that may suspend it or
    approve it for some stage (whoever may stop or allow a model may also retire it); when the policy names
    no such role, anyone identified may.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("a reason is required to retire", field="reason")
    _sync(trail)
    info = _lookup(trail, _ref(model_ref))
    _require_state(info, "retire", TERMINAL)
    _incident_hold(trail, info.subject, "retire")
    sp = _policy_for(trail, info, policy)
    roles = list(sp.policy.roles.suspend)
    for g in sp.policy.gates.values():
        if g.approvals is not None:
            roles += [r for r in g.approvals.roles if r not in roles]
    ident = identity_from_actor(actor, sp.policy)
    who = ident.actor_for(roles, f"retire {info.ref}") if roles else ident.acting_as()
    if env is not None:
        active = _deployments(
            trail,
            "model = ? AND version = ? AND env = ? AND state IN ('live', 'suspended')",
            (info.model, info.version, env),
        )
        if not active:
            raise LifecycleError(f"cannot retire {info.ref} from {env}: it is not deployed there")
    return record_governed(
        trail,
        "model.retired",
        system=info.system,
        actor=who,
        subject=info.subject,
        payload={"env": env, "reason": reason},
        refs=[info.subject],
    )


__all__ = [
    "DOC_EVIDENCE",
    "REPORT_EVIDENCE",
    "Approval",
    "BreakGlass",
    "Deployment",
    "Evidence",
    "GateRecord",
    "LiveDeployment",
    "Refusal",
    "VersionInfo",
    "VersionStatus",
    "approval_body_for",
    "approve",
    "collect_evidence",
    "deploy",
    "evaluate_gate_for",
    "get_version",
    "live_at",
    "reject",
    "resume",
    "retire",
    "revoke_approval",
    "status",
    "suspend",
    "versions",
]


def _incident_hold(trail: Trail, subject: str, action: str) -> None:
    """Art. 73(6): a version under an open serious-incident investigation changes only after a notice."""
    from ..monitor.incidents import check_change_allowed

    check_change_allowed(trail, subject, action)
