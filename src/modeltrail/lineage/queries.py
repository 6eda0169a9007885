"""Lineage queries over the lineage projection: runs, datasets, models, and the graph around any entity.

Every query first folds new ledger events into the projection (``projections.catch_up``), so answers are
current; none scans the ledger. Graph walks read edges one frontier at a time through the edge indexes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import projections
from ..errors import NotFoundError, ValidationError
from ..ids import is_id
from ..projections import loads
from .entities import DatasetVersion, ModelVersion, RunInfo, dataset_ref, model_ref
from .projection import NAME

if TYPE_CHECKING:
    from ..trail import Trail

_ENTITY_COLS = "ref, kind, name, version, system, seq, ts, status, data"
_CHUNK = 500
_KINDS = ("dataset", "run", "model", "deployment", "blob")
_HEXPREFIX = re.compile(r"[0-9a-f]{4,64}")

Row = tuple[Any, ...]


def _sql(trail: Trail, sql: str, args: Sequence[Any] = ()) -> list[Row]:
    return trail.store.execute(sql, args)


def refresh(trail: Trail) -> None:
    """Fold events recorded since the last query into the lineage tables."""
    projections.catch_up(trail, [NAME])


def _data(row: Row) -> dict[str, Any]:
    d = loads(row[8])
    return d if isinstance(d, dict) else {}


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def dataset_from_row(row: Row) -> DatasetVersion:
    """Build a :class:`DatasetVersion` from a ``lineage_entities`` row."""
    d = _data(row)
    known = {
        "name", "content_hash", "hash_method", "role", "roles", "format", "rows", "columns", "schema",
        "profile", "source", "run_id", "parents", "registrant",
    }  # fmt: skip
    return DatasetVersion(
        name=str(row[2]),
        content_hash=str(d.get("content_hash", "")),
        hash_method=str(d.get("hash_method", "")),
        role=str(d.get("role", "other")),
        format=str(d.get("format", "")),
        rows=_int_or_none(d.get("rows")),
        columns=_int_or_none(d.get("columns")),
        schema=list(d.get("schema") or []),
        profile=dict(d.get("profile") or {}),
        source=d.get("source"),
        run_id=d.get("run_id"),
        parents=list(d.get("parents") or []),
        system=str(row[4]),
        seq=int(row[5]),
        ts=str(row[6]),
        roles=list(d.get("roles") or []),
        extra={k: v for k, v in d.items() if k not in known},
    )


def model_from_row(row: Row) -> ModelVersion:
    """Build a :class:`ModelVersion` from a ``lineage_entities`` row."""
    d = _data(row)
    return ModelVersion(
        name=str(row[2]),
        version=int(row[3]),
        system=str(row[4]),
        artifact=dict(d.get("artifact") or {}),
        signature=dict(d.get("signature") or {}),
        run_id=d.get("run_id"),
        datasets=list(d.get("datasets") or []),
        training_range=dict(d.get("training_range") or {}),
        registrant=d.get("registrant"),
        seq=int(row[5]),
        ts=str(row[6]),
        status=str(row[7]),
        imported=d.get("imported"),
    )


def run_from_row(row: Row) -> RunInfo:
    """Build a :class:`RunInfo` from a ``lineage_entities`` row."""
    d = _data(row)
    duration = d.get("duration_s")
    return RunInfo(
        run_id=str(d.get("run_id") or str(row[0])[len("run:") :]),
        name=str(row[2]),
        system=str(row[4]),
        status=str(row[7]),
        started=d.get("started"),
        ended=d.get("ended"),
        duration_s=float(duration) if isinstance(duration, int | float) else None,
        params=dict(d.get("params") or {}),
        tags=dict(d.get("tags") or {}),
        metrics=dict(d.get("metrics") or {}),
        code=dict(d.get("code") or {}),
        environment=dict(d.get("environment") or {}),
        error_type=d.get("error_type"),
        actor=d.get("actor"),
        seq=int(row[5]),
        source=d.get("source"),
        link=d.get("link"),
    )


def _entity_row(trail: Trail, ref: str) -> Row | None:
    rows = _sql(trail, f"SELECT {_ENTITY_COLS} FROM lineage_entities WHERE ref = ?", (ref,))
    return rows[0] if rows else None


# --------------------------------------------------------------------------------------------- runs


def get_run(trail: Trail, run_id: str) -> RunInfo:
    """The run ``run_id`` (``run:`` prefix allowed); :class:`NotFoundError` if unknown."""
    refresh(trail)
    rid = run_id[len("run:") :] if run_id.startswith("run:") else run_id
    row = _entity_row(trail, f"run:{rid}")
    if row is None or row[1] != "run":
        raise NotFoundError(f"no run with id {rid!r}")
    return run_from_row(row)


def list_runs(
    trail: Trail,
    *,
    system: str | None = None,
    name: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    before_seq: int | None = None,
) -> list[RunInfo]:
    """Runs, newest first, optionally filtered by system, run name and status.

    ``before_seq`` pages: only runs started before that seq (the last ``seq`` of the previous page).
    """
    refresh(trail)
    sql = f"SELECT {_ENTITY_COLS} FROM lineage_entities WHERE kind = 'run'"
    args: list[Any] = []
    for col, val in (("system", system), ("name", name), ("status", status)):
        if val is not None:
            sql += f" AND {col} = ?"
            args.append(val)
    if before_seq is not None:
        sql += " AND seq < ?"
        args.append(int(before_seq))
    sql += " ORDER BY seq DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    return [run_from_row(r) for r in _sql(trail, sql, args)]


def metric_history(trail: Trail, run_id: str, name: str | None = None) -> list[dict[str, Any]]:
    """Every logged value of the run's metrics (or of one metric) in ledger order: name, step, value, seq."""
    refresh(trail)
    rid = run_id[len("run:") :] if run_id.startswith("run:") else run_id
    sql = "SELECT name, step, value, seq FROM lineage_metrics WHERE run_id = ?"
    args: list[Any] = [rid]
    if name is not None:
        sql += " AND name = ?"
        args.append(name)
    rows = _sql(trail, sql + " ORDER BY seq, name", args)
    return [
        {"name": r[0], "step": None if r[1] is None else int(r[1]), "value": float(r[2]), "seq": int(r[3])}
        for r in rows
    ]


