"""Import from a real local MLflow store (SQLite backend): run, metrics history, model version, link back."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import modeltrail
from modeltrail.lineage import get_dataset, get_run, load_model, metric_history, models_trained_on, upstream
from modeltrail.trail import Trail

mlflow = pytest.importorskip("mlflow")

DATA = Path(__file__).parent / "data" / "german_credit.csv"
CI = {"id": "ci-bot", "role": "ml_engineer", "kind": "service"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A local MLflow store with one run (params, metric history, tag, dataset input, sklearn model)."""
    from sklearn.linear_model import LogisticRegression

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    exp = mlflow.create_experiment("credit", artifact_location=str(root / "artifacts"))
    df = pd.read_csv(DATA)
    y = (df.pop("credit_risk") == "good").astype(int)
    X = df.select_dtypes("number")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mlflow.start_run(experiment_id=exp, run_name="lr-baseline") as run:
            mlflow.log_params({"C": 0.5, "solver": "lbfgs"})
            mlflow.set_tag("team", "risk")
            for step in range(3):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            model = LogisticRegression(C=0.5, max_iter=500).fit(X, y)
            mlflow.log_metric("accuracy", float(model.score(X, y)))
            mlflow.log_input(mlflow.data.from_pandas(X, name="german-credit"), context="training")
            (root / "notes.txt").write_text("feature notes")
            mlflow.log_artifact(str(root / "notes.txt"))
            # Fixed requirements: inferring them would start a subprocess and take seconds.
            mlflow.sklearn.log_model(
                model, name="model", registered_model_name="credit", pip_requirements=["scikit-learn"]
            )
    mlflow.set_tracking_uri(None)
    return uri, run.info.run_id


@pytest.fixture
def trail(tmp_path: Path, backend_url: str | None) -> Trail:
    t = modeltrail.init(tmp_path, url=backend_url)  # SQLite and PostgreSQL
    yield t
    t.close()


def test_import_run_and_model_version(trail: Trail, store: tuple[str, str]) -> None:
    from modeltrail.integrations.mlflow import import_mlflow_model_version, import_mlflow_run

    uri, mlflow_run_id = store
    info = import_mlflow_run(trail, mlflow_run_id, tracking_uri=uri, system="credit", actor=CI)
    assert info.source == "mlflow" and info.status == "completed" and info.name == "lr-baseline"
    assert info.params == {"C": "0.5", "solver": "lbfgs"} and info.tags == {"team": "risk"}  # MLflow keeps text
    assert info.metrics["loss"] == pytest.approx(1 / 3) and "accuracy" in info.metrics
    assert [h["step"] for h in metric_history(trail, info.run_id, "loss")] == [0, 1, 2]
    assert info.link is not None and info.link["run_id"] == mlflow_run_id and info.link["tracking_uri"] == uri
    files = info.link["artifacts"]["files"]
    import hashlib

    assert files["notes.txt"] == hashlib.sha256(b"feature notes").hexdigest()
    n = trail.size()
    assert import_mlflow_run(trail, mlflow_run_id, tracking_uri=uri, system="credit", actor=CI).run_id == info.run_id
    assert trail.size() == n  # the second import records nothing

    mv = import_mlflow_model_version(trail, "credit", 1, tracking_uri=uri, system="credit", actor=CI)
    assert (mv.name, mv.version, mv.run_id) == ("credit", 1, info.run_id)
    assert mv.artifact["format"] == "directory" and mv.artifact["framework"] == "scikit-learn"
    assert (
        mv.imported is not None
        and mv.imported["model_uri"] == "models:/credit/1"
        and mv.imported["run_id"] == mlflow_run_id
    )
    assert {e.type for e in trail.events("model.*", subject=mv.ref)} == {"model.registered", "model.imported"}
    assert [d["role"] for d in mv.datasets] == ["train"]
    # MLflow's dataset digest (8 hex: a truncated MD5) is recorded as logged and is the whole ref suffix.
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    mlflow_run = client.get_run(mlflow_run_id)
    digest = mlflow_run.inputs.dataset_inputs[0].dataset.digest
    assert len(digest) == 8 and mv.datasets[0]["ref"] == f"dataset:german-credit@{digest}"
    ds = get_dataset(trail, mv.datasets[0]["ref"])
    assert (ds.content_hash, ds.hash_method) == (digest, "mlflow-digest")
    if int(mlflow.__version__.split(".")[0]) >= 3:
        # MLflow 3: the version is backed by a logged model; its id is recorded (in the run's link too).
        [logged] = mlflow_run.outputs.model_outputs
        assert logged.model_id.startswith("m-")
        assert mv.imported["mlflow_model_id"] == logged.model_id
        assert info.link["logged_models"] == [{"model_id": logged.model_id, "step": logged.step}]
        [ev] = trail.events("model.imported", subject=mv.ref)
        assert ev.payload["mlflow_model_id"] == logged.model_id
    else:
        assert mv.imported["mlflow_model_id"] is None and "logged_models" not in info.link
    assert upstream(trail, "credit@1").refs("run") == [info.ref]
    assert [str(m) for m in models_trained_on(trail, "german-credit")] == ["credit@1"]
    folder = Path(load_model(trail, mv))
    assert (folder / "MLmodel").is_file()
    again = import_mlflow_model_version(trail, "credit", 1, tracking_uri=uri, system="credit", actor=CI)
    assert again.seq == mv.seq


