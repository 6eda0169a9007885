"""Datasets: the modeltrail-dataset/v1 hash, profile and registration (DVC import: test_integrations_dvc.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modeltrail
from modeltrail.errors import ValidationError
from modeltrail.lineage import content_hash, get_dataset, list_datasets, register_dataset
from modeltrail.lineage.datasets import describe
from modeltrail.trail import Trail

DATA = Path(__file__).parent / "data" / "german_credit.csv"
ALICE = {"id": "alice", "role": "data_scientist"}


@pytest.fixture
def trail(tmp_path: Path, backend_url: str | None) -> Trail:
    t = modeltrail.init(tmp_path, url=backend_url)  # SQLite and PostgreSQL
    yield t
    t.close()


def test_table_hash_is_stable_across_processes() -> None:
    here = content_hash(pd.read_csv(DATA))
    code = (
        "import pandas as pd, sys; from modeltrail.lineage.datasets import content_hash;"
        f"print(content_hash(pd.read_csv({str(DATA)!r})))"
    )
    # A fresh interpreter with a different hash seed: nothing may depend on process state.
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "123"}
    )
    assert out.stdout.strip() == here
    assert len(here) == 64


def test_file_hash_is_sha256_of_bytes_and_differs_from_table_hash() -> None:
    # Documented: a file hashes its bytes (so it equals its sha256sum), a frame its canonical values.
    assert content_hash(DATA) == "12b852eae9e1d971f9e98975edfd743d30ece1294097968d2e9d452fb897b23c"
    assert content_hash(pd.read_csv(DATA)) != content_hash(DATA)


def test_table_hash_ignores_storage_widths_index_and_origin() -> None:
    df = pd.read_csv(DATA)
    narrow = df.copy()
    for c in narrow.select_dtypes("int64").columns:
        narrow[c] = narrow[c].astype("int32")
    narrow.index = narrow.index + 1000  # the index is not data
    objects = df.astype({c: object for c in df.select_dtypes(exclude="number").columns})
    cats = df.astype({"purpose": "category"})
    assert content_hash(df) == content_hash(narrow) == content_hash(objects) == content_hash(cats)
    # Re-reading the frame written to another file gives the same table hash.
    assert content_hash(pd.read_csv(DATA).iloc[::-1].iloc[::-1]) == content_hash(df)


def test_different_data_gives_different_hash() -> None:
    df = pd.read_csv(DATA)
    changed = df.copy()
    changed.loc[17, "credit_amount"] += 1
    renamed = df.rename(columns={"age_years": "age"})
    reordered = df[list(reversed(df.columns))]
    hashes = {content_hash(x) for x in (df, changed, renamed, reordered, df.head(999))}
    assert len(hashes) == 5
    # Strings: the length prefix keeps ["ab", "c"] apart from ["a", "bc"].
    assert content_hash(pd.DataFrame({"s": ["ab", "c"]})) != content_hash(pd.DataFrame({"s": ["a", "bc"]}))
    assert content_hash(pd.DataFrame({"x": [1, 2]})) != content_hash(pd.DataFrame({"x": [1.0, 2.0]}))


def test_missing_values_are_normalised() -> None:
    a = pd.DataFrame({"x": [1.0, np.nan, -0.0], "s": ["a", None, "c"]})
    b = pd.DataFrame({"x": [1.0, float("nan") * -1, 0.0], "s": ["a", np.nan, "c"]})
    assert content_hash(a) == content_hash(b)
    # A null string is not the empty string.
    assert content_hash(pd.DataFrame({"s": ["a", None]})) != content_hash(pd.DataFrame({"s": ["a", ""]}))
    nullable = pd.DataFrame({"i": pd.array([1, None, 3], dtype="Int64")})
    assert content_hash(nullable) != content_hash(pd.DataFrame({"i": [1, 0, 3]}))


def test_numpy_and_folder_hashes(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert content_hash(arr) == content_hash(arr.astype(np.int64))
    assert content_hash(arr) != content_hash(arr.reshape(4, 3))
    assert content_hash(arr) != content_hash(arr.astype(float))
    with pytest.raises(ValidationError):
        content_hash(np.array([1j]))
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, order in ((a, ["x.txt", "sub/y.txt"]), (b, ["sub/y.txt", "x.txt"])):
        for rel in order:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(rel)
    assert content_hash(a) == content_hash(b)
    (b / "sub" / "y.txt").write_text("changed")
    assert content_hash(a) != content_hash(b)


def test_profile_is_small_and_keeps_rare_values_out() -> None:
    df = pd.read_csv(DATA)
    df["customer"] = [f"person-{i}" for i in range(len(df))]  # unique values must never be listed
    d = describe(df)
    text = json.dumps(d.profile)
    assert len(text.encode()) <= 8 * 1024
    assert "person-" not in text
    cols = d.profile["columns"]
    assert cols["age_years"]["min"] == 19 and cols["age_years"]["max"] == 75
    assert cols["credit_risk"]["top"][0] == ["good", 700]
    assert cols["customer"]["distinct"] == 1000 and "top" not in cols["customer"]
    assert d.rows == 1000 and d.columns == 24


def test_register_dataset_file_and_frame(trail: Trail) -> None:
    f = register_dataset(trail, DATA, name="german-credit", system="credit", actor=ALICE, role="train")
    assert f.ref == "dataset:german-credit@12b852eae9e1d971" and f.format == "csv" and f.rows == 1000
    assert {s["name"] for s in f.schema} >= {"age_years", "sex"}
    frame = register_dataset(
        trail, pd.read_csv(DATA).head(200), name="german-credit", system="credit", actor=ALICE, role="test", parents=[f]
    )
    assert frame.format == "pandas" and frame.rows == 200 and frame.parents == [f.ref]
    again = register_dataset(trail, DATA, name="german-credit", system="credit", actor=ALICE, role="reference")
    assert again.ref == f.ref
    listed = {d.ref: d for d in list_datasets(trail, name="german-credit")}
    assert set(listed) == {f.ref, frame.ref}
    assert listed[f.ref].roles == ["reference", "train"] and listed[f.ref].seq == f.seq
    assert get_dataset(trail, "german-credit@12b852").ref == f.ref
    assert get_dataset(trail, "german-credit").ref == frame.ref  # the newest version of the name
    ev = trail.get_event(frame.seq)
    assert ev.type == "dataset.registered" and ev.payload["hash_method"] == "modeltrail-dataset/v1"
    with pytest.raises(ValidationError, match="role"):
        register_dataset(trail, DATA, name="x", system="credit", actor=ALICE, role="training")