# ----------------------------------------------------------------------------------------- datasets


def list_datasets(
    trail: Trail,
    *,
    name: str | None = None,
    system: str | None = None,
    limit: int | None = None,
    before_seq: int | None = None,
) -> list[DatasetVersion]:
    """Dataset versions, newest first, optionally of one name or system.

    ``limit`` and ``before_seq`` page (see :func:`list_runs`).
    """
    refresh(trail)
    sql, args = _entity_page("dataset", (("name", name), ("system", system)), before_seq, limit, "seq DESC")
    return [dataset_from_row(r) for r in _sql(trail, sql, args)]


def _entity_page(
    kind: str,
    filters: Sequence[tuple[str, str | None]],
    before_seq: int | None,
    limit: int | None,
    order: str,
) -> tuple[str, list[Any]]:
    """The SELECT of one page of lineage entities of ``kind`` (the ``(kind, seq)`` index serves it)."""
    sql = f"SELECT {_ENTITY_COLS} FROM lineage_entities WHERE kind = ?"
    args: list[Any] = [kind]
    for col, val in filters:
        if val is not None:
            sql += f" AND {col} = ?"
            args.append(val)
    if before_seq is not None:
        sql += " AND seq < ?"
        args.append(int(before_seq))
    sql += f" ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    return sql, args


def get_dataset(trail: Trail, ref: str) -> DatasetVersion:
    """A dataset version by ``dataset:NAME@HASH`` (a hash prefix of 4+ hex is enough) or ``NAME`` (latest)."""
    try:
        full = resolve_ref(trail, ref if ref.startswith("dataset:") else f"dataset:{ref}")
    except NotFoundError:
        raise NotFoundError(f"no dataset version {ref!r}") from None
    row = _entity_row(trail, full)
    if row is None or row[1] != "dataset":
        raise NotFoundError(f"no dataset version {ref!r}")
    return dataset_from_row(row)


