"""The console in a real browser: Playwright driving Debian's Chromium (``/usr/bin/chromium``; never
``playwright install``) against ``modeltrail serve``'s app under uvicorn on a loopback port.

Covers sign-in (and a refused wrong password), four-eyes approval, the kill switch reaching a running guard,
a review override with its reason, the audit explorer verifying an inclusion proof in the browser, and an
axe-core accessibility check of every page (no serious or critical violation). Screenshots of each page go
to ``tests/artifacts/console/`` (gitignored), or ``$MODELTRAIL_ARTIFACTS`` when set.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("argon2")
pytest.importorskip("playwright.sync_api")
pytest.importorskip("uvicorn")
import uvicorn
from playwright.sync_api import sync_playwright

from _console_support import PASSWORD, build
from modeltrail.server import create_app

CHROMIUM = os.environ.get("MODELTRAIL_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("MODELTRAIL_ARTIFACTS", Path(__file__).parent / "artifacts")) / "console"

pytestmark = [
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists(),
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; CI installs it)",
    ),
    pytest.mark.timeout(240),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("console-browser") / "trail"
    built = build(folder, decisions=30)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(str(folder)), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield {**built, "url": f"http://127.0.0.1:{port}", "folder": folder}
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        built["guard"].close()
        built["trail"].close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


def _page(browser: Any) -> Any:
    # bypass_csp only so that the test can inject axe-core; the console's own scripts are same-origin files.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def _sign_in(page: Any, url: str, user: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("User").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _flash(page: Any) -> str:
    return str(page.locator(".flash").first.inner_text())


def test_sign_in_refuses_a_wrong_password_then_signs_in(served: dict[str, Any], browser: Any) -> None:
    page = _page(browser)
    page.goto(served["url"] + "/review")
    assert "/login" in page.url
    _shot(page, "login")
    _sign_in(page, served["url"], "bob", "not the password")
    assert "Wrong user name or password" in page.locator("#login-error").inner_text()
    _sign_in(page, served["url"], "bob")
    page.wait_for_url(served["url"] + "/")
    assert page.get_by_role("heading", name="Overview").is_visible()
    page.wait_for_selector("#compliance >> text=satisfied")  # the compliance card, loaded by htmx
    assert "bob" in page.locator(".who").inner_text()
    page.context.close()


def test_four_eyes_refuses_the_registrant_and_accepts_a_second_approver(served: dict[str, Any], browser: Any) -> None:
    page = _page(browser)
    _sign_in(page, served["url"], "alice")
    page.goto(served["url"] + "/models/credit/v/2")
    page.get_by_label("Rationale (recorded with your approval)").fill("I trained it")
    page.get_by_role("button", name="Approve for production").click()
    assert "cannot approve it (four-eyes rule)" in _flash(page)
    page.context.close()
    page = _page(browser)
    _sign_in(page, served["url"], "bob")
    page.goto(served["url"] + "/models/credit/v/2")
    page.get_by_label("Rationale (recorded with your approval)").fill("Validation evidence reviewed")
    page.get_by_role("button", name="Approve for production").click()
    assert "You approved credit@2 for production" in _flash(page)
    assert "bob (model_risk) active" in page.content()
    _shot(page, "model-version")
    page.context.close()


def test_the_kill_switch_turns_the_running_guard_to_its_fallback(served: dict[str, Any], browser: Any) -> None:
    g = served["guard"]
    assert g.suspension is None
    page = _page(browser)
    _sign_in(page, served["url"], "erin")
    page.goto(served["url"] + "/deployments")
    _shot(page, "deployments")
    form = page.get_by_role("form", name="Suspend credit@1 in production")
    form.get_by_label("Reason").fill("Drift alarm from monitoring")
    form.get_by_role("button", name="Suspend (kill switch)").click()
    # The browser refuses to post without the confirmation: still no suspension.
    assert page.url.endswith("/deployments") and not page.locator(".flash").count()
    form.get_by_label("I confirm").check()
    form.get_by_role("button", name="Suspend (kill switch)").click()
    assert "Suspended credit@1 in production" in _flash(page)
    deadline = time.monotonic() + 10
    while g.suspension is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert g.suspension is not None
    d = g.decide({"income": 50.0, "debt": 10.0})
    assert d.route == "fallback"
    page.context.close()
    t = served["trail"]
    ev = next(t.events("model.suspended", descending=True, limit=1))
    assert ev.actor.id == "erin" and ev.payload["reason"] == "Drift alarm from monitoring"


def test_a_review_override_is_recorded_with_its_reason(served: dict[str, Any], browser: Any) -> None:
    page = _page(browser)
    _sign_in(page, served["url"], "bob")
    page.goto(served["url"] + "/review")
    _shot(page, "review-queue")
    page.locator("table a").first.click()
    page.wait_for_url("**/review/*")
    decision_id = page.url.rsplit("/", 1)[1]
    _shot(page, "review-decision")
    page.get_by_label("Reason (part of the oversight record)").fill("Documented income offsets the debt")
    page.get_by_label("Override value (only when overriding)").fill("0")
    page.get_by_role("button", name="Override with the value").click()
    assert f"Overrode decision {decision_id}" in _flash(page)
    page.context.close()
    ev = next(served["trail"].events("oversight.overridden", subject=f"decision:{decision_id}", limit=1))
    assert ev.actor.id == "bob" and ev.payload["reason"] == "Documented income offsets the debt"
    assert ev.payload["value"] == 0


def test_the_audit_explorer_verifies_a_proof_in_the_browser(served: dict[str, Any], browser: Any) -> None:
    page = _page(browser)
    _sign_in(page, served["url"], "dave")
    page.goto(served["url"] + "/audit?type=model.*")
    _shot(page, "audit")
    page.locator("table a").first.click()
    page.wait_for_url("**/audit/events/*")
    if page.get_by_role("button", name="Sign a checkpoint now").count():
        page.get_by_role("button", name="Sign a checkpoint now").click()
    page.wait_for_selector("#proof-browser[data-verified]")
    assert page.locator("#proof-browser").get_attribute("data-verified") == "yes"
    assert "Verified by the server" in page.locator("#proof-server").inner_text()
    _shot(page, "audit-event")
    page.goto(served["url"] + "/audit/check")
    page.get_by_role("button", name="Run audit check").click()
    assert page.locator("#check-result").inner_text() in ("No rule broken", "Rules broken")
    _shot(page, "audit-check")
    page.context.close()


PAGES = {
    "overview": "/",
    "model": "/models/credit/v/1",
    "deployments": "/deployments",
    "review": "/review",
    "monitoring": "/monitoring",
    "incidents": "/incidents",
    "audit": "/audit",
    "audit-event": "/audit/events/2",
    "reconstruct": "/audit/reconstruct",
    "audit-check": "/audit/check",
    "documents": "/documents",
}


def _axe(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, n: v.nodes.length})); }"
    )
    return found


def test_every_page_has_no_serious_accessibility_violation(served: dict[str, Any], browser: Any) -> None:
    page = _page(browser)
    report: dict[str, list[str]] = {}
    minor: dict[str, list[str]] = {}
    decision = served["review"][-1]
    pages = {
        "login": "/login",
        **PAGES,
        "reconstruction": f"/audit/reconstruct?decision={decision}",
        "decision": f"/review/{decision}",
        "sign": "/models/credit/v/1/sign?stage=production&rationale=x",
    }
    for name, path in pages.items():
        if name == "overview":
            _sign_in(page, served["url"], "bob")
        page.goto(served["url"] + path)
        assert page.locator("main").count() == 1, name
        _shot(page, f"page-{name}")
        result = _axe(page)
        bad = [f"{v['id']} ({v['impact']}, {v['n']})" for v in result if v["impact"] in ("serious", "critical")]
        if bad:
            report[name] = bad
        other = [f"{v['id']} ({v['impact']}, {v['n']})" for v in result if v["impact"] not in ("serious", "critical")]
        if other:
            minor[name] = other
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "axe.json").write_text(json.dumps({"serious": report, "other": minor}, indent=2), encoding="utf-8")
    assert report == {}
    page.context.close()


def test_keyboard_navigation_moves_through_the_queue(served: dict[str, Any], browser: Any) -> None:
    page = _page(browser)
    _sign_in(page, served["url"], "bob")
    page.goto(served["url"] + "/review")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "skip"
    page.locator("body").press("j")
    page.locator("body").press("j")
    focused = page.evaluate("document.activeElement.getAttribute('href')")
    assert focused and focused.startswith("/review/")
    page.keyboard.press("Enter")
    page.wait_for_url("**/review/*")
    page.context.close()


def test_the_audit_filter_updates_the_results_in_place(served: dict[str, Any], browser: Any) -> None:
    page = _page(browser)
    _sign_in(page, served["url"], "dave")
    page.goto(served["url"] + "/audit")
    page.evaluate("window.__same_page = true")  # survives only if htmx swapped the results in place
    page.get_by_label("Type (glob)").fill("incident.*")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/audit?type=incident*")
    types = page.locator("#results tbody td:nth-child(3)").all_inner_texts()
    assert types and all(t.startswith("incident.") for t in types)
    assert page.evaluate("window.__same_page === true")
    page.locator("#results table a").first.click()  # an event opens as a whole page
    page.wait_for_url("**/audit/events/*")
    assert page.get_by_role("heading", name="Inclusion proof").is_visible()
    page.context.close()
