"""The oversight projection: the review queue and ground-truth labels, folded from ledger events.

Only decisions a human has to look at enter ``oversight_queue``: those routed to review or handled by
a fallback, plus any other decision a reviewer acted on. Automatic decisions (the vast majority) cost the
fold one dictionary lookup and no SQL. Each queue row keeps the decision's ``review_reasons`` (why the
guard routed it to review; JSON text). Labels live in their own table, one row per decision (the latest
label wins). Folds never raise on odd payloads from other tools: such events are skipped.
"""

from __future__ import annotations

import json
from typing import Any

from ..events import Event
from ..governance.rules import admitted_in_fold
from ..projections import Db, Projection, dumps, register

NAME = "oversight"
VERSION = 4  # 3: reviews take effect only when the governance replay admits them; 4: purges remove rows

TABLES = ("oversight_queue", "oversight_labels")

DDL = (
    """CREATE TABLE IF NOT EXISTS oversight_queue (
        decision_id TEXT PRIMARY KEY, decision_seq BIGINT NOT NULL, ts TEXT NOT NULL, system TEXT NOT NULL,
        model TEXT, env TEXT, route TEXT NOT NULL, fallback TEXT, output TEXT, score DOUBLE PRECISION,
        confidence DOUBLE PRECISION, status TEXT NOT NULL, reviewer TEXT, reviewer_role TEXT,
        review_seq BIGINT, value TEXT, reason TEXT, reviewed_ts TEXT, review_reasons TEXT)""",
    "CREATE INDEX IF NOT EXISTS oversight_queue_status ON oversight_queue (status, model, decision_seq)",
    # Paged listings read the queue in decision order, by status or all of it (review list --after SEQ).
    "CREATE INDEX IF NOT EXISTS oversight_queue_status_seq ON oversight_queue (status, decision_seq)",
    "CREATE INDEX IF NOT EXISTS oversight_queue_seq ON oversight_queue (decision_seq)",
    """CREATE TABLE IF NOT EXISTS oversight_labels (
        decision_id TEXT PRIMARY KEY, label_seq BIGINT NOT NULL, actual TEXT, actor TEXT NOT NULL,
        ts TEXT NOT NULL)""",
)

TYPES = ("inference.decision", "oversight.reviewed", "oversight.overridden", "inference.label", "retention.purged")

_GOVERNED = frozenset({"oversight.reviewed", "oversight.overridden"})
ROUTED = frozenset({"review", "fallback"})


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _reasons(v: Any) -> str | None:
    """The decision's ``review_reasons`` as JSON (None when absent or not a list of objects)."""
    if isinstance(v, list) and all(isinstance(r, dict) for r in v):
        return dumps(v)
    return None


def _insert_decision(db: Db, ev: Event, p: dict[str, Any], status: str) -> None:
    db.execute(
        "INSERT INTO oversight_queue (decision_id, decision_seq, ts, system, model, env, route, fallback, output, "
        "score, confidence, status, review_reasons) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT (decision_id) DO NOTHING",
        (
            p["decision_id"],
            ev.seq,
            ev.ts,
            ev.system,
            _str(p.get("model")),
            _str(p.get("env")),
            str(p.get("route") or "auto"),
            _str(p.get("fallback")),
            dumps(p.get("output")),
            _num(p.get("score")),
            _num(p.get("confidence")),
            status,
            _reasons(p.get("review_reasons")),
        ),
    )


def _decision(db: Db, ev: Event) -> None:
    p = ev.payload
    if p.get("route") in ROUTED and isinstance(p.get("decision_id"), str):
        _insert_decision(db, ev, p, "pending")


def _ensure_row(db: Db, decision_id: str) -> bool:
    """Make sure a reviewed decision has a queue row (an automatic one gets its row now)."""
    if db.one("SELECT 1 FROM oversight_queue WHERE decision_id = ?", (decision_id,)) is not None:
        return True
    row = db.one(
        "SELECT seq, leaf, leaf_hash FROM events WHERE subject = ? AND type = 'inference.decision' "
        "ORDER BY seq LIMIT 1",
        (f"decision:{decision_id}",),
    )
    if row is None or not row[1]:
        return False
    dec = Event.from_leaf(bytes(row[1]), bytes(row[2]))
    _insert_decision(db, dec, dec.payload, "pending")
    return True


def _reviewed(db: Db, ev: Event) -> None:
    p = ev.payload
    did = p.get("decision_id")
    if not isinstance(did, str) or not _ensure_row(db, did):
        return
    overridden = ev.type == "oversight.overridden"
    db.execute(
        "UPDATE oversight_queue SET status = ?, reviewer = ?, reviewer_role = ?, review_seq = ?, value = ?, "
        "reason = ?, reviewed_ts = ? WHERE decision_id = ?",
        (
            "overridden" if overridden else "accepted",
            ev.actor.id,
            ev.actor.role,
            ev.seq,
            dumps(p.get("value")) if overridden else None,
            _str(p.get("reason")),
            ev.ts,
            did,
        ),
    )


def _label(db: Db, ev: Event) -> None:
    p = ev.payload
    did = p.get("decision_id")
    if not isinstance(did, str):
        return
    db.execute(
        "INSERT INTO oversight_labels (decision_id, label_seq, actual, actor, ts) VALUES (?,?,?,?,?) "
        "ON CONFLICT (decision_id) DO UPDATE SET label_seq = excluded.label_seq, actual = excluded.actual, "
        "actor = excluded.actor, ts = excluded.ts",
        (did, ev.seq, dumps(p.get("actual")), ev.actor.id, ev.ts),
    )


def _purged(db: Db, ev: Event) -> None:
    """A purge removes what the purged events put here, so the live tables equal a rebuild (which no
    longer sees the purged events' payloads). Reviews are governance events and are never purged, but
    without the decision's payload they have nothing left to stand on."""
    for pair in ev.payload.get("purged_ranges") or []:
        lo, hi = int(pair[0]), int(pair[1])
        db.execute("DELETE FROM oversight_queue WHERE decision_seq BETWEEN ? AND ?", (lo, hi))
        db.execute("DELETE FROM oversight_labels WHERE label_seq BETWEEN ? AND ?", (lo, hi))


_FOLDS = {
    "inference.decision": _decision,
    "retention.purged": _purged,
    "oversight.reviewed": _reviewed,
    "oversight.overridden": _reviewed,
    "inference.label": _label,
}


def fold(db: Db, ev: Event) -> None:
    """Fold one event into the oversight tables."""
    f = _FOLDS.get(ev.type)
    if f is not None:
        if ev.type in _GOVERNED:
            verdict = admitted_in_fold(db, ev)
            if verdict is not None and not verdict.admitted:
                return  # a review by a service, of an unknown decision, or a second one: no effect
        try:
            f(db, ev)
        except (KeyError, TypeError, ValueError, json.JSONDecodeError):
            return  # a malformed event from another tool must not stop the projection


PROJECTION = register(Projection(NAME, VERSION, TABLES, DDL, TYPES, fold))

__all__ = ["DDL", "NAME", "PROJECTION", "TABLES", "TYPES", "fold"]
