"""The ``modeltrail`` command line: a thin layer over the library.

Exit codes: 0 success; 1 a check failed (verify, gate) or an operation was refused; 2 bad input
(usage, validation). Errors print one line to stderr naming the field and what was expected.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import ModeltrailError, ValidationError
from ..version import __version__
from .flags import actor_options, impersonation_option
from .listing import Page, emit, listing_options

if TYPE_CHECKING:
    from rich.console import Console

    from ..trail import Trail

F = TypeVar("F", bound=Callable[..., Any])


def __getattr__(name: str) -> Console:
    """``console`` and ``err_console`` are made on first use: importing rich costs start-up time."""
    if name in ("console", "err_console"):
        from rich.console import Console

        made = Console(stderr=name == "err_console")
        globals()[name] = made
        return made
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _out() -> Console:
    """The stdout console (a test may have patched it)."""
    return __getattr__("console") if "console" not in globals() else globals()["console"]


def _err() -> Console:
    """The stderr console."""
    return __getattr__("err_console") if "err_console" not in globals() else globals()["err_console"]


def handle_errors(fn: F) -> F:
    """Turn library errors into one clear line on stderr and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ValidationError as exc:
            from rich.markup import escape

            _err().print("[red]error:[/red] " + escape(str(exc)), highlight=False)
            sys.exit(2)
        except ModeltrailError as exc:
            from rich.markup import escape

            _err().print("[red]error:[/red] " + escape(str(exc)), highlight=False)
            sys.exit(1)
        except OSError as exc:
            # A file the command was pointed at cannot be read or written (missing, a directory, a full
            # disk): one line naming it, as for the library's own errors, not a traceback.
            from rich.markup import escape

            where = f"{exc.filename}: " if exc.filename else ""
            _err().print("[red]error:[/red] " + escape(f"{where}{exc.strerror or exc}"), highlight=False)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


class TrailContext:
    """Lazily opened trail shared by the commands of one invocation."""

    def __init__(self, location: str | None) -> None:
        self.location = location
        self._trail: Trail | None = None

    def trail(self) -> Trail:
        """Open (once) the selected trail."""
        if self._trail is None:
            from ..trail import open_trail

            self._trail = open_trail(self.location)
        return self._trail

    def close(self) -> None:
        """Close the trail if it was opened."""
        if self._trail is not None:
            self._trail.close()


pass_ctx = click.make_pass_decorator(TrailContext)


