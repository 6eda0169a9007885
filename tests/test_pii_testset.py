"""Recall and false-positive rate of the PII scanner per kind, on the labelled synthetic set.

``tests/data/pii_testset.csv`` is written by ``scripts/make_pii_testset.py``: positive columns (neutral
names, one PII kind each, as whole cells or inside free text) and look-alike negative columns
(``customer_segment``, ``applicant_status``, version strings, one-digit-off IBANs and cards...). Run with
``-s`` to see the table.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from modeltrail.evidence.pii import PII_KINDS, scan_series

DATA = Path(__file__).parent / "data" / "pii_testset.csv"
# Kinds the set covers (dates of birth have their own tests: they need a column-level age profile).
KINDS = tuple(k for k in PII_KINDS if k != "date_of_birth")


@pytest.fixture(scope="module")
def outcome() -> pd.DataFrame:
    data = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    rows = []
    for column, cells in data.groupby("column", sort=False):
        found = {f.kind for f in scan_series(cells["value"].reset_index(drop=True), column)}
        rows.append({"case": cells["case"].iloc[0], "expected": cells["expected"].iloc[0], "found": found})
    return pd.DataFrame(rows)


def test_recall_and_false_positive_rate_per_kind(outcome: pd.DataFrame) -> None:
    table = []
    for kind in KINDS:
        positive = outcome[outcome["expected"] == kind]
        negative = outcome[outcome["expected"] != kind]
        recall = float(positive["found"].map(lambda f, k=kind: k in f).mean())
        fpr = float(negative["found"].map(lambda f, k=kind: k in f).mean())
        table.append((kind, len(positive), recall, len(negative), fpr))
    print("\nkind            positives  recall  negatives  false-positive rate")
    for kind, npos, recall, nneg, fpr in table:
        print(f"{kind:<15} {npos:>9}  {recall:6.2f}  {nneg:>9}  {fpr:19.3f}")
    for kind, _, recall, _, fpr in table:
        assert recall >= 0.9, (kind, recall)
        assert fpr <= 0.02, (kind, fpr)


def test_every_case_is_detected_and_decoys_are_not(outcome: pd.DataFrame) -> None:
    missed = outcome[(outcome["expected"] != "") & ~outcome.apply(lambda r: r["expected"] in r["found"], axis=1)]
    assert missed.empty, missed[["case", "found"]].to_dict("records")
    flagged = outcome[(outcome["expected"] == "") & outcome["found"].map(bool)]
    assert flagged.empty, flagged[["case", "found"]].to_dict("records")
