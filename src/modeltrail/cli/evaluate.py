"""``modeltrail evaluate``: evidence reports from the command line, recorded in the trail."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ..errors import ValidationError
from ..events import Actor
from ..evidence.pii import DEFAULT_SAMPLE_ROWS
from .evidence_data import load_reference, load_table, print_data_summary
from .evidence_model import evaluate_fairness, evaluate_performance
from .flags import actor_options
from .main import TrailContext, console, handle_errors, pass_ctx


def _actor(actor_id: str | None, actor_role: str | None) -> Actor:
    # The default actor matches the lineage commands': $MODELTRAIL_USER or cli-user, as data_scientist.
    role = actor_role or "data_scientist"
    who = actor_id or os.environ.get("MODELTRAIL_USER") or "cli-user"
    return Actor(who, role, "service" if role in ("pipeline", "service") else "human")


@click.group("evaluate")
def evaluate_group() -> None:
    """Evidence reports (data governance, performance, fairness, explainability, robustness)."""


@evaluate_group.command("data")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", "dataset_ref", help="Record the report about this registered dataset (dataset:NAME@HASH).")
@click.option("--label", default=None, help="Label (target) column.")
@click.option("--protected", multiple=True, help="Protected attribute column (repeatable).")
@click.option(
    "--reference", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Reference population CSV."
)
@click.option("--pii-sample-rows", type=click.IntRange(min=1), default=DEFAULT_SAMPLE_ROWS, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Also write JSON + HTML here.")
@actor_options("data_scientist")
@click.option("--json", "as_json", is_flag=True, help="Print the report JSON.")
@pass_ctx
@handle_errors
def evaluate_data_cmd(
    tc: TrailContext,
    path: Path,
    dataset_ref: str | None,
    label: str | None,
    protected: tuple[str, ...],
    reference: Path | None,
    pii_sample_rows: int,
    out_dir: Path | None,
    actor_id: str | None,
    actor_role: str | None,
    as_json: bool,
) -> None:
    """Data governance report (with PII scan) of the table at PATH; recorded when --dataset is given."""
    from ..evidence.data_report import data_report
    from ..evidence.record import record_report

    df = load_table(path)
    ref = load_reference(reference) if reference is not None else None
    report = data_report(
        df,
        label=label,
        protected=protected,
        reference=ref,
        subject={"dataset": dataset_ref or str(path)},
        pii_sample_rows=pii_sample_rows,
    )
    if dataset_ref is not None:
        from ..lineage.queries import get_dataset

        trail = tc.trail()
        ds = get_dataset(trail, dataset_ref)
        rec = record_report(
            trail, report, subject=ds.ref, system=ds.system, actor=_actor(actor_id, actor_role), out_dir=out_dir
        )
        if not as_json:
            console.print(f"recorded as event {rec.receipt.seq} (report blob sha256:{rec.report_sha256})")
    if as_json:
        click.echo(report.to_json().decode())
    else:
        print_data_summary(report, console)


@evaluate_group.command("model")
@click.argument("model_ref")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Evaluation table (CSV/parquet) with the model's inputs and the label.",
)
@click.option("--label", required=True, help="Label column.")
@click.option("--positive", default="1", show_default=True, help="Label value of the positive class.")
@click.option("--protected", multiple=True, help="Protected attribute column (repeatable).")
@click.option("--dataset", "dataset_ref", help="Registered dataset the table is (cited in the reports' refs).")
@click.option("--reports", default="performance,fairness,explainability,robustness", show_default=True)
@click.option(
    "--favourable",
    type=click.Choice(["positive", "negative"]),
    default=None,
    help="Which prediction is favourable (four-fifths rule); default: the policy's favourable_outcome.",
)
@click.option("--threshold", type=float, default=0.5, show_default=True)
@click.option("--bootstrap", type=click.IntRange(min=0), default=200, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Also write JSON + HTML here.")
@actor_options("data_scientist")
@click.option("--json", "as_json", is_flag=True, help="Print the recorded metrics as JSON.")
@pass_ctx
@handle_errors
def evaluate_model_cmd(
    tc: TrailContext,
    model_ref: str,
    data_path: Path,
    label: str,
    positive: str,
    protected: tuple[str, ...],
    dataset_ref: str | None,
    reports: str,
    favourable: str | None,
    threshold: float,
    bootstrap: int,
    seed: int,
    out_dir: Path | None,
    actor_id: str | None,
    actor_role: str | None,
    as_json: bool,
) -> None:
    """Run model reports for MODEL@VERSION on a labelled table and record each as report.generated."""
    from ..errors import NotFoundError
    from ..evidence.evaluate import evaluate_model
    from ..evidence.record import record_report
    from ..lineage.models import load_model
    from ..lineage.queries import get_model_version
    from ..registry import stored_policy

    wanted = [r.strip() for r in reports.split(",") if r.strip()]
    trail = tc.trail()
    mv = get_model_version(trail, model_ref)
    if favourable is None:
        try:
            favourable = stored_policy(trail, mv.system).policy.favourable_outcome
        except NotFoundError:
            favourable = "positive"
    model = load_model(trail, mv)
    df = load_table(data_path)
    try:
        built = evaluate_model(
            model,
            df,
            label=label,
            positive=positive,
            protected=protected,
            reports=wanted,
            threshold=threshold,
            n_bootstrap=bootstrap,
            seed=seed,
            favourable=favourable,
            subject={"model": mv.ref, **({"dataset": dataset_ref} if dataset_ref else {})},
        ).values()
    except ValidationError as exc:
        # Name the command-line option the library's field corresponds to.
        option = {"label": "--label", "protected": "--protected", "reports": "--reports"}.get(exc.field or "", "")
        raise ValidationError(exc.reason, field=option or exc.field) from exc
    out: dict[str, dict[str, float]] = {}
    for r in built:
        rec = record_report(
            trail,
            r,
            subject=mv.ref,
            system=mv.system,
            actor=_actor(actor_id, actor_role),
            refs=[dataset_ref] if dataset_ref else (),
            out_dir=out_dir,
        )
        out[r.kind] = {"seq": rec.receipt.seq, **{k: v for k, v in r.metrics.items() if "[" not in k}}
        if not as_json:
            console.print(f"[bold]{r.kind}[/bold] recorded as event {rec.receipt.seq}")
    if as_json:
        click.echo(json.dumps(out, indent=2))


@evaluate_group.command("index")
@click.argument("subject")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder.")
@pass_ctx
@handle_errors
def evaluate_index_cmd(tc: TrailContext, subject: str, out_dir: Path) -> None:
    """Write an index page and a cited HTML page of every report about SUBJECT (model:NAME@V, dataset:...)."""
    from ..evidence.record import write_index
    from ..lineage.queries import get_model_version

    trail = tc.trail()
    if not subject.startswith(("model:", "dataset:")):
        subject = get_model_version(trail, subject).ref
    path = write_index(trail, subject, out_dir)
    console.print(f"index of the reports about {subject}: {path}")


evaluate_group.add_command(evaluate_fairness, name="fairness")
evaluate_group.add_command(evaluate_performance, name="performance")

COMMANDS: list[click.Command] = [evaluate_group]
