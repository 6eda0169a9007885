"""The oversight console over HTTP (no browser): sign-in, sessions, CSRF, throttling, roles through the library,
every page rendering, and the offline API docs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("argon2")
from fastapi.testclient import TestClient

import modeltrail
from _console_support import PASSWORD, build
from modeltrail.server import create_app
from modeltrail.server.console.auth import ConsoleUsers, Throttle

PAGES = [
    "/", "/models/credit/v/1", "/models/credit/v/2", "/deployments", "/deployments?ended=true", "/review",
    "/review?status=accepted", "/monitoring", "/incidents", "/audit", "/audit?type=model.*", "/audit/events/1",
    "/audit/reconstruct", "/audit/check", "/documents", "/compliance",
]  # fmt: skip


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("console") / "trail"
    built = build(folder, decisions=30)
    built["guard"].close()
    built["trail"].close()
    app = create_app(str(folder))
    return {**built, "folder": folder, "app": app}


def client(console: dict[str, Any]) -> TestClient:
    return TestClient(console["app"], base_url="http://127.0.0.1", raise_server_exceptions=False)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


def sign_in(c: TestClient, user: str, password: str = PASSWORD) -> Any:
    token = csrf_of(c.get("/login").text)
    return c.post(
        "/login", data={"user": user, "password": password, "csrf": token, "next": "/"}, follow_redirects=False
    )


def signed_in(console: dict[str, Any], user: str) -> TestClient:
    c = client(console)
    assert sign_in(c, user).status_code == 303
    return c


def test_pages_need_a_session_and_send_you_to_sign_in(console: dict[str, Any]) -> None:
    c = client(console)
    for page in PAGES:
        r = c.get(page, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), page
    r = c.get("/review", headers={"hx-request": "true"}, follow_redirects=False)
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/login"


def test_sign_in_sets_a_strict_http_only_cookie_and_refuses_a_wrong_password(console: dict[str, Any]) -> None:
    c = client(console)
    r = sign_in(c, "bob", "not the password")
    assert r.status_code == 401 and "Wrong user name or password" in r.text and "mt_session" not in r.cookies
    r = sign_in(c, "mallory")  # not a console user
    assert r.status_code == 401
    r = sign_in(c, "bob")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("mt_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie  # plain http here
    page = c.get("/")
    assert page.status_code == 200 and "bob" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


def test_the_cookie_is_secure_over_tls(console: dict[str, Any]) -> None:
    c = TestClient(console["app"], base_url="https://console.example")
    r = sign_in(c, "carol")
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("mt_session="))
    assert "Secure" in cookie


def test_only_hashes_are_stored_in_a_0600_file(console: dict[str, Any]) -> None:
    c = signed_in(console, "dave")
    token = c.cookies["mt_session"]
    path = Path(console["folder"]) / ".modeltrail" / "keys" / "console.sqlite"
    if not path.exists():
        path = next(Path(console["folder"]).rglob("console.sqlite"))
    assert path.stat().st_mode & 0o777 == 0o600
    raw = path.read_bytes()
    assert token.encode() not in raw and PASSWORD.encode() not in raw and b"$argon2id$" in raw


def test_a_form_post_without_the_csrf_token_is_refused(console: dict[str, Any]) -> None:
    c = signed_in(console, "erin")
    before = _size(console)
    r = c.post(
        "/deployments/suspend", data={"model": "credit", "env": "production", "reason": "x", "confirm": "yes"},
        headers={"accept": "text/html"},
    )  # fmt: skip
    assert r.status_code == 403 and "CSRF" in r.text
    r = c.post("/deployments/suspend", data={"csrf": "forged", "model": "credit", "env": "production", "reason": "x"})
    assert r.status_code == 403
    token = csrf_of(c.get("/deployments").text)
    r = c.post(
        "/deployments/suspend", data={"csrf": token, "model": "credit", "env": "production", "reason": "x", "confirm": "yes"},
        headers={"origin": "https://evil.example"},
    )  # fmt: skip
    assert r.status_code == 403
    assert _size(console) == before  # nothing recorded
    r = c.post("/login", data={"user": "bob", "password": PASSWORD, "csrf": "guess"})
    assert r.status_code == 403


def _size(console: dict[str, Any]) -> int:
    with modeltrail.open(console["folder"]) as t:
        return t.size()


def test_four_eyes_refuses_the_registrant_and_accepts_a_second_approver(console: dict[str, Any]) -> None:
    alice = signed_in(console, "alice")  # registered credit@2 and holds model_risk
    page = alice.get("/models/credit/v/2").text
    r = alice.post(
        "/models/credit/v/2/approve", data={"csrf": csrf_of(page), "stage": "production", "rationale": "mine"}
    )
    assert r.status_code == 200 and "alice registered credit@2 and cannot approve it (four-eyes rule)" in r.text
    bob = signed_in(console, "bob")
    r = bob.post(
        "/models/credit/v/2/approve",
        data={"csrf": csrf_of(bob.get("/models/credit/v/2").text), "stage": "production", "rationale": "Checked"},
    )
    assert "You approved credit@2 for production" in r.text
    with modeltrail.open(console["folder"]) as t:
        ev = next(t.events("model.approved", subject="model:credit@2", descending=True, limit=1))
        assert ev.actor.id == "bob" and ev.actor.role == "model_risk" and ev.payload.get("rationale") == "Checked"
        assert next(t.events("model.approval_refused", subject="model:credit@2", limit=1)).actor.id == "alice"


def test_a_role_the_policy_does_not_grant_is_refused_by_the_library(console: dict[str, Any]) -> None:
    dave = signed_in(console, "dave")  # auditor: may not suspend
    token = csrf_of(dave.get("/deployments").text)
    r = dave.post(
        "/deployments/suspend", data={"csrf": token, "model": "credit", "env": "production", "reason": "try", "confirm": "yes"}
    )  # fmt: skip
    assert r.status_code == 200 and "may not" in r.text
    with modeltrail.open(console["folder"]) as t:
        assert not list(t.events("model.suspended", limit=1))


def test_every_page_renders_for_every_role(console: dict[str, Any]) -> None:
    for user in ("alice", "carol", "dave"):
        c = signed_in(console, user)
        for page in PAGES:
            r = c.get(page)
            assert r.status_code == 200, (user, page, r.text[:500])
            assert "<main" in r.text and 'lang="en"' in r.text


def test_sign_out_and_sign_out_everywhere(console: dict[str, Any]) -> None:
    one, two = signed_in(console, "carol"), signed_in(console, "carol")
    r = one.post("/logout", data={"csrf": csrf_of(one.get("/").text)}, follow_redirects=False)
    assert r.status_code == 303 and one.get("/", follow_redirects=False).status_code == 303
    assert two.get("/").status_code == 200
    three = signed_in(console, "carol")
    r = three.post("/logout-everywhere", data={"csrf": csrf_of(three.get("/").text)}, follow_redirects=False)
    assert r.status_code == 303
    assert two.get("/", follow_redirects=False).status_code == 303


def test_failed_sign_ins_are_throttled(console: dict[str, Any]) -> None:
    c = client(console)
    # alice signs in no more in this module's later tests: her throttle may stay closed.
    codes = [sign_in(c, "alice", "wrong password x").status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    r = sign_in(c, "alice")  # even the right password waits
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    t = Throttle(limit=2, window=60)
    t.failed("k")
    assert t.retry_after("k") == 0
    t.failed("k")
    assert t.retry_after("k") > 0
    t.succeeded("k")
    assert t.retry_after("k") == 0


def test_next_only_redirects_within_the_console(console: dict[str, Any]) -> None:
    for target in ("//evil.example/", "/\t/evil.example/", "https://evil.example/", "/\\evil.example"):
        c = client(console)
        token = csrf_of(c.get("/login").text)
        r = c.post(
            "/login", data={"user": "dave", "password": PASSWORD, "csrf": token, "next": target},
            follow_redirects=False,
        )  # fmt: skip
        assert r.headers["location"] == "/", target


def test_user_store_validates_and_changes_passwords(tmp_path: Path) -> None:
    users = ConsoleUsers(tmp_path)
    with pytest.raises(modeltrail.ValidationError):
        users.set_password("zoe", "short")
    users.set_password("zoe", "a long enough password")
    assert users.check_password("zoe", "a long enough password") and not users.check_password("zoe", "nope")
    assert not users.check_password("nobody", "a long enough password")
    token, session = users.start("zoe")
    assert users.session(token) == session and users.session("x" * 43) is None
    users.set_password("zoe", "another long password")  # a new password ends every session
    assert users.session(token) is None
    assert users.users() == ["zoe"]
    users.remove("zoe")
    assert users.users() == []
    users.close()


def test_api_docs_work_offline_and_console_routes_stay_out_of_the_schema(console: dict[str, Any]) -> None:
    c = client(console)
    html = c.get("/docs").text
    assert "/static/swagger-ui/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    for asset in (
        "/static/swagger-ui/swagger-ui-bundle.js",
        "/static/swagger-ui/swagger-ui.css",
        "/static/htmx/htmx.min.js",
    ):
        assert c.get(asset).status_code == 200
    paths = c.get("/openapi.json").json()["paths"]
    assert all(p.startswith("/v1/") for p in paths), sorted(paths)


def test_reports_and_documents_refuse_events_that_are_not_theirs(console: dict[str, Any]) -> None:
    c = signed_in(console, "bob")
    for path in ("/reports/1", "/documents/1/html", "/documents/1/exe"):
        r = c.get(path, headers={"accept": "text/html"})
        assert r.status_code == 404 and "That did not work" in r.text, path


def test_the_api_still_answers_json(console: dict[str, Any]) -> None:
    c = client(console)
    r = c.get("/v1/events")
    assert r.status_code == 401 and r.json()["error"].startswith("authentication required")


def test_console_user_cli_needs_the_tokens_role_and_records_it(console: dict[str, Any]) -> None:
    from click.testing import CliRunner

    from modeltrail.cli.main import main

    runner = CliRunner()
    args = ["--trail", str(console["folder"]), "console", "user", "add", "dave", "--password-stdin"]
    r = runner.invoke(main, args, input="a new long password\n", env={"MODELTRAIL_USER": "erin"})
    assert r.exit_code != 0 and "may not set console passwords" in r.output
    r = runner.invoke(main, args, input="a new long password\n", env={"MODELTRAIL_USER": "carol"})
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["--trail", str(console["folder"]), "console", "user", "list"])
    assert r.exit_code == 0 and "dave\t" in r.output
    c = client(console)
    assert sign_in(c, "dave", "a new long password").status_code == 303
    with modeltrail.open(console["folder"]) as t:
        ev = next(t.events("console.password_set", descending=True, limit=1))
        assert ev.actor.id == "carol" and ev.subject == "user:dave" and "password" not in ev.payload
    r = runner.invoke(
        main, ["--trail", str(console["folder"]), "console", "user", "add", "mallory", "--password-stdin"],
        input="a new long password\n", env={"MODELTRAIL_USER": "carol"},
    )  # fmt: skip
    assert r.exit_code != 0 and "not a user of the policy" in r.output


def test_demo_console_accounts_let_the_demo_users_sign_in(tmp_path: Path) -> None:
    from _console_support import CAROL, POLICY
    from modeltrail.cli.demo import DEMO_CONSOLE_PASSWORD, _console_accounts, _console_command
    from modeltrail.registry import register_policy

    with modeltrail.init(tmp_path / "demo") as t:
        register_policy(t, POLICY, actor=CAROL)
    assert _console_accounts(tmp_path / "demo") == ["alice", "bob", "carol", "dave", "erin"]
    assert _console_command(tmp_path / "demo") == f"modeltrail --trail {tmp_path / 'demo'} serve"
    c = TestClient(create_app(str(tmp_path / "demo")), base_url="http://127.0.0.1")
    assert sign_in(c, "erin", DEMO_CONSOLE_PASSWORD).status_code == 303
    assert "erin" in c.get("/").text


def _post(c: TestClient, page: str, url: str, **data: str) -> Any:
    return c.post(url, data={"csrf": csrf_of(c.get(page).text), **data}, headers={"accept": "text/html"})


def test_every_action_reaches_the_library_as_the_signed_in_person(console: dict[str, Any]) -> None:
    erin, bob, carol = signed_in(console, "erin"), signed_in(console, "bob"), signed_in(console, "carol")
    r = _post(erin, "/deployments", "/deployments/suspend", model="credit@1", env="production", reason="drill")
    assert "Tick the confirmation box" in r.text
    r = _post(
        erin, "/deployments", "/deployments/suspend", model="credit@1", env="production", reason="drill", confirm="yes"
    )
    assert "Suspended credit@1 in production" in r.text
    r = _post(erin, "/deployments", "/deployments/resume", model="credit@1", env="production", reason="over")
    assert "may not" in r.text  # ops may suspend, only model_risk resumes
    r = _post(bob, "/deployments", "/deployments/resume", model="credit@1", env="production", reason="drill over")
    assert "Resumed credit@1 in production" in r.text
    decision = console["review"][0]
    r = _post(bob, f"/review/{decision}", f"/review/{decision}", action="override", reason="no value")
    assert "Give the value" in r.text
    r = _post(bob, f"/review/{decision}", f"/review/{decision}", action="accept", reason="Consistent with the file")
    assert f"Accepted decision {decision}" in r.text
    r = _post(bob, f"/review/{decision}", f"/review/{decision}", action="accept", reason="again")
    assert "already accepted" in r.text
    seq = console["alert_seq"]
    r = _post(bob, "/monitoring", f"/monitoring/alerts/{seq}/clear", reason="Drift explained by a campaign")
    assert f"Cleared alert {seq}" in r.text and "cleared by bob" in r.text
    r = _post(carol, "/models/credit/v/2", "/models/credit/v/2/reject", stage="production", rationale="Superseded")
    assert "You rejected credit@2" in r.text
    with modeltrail.open(console["folder"]) as t:
        got = {e.type: e.actor.id for e in t.events(descending=True, limit=12)}
    assert got["model.suspended"] == "erin" and got["model.resumed"] == "bob"
    assert got["oversight.reviewed"] == "bob" and got["monitor.alert_cleared"] == "bob"
    assert got["model.rejected"] == "carol"


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")
def test_a_signed_approval_shows_the_text_to_sign_and_takes_the_signature(tmp_path: Path) -> None:
    import html
    import subprocess

    from _console_support import ALICE, CAROL, POLICY, _model
    from modeltrail.lineage.models import register_model
    from modeltrail.registry import evaluate_gate_for, register_policy

    key = tmp_path / "bob_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bob", "-f", str(key)], check=True)
    pub = (tmp_path / "bob_key.pub").read_text().strip()
    policy = POLICY.replace("min: 2, four_eyes: true}", "min: 2, four_eyes: true, signed: required}").replace(
        "bob: {roles: [model_risk]}", f'bob: {{roles: [model_risk], ssh_key: "{pub}"}}'
    )
    with modeltrail.init(tmp_path / "t") as t:
        register_policy(t, policy, actor=CAROL)
        m, x = _model(3)
        mv = register_model(t, m, name="credit", system="credit-scoring", actor=ALICE, training_data=x)
        evaluate_gate_for(t, mv.ref, "production", actor=ALICE)
        users = ConsoleUsers(t.keys_dir)
        users.set_password("bob", PASSWORD)
        users.close()
    c = TestClient(create_app(str(tmp_path / "t")), base_url="http://127.0.0.1")
    assert sign_in(c, "bob").status_code == 303
    assert "Prepare the text to sign" in c.get("/models/credit/v/1").text
    page = c.get("/models/credit/v/1/sign", params={"stage": "production", "rationale": "Signed review"}).text
    body = html.unescape(re.search(r'<pre[^>]*id="sign-body">(.*?)</pre>', page, re.S).group(1))
    unsigned = c.post(
        "/models/credit/v/1/approve", data={"csrf": csrf_of(page), "stage": "production", "rationale": "Signed review"}
    )
    assert "signature" in unsigned.text.lower() and "You approved" not in unsigned.text
    msg = tmp_path / "approval.txt"
    msg.write_text(body, encoding="utf-8")
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", "modeltrail", str(msg)], check=True)
    signature = (tmp_path / "approval.txt.sig").read_text()
    r = c.post(
        "/models/credit/v/1/approve",
        data={"csrf": csrf_of(page), "stage": "production", "rationale": "Signed review", "signature": signature},
    )
    assert "You approved credit@1 for production" in r.text


def test_an_audit_bundle_downloads_and_verifies_offline(console: dict[str, Any], tmp_path: Path) -> None:
    from modeltrail.audit.bundle_verify import verify_bundle

    carol = signed_in(console, "carol")  # dave's password was changed by the CLI test above
    decision = console["review"][1]
    r = _post(carol, "/audit", "/audit/bundle", decisions=decision)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text[:300]
    path = tmp_path / "bundle.zip"
    path.write_bytes(r.content)
    assert verify_bundle(path).ok


def test_every_page_works_on_the_demo_trail(tmp_path: Path) -> None:
    """The full demo story (lineage, gates, approvals, serving, review, monitoring, documents, retention)."""
    from _audit_support import demo_copy
    from modeltrail.cli.demo import DEMO_CONSOLE_PASSWORD, _console_accounts

    folder = demo_copy(tmp_path)
    _console_accounts(folder)
    with modeltrail.open(folder) as t:
        name, _, version = next(t.events("model.deployed")).subject.removeprefix("model:").rpartition("@")
        decision = next(e for e in t.events("inference.decision", descending=True) if e.payload)
        doc = next(e for e in t.events("doc.generated", descending=True) if "html" in e.payload.get("formats", {}))
        report = next(e for e in t.events("report.generated") if e.payload.get("html_sha256"))
    c = TestClient(create_app(str(folder)), base_url="http://127.0.0.1", raise_server_exceptions=False)
    assert sign_in(c, "carol", DEMO_CONSOLE_PASSWORD).status_code == 303
    pages = [
        "/", f"/models/{name}/v/{version}", "/deployments", "/review", "/review?status=accepted", "/monitoring",
        "/incidents", "/audit", "/audit?type=retention.*", f"/audit/events/{decision.seq}",
        f"/audit/reconstruct?decision={decision.payload['decision_id']}", "/audit/check", "/documents",
        "/compliance",
    ]  # fmt: skip
    for page in pages:
        r = c.get(page)
        assert r.status_code == 200, (page, r.text[:500])
        assert "<main" in r.text
    for page in (f"/documents/{doc.seq}/html", f"/reports/{report.seq}"):  # sandboxed, as stored
        r = c.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), page
