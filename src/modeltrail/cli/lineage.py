"""Lineage commands: ``run start|log|end``, ``runs|datasets|models list|show``, ``dataset register``,
``model register``, ``lineage ENTITY`` and ``import mlflow``.

A pipeline written in any language can track a run from the shell::

    RUN=$(modeltrail run start train-credit --system credit-scoring --param max_depth=4)
    modeltrail run log --run "$RUN" --metric roc_auc=0.81
    modeltrail run end --run "$RUN"

``run start`` also remembers the id in ``<trail>/current_run``, so ``--run`` may be left out while one
pipeline runs at a time (``$MODELTRAIL_RUN`` overrides the file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import click
from rich.markup import escape
from rich.table import Table

from ..errors import ValidationError
from ..events import Actor
from ..lineage import datasets as ds_mod
from ..lineage import models as model_mod
from ..lineage import queries as q
from ..lineage import runs as run_mod
from ..lineage.entities import DATASET_ROLES
from ..trail import Trail
from .flags import actor_options
from .listing import Page, emit, listing_options
from .main import TrailContext, console, handle_errors, pass_ctx

F = TypeVar("F", bound=Callable[..., Any])

CURRENT_RUN_FILE = "current_run"
DEFAULT_ROLE = "data_scientist"

__all__ = ["COMMANDS", "cli_actor"]


def cli_actor(actor_id: str | None, role: str | None, trail: Trail | None = None) -> Actor:
    """The actor of a lineage command.

    With ``$MODELTRAIL_TOKEN`` set, the token's user acts (a CI job keeps one identity for every
    command) and ``--actor`` may only repeat that user. Otherwise ``--actor``/``--role``, else
    ``$MODELTRAIL_USER`` / ``cli-user`` acting as ``data_scientist``.
    """
    token = os.environ.get("MODELTRAIL_TOKEN")
    if token and trail is not None:
        from ..errors import NotFoundError, PermissionDeniedError
        from ..identity import resolve_identity
        from ..registry import current_policy

        try:
            policy = current_policy(trail)
        except NotFoundError:
            policy = None
        ident = resolve_identity(trail, policy, token=token)
        if actor_id is not None and actor_id != ident.user_id:
            raise PermissionDeniedError(f"--actor {actor_id} conflicts with the token of {ident.user_id}")
        if role is not None and ident.roles and role not in ident.roles:
            raise PermissionDeniedError(f"{ident.user_id} does not hold the role {role!r}")
        return Actor(ident.user_id, role or ident.primary_role, ident.kind)
    return Actor(actor_id or os.environ.get("MODELTRAIL_USER") or "cli-user", role or DEFAULT_ROLE, "human")


def _actor_options(role_flag: str = "--role") -> Callable[[F], F]:
    """``--actor`` and ``--actor-role`` (flags.py); the old ``--role`` stays an alias where it is free."""
    return actor_options(DEFAULT_ROLE, role_alias=role_flag == "--role")


def _kv(items: Iterable[str], field: str, *, number: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"expected KEY=VALUE, got {item!r}", field=field)
        if number:
            try:
                out[key] = float(raw)
            except ValueError:
                raise ValidationError(f"expected a number, got {raw!r}", field=f"{field}.{key}") from None
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw  # plain text
        out[key] = value if isinstance(value, int | float | bool | str) or value is None else raw
    return out


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def _current_run(trail: Trail, run_id: str | None) -> str:
    if run_id:
        return run_id
    env = os.environ.get("MODELTRAIL_RUN")
    if env:
        return env
    path = Path(trail.path) / CURRENT_RUN_FILE
    if path.is_file():
        text = path.read_text(encoding="utf-8").strip()
        if text:
            return text
    raise ValidationError("no run given: pass --run ID (printed by `modeltrail run start`)", field="run")


# ------------------------------------------------------------------------------------------------ run


@click.group("run")
def run_group() -> None:
    """Track a training run from the shell (start, log, end)."""


@run_group.command("start")
@click.argument("name")
@click.option("--system", required=True, envvar="MODELTRAIL_SYSTEM", help="AI system name (env MODELTRAIL_SYSTEM).")
@click.option("--param", "params", multiple=True, metavar="K=V", help="Parameter (repeatable).")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="Tag (repeatable).")
@click.option("--dataset", "datasets", multiple=True, metavar="REF", help="Input dataset version (repeatable).")
@click.option("--code-dir", type=click.Path(path_type=Path), help="Git work tree to record (default: cwd).")
@_actor_options()
@pass_ctx
@handle_errors
def run_start(
    tc: TrailContext,
    name: str,
    system: str,
    params: tuple[str, ...],
    tags: tuple[str, ...],
    datasets: tuple[str, ...],
    code_dir: Path | None,
    actor_id: str | None,
    actor_role: str | None,
) -> None:
    """Record run.started and print the run id."""
    t = tc.trail()
    refs = [q.get_dataset(t, d).ref for d in datasets]
    run = run_mod.start_run(
        t,
        name,
        system=system,
        actor=cli_actor(actor_id, actor_role, tc.trail()),
        params=_kv(params, "param"),
        tags={k: str(v) for k, v in _kv(tags, "tag").items()},
        datasets=refs,
        code_dir=code_dir,
    )
    (Path(t.path) / CURRENT_RUN_FILE).write_text(run.run_id + "\n", encoding="utf-8")
    click.echo(run.run_id)


@run_group.command("log")
@click.option("--run", "run_id", metavar="ID", help="Run id (default $MODELTRAIL_RUN or the last started).")
@click.option("--metric", "metrics", multiple=True, metavar="K=V", help="Metric value (repeatable).")
@click.option("--param", "params", multiple=True, metavar="K=V", help="Parameter (repeatable).")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="Tag (repeatable).")
@click.option("--step", type=int, help="Step of the metric values.")
@_actor_options()
@pass_ctx
@handle_errors
def run_log(
    tc: TrailContext,
    run_id: str | None,
    metrics: tuple[str, ...],
    params: tuple[str, ...],
    tags: tuple[str, ...],
    step: int | None,
    actor_id: str | None,
    actor_role: str | None,
) -> None:
    """Record params, tags and metrics of a running run."""
    t = tc.trail()
    run = run_mod.attach_run(t, _current_run(t, run_id), actor=cli_actor(actor_id, actor_role, t))
    if not (metrics or params or tags):
        raise ValidationError("give at least one --metric, --param or --tag", field="run log")
    if params:
        run.log_params(_kv(params, "param"))
    if tags:
        run.set_tags({k: str(v) for k, v in _kv(tags, "tag").items()})
    if metrics:
        run.log_metrics(_kv(metrics, "metric", number=True), step=step)


@run_group.command("end")
@click.option("--run", "run_id", metavar="ID", help="Run id (default $MODELTRAIL_RUN or the last started).")
@click.option("--status", type=click.Choice(run_mod.RUN_STATUSES), default="completed", show_default=True)
@click.option("--error-type", help="What failed (recorded with --status failed).")
@_actor_options()
@pass_ctx
@handle_errors
def run_end(
    tc: TrailContext,
    run_id: str | None,
    status: str,
    error_type: str | None,
    actor_id: str | None,
    actor_role: str | None,
) -> None:
    """Record run.ended."""
    t = tc.trail()
    rid = _current_run(t, run_id)
    run_mod.attach_run(t, rid, actor=cli_actor(actor_id, actor_role, t)).end(status, error_type=error_type)
    current = Path(t.path) / CURRENT_RUN_FILE
    if current.is_file() and current.read_text(encoding="utf-8").strip() == rid:
        current.unlink()


# ------------------------------------------------------------------------------------------- listings


def _table(*columns: str) -> Table:
    table = Table(box=None, header_style="bold")
    for i, c in enumerate(columns):
        # The first column is the entity's reference: never folded, so it can be copied.
        table.add_column(c, overflow="fold", no_wrap=i == 0)
    return table


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return escape(json.dumps(value, ensure_ascii=False, sort_keys=True))
    return escape(str(value))


def _plain(value: Any) -> str:
    """A value as listing text (no rich markup: listings are plain text)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _registry_state(trail: Trail) -> Callable[[Any], str]:
    """A version's lifecycle state as ``modeltrail status`` reports it (the registry decides it).

    The lineage projection only knows registered/deployed/retired; suspension, validation and approval
    are the registry's, so ``models list`` asks it, one indexed lookup per row shown. A version the
    registry does not know (imported from MLflow) keeps its lineage status.
    """
    from ..errors import NotFoundError
    from ..registry import get_version

    def state(m: Any) -> str:
        try:
            return str(get_version(trail, f"{m.name}@{m.version}").state)
        except NotFoundError:
            return str(m.status)

    return state


