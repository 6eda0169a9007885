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
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..errors import ModeltrailError, ValidationError
from ..events import Actor
from ..trail import Trail, init, open_trail
from ..version import __version__

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn library errors into one clear line on stderr and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ValidationError as exc:
            err_console.print("[red]error:[/red] " + escape(str(exc)), highlight=False)
            sys.exit(2)
        except ModeltrailError as exc:
            err_console.print("[red]error:[/red] " + escape(str(exc)), highlight=False)
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
            self._trail = open_trail(self.location)
        return self._trail

    def close(self) -> None:
        """Close the trail if it was opened."""
        if self._trail is not None:
            self._trail.close()


pass_ctx = click.make_pass_decorator(TrailContext)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
@handle_errors
def init_cmd(path: Path | None, origin: str | None, url: str | None, every: int, seconds: float) -> None:
    """Create a trail in PATH (default ./.modeltrail): ledger, blobs/, keys/ and a signing key."""
    with init(path, origin=origin, url=url, checkpoint_every_events=every, checkpoint_every_seconds=seconds) as t:
        cp = t.latest_checkpoint()
        console.print(f"Created trail at [bold]{t.path}[/bold]")
        console.print(f"origin       {t.origin}")
        console.print(f"verifier key {t.signer().verifier_key()}")
        if cp is not None:
            console.print(f"checkpoint   size {cp.size} root {cp.root.hex()}")


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
@click.option("--limit", type=int, help="At most this many events.")
@click.option("--reverse", is_flag=True, help="Newest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line: seq, leaf (base64), leaf_hash, event.")
@pass_ctx
@handle_errors
def log_cmd(
    tc: TrailContext,
    type_glob: str | None,
    since: str | None,
    until: str | None,
    subject: str | None,
    limit: int | None,
    reverse: bool,
    as_json: bool,
) -> None:
    """List ledger events."""
    t = tc.trail()
    events = t.events(type_glob, subject=subject, since=since, until=until, limit=limit, descending=reverse)
    if as_json:
        out = sys.stdout
        for ev in events:
            # ASCII output: U+2028/U+2029 inside values would split lines for many JSON-lines readers.
            out.write(json.dumps(_event_json(ev.leaf, ev.leaf_hash), separators=(",", ":")))
            out.write("\n")
        return
    # One line per event: long values are cut with an ellipsis (``show SEQ`` or ``--json`` give everything).
    rows = [
        (
            str(ev.seq),
            ev.ts[:19].replace("T", " "),
            ev.type,
            ev.actor.id,
            ev.subject or "",
            json.dumps(ev.payload, ensure_ascii=False, separators=(",", ":")),
        )
        for ev in events
    ]

    def width(i: int, cap: int) -> int:
        return max([len(("seq", "ts", "type", "actor", "subject")[i])] + [min(len(r[i]), cap) for r in rows])

    table = Table(box=None, header_style="bold", pad_edge=False)
    widths = [width(i, cap) for i, cap in enumerate((12, 19, 24, 14, 30))]
    for i, name in enumerate(("seq", "ts", "type", "actor", "subject")):
        table.add_column(name, no_wrap=True, width=widths[i] + 1, justify="right" if i == 0 else "left")
    # Cut values to their column ourselves: a no-wrap column would otherwise claim its full length.
    room = max(10, console.width - sum(widths) - 2 * len(widths) - 2)
    table.add_column("payload", no_wrap=True, width=room)

    def cut(text: str, n: int) -> str:
        return text if len(text) <= n else text[: n - 1] + "…"

    for r in rows:
        table.add_row(*(cut(v, w) for v, w in zip(r[:5], widths, strict=True)), cut(r[5], room))
    console.print(table)


@main.command("show")
@click.argument("seq", type=int)
@pass_ctx
@handle_errors
def show_cmd(tc: TrailContext, seq: int) -> None:
    """Show one event in full, with its leaf hash."""
    ev = tc.trail().get_event(seq)
    click.echo(json.dumps(_event_json(ev.leaf, ev.leaf_hash), indent=2, ensure_ascii=False))


