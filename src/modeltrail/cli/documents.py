"""Document commands: ``modeltrail docs build|list|check|answer|verify|risk …``, and the requirement-by-
requirement compliance status (``modeltrail status --requirements``, attached in :mod:`.registry`).

A thin layer over :mod:`modeltrail.documents`. Exit codes: 0 success; 1 ``docs check`` found a stale
document or ``docs verify`` a bad signature; 2 bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from ..documents import (
    KINDS,
    STATEMENTS,
    build_documents,
    identify_risk,
    load_answers,
    mitigate_risk,
    proposed_risks,
    record_answers,
    record_statement,
    review_risk,
    risk_register,
)
from ..documents.signing import personal_body, personal_signatures, sign_personally, verify_document
from ..documents.staleness import check_documents, latest_documents
from ..documents.status import ComplianceStatus, compliance_status, render_status_html
from ..errors import NotFoundError, ValidationError
from ..events import Actor
from ..identity import resolve_identity
from ..trail import Trail
from .flags import impersonation_option
from .main import TrailContext, console, handle_errors, pass_ctx

_AS = impersonation_option
_SYSTEM = click.option("--system", "system", required=True, metavar="S", help="AI system name.")


def _person(trail: Trail, system: str | None, as_user: str | None, role: str | None = None) -> Actor:
    """The acting person, in ``role`` when they hold it (the role a statement is expected from)."""
    from ..registry import current_policy

    try:
        policy = current_policy(trail, system)
    except NotFoundError:
        policy = None
    ident = resolve_identity(trail, policy, as_user=as_user)
    return ident.acting_as(ident.role_for([role]) if role else None)


@click.group("docs")
def docs_group() -> None:
    """Documents generated from evidence (Annex IV, model and dataset cards, declaration, …)."""


@docs_group.command("build")
@click.argument("target", metavar="MODEL@VERSION|SYSTEM")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    default=("all",),
    show_default=True,
    help=f"Document kind (repeatable): all, {', '.join(KINDS)}.",
)
@click.option("--format", "formats", default="md,html", show_default=True, help="Comma list of md, html, pdf, json.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Output folder (default documents/SYSTEM).")
@click.option("--templates", type=click.Path(path_type=Path), help="Folder of template overrides (KIND.md.j2 …).")
@click.option("--dataset", metavar="REF", help="Only the dataset card of this dataset version.")
@click.option("--json", "as_json", is_flag=True, help="Print what was generated as JSON.")
@_AS
@pass_ctx
@handle_errors
def build_cmd(
    tc: TrailContext,
    target: str,
    kinds: tuple[str, ...],
    formats: str,
    out_dir: Path | None,
    templates: Path | None,
    dataset: str | None,
    as_json: bool,
    as_user: str | None,
) -> None:
    """Generate documents for MODEL@VERSION (or the deployed version of SYSTEM), record doc.generated."""
    trail = tc.trail()
    from ..documents.evidence import resolve_target

    system, _ = resolve_target(trail, target)
    actor = _person(trail, system, as_user)
    kind_arg: list[str] | str = "all" if "all" in kinds else list(kinds)
    out = build_documents(
        trail, target, kind_arg, actor=actor, formats=formats, out_dir=out_dir, templates=templates, dataset=dataset
    )
    if as_json:
        click.echo(json.dumps([d.to_dict() for d in out], indent=2))
        return
    t = Table(header_style="bold", box=None)
    for col in ("kind", "subject", "event", "open items", "files"):
        t.add_column(col, overflow="fold")
    for d in out:
        t.add_row(
            d.kind, escape(d.subject), str(d.seq), str(len(d.open_items)), escape(" ".join(map(str, d.files.values())))
        )
    console.print(t)
    gaps = [g for d in out for g in d.gaps]
    if gaps:
        console.print(f"[yellow]{len(gaps)} field(s) lack evidence[/yellow]: " + escape("; ".join(gaps[:5])))


@docs_group.command("list")
@click.option("--system", metavar="S", help="Only documents of this system.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
@handle_errors
def list_cmd(tc: TrailContext, system: str | None, as_json: bool) -> None:
    """The latest generated document of each kind and subject, with its sha256 and checkpoint."""
    docs = latest_documents(tc.trail(), system)
    if as_json:
        click.echo(json.dumps([{"seq": e.seq, "ts": e.ts, "subject": e.subject, **e.payload} for e in docs], indent=2))
        return
    t = Table(header_style="bold", box=None)
    for col in ("event", "generated", "kind", "subject", "checkpoint", "open", "sha256"):
        t.add_column(col, overflow="fold")
    for e in docs:
        cp = e.payload.get("checkpoint") or {}
        t.add_row(
            str(e.seq),
            e.ts[:19],
            str(e.payload.get("kind")),
            escape(str(e.subject)),
            f"{cp.get('size')}",
            str(len(e.payload.get("open_items") or [])),
            str(e.payload.get("sha256"))[:16] + "…",
        )
    console.print(t)


@docs_group.command("check")
@click.option("--system", metavar="S", help="Only documents of this system.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
@handle_errors
def check_cmd(tc: TrailContext, system: str | None, as_json: bool) -> None:
    """Say which documents are stale and why (exit 1 if any is)."""
    states = check_documents(tc.trail(), system)
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in states], indent=2))
    else:
        if not states:
            console.print("no generated documents")
        for s in states:
            mark = "[red]STALE[/red]" if s.stale else "[green]current[/green]"
            console.print(f"{mark} {s.kind} {escape(s.subject)} (event {s.seq}, {s.ts[:19]})", highlight=False)
            for r in s.reasons:
                console.print(f"    {escape(r)}", highlight=False)
    if any(s.stale for s in states):
        sys.exit(1)


@docs_group.command("answer")
@click.argument("key", required=False)
@_SYSTEM
@click.option("--text", help="The statement.")
@click.option("--file", "file", type=click.Path(path_type=Path), help="YAML mapping KEY: text (several answers).")
@_AS
@pass_ctx
@handle_errors
def answer_cmd(
    tc: TrailContext, key: str | None, system: str, text: str | None, file: Path | None, as_user: str | None
) -> None:
    """Answer an open item: record statement KEY (e.g. system.intended_purpose) as a doc.statement event."""
    trail = tc.trail()
    if file is not None:
        if key is not None or text is not None:
            raise ValidationError("give either KEY --text or --file, not both", field="file")
        answers = load_answers(file)
        receipts = record_answers(trail, system, answers, actor=_person(trail, system, as_user))
        console.print(f"recorded {len(receipts)} statements (events {receipts[0].seq}–{receipts[-1].seq})")
        return
    if key is None or text is None:
        raise ValidationError("expected KEY and --text (or --file)", field="text" if key else "key")
    role = STATEMENTS[key].role if key in STATEMENTS else None
    r = record_statement(trail, system, key, text, actor=_person(trail, system, as_user, role))
    console.print(f"recorded {escape(key)} for {escape(system)}: event {r.seq}", highlight=False)


@docs_group.command("statements")
def statements_cmd() -> None:
    """List the statement keys documents ask for, with the role expected to answer."""
    t = Table(header_style="bold", box=None)
    for col in ("key", "answered by", "statement", "serves"):
        t.add_column(col, overflow="fold")
    for s in STATEMENTS.values():
        t.add_row(s.key, s.role, escape(s.title), s.evidence)
    console.print(t)


@docs_group.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sig", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Default FILE.sig.")
@pass_ctx
@handle_errors
def verify_cmd(tc: TrailContext, file: Path, sig: Path | None) -> None:
    """Check a generated file against its signed note (the trail's verifier keys)."""
    note = (sig or file.with_suffix(file.suffix + ".sig")).read_text(encoding="utf-8")
    text = verify_document(tc.trail(), file.read_bytes(), note)
    console.print("[green]signature OK[/green]\n" + escape(text), highlight=False)


@docs_group.command("sign")
@click.argument("document_seq", type=int)
@click.option(
    "--signature",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your armored SSH signature (ssh-keygen -Y sign -n modeltrail) over the --print-body text.",
)
@click.option("--print-body", is_flag=True, help="Print the exact text to sign and stop.")
@_AS
@pass_ctx
@handle_errors
def sign_cmd(
    tc: TrailContext, document_seq: int, signature: Path | None, print_body: bool, as_user: str | None
) -> None:
    """Add your own SSH signature to generated document DOCUMENT_SEQ (e.g. the declaration of conformity)."""
    trail = tc.trail()
    doc = trail.get_event(document_seq)
    if print_body:
        click.echo(personal_body(doc).decode("utf-8"), nl=False)
        return
    if signature is None:
        raise ValidationError("give --signature FILE (or --print-body to see what to sign)", field="signature")
    who = _person(trail, doc.system, as_user)
    r = sign_personally(trail, document_seq, signature.read_text(encoding="utf-8"), actor=who)
    n = len(personal_signatures(trail, document_seq))
    console.print(f"signed by {escape(who.id)}: event {r.seq} ({n} personal signature(s) on event {document_seq})")


@docs_group.group("risk")
def risk_group() -> None:
    """The Art. 9 risk register (risk.identified / risk.mitigated / risk.reviewed events)."""


@risk_group.command("add")
@click.argument("risk_id")
@_SYSTEM
@click.option("--title", required=True)
@click.option("--category", required=True, help="health_safety, fundamental_rights, discrimination, privacy, …")
@click.option("--likelihood", type=int, required=True, help="1-5.")
@click.option("--impact", type=int, required=True, help="1-5.")
@click.option("--owner", required=True)
@click.option("--review-by", "review_by", required=True, metavar="YYYY-MM-DD")
@click.option("--from-event", "source", type=int, help="The evidence event that proposed the risk.")
@_AS
@pass_ctx
@handle_errors
def risk_add_cmd(
    tc: TrailContext,
    risk_id: str,
    system: str,
    title: str,
    category: str,
    likelihood: int,
    impact: int,
    owner: str,
    review_by: str,
    source: int | None,
    as_user: str | None,
) -> None:
    """Identify a risk."""
    trail = tc.trail()
    r = identify_risk(
        trail,
        system,
        risk_id,
        title=title,
        category=category,
        likelihood=likelihood,
        impact=impact,
        owner=owner,
        review_by=review_by,
        actor=_person(trail, system, as_user),
        source_seq=source,
    )
    console.print(f"risk {escape(risk_id)} identified: event {r.seq}", highlight=False)


@risk_group.command("mitigate")
@click.argument("risk_id")
@_SYSTEM
@click.option("--text", "mitigation", required=True, help="The measure taken.")
@click.option("--residual-likelihood", type=int, required=True)
@click.option("--residual-impact", type=int, required=True)
@_AS
@pass_ctx
@handle_errors
def risk_mitigate_cmd(
    tc: TrailContext,
    risk_id: str,
    system: str,
    mitigation: str,
    residual_likelihood: int,
    residual_impact: int,
    as_user: str | None,
) -> None:
    """Record a mitigation and the residual risk."""
    trail = tc.trail()
    r = mitigate_risk(
        trail,
        system,
        risk_id,
        mitigation=mitigation,
        residual_likelihood=residual_likelihood,
        residual_impact=residual_impact,
        actor=_person(trail, system, as_user),
    )
    console.print(f"risk {escape(risk_id)} mitigated: event {r.seq}", highlight=False)


@risk_group.command("review")
@click.argument("risk_id")
@_SYSTEM
@click.option("--outcome", required=True)
@click.option("--next", "next_review", required=True, metavar="YYYY-MM-DD")
@_AS
@pass_ctx
@handle_errors
def risk_review_cmd(
    tc: TrailContext, risk_id: str, system: str, outcome: str, next_review: str, as_user: str | None
) -> None:
    """Record a review of a risk and the next review date."""
    trail = tc.trail()
    r = review_risk(
        trail, system, risk_id, outcome=outcome, next_review=next_review, actor=_person(trail, system, as_user)
    )
    console.print(f"risk {escape(risk_id)} reviewed: event {r.seq}", highlight=False)


@risk_group.command("list")
@_SYSTEM
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
@handle_errors
def risk_list_cmd(tc: TrailContext, system: str, as_json: bool) -> None:
    """The register (overdue reviews marked) and the risks evidence proposes."""
    trail = tc.trail()
    reg = risk_register(trail, system)
    proposed = proposed_risks(trail, system)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "risks": [r.__dict__ | {"score": r.score, "overdue": r.overdue()} for r in reg.values()],
                    "proposed": [p.__dict__ for p in proposed],
                },
                indent=2,
            )
        )
        return
    t = Table(title="risk register", header_style="bold", box=None)
    for col in ("id", "category", "risk", "score", "residual", "owner", "review by"):
        t.add_column(col, overflow="fold")
    for r in reg.values():
        due = r.review_by + (" [red]OVERDUE[/red]" if r.overdue() else "")
        t.add_row(
            r.risk_id, r.category, escape(r.title), str(r.score), str(r.residual_score or "—"), escape(r.owner), due
        )
    console.print(t)
    for p in proposed:
        console.print(f"proposed (event {p.source_seq}, {escape(p.source)}): {escape(p.text)}", highlight=False)


