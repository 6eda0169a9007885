"""The registry projection: model versions, gates, approvals, deployments and evidence, folded from events.

Every table here is derived from ledger events only, so ``projections.rebuild`` recreates it identically.
A version's ``state`` is recomputed from its facts after each event that touches it (see :func:`_refresh`):

- ``rejected`` once a ``model.rejected`` event exists (terminal);
- ``deployed`` while any deployment serves; ``suspended`` while it has deployments and all are suspended;
- ``retired`` after ``model.retired`` took it out of its last environment (terminal);
- ``approved`` when the latest approval event of some stage says the required approvals are complete;
- ``validated`` when the latest gate evaluation of some stage passed;
- ``registered`` otherwise.

Folds never raise on odd payloads: a malformed event from another tool is skipped, because a fold error
would stop every later event from being folded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..events import Event
from ..governance.namespace import is_reserved
from ..governance.rules import admitted_in_fold
from ..projections import Db, Projection, dumps, register
from .refs import ModelRef, parse_subject

NAME = "registry"
VERSION = 3  # 2: governance events take effect only when the replay admits them; 3: deployment modes

TABLES = (
    "registry_versions",
    "registry_gates",
    "registry_approvals",
    "registry_stage_approvals",
    "registry_refusals",
    "registry_deployments",
    "registry_suspensions",
    "registry_break_glass",
    "registry_reports",
    "registry_docs",
    "registry_classification",
    "registry_policies",
)

DDL = (
    """CREATE TABLE IF NOT EXISTS registry_versions (
        model TEXT NOT NULL, version BIGINT NOT NULL, system TEXT NOT NULL, state TEXT NOT NULL,
        registrant TEXT NOT NULL, registered_seq BIGINT NOT NULL, registered_ts TEXT NOT NULL,
        artifact_sha256 TEXT, run_id TEXT, datasets TEXT NOT NULL,
        gate_stage TEXT, gate_seq BIGINT, gate_passed INTEGER,
        rejected_seq BIGINT, retired_seq BIGINT, state_seq BIGINT NOT NULL,
        break_glass INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (model, version))""",
    """CREATE TABLE IF NOT EXISTS registry_gates (
        seq BIGINT PRIMARY KEY, model TEXT NOT NULL, version BIGINT NOT NULL, stage TEXT NOT NULL,
        passed INTEGER NOT NULL, policy_sha256 TEXT, ts TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS registry_gates_mv ON registry_gates (model, version, stage)",
    """CREATE TABLE IF NOT EXISTS registry_approvals (
        seq BIGINT PRIMARY KEY, model TEXT NOT NULL, version BIGINT NOT NULL, stage TEXT NOT NULL,
        approver TEXT NOT NULL, role TEXT NOT NULL, status TEXT NOT NULL, rationale TEXT NOT NULL,
        gate_seq BIGINT, ts TEXT NOT NULL, revoked_seq BIGINT)""",
    "CREATE INDEX IF NOT EXISTS registry_approvals_mv ON registry_approvals (model, version, stage)",
    """CREATE TABLE IF NOT EXISTS registry_stage_approvals (
        model TEXT NOT NULL, version BIGINT NOT NULL, stage TEXT NOT NULL, complete INTEGER NOT NULL,
        seq BIGINT NOT NULL, PRIMARY KEY (model, version, stage))""",
    """CREATE TABLE IF NOT EXISTS registry_refusals (
        seq BIGINT PRIMARY KEY, model TEXT NOT NULL, version BIGINT NOT NULL, stage TEXT NOT NULL,
        actor TEXT NOT NULL, rule TEXT NOT NULL, reason TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS registry_deployments (
        deployed_seq BIGINT PRIMARY KEY, model TEXT NOT NULL, version BIGINT NOT NULL, env TEXT NOT NULL,
        traffic DOUBLE PRECISION NOT NULL, stage TEXT, state TEXT NOT NULL, deployed_ts TEXT NOT NULL,
        break_glass INTEGER NOT NULL, ended_seq BIGINT, ended_ts TEXT, mode TEXT NOT NULL DEFAULT 'live')""",
    "CREATE INDEX IF NOT EXISTS registry_deployments_env ON registry_deployments (env, deployed_ts)",
    "CREATE INDEX IF NOT EXISTS registry_deployments_mv ON registry_deployments (model, version)",
    """CREATE TABLE IF NOT EXISTS registry_suspensions (
        suspended_seq BIGINT NOT NULL, deployed_seq BIGINT NOT NULL, model TEXT NOT NULL,
        version BIGINT NOT NULL, env TEXT NOT NULL, reason TEXT NOT NULL, fallback TEXT,
        suspended_ts TEXT NOT NULL, resumed_seq BIGINT, resumed_ts TEXT,
        PRIMARY KEY (suspended_seq, deployed_seq))""",
    """CREATE TABLE IF NOT EXISTS registry_break_glass (
        seq BIGINT PRIMARY KEY, model TEXT NOT NULL, version BIGINT NOT NULL, action TEXT NOT NULL,
        actor TEXT NOT NULL, reason TEXT NOT NULL, ts TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS registry_reports (
        seq BIGINT PRIMARY KEY, subject TEXT NOT NULL, kind TEXT NOT NULL, report_sha256 TEXT,
        metrics TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS registry_reports_sk ON registry_reports (subject, kind)",
    """CREATE TABLE IF NOT EXISTS registry_docs (
        seq BIGINT PRIMARY KEY, subject TEXT NOT NULL, kind TEXT NOT NULL, sha256 TEXT)""",
    "CREATE INDEX IF NOT EXISTS registry_docs_sk ON registry_docs (subject, kind)",
    """CREATE TABLE IF NOT EXISTS registry_classification (
        seq BIGINT PRIMARY KEY, system TEXT NOT NULL, tier TEXT NOT NULL, data TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS registry_policies (
        seq BIGINT PRIMARY KEY, system TEXT NOT NULL, policy_sha256 TEXT NOT NULL, risk_tier TEXT,
        path TEXT)""",
)

TYPES = (
    "model.registered",
    "model.imported",
    "report.generated",
    "doc.generated",
    "gate.evaluated",
    "model.approved",
    "model.approval_refused",
    "model.rejected",
    "model.approval_revoked",
    "model.deployed",
    "model.suspended",
    "model.resumed",
    "model.retired",
    "model.break_glass",
    "system.classified",
    "policy.registered",
)

ACTIVE_DEPLOYMENT = ("live", "suspended")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _version_ref(ev: Event) -> ModelRef | None:
    ref = parse_subject(ev.subject)
    return ref if ref is not None and ref.version is not None else None


def _exists(db: Db, model: str, version: int) -> bool:
    return db.one("SELECT 1 FROM registry_versions WHERE model = ? AND version = ?", (model, version)) is not None


def _refresh(db: Db, model: str, version: int, seq: int) -> None:
    """Recompute the version's state from its facts; ``state_seq`` moves only when the state changes."""
    row = db.one(
        "SELECT state, rejected_seq, retired_seq FROM registry_versions WHERE model = ? AND version = ?",
        (model, version),
    )
    if row is None:
        return
    old, rejected, retired = row
    deployments = [
        r[0]
        for r in db.execute(
            "SELECT state FROM registry_deployments WHERE model = ? AND version = ? AND state IN ('live', 'suspended')",
            (model, version),
        )
    ]
    if rejected is not None:
        state = "rejected"
    elif deployments:
        state = "deployed" if "live" in deployments else "suspended"
    elif retired is not None:
        state = "retired"
    elif db.one(
        "SELECT 1 FROM registry_stage_approvals WHERE model = ? AND version = ? AND complete = 1", (model, version)
    ):
        state = "approved"
    elif any(passed for _, passed in latest_gates(db.execute, model, version).values()):
        state = "validated"
    else:
        state = "registered"
    if state != old:
        db.execute(
            "UPDATE registry_versions SET state = ?, state_seq = ? WHERE model = ? AND version = ?",
            (state, seq, model, version),
        )


def latest_gates(
    execute: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]], model: str, version: int
) -> dict[str, tuple[int, bool]]:
    """``{stage: (seq, passed)}`` of the latest gate evaluation per stage of one version."""
    rows = execute(
        "SELECT g.stage, g.seq, g.passed FROM registry_gates g WHERE g.model = ? AND g.version = ? AND g.seq = "
        "(SELECT max(h.seq) FROM registry_gates h WHERE h.model = g.model AND h.version = g.version "
        "AND h.stage = g.stage)",
        (model, version),
    )
    return {str(stage): (int(seq), bool(passed)) for stage, seq, passed in rows}


