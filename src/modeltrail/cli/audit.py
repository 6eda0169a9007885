"""Audit commands: ``audit reconstruct``, ``audit tabletop``, ``audit trace``, ``audit export`` and ``export``.

A thin layer over :mod:`modeltrail.audit` and :mod:`modeltrail.exports`: each command calls one library
function and prints its result. Who acts (for reveals and for the recorded exercise) is resolved like
every other command (API token, ``$MODELTRAIL_USER``, the trail config, or ``--as`` where the policy
allows it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from ..errors import ModeltrailError, NotFoundError, ValidationError
from ..identity import Identity, resolve_identity
from ..trail import Trail
from .flags import impersonation_option
from .main import TrailContext, console, handle_errors, pass_ctx

_AS = impersonation_option


@click.group("audit")
def audit_group() -> None:
    """Questions an auditor asks of the trail: reconstruct a decision, tabletop exercises, traces, bundles."""


def _identity(trail: Trail, system: str | None, as_user: str | None) -> Identity:
    from ..registry.policy_store import current_policy

    try:
        policy = current_policy(trail, system)
    except NotFoundError:
        policy = None
    return resolve_identity(trail, policy, as_user=as_user)


@audit_group.command("reconstruct")
@click.argument("decision_id")
@click.option("--reveal", is_flag=True, help="Also unseal the sealed inputs (reveal role only; recorded).")
@click.option("--purpose", help="Why the sealed inputs are needed (required with --reveal; recorded).")
@click.option("--json", "as_json", is_flag=True, help="Print the full reconstruction as JSON.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), help="Write an HTML page.")
@_AS
@pass_ctx
@handle_errors
def reconstruct_cmd(
    tc: TrailContext,
    decision_id: str,
    reveal: bool,
    purpose: str | None,
    as_json: bool,
    html_out: Path | None,
    as_user: str | None,
) -> None:
    """Everything about DECISION_ID: inputs, model and its lineage, gate, approvals, deployment in force,
    human oversight, labels, and its inclusion proof verified against a signed checkpoint."""
    from ..audit.reconstruct import reconstruct, render_html
    from ..runtime.oversight import decision_event

    t = tc.trail()
    if purpose is not None and not reveal:
        raise ValidationError("--purpose is only used with --reveal", field="--purpose")
    actor = None
    if reveal:
        if not purpose:
            raise ValidationError("--reveal needs --purpose TEXT (it is recorded)", field="--purpose")
        actor = _identity(t, decision_event(t, decision_id).system, as_user)
    rec = reconstruct(t, decision_id, reveal=reveal, purpose=purpose, actor=actor)
    if html_out is not None:
        html_out.write_text(render_html(rec), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(rec.to_dict(), indent=2, ensure_ascii=False))
        return
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for head, text in rec.summary():
        table.add_row(escape(head), escape(text))
    console.print(table)
    if rec.revealed is not None:
        console.print(f"revealed (recorded as event {rec.reveal_event}): " + escape(json.dumps(rec.revealed)))
    if html_out is not None:
        console.print(f"HTML written to {escape(str(html_out))}")
    if not rec.proof_verified:
        sys.exit(1)


@audit_group.command("tabletop")
@click.option(
    "--older-than", default="90d", show_default=True, help="Draw from decisions older than this (90d, 12w, P90D)."
)
@click.option("--seed", type=int, help="Seed of the random draw (recorded; the same seed draws the same decision).")
@click.option("--system", help="Only decisions of this AI system.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_AS
@pass_ctx
@handle_errors
def tabletop_cmd(
    tc: TrailContext, older_than: str, seed: int | None, system: str | None, as_json: bool, as_user: str | None
) -> None:
    """Reconstruct a decision drawn at random from before the cut-off, as an exercise; the exercise and its
    findings are recorded as an audit.tabletop event. Exit 1 when a check failed."""
    from ..audit.tabletop import tabletop

    t = tc.trail()
    res = tabletop(t, actor=_identity(t, system, as_user), older_than=older_than, seed=seed, system=system)
    if as_json:
        click.echo(json.dumps(res.to_dict(), indent=2, ensure_ascii=False))
    else:
        d = res.decision
        drawn = "nothing" if d is None else f"decision {d.payload.get('decision_id')} (event {d.seq}, {d.ts})"
        console.print(f"tabletop: drew {escape(drawn)} from before {res.cutoff} (seed {res.seed})")
        for f in res.findings:
            mark = (
                "[green]ok[/green]  "
                if f["passed"]
                else "[red]FAIL[/red]"
                if f["required"]
                else "[yellow]note[/yellow]"
            )
            console.print(f"  {mark} {escape(f['check'])}: {escape(str(f['detail']))}")
        verdict = "[green]PASSED[/green]" if res.passed else "[red]FAILED[/red]"
        console.print(f"{verdict}; recorded as event {res.event_seq}")
    sys.exit(0 if res.passed else 1)


@audit_group.command("trace")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print the trace as JSON.")
@pass_ctx
@handle_errors
def trace_cmd(tc: TrailContext, model: str, as_json: bool) -> None:
    """Everything that led to MODEL@VERSION (runs, data, code) and followed from it (reports, gates,
    approvals, deployments, suspensions, oversight)."""
    from ..audit.trace import trace

    tr = trace(tc.trail(), model)
    if as_json:
        click.echo(json.dumps(tr.to_dict(), indent=2, ensure_ascii=False))
        return
    console.print(
        f"[bold]{escape(tr.ref)}[/bold] registered by {escape(tr.registered.actor.id)} (event {tr.registered.seq})"
    )
    console.print(
        "upstream:   " + escape(", ".join(n["ref"] for n in tr.upstream["nodes"] if n["ref"] != tr.ref) or "-")
    )
    console.print(
        "downstream: " + escape(", ".join(n["ref"] for n in tr.downstream["nodes"] if n["ref"] != tr.ref) or "-")
    )
    for e in tr.history:
        console.print(f"  {e.seq:>8}  {e.ts[:19]}  {escape(e.type):<24} {escape(e.actor.id)}")
    if tr.oversight:
        console.print("decisions that reached a human: " + ", ".join(f"{k} {v}" for k, v in tr.oversight.items()))


@audit_group.command("export")
@click.option("--system", required=True, help="The AI system whose evidence is exported.")
@click.option("--from", "since", metavar="TS", help="Start of the period (ISO 8601; default: the first event).")
@click.option("--to", "until", metavar="TS", help="End of the period (ISO 8601; default: now).")
@click.option("--decisions", multiple=True, metavar="IDS", help="Only these decisions (comma-separated or repeated).")
@click.option("--include-sealed", is_flag=True, help="Unseal the decisions' sealed inputs (reveal role; recorded).")
@click.option("--purpose", help="Why the sealed values are exported (required with --include-sealed).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="bundle.zip")
@_AS
@pass_ctx
@handle_errors
def export_cmd(
    tc: TrailContext,
    system: str,
    since: str | None,
    until: str | None,
    decisions: tuple[str, ...],
    include_sealed: bool,
    purpose: str | None,
    output: Path,
    as_user: str | None,
) -> None:
    """Write an audit bundle (zip) that `modeltrail verify bundle.zip` checks with no trail and no network."""
    from ..audit.bundle import bundle_decision_ids, export_bundle

    t = tc.trail()
    actor = _identity(t, system, as_user) if include_sealed else None
    ids = bundle_decision_ids(t, decisions) if decisions else None
    info = export_bundle(
        t,
        output,
        system=system,
        since=since,
        until=until,
        decisions=ids,
        include_sealed=include_sealed,
        purpose=purpose,
        actor=actor,
    )
    console.print(
        f"wrote {escape(str(info.path))}: {info.events} events, {info.omitted} leaf hashes, "
        f"{info.checkpoints} checkpoints, {info.blobs} documents, {info.sealed} sealed records; "
        f"head size {info.head_size} root {info.head_root}"
    )


@click.group("export")
def export_group() -> None:
    """Standard exports of a model version: CycloneDX ML-BOM, in-toto/SLSA provenance, OpenLineage."""


def _write_json(path: Path, doc: object) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


@contextmanager
def _extra(package: str) -> Iterator[None]:
    """Turn a missing optional library into one clear error naming the extra to install."""
    try:
        yield
    except ImportError as exc:
        raise ModeltrailError(
            f"{package} is needed for this export: pip install 'modeltrail[exports]' ({exc})"
        ) from None


_OUT = click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="FILE")


@export_group.command("cyclonedx")
@click.argument("model")
@_OUT
@pass_ctx
@handle_errors
def export_cyclonedx(tc: TrailContext, model: str, output: Path) -> None:
    """CycloneDX 1.6 ML-BOM of MODEL@VERSION (model card, datasets, dependencies) as JSON."""
    from ..exports.cyclonedx import cyclonedx_bom

    with _extra("cyclonedx-python-lib"):
        doc = cyclonedx_bom(tc.trail(), model)
    _write_json(output, doc)
    console.print(
        f"wrote {escape(str(output))}: CycloneDX {doc['specVersion']}, {len(doc.get('components', []))} components"
    )


@export_group.command("spdx")
@click.argument("model")
@_OUT
@pass_ctx
@handle_errors
def export_spdx(tc: TrailContext, model: str, output: Path) -> None:
    """SPDX 3.0.1 JSON-LD of MODEL@VERSION with the AI and Dataset profiles (trainedOn / testedOn)."""
    from ..exports.spdx import spdx_document

    with _extra("spdx-python-model"):
        doc = spdx_document(tc.trail(), model)
    _write_json(output, doc)
    n = sum(1 for o in doc["@graph"] if o.get("type") == "dataset_DatasetPackage")
    console.print(f"wrote {escape(str(output))}: SPDX 3.0.1, one ai_AIPackage and {n} dataset_DatasetPackage")


@export_group.command("model-signing")
@click.argument("model")
@click.option(
    "--key",
    "key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Elliptic-curve private key (PEM) to sign with.",
)
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="New FOLDER")
@_AS
@pass_ctx
@handle_errors
def export_model_signing(tc: TrailContext, model: str, key: Path, output: Path, as_user: str | None) -> None:
    """Write MODEL@VERSION to FOLDER with an OpenSSF model.sig made with KEY (records model.signed)."""
    from ..lineage.modelsigning import sign_registered_model

    t = tc.trail()
    with _extra("model-signing"):
        sig, r = sign_registered_model(t, model, key, output, actor=_identity(t, None, as_user).acting_as())
    console.print(f"wrote {escape(str(sig))} (event {r.seq}); verify with: model_signing verify key --public_key …")


@export_group.command("intoto")
@click.argument("model")
@_OUT
@pass_ctx
@handle_errors
def export_intoto(tc: TrailContext, model: str, output: Path) -> None:
    """in-toto Statement v1 with SLSA Provenance v1 for MODEL@VERSION, in a DSSE envelope signed with the
    trail's key (verify with the key `modeltrail key show` prints)."""
    from ..exports.intoto import provenance_envelope

    t = tc.trail()
    _write_json(output, provenance_envelope(t, model))
    console.print(f"wrote {escape(str(output))}: DSSE envelope signed by key {t.signer().key_id_hex}")


@export_group.command("openlineage")
@click.argument("model")
@_OUT
@pass_ctx
@handle_errors
def export_openlineage(tc: TrailContext, model: str, output: Path) -> None:
    """OpenLineage RunEvents (START, COMPLETE/FAIL) of the run that trained MODEL@VERSION, as JSON lines."""
    from ..exports.openlineage import write_openlineage

    with _extra("openlineage-python"):
        n = write_openlineage(tc.trail(), model, output)
    console.print(f"wrote {escape(str(output))}: {n} OpenLineage run events")


COMMANDS: list[click.Command] = [audit_group, export_group]  # audit_group: the same object registry adds

__all__ = ["COMMANDS", "audit_group", "export_group"]