class _HasSeq(Protocol):
    @property
    def seq(self) -> int: ...


E = TypeVar("E", bound=_HasSeq)


def _pages(fetch: Callable[[int, int | None], list[E]], page: Page) -> Iterator[E]:
    """Rows newest first, read in keyset pages (``seq < cursor``) of at most 1,000, up to one past the page."""
    cursor, left = page.after, None if page.limit is None else page.limit + 1
    while left is None or left > 0:
        chunk = 1_000 if left is None else min(1_000, left)
        rows = fetch(chunk, cursor)
        yield from rows
        if len(rows) < chunk:
            return
        cursor = rows[-1].seq
        if left is not None:
            left -= len(rows)


@click.group("runs")
def runs_group() -> None:
    """List and show training runs."""


@runs_group.command("list")
@click.option("--system", help="Only runs of this AI system.")
@click.option("--name", help="Only runs with this name.")
@click.option("--status", type=click.Choice(["running", "completed", "failed"]))
@listing_options
@pass_ctx
@handle_errors
def runs_list(
    tc: TrailContext,
    system: str | None,
    name: str | None,
    status: str | None,
    limit: int | None,
    after: int | None,
    show_all: bool,
    as_json: bool,
    as_tsv: bool,
) -> None:
    """Runs, newest first (--after SEQ continues with older runs)."""
    page = Page.from_options(limit, after, show_all, as_json, as_tsv)
    t = tc.trail()
    rows = _pages(
        lambda n, before: q.list_runs(t, system=system, name=name, status=status, limit=n, before_seq=before),
        page,
    )
    emit(
        page,
        ("run id", "seq", "name", "system", "status", "started", "duration s", "metrics"),
        rows,
        cells=lambda r: (
            r.run_id, str(r.seq), _plain(r.name), _plain(r.system), r.status, _plain(r.started),
            _plain(r.duration_s), ", ".join(f"{k}={_plain(v)}" for k, v in sorted(r.metrics.items())),
        ),
        as_dict=lambda r: r.to_dict(),
        cursor=lambda r: r.seq,
    )


