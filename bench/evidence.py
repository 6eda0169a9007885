"""Evidence report benchmark: data, fairness and performance reports against same-run baselines.

    python bench/evidence.py --rows 1000000 --json

Prints one JSON object. The fairness and performance inputs are synthetic and shaped like the Statlog
German Credit data (31 % women, ~15 % under 25, 30 % bad risks, a logistic score that depends weakly on
the protected attributes), generated with a fixed seed; both reports are asked for 200 bootstrap replicates
(the performance report caps them at 100 for a million rows and reports the number used). Baselines, timed in the same run on the same arrays and without any bootstrap:

- fairness: fairlearn's ``demographic_parity_difference`` and ``equalized_odds_difference`` for ``sex``
  only (fairlearn needs seconds per call at this size);
- performance: scikit-learn's ``roc_auc_score``, ``accuracy/precision/recall/f1``, ``log_loss``,
  ``brier_score_loss``, ``calibration_curve`` and ``confusion_matrix``, overall and per group.

``data_report_s`` comes from ``bench/evidence_data.py`` (the data governance report on 30 columns); it is
null when that module is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from modeltrail.evidence.fairness import fairness_report
from modeltrail.evidence.performance import performance_report

try:  # written by the data-report work; the benchmark still runs without it
    from evidence_data import bench_data_report
except ImportError:  # pragma: no cover - depends on the checkout
    bench_data_report = None


def make_predictions(rows: int, seed: int) -> dict[str, Any]:
    """Labels, scores, decisions and protected attributes shaped like the credit data."""
    rng = np.random.default_rng(seed)
    female = rng.random(rows) < 0.31
    young = rng.random(rows) < 0.15
    latent = rng.normal(0.0, 1.0, rows)
    y_true = (latent + rng.normal(0.0, 1.0, rows) > -0.74).astype(np.int64)  # ~70 % good
    logit = 1.2 * latent + 0.9 - 0.25 * young - 0.1 * female
    y_score = 1.0 / (1.0 + np.exp(-logit))
    return {
        "y_true": y_true,
        "y_score": y_score,
        "y_pred": (y_score >= 0.5).astype(np.int64),
        "groups": pd.DataFrame(
            {
                "sex": np.where(female, "female", "male"),
                "age_band": np.where(young, "<25", "25+"),
            }
        ),
    }


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def fairlearn_baseline(d: dict[str, Any]) -> None:
    """fairlearn's demographic parity and equalized odds differences for one attribute (``sex``).

    fairlearn takes several seconds per call at a million rows, so the baseline is deliberately smaller
    than the report it is compared with (which covers two attributes, their intersection, six group
    metrics, five disparities and 200 bootstrap replicates).
    """
    import fairlearn.metrics as flm

    sex = d["groups"]["sex"]
    flm.demographic_parity_difference(d["y_true"], d["y_pred"], sensitive_features=sex)
    flm.equalized_odds_difference(d["y_true"], d["y_pred"], sensitive_features=sex)


def sklearn_baseline(d: dict[str, Any]) -> None:
    """scikit-learn's metrics overall and per group (no bootstrap)."""
    from sklearn import metrics as skm
    from sklearn.calibration import calibration_curve

    masks = [np.ones(len(d["y_true"]), dtype=bool)]
    for col in ("sex", "age_band"):
        values = d["groups"][col].to_numpy()
        masks += [values == v for v in np.unique(values)]
    for m in masks:
        yt, ys, yp = d["y_true"][m], d["y_score"][m], d["y_pred"][m]
        skm.roc_auc_score(yt, ys)
        skm.accuracy_score(yt, yp)
        skm.precision_score(yt, yp)
        skm.recall_score(yt, yp)
        skm.f1_score(yt, yp)
        skm.log_loss(yt, ys)
        skm.brier_score_loss(yt, ys)
        calibration_curve(yt, ys, n_bins=10)
        skm.confusion_matrix(yt, yp)


def run(rows: int, seed: int) -> dict[str, Any]:
    """Time every report and baseline once; return the JSON-ready figures."""
    d = make_predictions(rows, seed)
    out: dict[str, Any] = {"rows": rows, "seed": seed, "bootstrap_replicates": 200}
    out["data_report_s"] = None if bench_data_report is None else round(bench_data_report(rows, seed), 3)
    fair = _timed(lambda: fairness_report(d["y_true"], d["y_pred"], d["groups"], n_bootstrap=200, seed=seed))
    fair_base = _timed(lambda: fairlearn_baseline(d))
    perf_report: list[Any] = []
    perf = _timed(
        lambda: perf_report.append(
            performance_report(d["y_true"], None, d["y_score"], groups=d["groups"], n_bootstrap=200, seed=seed)
        )
    )
    perf_base = _timed(lambda: sklearn_baseline(d))
    perf_nb = _timed(lambda: performance_report(d["y_true"], None, d["y_score"], groups=d["groups"], n_bootstrap=0))
    out.update(
        {
            "fairness_report_s": round(fair, 3),
            "fairlearn_baseline_no_bootstrap_s": round(fair_base, 3),
            "fairness_vs_fairlearn_ratio": round(fair / fair_base, 3),
            "performance_report_s": round(perf, 3),
            "performance_report_no_bootstrap_s": round(perf_nb, 3),
            "sklearn_baseline_no_bootstrap_s": round(perf_base, 3),
            "performance_vs_sklearn_ratio": round(perf / perf_base, 3),
            "performance_replicates_used": perf_report[0].body["bootstrap"]["replicates"],
        }
    )
    return out


def main() -> None:
    """Command-line entry: ``--rows N --seed S [--json]``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = run(args.rows, args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:40s} {value}")


if __name__ == "__main__":
    main()
