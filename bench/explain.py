"""Explanation cost: exact TreeSHAP for 100 rows of a HistGradientBoosting pipeline (German Credit).

Prints one JSON object: seconds for modeltrail's batch TreeSHAP, for shap's TreeExplainer on the same
encoded rows when shap is installed, and for the model's own ``predict_proba`` on those rows (the
baseline, measured in the same run), plus the largest additivity error and the largest difference from
shap. Not part of the test suite::

    python bench/explain.py [--rows 100] [--repeats 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from modeltrail.evidence.explain import DecisionExplainer

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "german_credit.csv"


def best(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    df = pd.read_csv(DATA)
    y = (df.pop("credit_risk") == "bad").astype(int)
    cat = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    pre = ColumnTransformer(
        [("c", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat)], remainder="passthrough"
    )
    model = make_pipeline(pre, HistGradientBoostingClassifier(max_iter=100, random_state=0)).fit(df, y)
    rows = df.iloc[: args.rows]
    explainer = DecisionExplainer.fit(model, df)
    ours = best(lambda: explainer.contributions_many(rows), args.repeats)
    baseline = best(lambda: model.predict_proba(rows), args.repeats)
    contrib = explainer.contributions_many(rows)
    margin = model.decision_function(rows)
    out = {
        "rows": args.rows,
        "trees": int(model[-1].n_iter_),
        "modeltrail_treeshap_s": ours,
        "predict_proba_s": baseline,
        "ratio_to_predict": ours / baseline,
        "additivity_max_error": float(np.abs(contrib.sum(axis=1) + explainer.base_value - margin).max()),
    }
    if importlib.util.find_spec("shap") is not None:
        import shap

        z = model[:-1].transform(rows)
        tree = shap.TreeExplainer(model[-1], feature_perturbation="tree_path_dependent")
        out["shap_tree_explainer_s"] = best(lambda: tree.shap_values(z), args.repeats)
        from modeltrail.evidence.treeshap import tree_model, tree_shap

        ours_z = tree_shap(tree_model(model[-1]), z)
        out["max_difference_from_shap"] = float(np.abs(ours_z - np.asarray(tree.shap_values(z))).max())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