@runs_group.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="JSON output (with the metric history).")
@pass_ctx
@handle_errors
def runs_show(tc: TrailContext, run_id: str, as_json: bool) -> None:
    """One run: code, environment, params, metrics and what it used and produced."""
    t = tc.trail()
    r = q.get_run(t, run_id)
    up = q.upstream(t, r.ref, depth=1).refs("dataset")
    down = q.downstream(t, r.ref, depth=1).refs("model")
    if as_json:
        _echo_json({**r.to_dict(), "history": q.metric_history(t, r.run_id), "inputs": up, "models": down})
        return
    table = _table("field", "value")
    for key, value in (
        ("run id", r.run_id), ("name", r.name), ("system", r.system), ("status", r.status),
        ("error type", r.error_type), ("started", r.started), ("ended", r.ended), ("duration s", r.duration_s),
        ("actor", r.actor), ("source", r.source), ("code", r.code), ("environment", r.environment),
        ("params", r.params), ("tags", r.tags), ("metrics", r.metrics), ("inputs", up), ("models", down),
        ("link", r.link),
    ):  # fmt: skip
        table.add_row(key, _fmt(value))
    console.print(table)


@click.group("datasets")
def datasets_group() -> None:
    """List and show dataset versions."""


@datasets_group.command("list")
@click.option("--name", help="Only versions of this dataset.")
@click.option("--system", help="Only datasets of this AI system.")
@listing_options
@pass_ctx
@handle_errors
def datasets_list(
    tc: TrailContext,
    name: str | None,
    system: str | None,
    limit: int | None,
    after: int | None,
    show_all: bool,
    as_json: bool,
    as_tsv: bool,
) -> None:
    """Dataset versions, newest first (--after SEQ continues with older versions)."""
    page = Page.from_options(limit, after, show_all, as_json, as_tsv)
    t = tc.trail()
    rows = _pages(lambda n, before: q.list_datasets(t, name=name, system=system, limit=n, before_seq=before), page)
    emit(
        page,
        ("ref", "seq", "roles", "format", "rows", "columns", "hash method", "registered"),
        rows,
        cells=lambda d: (
            d.ref, str(d.seq), ",".join(d.roles or [d.role]), d.format, _plain(d.rows), _plain(d.columns),
            d.hash_method, _plain(d.ts),
        ),
        as_dict=lambda d: d.to_dict(),
        cursor=lambda d: d.seq,
    )