def _registered(db: Db, ev: Event) -> None:
    ref = _version_ref(ev)
    if ref is None or ref.version is None or _exists(db, ref.name, ref.version):
        # An MLflow import of a version already registered only adds a link; it is not a new version.
        return
    p = ev.payload
    raw_artifact = p.get("artifact")
    artifact: dict[str, Any] = raw_artifact if isinstance(raw_artifact, dict) else {}
    datasets = [
        {"ref": d["ref"], "role": str(d.get("role") or "other")}
        for d in (p.get("datasets") or [])
        if isinstance(d, dict) and isinstance(d.get("ref"), str)
    ]
    db.execute(
        "INSERT INTO registry_versions (model, version, system, state, registrant, registered_seq, registered_ts, "
        "artifact_sha256, run_id, datasets, state_seq, break_glass) "
        "VALUES (?, ?, ?, 'registered', ?, ?, ?, ?, ?, ?, ?, 0)",
        (
            ref.name,
            ref.version,
            ev.system,
            _str(p.get("registrant")) or ev.actor.id,
            ev.seq,
            ev.ts,
            _str(artifact.get("sha256")),
            _str(p.get("run_id")),
            dumps(datasets),
            ev.seq,
        ),
    )


def _report(db: Db, ev: Event) -> None:
    kind = _str(ev.payload.get("kind"))
    if ev.subject is None or kind is None:
        return
    metrics = ev.payload.get("metrics")
    db.execute(
        "INSERT INTO registry_reports (seq, subject, kind, report_sha256, metrics) VALUES (?, ?, ?, ?, ?)",
        (
            ev.seq,
            ev.subject,
            kind,
            _str(ev.payload.get("report_sha256")),
            dumps(metrics if isinstance(metrics, dict) else {}),
        ),
    )


