"""Log a scikit-learn run in MLflow, then import it (and its registered model version) into a trail.

    python examples/mlflow_import/import_run.py --trail ./credit-trail --create-store ./mlruns-store
    python examples/mlflow_import/import_run.py --trail ./credit-trail --tracking-uri sqlite:///mlflow.db

With ``--create-store DIR`` the script makes a local MLflow store in DIR (SQLite backend ``DIR/mlflow.db``,
artifacts in ``DIR/artifacts``), logs one training run there (params, a tag, a metric history, the input
dataset, the fitted model registered as ``credit``) and imports it. With ``--tracking-uri`` it logs the run
to an existing store. ``--run-id`` skips the logging and imports an existing run (and, with
``--model NAME@VERSION``, a registered model version).

MLflow keeps its records mutable; the import copies them into the append-only ledger with a link back
(tracking URI, run id, model URI) and the hashes of every artifact. Importing the same run or version
again records nothing, so the script can run after every training job.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

import pandas as pd

import modeltrail
from modeltrail import Actor
from modeltrail.demo import load_german_credit
from modeltrail.errors import ModeltrailError
from modeltrail.integrations.mlflow import import_mlflow_model_version, import_mlflow_run
from modeltrail.trail import Trail

SYSTEM = "credit-scoring"
IMPORTER = Actor("mlflow-sync", "pipeline", "service")


def say(msg: str) -> None:
    """Progress for people (stderr)."""
    print(msg, file=sys.stderr)


def open_or_init(folder: Path) -> Trail:
    """Open the trail in ``folder``, creating it on first use."""
    try:
        return modeltrail.open(folder)
    except ModeltrailError:
        return modeltrail.init(folder, origin="example.local/mlflow-import")


def log_training_run(tracking_uri: str, artifact_root: str | None, data: pd.DataFrame) -> tuple[str, str]:
    """Train a logistic regression and log it in MLflow; returns (run id, registered ``name@version``)."""
    import mlflow
    import mlflow.sklearn
    from mlflow.data.pandas_dataset import from_pandas
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(tracking_uri)
    exp = mlflow.get_experiment_by_name("credit-scoring")
    exp_id = (
        exp.experiment_id
        if exp
        else mlflow.create_experiment("credit-scoring", artifact_location=artifact_root)
    )
    y = (data["credit_risk"] == "bad").astype(int)
    X = data.select_dtypes("number")
    with warnings.catch_warnings():
        # MLflow warns about optional extras (signature inference, pip freeze); they do not matter here.
        warnings.simplefilter("ignore")
        with mlflow.start_run(experiment_id=exp_id, run_name="logreg-numeric") as run:
            mlflow.log_params({"C": 0.5, "features": "numeric"})
            mlflow.set_tag("team", "credit-risk")
            model = LogisticRegression(C=0.5, max_iter=1000)
            for step, n in enumerate((250, 500, 1000)):
                model.fit(X.iloc[:n], y.iloc[:n])
                mlflow.log_metric("train_accuracy", float(model.score(X.iloc[:n], y.iloc[:n])), step=step)
            mlflow.log_input(from_pandas(X, name="german-credit-numeric"), context="training")
            # Fixed requirements: inferring them would start a pip subprocess for several seconds.
            info = mlflow.sklearn.log_model(
                model, name="model", registered_model_name="credit", pip_requirements=["scikit-learn"]
            )
    version = getattr(info, "registered_model_version", None)
    if version is None:  # older MLflow: ask the registry for the newest version of the run
        from mlflow.tracking import MlflowClient

        versions = MlflowClient(tracking_uri).search_model_versions(f"run_id='{run.info.run_id}'")
        version = max(int(v.version) for v in versions)
    return run.info.run_id, f"credit@{version}"


def main(argv: list[str] | None = None) -> int:
    """Log (optionally) and import; prints the imported modeltrail run id and model version."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--trail", type=Path, default=Path(".modeltrail"), help="trail folder (created if absent)"
    )
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--create-store", type=Path, metavar="DIR", help="create a local MLflow store in DIR")
    where.add_argument("--tracking-uri", help="an existing MLflow tracking URI (sqlite:///…, http://…)")
    ap.add_argument("--run-id", help="import this existing MLflow run instead of logging a new one")
    ap.add_argument("--model", metavar="NAME@VERSION", help="with --run-id: also import this model version")
    ap.add_argument("--data", type=Path, help="German Credit CSV (default: the packaged copy)")
    args = ap.parse_args(argv)

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    artifact_root: str | None = None
    if args.create_store is not None:
        store = args.create_store.resolve()
        store.mkdir(parents=True, exist_ok=True)
        tracking_uri = f"sqlite:///{store / 'mlflow.db'}"
        artifact_root = (store / "artifacts").as_uri()
    else:
        tracking_uri = args.tracking_uri

    if args.run_id:
        run_id, model = args.run_id, args.model
    else:
        data = pd.read_csv(args.data) if args.data else load_german_credit()
        run_id, model = log_training_run(tracking_uri, artifact_root, data)
        say(f"MLflow run {run_id} logged in {tracking_uri}; registered model {model}")

    with open_or_init(args.trail) as trail:
        before = trail.size()
        run = import_mlflow_run(trail, run_id, tracking_uri=tracking_uri, system=SYSTEM, actor=IMPORTER)
        say(f"run imported as run:{run.run_id} ({len(run.metrics)} metrics, status {run.status})")
        print(f"run:{run.run_id}")
        if model:
            name, _, version = model.partition("@")
            mv = import_mlflow_model_version(
                trail, name, version, tracking_uri=tracking_uri, system=SYSTEM, actor=IMPORTER
            )
            say(f"model version imported as {mv.ref} (artifact sha256 {mv.sha256[:16]}…)")
            print(mv.ref)
        say(f"{trail.size() - before} events recorded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
