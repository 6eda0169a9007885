"""Monitoring end to end on a real trail: logged decisions drift, the alert fires and acts (webhook and
SMTP servers on loopback, review routing through the kill switch), clearing is a human action, and an
incident is opened with its deadline and blocks changes to the version until a notice is recorded."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from sklearn.linear_model import LogisticRegression

import modeltrail
from modeltrail.errors import LifecycleError, PermissionDeniedError
from modeltrail.events import Actor
from modeltrail.monitor import alerts as al
from modeltrail.monitor import incidents as inc
from modeltrail.monitor.profile import build_profile, load_profile, record_profile
from modeltrail.monitor.run import last_checked_seq, monitor
from modeltrail.registry import lifecycle as reg
from modeltrail.registry import register_policy
from modeltrail.runtime.oversight import review_queue

SYSTEM = "credit-scoring"
ADMIN = Actor("root", "admin")
FRANK = Actor("frank", "cro")
BOB = Actor("bob", "model_risk")
MONITOR = Actor("modeltrail-monitor", "ops", "service")
SECRET = "s3cret-for-tests"

POLICY = """\
system: credit-scoring
risk_tier: high
protected_attributes: [sex]
gates:
  production:
    evidence: [performance_report]
oversight:
  fallback: reject
roles:
  suspend: [ops]
  resume: [model_risk]
  break_glass: [cro]
users:
  root: {{roles: [admin]}}
  frank: {{roles: [cro]}}
  bob: {{roles: [model_risk]}}
  modeltrail-monitor: {{roles: [ops]}}
monitoring:
  drift: {{metric: psi, warn: 0.1, alert: 0.25, window: 1d, features: [a, b, score]}}
  performance: {{metric: performance.accuracy, min: 0.7}}
  fairness: {{metric: fairness.demographic_parity_difference, max: 0.3, groups: [sex]}}
  on_alert: [notify, require_review]
  notify: {{webhook: "http://127.0.0.1:{port}/hook", email: [oncall@example.org], smtp: "127.0.0.1:{smtp}"}}