# ------------------------------------------------------------------------------------------- models


def list_models(
    trail: Trail,
    *,
    name: str | None = None,
    system: str | None = None,
    limit: int | None = None,
    before_seq: int | None = None,
    newest_first: bool = False,
) -> list[ModelVersion]:
    """Model versions ordered by name and version, optionally of one name or system.

    ``newest_first`` orders by registration instead (newest first), the order ``limit`` and
    ``before_seq`` page in (see :func:`list_runs`).
    """
    refresh(trail)
    if (limit is not None or before_seq is not None) and not newest_first:
        raise ValidationError("paging (limit, before_seq) needs newest_first=True", field="newest_first")
    order = "seq DESC" if newest_first else "name, version"
    sql, args = _entity_page("model", (("name", name), ("system", system)), before_seq, limit, order)
    return [model_from_row(r) for r in _sql(trail, sql, args)]


def latest_model_version(trail: Trail, name: str) -> int:
    """The highest registered version number of model ``name`` (0 when it has none)."""
    refresh(trail)
    rows = _sql(trail, "SELECT max(version) FROM lineage_entities WHERE kind = 'model' AND name = ?", (name,))
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def get_model_version(trail: Trail, ref: str | ModelVersion) -> ModelVersion:
    """A model version by ``NAME@VERSION`` (``model:`` prefix allowed), ``NAME`` (latest) or a ModelVersion."""
    if isinstance(ref, ModelVersion):
        ref = ref.ref
    if not isinstance(ref, str):
        raise ValidationError(f"expected NAME@VERSION, got {type(ref).__name__}", field="model")
    try:
        full = resolve_ref(trail, ref if ref.startswith("model:") else f"model:{ref}")
    except NotFoundError:
        raise NotFoundError(f"no model version {ref!r}") from None
    row = _entity_row(trail, full)
    if row is None or row[1] != "model":
        raise NotFoundError(f"no model version {ref!r}")
    if "artifact" not in _data(row):
        raise NotFoundError(f"model version {ref!r} was imported but never registered")
    return model_from_row(row)


def models_trained_on(trail: Trail, dataset_name: str) -> list[ModelVersion]:
    """Model versions trained on any version of the dataset ``dataset_name``.

    A model counts when a version of the dataset is linked to it directly with the ``train`` role, or is an
    input of the run that produced it, or is an ancestor (``parents``) of such a dataset.
    """
    refresh(trail)
    seeds = [
        r[0]
        for r in _sql(trail, "SELECT ref FROM lineage_entities WHERE kind = 'dataset' AND name = ?", (dataset_name,))
    ]
    if not seeds:
        return []
    # Follow derived edges (dataset -> dataset) and, from versions used for training, input edges
    # (dataset -> run); then the model edges.
    reached: set[str] = set(seeds)
    frontier = set(seeds)
    while frontier:
        rows = _entities(trail, frontier)
        nxt: set[str] = set()
        for src, dst, rel, _ in _edges_from(trail, frontier, "src"):
            row = rows.get(str(src))
            roles = (_data(row).get("roles") or [_data(row).get("role")]) if row is not None else []
            follow = rel == "derived" or (rel == "input" and "train" in roles)
            if follow and dst not in reached:
                reached.add(dst)
                nxt.add(dst)
        frontier = {r for r in nxt if r.startswith("dataset:")}
    models: set[str] = set()
    for src, dst, rel, _ in _edges_from(trail, reached, "src"):
        if (rel == "produced" and str(src).startswith("run:")) or rel == "trained_on":
            models.add(dst)
    rows = _entities(trail, models)
    out = [model_from_row(r) for r in rows.values() if r[1] == "model" and "artifact" in _data(r)]
    return sorted(out, key=lambda m: (m.name, m.version))


# ------------------------------------------------------------------------------------- reference text


