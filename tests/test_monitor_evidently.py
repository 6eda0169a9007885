"""Drift values equal Evidently's (0.7, ``DataDriftPreset``) to 1e-9 where the method is the same.

Evidently runs in its own environment (it does not import with this project's pandas): ``bash
bench/make_evidently_venv.sh`` creates it in /tmp/evidently-venv, or set ``EVIDENTLY_PYTHON``. It is a
benchmark baseline, heavy to install, so ``scripts/test.sh`` does not create it and this test skips
without it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modeltrail.monitor.drift import drift_report
from modeltrail.monitor.profile import build_profile

PYTHON = os.environ.get("EVIDENTLY_PYTHON") or "/tmp/evidently-venv/bin/python"
pytestmark = pytest.mark.skipif(
    not Path(PYTHON).exists(),
    reason=f"Evidently's environment is missing ({PYTHON}): bash bench/make_evidently_venv.sh creates it "
    "(a benchmark baseline; scripts/test.sh does not)",
)

SCRIPT = r"""
import json, sys
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

ref_path, cur_path, num, cat, per_column = sys.argv[1:6]
ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
definition = DataDefinition(numerical_columns=num.split(","), categorical_columns=cat.split(","))
preset = DataDriftPreset(per_column_method=json.loads(per_column) or None)
snap = Report([preset]).run(
    current_data=Dataset.from_pandas(cur, data_definition=definition),
    reference_data=Dataset.from_pandas(ref, data_definition=definition),
)
out = {}
for m in snap.dict()["metrics"]:
    cfg = m.get("config", {})
    if "ValueDrift" in str(cfg.get("type", "")):
        out[cfg["column"]] = {"method": cfg.get("method"), "value": m["value"]}
print(json.dumps(out))
"""

# Evidently's names of its methods, as its report states them, per our canonical name.
EVIDENTLY_NAME = {
    "ks": "K-S p_value",
    "wasserstein": "Wasserstein distance (normed)",
    "psi": "PSI",
    "jensenshannon": "Jensen-Shannon distance",
    "chisquare": "chi-square p_value",
    "z": "Z-test p_value",
}


def _frame(n: int, seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = pd.DataFrame(
        {
            "normal": rng.normal(shift, 1.0, n),
            "skewed": rng.exponential(1.0 + shift, n),
            "ties": np.round(rng.normal(50 + 10 * shift, 10, n)),
            "few": rng.integers(0, 4, n).astype(float),  # 4 distinct values
            "binary_num": rng.integers(0, 2, n).astype(float),
            "colour": rng.choice(["red", "green", "blue", "grey"], n, p=[0.4 - shift / 4, 0.3, 0.2, 0.1 + shift / 4]),
            "flag": rng.choice(["no", "yes"], n, p=[0.7 - shift / 4, 0.3 + shift / 4]),
        }
    )
    f.loc[rng.random(n) < 0.02, "normal"] = np.nan
    return f


NUM = ["normal", "skewed", "ties", "few", "binary_num"]
CAT = ["colour", "flag"]


def _evidently(tmp: Path, ref: pd.DataFrame, cur: pd.DataFrame, per_column: dict[str, str]) -> dict[str, dict]:
    ref.to_parquet(tmp / "ref.parquet")
    cur.to_parquet(tmp / "cur.parquet")
    out = subprocess.run(
        [PYTHON, "-c", SCRIPT, str(tmp / "ref.parquet"), str(tmp / "cur.parquet"), ",".join(NUM), ",".join(CAT),
         json.dumps(per_column)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    result: dict[str, dict] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("n_ref", "n_cur", "per_column"),
    [
        (800, 600, {}),  # small reference: KS, chi-square, Z
        (3000, 2000, {}),  # large reference: normed Wasserstein, Jensen–Shannon
        (
            3000,
            2000,
            {"normal": "psi", "skewed": "ks", "ties": "jensenshannon", "colour": "chisquare", "flag": "psi"},
        ),
        (3000, 2000, {"normal": "jensenshannon", "skewed": "psi", "colour": "psi", "flag": "z"}),
    ],
)
def test_values_equal_evidentlys(tmp_path: Path, n_ref: int, n_cur: int, per_column: dict[str, str]) -> None:
    ref, cur = _frame(n_ref, 1, 0.0), _frame(n_cur, 2, 0.15)
    theirs = _evidently(tmp_path, ref, cur, per_column)
    prof = build_profile(ref, categorical=CAT)
    ours = drift_report(prof, cur, methods=per_column)
    assert set(theirs) == set(ours.columns)
    for name, c in ours.columns.items():
        # Evidently states a method it chose by its display name, one it was given by that name.
        assert theirs[name]["method"] in (EVIDENTLY_NAME[c.method], per_column.get(name)), (name, c.method)
        assert abs(float(theirs[name]["value"]) - c.value) <= 1e-9, (name, c.method, c.value, theirs[name])