"""


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[bytes, str]]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Hook.received.append((body, self.headers.get(al.SIGNATURE_HEADER, "")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def servers() -> Iterator[tuple[int, int, _Mailbox]]:
    httpd = HTTPServer(("127.0.0.1", 0), _Hook)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    box = _Mailbox()
    with socket.socket() as probe:  # aiosmtpd's readiness check cannot use port 0: take a free port
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    ctl = Controller(box, hostname="127.0.0.1", port=free)
    ctl.start()
    _Hook.received = []
    try:
        yield httpd.server_address[1], free, box
    finally:
        httpd.shutdown()
        ctl.stop()


def _setup(tmp_path: Path, url: str | None, port: int, smtp: int) -> tuple[modeltrail.Trail, Any, pd.DataFrame]:
    trail = modeltrail.init(tmp_path / "proj", url=url)
    register_policy(trail, POLICY.format(port=port, smtp=smtp), actor=ADMIN)
    rng = np.random.default_rng(0)
    n = 3000
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = (X["a"] + 0.5 * X["b"] + rng.normal(scale=0.7, size=n) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    trail.register_model(model, name="credit", system=SYSTEM, actor=Actor("alice", "data_scientist"), training_data=X)
    reg.deploy(trail, "credit@1", "production", actor=FRANK, break_glass_reason="test deployment")
    scores = model.predict_proba(X)[:, 1]
    ref = X.assign(sex=rng.choice(["f", "m"], size=n))
    prof = build_profile(ref, scores=scores, labels=y, groups={"sex": ref["sex"]})
    record_profile(trail, prof, model="model:credit@1", system=SYSTEM, actor=Actor("alice", "data_scientist"))
    return trail, model, ref


def test_drift_raises_alert_that_notifies_routes_to_review_and_is_cleared(
    tmp_path: Path, backend_url: str | None, servers: tuple[int, int, _Mailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, smtp, box = servers
    monkeypatch.setenv("MODELTRAIL_WEBHOOK_SECRET", SECRET)
    trail, _model, _ref = _setup(tmp_path, backend_url, port, smtp)
    with trail:
        g = trail.guard("credit@1", env="production")
        rng = np.random.default_rng(1)
        calm = [
            {"a": float(a), "b": float(b), "sex": s}
            for a, b, s in zip(rng.normal(size=400), rng.normal(size=400), rng.choice(["f", "m"], 400), strict=True)
        ]
        for row in calm:
            g.decide(row)
        g.close()
        first = monitor(trail, "credit@1", "production", count=400, actor=MONITOR, backoff=0.01)
        assert [r.level for r in first] == ["ok"]
        assert first[0].drift is not None and not first[0].drift.dataset_drift
        assert "performance.accuracy" in first[0].estimated
        # Later decisions drift: feature a moves by 1.5 standard deviations.
        drifted = [
            {"a": float(a), "b": float(b), "sex": "m"}
            for a, b in zip(rng.normal(1.5, size=400), rng.normal(size=400), strict=True)
        ]
        decided = [g.decide(row) for row in drifted]
        g.close()
        _Hook.fail_first = 1  # the first POST fails with 503: the webhook is retried
        res = monitor(trail, "credit@1", "production", count=400, actor=MONITOR, backoff=0.01)
        assert len(res) == 1
        r = res[0]
        assert r.level == "alert"
        drift_f = next(f for f in r.findings if f.rule == "drift")
        assert drift_f.level == "alert" and "a" in drift_f.detail["features"]
        assert r.alert_seq is not None
        alert = trail.get_event(r.alert_seq)
        assert alert.type == "monitor.alert" and alert.subject == "model:credit@1"
        assert f"event:{r.check_seq}" in alert.refs
        first_seq, last_seq = r.window["first_seq"], r.window["last_seq"]
        assert trail.get_event(first_seq).payload["decision_id"] == decided[0].decision_id
        assert f"event:{first_seq}" in alert.refs and f"event:{last_seq}" in alert.refs
        ids = trail.blobs.get_bytes(alert.payload["decisions_sha256"]).decode().split("\n")
        assert ids == [d.decision_id for d in decided]
        # notify: signed webhook (after one retry) and an e-mail on the loopback SMTP server.
        assert len(_Hook.received) == 1
        body, sig = _Hook.received[0]
        assert al.verify_signature(body, SECRET.encode(), sig)
        assert json.loads(body)["alert_seq"] == r.alert_seq
        deadline = time.monotonic() + 5
        while not box.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert box.messages and b"model:credit@1" in box.messages[0]
        actions = [e.payload for e in trail.events("monitor.action")]
        assert [(a["action"], a["ok"]) for a in actions] == [
            ("notify", True),
            ("notify", True),
            ("require_review", True),
        ]
        assert actions[0]["attempts"] == 2
        assert SECRET not in json.dumps(actions)
        # require_review: the kill switch with the human_review fallback; new decisions go to review.
        susp = next(trail.events("model.suspended"))
        assert susp.payload["fallback"] == "human_review" and susp.actor.id == "modeltrail-monitor"
        g.switch.poll()
        after = g.decide({"a": 0.0, "b": 0.0, "sex": "f"})
        assert after.route == "fallback" and after.fallback == "human_review"
        g.close()
        assert any(i.decision_id == after.decision_id for i in review_queue(trail))
        assert [a.seq for a in al.alerts(trail, "model:credit@1")] == [r.alert_seq]
        # Clearing is a human action; a service may not, and the human's clearing resumes the model.
        with pytest.raises(PermissionDeniedError):
            al.clear_alert(trail, r.alert_seq, actor=MONITOR, reason="auto")
        cleared = al.clear_alert(trail, r.alert_seq, actor=BOB, reason="upstream feed fixed", resume=True)
        assert trail.get_event(cleared.seq).actor.id == "bob"
        assert al.alerts(trail, "model:credit@1") == []
        assert next(trail.events("model.resumed")).payload["env"] == "production"
        # The next pass resumes after the last checked decision: nothing is checked twice.
        assert last_checked_seq(trail, "credit@1", "production") == r.window["last_seq"]
        assert monitor(trail, "credit@1", "production", count=400, actor=MONITOR) == []


def test_performance_with_labels_and_unreachable_webhook_is_recorded(
    tmp_path: Path, servers: tuple[int, int, _Mailbox]
) -> None:
    _, smtp, _box = servers
    trail, _model, _ = _setup(tmp_path, None, 9, smtp)  # port 9 (discard): nothing listens
    with trail:
        g = trail.guard("credit@1", env="production")
        rng = np.random.default_rng(5)
        ds = [
            g.decide({"a": float(a), "b": float(b), "sex": "f"})
            for a, b in zip(rng.normal(size=200), rng.normal(size=200), strict=True)
        ]
        g.close()
        for d in ds:  # labels contradict the model: realised accuracy collapses
            trail.label(d.decision_id, 1 - int(d.output), actor=BOB)
        (r,) = monitor(trail, "credit@1", "production", count=200, actor=MONITOR, retries=1, backoff=0.01)
        perf = next(f for f in r.findings if f.rule == "performance")
        assert (
            perf.detail["source"] == "labels" and perf.value is not None and perf.value < 0.1 and perf.level == "alert"
        )
        assert r.performance["performance.accuracy"] == perf.value
        notify = [e.payload for e in trail.events("monitor.action") if e.payload["action"] == "notify"]
        hook = next(p for p in notify if p["target"] and p["target"].startswith("http"))
        assert hook["ok"] is False and hook["attempts"] == 2 and "unreachable" in hook["detail"]


def test_incident_deadlines_notice_and_report(tmp_path: Path) -> None:
    trail, _model, _ = _setup(tmp_path, None, 9, 9)
    with trail:
        aware = (datetime.now(UTC) - timedelta(days=12)).replace(microsecond=0)
        death = inc.open_incident(
            trail,
            model="credit@1",
            type="death",
            severity="critical",
            title="t",
            actor=BOB,
            system=SYSTEM,
            aware_at=aware,
            env="production",
        )
        assert inc.parse_ts(death.deadline) == aware + timedelta(days=10)
        assert death.clock()["overdue"] is True
        other = inc.open_incident(
            trail,
            model="credit@1",
            type="fundamental_rights",
            severity="high",
            title="bias",
            actor=BOB,
            system=SYSTEM,
            aware_at=aware,
        )
        assert inc.parse_ts(other.deadline) == aware + timedelta(days=15)
        assert other.clock()["overdue"] is False
        ci = inc.open_incident(
            trail,
            model="credit@1",
            type="critical_infrastructure",
            severity="high",
            title="grid",
            actor=BOB,
            system=SYSTEM,
            aware_at=datetime.now(UTC),
        )
        clock = ci.clock()
        assert 0 < clock["seconds_left"] <= timedelta(days=2).total_seconds()
        with pytest.raises(Exception, match="human"):
            inc.open_incident(
                trail, model="credit@1", type="death", severity="low", title="x", actor=MONITOR, system=SYSTEM
            )
        # Art. 73(6): the version under investigation can't be changed without a recorded notice.
        with pytest.raises(LifecycleError, match=r"73\(6\)"):
            reg.retire(trail, "credit@1", actor=MONITOR, reason="replace it", env="production")
        inc.update_incident(trail, death.id, actor=BOB, note="root cause: upstream feed", system=SYSTEM)
        inc.file_report(trail, death.id, actor=BOB, system=SYSTEM, stage="initial", authority="MSA-DE")
        got = inc.get_incident(trail, death.id)
        assert got.status == "initial_report" and got.clock()["met"] is False  # filed 12 days after awareness
        with pytest.raises(LifecycleError, match="complete report"):
            inc.close_incident(trail, death.id, actor=BOB, system=SYSTEM, reason="done")
        inc.file_report(trail, death.id, actor=BOB, system=SYSTEM, stage="complete", authority="MSA-DE")
        rep = next(e for e in trail.events("incident.reported") if e.payload["stage"] == "complete")
        doc = json.loads(trail.blobs.get_bytes(rep.payload["report_sha256"]))
        assert doc["complete"] is True and doc["model_version"]["ref"] == "model:credit@1"
        assert doc["updates"][0]["note"] == "root cause: upstream feed"
        inc.close_incident(trail, death.id, actor=BOB, system=SYSTEM, reason="done")
        for i in (other, ci):
            inc.record_notice(trail, i.id, actor=BOB, system=SYSTEM, change="retire v1", authority="MSA-DE")
        reg.retire(trail, "credit@1", actor=MONITOR, reason="replace it", env="production")
        assert load_profile(trail, "model:credit@1")[0].calibration is not None