class LazyGroup(click.Group):
    """The root group: extension commands are imported when they are used, not at start-up.

    :data:`LAZY_COMMANDS` names each extension command's module and short help, so ``--help`` lists
    every command without importing pandas, scipy or scikit-learn. A module in :data:`EXTENSIONS` with
    no entry there still works: it is imported the first time a command name is not found, or when every
    command is listed. ``commands`` (click's dict) loads every extension on access, for tools that walk
    the whole tree (the docs generator, tests).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._commands: dict[str, click.Command] = {}
        self._loaded: set[str] = set()
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def commands(self) -> dict[str, click.Command]:
        """Every command, extensions included (imports them all)."""
        self._load_all()
        return self._commands

    @commands.setter
    def commands(self, value: dict[str, click.Command]) -> None:
        self._commands = dict(value)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Attach a command (without loading the extensions).

        A group whose name is taken by another group is merged into it: several feature areas add
        subcommands to ``modeltrail audit`` (see :data:`GROUP_CONTRIBUTORS`).
        """
        name = name or cmd.name
        if name is None:
            raise TypeError("Command has no name.")
        have = self._commands.get(name)
        if isinstance(have, click.Group) and isinstance(cmd, click.Group) and have is not cmd:
            for sub_name, sub in cmd.commands.items():
                have.add_command(sub, sub_name)
            return
        self._commands[name] = cmd

    def _load(self, module: str) -> None:
        if module in self._loaded:
            return
        self._loaded.add(module)
        import importlib

        try:
            mod = importlib.import_module(f"modeltrail.cli.{module}")
        except ModuleNotFoundError as exc:
            # An optional extra (fastapi, mlflow …) is not installed: its commands are simply absent.
            missing = exc.name or ""
            if missing.startswith("modeltrail") and missing != f"modeltrail.cli.{module}":
                raise
            return
        for cmd in getattr(mod, "COMMANDS", []):
            owner = LAZY_COMMANDS.get(cmd.name or "")
            if owner is not None and module in GROUP_CONTRIBUTORS.get(cmd.name or "", ()) and owner[0] in EXTENSIONS:
                # The owner's group first, so a contributor loaded earlier (for another of its commands)
                # adds to it instead of standing in for it.
                self._load(owner[0])
            self.add_command(cmd)

    def _load_all(self) -> None:
        for module in EXTENSIONS:
            self._load(module)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``, importing its module on first use."""
        if cmd_name not in self._commands:
            entry = LAZY_COMMANDS.get(cmd_name)
            if entry is not None and entry[0] in EXTENSIONS:
                self._load(entry[0])
        if cmd_name in GROUP_CONTRIBUTORS:
            for module in GROUP_CONTRIBUTORS[cmd_name]:
                self._load(module)
        if cmd_name not in self._commands:
            # A module without a table entry: it may be the one that has the command.
            for module in EXTENSIONS:
                if not any(m == module for m, _ in LAZY_COMMANDS.values()):
                    self._load(module)
        return self._commands.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, from the table (no import) and the loaded commands."""
        for module in EXTENSIONS:
            if not any(m == module for m, _ in LAZY_COMMANDS.values()):
                self._load(module)
        lazy = {n for n, (m, _) in LAZY_COMMANDS.items() if m in EXTENSIONS}
        return sorted(set(self._commands) | lazy)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``, from the static table where the command is not loaded yet."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows: list[tuple[str, str]] = []
        for name in names:
            cmd = self._commands.get(name)
            if cmd is not None:
                if cmd.hidden:
                    continue
                rows.append((name, cmd.get_short_help_str(limit)))
            else:
                # A stand-in command shortens the table's text exactly as click shortens the real one.
                stand_in = click.Command(name, help=LAZY_COMMANDS[name][1])
                rows.append((name, stand_in.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--trail",
    "location",
    envvar="MODELTRAIL_URL",
    metavar="PATH|URL",
    help="Trail folder, sqlite:///path or postgresql://… (default: nearest ./.modeltrail; env MODELTRAIL_URL).",
)
@click.version_option(__version__, prog_name="modeltrail")
@click.pass_context
def main(ctx: click.Context, location: str | None) -> None:
    """modeltrail — a tamper-evident audit trail for machine-learning systems."""
    tc = TrailContext(location)
    ctx.obj = tc
    ctx.call_on_close(tc.close)


@main.command("init")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--origin", help="Checkpoint origin line (a unique log name); default modeltrail.local/<random id>.")
@click.option("--url", help="Put the ledger in PostgreSQL (postgresql://…); keys and blobs stay in PATH.")
@click.option(
    "--checkpoint-every",
    "every",
    type=int,
    default=10_000,
    show_default=True,
    help="Events between automatic checkpoints.",
)
@click.option(
    "--checkpoint-seconds",
    "seconds",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds between automatic checkpoints.",
)
@click.option(
    "--blobs",
    metavar="LOCATION",
    help="Where blobs over 1 MiB go: the folder's blobs/ (default), 'database', or s3://BUCKET/PREFIX?endpoint_url=….",
)
@handle_errors
def init_cmd(
    path: Path | None, origin: str | None, url: str | None, every: int, seconds: float, blobs: str | None
) -> None:
    """Create a trail in PATH (default ./.modeltrail): ledger, blobs/, keys/ and a signing key."""
    from ..trail import init

    with init(
        path, origin=origin, url=url, checkpoint_every_events=every, checkpoint_every_seconds=seconds, blobs=blobs
    ) as t:
        cp = t.latest_checkpoint()
        _out().print(f"Created trail at [bold]{t.path}[/bold]")
        _out().print(f"origin       {t.origin}")
        _out().print(f"verifier key {t.signer().verifier_key()}")
        if cp is not None:
            _out().print(f"checkpoint   size {cp.size} root {cp.root.hex()}")


def _purged_json(ev: Any) -> dict[str, Any]:
    # What a purged row still says; "purged" tells a reader the leaf bytes are gone by design.
    return {
        "seq": ev.seq,
        "leaf": None,
        "leaf_hash": ev.leaf_hash.hex(),
        "purged": True,
        "event": {"seq": ev.seq, "ts": ev.ts, "type": ev.type, "system": ev.system},
    }


def _event_json(row_leaf: bytes, leaf_hash: bytes) -> dict[str, Any]:
    ev = json.loads(row_leaf)
    return {
        "seq": ev["seq"],
        "leaf": base64.b64encode(row_leaf).decode(),
        "leaf_hash": leaf_hash.hex(),
        "event": ev,
    }


@main.command("log")
@click.option("--type", "type_glob", metavar="GLOB", help="Event type glob, e.g. 'model.*'.")
@click.option("--since", metavar="TS", help="Only events at or after this ISO 8601 time.")
@click.option("--until", metavar="TS", help="Only events at or before this ISO 8601 time.")
@click.option("--subject", metavar="S", help="Only events about this subject.")
@click.option("--reverse", is_flag=True, help="Newest first (--after SEQ then continues with older events).")
@listing_options
@pass_ctx
@handle_errors
def log_cmd(
    tc: TrailContext,
    type_glob: str | None,
    since: str | None,
    until: str | None,
    subject: str | None,
    reverse: bool,
    limit: int | None,
    after: int | None,
    show_all: bool,
    as_json: bool,
    as_tsv: bool,
) -> None:
    """List ledger events, streamed and paged (--json: seq, leaf (base64), leaf_hash (hex), event)."""
    page = Page.from_options(limit, after, show_all, as_json, as_tsv)
    t = tc.trail()
    events = t.events(
        type_glob,
        subject=subject,
        since=since,
        until=until,
        limit=None if page.limit is None else page.limit + 1,
        descending=reverse,
        after_seq=None if reverse else page.after,
        before_seq=page.after if reverse else None,
    )
    emit(
        page,
        ("seq", "ts", "type", "actor", "subject", "payload"),
        events,
        cells=lambda ev: (
            str(ev.seq),
            ev.ts,
            ev.type,
            ev.actor.id,
            ev.subject or "",
            json.dumps(ev.payload, ensure_ascii=False, separators=(",", ":")),
        ),
        as_dict=lambda ev: _event_json(ev.leaf, ev.leaf_hash),
        cursor=lambda ev: ev.seq,
    )


@main.command("show")
@click.argument("seq", type=int)
@pass_ctx
@handle_errors
def show_cmd(tc: TrailContext, seq: int) -> None:
    """Show one event in full, with its leaf hash."""
    ev = tc.trail().get_event(seq)
    out = _purged_json(ev) if ev.purged else _event_json(ev.leaf, ev.leaf_hash)
    click.echo(json.dumps(out, indent=2, ensure_ascii=False))


@main.command("record")
@click.argument("type_")
@click.option("--system", required=True, help="AI system name.")
@actor_options(None)
@click.option("--kind", type=click.Choice(["human", "service", "system"]), default="service", show_default=True)
@click.option("--subject", help="Subject reference, e.g. model:credit@2.")
@click.option("--payload", default="{}", help="JSON object, or @file.json.")
@click.option("--ref", "refs", multiple=True, help="Reference such as event:12 (repeatable).")
@pass_ctx
@handle_errors
def record_cmd(
    tc: TrailContext,
    type_: str,
    system: str,
    actor_id: str | None,
    actor_role: str | None,
    kind: str,
    subject: str | None,
    payload: str,
    refs: tuple[str, ...],
) -> None:
    """Append one event (for pipelines that are not written in Python); --actor and --actor-role are required."""
    from ..events import Actor

    if actor_id is None:
        raise ValidationError("expected the actor's id", field="--actor")
    if actor_role is None:
        raise ValidationError("expected the actor's role", field="--actor-role")

    from ..ledger.encoding import loads_strict

    text = payload
    if payload.startswith("@"):
        try:
            text = Path(payload[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or exc
            raise ValidationError(f"cannot read {payload[1:]}: {why}", field="payload") from None
    try:
        data = loads_strict(text, "")
    except ValidationError as exc:
        raise exc.within("payload") from None
    r = tc.trail().record(
        type_,
        system=system,
        actor=Actor(actor_id, actor_role, kind),
        subject=subject,
        payload=data,
        refs=list(refs),
    )
    click.echo(json.dumps({"seq": r.seq, "leaf_hash": r.leaf_hash, "ts": r.ts}))


@main.command("checkpoint")
@click.option("--json", "as_json", is_flag=True, help="Print the checkpoint as JSON.")
@pass_ctx
@handle_errors
def checkpoint_cmd(tc: TrailContext, as_json: bool) -> None:
    """Sign a checkpoint of the current tree head and print the signed note."""
    cp = tc.trail().checkpoint()
    if as_json:
        click.echo(json.dumps({"id": cp.id, "size": cp.size, "root": cp.root.hex(), "note": cp.note, "ts": cp.ts}))
    else:
        click.echo(cp.note, nl=False)


@main.command("prove")
@click.argument("seq", type=int, required=False)
@click.option("--size", type=int, help="Tree size to prove against (default: latest checkpoint covering SEQ).")
@click.option("--consistency", nargs=2, type=int, metavar="OLD NEW", help="Prove consistency between two sizes.")
@pass_ctx
@handle_errors
def prove_cmd(tc: TrailContext, seq: int | None, size: int | None, consistency: tuple[int, int] | None) -> None:
    """Print an inclusion proof for SEQ, or a consistency proof with --consistency OLD NEW (JSON)."""
    t = tc.trail()
    if consistency:
        out = t.consistency_proof(consistency[0], consistency[1]).to_dict()
    elif seq is None:
        raise ValidationError("give SEQ or --consistency OLD NEW", field="SEQ")
    else:
        out = t.inclusion_proof(seq, size).to_dict()
    click.echo(json.dumps(out, indent=2))


def _read_note(path: Path) -> str:
    """A checkpoint note file as text (ValidationError for a binary or unreadable file, not a traceback)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{path} is not a text checkpoint note", field="checkpoint") from None
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}", field="checkpoint") from None


def _verify_bundle(path: Path, keys: tuple[str, ...], as_json: bool) -> None:
    """``modeltrail verify BUNDLE.zip``: verify an audit bundle offline and exit 0 (valid) or 1."""
    from rich.markup import escape

    from ..audit.bundle_verify import verify_bundle

    res = verify_bundle(path, pinned_keys=keys)
    if as_json:
        click.echo(json.dumps(res.to_dict(), indent=2))
    elif res.ok:
        rng = f", range {res.range[0]}..{res.range[1] - 1} complete ({res.omitted} leaf hashes)" if res.range else ""
        pin = "pinned" if keys else "NOT pinned (pass --key to compare with a key obtained separately)"
        _out().print(
            f"[green]OK[/green] bundle of {escape(res.system)} from {escape(res.origin)}: {res.events} events in "
            f"the signed head of size {res.head_size}{rng}; {res.checkpoints} checkpoints, "
            f"{res.consistency_proofs} consistency proofs, {res.blobs} documents, {res.sealed} sealed records, "
            f"{res.witness_signatures} witness cosignatures; first key {pin}"
        )
    else:
        for p in res.problems:
            click.echo(f"FAILED {p.kind}: {p.message}", err=True)
    sys.exit(0 if res.ok else 1)


@main.command("verify")
@click.argument("bundle", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
@click.option("--key", "keys", multiple=True, help="Trusted verifier key (repeatable); default: the trail's own keys.")
@click.option(
    "--checkpoint",
    "notes",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A signed checkpoint kept outside the trail; the log must be consistent with it (repeatable).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Processes for large logs (0: one per CPU core; 1: no worker processes).",
)
@click.option("--witness", "witnesses", multiple=True, help="Witness verifier key that must cosign (repeatable).")
@click.option("--min-witnesses", type=click.IntRange(min=1), help="How many of the --witness keys must (default: all).")
@pass_ctx
@handle_errors
def verify_cmd(
    tc: TrailContext,
    bundle: Path | None,
    as_json: bool,
    keys: tuple[str, ...],
    notes: tuple[Path, ...],
    workers: int,
    witnesses: tuple[str, ...],
    min_witnesses: int | None,
) -> None:
    """Recompute and check every event, tree node, checkpoint root and signature. Exit 1 on any problem.

    With BUNDLE.zip, verify that audit bundle instead, offline and without a trail (--key pins the first key).
    """
    if bundle is not None:
        return _verify_bundle(bundle, keys, as_json)
    t = tc.trail()
    extra = [_read_note(p) for p in notes]
    trusted = list(keys) if keys else None
    size = t.size()
    if as_json or size < 200_000 or not sys.stderr.isatty():
        res = t.verify(
            trusted_keys=trusted,
            extra_checkpoints=extra,
            workers=workers,
            witnesses=witnesses,
            min_witnesses=min_witnesses,
        )
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeRemainingColumn(),
            console=_err(),
        ) as bar:
            task = bar.add_task("verify", total=size)
            res = t.verify(
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                trusted_keys=trusted,
                extra_checkpoints=extra,
                workers=workers,
                witnesses=witnesses,
                min_witnesses=min_witnesses,
            )
    if as_json:
        click.echo(json.dumps(res.to_dict(), indent=2))
    elif res.ok:
        _out().print(
            f"[green]OK[/green] {res.events_checked} events, {res.nodes_checked} tree nodes, "
            f"{res.checkpoints_checked} checkpoints, {res.consistency_proofs_checked} consistency proofs; "
            f"root {res.root}"
        )
        if res.purged:
            # Purged leaves are lawful forgetting, not damage: said apart so nobody mistakes one for the other.
            ranges = ", ".join(f"{a}..{b}" if a != b else str(a) for a, b in res.purged[:5])
            more = f" and {len(res.purged) - 5} more ranges" if len(res.purged) > 5 else ""
            _out().print(
                f"   {res.purged_count} purged events (payload removed by retention or erasure, leaf hashes "
                f"kept and verified): {ranges}{more}"
            )
    else:
        p = res.first_problem
        assert p is not None
        where = f"seq {p.seq}" if p.seq is not None else f"checkpoint {p.checkpoint}"
        _err().print(f"[red]FAILED[/red] at {where}: {p.message}")
        for other in res.problems[1:]:
            _err().print(f"  also: {other.kind} seq={other.seq} checkpoint={other.checkpoint}: {other.message}")
    sys.exit(0 if res.ok else 1)


@main.command("rebuild")
@click.option("--check", is_flag=True, help="Say so when the rebuilt state equals the live one.")
@pass_ctx
@handle_errors
def rebuild_cmd(tc: TrailContext, check: bool) -> None:
    """Drop every projection (registry, lineage, review queue, …) and fold the ledger again."""
    from .. import projections

    t = tc.trail()
    live = projections.snapshot(t)
    folded = projections.rebuild(t)
    rebuilt = projections.snapshot(t)
    differ = sorted(name for name in set(live) | set(rebuilt) if live.get(name) != rebuilt.get(name))
    _out().print(f"folded {folded} events into {len(rebuilt)} projection tables")
    if differ:
        _err().print(f"[red]rebuilt state differs from the live state in:[/red] {', '.join(differ)}")
        sys.exit(1)
    if check:
        _out().print("rebuilt state equals the live state")


@main.group("key")
def key_group() -> None:
    """Checkpoint signing keys."""


@key_group.command("show")
@click.option("--all", "show_all", is_flag=True, help="Also list rotated-away keys.")
@pass_ctx
@handle_errors
def key_show(tc: TrailContext, show_all: bool) -> None:
    """Print the public verifier key (note verifier-key format)."""
    t = tc.trail()
    if show_all:
        for k in t.verifier_keys():
            click.echo(k)
    else:
        click.echo(t.signer().verifier_key())


@key_group.command("rotate")
@click.option("--reason", default="scheduled rotation", show_default=True)
@impersonation_option
@click.option("--role", "legacy_role", hidden=True)
@pass_ctx
@handle_errors
def key_rotate(tc: TrailContext, reason: str, as_user: str | None, legacy_role: str | None) -> None:
    """Create a new signing key; the rotation is a ledger event and old checkpoints still verify.

    Who rotates is resolved like every privileged command (API token, $MODELTRAIL_USER, the trail config,
    or --actor USER where the policy allows it) and needs one of the policy's roles.keys (default: admin). A
    refusal is recorded as key.rotation_refused.
    """
    from ..identity import local_identity

    if legacy_role is not None:
        raise ValidationError(
            "key rotate takes no --role: the acting identity comes from MODELTRAIL_TOKEN, MODELTRAIL_USER or "
            "the trail config (or --actor USER where the policy allows impersonation), its roles from the policy",
            field="--role",
        )
    t = tc.trail()
    cp = t.rotate_key(local_identity(t, as_user=as_user), reason=reason)
    click.echo(t.signer().verifier_key())
    click.echo(cp.note, nl=False)


#: Feature areas whose click commands are attached to ``main`` (a missing optional extra is skipped).
EXTENSIONS: list[str] = [
    "policy",
    "evaluate",
    "registry",
    "lineage",
    "runtime",
    "server",
    "console",
    "demo",
    "monitor",
    "governance",
    "audit",
    "documents",
    "retention",
]

#: Extension command name -> (module in EXTENSIONS, short help), so start-up imports none of them.
#: tests/test_cli_startup.py checks this table against the real commands: keep it in step.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "policy": ("policy", "Check and display policy files."),
    "evaluate": ("evaluate", "Evidence reports (data governance, performance, fairness, explainability, robustness)."),
    "classify": (
        "registry",
        "Classify the AI system's risk under the EU AI Act and record the result "
        "(system.classified).",
    ),
    "gate": ("registry", "Policy gates (usable as a CI step)."),
    "approve": (
        "registry",
        "Approve MODEL@VERSION for STAGE (roles and four-eyes rule from the policy; signed where required).",
    ),
    "reject": ("registry", "Reject MODEL@VERSION for good (signed where the stage requires it)."),
    "revoke-approval": ("registry", "Withdraw your own approval of MODEL@VERSION for STAGE."),
    "deploy": ("registry", "Deploy MODEL@VERSION to ENV; refused without a passed gate and complete approvals."),
    "suspend": ("registry", "Suspend MODEL[@VERSION] in ENV (kill switch; roles.suspend)."),
    "resume": ("registry", "Resume MODEL[@VERSION] in ENV (roles.resume)."),
    "retire": ("registry", "Retire MODEL@VERSION."),
    "status": (
        "registry",
        "Show MODEL@VERSION (or every version of MODEL): state, gates, approvals, deployments, "
        "break-glass.",
    ),
    "audit": ("registry", "Questions an auditor asks of the trail."),
    "token": ("registry", "API tokens (identity for CI jobs and services)."),
    "run": ("lineage", "Track a training run from the shell (start, log, end)."),
    "runs": ("lineage", "List and show training runs."),
    "datasets": ("lineage", "List and show dataset versions."),
    "models": ("lineage", "List and show model versions."),
    "dataset": ("lineage", "Register dataset versions."),
    "model": ("lineage", "Register model versions."),
    "lineage": ("lineage", "Everything upstream and/or downstream of a dataset, run, model version or deployment."),
    "import": ("lineage", "Import records from other tools."),
    "review": ("runtime", "Human oversight: the review queue and review decisions."),
    "label": (
        "runtime",
        "Record ground-truth labels from FILE.csv (columns decision_id, actual) as inference.label "
        "events.",
    ),
    "reveal": ("runtime", "Unseal DECISION's sealed inputs (reveal role only); every attempt is recorded."),
    "serve": (
        "server",
        "Serve the HTTP API and the oversight console at / (sign in: `modeltrail console user add`); API "
        "docs at /docs.",
    ),
    "console": ("console", "The oversight web console served by `modeltrail serve`: sign-in accounts."),
    "monitor": ("monitor", "Post-market monitoring (Art. 72): profiles, drift, performance, fairness and alerts."),
    "incident": ("monitor", "Serious incidents (Art. 73) and their reporting deadlines."),
    "export": ("audit", "Standard exports of a model version: CycloneDX ML-BOM, in-toto/SLSA provenance, OpenLineage."),
    "docs": ("documents", "Documents generated from evidence (Annex IV, model and dataset cards, declaration, …)."),
    "witness": (
        "governance",
        "A cosigning witness (C2SP tlog-witness): run it as another user, ideally on another machine.",
    ),
    "retention": (
        "retention",
        "Retention schedules: what the policy's rules let go (plan) and the verifiable purge (apply).",
    ),
    "hold": ("retention", "Legal holds: while one is in force, what it covers is neither purged nor erased."),
    "erase": (
        "retention",
        "Erase a data subject (GDPR Art. 17): unlink, shred keys, purge what names them; records subject.erased.",
    ),
    "subject": ("retention", "Data subject requests: access and explanation (GDPR Art. 15, AI Act Art. 86)."),
    "demo": (
        "demo",
        "Run the whole story on the real German Credit data: lineage, evidence, gates, approvals, "
        "serving with oversight, the kill switch, verification and a reconstructed decision.",
    ),
}

#: Group name -> the other EXTENSIONS modules that add subcommands to it (merged by LazyGroup.add_command).
GROUP_CONTRIBUTORS: dict[str, tuple[str, ...]] = {
    "audit": ("governance", "audit"),
    "export": ("retention",),
    "policy": ("registry",),  # policy set
}

if __name__ == "__main__":
    main()
