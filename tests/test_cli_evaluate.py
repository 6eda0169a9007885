"""`modeltrail evaluate data|model` compute reports from real data and record them in the trail."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import modeltrail
from modeltrail.cli.main import main
from modeltrail.events import Actor
from modeltrail.lineage.datasets import register_dataset
from modeltrail.lineage.models import register_model

DATA = Path(__file__).parent / "data" / "german_credit.csv"
ALICE = Actor("alice", "data_scientist")


def _invoke(args: list[str], cwd: Path) -> tuple[int, str, str]:
    old = os.getcwd()
    os.chdir(cwd)
    try:
        r = CliRunner().invoke(main, args, env={"MODELTRAIL_URL": None})
    finally:
        os.chdir(old)
    return r.exit_code, r.stdout, r.stderr


def test_evaluate_data_and_model_record_reports(tmp_path: Path) -> None:
    df = pd.read_csv(DATA)
    t = modeltrail.init(tmp_path)
    ds = register_dataset(t, df, name="german-credit", system="credit", actor=ALICE)
    feats = ["duration_months", "credit_amount", "checking_status", "savings", "purpose"]
    model = Pipeline(
        [
            (
                "pre",
                ColumnTransformer(
                    [("c", OneHotEncoder(handle_unknown="ignore"), feats[2:]), ("n", StandardScaler(), feats[:2])]
                ),
            ),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    )
    model.fit(df[feats], (df["credit_risk"] == "bad").astype(int))
    mv = register_model(t, model, name="credit", system="credit", actor=ALICE, datasets=[ds], training_data=df[feats])
    t.close()

    code, out, err = _invoke(
        ["evaluate", "data", str(DATA), "--dataset", ds.ref, "--label", "credit_risk", "--protected", "sex", "--json"],
        tmp_path,
    )
    assert code == 0, err
    assert json.loads(out)["metrics"]["data.rows"] == 1000
    code, out, err = _invoke(
        [
            "evaluate",
            "model",
            mv.ref.removeprefix("model:"),
            "--data",
            str(DATA),
            "--label",
            "credit_risk",
            "--positive",
            "bad",
            "--protected",
            "sex",
            "--protected",
            "age_band",
            "--dataset",
            ds.ref,
            "--bootstrap",
            "20",
            "--json",
        ],
        tmp_path,
    )
    assert code == 0, err
    figures = json.loads(out)
    assert set(figures) == {"performance", "fairness", "explainability", "robustness"}
    assert 0.5 < figures["performance"]["performance.roc_auc"] <= 1.0
    with modeltrail.open(tmp_path) as t2:
        kinds = [e.payload["kind"] for e in t2.events("report.generated")]
        assert sorted(kinds) == ["data", "explainability", "fairness", "performance", "robustness"]
        assert all(t2.blobs.exists(e.payload["report_sha256"]) for e in t2.events("report.generated"))


def test_evaluate_rejects_bad_input(tmp_path: Path) -> None:
    modeltrail.init(tmp_path).close()
    code, _, err = _invoke(["evaluate", "model", "nope@1", "--data", str(DATA), "--label", "credit_risk"], tmp_path)
    assert code != 0 and "nope" in err