@datasets_group.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@pass_ctx
@handle_errors
def datasets_show(tc: TrailContext, ref: str, as_json: bool) -> None:
    """One dataset version: hash, schema and profile."""
    d = q.get_dataset(tc.trail(), ref)
    if as_json:
        _echo_json(d.to_dict())
        return
    console.print(f"[bold]{escape(d.ref)}[/bold]  {d.hash_method} {d.content_hash}")
    console.print(
        f"roles {', '.join(d.roles or [d.role])}; format {d.format}; rows {d.rows}; source {d.source}", markup=False
    )
    table = _table("column", "dtype", "missing", "min", "max", "mean", "top")
    cols = d.profile.get("columns", {}) if isinstance(d.profile.get("columns"), dict) else {}
    for s in d.schema:
        p = cols.get(s.get("name"), {})
        top = ", ".join(f"{v} ({n})" for v, n in p.get("top", []))
        table.add_row(
            _fmt(s.get("name")), _fmt(s.get("dtype")), _fmt(p.get("missing")), _fmt(p.get("min")),
            _fmt(p.get("max")), _fmt(p.get("mean")), escape(top),
        )  # fmt: skip
    if d.schema:
        console.print(table)


@click.group("models")
def models_group() -> None:
    """List and show model versions."""


@models_group.command("list")
@click.option("--name", help="Only versions of this model.")
@click.option("--system", help="Only models of this AI system.")
@listing_options
@pass_ctx
@handle_errors
def models_list(
    tc: TrailContext,
    name: str | None,
    system: str | None,
    limit: int | None,
    after: int | None,
    show_all: bool,
    as_json: bool,
    as_tsv: bool,
) -> None:
    """Model versions, newest first (--after SEQ continues with older versions)."""
    page = Page.from_options(limit, after, show_all, as_json, as_tsv)
    t = tc.trail()
    rows = _pages(
        lambda n, before: q.list_models(t, name=name, system=system, limit=n, before_seq=before, newest_first=True),
        page,
    )
    state = _registry_state(t)
    emit(
        page,
        ("model", "seq", "system", "state", "format", "framework", "run", "datasets", "registrant", "registered"),
        rows,
        cells=lambda m: (
            str(m), str(m.seq), _plain(m.system), state(m), _plain(m.artifact.get("format")),
            _plain(m.artifact.get("framework")), m.run_id or "", ", ".join(d["ref"] for d in m.datasets),
            _plain(m.registrant), _plain(m.ts),
        ),
        as_dict=lambda m: {**m.to_dict(), "status": state(m), "state": state(m)},
        cursor=lambda m: m.seq,
    )


@models_group.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@pass_ctx
@handle_errors
def models_show(tc: TrailContext, ref: str, as_json: bool) -> None:
    """One model version: artifact, signature, training range, run and datasets."""
    m = q.get_model_version(tc.trail(), ref)
    if as_json:
        _echo_json(m.to_dict())
        return
    table = _table("field", "value")
    for key, value in (
        ("model", str(m)), ("system", m.system), ("status", m.status), ("artifact", m.artifact),
        ("signature", m.signature), ("training range", m.training_range), ("run", m.run_id),
        ("datasets", m.datasets), ("registrant", m.registrant), ("registered", m.ts), ("imported", m.imported),
    ):  # fmt: skip
        table.add_row(key, _fmt(value))
    console.print(table)


