"""The lineage projection: datasets, runs, models, reports and deployments and the edges between them.

Folded from ledger events only (``projections.rebuild`` recreates it identically). Tables:

``lineage_entities(ref PK, kind, name, version, system, seq, ts, status, data)``
    one row per entity. ``kind`` is dataset | run | model | report | deployment; ``version`` is the model
    version number (NULL for other kinds); ``seq``/``ts`` are those of the event that created the row;
    ``data`` is JSON: the registration payload plus what later events added (run params, last metrics,
    status, the MLflow link of an imported model, ...).
``lineage_edges(src, dst, rel, seq)``
    directed edges in the direction data flows: ``dataset -input-> run``, ``dataset -derived-> dataset``,
    ``run -produced-> model``, ``dataset -trained_on-> model`` (``evaluated_on`` for other roles),
    ``model|dataset -evidence-> report`` and ``model -deployed-> deployment``. ``seq`` is the event that
    created the edge.
``lineage_metrics(run_id, name, seq, step, value)``
    every logged metric value (the step series); the last value per name is also in the run's ``data``.

A dataset registered with a run is an *input* of that run; data a run produced is registered with
``parents=`` naming what it was derived from. Folds never raise on odd payloads (a fold error would stop
every later event from being folded); unusable fields are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..events import Event
from ..projections import Db, Projection, dumps, loads, register

NAME = "lineage"
VERSION = 1
TABLES = ("lineage_entities", "lineage_edges", "lineage_metrics")
DDL = (
    """CREATE TABLE IF NOT EXISTS lineage_entities (
        ref TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, version BIGINT, system TEXT NOT NULL,
        seq BIGINT NOT NULL, ts TEXT NOT NULL, status TEXT NOT NULL, data TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS lineage_entities_kind ON lineage_entities (kind, name)",
    # Listings page through one kind newest first (runs/datasets/models list --after SEQ).
    "CREATE INDEX IF NOT EXISTS lineage_entities_kind_seq ON lineage_entities (kind, seq)",
    """CREATE TABLE IF NOT EXISTS lineage_edges (
        src TEXT NOT NULL, dst TEXT NOT NULL, rel TEXT NOT NULL, seq BIGINT NOT NULL,
        PRIMARY KEY (src, dst, rel))""",
    "CREATE INDEX IF NOT EXISTS lineage_edges_dst ON lineage_edges (dst)",
    """CREATE TABLE IF NOT EXISTS lineage_metrics (
        run_id TEXT NOT NULL, name TEXT NOT NULL, seq BIGINT NOT NULL, step BIGINT,
        value DOUBLE PRECISION NOT NULL, PRIMARY KEY (run_id, name, seq))""",
)
TYPES = (
    "run.started",
    "run.params",
    "run.metrics",
    "run.ended",
    "dataset.registered",
    "model.registered",
    "model.imported",
    "report.generated",
    "model.deployed",
    "model.retired",
)
INPUT_ROLES = frozenset({"train", "validation", "test", "reference"})


# ------------------------------------------------------------------------------------------ helpers


def _entity(db: Db, ref: str) -> tuple[str, str, str, int | None, str, int, str, str, dict[str, Any]] | None:
    row = db.one(
        "SELECT ref, kind, name, version, system, seq, ts, status, data FROM lineage_entities WHERE ref = ?", (ref,)
    )
    if row is None:
        return None
    data = loads(row[8])
    return (
        row[0],
        row[1],
        row[2],
        None if row[3] is None else int(row[3]),
        row[4],
        int(row[5]),
        row[6],
        row[7],
        data if isinstance(data, dict) else {},
    )


def _put(
    db: Db,
    ref: str,
    kind: str,
    name: str,
    version: int | None,
    system: str,
    seq: int,
    ts: str,
    status: str,
    data: dict[str, Any],
) -> None:
    db.execute(
        "INSERT INTO lineage_entities (ref, kind, name, version, system, seq, ts, status, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ref) DO UPDATE SET kind = excluded.kind, "
        "name = excluded.name, version = excluded.version, system = excluded.system, seq = excluded.seq, "
        "ts = excluded.ts, status = excluded.status, data = excluded.data",
        (ref, kind, name, version, system, seq, ts, status, dumps(data)),
    )


def _update(db: Db, ref: str, status: str, data: dict[str, Any]) -> None:
    db.execute("UPDATE lineage_entities SET status = ?, data = ? WHERE ref = ?", (status, dumps(data), ref))


def _edge(db: Db, src: str, dst: str, rel: str, seq: int) -> None:
    db.execute(
        "INSERT INTO lineage_edges (src, dst, rel, seq) VALUES (?, ?, ?, ?) ON CONFLICT (src, dst, rel) DO NOTHING",
        (src, dst, rel, seq),
    )


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _model_subject(subject: str | None) -> tuple[str, int] | None:
    if not subject or not subject.startswith("model:"):
        return None
    name, sep, version = subject[len("model:") :].rpartition("@")
    if not sep or not name or not version.isdigit():
        return None
    return name, int(version)