def _doc(db: Db, ev: Event) -> None:
    kind = _str(ev.payload.get("kind"))
    if ev.subject is None or kind is None:
        return
    digest = _str(ev.payload.get("sha256")) or _str(ev.payload.get("doc_sha256"))
    db.execute(
        "INSERT INTO registry_docs (seq, subject, kind, sha256) VALUES (?, ?, ?, ?)",
        (ev.seq, ev.subject, kind.replace("-", "_"), digest),
    )


def _gate(db: Db, ev: Event) -> None:
    ref = _version_ref(ev)
    stage = _str(ev.payload.get("stage"))
    if ref is None or ref.version is None or stage is None or not _exists(db, ref.name, ref.version):
        return
    passed = 1 if ev.payload.get("passed") is True else 0
    db.execute(
        "INSERT INTO registry_gates (seq, model, version, stage, passed, policy_sha256, ts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ev.seq, ref.name, ref.version, stage, passed, _str(ev.payload.get("policy_sha256")), ev.ts),
    )
    db.execute(
        "UPDATE registry_versions SET gate_stage = ?, gate_seq = ?, gate_passed = ? WHERE model = ? AND version = ?",
        (stage, ev.seq, passed, ref.name, ref.version),
    )
    _refresh(db, ref.name, ref.version, ev.seq)


