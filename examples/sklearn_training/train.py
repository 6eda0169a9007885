"""A complete scikit-learn training pipeline that records its evidence in a modeltrail trail.

    python examples/sklearn_training/train.py --trail ./credit-trail            # packaged German Credit data
    python examples/sklearn_training/train.py --trail ./credit-trail --data my.csv

Steps, each one a ledger event (or several):

1. open the trail in ``--trail`` (created on first use) and register the policy when it changed;
2. split the data 60/15/25 and register the three dataset versions (content hashes) plus a data
   governance report (with the PII scan) on the training split;
3. train a logistic-regression pipeline inside a tracked run (code version, environment, params, metrics)
   and register the model version with its data and training ranges;
4. record performance and fairness reports on the test split;
5. evaluate the production gate (exit 1 when it fails, like ``modeltrail gate check``);
6. show the four-eyes rule (the registrant's own approval is refused and recorded), then two approvals by
   people holding the policy's approver roles, and deploy.

Progress goes to stderr; the last line on stdout is the model version (``credit@3``), so a CI step can
capture it (see examples/github-actions/gate.yml).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import modeltrail
from modeltrail import Actor
from modeltrail.demo import load_german_credit
from modeltrail.errors import ApprovalError, ModeltrailError
from modeltrail.evidence import data_report, fairness_report, performance_report, record_report
from modeltrail.registry import register_policy, stored_policy
from modeltrail.trail import Trail

HERE = Path(__file__).resolve().parent
SYSTEM = "credit-scoring"
LABEL = "credit_risk"
PROTECTED = ["sex", "age_band"]
# Derived group columns are for fairness reports only; the model never sees them.
NOT_FEATURES = {LABEL, *PROTECTED}

ALICE = Actor("alice", "data_scientist")  # trains and registers
PIPELINE = Actor("training-pipeline", "pipeline", "service")  # records reports and gates
BOB = Actor("bob", "model_risk")
CAROL = Actor("carol", "compliance")
ERIN = Actor("erin", "ops")


def say(msg: str) -> None:
    """Progress for people (stderr, so stdout stays machine-readable)."""
    print(msg, file=sys.stderr)


def open_or_init(folder: Path) -> Trail:
    """Open the trail in ``folder``, creating it on first use."""
    try:
        return modeltrail.open(folder)
    except ModeltrailError:
        return modeltrail.init(folder, origin="example.local/credit-scoring")


def ensure_policy(trail: Trail, path: Path) -> None:
    """Register the policy file unless the same text is already in force (keeps re-runs quiet)."""
    import hashlib

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        if stored_policy(trail, SYSTEM).sha256 == digest:
            return
    except ModeltrailError:
        pass  # no policy registered yet
    register_policy(trail, path, actor=CAROL)
    say(f"policy {path.name} registered")


def build_model(X: pd.DataFrame) -> Pipeline:
    """One-hot categoricals, scaled numbers, logistic regression."""
    cats = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    nums = [c for c in X.columns if c not in cats]
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), cats), ("num", StandardScaler(), nums)]
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=2000, C=0.5))])


def main(argv: list[str] | None = None) -> int:
    """Run the pipeline; returns the process exit code (1 when the gate fails)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--trail", type=Path, default=Path(".modeltrail"), help="trail folder (created if absent)"
    )
    ap.add_argument(
        "--data", type=Path, help="German Credit CSV (default: the copy packaged with modeltrail)"
    )
    ap.add_argument("--policy", type=Path, default=HERE / "policy.yaml", help="policy file")
    ap.add_argument("--name", default="credit", help="model name")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-deploy", action="store_true", help="stop after the gate (for CI gate jobs)")
    args = ap.parse_args(argv)

    df = pd.read_csv(args.data) if args.data else load_german_credit()
    y_all = (df[LABEL] == "bad").astype(int)  # 1 = bad credit risk, the outcome the model predicts
    df = df.assign(**{LABEL: y_all})
    order = np.random.default_rng(args.seed).permutation(len(df))
    n_train, n_val = int(len(df) * 0.60), int(len(df) * 0.15)
    parts = {
        "train": df.iloc[order[:n_train]].reset_index(drop=True),
        "validation": df.iloc[order[n_train : n_train + n_val]].reset_index(drop=True),
        "test": df.iloc[order[n_train + n_val :]].reset_index(drop=True),
    }
    features = [c for c in df.columns if c not in NOT_FEATURES]

    with open_or_init(args.trail) as trail:
        ensure_policy(trail, args.policy)

        # 2. Dataset versions: the same rows always give the same reference (a re-run records the
        #    registration again, under the same reference).
        ds = {
            role: trail.register_dataset(
                part,
                name=f"german-credit-{role}",
                system=SYSTEM,
                actor=ALICE,
                role=role,
                source="UCI Statlog",
            )
            for role, part in parts.items()
        }
        train, val, test = parts["train"], parts["validation"], parts["test"]
        rep = data_report(train, label=LABEL, protected=PROTECTED)
        record_report(trail, rep, subject=ds["train"].ref, system=SYSTEM, actor=PIPELINE)
        say(f"datasets {', '.join(d.ref for d in ds.values())}")

        # 3. Training inside a tracked run; the model version links back to the run and the data.
        with trail.run(
            f"train-{args.name}",
            system=SYSTEM,
            actor=ALICE,
            params={"model": "logistic_regression", "C": 0.5, "seed": args.seed},
            datasets=[ds["train"], ds["validation"]],
        ) as run:
            model = build_model(train[features]).fit(train[features], train[LABEL])
            val_auc = float(roc_auc_score(val[LABEL], model.predict_proba(val[features])[:, 1]))
            run.log_metrics({"validation.roc_auc": val_auc})
            mv = trail.register_model(
                model,
                name=args.name,
                system=SYSTEM,
                actor=ALICE,
                run=run,
                datasets=[ds["train"], ds["validation"], ds["test"]],
                training_data=train[features],
            )
        say(f"{mv.ref} trained in run {run.run_id} (validation ROC AUC {val_auc:.3f})")

        # 4. Evidence on the held-out test split.
        score = model.predict_proba(test[features])[:, 1]
        pred = (score >= 0.5).astype(int)
        groups = test[PROTECTED]
        for report in (
            performance_report(test[LABEL], pred, score, groups=groups, n_bootstrap=100, seed=args.seed),
            fairness_report(test[LABEL], pred, groups, y_score=score, n_bootstrap=100, seed=args.seed),
        ):
            record_report(trail, report, subject=mv.ref, system=SYSTEM, actor=PIPELINE, refs=[ds["test"].ref])
            shown = {k: round(v, 3) for k, v in report.metrics.items() if "[" not in k and "ci_" not in k}
            say(f"{report.kind} report: {dict(list(shown.items())[:4])}")

        # 5. The gate: required evidence and thresholds from the policy, recorded as gate.evaluated.
        result, receipt = trail.gate(mv.ref, "production", actor=PIPELINE)
        for check in result.checks:
            say(f"  {'pass' if check.passed else 'FAIL'}  {check.name}  {check.message}")
        say(f"gate production: {'PASSED' if result.passed else 'FAILED'} (event {receipt.seq})")
        if not result.passed:
            print(mv.ref.removeprefix("model:"))
            return 1

        if not args.no_deploy:
            # 6. Four-eyes: the registrant cannot approve her own model; the refusal is an event too.
            try:
                trail.approve(
                    mv.ref, "production", actor=Actor("alice", "model_risk"), rationale="I built it"
                )
            except ApprovalError as exc:
                say(f"refused: {exc}")
            trail.approve(mv.ref, "production", actor=BOB, rationale="Validation evidence reviewed")
            trail.approve(mv.ref, "production", actor=CAROL, rationale="Within the credit policy")
            deployed = trail.deploy(mv.ref, "production", actor=ERIN)
            say(f"{mv.ref} deployed to production (event {deployed.seq})")
        print(mv.ref.removeprefix("model:"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
