"""Data governance report on the real German Credit data and on synthetic frames, plus the CLI command.

German Credit: tests/data/german_credit.csv (Statlog German Credit Data, Hans Hofmann, UCI, CC BY 4.0;
see tests/data/README.md).
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats
from scipy.stats.contingency import association

from modeltrail.cli.evidence_data import COMMANDS, evaluate_data
from modeltrail.errors import ValidationError
from modeltrail.evidence.data_report import correlation_ratio, cramers_v, data_report
from modeltrail.evidence.report import Report

DATA = Path(__file__).parent / "data"
CREDIT = DATA / "german_credit.csv"
PROTECTED = ["sex", "age_band", "foreign_worker"]


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return pd.read_csv(CREDIT)


@pytest.fixture(scope="module")
def credit_report(credit: pd.DataFrame) -> Report:
    return data_report(credit, label="credit_risk", protected=PROTECTED, subject={"dataset": "dataset:gc@x"})


def test_german_credit_known_facts(credit_report: Report) -> None:
    r = credit_report
    m = r.metrics
    assert r.kind == "data" and r.schema_version == 1
    assert r.to_dict()["schema"] == "modeltrail/report/data/v1"
    assert m["data.rows"] == 1000 and m["data.columns"] == 23
    assert r.body["label"]["classes"] == {"bad": 300, "good": 700}
    assert m["data.label_minority_share"] == pytest.approx(0.3)
    assert r.body["protected"]["sex"]["counts"] == {"female": 310, "male": 690}
    assert r.body["protected"]["age_band"]["counts"]["<25"] == 149
    assert m["data.group_share[sex=male]"] == pytest.approx(0.69)
    assert m["data.group_share[age_band=<25]"] == pytest.approx(0.149)
    assert m["data.missing_rate"] == 0.0 and m["data.missing_rate[purpose]"] == 0.0
    assert m["data.duplicate_rate"] == 0.0
    assert m["data.pii_findings"] == 0.0 and r.body["pii"]["findings"] == []
    # personal_status_sex encodes sex exactly: Cramér's V is 1 and it is flagged.
    flagged = {(e["feature"], e["protected"]) for e in r.body["proxies"]["flagged"]}
    assert ("personal_status_sex", "sex") in flagged
    assert m["data.max_proxy_association"] == pytest.approx(1.0)
    assert any("personal_status_sex" in w and "'sex'" in w for w in r.warnings)
    # The label and the protected attributes themselves are not features.
    feats = {e["feature"] for e in r.body["proxies"]["associations"]}
    assert not feats & {"credit_risk", *PROTECTED}
    # Outcome rate per group: bad rate of women in the original data is 109/310.
    assert r.body["protected"]["sex"]["label_rates"]["female"]["bad"] == pytest.approx(109 / 310, abs=1e-6)


def test_report_is_json_safe_and_round_trips(credit_report: Report) -> None:
    doc = json.loads(credit_report.to_json())
    assert Report.from_dict(doc).metrics == credit_report.metrics
    assert all(isinstance(v, float) and math.isfinite(v) for v in credit_report.metrics.values())


def test_numeric_column_stats_match_pandas(credit: pd.DataFrame, credit_report: Report) -> None:
    col = next(c for c in credit_report.body["columns"] if c["name"] == "credit_amount")
    x = credit["credit_amount"]
    q1, q3 = x.quantile(0.25), x.quantile(0.75)
    iqr = q3 - q1
    outliers = int(((x < q1 - 1.5 * iqr) | (x > q3 + 1.5 * iqr)).sum())
    assert col["kind"] == "numeric"
    assert (col["min"], col["max"]) == (x.min(), x.max())
    assert col["median"] == x.median() and col["mean"] == pytest.approx(x.mean())
    assert col["outliers"] == outliers and outliers > 0
    assert col["distinct"] == x.nunique()


def test_cramers_v_equals_scipy(credit: pd.DataFrame) -> None:
    for a, b in [
        ("personal_status_sex", "sex"),
        ("housing", "age_band"),
        ("purpose", "foreign_worker"),
        ("job", "credit_history"),
    ]:
        table = pd.crosstab(credit[a], credit[b]).to_numpy()
        assert cramers_v(table) == pytest.approx(association(table, method="cramer"), abs=1e-9)
    # And the value inside the report equals scipy on the same table.
    rep = data_report(credit, label=None, protected=["age_band"])
    got = next(e for e in rep.body["proxies"]["associations"] if e["feature"] == "housing")
    want = association(pd.crosstab(credit["housing"], credit["age_band"]).to_numpy(), method="cramer")
    assert got["measure"] == "cramers_v" and got["value"] == pytest.approx(want, abs=1e-6)


def test_correlation_ratio_matches_definition(credit: pd.DataFrame) -> None:
    x = credit["credit_amount"].to_numpy(dtype=float)
    codes, _ = pd.factorize(credit["purpose"])
    grand = x.mean()
    ssb = sum(len(x[codes == k]) * (x[codes == k].mean() - grand) ** 2 for k in np.unique(codes))
    sst = ((x - grand) ** 2).sum()
    assert correlation_ratio(codes.astype(np.int64), x) == pytest.approx(math.sqrt(ssb / sst), abs=1e-12)
    # Missing values and missing groups are ignored.
    x2 = x.copy()
    x2[:10] = np.nan
    codes2 = codes.astype(np.int64).copy()
    codes2[10:20] = -1
    keep = ~np.isnan(x2) & (codes2 >= 0)
    assert correlation_ratio(codes2, x2) == pytest.approx(
        correlation_ratio(codes2[keep], x2[keep]), abs=1e-12
    )


def test_quality_figures_on_synthetic_frame() -> None:
    g = np.random.default_rng(3)
    n = 2000
    df = pd.DataFrame(
        {
            "x": g.normal(0, 1, n),
            "cat": g.choice(["a", "b", "c"], n),
            "const": ["k"] * n,
            "rare": ["common"] * (n - 5) + ["odd"] * 5,
            "grp": g.choice(["p", "q"], n, p=[0.99, 0.01]),
            "y": g.choice([0, 1], n, p=[0.95, 0.05]),
        }
    )
    df.loc[:599, "x"] = np.nan
    df = pd.concat([df, df.iloc[1000:1100]], ignore_index=True)  # 100 exact duplicates
    rep = data_report(df, label="y", protected=["grp"])
    m = rep.metrics
    assert m["data.duplicate_rate"] == pytest.approx(df.duplicated().sum() / len(df), abs=1e-6)
    assert rep.body["duplicates"]["count"] == int(df.duplicated().sum()) >= 100
    assert m["data.missing_rate[x]"] == pytest.approx(df["x"].isna().mean(), abs=1e-6)
    assert m["data.missing_rate"] == m["data.missing_rate[x]"]
    assert rep.body["constant_columns"] == ["const"] and m["data.constant_columns"] == 1.0
    assert rep.body["near_constant_columns"] == ["rare"]
    assert m["data.label_minority_share"] < 0.1
    warnings = " ".join(rep.warnings)
    assert "imbalanced" in warnings and "only" in warnings and "missing" in warnings


def test_representativeness_against_mapping_and_frame(credit: pd.DataFrame) -> None:
    ref = {"sex": {"male": 0.49, "female": 0.51}}
    rep = data_report(credit, label="credit_risk", protected=["sex"], reference=ref)
    r = rep.body["representativeness"]["sex"]
    assert rep.metrics["data.representativeness_tvd[sex]"] == pytest.approx(0.5 * (0.2 + 0.2), abs=1e-9)
    chi = stats.chisquare([310, 690], [510, 490])
    assert r["chi2"] == pytest.approx(chi.statistic) and r["chi2_p_value"] == pytest.approx(chi.pvalue)
    # A reference *frame*: the data against itself is perfectly representative.
    rep2 = data_report(credit, label=None, protected=["sex", "age_band"], reference=credit)
    assert rep2.metrics["data.representativeness_tvd[sex]"] == 0.0
    assert rep2.body["representativeness"]["age_band"]["chi2"] == pytest.approx(0.0)
    # Values the reference does not know are reported.
    rep3 = data_report(credit, label=None, protected=["sex"], reference={"sex": {"male": 1.0}})
    assert rep3.body["representativeness"]["sex"]["values_not_in_reference"] == ["female"]


def test_numeric_protected_attribute_is_binned(credit: pd.DataFrame) -> None:
    rep = data_report(credit, label="credit_risk", protected=["age_years"])
    info = rep.body["protected"]["age_years"]
    assert info["binned"] and 5 <= len(info["counts"]) <= 10 and sum(info["counts"].values()) == 1000
    keys = [k for k in rep.metrics if k.startswith("data.group_share[age_years=")]
    assert len(keys) == len(info["counts"])
    assert sum(rep.metrics[k] for k in keys) == pytest.approx(1.0, abs=1e-5)


def test_injected_pii_is_flagged_and_ranges_withheld() -> None:
    g = np.random.default_rng(0)
    n = 500
    df = pd.DataFrame(
        {
            "full_name": g.choice(["Anna Schmidt", "Jan de Vries", "Marco Rossi", "Zofia Nowak"], n),
            "email": [f"client{i}@example.com" for i in range(n)],
            "iban": g.choice(["DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32"], n),
            "card_no": g.choice([4111111111111111, 5555555555554444], n),
            "income": g.normal(3000, 500, n),
            "sex": g.choice(["f", "m"], n),
            "y": g.choice([0, 1], n),
        }
    )
    rep = data_report(df, label="y", protected=["sex"])
    assert rep.metrics["data.pii_findings"] == 4.0
    kinds = {(f["column"], f["kind"]) for f in rep.body["pii"]["findings"]}
    assert kinds == {
        ("full_name", "person_name"),
        ("email", "email"),
        ("iban", "iban"),
        ("card_no", "payment_card"),
    }
    card = next(c for c in rep.body["columns"] if c["name"] == "card_no")
    assert card["pii"] and "min" not in card and "withheld" in card["range"]
    text = rep.to_json().decode()
    for raw in [
        "Anna Schmidt",
        "client1@example.com",
        "370400440532013000",
        "4111111111111111",
        "5555555555554444",
    ]:
        assert raw not in text


def test_validation_errors(credit: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="label"):
        data_report(credit, label="nope")
    with pytest.raises(ValidationError, match="protected"):
        data_report(credit, label="credit_risk", protected=["nope"])
    with pytest.raises(ValidationError, match="protected"):
        data_report(credit, label="credit_risk", protected=["credit_risk"])
    with pytest.raises(ValidationError, match="reference"):
        data_report(credit, label=None, protected=["sex"], reference={"sex": {"male": -1.0}})


def test_bench_function_runs() -> None:
    spec = importlib.util.spec_from_file_location(
        "bench_evidence_data", Path(__file__).parents[1] / "bench" / "evidence_data.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    df = mod.make_credit_like(5000, 0)
    assert df.shape == (5000, 30)
    assert df.equals(mod.make_credit_like(5000, 0))
    secs = mod.bench_data_report(20_000, 0)
    assert 0 < secs < 10


# ---------------------------------------------------------------------------- CLI


def test_cli_json_and_out(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    ref = tmp_path / "ref.csv"
    ref.write_text("attribute,value,share\nsex,male,0.49\nsex,female,0.51\n")
    args = [
        str(CREDIT),
        "--label",
        "credit_risk",
        "--protected",
        "sex",
        "--protected",
        "age_band",
        "--reference",
        str(ref),
        "--out",
        str(out),
        "--json",
    ]
    res = CliRunner().invoke(evaluate_data, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc == json.loads(out.read_bytes())
    assert doc["metrics"]["data.label_minority_share"] == pytest.approx(0.3)
    assert doc["metrics"]["data.representativeness_tvd[sex]"] == pytest.approx(0.2)
    assert doc["subject"]["dataset"].startswith("file:german_credit.csv@sha256:12b852eae9e1")
    assert [evaluate_data] == COMMANDS and evaluate_data.name == "evaluate-data"


def test_cli_summary_and_errors(tmp_path: Path) -> None:
    res = CliRunner().invoke(evaluate_data, [str(CREDIT), "--label", "credit_risk", "--protected", "sex"])
    assert res.exit_code == 0, res.output
    assert "Data governance report" in res.output and "personal_status_sex" in res.output
    bad = CliRunner().invoke(evaluate_data, [str(CREDIT), "--label", "missing_col"])
    assert bad.exit_code == 2 and "label" in bad.output
