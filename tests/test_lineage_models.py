"""Models (register/load, trust, integrity, versions), lineage queries, CLI, and rebuild = live state."""

from __future__ import annotations

import json
import os
import pickle
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import modeltrail
from modeltrail import projections
from modeltrail.cli import lineage as cli
from modeltrail.cli.main import TrailContext
from modeltrail.errors import IntegrityError, NotFoundError, TrustError
from modeltrail.governance import record_governed
from modeltrail.lineage import (
    downstream,
    export_dot,
    get_model_version,
    list_models,
    load_model,
    models_trained_on,
    register_dataset,
    register_model,
    to_json,
    trail_run,
    upstream,
)
from modeltrail.trail import Trail

DATA = Path(__file__).parent / "data" / "german_credit.csv"
ALICE = {"id": "alice", "role": "data_scientist"}


@pytest.fixture
def trail(tmp_path: Path, backend_url: str | None) -> Trail:
    t = modeltrail.init(tmp_path, url=backend_url)  # SQLite and PostgreSQL
    yield t
    t.close()


@pytest.fixture(scope="module")
def credit() -> tuple[pd.DataFrame, pd.Series]:
    df = pd.read_csv(DATA)
    y = (df.pop("credit_risk") == "good").astype(int)
    return df, y


def _pipeline(X: pd.DataFrame, y: pd.Series) -> Pipeline:
    num = X.select_dtypes("number").columns.tolist()
    cat = [c for c in X.columns if c not in num]
    pre = ColumnTransformer([("n", StandardScaler(), num), ("c", OneHotEncoder(handle_unknown="ignore"), cat)])
    return Pipeline([("pre", pre), ("m", LogisticRegression(max_iter=1000))]).fit(X, y)


