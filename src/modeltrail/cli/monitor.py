"""Monitoring and incident commands: ``monitor profile|run|watch|status|clear|report|drift`` and
``incident open|update|report|notice|close|list``.

A thin layer over :mod:`modeltrail.monitor`. Monitoring passes act as the service ``modeltrail-monitor``
(role ``ops``); clearing alerts and every incident command are human actions, resolved like every other
command (API token, ``$MODELTRAIL_USER``, the trail config, or ``--as`` where the policy allows it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pandas as pd
from rich.markup import escape
from rich.table import Table

from ..errors import NotFoundError, ValidationError
from ..identity import Identity, resolve_identity
from ..monitor import alerts as al
from ..monitor import incidents as inc
from ..monitor.drift import drift_report
from ..monitor.profile import build_profile, record_profile
from ..monitor.report import monitoring_report
from ..monitor.run import CHECKED, MONITOR_ACTOR, WindowResult, monitor, watch
from ..monitor.windows import frame_window, model_ref
from ..policy import Policy
from ..trail import Trail
from .flags import impersonation_option
from .main import TrailContext, console, handle_errors, pass_ctx

_AS = impersonation_option
_ENV = click.option("--env", default="production", show_default=True, help="Environment of the decisions.")


def _identity(trail: Trail, system: str | None, as_user: str | None) -> Identity:
    policy: Policy | None
    try:
        from ..registry.policy_store import current_policy

        policy = current_policy(trail, system)
    except NotFoundError:
        policy = None
    return resolve_identity(trail, policy, as_user=as_user)


def _system(trail: Trail, model: str) -> str:
    from ..registry.lifecycle import get_version

    return get_version(trail, model_ref(model).removeprefix("model:")).system


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)


def _print_results(results: list[WindowResult], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([r.summary() for r in results], indent=2, default=str))
        return
    if not results:
        console.print("no new window to check")
        return
    t = Table("window", "n", "level", "drifted", "findings", "alert", "actions")
    for r in results:
        w = r.window
        finds = ", ".join(
            f"{f.rule}={f.value:.3g}" if isinstance(f.value, float) else f.rule for f in r.findings if f.level != "ok"
        )
        acts = ", ".join(f"{o.action}:{'ok' if o.ok else 'failed'}" for o in r.outcomes)
        drifted = ", ".join(r.drift.drifted_columns) if r.drift else ""
        t.add_row(
            f"{w['start'][:19]} → {w['end'][:19]}", str(w["n"]), r.level, drifted, finds, str(r.alert_seq or ""), acts
        )
    console.print(t)


@click.group("monitor")
def monitor_group() -> None:
    """Post-market monitoring (Art. 72): profiles, drift, performance, fairness and alerts."""


@monitor_group.command("profile")
@click.argument("model")
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Reference data (CSV or Parquet).",
)
@click.option("--categorical", default="", help="Comma-separated columns to treat as categories.")
@click.option("--score-column", default=None, help="Column holding the model's score on the reference.")
@click.option("--label-column", default=None, help="Column holding the true label (adds performance and calibration).")
@click.option("--group", "groups", multiple=True, help="Protected attribute column (adds reference fairness figures).")
@_AS
@pass_ctx
@handle_errors
def profile_cmd(
    tc: TrailContext,
    model: str,
    reference: Path,
    categorical: str,
    score_column: str | None,
    label_column: str | None,
    groups: tuple[str, ...],
    as_user: str | None,
) -> None:
    """Compute and record the reference profile of MODEL (name@version) from a reference file."""
    trail = tc.trail()
    system = _system(trail, model)
    ident = _identity(trail, system, as_user)
    df = _read(reference)
    for c in [x for x in (score_column, label_column, *groups) if x]:
        if c not in df.columns:
            raise ValidationError(f"the reference file has no column {c!r}", field="--score-column")
    scores = df.pop(score_column) if score_column else None
    labels = df.pop(label_column) if label_column else None
    prof = build_profile(
        df,
        categorical=[c for c in categorical.split(",") if c],
        scores=scores,
        labels=labels,
        groups={g: df[g] for g in groups} if groups else None,
        source=reference.name,
    )
    r = record_profile(trail, prof, model=model_ref(model), system=system, actor=ident.acting_as())
    console.print(
        f"profile of {escape(model_ref(model))}: {prof.n_rows} rows, {len(prof.columns)} columns (event {r.seq})"
    )


@monitor_group.command("run")
@click.argument("model")
@_ENV
@click.option(
    "--window", "every", default=None, help="Window length (1d, 12h, P7D); default the policy's drift window."
)
@click.option("--count", type=int, default=None, help="Windows of COUNT decisions instead of time windows.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_ctx
@handle_errors
def run_cmd(tc: TrailContext, model: str, env: str, every: str | None, count: int | None, as_json: bool) -> None:
    """Check the windows of MODEL's decisions not checked yet; alerts act as the policy says."""
    _print_results(monitor(tc.trail(), model, env, every=every, count=count, actor=MONITOR_ACTOR), as_json)