@main.command("record")
@click.argument("type_")
@click.option("--system", required=True, help="AI system name.")
@click.option("--actor", "actor_id", required=True, help="Actor id.")
@click.option("--role", required=True, help="Actor role.")
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
    actor_id: str,
    role: str,
    kind: str,
    subject: str | None,
    payload: str,
    refs: tuple[str, ...],
) -> None:
    """Append one event (for pipelines that are not written in Python)."""
    text = Path(payload[1:]).read_text(encoding="utf-8") if payload.startswith("@") else payload
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"expected a JSON object: {exc}", field="payload") from None
    r = tc.trail().record(
        type_,
        system=system,
        actor=Actor(actor_id, role, kind),
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


@main.command("verify")
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
    as_json: bool,
    keys: tuple[str, ...],
    notes: tuple[Path, ...],
    workers: int,
    witnesses: tuple[str, ...],
    min_witnesses: int | None,
) -> None:
    """Recompute and check every event, tree node, checkpoint root and signature. Exit 1 on any problem."""
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
        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeRemainingColumn(),
            console=err_console,
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
        console.print(
            f"[green]OK[/green] {res.events_checked} events, {res.nodes_checked} tree nodes, "
            f"{res.checkpoints_checked} checkpoints, {res.consistency_proofs_checked} consistency proofs; "
            f"root {res.root}"
        )
    else:
        p = res.first_problem
        assert p is not None
        where = f"seq {p.seq}" if p.seq is not None else f"checkpoint {p.checkpoint}"
        err_console.print(f"[red]FAILED[/red] at {where}: {p.message}")
        for other in res.problems[1:]:
            err_console.print(f"  also: {other.kind} seq={other.seq} checkpoint={other.checkpoint}: {other.message}")
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
    console.print(f"folded {folded} events into {len(rebuilt)} projection tables")
    if differ:
        err_console.print(f"[red]rebuilt state differs from the live state in:[/red] {', '.join(differ)}")
        sys.exit(1)
    if check:
        console.print("rebuilt state equals the live state")


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
@click.option(
    "--as",
    "as_user",
    metavar="USER",
    help="Act as USER (only when the policy sets allow_impersonation: true; tests and demos).",
)
@click.option("--actor", "legacy_actor", hidden=True)
@click.option("--role", "legacy_role", hidden=True)
@pass_ctx
@handle_errors
def key_rotate(
    tc: TrailContext, reason: str, as_user: str | None, legacy_actor: str | None, legacy_role: str | None
) -> None:
    """Create a new signing key; the rotation is a ledger event and old checkpoints still verify.

    Who rotates is resolved like every privileged command (API token, $MODELTRAIL_USER, the trail config,
    or --as where the policy allows it) and needs one of the policy's roles.keys (default: admin). A
    refusal is recorded as key.rotation_refused.
    """
    from ..identity import local_identity

    if legacy_actor is not None or legacy_role is not None:
        raise ValidationError(
            "key rotate no longer takes --actor/--role: the acting identity comes from MODELTRAIL_TOKEN, "
            "MODELTRAIL_USER or the trail config (or --as USER where the policy allows impersonation)",
            field="--actor",
        )
    t = tc.trail()
    cp = t.rotate_key(local_identity(t, as_user=as_user), reason=reason)
    click.echo(t.signer().verifier_key())
    click.echo(cp.note, nl=False)


def _register_extensions() -> None:
    """Attach the command modules of the other feature areas."""
    import importlib

    for name in EXTENSIONS:
        try:
            mod = importlib.import_module(f"modeltrail.cli.{name}")
        except ModuleNotFoundError as exc:
            # An optional extra (fastapi, mlflow …) is not installed: its commands are simply absent.
            missing = exc.name or ""
            if missing.startswith("modeltrail") and missing != f"modeltrail.cli.{name}":
                raise
            continue
        for cmd in getattr(mod, "COMMANDS", []):
            main.add_command(cmd)


#: Feature areas whose click commands are attached to ``main`` (a missing optional extra is skipped).
EXTENSIONS: list[str] = [
    "policy",
    "evaluate",
    "registry",
    "lineage",
    "runtime",
    "server",
    "demo",
    "monitor",
    "governance",
]

_register_extensions()