# ------------------------------------------------------------------------------ status --requirements


def print_requirements_status(trail: Trail, system: str | None, as_json: bool, as_html: bool) -> None:
    """``modeltrail status --requirements``: the per-requirement status of SYSTEM (default: the only system)."""
    if system is None:
        systems = sorted(
            {e.system for e in trail.events("system.classified")}
            | {e.system for e in trail.events("policy.registered")}
        )
        if len(systems) != 1:
            raise ValidationError(
                "expected --system S" + (f" (one of {', '.join(systems)})" if systems else ""), field="--system"
            )
        system = systems[0]
    st = compliance_status(trail, system)
    if as_json:
        click.echo(json.dumps(st.to_dict(), indent=2))
    elif as_html:
        click.echo(render_status_html(st, trail), nl=False)
    else:
        _print_status(st)


def _print_status(st: ComplianceStatus) -> None:
    c = st.counts()
    console.print(
        f"[bold]{escape(st.system)}[/bold]  tiers {', '.join(st.tiers)}  roles {', '.join(st.roles)}  "
        f"[green]{c['satisfied']} satisfied[/green], [yellow]{c['waiting']} waiting[/yellow], "
        f"[red]{c['missing']} missing[/red], {c['informational']} informational",
        highlight=False,
    )
    t = Table(title="readiness per article", header_style="bold", box=None)
    for col in ("article", "satisfied", "waiting", "missing", "readiness"):
        t.add_column(col)
    for name, a in st.articles().items():
        ready = "—" if a["readiness"] is None else f"{a['readiness']:.0%}"
        t.add_row(name, str(a["satisfied"]), str(a["waiting"]), str(a["missing"]), ready)
    console.print(t)
    t = Table(title="requirements", header_style="bold", box=None)
    for col in ("id", "provision", "state", "evidence"):
        t.add_column(col, overflow="fold")
    colour = {"satisfied": "green", "waiting": "yellow", "missing": "red", "informational": "dim"}
    for r in st.requirements:
        detail = "; ".join(
            f"{e.name} {e.state}"
            + (f" (events {', '.join(map(str, e.seqs[:4]))})" if e.seqs else "")
            + (f" by {', '.join(e.who)}" if e.who else "")
            + (f" since {e.since[:10]}" if e.since else "")
            for e in r.evidence
        )
        t.add_row(r.id, escape(r.article), f"[{colour[r.state]}]{r.state}[/{colour[r.state]}]", escape(detail))
    console.print(t)


COMMANDS: list[click.Command] = [docs_group]
