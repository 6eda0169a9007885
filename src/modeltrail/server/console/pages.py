"""The console's pages and form actions (thin: every read is a projection query or one page of events, every
write a library call with the signed-in person as actor)."""

from __future__ import annotations

import base64
import fnmatch
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape

from ...audit.check import check as audit_check
from ...audit.reconstruct import prove_event, reconstruct
from ...documents.model import Chart
from ...documents.render import svg_chart
from ...documents.status import compliance_status
from ...errors import ModeltrailError, NotFoundError, ProofError
from ...events import Event
from ...identity import Identity, identity_for_user
from ...monitor.alerts import alerts, clear_alert
from ...monitor.incidents import incidents
from ...policy import Policy
from ...registry import (
    VersionStatus,
    all_versions,
    approval_body_for,
    approve,
    deployments,
    reject,
    resume,
    status,
    suspend,
)
from ...runtime.oversight import get_review_item, review, review_count, review_queue
from ...trail import Trail
from ..state import AppState
from .auth import ConsoleUsers, Session, Throttle, csrf_ok

SESSION_COOKIE = "mt_session"
LOGIN_COOKIE = "mt_login"
PAGE = 50
TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates" / "console"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)

router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    """No live session: the page redirects to ``/login``."""


@dataclass
class ConsoleState:
    """What the console keeps per app: the user store, the sign-in throttles, one flash message per session."""

    users: ConsoleUsers
    per_user: Throttle = field(default_factory=lambda: Throttle(limit=5))
    per_client: Throttle = field(default_factory=lambda: Throttle(limit=20))
    flashes: dict[str, tuple[str, str]] = field(default_factory=dict)
    compliance: dict[str, tuple[float, dict[str, int] | None, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def flash(self, session: Session, kind: str, text: str) -> None:
        """Remember a message for the session's next page."""
        with self.lock:
            self.flashes[session.token_sha256] = (kind, text)

    def pop_flash(self, session: Session) -> tuple[str, str] | None:
        """The session's pending message, once."""
        with self.lock:
            return self.flashes.pop(session.token_sha256, None)


_console_lock = threading.Lock()


def console_state(request: Request) -> ConsoleState:
    """The console's state on the app (created on first use, when the trail and its keys dir exist)."""
    app_state: AppState = request.app.state.modeltrail
    with _console_lock:
        cs: ConsoleState | None = getattr(request.app.state, "console", None)
        if cs is None:
            cs = ConsoleState(ConsoleUsers(app_state.trail().keys_dir))
            request.app.state.console = cs
        return cs


@dataclass(frozen=True)
class Viewer:
    """The signed-in person: their session, identity (roles from the policy in force), the policy, the trail."""

    session: Session
    identity: Identity
    policy: Policy | None
    trail: Trail
    console: ConsoleState

    @property
    def user(self) -> str:
        """The user id."""
        return self.identity.user_id

    def holds(self, roles: tuple[str, ...] | list[str]) -> bool:
        """Whether the viewer holds one of ``roles``."""
        return self.identity.role_for(roles) is not None


def _viewer(request: Request) -> Viewer:
    cs = console_state(request)
    session = cs.users.session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise LoginRequired
    app_state: AppState = request.app.state.modeltrail
    policy = app_state.policy()
    ident = identity_for_user(session.user_id, policy, source="console")
    if policy is not None and policy.users and session.user_id not in policy.users:
        cs.users.end(session)  # removed from the policy since signing in: the session ends with the role
        raise LoginRequired
    return Viewer(session, ident, policy, app_state.trail(), cs)


def viewer(request: Request) -> Viewer:
    """Dependency: the signed-in viewer of a page (else :class:`LoginRequired`)."""
    return _viewer(request)


class CsrfRefused(ModeltrailError):
    """A form post without this session's CSRF token, or from another origin."""

    http_status = 403


async def acting(request: Request) -> Viewer:
    """Dependency of every form action: a signed-in viewer whose form carries the session's CSRF token."""
    v = _viewer(request)
    origin = request.headers.get("origin")
    if origin and origin not in (f"{request.url.scheme}://{request.url.netloc}", "null"):
        raise CsrfRefused(f"refused: the form was posted from {origin}, not from this console")
    form = await request.form()
    given = form.get("csrf") or request.headers.get("x-csrf-token")
    if not csrf_ok(v.session.csrf, given if isinstance(given, str) else None):
        raise CsrfRefused("refused: the form carries no valid CSRF token (reload the page and try again)")
    return v


Page = Annotated[Viewer, Depends(viewer)]
Acting = Annotated[Viewer, Depends(acting)]

# ------------------------------------------------------------------------------------------ rendering

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["json"] = lambda v: json.dumps(v, indent=2, sort_keys=True, default=str, ensure_ascii=False)
_env.filters["short"] = lambda v, n=12: (str(v)[:n] + "…") if v is not None and len(str(v)) > n else v
_env.filters["q"] = lambda v: quote(str(v), safe="")
_env.filters["num"] = lambda v: f"{v:.4g}" if isinstance(v, float) else v


def render(
    request: Request,
    template: str,
    viewer_: Viewer | None,
    status_code: int = 200,
    *,
    fragment: bool = False,
    **context: Any,
) -> HTMLResponse:
    """Render a console page with the shared context (viewer, CSRF token, flash) and the security headers.

    A ``fragment`` (part of a page, fetched by htmx) leaves the pending flash message to the next page.
    """
    flash = viewer_.console.pop_flash(viewer_.session) if viewer_ is not None and not fragment else None
    html = _env.get_template(template).render(
        request=request,
        viewer=viewer_,
        csrf=viewer_.session.csrf if viewer_ is not None else context.pop("login_csrf", ""),
        flash=flash,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code, headers=_headers())


def _headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def back(v: Viewer, to: str, outcome: tuple[str, str]) -> RedirectResponse:
    """Post/redirect/get: remember the outcome for the next page and send the browser to ``to``."""
    v.console.flash(v.session, *outcome)
    return RedirectResponse(to, status_code=303)


def _do(v: Viewer, to: str, ok: str, action: Any, *args: Any, **kwargs: Any) -> RedirectResponse:
    """Run a library action; a refusal (roles, four-eyes, state) comes back as the page's error message."""
    try:
        receipt = action(*args, **kwargs)
    except ModeltrailError as exc:
        return back(v, to, ("error", str(exc)))
    seq = getattr(receipt, "seq", None)
    return back(v, to, ("ok", ok + (f" (event {seq})" if seq is not None else "")))


# ------------------------------------------------------------------------------------------- sign-in


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _login_page(request: Request, error: str | None = None, code: int = 200, next_: str = "/") -> HTMLResponse:
    import secrets

    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html.j2", None, code, login_csrf=token, error=error, next=_safe_next(next_))
    _cookie(resp, request, LOGIN_COOKIE, token, 600)
    return resp


def _safe_next(target: str | None) -> str:
    """Only local paths (never ``//host`` or a scheme): the sign-in page must not redirect elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ch.isspace() or ord(ch) < 32 for ch in target):  # browsers drop tabs and newlines: "/\t/evil"
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    """The sign-in form."""
    return _login_page(request, next_=next)


@router.post("/login", response_model=None)
def login(
    request: Request,
    user: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """Check the password (throttled), start a server-side session and set its cookie."""
    # The sign-in form's CSRF token is a double-submit cookie: there is no session yet to hold it.
    if not csrf_ok(request.cookies.get(LOGIN_COOKIE, ""), csrf):
        return _login_page(request, "The form expired; please sign in again.", 403, next)
    cs = console_state(request)
    user = user.strip()
    keys = (f"user:{user}", f"client:{_client(request)}")
    wait = max(cs.per_user.retry_after(keys[0]), cs.per_client.retry_after(keys[1]))
    if wait:
        refused = _login_page(request, f"Too many failed sign-ins; try again in {wait} seconds.", 429, next)
        refused.headers["Retry-After"] = str(wait)
        return refused
    app_state: AppState = request.app.state.modeltrail
    policy = app_state.policy()
    known = policy is None or not policy.users or user in policy.users
    if not (cs.users.check_password(user, password) and known):
        cs.per_user.failed(keys[0])
        cs.per_client.failed(keys[1])
        return _login_page(request, "Wrong user name or password.", 401, next)
    cs.per_user.succeeded(keys[0])
    token, _session = cs.users.start(user)
    resp = RedirectResponse(_safe_next(next), status_code=303)
    _cookie(resp, request, SESSION_COOKIE, token, None)
    resp.delete_cookie(LOGIN_COOKIE, path="/", httponly=True, samesite="strict")
    return resp


@router.post("/logout")
def logout(v: Acting) -> RedirectResponse:
    """Sign out this browser."""
    v.console.users.end(v.session)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return resp


@router.post("/logout-everywhere")
def logout_everywhere(v: Acting) -> RedirectResponse:
    """Sign out every session of the signed-in person (every browser, every device)."""
    v.console.users.end_all(v.user)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return resp


# ------------------------------------------------------------------------------------------ overview


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, v: Page) -> HTMLResponse:
    """Systems and their risk tier, model versions, what is live, open alerts, incidents and the queue."""
    t = v.trail
    deps = [d for d in deployments(t) if d.state != "ended"]
    open_incidents = [i for i in incidents(t) if i.status != "closed"]
    return render(
        request,
        "overview.html.j2",
        v,
        policy=v.policy,
        versions=all_versions(t, limit=30),
        deployments=deps,
        alerts=alerts(t),
        incidents=open_incidents,
        pending=review_count(t, "pending", cap=10_000),
        size=t.size(),
        checkpoint=t.latest_checkpoint(),
    )


COMPLIANCE_SECONDS = 60.0
"""How long the overview's compliance figures are reused: they move with documents and gates, not per decision."""


@router.get("/compliance", response_class=HTMLResponse)
def compliance_card(request: Request, v: Page) -> HTMLResponse:
    """The AI Act requirement counts of the system (loaded into the overview by htmx, or as a page of its own).

    Assessing every requirement reads dozens of event kinds (tens of milliseconds on a large trail), so the
    figures are computed at most once a minute and the overview itself does not wait for them.
    """
    counts: dict[str, int] | None = None
    as_of = None
    if v.policy is not None:
        now = time.monotonic()
        with v.console.lock:
            cached = v.console.compliance.get(v.policy.system)
        if cached is not None and now - cached[0] < COMPLIANCE_SECONDS:
            counts, as_of = cached[1], cached[2]
        else:
            try:
                counts = compliance_status(v.trail, v.policy.system).counts()
            except ModeltrailError:
                counts = None  # no event of the system yet: nothing to assess
            as_of = datetime.now(UTC).strftime("%H:%M:%S UTC")
            with v.console.lock:
                v.console.compliance[v.policy.system] = (now, counts, as_of)
    fragment = bool(request.headers.get("hx-request"))
    template = "compliance_card.html.j2" if fragment else "compliance.html.j2"
    return render(request, template, v, fragment=fragment, compliance=counts, as_of=as_of)


# ------------------------------------------------------------------------------------------ model version


def lineage_svg(st: VersionStatus) -> Markup:
    """The version's lineage as an inline SVG graph: datasets → training run → version → deployments."""
    mv = st.version
    columns: list[list[str]] = [
        [f"{d.get('role') or 'dataset'}: {str(d.get('ref', '')).removeprefix('dataset:')}" for d in mv.datasets]
        or ["no dataset linked"],
        [f"run {mv.run_id}" if mv.run_id else "no run recorded"],
        [f"{mv.model}@{mv.version} ({mv.state})"],
        [f"{d.env}: {d.state}" for d in st.deployments] or ["not deployed"],
    ]
    box_w, box_h, gap_x, gap_y, pad = 200, 34, 50, 12, 10
    rows = max(len(c) for c in columns)
    height = pad * 2 + rows * box_h + (rows - 1) * gap_y
    width = pad * 2 + len(columns) * box_w + (len(columns) - 1) * gap_x

    def centre_y(n: int, i: int) -> float:
        top = (height - (n * box_h + (n - 1) * gap_y)) / 2
        return top + i * (box_h + gap_y) + box_h / 2

    title = f"Lineage of {mv.model}@{mv.version}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for c, labels in enumerate(columns):
        x = pad + c * (box_w + gap_x)
        for i, label in enumerate(labels):
            y = centre_y(len(labels), i)
            if c + 1 < len(columns):
                nxt = columns[c + 1]
                for j in range(len(nxt)):
                    y2 = centre_y(len(nxt), j)
                    parts.append(
                        f'<line x1="{x + box_w}" y1="{y:.1f}" x2="{x + box_w + gap_x}" y2="{y2:.1f}" '
                        'stroke="#57606a" stroke-width="1.5"/>'
                    )
            text = label if len(label) <= 30 else label[:29] + "…"
            parts.append(
                f'<rect x="{x}" y="{y - box_h / 2:.1f}" width="{box_w}" height="{box_h}" rx="5" fill="#ffffff" '
                f'stroke="{"#0b5cad" if c == 2 else "#8c959f"}" stroke-width="{2 if c == 2 else 1}"/>'
                f'<text x="{x + 8}" y="{y + 4:.1f}" font-size="12" fill="#1b1f24">{escape(text)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _gate_checks(t: Trail, seq: int) -> list[dict[str, Any]]:
    checks = t.get_event(seq).payload.get("checks", [])
    return [c for c in checks if isinstance(c, dict)]


@router.get("/models/{name:path}/v/{version}", response_class=HTMLResponse)
def model_version(request: Request, v: Page, name: str, version: int) -> HTMLResponse:
    """A model version: lineage, gates with their checks, approvals (approve/reject), deployments, documents."""
    t = v.trail
    st = status(t, f"{name}@{version}")
    stages = []
    for stage, gate in v.policy.gates.items() if v.policy is not None else []:
        spec = gate.approvals
        rec = st.gates.get(stage)
        stages.append(
            {
                "stage": stage,
                "gate": rec,
                "checks": _gate_checks(t, rec.seq) if rec is not None else [],
                "approvals": [a for a in st.approvals if a.stage == stage],
                "spec": spec,
                "may_approve": spec is not None and v.holds(spec.roles),
            }
        )
    docs = list(t.events("doc.generated", subject=st.version.subject, descending=True, limit=20))
    subjects = [st.version.subject, *(str(d.get("ref")) for d in st.version.datasets if d.get("ref"))]
    reports = [
        e for subject in subjects for e in t.events("report.generated", subject=subject, descending=True, limit=10)
    ]
    return render(
        request, "model.html.j2", v, st=st, stages=stages, documents=docs, reports=reports, lineage=lineage_svg(st)
    )


def _model_page(name: str, version: int) -> str:
    return f"/models/{name}/v/{version}"


@router.get("/models/{name:path}/v/{version}/sign", response_class=HTMLResponse)
def sign_page(
    request: Request,
    v: Page,
    name: str,
    version: int,
    stage: Annotated[str, Query(max_length=64)],
    rationale: Annotated[str, Query(max_length=2000)] = "",
) -> HTMLResponse:
    """A signed approval, step two: the exact bytes to sign with your SSH key, and the form for the signature."""
    ref = f"{name}@{version}"
    body = None
    error = None
    if rationale.strip():
        try:
            body = approval_body_for(v.trail, ref, stage, actor=v.identity, rationale=rationale).decode("utf-8")
        except ModeltrailError as exc:
            error = str(exc)
    return render(
        request, "sign.html.j2", v, ref=ref, name=name, version=version, stage=stage, rationale=rationale,
        body=body, error=error,
    )  # fmt: skip


@router.post("/models/{name:path}/v/{version}/approve")
def approve_action(
    v: Acting,
    name: str,
    version: int,
    stage: Annotated[str, Form(max_length=64)],
    rationale: Annotated[str, Form(max_length=2000)] = "",
    signature: Annotated[str, Form(max_length=20_000)] = "",
) -> RedirectResponse:
    """Approve the version for a stage as the signed-in person (roles, four-eyes and signatures from the policy)."""
    ref = f"{name}@{version}"
    return _do(
        v, _model_page(name, version), f"You approved {ref} for {stage}", approve,
        v.trail, ref, stage, actor=v.identity, rationale=rationale, signature=signature.strip() or None,
    )  # fmt: skip


@router.post("/models/{name:path}/v/{version}/reject")
def reject_action(
    v: Acting,
    name: str,
    version: int,
    stage: Annotated[str, Form(max_length=64)],
    rationale: Annotated[str, Form(max_length=2000)] = "",
) -> RedirectResponse:
    """Reject the version for good (an approver role of the stage)."""
    ref = f"{name}@{version}"
    return _do(
        v, _model_page(name, version), f"You rejected {ref}", reject,
        v.trail, ref, stage, actor=v.identity, rationale=rationale,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ deployments


@router.get("/deployments", response_class=HTMLResponse)
def deployments_page(request: Request, v: Page, ended: bool = False) -> HTMLResponse:
    """Deployments with the kill switch (suspend with a reason, after confirming) and resume."""
    deps = [d for d in deployments(v.trail) if ended or d.state != "ended"]
    roles = v.policy.roles if v.policy is not None else None
    return render(
        request,
        "deployments.html.j2",
        v,
        deployments=list(reversed(deps)),
        show_ended=ended,
        may_suspend=roles is not None and v.holds(roles.suspend),
        may_resume=roles is not None and v.holds(roles.resume),
    )


@router.post("/deployments/suspend")
def suspend_action(
    v: Acting,
    model: Annotated[str, Form(max_length=300)],
    env: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=2000)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> RedirectResponse:
    """The kill switch: suspend a model (or one version) in an environment; every guard falls back."""
    if confirm != "yes":
        return back(v, "/deployments", ("error", "Tick the confirmation box to suspend."))
    return _do(
        v, "/deployments", f"Suspended {model} in {env}", suspend, v.trail, model, env, actor=v.identity, reason=reason
    )


@router.post("/deployments/resume")
def resume_action(
    v: Acting,
    model: Annotated[str, Form(max_length=300)],
    env: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> RedirectResponse:
    """Resume a suspended model in an environment (roles.resume)."""
    return _do(
        v, "/deployments", f"Resumed {model} in {env}", resume, v.trail, model, env, actor=v.identity, reason=reason
    )


# ------------------------------------------------------------------------------------------ review queue


@router.get("/review", response_class=HTMLResponse)
def review_page(
    request: Request,
    v: Page,
    status_: Annotated[str, Query(alias="status", pattern="^(pending|accepted|overridden)$")] = "pending",
    after: Annotated[int | None, Query(ge=0)] = None,
) -> HTMLResponse:
    """The review queue, oldest first, one index range per page."""
    items = review_queue(v.trail, status=status_, limit=PAGE + 1, after_seq=after)
    more = len(items) > PAGE
    items = items[:PAGE]
    nxt = f"/review?{urlencode({'status': status_, 'after': items[-1].decision_seq})}" if more else None
    return render(request, "review.html.j2", v, items=items, status=status_, next_page=nxt, after=after)


@router.get("/review/{decision_id}", response_class=HTMLResponse)
def review_item(request: Request, v: Page, decision_id: str) -> HTMLResponse:
    """One decision: why it is in the queue, its inputs and explanation, and the accept/override form."""
    item = get_review_item(v.trail, decision_id)
    ev = next(v.trail.events("inference.decision", subject=f"decision:{decision_id}", limit=1), None)
    if ev is None:
        raise NotFoundError(f"no decision {decision_id} in the trail")
    nxt = None
    if item is not None and item.status == "pending":
        following = review_queue(v.trail, status="pending", limit=2, after_seq=item.decision_seq)
        nxt = following[0].decision_id if following else None
    return render(request, "review_item.html.j2", v, item=item, event=ev, next_id=nxt)


def _value(text: str) -> Any:
    """An override value as typed: JSON when it parses (``1``, ``0.5``, ``"approve"``), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@router.post("/review/{decision_id}")
def review_action(
    v: Acting,
    decision_id: str,
    action: Annotated[str, Form(pattern="^(accept|override)$")],
    reason: Annotated[str, Form(max_length=2000)] = "",
    value: Annotated[str, Form(max_length=500)] = "",
    next_id: Annotated[str, Form(max_length=100)] = "",
) -> RedirectResponse:
    """Accept the decision or override it with the reviewer's value; the reason is part of the record."""
    to = f"/review/{quote(next_id, safe='')}" if next_id else "/review"
    if action == "accept":
        return _do(
            v, to, f"Accepted decision {decision_id}", review,
            v.trail, decision_id, actor=v.identity, accept=True, reason=reason,
        )  # fmt: skip
    if not value.strip():
        return back(
            v, f"/review/{quote(decision_id, safe='')}", ("error", "Give the value that replaces the decision.")
        )
    return _do(
        v, to, f"Overrode decision {decision_id}", review,
        v.trail, decision_id, actor=v.identity, override=_value(value.strip()), reason=reason,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ monitoring


def _check_chart(ev: Event) -> Markup | None:
    """The latest monitoring check's figures against their limits, as the reports draw them."""
    bars: list[tuple[str, float]] = []
    for f in ev.payload.get("findings", []) or []:
        if isinstance(f, Mapping) and isinstance(f.get("value"), int | float):
            bars.append((str(f.get("metric") or f.get("name") or "?")[:28], float(f["value"])))
    if not bars:
        return None
    return svg_chart(Chart(f"Monitoring check, event {ev.seq}", bars[:20]))


def series_svg(title: str, points: list[tuple[int, float, str]], limit: float | None, width: int = 420) -> Markup:
    """One metric over successive checks (oldest left) as an inline SVG line, the alert limit dashed.

    ``points`` are (check event, value, level); a point at ``alert`` level is drawn red, ``warn`` amber.
    """
    height, left, right, top, bottom = 150, 56, 12, 14, 26
    values = [v for _, v, _ in points] + ([limit] if limit is not None else [])
    lo, hi = min(0.0, *values), max(values) or 1.0
    span = (hi - lo) or 1.0

    def x(i: int) -> float:
        return left + (width - left - right) * (i / max(1, len(points) - 1))

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - lo) / span)

    path = " ".join(f"{'M' if i == 0 else 'L'}{x(i):.1f},{y(v):.1f}" for i, (_, v, _) in enumerate(points))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#8c959f"/>',
        f'<text x="{left - 6}" y="{y(hi) + 4:.1f}" font-size="11" text-anchor="end">{hi:.3g}</text>',
        f'<text x="{left - 6}" y="{y(lo) + 4:.1f}" font-size="11" text-anchor="end">{lo:.3g}</text>',
        f'<path d="{path}" fill="none" stroke="#2e6da4" stroke-width="2"/>',
    ]
    colours = {"alert": "#b3261e", "warn": "#9a6700"}
    for i, (seq, v, level) in enumerate(points):
        parts.append(
            f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colours.get(level, "#2e6da4")}">'
            f"<title>event {seq}: {v:.4g} ({escape(level)})</title></circle>"
        )
    if limit is not None:
        parts.append(
            f'<line x1="{left}" y1="{y(limit):.1f}" x2="{width - right}" y2="{y(limit):.1f}" stroke="#333" '
            f'stroke-dasharray="4 3"/><text x="{width - right}" y="{y(limit) - 4:.1f}" font-size="11" '
            f'text-anchor="end">alert {limit:g}</text>'
        )
    parts.append(
        f'<text x="{left}" y="{height - 8}" font-size="11">event {points[0][0]}</text>'
        f'<text x="{width - right}" y="{height - 8}" font-size="11" text-anchor="end">event {points[-1][0]}</text>'
        "</svg>"
    )
    return Markup("".join(parts))


def _series(checks: list[Event]) -> list[tuple[str, Markup]]:
    """(metric, chart) per monitored metric (drift, performance, fairness) over the given checks, oldest first."""
    by_metric: dict[str, list[tuple[int, float, str]]] = {}
    limits: dict[str, float | None] = {}
    for ev in reversed(checks):
        for f in ev.payload.get("findings", []) or []:
            if isinstance(f, Mapping) and isinstance(f.get("value"), int | float) and f.get("metric"):
                name = str(f["metric"])
                by_metric.setdefault(name, []).append((ev.seq, float(f["value"]), str(f.get("level", "ok"))))
                alert = f.get("alert")
                limits[name] = float(alert) if isinstance(alert, int | float) else None
    return [
        (name, series_svg(f"{name} over the last {len(pts)} checks", pts, limits[name]))
        for name, pts in by_metric.items()
    ]


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring_page(request: Request, v: Page) -> HTMLResponse:
    """Alerts (open and cleared), clearing an alert, and the latest monitoring checks."""
    t = v.trail
    all_alerts = sorted(alerts(t, include_cleared=True), key=lambda a: -a.seq)
    checks = list(t.events("monitor.checked", descending=True, limit=50))
    chart = _check_chart(checks[0]) if checks else None
    series = _series(checks)
    roles = v.policy.roles if v.policy is not None else None
    return render(
        request,
        "monitoring.html.j2",
        v,
        alerts=all_alerts[:100],
        checks=checks[:20],
        chart=chart,
        series=series,
        may_resume=roles is not None and v.holds(roles.resume),
    )


@router.post("/monitoring/alerts/{seq}/clear")
def clear_action(
    v: Acting,
    seq: int,
    reason: Annotated[str, Form(max_length=2000)] = "",
    resume_model: Annotated[str, Form(alias="resume", max_length=10)] = "",
) -> RedirectResponse:
    """Clear an alert as the signed-in person; optionally lift the suspension it caused (roles.resume)."""
    return _do(
        v, "/monitoring", f"Cleared alert {seq}", clear_alert,
        v.trail, seq, actor=v.identity, reason=reason, resume=resume_model == "yes",
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ incidents


@router.get("/incidents", response_class=HTMLResponse)
def incidents_page(request: Request, v: Page) -> HTMLResponse:
    """Serious incidents (Art. 73) with their reporting deadline and what is left of it."""
    now = datetime.now(UTC)
    items = sorted(incidents(v.trail), key=lambda i: (i.status == "closed", i.deadline))
    return render(request, "incidents.html.j2", v, incidents=[(i, i.clock(now)) for i in items])


# ------------------------------------------------------------------------------------------ audit explorer


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    v: Page,
    type: Annotated[str, Query(max_length=100)] = "",
    subject: Annotated[str, Query(max_length=300)] = "",
    system: Annotated[str, Query(max_length=100)] = "",
    before: Annotated[int | None, Query(ge=0)] = None,
) -> HTMLResponse:
    """The ledger newest first, filtered by type (a glob), subject and system, one indexed page at a time."""
    rows = list(
        v.trail.events(
            type.strip() or None,
            subject=subject.strip() or None,
            system=system.strip() or None,
            before_seq=before,
            limit=PAGE + 1,
            descending=True,
        )
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    filters = {k: val for k, val in (("type", type), ("subject", subject), ("system", system)) if val.strip()}
    nxt = f"/audit?{urlencode({**filters, 'before': rows[-1].seq})}" if more else None
    return render(
        request, "audit.html.j2", v, events=rows, filters=filters, next_page=nxt, before=before, size=v.trail.size()
    )


@router.get("/audit/events/{seq}", response_class=HTMLResponse)
def audit_event(request: Request, v: Page, seq: int) -> HTMLResponse:
    """One event, and its inclusion proof against the latest signed checkpoint (checked here and in the page)."""
    t = v.trail
    ev = t.get_event(seq)
    proof: dict[str, Any] = {}
    problem = None
    try:
        proof, _ = prove_event(t, ev, take_checkpoint=False)
    except ProofError as exc:
        problem = str(exc)
    cp = t.latest_checkpoint()
    browser = None
    if proof:
        browser = {
            "leaf": base64.b64encode(ev.leaf).decode(),
            "index": seq,
            "size": proof.get("tree_size"),
            "path": proof.get("proof", []),
            "root": proof.get("root"),
        }
    return render(
        request, "audit_event.html.j2", v, event=ev, proof=proof, problem=problem, checkpoint=cp,
        browser=json.dumps(browser) if browser else None,
    )  # fmt: skip


@router.post("/audit/checkpoint")
def checkpoint_action(v: Acting, back_to: Annotated[str, Form(max_length=300)] = "/audit") -> RedirectResponse:
    """Sign a checkpoint of the current tree head (so the newest events can be proved)."""
    cp = v.trail.checkpoint()
    return back(v, _safe_next(back_to), ("ok", f"Signed a checkpoint of {cp.size} events"))


@router.post("/audit/bundle", response_model=None)
def bundle_action(
    v: Acting,
    since: Annotated[str, Form(max_length=40)] = "",
    until: Annotated[str, Form(max_length=40)] = "",
    decisions: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """Export an audit bundle of the system (a period or some decisions), verifiable offline, as a download."""
    import tempfile

    from starlette.background import BackgroundTask
    from starlette.responses import FileResponse

    from ...audit.bundle import bundle_decision_ids, export_bundle

    if v.policy is None:
        return back(v, "/audit", ("error", "No policy is registered, so there is no system to export."))
    folder = tempfile.mkdtemp(prefix="modeltrail-bundle-")
    out = Path(folder) / f"audit-bundle-{v.policy.system}.zip"
    try:
        ids = bundle_decision_ids(v.trail, [decisions]) if decisions.strip() else None
        export_bundle(
            v.trail, out, system=v.policy.system, since=since.strip() or None, until=until.strip() or None,
            decisions=ids, actor=v.identity,
        )  # fmt: skip
    except ModeltrailError as exc:
        _remove(folder)
        return back(v, "/audit", ("error", str(exc)))
    cleanup = BackgroundTask(_remove, folder)
    return FileResponse(out, media_type="application/zip", filename=out.name, background=cleanup)


def _remove(folder: str) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


@router.get("/audit/reconstruct", response_class=HTMLResponse)
def reconstruct_page(request: Request, v: Page, decision: Annotated[str, Query(max_length=200)] = "") -> HTMLResponse:
    """Reconstruct a decision from the ledger: model, approvals, lineage, oversight, and its proof."""
    rec = None
    error = None
    if decision.strip():
        try:
            rec = reconstruct(v.trail, decision.strip(), take_checkpoint=False)
        except ModeltrailError as exc:
            error = str(exc)
    return render(request, "reconstruct.html.j2", v, rec=rec, decision=decision, error=error)


@router.get("/audit/check", response_class=HTMLResponse)
def audit_check_page(request: Request, v: Page) -> HTMLResponse:
    """The form that runs ``audit check``."""
    return render(request, "audit_check.html.j2", v, result=None)


@router.post("/audit/check", response_class=HTMLResponse)
def audit_check_action(request: Request, v: Acting) -> HTMLResponse:
    """Replay every governance rule over the ledger (``modeltrail audit check``): a full read, on request only."""
    return render(request, "audit_check.html.j2", v, result=audit_check(v.trail))


# ------------------------------------------------------------------------------------------ documents


@router.get("/documents", response_class=HTMLResponse)
def documents_page(request: Request, v: Page, kind: Annotated[str, Query(max_length=64)] = "") -> HTMLResponse:
    """Generated documents, newest first (one page of ``doc.generated`` events)."""
    docs = list(v.trail.events("doc.generated", descending=True, limit=200))
    if kind:
        docs = [d for d in docs if fnmatch.fnmatchcase(str(d.payload.get("kind")), kind)]
    return render(request, "documents.html.j2", v, documents=docs, kind=kind)


# Generated HTML is shown as a sandboxed page: no scripts, no same-origin access to the console.
_SANDBOX = {"Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"}


@router.get("/documents/{seq}/{fmt}", response_model=None)
def document_file(v: Page, seq: int, fmt: str) -> Response:
    """A document's HTML (sandboxed: no scripts, no same-origin access) or PDF, from the blob store."""
    ev = v.trail.get_event(seq)
    formats = ev.payload.get("formats") if ev.type == "doc.generated" else None
    entry = formats.get(fmt) if isinstance(formats, dict) else None
    if fmt not in ("html", "pdf") or not isinstance(entry, dict):
        raise NotFoundError(f"event {seq} has no {fmt} document")
    with v.trail.blobs.open(str(entry["sha256"])) as fh:
        data = fh.read()
    media = "text/html; charset=utf-8" if fmt == "html" else "application/pdf"
    headers = dict(_SANDBOX)
    if fmt == "pdf":
        headers["Content-Disposition"] = f'attachment; filename="{ev.payload.get("kind", "document")}-{seq}.pdf"'
    return Response(data, media_type=media, headers={**headers, "X-Content-Type-Options": "nosniff"})


@router.get("/reports/{seq}", response_model=None)
def report_file(v: Page, seq: int) -> Response:
    """An evidence report's HTML from the blob store (sandboxed like the documents)."""
    ev = v.trail.get_event(seq)
    digest = ev.payload.get("html_sha256") if ev.type == "report.generated" else None
    if not isinstance(digest, str):
        raise NotFoundError(f"event {seq} has no HTML report")
    with v.trail.blobs.open(digest) as fh:
        data = fh.read()
    return Response(
        data, media_type="text/html; charset=utf-8", headers={**_SANDBOX, "X-Content-Type-Options": "nosniff"}
    )


# ------------------------------------------------------------------------------------------ errors


def error_page(request: Request, exc: ModeltrailError) -> HTMLResponse:
    """A library error on a console page, as a page (the API keeps answering JSON)."""
    try:
        v: Viewer | None = _viewer(request)
    except (LoginRequired, ModeltrailError):
        v = None
    return render(request, "error.html.j2", v, exc.http_status, message=str(exc))
