"""Reading events by one type is an index seek, not a table scan (the HTTP API asks for the latest
``policy.registered`` on every request; as a LIKE it read the whole ledger each time, held SQLite read
snapshots long enough that the WAL grew without bound, and HTTP ingest fell from 53k to 17k events/s
between 100k and 400k events)."""

from __future__ import annotations

from pathlib import Path

import modeltrail
from modeltrail.events import Actor
from modeltrail.ledger.store import EventQuery, _like_literal, event_query_sql
from modeltrail.trail import glob_to_like

ALICE = Actor("alice", "data_scientist")


def test_a_type_without_wildcards_is_an_equality() -> None:
    for glob, literal in [("policy.registered", "policy.registered"), ("a_b.c", "a_b.c"), ("x%y.z", "x%y.z")]:
        assert _like_literal(glob_to_like(glob)) == literal
        sql, args = event_query_sql(EventQuery(type_like=glob_to_like(glob), descending=True, limit=1), "seq", "?")
        assert "type = ?" in sql and "LIKE" not in sql and args == [literal]
    for glob in ("model.*", "run.?tarted", "*"):
        sql, _ = event_query_sql(EventQuery(type_like=glob_to_like(glob)), "seq", "%s")
        assert "type LIKE %s" in sql


def test_latest_of_a_type_uses_the_type_index(tmp_path: Path) -> None:
    with modeltrail.init(tmp_path / "t") as t:
        t.record_many([{"type": "run.metrics", "system": "s", "actor": ALICE} for _ in range(50)])
        t.record("policy_x.registered", system="s", actor=ALICE)
        sql, args = event_query_sql(EventQuery(type_like=glob_to_like("policy.registered"), descending=True, limit=1),
                                    "seq", "?")
        plan = " ".join(str(r[-1]) for r in t.store.execute("EXPLAIN QUERY PLAN " + sql, args))
        assert "INDEX events_type" in plan, plan
        assert next(t.events("policy.registered", descending=True, limit=1), None) is None
        assert [e.type for e in t.events("policy_x.registered")] == ["policy_x.registered"]
        assert len(list(t.events("run.*"))) == 50
