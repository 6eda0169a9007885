"""Benchmark of the data governance report on synthetic credit-shaped data.

``bench_data_report(rows, seed)`` builds a frame shaped like the Statlog German Credit data (the same 20
attributes, ``sex``, ``age_band`` and the label, plus seven extra columns to reach 30) with a fixed seed,
then times :func:`modeltrail.evidence.data_report.data_report` on it. Categorical columns are plain string
columns, as ``pd.read_csv`` returns them, so the timing includes factorising text.

Run directly: ``python bench/evidence_data.py --rows 1000000`` prints the seconds.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from modeltrail.evidence.data_report import data_report

_CATEGORICAL: dict[str, list[str]] = {
    "checking_status": ["<0 DM", "0-200 DM", ">=200 DM", "no checking account"],
    "credit_history": [
        "no credits taken / all paid duly",
        "all credits at this bank paid duly",
        "existing credits paid duly",
        "delay in paying off in the past",
        "critical account / other credits elsewhere",
    ],
    "purpose": [
        "car (new)",
        "car (used)",
        "furniture/equipment",
        "radio/television",
        "domestic appliances",
        "repairs",
        "education",
        "retraining",
        "business",
        "others",
    ],
    "savings": ["<100 DM", "100-500 DM", "500-1000 DM", ">=1000 DM", "unknown / none"],
    "employment_since": ["unemployed", "<1 year", "1-4 years", "4-7 years", ">=7 years"],
    "other_debtors": ["none", "co-applicant", "guarantor"],
    "property": [
        "real estate",
        "building society savings / life insurance",
        "car or other",
        "unknown / none",
    ],
    "other_installment_plans": ["bank", "stores", "none"],
    "housing": ["rent", "own", "for free"],
    "job": [
        "unemployed / unskilled non-resident",
        "unskilled resident",
        "skilled employee/official",
        "management / self-employed / highly qualified",
    ],
    "telephone": ["none", "yes"],
    "region": ["north", "south", "east", "west", "central"],
    "channel": ["branch", "online", "broker", "phone"],
    "has_mortgage": ["no", "yes"],
    "employer_sector": [
        "agriculture",
        "manufacturing",
        "construction",
        "retail",
        "transport",
        "hospitality",
        "finance",
        "public sector",
        "health",
        "education",
        "ict",
        "other services",
    ],
}


def make_credit_like(rows: int, seed: int) -> pd.DataFrame:
    """Synthetic credit-shaped frame with 30 columns (deterministic for a given ``rows`` and ``seed``)."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    sex_code = (rng.random(rows) < 0.31).astype(np.int64)  # 1 = female, as in the real data (310/1000)
    age = np.clip(rng.gamma(6.0, 6.0, rows) + 19, 19, 75).astype(np.int64)
    for name, cats in _CATEGORICAL.items():
        p = rng.dirichlet(np.full(len(cats), 2.0))
        codes = rng.choice(len(cats), size=rows, p=p)
        data[name] = np.asarray(cats, dtype=object)[codes]
    # personal_status_sex mixes sex with marital status, exactly the proxy the report must catch.
    male_status = np.asarray(
        ["male: single", "male: married/widowed", "male: divorced/separated"], dtype=object
    )
    status = male_status[rng.choice(3, size=rows, p=[0.6, 0.3, 0.1])]
    data["personal_status_sex"] = np.where(sex_code == 1, "female: divorced/separated/married", status)
    data["foreign_worker"] = np.where(rng.random(rows) < 0.963, "yes", "no").astype(object)
    data["sex"] = np.where(sex_code == 1, "female", "male").astype(object)
    data["age_band"] = np.where(age < 25, "<25", "25+").astype(object)
    data["duration_months"] = rng.integers(4, 73, rows)
    data["credit_amount"] = np.round(rng.lognormal(7.8, 0.8, rows)).astype(np.int64)
    data["installment_rate"] = rng.integers(1, 5, rows)
    data["residence_since"] = rng.integers(1, 5, rows)
    data["age_years"] = age
    data["existing_credits"] = rng.integers(1, 5, rows)
    data["num_dependents"] = rng.integers(1, 3, rows)
    income = rng.lognormal(7.6, 0.5, rows)
    income[rng.random(rows) < 0.05] = np.nan  # some missing values, as real extracts have
    data["monthly_income"] = income
    data["external_score"] = rng.normal(600.0, 80.0, rows)
    data["open_accounts"] = rng.poisson(2.5, rows)
    score = 0.02 * data["duration_months"] - 0.01 * (age - 35) + rng.normal(0.0, 1.0, rows)  # type: ignore[operator]
    data["credit_risk"] = np.where(score > np.quantile(score, 0.7), "bad", "good").astype(object)
    df = pd.DataFrame(data)
    assert df.shape[1] == 30, df.shape
    return df


def bench_data_report(rows: int, seed: int) -> float:
    """Seconds taken by one data report on ``rows`` synthetic credit-shaped rows × 30 columns.

    The data is generated first (not timed); the report declares ``sex``, ``age_band`` and
    ``foreign_worker`` as protected attributes, ``credit_risk`` as the label and a reference population.
    """
    df = make_credit_like(rows, seed)
    reference = {"sex": {"male": 0.5, "female": 0.5}, "age_band": {"<25": 0.12, "25+": 0.88}}
    start = time.perf_counter()
    data_report(df, label="credit_risk", protected=["sex", "age_band", "foreign_worker"], reference=reference)
    return time.perf_counter() - start


def main() -> None:
    """Command-line entry: ``--rows N --seed S [--json]``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    secs = bench_data_report(args.rows, args.seed)
    print(json.dumps({"rows": args.rows, "data_report_s": round(secs, 3)}) if args.json else f"{secs:.3f} s")


if __name__ == "__main__":
    main()
