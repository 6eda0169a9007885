"""The evidence figures next to their reference libraries, on the edge cases of issue #15 and real data.

    python bench/evidence_oracles.py            # a Markdown table
    python bench/evidence_oracles.py --json     # the same rows as JSON

Each row: the case, the metric, modeltrail's value, the reference value and the library it comes from.
Where the reference library itself gives the number the issue called wrong (fairlearn's equalized odds
with an undefined TPR), the row says so. The same cases are asserted in tests/test_evidence_edge_cases.py
and tests/test_oracle_adult.py; this script only prints them for a closing note.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any

import fairlearn.metrics as flm
import numpy as np
import pandas as pd
import sklearn.metrics as skm

from modeltrail.errors import ValidationError
from modeltrail.evidence.data_report import data_report
from modeltrail.evidence.fairness import fairness_report
from modeltrail.evidence.performance import performance_report

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def _row(case: str, metric: str, ours: Any, ref: Any, lib: str, note: str = "") -> dict[str, Any]:
    return {"case": case, "metric": metric, "modeltrail": ours, "reference": ref, "library": lib, "note": note}


def rows() -> list[dict[str, Any]]:
    """Every row of the table (see the module docstring)."""
    out = []
    # NaN labels: an error (no longer counted as negatives).
    try:
        performance_report(np.r_[np.ones(50), np.full(50, np.nan)], None, np.linspace(0, 1, 100), n_bootstrap=0)
        ours: Any = "computed"
    except ValidationError as exc:
        ours = f"ValidationError ({exc.field})"
    out.append(_row("NaN labels", "roc_auc", ours, "ValueError (Input contains NaN)", "scikit-learn"))
    # An unused category of a categorical label.
    df = pd.DataFrame({"y": pd.Categorical(["a"] * 60 + ["b"] * 40, categories=["a", "b", "c"]), "x": range(100)})
    r = data_report(df, label="y")
    ref = float(df["y"].value_counts(normalize=True)[lambda s: s > 0].min())
    out.append(_row("unused label category", "label_minority_share", r.metrics["data.label_minority_share"], ref, "pandas"))
    # Per-group R² far from the overall mean.
    rng = np.random.default_rng(0)
    g = np.repeat([0, 1], 200)
    yt = np.where(g == 0, 0.0, 1e8) + rng.normal(size=400)
    yp = yt + 0.1 * rng.normal(size=400)
    r = performance_report(yt, yp, task="regression", groups={"g": g}, n_bootstrap=0)
    out.append(
        _row("group at 1e8", "r2[g=1]", r.metrics["performance.r2[g=1]"], skm.r2_score(yt[g == 1], yp[g == 1]), "scikit-learn")
    )
    # 1 and "1" as group labels.
    attr = pd.Series([1, "1"] * 50, dtype=object)
    r = fairness_report(np.tile([1, 0, 0, 1], 25), np.tile([1, 1, 0, 0], 25), {"a": attr}, n_bootstrap=0)
    out.append(
        _row("1 and '1'", "groups", len(r.body["attributes"][0]["groups"]), attr.groupby(attr.map(repr)).ngroups, "pandas")
    )
    # A group without positives: its TPR is undefined, not 0.
    rng = np.random.default_rng(3)
    grp = np.repeat(["a", "b", "c"], 100)
    y = rng.integers(0, 2, 300)
    y[grp == "c"] = 0
    pred = np.where(rng.random(300) < 0.5 + 0.2 * y, 1, 0)
    r = fairness_report(y, pred, {"g": grp}, n_bootstrap=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fl = flm.equalized_odds_difference(y, pred, sensitive_features=grp)
    out.append(
        _row("group without positives", "equalized_odds_difference", r.metrics["fairness.equalized_odds_difference[g]"],
             fl, "fairlearn", "fairlearn counts the undefined TPR as 0; modeltrail leaves group c out and warns")
    )  # fmt: skip
    # Real data: German Credit and Adult, overall and per group.
    for name, label, positive in (("german_credit.csv", "credit_risk", "good"), ("adult_sample.csv", "income", ">50K")):
        path = DATA / name
        if not path.exists():
            continue
        d = pd.read_csv(path)
        y = (d[label].astype(str).str.strip() == positive).to_numpy().astype(int)
        num = d.select_dtypes("number")
        score = 1 / (1 + np.exp(-((num - num.mean()) / num.std()).fillna(0).mean(axis=1).to_numpy()))
        pred = (score >= 0.5).astype(int)
        sex = d["sex"].astype(str).to_numpy()
        p = performance_report(y, pred, score, groups={"sex": sex}, n_bootstrap=0)
        f = fairness_report(y, pred, {"sex": sex}, n_bootstrap=0)
        case = name.removesuffix(".csv")
        out += [
            _row(case, "roc_auc", p.metrics["performance.roc_auc"], skm.roc_auc_score(y, score), "scikit-learn"),
            _row(case, "f1", p.metrics["performance.f1"], skm.f1_score(y, pred), "scikit-learn"),
            _row(case, "demographic_parity_difference[sex]", f.metrics["fairness.demographic_parity_difference[sex]"],
                 flm.demographic_parity_difference(y, pred, sensitive_features=sex), "fairlearn"),
            _row(case, "equalized_odds_difference[sex]", f.metrics["fairness.equalized_odds_difference[sex]"],
                 flm.equalized_odds_difference(y, pred, sensitive_features=sex), "fairlearn"),
        ]  # fmt: skip
    return out


def main() -> None:
    """Print the table (Markdown) or the rows (``--json``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    table = rows()
    if args.json:
        print(json.dumps(table, indent=2, default=str))
        return
    print("| case | metric | modeltrail | reference | library | note |\n|---|---|---|---|---|---|")
    for r in table:
        fmt = [f"{v:.12g}" if isinstance(v, float) else str(v) for v in (r["modeltrail"], r["reference"])]
        print(f"| {r['case']} | {r['metric']} | {fmt[0]} | {fmt[1]} | {r['library']} | {r['note']} |")


if __name__ == "__main__":
    main()
