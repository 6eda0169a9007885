"""Projections: query tables folded from ledger events, rebuildable at any time.

The ledger is the source of truth. Each projection declares the event types it folds and how; the
projection tables live next to the ledger (same database) together with a cursor, the seq of the last
event folded. Before answering a query a projection *catches up*: it folds the events after its cursor,
reading them through the ``(type, seq)`` index, so no query scans the whole ledger. Catch-up runs in the
ledger's exclusive write transaction, so several processes never fold the same event twice.

``rebuild()`` drops every projection table and folds the whole ledger again; a test proves the result
equals the live state.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ModeltrailError
from .events import Event

if TYPE_CHECKING:
    from .trail import Trail

Row = tuple[Any, ...]


class Db:
    """The SQL surface a projection folds into (the ledger backend's connection, inside its lock)."""

    def __init__(self, execute: Callable[[str, Sequence[Any]], list[Row]]) -> None:
        self._execute = execute

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Run one statement with ``?`` placeholders; returns fetched rows (empty for writes)."""
        return self._execute(sql, args)

    def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        """The first row or None."""
        rows = self._execute(sql, args)
        return rows[0] if rows else None


@dataclass(frozen=True)
class Projection:
    """A named projection: its tables (DDL), the event types it folds, and the fold function."""

    name: str
    version: int
    tables: Sequence[str]  # table names, dropped on rebuild
    ddl: Sequence[str]  # CREATE TABLE IF NOT EXISTS … statements (portable SQL)
    types: Sequence[str]  # exact event types folded
    fold: Callable[[Db, Event], None]


_REGISTRY: dict[str, Projection] = {}
_lock = threading.Lock()


def register(p: Projection) -> Projection:
    """Make a projection known to every trail opened in this process."""
    with _lock:
        _REGISTRY[p.name] = p
    return p


def registered() -> list[Projection]:
    """All registered projections, in registration order."""
    _load_builtin()
    return list(_REGISTRY.values())


BUILTIN_PROJECTION_MODULES = (
    "modeltrail.lineage.projection",
    "modeltrail.registry.projection",
    "modeltrail.runtime.projection",
)


def _load_builtin() -> None:
    """Import the domain modules whose import registers their projections."""
    import importlib

    for name in BUILTIN_PROJECTION_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):  # a missing dependency inside: surface it
                raise


CURSOR_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_cursors "
    "(name TEXT PRIMARY KEY, version INTEGER NOT NULL, seq BIGINT NOT NULL)"
)


def catch_up(trail: Trail, names: Iterable[str] | None = None) -> int:
    """Fold every event not yet folded into the named projections (default: all); returns how many."""
    projections = [p for p in registered() if names is None or p.name in set(names)]
    if not projections:
        return 0
    store = trail.store
    size = store.size()
    # Cheap check outside the lock: nothing to do when every cursor is at the end.
    try:
        cur = {r[0]: (r[1], r[2]) for r in store.execute("SELECT name, version, seq FROM projection_cursors", ())}
    except ModeltrailError:
        cur = {}  # no cursor table yet
    if all(cur.get(p.name, (None, -2))[0] == p.version and cur[p.name][1] >= size - 1 for p in projections):
        return 0
    folded = 0
    from .governance.rules import CURRENT_TRAIL  # the folds judge governance events (policies are blobs)

    token = CURRENT_TRAIL.set(trail)
    try:
        folded = _fold_all(trail, projections)
    finally:
        CURRENT_TRAIL.reset(token)
    return folded


def _fold_all(trail: Trail, projections: list[Projection]) -> int:
    store = trail.store
    folded = 0
    with store.append_txn():
        db = Db(store.execute)
        db.execute(CURSOR_DDL)
        for p in projections:
            row = db.one("SELECT version, seq FROM projection_cursors WHERE name = ?", (p.name,))
            if row is not None and row[0] != p.version:
                # The fold logic (and perhaps the tables' columns) changed: rebuild this projection from the
                # start, with its tables created afresh from the current DDL.
                for t in p.tables:
                    db.execute(f"DROP TABLE IF EXISTS {t}")
                row = None
            for stmt in p.ddl:
                db.execute(stmt)
            after = -1 if row is None else int(row[1])
            last = after
            placeholders = ",".join("?" * len(p.types))
            rows = db.execute(
                f"SELECT seq, leaf, leaf_hash FROM events WHERE seq > ? AND type IN ({placeholders}) ORDER BY seq",
                (after, *p.types),
            )
            for seq, leaf, leaf_hash in rows:
                if leaf:  # a purged event has nothing left to fold (its effect, if folded before, stays)
                    p.fold(db, Event.from_leaf(bytes(leaf), bytes(leaf_hash)))
                last = int(seq)
                folded += 1
            # The cursor moves to the ledger end even when no relevant event came, to skip them next time.
            end_row = db.one("SELECT max(seq) FROM events")
            end = int(end_row[0]) if end_row and end_row[0] is not None else -1
            last = max(last, end)
            db.execute(
                "INSERT INTO projection_cursors (name, version, seq) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET version = excluded.version, seq = excluded.seq",
                (p.name, p.version, last),
            )
    return folded


def rebuild(trail: Trail) -> int:
    """Drop every projection table and fold the whole ledger again; returns events folded."""
    store = trail.store
    with store.append_txn():
        store.execute(CURSOR_DDL, ())
        for p in registered():
            for t in p.tables:
                store.execute(f"DROP TABLE IF EXISTS {t}", ())
        store.execute("DELETE FROM projection_cursors", ())
    return catch_up(trail)


def snapshot(trail: Trail) -> dict[str, list[Row]]:
    """Every projection table's rows, sorted (for the rebuild-equals-live test and debugging)."""
    catch_up(trail)
    out: dict[str, list[Row]] = {}
    for p in registered():
        for t in p.tables:
            rows = trail.store.execute(f"SELECT * FROM {t}", ())
            out[t] = sorted((tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows), key=repr)
    return out


def dumps(value: Any) -> str:
    """Compact JSON for JSON columns of projection tables."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def loads(text: str | None) -> Any:
    """Inverse of :func:`dumps` (None stays None)."""
    return None if text is None else json.loads(text)