def _set_stage_complete(db: Db, ref: ModelRef, stage: str, complete: bool, seq: int) -> None:
    db.execute(
        "INSERT INTO registry_stage_approvals (model, version, stage, complete, seq) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (model, version, stage) DO UPDATE SET complete = excluded.complete, seq = excluded.seq",
        (ref.name, ref.version, stage, 1 if complete else 0, seq),
    )


def _approved(db: Db, ev: Event) -> None:
    ref = _version_ref(ev)
    stage = _str(ev.payload.get("stage"))
    if ref is None or ref.version is None or stage is None or not _exists(db, ref.name, ref.version):
        return
    gate_seq = ev.payload.get("gate_seq")
    db.execute(
        "INSERT INTO registry_approvals (seq, model, version, stage, approver, role, status, rationale, gate_seq, ts) "
        "VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?)",
        (
            ev.seq,
            ref.name,
            ref.version,
            stage,
            ev.actor.id,
            ev.actor.role,
            str(ev.payload.get("rationale") or ""),
            gate_seq if isinstance(gate_seq, int) else None,
            ev.ts,
        ),
    )
    _set_stage_complete(db, ref, stage, ev.payload.get("complete") is True, ev.seq)
    _refresh(db, ref.name, ref.version, ev.seq)


def _refused(db: Db, ev: Event) -> None:
    ref = _version_ref(ev)
    if ref is None or ref.version is None:
        return
    db.execute(
        "INSERT INTO registry_refusals (seq, model, version, stage, actor, rule, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            ev.seq,
            ref.name,
            ref.version,
            str(ev.payload.get("stage") or ""),
            ev.actor.id,
            str(ev.payload.get("rule") or ""),
            str(ev.payload.get("reason") or ""),
        ),
    )


def _revoked(db: Db, ev: Event) -> None:
    ref = _version_ref(ev)
    stage = _str(ev.payload.get("stage"))
    approval_seq = ev.payload.get("approval_seq")
    if ref is None or ref.version is None or stage is None or not isinstance(approval_seq, int):
        return
    db.execute(
        "UPDATE registry_approvals SET status = 'revoked', revoked_seq = ? WHERE seq = ? AND model = ? AND version = ?",
        (ev.seq, approval_seq, ref.name, ref.version),
    )
    _set_stage_complete(db, ref, stage, ev.payload.get("complete") is True, ev.seq)
    _refresh(db, ref.name, ref.version, ev.seq)


def _end(db: Db, where: str, args: tuple[Any, ...], ev: Event) -> list[tuple[str, int]]:
    """End the active deployments matching ``where``; returns the (model, version) pairs touched."""
    rows = db.execute(
        "SELECT deployed_seq, model, version FROM registry_deployments "
        f"WHERE state IN ('live', 'suspended') AND {where}",
        args,
    )
    for deployed_seq, _, _ in rows:
        db.execute(
            "UPDATE registry_deployments SET state = 'ended', ended_seq = ?, ended_ts = ? WHERE deployed_seq = ?",
            (ev.seq, ev.ts, deployed_seq),
        )
    return sorted({(str(m), int(v)) for _, m, v in rows})


def _rejected(db: Db, ev: Event) -> None:
    ref = _version_ref(ev)
    if ref is None or ref.version is None or not _exists(db, ref.name, ref.version):
        return
    db.execute(
        "UPDATE registry_versions SET rejected_seq = ? WHERE model = ? AND version = ?",
        (ev.seq, ref.name, ref.version),
    )
    # A rejected version stops counting as deployed anywhere (only suspended ones can be rejected).
    _end(db, "model = ? AND version = ?", (ref.name, ref.version), ev)
    _refresh(db, ref.name, ref.version, ev.seq)


