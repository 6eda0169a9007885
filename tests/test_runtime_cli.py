"""CLI: review list / decide / stats, label FILE.csv, reveal (invoked through click's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path
from unittest.mock import patch

import numpy as np
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

import modeltrail
from modeltrail.cli import main as cli_main
from modeltrail.cli.main import TrailContext
from modeltrail.cli.runtime import label_cmd, reveal_cmd, review_group
from modeltrail.events import Actor
from modeltrail.registry.policy_store import register_policy
from modeltrail.runtime import guard

POLICY = """
system: credit-scoring
risk_tier: high
oversight: {review_when: {confidence_below: 0.99}, fallback: human_review}
data_policy: {fields: {age_years: seal}, default: keep}
roles: {reveal: [auditor]}
users: {dave: {roles: [auditor]}, rita: {roles: [reviewer]}}
allow_impersonation: true
"""


def test_review_label_reveal_commands(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    with modeltrail.init(tmp_path) as t:
        register_policy(t, tmp_path / "policy.yaml", actor=Actor("dave", "auditor"))
        X = np.random.default_rng(0).normal(size=(100, 2))
        m = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
        g = guard(t, m, name="credit", feature_names=["a", "age_years"])
        ds = [g.decide({"a": 0.01 * i, "age_years": 30 + i}, subject=f"p{i}") for i in range(3)]
        for d in ds:
            d.durable(10)
        path = str(t.path)
    runner = CliRunner()

    def run(cmd: object, args: list[str]) -> str:
        res = runner.invoke(cmd, args, obj=TrailContext(path), catch_exceptions=False)  # type: ignore[arg-type]
        assert res.exit_code == 0, res.output
        return res.stdout

    rows = [json.loads(x) for x in run(review_group, ["list", "--json"]).splitlines()]
    assert [r["decision_id"] for r in rows] == [d.decision_id for d in ds]
    # Why each decision was routed: the rule that fired, structured and in words.
    for r, d in zip(rows, ds, strict=True):
        assert r["review_reasons"] == [{"rule": "confidence_below", "confidence": d.confidence, "threshold": 0.99}]
        assert r["why"] == f"low confidence {d.confidence:.3f} < 0.99"
    with patch.object(cli_main.console, "_width", 200):
        table = run(review_group, ["list"])
    # Not a terminal: every row in full, tab-separated, with a header line.
    assert table.splitlines()[0].split("\t")[-1] == "why" and table.count("low confidence") == 3
    first = [json.loads(x) for x in run(review_group, ["list", "--json", "-n", "2"]).splitlines()]
    rest = run(review_group, ["list", "--json", "--after", str(first[-1]["decision_seq"])]).splitlines()
    assert [r["decision_id"] for r in first] + [json.loads(x)["decision_id"] for x in rest] == [
        d.decision_id for d in ds
    ]
    run(review_group, ["decide", ds[0].decision_id, "--accept", "--reason", "ok", "--actor", "rita"])
    out = run(review_group, ["decide", ds[1].decision_id, "--override", "0", "--reason", "no", "--actor", "rita"])
    assert "overridden by rita" in out
    bad = runner.invoke(
        review_group, ["decide", ds[2].decision_id, "--reason", "x", "--actor", "rita"], obj=TrailContext(path)
    )
    assert bad.exit_code == 2
    assert len(run(review_group, ["list", "--json"]).splitlines()) == 1
    stats = json.loads(run(review_group, ["stats"]))
    assert stats["reviewers"]["rita"]["overridden"] == 1
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("decision_id,actual\n" + "".join(f"{d.decision_id},1\n" for d in ds))
    assert "3 label(s)" in run(label_cmd, [str(csv_file), "--actor", "rita"])
    refused = runner.invoke(reveal_cmd, [ds[0].decision_id, "--purpose", "x", "--actor", "rita"], obj=TrailContext(path))
    assert refused.exit_code == 1 and "refused" in refused.output
    assert json.loads(run(reveal_cmd, [ds[0].decision_id, "--purpose", "appeal", "--actor", "dave"])) == {"age_years": 30}
    with modeltrail.open(path) as t:
        assert len(list(t.events("oversight.reveal_refused"))) == 1
        assert len(list(t.events("oversight.revealed"))) == 1