def resolve_ref(trail: Trail, text: str) -> str:
    """The full entity reference for ``text``; raises :class:`NotFoundError` when nothing matches.

    Accepted: any full reference (``dataset:NAME@HASH16``, ``run:ID``, ``model:NAME@V``,
    ``deployment:NAME@V/ENV``, ``blob:sha256:HEX``), ``dataset:NAME@PREFIX`` (4+ hex), ``dataset:NAME`` and
    ``model:NAME`` (the latest version), a bare run id, and ``NAME@V`` for a model.
    """
    refresh(trail)
    t = text.strip()
    if not t:
        raise ValidationError("expected an entity reference such as credit@2", field="entity")
    if _entity_row(trail, t) is not None:
        return t
    kind, sep, rest = t.partition(":")
    if not sep or kind not in _KINDS:
        if is_id(t):
            return resolve_ref(trail, f"run:{t}")
        return resolve_ref(trail, f"model:{t}")
    if kind == "dataset":
        name, at, prefix = rest.rpartition("@")
        if not at:
            name, prefix = rest, ""
        rows = _sql(
            trail, "SELECT ref FROM lineage_entities WHERE kind = 'dataset' AND name = ? ORDER BY seq DESC", (name,)
        )
        if not prefix and rows:
            return str(rows[0][0])
        if _HEXPREFIX.fullmatch(prefix):
            matches = [str(r[0]) for r in rows if str(r[0]).split("@")[-1].startswith(prefix[:16])]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise ValidationError(f"{text!r} matches {len(matches)} dataset versions; give more of the hash")
    elif kind == "model" and "@" not in rest:
        rows = _sql(
            trail,
            "SELECT ref FROM lineage_entities WHERE kind = 'model' AND name = ? ORDER BY version DESC",
            (rest,),
        )
        if rows:
            return str(rows[0][0])
    raise NotFoundError(f"no lineage entity {text!r}")


# -------------------------------------------------------------------------------------------- graph


