"""``evaluate-data``: the data governance report from the command line.

The lead registers :data:`COMMANDS` under ``modeltrail evaluate``; this module only computes the report,
writes it and prints it. Recording it in the ledger is done by the caller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import click
import pandas as pd
from rich.console import Console
from rich.table import Table

from modeltrail.errors import ValidationError
from modeltrail.evidence.data_report import data_report
from modeltrail.evidence.pii import DEFAULT_SAMPLE_ROWS
from modeltrail.evidence.report import Report

__all__ = ["COMMANDS", "evaluate_data", "load_reference", "load_table", "print_data_summary"]


def load_table(path: Path) -> pd.DataFrame:
    """Read a CSV (any ``.csv``/``.csv.gz``/``.txt``) or Parquet file into a frame."""
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError, ImportError) as exc:
        raise ValidationError(f"can not read {path}: {exc}", field="path") from exc


def load_reference(path: Path) -> pd.DataFrame | Mapping[str, Mapping[str, float]]:
    """Read a reference population.

    A CSV with exactly the columns ``attribute,value,share`` is a table of published shares (e.g. census
    figures) and becomes ``{attribute: {value: share}}``; any other CSV is a sample of the reference
    population with the protected attributes as columns.
    """
    ref = load_table(path)
    if {str(c).lower() for c in ref.columns} == {"attribute", "value", "share"}:
        ref.columns = [str(c).lower() for c in ref.columns]
        shares: dict[str, dict[str, float]] = {}
        for attr, value, share in ref[["attribute", "value", "share"]].itertuples(index=False):
            try:
                shares.setdefault(str(attr), {})[str(value)] = float(share)
            except (TypeError, ValueError) as exc:
                raise ValidationError(f"share {share!r} is not a number", field="reference.share") from exc
        return shares
    return ref


def _file_subject(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f"file:{path.name}@sha256:{digest.hexdigest()[:12]}"


def print_data_summary(report: Report, console: Console) -> None:
    """Rich terminal summary of a data report: headline figures, groups, proxies, PII, warnings."""
    m, body = report.metrics, report.body
    head = Table(title="Data governance report", show_header=False, title_justify="left")
    head.add_column("figure", style="bold")
    head.add_column("value")
    head.add_row("subject", report.subject.get("dataset", "-"))
    head.add_row("rows × columns", f"{int(m['data.rows']):,} × {int(m['data.columns'])}")
    head.add_row("max missing rate", f"{m['data.missing_rate']:.2%}")
    head.add_row("duplicate rows", f"{body['duplicates']['count']:,} ({m['data.duplicate_rate']:.2%})")
    head.add_row(
        "constant / near-constant", f"{len(body['constant_columns'])} / {len(body['near_constant_columns'])}"
    )
    if "data.label_minority_share" in m:
        head.add_row("label minority share", f"{m['data.label_minority_share']:.1%}")
    if "data.max_proxy_association" in m:
        head.add_row("max proxy association", f"{m['data.max_proxy_association']:.3f}")
    pii = body["pii"]
    head.add_row("PII columns", f"{int(m['data.pii_findings'])} (scanned {pii['rows_scanned']:,} rows)")
    console.print(head)

    if body["protected"]:
        groups = Table(title="Protected attributes", title_justify="left")
        for col in ("attribute", "group", "rows", "share", "reference", "TVD"):
            groups.add_column(
                col, justify="right" if col in ("rows", "share", "reference", "TVD") else "left"
            )
        rep = body.get("representativeness") or {}
        for attr, info in body["protected"].items():
            r = rep.get(attr)
            for i, (grp, cnt) in enumerate(info["counts"].items()):
                ref_share = r["reference_share"].get(grp) if r else None
                groups.add_row(
                    attr if i == 0 else "",
                    grp,
                    f"{cnt:,}",
                    f"{info['shares'][grp]:.1%}",
                    "-" if ref_share is None else f"{ref_share:.1%}",
                    f"{r['tvd']:.3f}" if r and i == 0 else "",
                )
        console.print(groups)

    flagged = body["proxies"]["flagged"]
    if flagged:
        prox = Table(title=f"Possible proxies (≥ {body['proxies']['threshold']})", title_justify="left")
        for col in ("feature", "protected", "measure", "value"):
            prox.add_column(col)
        for e in flagged:
            prox.add_row(e["feature"], e["protected"], e["measure"], f"{e['value']:.3f}")
        console.print(prox)

    if pii["findings"]:
        tab = Table(title="Personal data found", title_justify="left")
        for col in ("column", "kind", "detail", "count", "share", "confidence", "examples (masked)"):
            tab.add_column(col)
        for f in pii["findings"]:
            tab.add_row(
                f["column"],
                f["kind"],
                f["detail"],
                f"{f['count']:,}",
                f"{f['share']:.1%}",
                f"{f['confidence']:.2f}",
                ", ".join(f["examples"]),
            )
        console.print(tab)

    for w in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)


@click.command("evaluate-data")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--label", default=None, help="Label (target) column.")
@click.option("--protected", multiple=True, help="Protected attribute column (repeatable).")
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Reference population: a CSV sample with the protected columns, or attribute,value,share rows.",
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the JSON here."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report JSON instead of the summary.")
@click.option("--pii-sample-rows", type=click.IntRange(min=1), default=DEFAULT_SAMPLE_ROWS, show_default=True)
@click.option(
    "--proxy-threshold", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.3, show_default=True
)
def evaluate_data(
    path: Path,
    label: str | None,
    protected: tuple[str, ...],
    reference: Path | None,
    out: Path | None,
    as_json: bool,
    pii_sample_rows: int,
    proxy_threshold: float,
) -> None:
    """Data governance report (schema, quality, balance, representativeness, proxies, PII) of PATH."""
    try:
        df = load_table(path)
        ref = load_reference(reference) if reference is not None else None
        report = data_report(
            df,
            label=label,
            protected=protected,
            reference=ref,
            subject={"dataset": _file_subject(path)},
            pii_sample_rows=pii_sample_rows,
            proxy_threshold=proxy_threshold,
        )
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from exc
    data = report.to_json()
    if out is not None:
        out.write_bytes(data)
    if as_json:
        click.echo(data.decode())
    else:
        console = Console()
        print_data_summary(report, console)
        if out is not None:
            console.print(f"report written to {out}", highlight=False)


COMMANDS: list[click.Command] = [evaluate_data]