# ---------------------------------------------------------------------------------------- registering


@click.group("dataset")
def dataset_group() -> None:
    """Register dataset versions."""


@dataset_group.command("register")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--name", required=True, help="Dataset name.")
@click.option("--role", type=click.Choice(DATASET_ROLES), default="train", show_default=True)
@click.option("--system", required=True, envvar="MODELTRAIL_SYSTEM", help="AI system name.")
@click.option("--source", help="Where the data lives (default: PATH).")
@click.option("--run", "run_id", metavar="ID", help="Run that uses this dataset.")
@click.option("--parent", "parents", multiple=True, metavar="REF", help="Dataset version it derives from.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@_actor_options("--actor-role")
@pass_ctx
@handle_errors
def dataset_register(
    tc: TrailContext,
    path: Path,
    name: str,
    role: str,
    system: str,
    source: str | None,
    run_id: str | None,
    parents: tuple[str, ...],
    as_json: bool,
    actor_id: str | None,
    actor_role: str | None,
) -> None:
    """Hash, describe and register a file or folder; prints its reference."""
    t = tc.trail()
    refs = [q.get_dataset(t, p).ref for p in parents]
    d = ds_mod.register_dataset(
        t,
        path,
        name=name,
        system=system,
        actor=cli_actor(actor_id, actor_role, tc.trail()),
        role=role,
        source=source,
        run=run_id,
        parents=refs,
    )
    if as_json:
        _echo_json(d.to_dict())
    else:
        click.echo(d.ref)


@dataset_group.command("import-dvc")
@click.argument("repo", type=click.Path(exists=True, file_okay=False, path_type=Path), default=".")
@click.option("--system", required=True, envvar="MODELTRAIL_SYSTEM", help="AI system name.")
@click.option("--role", type=click.Choice(DATASET_ROLES), default="other", show_default=True)
@_actor_options("--actor-role")
@pass_ctx
@handle_errors
def dataset_import_dvc(
    tc: TrailContext, repo: Path, system: str, role: str, actor_id: str | None, actor_role: str | None
) -> None:
    """Register the outputs in dvc.lock and *.dvc files with their DVC md5."""
    from ..integrations.dvc import import_dvc

    for d in import_dvc(
        tc.trail(), repo, system=system, actor=cli_actor(actor_id, actor_role, tc.trail()), role=role
    ):
        click.echo(d.ref)


@click.group("model")
def model_group() -> None:
    """Register model versions."""


@model_group.command("register")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--name", required=True, help="Model name.")
@click.option("--system", required=True, envvar="MODELTRAIL_SYSTEM", help="AI system name.")
@click.option("--run", "run_id", metavar="ID", help="Run that produced the model.")
@click.option("--dataset", "datasets", multiple=True, metavar="REF", help="Dataset version it was trained on.")
@click.option("--trusted", is_flag=True, help="Allow registering a pickle file.")
@click.option(
    "--signing-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Public key (PEM): the folder's OpenSSF model.sig must verify with it.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@_actor_options()
@pass_ctx
@handle_errors
def model_register(
    tc: TrailContext,
    path: Path,
    name: str,
    system: str,
    run_id: str | None,
    datasets: tuple[str, ...],
    trusted: bool,
    signing_key: Path | None,
    as_json: bool,
    actor_id: str | None,
    actor_role: str | None,
) -> None:
    """Store a model file or folder as the next version of NAME; prints NAME@VERSION."""
    m = model_mod.register_model(
        tc.trail(),
        path,
        name=name,
        system=system,
        actor=cli_actor(actor_id, actor_role, tc.trail()),
        run=run_id,
        datasets=list(datasets),
        trusted=trusted,
        signing_key=signing_key,
    )
    if as_json:
        _echo_json(m.to_dict())
    else:
        click.echo(str(m))


# ------------------------------------------------------------------------------------------- lineage


def _merge(a: q.Graph, b: q.Graph) -> q.Graph:
    edges = {(e["src"], e["dst"], e["rel"]): e for e in [*a.edges, *b.edges]}
    return q.Graph(root=a.root, direction="both", nodes={**a.nodes, **b.nodes}, edges=list(edges.values()))


@click.command("lineage")
@click.argument("entity")
@click.option("--up", "direction", flag_value="up", help="Only what ENTITY was built from.")
@click.option("--down", "direction", flag_value="down", help="Only what was built from ENTITY.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--dot", "as_dot", is_flag=True, help="Graphviz DOT output.")
@click.option("--depth", type=int, help="At most this many steps away.")
@pass_ctx
@handle_errors
def lineage_cmd(
    tc: TrailContext, entity: str, direction: str | None, as_json: bool, as_dot: bool, depth: int | None
) -> None:
    """Everything upstream and/or downstream of a dataset, run, model version or deployment.

    ENTITY: model NAME@VERSION, dataset:NAME[@HASH], a run id, deployment:NAME@V/ENV.
    """
    t = tc.trail()
    if direction == "up":
        graph = q.upstream(t, entity, depth=depth)
    elif direction == "down":
        graph = q.downstream(t, entity, depth=depth)
    else:
        graph = _merge(q.upstream(t, entity, depth=depth), q.downstream(t, entity, depth=depth))
    if as_dot:
        click.echo(q.export_dot(graph), nl=False)
        return
    if as_json:
        click.echo(q.to_json(graph))
        return
    console.print(f"[bold]{escape(graph.root)}[/bold] ({graph.direction})")
    table = _table("from", "relation", "to")
    for e in sorted(graph.edges, key=lambda e: (e["seq"], e["src"], e["dst"])):
        table.add_row(escape(e["src"]), e["rel"], escape(e["dst"]))
    console.print(table)


# --------------------------------------------------------------------------------------------- import


@click.group("import")
def import_group() -> None:
    """Import records from other tools."""


@import_group.command("mlflow")
@click.argument("run_id", required=False)
@click.option("--tracking-uri", required=True, envvar="MLFLOW_TRACKING_URI", help="MLflow tracking URI.")
@click.option("--registry-uri", help="MLflow model registry URI (default: the tracking URI).")
@click.option("--model", "model", metavar="NAME@VERSION", help="Import this registered model version.")
@click.option("--system", required=True, envvar="MODELTRAIL_SYSTEM", help="AI system name.")
@_actor_options()
@pass_ctx
@handle_errors
def import_mlflow_cmd(
    tc: TrailContext,
    run_id: str | None,
    tracking_uri: str,
    registry_uri: str | None,
    model: str | None,
    system: str,
    actor_id: str | None,
    actor_role: str | None,
) -> None:
    """Import an MLflow run (RUN_ID) and/or a registered model version (--model NAME@VERSION)."""
    from ..integrations.mlflow import import_mlflow_model_version, import_mlflow_run

    if not run_id and not model:
        raise ValidationError("give RUN_ID and/or --model NAME@VERSION", field="run_id")
    t = tc.trail()
    actor = cli_actor(actor_id, actor_role, tc.trail())
    if run_id:
        r = import_mlflow_run(
            t, run_id, tracking_uri=tracking_uri, registry_uri=registry_uri, system=system, actor=actor
        )
        click.echo(f"run {r.run_id}")
    if model:
        name, sep, version = model.rpartition("@")
        if not sep or not version.isdigit():
            raise ValidationError(f"expected NAME@VERSION, got {model!r}", field="model")
        m = import_mlflow_model_version(
            t, name, int(version), tracking_uri=tracking_uri, registry_uri=registry_uri, system=system, actor=actor
        )
        click.echo(f"model {m}")


COMMANDS: list[click.Command] = [
    run_group,
    runs_group,
    datasets_group,
    models_group,
    dataset_group,
    model_group,
    lineage_cmd,
    import_group,
]