def deploy_mode(payload: dict[str, Any]) -> str:
    """The mode a ``model.deployed`` payload records: ``shadow``, ``canary``, else ``live``."""
    mode = payload.get("mode")
    return mode if mode in ("shadow", "canary") else "live"


def _deployed(db: Db, ev: Event) -> None:
    ref = _version_ref(ev)
    env = _str(ev.payload.get("env"))
    traffic = ev.payload.get("traffic", 1.0)
    if ref is None or ref.version is None or env is None or not _exists(db, ref.name, ref.version):
        return
    if isinstance(traffic, bool) or not isinstance(traffic, int | float):
        return
    mode = deploy_mode(ev.payload)
    touched = _end(db, "model = ? AND version = ? AND env = ?", (ref.name, ref.version, env), ev)
    if float(traffic) >= 1.0 and mode != "shadow":
        # A full-traffic deployment replaces every other version of the model in that environment
        # (a shadow runs beside the live version and replaces nothing).
        touched += _end(db, "model = ? AND env = ? AND version <> ?", (ref.name, env, ref.version), ev)
    break_glass = 1 if ev.payload.get("break_glass") is True else 0
    db.execute(
        "INSERT INTO registry_deployments (deployed_seq, model, version, env, traffic, stage, state, deployed_ts, "
        "break_glass, mode) VALUES (?, ?, ?, ?, ?, ?, 'live', ?, ?, ?)",
        (ev.seq, ref.name, ref.version, env, float(traffic), _str(ev.payload.get("stage")), ev.ts, break_glass, mode),
    )
    if break_glass:
        db.execute(
            "UPDATE registry_versions SET break_glass = 1 WHERE model = ? AND version = ?", (ref.name, ref.version)
        )
    for model, version in {*touched, (ref.name, ref.version)}:
        _refresh(db, model, version, ev.seq)


def _break_glass(db: Db, ev: Event) -> None:
    ref = _version_ref(ev)
    if ref is None or ref.version is None or not _exists(db, ref.name, ref.version):
        return
    db.execute(
        "INSERT INTO registry_break_glass (seq, model, version, action, actor, reason, ts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            ev.seq,
            ref.name,
            ref.version,
            str(ev.payload.get("action") or ""),
            ev.actor.id,
            str(ev.payload.get("reason") or ""),
            ev.ts,
        ),
    )
    db.execute("UPDATE registry_versions SET break_glass = 1 WHERE model = ? AND version = ?", (ref.name, ref.version))


def _target(ev: Event) -> tuple[str, tuple[Any, ...]] | None:
    """SQL condition for the deployments a suspend/resume/retire event addresses."""
    ref = parse_subject(ev.subject)
    if ref is None:
        return None
    where = "model = ?"
    args: list[Any] = [ref.name]
    if ref.version is not None:
        where += " AND version = ?"
        args.append(ref.version)
    env = _str(ev.payload.get("env"))
    if env is not None:
        where += " AND env = ?"
        args.append(env)
    return where, tuple(args)


def _suspended(db: Db, ev: Event) -> None:
    target = _target(ev)
    if target is None:
        return
    where, args = target
    rows = db.execute(
        f"SELECT deployed_seq, model, version, env FROM registry_deployments WHERE state = 'live' AND {where}", args
    )
    for deployed_seq, model, version, env in rows:
        db.execute("UPDATE registry_deployments SET state = 'suspended' WHERE deployed_seq = ?", (deployed_seq,))
        db.execute(
            "INSERT INTO registry_suspensions (suspended_seq, deployed_seq, model, version, env, reason, fallback, "
            "suspended_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ev.seq,
                deployed_seq,
                model,
                version,
                env,
                str(ev.payload.get("reason") or ""),
                _str(ev.payload.get("fallback")),
                ev.ts,
            ),
        )
    for model, version in sorted({(str(m), int(v)) for _, m, v, _ in rows}):
        _refresh(db, model, version, ev.seq)


