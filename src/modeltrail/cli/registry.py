"""Registry commands: classify, policy set, gate check, approve/reject/revoke, deploy/suspend/resume/retire,
status, audit live-at and API tokens. A thin layer over :mod:`modeltrail.registry` and
:mod:`modeltrail.identity`.

Exit codes follow the CLI contract: 0 success; 1 a refused action or a failed gate (the reason is printed);
2 bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from .. import registry as reg
from ..errors import NotFoundError, ValidationError
from ..events import format_ts
from ..identity import Identity, create_token, local_identity, resolve_identity, revoke_token, token_expiry
from ..policy import Policy
from ..registry.classify import NO, QUESTIONS, Question, interactive, load_answers
from ..trail import Trail
from .flags import impersonation_option
from .main import TrailContext, console, handle_errors, pass_ctx

# --actor USER (impersonation where the policy allows it); --as is its deprecated spelling.
_AS = impersonation_option


def _policy_or_none(trail: Trail, system: str | None) -> Policy | None:
    try:
        return reg.current_policy(trail, system)
    except NotFoundError:
        return None


def _identity(trail: Trail, system: str | None, as_user: str | None) -> tuple[Identity, Policy | None]:
    policy = _policy_or_none(trail, system)
    return resolve_identity(trail, policy, as_user=as_user), policy


def _model_identity(trail: Trail, model: str, as_user: str | None, *, version: bool = True) -> Identity:
    """The acting identity, with the roles of the policy for MODEL's system (checks MODEL's form first)."""
    info = reg.get_version(trail, reg.parse_model_ref(model, require_version=version))
    return _identity(trail, info.system, as_user)[0]


def _done(message: str) -> None:
    console.print(message, highlight=False)


# ------------------------------------------------------------------------------------------ classify


def _ask(q: Question) -> object:
    """Prompt for one classification question on the terminal."""
    console.print(f"\n[bold]{escape(q.section)}[/bold] · {escape(', '.join(q.refs))}", highlight=False)
    if q.help:
        console.print(f"[dim]{escape(q.help)}[/dim]", highlight=False)
    if q.kind == "bool":
        return click.confirm(q.text, default=False)
    for opt in q.options:
        console.print(f"  {escape(opt.value)}: {escape(opt.label)}", highlight=False)
    return click.prompt(q.text, type=click.Choice([o.value for o in q.options]), default=NO, show_choices=False)


@click.command("classify")
@click.option(
    "--answers",
    "answers_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML/JSON answers (question id: answer); without it the questions are asked interactively.",
)
@click.option("--system", help="AI system name (default: the system of the registered policy).")
@click.option("--json", "as_json", is_flag=True, help="Print the classification as JSON.")
@_AS
@pass_ctx
@handle_errors
def classify_cmd(
    tc: TrailContext, answers_file: Path | None, system: str | None, as_json: bool, as_user: str | None
) -> None:
    """Classify the AI system's risk under the EU AI Act and record the result (system.classified)."""
    trail = tc.trail()
    if system is None:
        policy = _policy_or_none(trail, None)
        if policy is None:
            raise ValidationError("give --system (no policy is registered to take it from)", field="--system")
        system = policy.system
    ident, _ = _identity(trail, system, as_user)
    if answers_file is not None:
        answers: dict[str, object] = dict(load_answers(answers_file))
    else:
        console.print(
            f"Risk classification of [bold]{escape(system)}[/bold] ({len(QUESTIONS)} questions at most)",
            highlight=False,
        )
        answers = dict(interactive(_ask).answers)
    result, receipt = reg.record_classification(trail, system, answers, actor=ident)
    if as_json:
        click.echo(json.dumps({"seq": receipt.seq, "system": system, **result.to_dict()}, indent=2))
        return
    colour = {"prohibited": "red", "high": "yellow"}.get(result.tier, "green")
    _done(f"{escape(system)}: risk tier [bold {colour}]{result.tier}[/bold {colour}] (event {receipt.seq})")
    extras = [x for x, on in (("Art. 50 transparency duties", result.also_limited), ("GPAI", result.gpai)) if on]
    if extras:
        _done("also: " + ", ".join(extras))
    table = Table(box=None, header_style="bold")
    table.add_column("article", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for r in result.reasons:
        table.add_row(escape(r.article), escape(r.text))
    console.print(table)


# ------------------------------------------------------------------------------------------ policy set


@click.command("set")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_AS
@pass_ctx
@handle_errors
def policy_set_cmd(tc: TrailContext, file: Path, as_user: str | None) -> None:
    """Register FILE as the policy in force for its system (stored in the trail, policy.registered).

    A change to a high-risk system's policy is proposed instead (policy.proposed): it takes effect when a
    second person with the policy role runs `modeltrail policy approve SEQ`.
    """
    trail = tc.trail()
    from ..policy import load_policy

    # Validate first, so identity resolution can use the roles and users of the new policy.
    new = load_policy(file)
    previous = _policy_or_none(trail, new.system)
    ident = resolve_identity(trail, previous or new, as_user=as_user)
    if reg.needs_second_approver(trail, new, file.read_text(encoding="utf-8")):
        policy, receipt = reg.propose_policy(trail, file, actor=ident)
        _done(
            f"change to the high-risk policy of [bold]{escape(policy.system)}[/bold] proposed in event "
            f"{receipt.seq}; it takes effect when a second person with the policy role runs "
            f"`modeltrail policy approve {receipt.seq}`"
        )
        return
    policy, receipt = reg.register_policy(trail, file, actor=ident)
    sha = trail.get_event(receipt.seq).payload["policy_sha256"]
    _done(
        f"policy for [bold]{escape(policy.system)}[/bold] (risk tier {policy.risk_tier}) registered "
        f"in event {receipt.seq}, sha256 {sha}"
    )


@click.command("approve")
@click.argument("proposal_seq", type=click.IntRange(0, 2**63 - 1), metavar="SEQ")
@_AS
@pass_ctx
@handle_errors
def policy_approve_cmd(tc: TrailContext, proposal_seq: int, as_user: str | None) -> None:
    """Approve the policy change proposed in event SEQ: as the second person, it takes effect now."""
    trail = tc.trail()
    prop = trail.get_event(proposal_seq)
    ident = resolve_identity(trail, _policy_or_none(trail, prop.system), as_user=as_user)
    policy, receipt = reg.approve_policy(trail, proposal_seq, actor=ident)
    _done(
        f"policy for [bold]{escape(policy.system)}[/bold] (risk tier {policy.risk_tier}) in force from event "
        f"{receipt.seq}, proposed in event {proposal_seq}"
    )


def _attach_policy_set() -> None:
    """Add ``set`` to the ``modeltrail policy`` group of the policy-file module (validate/show)."""
    try:
        from .policy import policy_group
    except ImportError:  # that module is not part of this build: expose our own group instead
        commands = {"set": policy_set_cmd, "approve": policy_approve_cmd}
        COMMANDS.append(click.Group("policy", commands=commands, help="Policies in the trail."))
        return
    policy_group.add_command(policy_set_cmd)
    policy_group.add_command(policy_approve_cmd)


# ------------------------------------------------------------------------------------------ gates


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


@click.group("gate")
def gate_group() -> None:
    """Policy gates (usable as a CI step)."""


@gate_group.command("check")
@click.argument("model")
@click.option("--stage", required=True, help="Gate stage from the policy, e.g. staging or production.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Also write a JUnit XML report.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_AS
@pass_ctx
@handle_errors
def gate_check_cmd(
    tc: TrailContext, model: str, stage: str, junit: Path | None, as_json: bool, as_user: str | None
) -> None:
    """Evaluate the STAGE gate for MODEL@VERSION and record it; exit 0 only when every check passes."""
    trail = tc.trail()
    ident = _model_identity(trail, model, as_user)
    result, receipt = reg.evaluate_gate_for(trail, model, stage, actor=ident)
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(result.to_junit_xml(), encoding="utf-8")
    if as_json:
        out = {"seq": receipt.seq, "model": reg.parse_model_ref(model).subject, **result.to_dict()}
        click.echo(json.dumps(out, indent=2))
    else:
        table = Table(title=f"gate {stage} for {escape(model)} (event {receipt.seq})", header_style="bold")
        for col in ("check", "value", "threshold", "result", "evidence"):
            table.add_column(col, overflow="fold")
        for c in result.checks:
            verdict = "[green]pass[/green]" if c.passed else "[red]FAIL[/red]"
            evidence = f"event {c.evidence_seq}" if c.evidence_seq is not None else "—"
            table.add_row(escape(c.name), _fmt(c.value), escape(c.threshold), verdict, evidence)
        console.print(table)
        for c in result.failures:
            console.print(f"[red]✗[/red] {escape(c.message)}", highlight=False)
        verdict = "[green]PASSED[/green]" if result.passed else f"[red]FAILED[/red] ({len(result.failures)} checks)"
        _done(f"gate {stage}: {verdict}")
    sys.exit(0 if result.passed else 1)


# ------------------------------------------------------------------------------------------ approvals


@click.command("approve")
@click.argument("model")
@click.option("--stage", required=True, help="Stage the approval is for.")
@click.option("--rationale", required=True, help="Why the version may go to STAGE.")
@click.option(
    "--signature",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your SSH signature of the --print-body output (ssh-keygen -Y sign -n modeltrail -f KEY FILE).",
)
@click.option("--print-body", is_flag=True, help="Print the bytes to sign and stop (nothing is recorded).")
@_AS
@pass_ctx
@handle_errors
def approve_cmd(
    tc: TrailContext,
    model: str,
    stage: str,
    rationale: str,
    signature: Path | None,
    print_body: bool,
    as_user: str | None,
) -> None:
    """Approve MODEL@VERSION for STAGE (roles and four-eyes rule from the policy; signed where required)."""
    trail = tc.trail()
    who = _model_identity(trail, model, as_user)
    if print_body:
        click.echo(reg.approval_body_for(trail, model, stage, actor=who, rationale=rationale).decode(), nl=False)
        return
    receipt = reg.approve(trail, model, stage, actor=who, rationale=rationale, signature=_read_signature(signature))
    ev = trail.get_event(receipt.seq)
    state = "approvals complete" if ev.payload.get("complete") else "more approvals needed"
    _done(f"approved {escape(model)} for {stage} as {ev.actor.id} ({ev.actor.role}): event {receipt.seq}; {state}")


def _read_signature(signature: Path | None) -> str | None:
    """The armored SSH signature in the file ``--signature`` names (None without one)."""
    if signature is None:
        return None
    try:
        return signature.read_text(encoding="ascii")
    except (UnicodeDecodeError, OSError):
        raise ValidationError(f"{signature} is not an armored SSH signature", field="signature") from None


_SIGNATURE = click.option(
    "--signature",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your SSH signature of the --print-body output (ssh-keygen -Y sign -n modeltrail -f KEY FILE).",
)
_PRINT_BODY = click.option("--print-body", is_flag=True, help="Print the bytes to sign and stop (nothing is recorded).")


@click.command("reject")
@click.argument("model")
@click.option("--stage", required=True, help="Stage whose approvers reject the version.")
@click.option("--rationale", required=True, help="Why the version is rejected.")
@_SIGNATURE
@_PRINT_BODY
@_AS
@pass_ctx
@handle_errors
def reject_cmd(
    tc: TrailContext,
    model: str,
    stage: str,
    rationale: str,
    signature: Path | None,
    print_body: bool,
    as_user: str | None,
) -> None:
    """Reject MODEL@VERSION for good (signed where the stage requires it)."""
    trail = tc.trail()
    who = _model_identity(trail, model, as_user)
    if print_body:
        click.echo(reg.rejection_body_for(trail, model, stage, actor=who, rationale=rationale).decode(), nl=False)
        return
    receipt = reg.reject(trail, model, stage, actor=who, rationale=rationale, signature=_read_signature(signature))
    _done(f"rejected {escape(model)}: event {receipt.seq}")


@click.command("revoke-approval")
@click.argument("model")
@click.option("--stage", required=True, help="Stage of the approval to withdraw.")
@click.option("--reason", required=True, help="Why the approval is withdrawn.")
@_AS
@pass_ctx
@handle_errors
def revoke_cmd(tc: TrailContext, model: str, stage: str, reason: str, as_user: str | None) -> None:
    """Withdraw your own approval of MODEL@VERSION for STAGE."""
    trail = tc.trail()
    receipt = reg.revoke_approval(trail, model, stage, actor=_model_identity(trail, model, as_user), reason=reason)
    _done(f"approval revoked: event {receipt.seq}")


# ------------------------------------------------------------------------------------------ lifecycle


@click.command("deploy")
@click.argument("model")
@click.option("--env", required=True, help="Target environment, e.g. production.")
@click.option("--traffic", type=float, default=1.0, show_default=True, help="Traffic share in (0, 1].")
@click.option("--stage", help="Gate stage whose approvals apply (default: the environment name).")
@click.option("--break-glass", "break_glass", metavar="REASON", help="Force the deployment (break_glass role).")
@click.option(
    "--mode",
    type=click.Choice(["live", "shadow", "canary"]),
    default="live",
    show_default=True,
    help="shadow: runs beside the live version, outputs not acted on; canary: a live trial (traffic < 1).",
)
@_SIGNATURE
@_PRINT_BODY
@_AS
@pass_ctx
@handle_errors
def deploy_cmd(
    tc: TrailContext,
    model: str,
    env: str,
    traffic: float,
    stage: str | None,
    break_glass: str | None,
    mode: str,
    signature: Path | None,
    print_body: bool,
    as_user: str | None,
) -> None:
    """Deploy MODEL@VERSION to ENV; refused without a passed gate and complete approvals."""
    trail = tc.trail()
    who = _model_identity(trail, model, as_user)
    if print_body:
        body = reg.deployment_body_for(trail, model, env, actor=who, traffic=traffic, stage=stage)
        click.echo(body.decode(), nl=False)
        return
    receipt = reg.deploy(
        trail,
        model,
        env,
        actor=who,
        traffic=traffic,
        stage=stage,
        break_glass_reason=break_glass,
        mode=mode,
        signature=_read_signature(signature),
    )
    ev = trail.get_event(receipt.seq)
    if ev.payload.get("break_glass"):
        console.print(
            f"[bold red]BREAK-GLASS[/bold red] deployment of {escape(model)} to {escape(env)} by {ev.actor.id}: "
            f"event {receipt.seq}; this stays on the version's record",
            highlight=False,
        )
    else:
        how = "" if mode == "live" else f" in {mode} mode"
        _done(f"deployed {escape(model)} to {escape(env)}{how} at {traffic:g} traffic: event {receipt.seq}")


@click.command("suspend")
@click.argument("model")
@click.option("--env", required=True, help="Environment.")
@click.option("--reason", required=True, help="Why the model is stopped.")
@click.option("--fallback", help="What serves instead (default: the policy's oversight fallback).")
@_AS
@pass_ctx
@handle_errors
def suspend_cmd(tc: TrailContext, model: str, env: str, reason: str, fallback: str | None, as_user: str | None) -> None:
    """Suspend MODEL[@VERSION] in ENV (kill switch; roles.suspend)."""
    trail = tc.trail()
    ident = _model_identity(trail, model, as_user, version=False)
    receipt = reg.suspend(trail, model, env, actor=ident, reason=reason, fallback=fallback)
    _done(f"suspended {escape(model)} in {escape(env)}: event {receipt.seq}")


@click.command("resume")
@click.argument("model")
@click.option("--env", required=True, help="Environment.")
@click.option("--reason", required=True, help="Why serving may resume.")
@_AS
@pass_ctx
@handle_errors
def resume_cmd(tc: TrailContext, model: str, env: str, reason: str, as_user: str | None) -> None:
    """Resume MODEL[@VERSION] in ENV (roles.resume)."""
    trail = tc.trail()
    ident = _model_identity(trail, model, as_user, version=False)
    receipt = reg.resume(trail, model, env, actor=ident, reason=reason)
    _done(f"resumed {escape(model)} in {escape(env)}: event {receipt.seq}")


@click.command("retire")
@click.argument("model")
@click.option("--env", help="Only take it out of this environment (default: retire the version entirely).")
@click.option("--reason", required=True, help="Why the version is retired.")
@_AS
@pass_ctx
@handle_errors
def retire_cmd(tc: TrailContext, model: str, env: str | None, reason: str, as_user: str | None) -> None:
    """Retire MODEL@VERSION."""
    trail = tc.trail()
    receipt = reg.retire(trail, model, actor=_model_identity(trail, model, as_user), reason=reason, env=env)
    _done(f"retired {escape(model)}{' from ' + escape(env) if env else ''}: event {receipt.seq}")


# ------------------------------------------------------------------------------------------ status


def _print_status(st: reg.VersionStatus) -> None:
    v = st.version
    _done(f"[bold]{escape(v.model)}@{v.version}[/bold]  system {escape(v.system)}  state [bold]{v.state}[/bold]")
    _done(f"registered by {escape(v.registrant)} in event {v.registered_seq} ({v.registered_ts})")
    if v.artifact_sha256:
        _done(f"artifact sha256 {v.artifact_sha256}")
    for bg in st.break_glass:
        console.print(
            f"[bold red]BREAK-GLASS[/bold red] {escape(bg.action)} by {escape(bg.actor)} at {bg.ts} "
            f"(event {bg.seq}): {escape(bg.reason)}",
            highlight=False,
        )
    if st.gates:
        t = Table(title="gates", header_style="bold", box=None)
        for col in ("stage", "result", "event"):
            t.add_column(col)
        for g in st.gates.values():
            t.add_row(g.stage, "[green]passed[/green]" if g.passed else "[red]failed[/red]", str(g.seq))
        console.print(t)
    if st.approvals:
        t = Table(title="approvals", header_style="bold", box=None)
        for col in ("stage", "approver", "role", "status", "event", "rationale"):
            t.add_column(col, overflow="fold")
        for a in st.approvals:
            t.add_row(a.stage, escape(a.approver), a.role, a.status, str(a.seq), escape(a.rationale))
        console.print(t)
    if st.deployments:
        t = Table(title="deployments", header_style="bold", box=None)
        for col in ("env", "traffic", "state", "since", "event", "ended"):
            t.add_column(col)
        for d in st.deployments:
            state = d.state + (" [red](break-glass)[/red]" if d.break_glass else "")
            ended = "" if d.ended_seq is None else f"{d.ended_ts} (event {d.ended_seq})"
            t.add_row(escape(d.env), f"{d.traffic:g}", state, d.deployed_ts, str(d.deployed_seq), ended)
        console.print(t)
    for r in st.refusals:
        _done(f"[yellow]refused[/yellow] {r.stage} approval by {escape(r.actor)} ({r.rule}, event {r.seq})")


@click.command("status")
@click.argument("model", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--requirements", is_flag=True, help="Per-requirement compliance status of a system instead.")
@click.option("--system", metavar="S", help="With --requirements: the system (default: the trail's only one).")
@click.option("--html", "as_html", is_flag=True, help="With --requirements: a self-contained HTML page.")
@pass_ctx
@handle_errors
def status_cmd(
    tc: TrailContext, model: str | None, as_json: bool, requirements: bool, system: str | None, as_html: bool
) -> None:
    """Show MODEL@VERSION (or every version of MODEL): state, gates, approvals, deployments, break-glass.

    With --requirements: every catalogue requirement that applies to the system, satisfied / waiting / missing.
    """
    trail = tc.trail()
    if requirements:
        from .documents import print_requirements_status

        print_requirements_status(trail, system or model, as_json, as_html)
        return
    if model is None:
        raise ValidationError("expected MODEL or MODEL@VERSION (or --requirements)", field="model")
    ref = reg.parse_model_ref(model)
    if ref.version is not None:
        st = reg.status(trail, ref)
        if as_json:
            click.echo(json.dumps(st.to_dict(), indent=2))
        else:
            _print_status(st)
        return
    found = reg.versions(trail, ref.name)
    if not found:
        raise NotFoundError(f"no model named {ref.name!r} is registered")
    if as_json:
        click.echo(json.dumps([v.to_dict() for v in found], indent=2))
        return
    t = Table(title=f"model {escape(ref.name)}", header_style="bold")
    for col in ("version", "state", "registrant", "registered", "last gate", "flags"):
        t.add_column(col)
    for v in found:
        gate = "" if v.gate_seq is None else f"{v.gate_stage}: {'passed' if v.gate_passed else 'failed'}"
        t.add_row(
            str(v.version),
            v.state,
            escape(v.registrant),
            v.registered_ts,
            gate,
            "[bold red]BREAK-GLASS[/bold red]" if v.break_glass else "",
        )
    console.print(t)


@click.group("audit")
def audit_group() -> None:
    """Questions an auditor asks of the trail."""


@audit_group.command("live-at")
@click.argument("time")
@click.option("--env", required=True, help="Environment.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
@handle_errors
def live_at_cmd(tc: TrailContext, time: str, env: str, as_json: bool) -> None:
    """What was deployed in ENV at TIME (ISO 8601, e.g. 2026-03-01T12:00:00Z)?"""
    found = reg.live_at(tc.trail(), time, env)
    if as_json:
        click.echo(json.dumps([d._asdict() for d in found], indent=2))
        return
    if not found:
        _done(f"nothing was deployed in {escape(env)} at {escape(time)}")
        return
    t = Table(title=f"{escape(env)} at {escape(time)}", header_style="bold")
    for col in ("model", "traffic", "deployed in event", "state"):
        t.add_column(col)
    for d in found:
        t.add_row(escape(d.model), f"{d.traffic:g}", str(d.deployed_seq), "suspended" if d.suspended else "live")
    console.print(t)


# ------------------------------------------------------------------------------------------ tokens


@click.group("token")
def token_group() -> None:
    """API tokens (identity for CI jobs and services)."""


def _creator(trail: Trail, as_user: str | None) -> Identity:
    """Who creates or revokes a token: the resolved identity, else the operating-system login name.

    The policy's ``roles.tokens`` (default ``admin``) decides; a refusal records who tried.
    """
    return local_identity(trail, as_user=as_user)


@token_group.command("create")
@click.argument("user")
@click.option("--service", is_flag=True, help="The token is for a service (a CI job), not a person.")
@click.option(
    "--expires",
    metavar="WHEN",
    help="The token stops working after a duration (30d, 12h, P90D) or at an ISO 8601 time.",
)
@_AS
@pass_ctx
@handle_errors
def token_create_cmd(tc: TrailContext, user: str, service: bool, expires: str | None, as_user: str | None) -> None:
    """Create an API token for USER and print it once (only its hash is kept). Use it as MODELTRAIL_TOKEN."""
    trail = tc.trail()
    until = token_expiry(expires) if expires is not None else None
    token = create_token(trail, user, _creator(trail, as_user), kind="service" if service else "human", expires=until)
    click.echo(token)
    when = f"; it expires at {format_ts(until)}" if until is not None else ""
    click.echo(f"token for {user} created{when}; it is shown only now: store it as MODELTRAIL_TOKEN", err=True)


@token_group.command("revoke")
@click.argument("token_id")
@click.option("--reason", default="", help="Why the token is revoked.")
@_AS
@pass_ctx
@handle_errors
def token_revoke_cmd(tc: TrailContext, token_id: str, reason: str, as_user: str | None) -> None:
    """Revoke the token TOKEN_ID (the 16 hex characters after mt_)."""
    trail = tc.trail()
    revoke_token(trail, token_id, _creator(trail, as_user), reason=reason)
    _done(f"token {escape(token_id)} revoked")


COMMANDS: list[click.Command] = [
    classify_cmd,
    gate_group,
    approve_cmd,
    reject_cmd,
    revoke_cmd,
    deploy_cmd,
    suspend_cmd,
    resume_cmd,
    retire_cmd,
    status_cmd,
    audit_group,
    token_group,
]

_attach_policy_set()
