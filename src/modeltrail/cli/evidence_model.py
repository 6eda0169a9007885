"""``evaluate-fairness`` and ``evaluate-performance``: model evidence reports from a predictions file.

The input is a CSV (or Parquet) with one row per decision: the true label, the decision and/or the score,
and the group attributes. The lead registers :data:`COMMANDS` under ``modeltrail evaluate``; these
commands compute, write and print the report; recording it in the ledger is done by the caller.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pandas as pd
from rich.console import Console

from modeltrail.errors import ValidationError
from modeltrail.evidence.fairness import fairness_report
from modeltrail.evidence.performance import performance_report
from modeltrail.evidence.render import render_html, rich_summary
from modeltrail.evidence.report import Report

__all__ = ["COMMANDS", "evaluate_fairness", "evaluate_performance", "write_outputs"]


def _read(path: Path) -> pd.DataFrame:
    try:
        if path.name.lower().endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError, ImportError) as exc:
        raise click.BadParameter(f"can not read {path}: {exc}", param_hint="PREDICTIONS") from exc


def _column(df: pd.DataFrame, name: str | None, option: str) -> pd.Series | None:
    if name is None:
        return None
    if name not in df.columns:
        raise click.BadParameter(f"no column {name!r} (columns: {', '.join(map(str, df.columns))})", param_hint=option)
    return df[name]


def _pos_label(series: pd.Series, text: str) -> Any:
    """The positive label in the column's own type (``1`` for an integer column, ``"good"`` for text)."""
    if pd.api.types.is_bool_dtype(series):
        return text.lower() in ("1", "true", "yes")
    if pd.api.types.is_numeric_dtype(series):
        return float(text) if pd.api.types.is_float_dtype(series) else int(text)
    return text


def write_outputs(report: Report, out: Path | None, html_path: Path | None, as_json: bool) -> None:
    """Write the JSON document and/or the HTML page, then print JSON or the rich summary."""
    if out is not None:
        out.write_bytes(report.to_json())
    if html_path is not None:
        html_path.write_text(render_html(report), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(report.to_dict(), sort_keys=True, ensure_ascii=False))
    else:
        Console().print(rich_summary(report))


_common = [
    click.argument("predictions", type=click.Path(exists=True, dir_okay=False, path_type=Path)),
    click.option("--y-true", "y_true", required=True, help="Column with the true labels."),
    click.option("--group", "groups", multiple=True, help="Group attribute column (repeat for several)."),
    click.option("--pos-label", default="1", show_default=True, help="Value of the positive (favourable) label."),
    click.option("--bootstrap", "n_bootstrap", type=int, default=200, show_default=True),
    click.option("--seed", type=int, default=0, show_default=True),
    click.option("--subject", multiple=True, help="key=value naming what was evaluated (model=..., dataset=...)."),
    click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON report here."),
    click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Write HTML here."),
    click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of the summary."),
]


def _with_common(fn: Any) -> Any:
    for deco in reversed(_common):
        fn = deco(fn)
    return fn


def _subject(items: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="--subject")
        out[key] = value
    return out


@click.command("evaluate-fairness")
@_with_common
@click.option("--y-pred", "y_pred", help="Column with the decisions (else derived from --y-score).")
@click.option("--y-score", "y_score", help="Column with the positive-class probability.")
@click.option("--threshold", type=float, default=0.5, show_default=True, help="Decision threshold on the score.")
@click.option("--min-group-size", type=int, default=30, show_default=True)
def evaluate_fairness(
    predictions: Path,
    y_true: str,
    groups: tuple[str, ...],
    pos_label: str,
    n_bootstrap: int,
    seed: int,
    subject: tuple[str, ...],
    out: Path | None,
    html_path: Path | None,
    as_json: bool,
    y_pred: str | None,
    y_score: str | None,
    threshold: float,
    min_group_size: int,
) -> None:
    """Fairness report (fairlearn definitions) of the decisions in PREDICTIONS across --group columns."""
    df = _read(predictions)
    if not groups:
        raise click.BadParameter("at least one --group column is needed", param_hint="--group")
    yt = _column(df, y_true, "--y-true")
    assert yt is not None
    label = _pos_label(yt, pos_label)
    score = _column(df, y_score, "--y-score")
    decisions = _column(df, y_pred, "--y-pred")
    # Labels and decisions are reduced to 0/1 here so that a text label column ("good"/"bad") can be
    # compared with decisions derived from a score.
    truth = (yt == label).astype(int).to_numpy()
    if decisions is not None:
        chosen = (decisions == _pos_label(decisions, pos_label)).astype(int).to_numpy()
    elif score is not None:
        chosen = (score.to_numpy(dtype=float) >= threshold).astype(int)
    else:
        raise click.BadParameter("give --y-pred or --y-score", param_hint="--y-pred")
    sensitive = pd.DataFrame({g: _column(df, g, "--group") for g in groups})
    try:
        report = fairness_report(
            truth,
            chosen,
            sensitive,
            y_score=score,
            n_bootstrap=n_bootstrap,
            seed=seed,
            min_group_size=min_group_size,
            subject=_subject(subject),
        )
    except ValidationError as exc:
        raise click.ClickException(str(exc)) from exc
    report.body["positive_label"] = str(label)
    write_outputs(report, out, html_path, as_json)


@click.command("evaluate-performance")
@_with_common
@click.option("--y-pred", "y_pred", help="Column with the decisions (classification) or predictions (regression).")
@click.option("--y-score", "y_score", help="Column with the positive-class probability.")
@click.option("--threshold", type=float, default=0.5, show_default=True, help="Operating threshold on the score.")
@click.option(
    "--task", type=click.Choice(["classification", "regression"]), default="classification", show_default=True
)
def evaluate_performance(
    predictions: Path,
    y_true: str,
    groups: tuple[str, ...],
    pos_label: str,
    n_bootstrap: int,
    seed: int,
    subject: tuple[str, ...],
    out: Path | None,
    html_path: Path | None,
    as_json: bool,
    y_pred: str | None,
    y_score: str | None,
    threshold: float,
    task: str,
) -> None:
    """Performance report (scikit-learn definitions) of PREDICTIONS, overall and per --group column."""
    df = _read(predictions)
    yt = _column(df, y_true, "--y-true")
    assert yt is not None
    decisions = _column(df, y_pred, "--y-pred")
    score = _column(df, y_score, "--y-score")
    sensitive = pd.DataFrame({g: _column(df, g, "--group") for g in groups}) if groups else None
    label: Any = _pos_label(yt, pos_label) if task == "classification" else 1
    try:
        report = performance_report(
            yt,
            decisions,
            score,
            task=task,
            threshold=threshold,
            groups=sensitive,
            n_bootstrap=n_bootstrap,
            seed=seed,
            subject=_subject(subject),
            pos_label=label,
        )
    except ValidationError as exc:
        raise click.ClickException(str(exc)) from exc
    write_outputs(report, out, html_path, as_json)


COMMANDS: list[click.Command] = [evaluate_fairness, evaluate_performance]