@dataclass
class Graph:
    """A lineage subgraph: the entities (by reference) and the edges between them."""

    root: str
    direction: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[dict[str, Any]] = field(default_factory=list)

    def refs(self, kind: str | None = None) -> list[str]:
        """Node references, optionally only of one kind, sorted."""
        return sorted(r for r, n in self.nodes.items() if kind is None or n.get("kind") == kind)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: root, direction, nodes (sorted by ref) and edges (sorted)."""
        return {
            "root": self.root,
            "direction": self.direction,
            "nodes": [self.nodes[r] for r in sorted(self.nodes)],
            "edges": sorted(self.edges, key=lambda e: (e["src"], e["dst"], e["rel"])),
        }


def _chunks(items: Iterable[str]) -> Iterable[list[str]]:
    buf = sorted(items)
    for i in range(0, len(buf), _CHUNK):
        yield buf[i : i + _CHUNK]


def _edges_from(trail: Trail, refs: Iterable[str], column: str) -> list[Row]:
    out: list[Row] = []
    for chunk in _chunks(refs):
        marks = ",".join("?" * len(chunk))
        out.extend(_sql(trail, f"SELECT src, dst, rel, seq FROM lineage_edges WHERE {column} IN ({marks})", chunk))
    return out


def _entities(trail: Trail, refs: Iterable[str]) -> dict[str, Row]:
    out: dict[str, Row] = {}
    for chunk in _chunks(refs):
        marks = ",".join("?" * len(chunk))
        for r in _sql(trail, f"SELECT {_ENTITY_COLS} FROM lineage_entities WHERE ref IN ({marks})", chunk):
            out[str(r[0])] = r
    return out


def _node(ref: str, row: Row | None) -> dict[str, Any]:
    if row is None:
        return {"ref": ref, "kind": ref.split(":", 1)[0], "name": ref, "missing": True}
    d = _data(row)
    node: dict[str, Any] = {
        "ref": ref,
        "kind": row[1],
        "name": row[2],
        "version": row[3],
        "system": row[4],
        "seq": int(row[5]),
        "ts": row[6],
        "status": row[7],
    }
    if row[1] == "dataset":
        node.update(content_hash=d.get("content_hash"), role=d.get("role"), rows=d.get("rows"))
    elif row[1] == "model":
        node["artifact_sha256"] = (d.get("artifact") or {}).get("sha256")
    elif row[1] == "run":
        node.update(run_id=d.get("run_id"), metrics=d.get("metrics") or {})
    elif row[1] == "deployment":
        node.update(env=d.get("env"), traffic=d.get("traffic"))
    elif row[1] == "report":
        node["subject"] = d.get("subject")
    return node


def _walk(trail: Trail, ref: str, direction: str, depth: int | None) -> Graph:
    root = resolve_ref(trail, ref)
    graph = Graph(root=root, direction=direction)
    seen = {root}
    frontier = {root}
    level = 0
    edges: dict[tuple[str, str, str], int] = {}
    while frontier and (depth is None or level < depth):
        nxt: set[str] = set()
        column = "dst" if direction == "up" else "src"
        for src, dst, rel, seq in _edges_from(trail, frontier, column):
            edges[(str(src), str(dst), str(rel))] = int(seq)
            other = str(src) if direction == "up" else str(dst)
            if other not in seen:
                seen.add(other)
                nxt.add(other)
        frontier = nxt
        level += 1
    rows = _entities(trail, seen)
    graph.nodes = {r: _node(r, rows.get(r)) for r in seen}
    graph.edges = [{"src": s, "dst": d, "rel": rel, "seq": seq} for (s, d, rel), seq in edges.items()]
    return graph


def upstream(trail: Trail, ref: str, *, depth: int | None = None) -> Graph:
    """Everything ``ref`` was built from (transitively): its run, datasets, their parents, ..."""
    return _walk(trail, ref, "up", depth)


def downstream(trail: Trail, ref: str, *, depth: int | None = None) -> Graph:
    """Everything built from ``ref`` (transitively): runs, models, reports, deployments, ..."""
    return _walk(trail, ref, "down", depth)


def to_json(graph: Graph, *, indent: int | None = 2) -> str:
    """The graph as JSON text (see :meth:`Graph.to_dict`)."""
    return json.dumps(graph.to_dict(), indent=indent, sort_keys=True, ensure_ascii=False)


_DOT_SHAPES = {"dataset": "cylinder", "run": "box", "model": "component", "deployment": "doubleoctagon"}


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def export_dot(graph: Graph) -> str:
    """The graph in Graphviz DOT (``dot -Tsvg``): one node per entity, shaped by kind, edges labelled."""
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    for ref in sorted(graph.nodes):
        n = graph.nodes[ref]
        kind = str(n.get("kind", ""))
        if kind == "dataset":
            label = f"{n.get('name')}\n{str(n.get('content_hash') or '')[:12]}"
        elif kind == "model":
            label = f"{n.get('name')}@{n.get('version')}"
        elif kind == "run":
            label = f"run {n.get('name')}\n{str(n.get('run_id') or '')[:8]}"
        else:
            label = ref
        attrs = f"label={_dot_quote(label)}, shape={_DOT_SHAPES.get(kind, 'note')}"
        if ref == graph.root:
            attrs += ", style=bold"
        lines.append(f"  {_dot_quote(ref)} [{attrs}];")
    for e in sorted(graph.edges, key=lambda e: (e["src"], e["dst"], e["rel"])):
        lines.append(f"  {_dot_quote(e['src'])} -> {_dot_quote(e['dst'])} [label={_dot_quote(e['rel'])}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


__all__ = [
    "Graph",
    "dataset_ref",
    "downstream",
    "export_dot",
    "get_dataset",
    "get_model_version",
    "get_run",
    "latest_model_version",
    "list_datasets",
    "list_models",
    "list_runs",
    "metric_history",
    "model_ref",
    "models_trained_on",
    "refresh",
    "resolve_ref",
    "to_json",
    "upstream",
]