def _run_id(ev: Event) -> str | None:
    rid = ev.payload.get("run_id")
    if isinstance(rid, str) and rid:
        return rid
    if ev.subject and ev.subject.startswith("run:"):
        return ev.subject[len("run:") :]
    return None


def _run_entity(db: Db, ev: Event, run_id: str) -> tuple[int, str, str, dict[str, Any]]:
    """(seq, ts, status, data) of a run, creating a placeholder when events arrive for an unknown run."""
    ref = f"run:{run_id}"
    row = _entity(db, ref)
    if row is not None:
        return row[5], row[6], row[7], row[8]
    data: dict[str, Any] = {"run_id": run_id, "name": run_id, "params": {}, "tags": {}, "metrics": {}}
    _put(db, ref, "run", run_id, None, ev.system, ev.seq, ev.ts, "unknown", data)
    return ev.seq, ev.ts, "unknown", data


# --------------------------------------------------------------------------------------------- folds


def _run_started(db: Db, ev: Event) -> None:
    p = ev.payload
    run_id = _run_id(ev)
    if run_id is None:
        return
    ref = f"run:{run_id}"
    data = {
        "run_id": run_id,
        "name": _str(p.get("name")) or run_id,
        "params": dict(p["params"]) if isinstance(p.get("params"), dict) else {},
        "tags": dict(p["tags"]) if isinstance(p.get("tags"), dict) else {},
        "metrics": {},
        "code": p.get("code") if isinstance(p.get("code"), dict) else {},
        "environment": p.get("environment") if isinstance(p.get("environment"), dict) else {},
        "started": ev.ts,
        "ended": None,
        "duration_s": None,
        "error_type": None,
        "actor": ev.actor.id,
        "source": _str(p.get("source")),
        "link": p.get("link") if isinstance(p.get("link"), dict) else None,
    }
    _put(db, ref, "run", str(data["name"]), None, ev.system, ev.seq, ev.ts, "running", data)
    for r in ev.refs:
        if r.startswith("dataset:"):
            _edge(db, r, ref, "input", ev.seq)


def _run_params(db: Db, ev: Event) -> None:
    run_id = _run_id(ev)
    params = ev.payload.get("params")
    if run_id is None or not isinstance(params, dict):
        return
    _, _, status, data = _run_entity(db, ev, run_id)
    data.setdefault("params", {}).update(params)
    tags = ev.payload.get("tags")
    if isinstance(tags, dict):
        data.setdefault("tags", {}).update(tags)
    _update(db, f"run:{run_id}", status, data)


def _run_metrics(db: Db, ev: Event) -> None:
    run_id = _run_id(ev)
    metrics = ev.payload.get("metrics")
    if run_id is None or not isinstance(metrics, dict):
        return
    step = ev.payload.get("step")
    step = step if isinstance(step, int) and not isinstance(step, bool) else None
    _, _, status, data = _run_entity(db, ev, run_id)
    last = data.setdefault("metrics", {})
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            continue
        db.execute(
            "INSERT INTO lineage_metrics (run_id, name, seq, step, value) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id, name, seq) DO UPDATE SET step = excluded.step, value = excluded.value",
            (run_id, str(name), ev.seq, step, float(value)),
        )
        last[str(name)] = value
    _update(db, f"run:{run_id}", status, data)


def _run_ended(db: Db, ev: Event) -> None:
    run_id = _run_id(ev)
    if run_id is None:
        return
    _, _, _, data = _run_entity(db, ev, run_id)
    status = _str(ev.payload.get("status")) or "completed"
    data["ended"] = ev.ts
    data["error_type"] = _str(ev.payload.get("error_type"))
    duration = ev.payload.get("duration_s")
    data["duration_s"] = duration if isinstance(duration, int | float) and not isinstance(duration, bool) else None
    _update(db, f"run:{run_id}", status, data)


def _dataset_registered(db: Db, ev: Event) -> None:
    p = ev.payload
    name = _str(p.get("name"))
    ref = ev.subject
    if name is None or not ref or not ref.startswith("dataset:"):
        return
    role = _str(p.get("role")) or "other"
    old = _entity(db, ref)
    data = {k: v for k, v in p.items()}
    data["registrant"] = ev.actor.id
    if old is not None:
        # The same content registered again (another role, another run): keep the first registration's
        # position and accumulate roles, so listing shows one row per dataset version.
        roles = sorted({*old[8].get("roles", [old[8].get("role", role)]), role})
        data = {**old[8], "roles": roles}
        seq, ts = old[5], old[6]
    else:
        data["roles"] = [role]
        seq, ts = ev.seq, ev.ts
    _put(db, ref, "dataset", name, None, ev.system, seq, ts, "registered", data)
    run_id = _str(p.get("run_id"))
    if run_id is not None:
        _edge(db, ref, f"run:{run_id}", "input", ev.seq)
    parents = p.get("parents")
    for parent in parents if isinstance(parents, list) else []:
        if isinstance(parent, str) and parent:
            _edge(db, parent, ref, "derived", ev.seq)