@monitor_group.command("watch")
@click.argument("model")
@_ENV
@click.option("--every", default="1h", show_default=True, help="How often to run a pass.")
@click.option("--window", default=None, help="Window length; default the policy's drift window.")
@pass_ctx
@handle_errors
def watch_cmd(tc: TrailContext, model: str, env: str, every: str, window: str | None) -> None:
    """Run a pass every EVERY until SIGTERM/SIGINT; only complete windows are checked, and it resumes."""
    n = watch(tc.trail(), model, env, every=every, window=window, on_pass=lambda r: _print_results(r, False))
    console.print(f"stopped after {n} pass(es)")


@monitor_group.command("status")
@click.argument("model", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
@handle_errors
def status_cmd(tc: TrailContext, model: str | None, as_json: bool) -> None:
    """Open alerts, the latest check per model and environment, and incidents with their clocks."""
    trail = tc.trail()
    ref = model_ref(model) if model else None
    last: dict[tuple[str, Any], dict[str, Any]] = {}
    for e in trail.events(CHECKED, subject=ref):
        last[(str(e.subject), e.payload.get("env"))] = {
            "seq": e.seq,
            "ts": e.ts,
            "level": e.payload.get("level"),
            "window": e.payload.get("window"),
        }
    open_alerts = al.alerts(trail, ref)
    incs = [i for i in inc.incidents(trail) if ref is None or i.model == ref or i.model.startswith(ref + "@")]
    doc = {
        "checks": [{"model": k[0], "env": k[1], **v} for k, v in last.items()],
        "open_alerts": [a.to_dict() for a in open_alerts],
        "incidents": [i.to_dict() for i in incs],
    }
    if as_json:
        click.echo(json.dumps(doc, indent=2, default=str))
        return
    for c in doc["checks"]:
        console.print(
            f"{escape(c['model'])} in {escape(str(c['env']))}: last check event {c['seq']} ({c['level']}), "
            f"window ending {c['window']['end']}"
        )
    console.print(f"open alerts: {len(open_alerts)}")
    for a in open_alerts:
        console.print(
            f"  alert {a.seq} {a.level} {escape(a.model)} ({escape(str(a.env))}) actions {', '.join(a.actions)}"
        )
    for i in incs:
        ck = i.clock()
        due = (
            f"report due {ck['deadline']} ({ck['basis']})"
            if ck.get("reported") is None
            else f"reported {ck['reported']} ({'on time' if ck['met'] else 'late'})"
        )
        if ck.get("overdue"):
            due += " — OVERDUE"
        console.print(f"incident {i.id[:12]} [{i.type}, {i.severity}] {escape(i.title)}: {i.status}; {due}")


@monitor_group.command("clear")
@click.argument("alert_seq", type=int)
@click.option("--reason", required=True, help="Why the alert is cleared (recorded).")
@click.option("--resume", is_flag=True, help="Also lift the review routing / suspension the alert caused.")
@_AS
@pass_ctx
@handle_errors
def clear_cmd(tc: TrailContext, alert_seq: int, reason: str, resume: bool, as_user: str | None) -> None:
    """Clear alert ALERT_SEQ (a human action, recorded as monitor.alert_cleared)."""
    trail = tc.trail()
    ev = trail.get_event(alert_seq)
    ident = _identity(trail, ev.system, as_user)
    r = al.clear_alert(trail, alert_seq, actor=ident, reason=reason, resume=resume)
    console.print(f"alert {alert_seq} cleared by {escape(ident.user_id)} (event {r.seq})")


@monitor_group.command("report")
@click.argument("model")
@click.option("--env", default=None, help="Only this environment.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file (default monitoring-NAME-vV.html).",
)
@pass_ctx
@handle_errors
def report_cmd(tc: TrailContext, model: str, env: str | None, out: Path | None) -> None:
    """Write the HTML monitoring report of MODEL (time series, distribution overlays, alerts)."""
    ref = model_ref(model)
    path = out or Path(f"monitoring-{ref.removeprefix('model:').replace('@', '-v').replace('/', '_')}.html")
    path.write_text(monitoring_report(tc.trail(), ref, env), encoding="utf-8")
    console.print(f"wrote {escape(str(path))}")


@monitor_group.command("drift")
@click.option("--reference", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--current", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--categorical", default="", help="Comma-separated columns to treat as categories.")
@click.option("--method", default=None, help="One method for every column (ks, wasserstein, psi, js, chi2, z).")
def drift_cmd(reference: Path, current: Path, categorical: str, method: str | None) -> None:
    """Drift of a current file against a reference file (no trail needed); prints JSON."""

    @handle_errors
    def go() -> None:
        prof = build_profile(_read(reference), categorical=[c for c in categorical.split(",") if c])
        rep = drift_report(prof, frame_window(current).frame, method=method)
        click.echo(json.dumps(rep.to_dict(), indent=2, default=str))

    go()


@click.group("incident")
def incident_group() -> None:
    """Serious incidents (Art. 73) and their reporting deadlines."""


@incident_group.command("open")
@click.argument("model")
@click.option("--type", "itype", type=click.Choice(list(inc.INCIDENT_TYPES)), required=True)
@click.option("--severity", type=click.Choice(list(inc.SEVERITIES)), required=True)
@click.option("--title", required=True)
@click.option("--description", default="")
@click.option("--env", default=None)
@click.option("--aware-at", default=None, help="When the provider became aware (ISO 8601; default now).")
@click.option(
    "--link", "links", multiple=True, help="A ref the incident concerns (event:SEQ of an alert, decision:ID)."
)
@_AS
@pass_ctx
@handle_errors
def incident_open(
    tc: TrailContext,
    model: str,
    itype: str,
    severity: str,
    title: str,
    description: str,
    env: str | None,
    aware_at: str | None,
    links: tuple[str, ...],
    as_user: str | None,
) -> None:
    """Open a serious incident about MODEL (name@version); shows the reporting deadline."""
    trail = tc.trail()
    system = _system(trail, model)
    i = inc.open_incident(
        trail, model=model, type=itype, severity=severity, title=title, description=description, env=env,
        aware_at=aware_at, links=links, actor=_identity(trail, system, as_user).acting_as(), system=system,
    )  # fmt: skip
    console.print(f"incident {i.id} opened; report due {i.deadline} ({i.basis})")


def _inc_ctx(tc: TrailContext, incident_id: str, as_user: str | None) -> tuple[Trail, inc.Incident, str, Any]:
    trail = tc.trail()
    i = inc.get_incident(trail, incident_id)
    system = _system(trail, i.model)
    return trail, i, system, _identity(trail, system, as_user).acting_as()


@incident_group.command("update")
@click.argument("incident_id")
@click.option("--note", required=True)
@click.option("--severity", type=click.Choice(list(inc.SEVERITIES)), default=None)
@click.option("--link", "links", multiple=True)
@_AS
@pass_ctx
@handle_errors
def incident_update(
    tc: TrailContext, incident_id: str, note: str, severity: str | None, links: tuple[str, ...], as_user: str | None
) -> None:
    """Record what was learnt or done about an incident."""
    trail, i, system, who = _inc_ctx(tc, incident_id, as_user)
    r = inc.update_incident(trail, i.id, actor=who, note=note, system=system, severity=severity, links=links)
    console.print(f"incident {i.id[:12]} updated (event {r.seq})")


@incident_group.command("report")
@click.argument("incident_id")
@click.option("--complete", is_flag=True, help="The complete report (default: an initial, possibly incomplete one).")
@click.option("--authority", default="", help="The market surveillance authority reported to.")
@click.option("--statement", default="", help="Free text added to the report.")
@click.option("--draft", is_flag=True, help="Only print the draft generated from the linked evidence.")
@_AS
@pass_ctx
@handle_errors
def incident_report(
    tc: TrailContext, incident_id: str, complete: bool, authority: str, statement: str, draft: bool, as_user: str | None
) -> None:
    """File (or with --draft, preview) the incident report; an initial one may be incomplete (Art. 73(5))."""
    trail, i, system, who = _inc_ctx(tc, incident_id, as_user)
    if draft:
        click.echo(json.dumps(inc.draft_report(trail, i.id), indent=2, default=str))
        return
    stage = "complete" if complete else "initial"
    r = inc.file_report(trail, i.id, actor=who, system=system, stage=stage, authority=authority, text=statement)
    ev = trail.get_event(r.seq)
    console.print(
        f"{stage} report of incident {i.id[:12]} filed "
        f"(event {r.seq}, {'on time' if ev.payload['on_time'] else 'LATE'})"
    )


@incident_group.command("notice")
@click.argument("incident_id")
@click.option("--change", required=True, help="The change to the version under investigation.")
@click.option("--authority", required=True, help="The authority informed.")
@_AS
@pass_ctx
@handle_errors
def incident_notice(tc: TrailContext, incident_id: str, change: str, authority: str, as_user: str | None) -> None:
    """Record the Art. 73(6) notice that allows changing the version under investigation."""
    trail, i, system, who = _inc_ctx(tc, incident_id, as_user)
    r = inc.record_notice(trail, i.id, actor=who, system=system, change=change, authority=authority)
    console.print(f"notice recorded for incident {i.id[:12]} (event {r.seq})")


@incident_group.command("close")
@click.argument("incident_id")
@click.option("--reason", required=True)
@_AS
@pass_ctx
@handle_errors
def incident_close(tc: TrailContext, incident_id: str, reason: str, as_user: str | None) -> None:
    """Close an incident (needs a complete report)."""
    trail, i, system, who = _inc_ctx(tc, incident_id, as_user)
    r = inc.close_incident(trail, i.id, actor=who, system=system, reason=reason)
    console.print(f"incident {i.id[:12]} closed (event {r.seq})")


@incident_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def incident_list(tc: TrailContext, as_json: bool) -> None:
    """Every incident with its status and reporting clock."""
    items = inc.incidents(tc.trail())
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in items], indent=2, default=str))
        return
    t = Table("id", "type", "severity", "model", "status", "deadline", "basis")
    for i in items:
        t.add_row(i.id[:12], i.type, i.severity, i.model, i.status, i.deadline[:19], i.basis)
    console.print(t)


COMMANDS: list[click.Command] = [monitor_group, incident_group]

__all__ = ["COMMANDS", "incident_group", "monitor_group"]