def test_cli_import(trail: Trail, store: tuple[str, str]) -> None:
    from modeltrail.cli import lineage as cli
    from modeltrail.cli.main import TrailContext

    uri, mlflow_run_id = store
    tc = TrailContext(str(trail.path))
    tc._trail = trail
    tc.close = lambda: None  # type: ignore[method-assign]
    group = next(c for c in cli.COMMANDS if c.name == "import")
    res = CliRunner().invoke(
        group, ["mlflow", mlflow_run_id, "--tracking-uri", uri, "--system", "credit", "--model", "credit@1"], obj=tc
    )
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()  # MLflow may print download progress on stderr
    run_id = next(line.split()[1] for line in lines if line.startswith("run "))
    assert get_run(trail, run_id).link["run_id"] == mlflow_run_id  # type: ignore[index]
    assert lines[-1] == "model credit@1"


def test_logged_model_id_fallbacks() -> None:
    """How the logged model behind a version is found, down to MLflow 2 (no logged models: None)."""
    from types import SimpleNamespace as NS

    from modeltrail.integrations.mlflow import _logged_model_id

    def client(outputs: list[str] | None, names: dict[str, str] | None = None, fail: bool = False) -> NS:
        def get_run(run_id: str) -> NS:
            if fail:
                raise RuntimeError("no such run")
            if outputs is None:  # MLflow 2: runs have no outputs
                return NS(info=NS(run_id=run_id))
            return NS(outputs=NS(model_outputs=[NS(model_id=m, step=0) for m in outputs]))

        return NS(get_run=get_run, get_logged_model=lambda m: NS(name=(names or {})[m]))

    mlflow2 = NS(run_id="r1", source="runs:/r1/model")  # no model_id attribute at all
    assert _logged_model_id(client(None), mlflow2) is None
    assert _logged_model_id(client(None), NS(run_id="r1", source="s", model_id="m-1")) == "m-1"
    assert _logged_model_id(client(None, fail=True), NS(run_id="r1", source="models:/m-abc12", model_id=None)) == (
        "m-abc12"
    )
    assert _logged_model_id(client(["m-1"]), NS(run_id="r1", source="/tmp/x", model_id=None)) == "m-1"
    two = client(["m-1", "m-2"], {"m-1": "model", "m-2": "challenger"})
    assert _logged_model_id(two, NS(run_id="r1", source="runs:/r1/challenger", model_id=None)) == "m-2"
    assert _logged_model_id(two, NS(run_id="r1", source="/elsewhere", model_id=None)) is None
    assert _logged_model_id(client(["m-1"], fail=True), NS(run_id="r1", source="x", model_id=None)) is None
    assert _logged_model_id(client(["m-1"]), NS(run_id=None, source="x", model_id=None)) is None