def _model_registered(db: Db, ev: Event) -> None:
    p = ev.payload
    parsed = _model_subject(ev.subject)
    if parsed is None or ev.subject is None:
        return
    name, version = parsed
    ref = ev.subject
    old = _entity(db, ref)
    if old is not None and old[1] == "model" and "artifact" in old[8]:
        # Two registrations claimed one version (only possible when writers on different hosts race on a
        # PostgreSQL ledger): the first in ledger order keeps it; the later one stays visible in the ledger.
        dup = old[8].setdefault("duplicate_registrations", [])
        dup.append(ev.seq)
        _update(db, ref, old[7], old[8])
        return
    data = {k: v for k, v in p.items()}
    data["registrant"] = _str(p.get("registrant")) or ev.actor.id
    if old is not None and isinstance(old[8].get("imported"), dict):
        data["imported"] = old[8]["imported"]
    _put(db, ref, "model", name, version, ev.system, ev.seq, ev.ts, "registered", data)
    run_id = _str(p.get("run_id"))
    if run_id is not None:
        _edge(db, f"run:{run_id}", ref, "produced", ev.seq)
    datasets = p.get("datasets")
    for d in datasets if isinstance(datasets, list) else []:
        if isinstance(d, dict) and isinstance(d.get("ref"), str):
            rel = "trained_on" if d.get("role", "train") == "train" else "evaluated_on"
            _edge(db, d["ref"], ref, rel, ev.seq)


def _model_imported(db: Db, ev: Event) -> None:
    parsed = _model_subject(ev.subject)
    if parsed is None or ev.subject is None:
        return
    name, version = parsed
    old = _entity(db, ev.subject)
    if old is None:
        _put(db, ev.subject, "model", name, version, ev.system, ev.seq, ev.ts, "registered", {"imported": ev.payload})
    else:
        _update(db, ev.subject, old[7], {**old[8], "imported": dict(ev.payload)})
    run_id = _str(ev.payload.get("modeltrail_run_id"))
    if run_id is not None:
        _edge(db, f"run:{run_id}", ev.subject, "produced", ev.seq)


def _report_generated(db: Db, ev: Event) -> None:
    sha = _str(ev.payload.get("report_sha256"))
    if sha is None or not ev.subject:
        return
    ref = f"blob:sha256:{sha}"
    kind = _str(ev.payload.get("kind")) or "report"
    data = {k: v for k, v in ev.payload.items() if k != "warnings"}
    data["subject"] = ev.subject
    if _entity(db, ref) is None:
        _put(db, ref, "report", kind, None, ev.system, ev.seq, ev.ts, "generated", data)
    _edge(db, ev.subject, ref, "evidence", ev.seq)


def _model_deployed(db: Db, ev: Event) -> None:
    parsed = _model_subject(ev.subject)
    env = _str(ev.payload.get("env"))
    if parsed is None or env is None or ev.subject is None:
        return
    name, version = parsed
    ref = f"deployment:{name}@{version}/{env}"
    data = {
        "env": env,
        "model": ev.subject,
        "traffic": ev.payload.get("traffic"),
        "stage": ev.payload.get("stage"),
        "break_glass": bool(ev.payload.get("break_glass", False)),
        "deployed": ev.ts,
    }
    old = _entity(db, ref)
    seq, ts = (old[5], old[6]) if old is not None else (ev.seq, ev.ts)
    _put(db, ref, "deployment", name, version, ev.system, seq, ts, "deployed", data)
    _edge(db, ev.subject, ref, "deployed", ev.seq)
    model = _entity(db, ev.subject)
    if model is not None:
        _update(db, ev.subject, "deployed", model[8])


def _model_retired(db: Db, ev: Event) -> None:
    parsed = _model_subject(ev.subject)
    if parsed is None or ev.subject is None:
        return
    name, version = parsed
    env = _str(ev.payload.get("env"))
    prefix = f"deployment:{name}@{version}/"
    rows = db.execute(
        "SELECT ref FROM lineage_entities WHERE kind = 'deployment' AND name = ? AND version = ?", (name, version)
    )
    live = 0
    for (ref,) in rows:
        dep = _entity(db, ref)
        if dep is None or not ref.startswith(prefix):
            continue
        if env is None or ref == prefix + env:
            _update(db, ref, "retired", {**dep[8], "retired": ev.ts})
        elif dep[7] == "deployed":
            live += 1
    model = _entity(db, ev.subject)
    if model is not None and live == 0:
        _update(db, ev.subject, "retired", model[8])


_FOLDS: dict[str, Callable[[Db, Event], None]] = {
    "run.started": _run_started,
    "run.params": _run_params,
    "run.metrics": _run_metrics,
    "run.ended": _run_ended,
    "dataset.registered": _dataset_registered,
    "model.registered": _model_registered,
    "model.imported": _model_imported,
    "report.generated": _report_generated,
    "model.deployed": _model_deployed,
    "model.retired": _model_retired,
}


def fold(db: Db, ev: Event) -> None:
    """Apply one event to the lineage tables."""
    handler = _FOLDS.get(ev.type)
    if handler is not None:
        handler(db, ev)


PROJECTION = register(Projection(NAME, VERSION, TABLES, DDL, TYPES, fold))

__all__ = ["NAME", "PROJECTION", "TABLES", "fold"]