def _resumed(db: Db, ev: Event) -> None:
    target = _target(ev)
    if target is None:
        return
    where, args = target
    rows = db.execute(
        f"SELECT deployed_seq, model, version FROM registry_deployments WHERE state = 'suspended' AND {where}", args
    )
    for deployed_seq, _, _ in rows:
        db.execute("UPDATE registry_deployments SET state = 'live' WHERE deployed_seq = ?", (deployed_seq,))
        db.execute(
            "UPDATE registry_suspensions SET resumed_seq = ?, resumed_ts = ? "
            "WHERE deployed_seq = ? AND resumed_seq IS NULL",
            (ev.seq, ev.ts, deployed_seq),
        )
    for model, version in sorted({(str(m), int(v)) for _, m, v in rows}):
        _refresh(db, model, version, ev.seq)


def _retired(db: Db, ev: Event) -> None:
    ref = _version_ref(ev)
    target = _target(ev)
    if ref is None or ref.version is None or target is None or not _exists(db, ref.name, ref.version):
        return
    where, args = target
    _end(db, where, args, ev)
    remaining = db.one(
        "SELECT 1 FROM registry_deployments WHERE model = ? AND version = ? AND state IN ('live', 'suspended')",
        (ref.name, ref.version),
    )
    if _str(ev.payload.get("env")) is None or remaining is None:
        db.execute(
            "UPDATE registry_versions SET retired_seq = ? WHERE model = ? AND version = ?",
            (ev.seq, ref.name, ref.version),
        )
    _refresh(db, ref.name, ref.version, ev.seq)


def _classified(db: Db, ev: Event) -> None:
    tier = _str(ev.payload.get("tier"))
    if tier is None:
        return
    db.execute(
        "INSERT INTO registry_classification (seq, system, tier, data) VALUES (?, ?, ?, ?)",
        (ev.seq, ev.system, tier, dumps(ev.payload)),
    )


def _policy(db: Db, ev: Event) -> None:
    digest = _str(ev.payload.get("policy_sha256"))
    if digest is None:
        return
    db.execute(
        "INSERT INTO registry_policies (seq, system, policy_sha256, risk_tier, path) VALUES (?, ?, ?, ?, ?)",
        (ev.seq, ev.system, digest, _str(ev.payload.get("risk_tier")), _str(ev.payload.get("path"))),
    )


_FOLDS: dict[str, Callable[[Db, Event], None]] = {
    "model.registered": _registered,
    "model.imported": _registered,
    "report.generated": _report,
    "doc.generated": _doc,
    "gate.evaluated": _gate,
    "model.approved": _approved,
    "model.approval_refused": _refused,
    "model.rejected": _rejected,
    "model.approval_revoked": _revoked,
    "model.deployed": _deployed,
    "model.suspended": _suspended,
    "model.resumed": _resumed,
    "model.retired": _retired,
    "model.break_glass": _break_glass,
    "system.classified": _classified,
    "policy.registered": _policy,
}


def fold(db: Db, ev: Event) -> None:
    """Apply one event to the registry tables, if the governance rules admit it (see :mod:`..governance.rules`).

    An inadmissible event (a forged approval, a deployment without approvals, a policy change by the wrong
    person) changes nothing here; ``modeltrail audit check`` lists it.
    """
    handler = _FOLDS.get(ev.type)
    if handler is None:
        return
    if is_reserved(ev.type):
        verdict = admitted_in_fold(db, ev)
        if verdict is not None:
            if not verdict.admitted:
                return
            if "complete" in verdict.facts:
                # Completion as the replay computed it, not as the event claims.
                ev = replace(ev, payload={**ev.payload, "complete": verdict.facts["complete"]})
    handler(db, ev)


PROJECTION = register(Projection(NAME, VERSION, TABLES, DDL, TYPES, fold))

__all__ = ["ACTIVE_DEPLOYMENT", "DDL", "NAME", "PROJECTION", "TABLES", "TYPES", "deploy_mode", "fold", "latest_gates"]
