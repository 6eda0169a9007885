"""CLI end to end: monitor profile/run/status/report/clear/drift and incident open/update/report/list/close."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

import modeltrail
from modeltrail.cli.main import main
from modeltrail.events import Actor
from modeltrail.registry import lifecycle as reg
from modeltrail.registry import register_policy

POLICY = """\
system: credit-scoring
risk_tier: high
gates:
  production:
    evidence: [performance_report]
roles: {suspend: [ops], resume: [model_risk], break_glass: [cro]}
users:
  root: {roles: [admin]}
  frank: {roles: [cro]}
  bob: {roles: [model_risk]}
  modeltrail-monitor: {roles: [ops]}
allow_impersonation: true
monitoring:
  drift: {metric: wasserstein, warn: 0.1, alert: 0.3}
  on_alert: [suspend]
"""


def test_monitor_and_incident_commands(tmp_path: Path) -> None:
    trail = modeltrail.init(tmp_path / "proj")
    register_policy(trail, POLICY, actor=Actor("root", "admin"))
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000), "k": rng.choice(["x", "y"], 2000)})
    y = (X["a"] > 0).astype(int)
    model = LogisticRegression().fit(X[["a", "b"]], y)
    trail.register_model(
        model, name="credit", system="credit-scoring", actor=Actor("alice", "ds"), training_data=X[["a", "b"]]
    )
    reg.deploy(trail, "credit@1", "production", actor=Actor("frank", "cro"), break_glass_reason="test")
    ref_file = tmp_path / "ref.parquet"
    X.assign(score=model.predict_proba(X[["a", "b"]])[:, 1], label=y).to_parquet(ref_file)
    g = trail.guard("credit@1", env="production")
    for a, b in zip(rng.normal(2, size=300), rng.normal(size=300), strict=True):
        g.decide({"a": float(a), "b": float(b)})
    g.close()
    trail.close()
    runner = CliRunner()
    loc = ["--trail", str(tmp_path / "proj")]

    def run(*args: str, code: int = 0) -> str:
        res = runner.invoke(main, [*loc, *args])
        assert res.exit_code == code, res.output
        return res.output

    out = run(
        "monitor",
        "profile",
        "credit@1",
        "--reference",
        str(ref_file),
        "--score-column",
        "score",
        "--label-column",
        "label",
        "--actor",
        "bob",
    )
    assert "2000 rows" in out
    res = json.loads(run("monitor", "run", "credit@1", "--count", "300", "--json"))
    assert len(res) == 1 and res[0]["level"] == "alert" and "a" in res[0]["drifted_columns"]
    assert res[0]["actions"][0]["action"] == "suspend" and res[0]["actions"][0]["ok"] is True
    alert_seq = res[0]["alert_seq"]
    assert json.loads(run("monitor", "run", "credit@1", "--count", "300", "--json")) == []
    status = json.loads(run("monitor", "status", "--json"))
    assert [a["seq"] for a in status["open_alerts"]] == [alert_seq]
    html_out = tmp_path / "r.html"
    run("monitor", "report", "credit@1", "--out", str(html_out))
    page = html_out.read_text()
    assert "<svg" in page and f"<td>{alert_seq}</td>" in page and "signed checkpoint" in page
    out = run(
        "incident",
        "open",
        "credit@1",
        "--type",
        "health",
        "--severity",
        "high",
        "--title",
        "wrong refusals",
        "--link",
        f"event:{alert_seq}",
        "--actor",
        "bob",
    )
    iid = re.search(r"incident ([0-9a-f]{32}) opened", out)
    assert iid is not None and "Art. 73(2)" in out
    short = iid.group(1)[:12]
    draft = json.loads(run("incident", "report", short, "--draft", "--actor", "bob"))
    assert draft["alerts"][0]["seq"] == alert_seq and draft["alerts"][0]["decisions"] == 300
    assert any(a["action"] == "suspend" for a in draft["actions_taken"])
    run("incident", "update", short, "--note", "feed fixed", "--actor", "bob")
    assert "on time" in run("incident", "report", short, "--actor", "bob", "--authority", "MSA")
    assert "report due" not in run("monitor", "status")
    run("incident", "close", short, "--reason", "done", "--actor", "bob", code=1)  # needs a complete report
    run("incident", "report", short, "--complete", "--actor", "bob")
    run("incident", "close", short, "--reason", "done", "--actor", "bob")
    assert "closed" in run("incident", "list")
    run("monitor", "clear", str(alert_seq), "--reason", "ok now", "--resume", "--actor", "bob")
    assert json.loads(run("monitor", "status", "--json"))["open_alerts"] == []
    # Errors name the field and exit non-zero.
    assert "window" in run("monitor", "run", "credit@1", "--window", "soon", code=2)
    cur = tmp_path / "cur.csv"
    X.head(500).assign(a=lambda d: d["a"] + 1).to_csv(cur, index=False)
    ref_csv = tmp_path / "ref.csv"
    X.to_csv(ref_csv, index=False)
    rep = json.loads(run("monitor", "drift", "--reference", str(ref_csv), "--current", str(cur)))
    assert rep["drifted_columns"] == ["a"] and rep["columns"]["k"]["method"] == "jensenshannon"