def test_sklearn_round_trip_signature_and_range(trail: Trail, credit: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = credit
    model = _pipeline(X, y)
    mv = register_model(trail, model, name="credit", system="credit", actor=ALICE, training_data=X)
    assert (mv.name, mv.version, mv.artifact["format"], mv.artifact["framework"]) == (
        "credit",
        1,
        "skops",
        "scikit-learn",
    )
    assert [i["name"] for i in mv.signature["inputs"]] == list(X.columns)
    assert mv.signature["outputs"][0]["classes"] == [0, 1]
    assert mv.training_range["age_years"] == [19, 75]
    loaded = load_model(trail, "credit@1")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    assert get_model_version(trail, "credit").version == 1
    assert register_model(trail, model, name="credit", system="credit", actor=ALICE).version == 2


def test_skops_types_outside_the_allow_list_are_refused(trail: Trail, credit: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = credit
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X.select_dtypes("number"), y)
    register_model(trail, forest, name="rf", system="credit", actor=ALICE)
    assert load_model(trail, "rf@1").predict(X.select_dtypes("number").head(3)).shape == (3,)  # sklearn types ok
    with pytest.raises(TrustError, match="allow-list"):
        _load_with_foreign_type(trail)


def _load_with_foreign_type(trail: Trail) -> None:
    import collections

    from sklearn.preprocessing import FunctionTransformer

    # A transformer wrapping a function from outside sklearn/numpy: skops lists it as untrusted.
    model = FunctionTransformer(collections.Counter).fit(np.zeros((2, 1)))
    register_model(trail, model, name="ft", system="credit", actor=ALICE)
    load_model(trail, "ft@1")


def test_pickle_needs_trust(trail: Trail, tmp_path: Path) -> None:
    with pytest.raises(TrustError):
        register_model(trail, {"weights": [1, 2]}, name="custom", system="credit", actor=ALICE)
    mv = register_model(trail, {"weights": [1, 2]}, name="custom", system="credit", actor=ALICE, trusted=True)
    assert mv.artifact["format"] == "pickle" and mv.artifact["trusted_pickle"] is True
    with pytest.raises(TrustError):
        load_model(trail, mv)
    assert load_model(trail, mv, trusted=True) == {"weights": [1, 2]}
    pkl = tmp_path / "m.pkl"
    pkl.write_bytes(pickle.dumps([1]))
    with pytest.raises(TrustError):
        register_model(trail, pkl, name="file-pickle", system="credit", actor=ALICE)


def test_tampered_artifact_is_detected(trail: Trail, credit: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = credit
    mv = register_model(
        trail,
        LogisticRegression(max_iter=500).fit(X.select_dtypes("number"), y),
        name="lr",
        system="credit",
        actor=ALICE,
    )
    # A small artifact is a row of the ledger database (blobs_db): flip one byte of the stored row.
    assert trail.blobs.small.exists(mv.sha256)
    data = bytearray(trail.blobs.get_bytes(mv.sha256))
    data[len(data) // 2] ^= 0xFF
    trail.store.execute("UPDATE blobs SET data = ? WHERE sha256 = ?", (bytes(data), bytes.fromhex(mv.sha256)))
    with pytest.raises(IntegrityError):
        load_model(trail, "lr@1", trusted=True)


def test_file_and_folder_artifacts(trail: Trail, tmp_path: Path) -> None:
    f = tmp_path / "model.onnx"
    f.write_bytes(b"\x08\x01onnx-bytes")
    mv = register_model(trail, f, name="onnx", system="credit", actor=ALICE)
    assert mv.artifact["format"] == "file" and mv.sha256 == __import__("hashlib").sha256(f.read_bytes()).hexdigest()
    assert Path(load_model(trail, mv, dest=tmp_path / "out")).read_bytes() == f.read_bytes()
    folder = tmp_path / "saved"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.bin").write_bytes(b"b")
    first = register_model(trail, folder, name="dir", system="credit", actor=ALICE)
    os.utime(folder / "a.txt", (1, 1))  # times do not enter the tar
    second = register_model(trail, folder, name="dir", system="credit", actor=ALICE)
    assert first.artifact["format"] == "directory" and first.sha256 == second.sha256 and second.version == 2
    out = Path(load_model(trail, "dir@2", dest=tmp_path / "unpacked"))
    assert (out / "sub" / "b.bin").read_bytes() == b"b"


def test_versions_are_unique_under_concurrent_registration(trail: Trail) -> None:
    versions: list[int] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            versions.append(
                register_model(trail, {"i": i}, name="race", system="credit", actor=ALICE, trusted=True).version
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(versions) == list(range(1, 9))
    assert [m.version for m in list_models(trail, name="race")] == list(range(1, 9))


def _graph(trail: Trail, X: pd.DataFrame, y: pd.Series) -> tuple[str, str, str, str]:
    raw = register_dataset(trail, DATA, name="german-credit", system="credit", actor=ALICE, role="other")
    train = register_dataset(trail, X, name="german-credit-features", system="credit", actor=ALICE, parents=[raw])
    with trail_run(trail, "train", system="credit", actor=ALICE, datasets=[train]) as run:
        mv = register_model(
            trail,
            LogisticRegression(max_iter=500).fit(X.select_dtypes("number"), y),
            name="credit",
            system="credit",
            actor=ALICE,
            run=run,
        )
    record_governed(  # as the deploy operation writes it (its gate and approvals are not this test's subject)
        trail,
        "model.deployed",
        system="credit",
        actor=ALICE,
        subject=mv.ref,
        payload={
            "env": "prod",
            "traffic": 1.0,
            "stage": "production",
            "gate_seq": 0,
            "approval_seqs": [],
            "break_glass": False,
            "reason": None,
        },
    )
    return raw.ref, train.ref, run.ref, mv.ref


def test_lineage_up_down_and_trained_on(trail: Trail, credit: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = credit
    raw, train, run, model = _graph(trail, X, y)
    dep = "deployment:credit@1/prod"
    up = upstream(trail, dep)
    assert up.refs() == sorted([dep, model, run, train, raw])
    assert {(e["src"], e["rel"], e["dst"]) for e in up.edges} == {
        (raw, "derived", train),
        (train, "input", run),
        (run, "produced", model),
        (model, "deployed", dep),
    }
    assert downstream(trail, raw).refs() == sorted([raw, train, run, model, dep])
    assert downstream(trail, run).refs("model") == [model]
    assert upstream(trail, model, depth=1).refs() == sorted([model, run])
    assert [str(m) for m in models_trained_on(trail, "german-credit")] == ["credit@1"]
    assert [str(m) for m in models_trained_on(trail, "german-credit-features")] == ["credit@1"]
    assert models_trained_on(trail, "unknown") == []
    dot = export_dot(up)
    assert dot.startswith("digraph lineage {") and f'"{run}" -> "{model}" [label="produced"];' in dot
    assert json.loads(to_json(up))["root"] == dep
    record_governed(
        trail, "model.retired", system="credit", actor=ALICE, subject=model, payload={"env": "prod", "reason": "replaced"}
    )
    assert get_model_version(trail, model).status == "retired"
    with pytest.raises(NotFoundError):
        upstream(trail, "nothing@9")


def test_rebuild_equals_live_state(trail: Trail, credit: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = credit
    _graph(trail, X, y)
    with pytest.raises(ValueError), trail_run(trail, "fails", system="credit", actor=ALICE) as run:
        run.log_metrics({"a": 1, "b": 2.5}, step=1)
        raise ValueError("x")
    live = projections.snapshot(trail)
    assert live["lineage_entities"] and live["lineage_edges"] and live["lineage_metrics"]
    projections.rebuild(trail)
    assert projections.snapshot(trail) == live


def _ctx(trail: Trail) -> TrailContext:
    tc = TrailContext(str(trail.path))
    tc._trail = trail
    tc.close = lambda: None  # type: ignore[method-assign]
    return tc


def test_cli_end_to_end(trail: Trail, tmp_path: Path, credit: tuple[pd.DataFrame, pd.Series]) -> None:
    runner = CliRunner()
    obj = _ctx(trail)
    cmd = {c.name: c for c in cli.COMMANDS}
    res = runner.invoke(
        cmd["dataset"],
        ["register", str(DATA), "--name", "german-credit", "--role", "train", "--system", "credit"],
        obj=obj,
    )
    assert res.exit_code == 0, res.output
    ds_ref = res.output.strip()
    assert ds_ref == "dataset:german-credit@12b852eae9e1d971"
    run_id = runner.invoke(
        cmd["run"], ["start", "train", "--system", "credit", "--dataset", ds_ref], obj=obj
    ).output.strip()
    X, y = credit
    import skops.io as sio

    artifact = tmp_path / "model.skops"
    sio.dump(LogisticRegression(max_iter=500).fit(X.select_dtypes("number"), y), artifact)
    res = runner.invoke(
        cmd["model"],
        [
            "register",
            str(artifact),
            "--name",
            "credit",
            "--system",
            "credit",
            "--run",
            run_id,
            "--dataset",
            ds_ref,
            "--actor",
            "bob",
            "--actor-role",
            "ml_engineer",
        ],
        obj=obj,
    )
    assert res.exit_code == 0 and res.output.strip() == "credit@1", res.output
    assert runner.invoke(cmd["run"], ["end", "--run", run_id], obj=obj).exit_code == 0
    res = runner.invoke(cmd["lineage"], ["credit@1", "--up", "--json"], obj=obj)
    assert res.exit_code == 0, res.output
    graph = json.loads(res.output)
    assert {n["ref"] for n in graph["nodes"]} == {"model:credit@1", f"run:{run_id}", ds_ref}
    res = runner.invoke(cmd["lineage"], [ds_ref, "--down", "--dot"], obj=obj)
    assert res.exit_code == 0 and '"model:credit@1"' in res.output
    res = runner.invoke(cmd["lineage"], ["credit@1"], obj=obj)
    assert res.exit_code == 0 and "produced" in res.output
    res = runner.invoke(cmd["models"], ["show", "credit@1", "--json"], obj=obj)
    shown = json.loads(res.output)
    assert shown["artifact"]["format"] == "skops" and shown["registrant"] == "bob" and shown["run_id"] == run_id
    res = runner.invoke(cmd["models"], ["list"], obj=obj)
    assert res.exit_code == 0 and "credit@1" in res.output
    res = runner.invoke(cmd["datasets"], ["list", "--json"], obj=obj)
    assert [json.loads(x)["ref"] for x in res.stdout.splitlines()] == [ds_ref]
    res = runner.invoke(cmd["datasets"], ["show", ds_ref], obj=obj)
    assert res.exit_code == 0 and "age_years" in res.output
    res = runner.invoke(cmd["models"], ["show", "credit@7"], obj=obj)
    assert res.exit_code == 1 and "no model version" in res.output
    assert isinstance(load_model(trail, "credit@1"), LogisticRegression)


def test_xgboost_round_trip(trail: Trail, credit: tuple[pd.DataFrame, pd.Series]) -> None:
    xgboost = pytest.importorskip("xgboost")
    X, y = credit
    Xn = X.select_dtypes("number")
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(Xn, y)
    mv = register_model(trail, model, name="xgb", system="credit", actor=ALICE, training_data=Xn)
    assert mv.artifact["format"] == "xgboost-json"
    np.testing.assert_allclose(load_model(trail, mv).predict_proba(Xn), model.predict_proba(Xn))


def test_lightgbm_round_trip(trail: Trail, credit: tuple[pd.DataFrame, pd.Series]) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    X, y = credit
    Xn = X.select_dtypes("number").astype(float)
    model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(Xn, y)
    mv = register_model(trail, model, name="lgbm", system="credit", actor=ALICE, training_data=Xn)
    assert mv.artifact["format"] == "lightgbm-text"
    np.testing.assert_allclose(load_model(trail, mv).predict(Xn), model.predict_proba(Xn)[:, 1])
