"""HTML, rich and schema rendering of the model evidence reports."""

from __future__ import annotations

import copy
import re

import pytest
from rich.console import Console
from rich.table import Table

from _credit_models import PROTECTED, credit, logistic, predictions
from modeltrail.errors import NotFoundError, ValidationError
from modeltrail.evidence.explain import explainability_report
from modeltrail.evidence.fairness import fairness_report
from modeltrail.evidence.performance import performance_report
from modeltrail.evidence.render import load_schema, render_html, rich_summary, svg_bars, validate_report
from modeltrail.evidence.report import Report
from modeltrail.evidence.robustness import robustness_report


@pytest.fixture(scope="module")
def reports() -> dict[str, Report]:
    X, y = credit()
    yt, score, yp = predictions("logistic")
    return {
        "fairness": fairness_report(yt, yp, X[PROTECTED], n_bootstrap=50, subject={"model": "model:credit@1"}),
        "performance": performance_report(yt, None, score, groups=X[PROTECTED], n_bootstrap=50),
        "explainability": explainability_report(logistic(), X, y, feature_names=list(X.columns)),
        "robustness": robustness_report(logistic(), X, max_rows=200),
    }


def _external_urls(page: str) -> list[str]:
    urls = re.findall(r"(?:https?:)?//[^\s\"'<>)]+", page)
    return [u for u in urls if u != "http://www.w3.org/2000/svg"]


@pytest.mark.parametrize("kind", ["fairness", "performance", "explainability", "robustness"])
def test_html_is_self_contained_with_charts(reports: dict[str, Report], kind: str) -> None:
    report = reports[kind]
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert ("<svg" in page and "<rect" in page) or "<polyline" in page
    assert "<script" not in page.lower()
    assert _external_urls(page) == []
    assert not hasattr(report, "to_html")  # the report model does not depend on its view
    for w in report.warnings:
        assert w.replace("<", "&lt;").replace(">", "&gt;") in page


def test_specific_charts(reports: dict[str, Report]) -> None:
    perf = render_html(reports["performance"])
    assert "Calibration curve" in perf and "<polyline" in perf
    assert "roc_auc by sex" in perf
    fair = render_html(reports["fairness"])
    assert "Selection rate by sex+age_band" in fair
    assert "model:credit@1" in fair
    imp = render_html(reports["explainability"])
    assert "Feature importance" in imp and "checking_status" in imp


def test_labels_are_escaped() -> None:
    svg = svg_bars("<b>t</b>", [("<script>", 0.5, (0.4, 0.6)), ("none", None, None)])
    assert "<script>" not in svg and "&lt;script&gt;" in svg


@pytest.mark.parametrize("kind", ["fairness", "performance", "explainability", "robustness"])
def test_rich_summary_and_schema(reports: dict[str, Report], kind: str) -> None:
    report = reports[kind]
    table = rich_summary(report)
    assert isinstance(table, Table)
    console = Console(record=True, width=140)
    console.print(table)
    text = console.export_text()
    assert next(k for k in report.metrics if "[" not in k) in text
    doc = report.to_dict()
    validate_report(doc)
    report.validate()
    assert load_schema(kind)["$id"] == f"modeltrail/report/{kind}/v1"
    assert Report.from_dict(doc).to_json() == report.to_json()


def test_validator_rejects_bad_documents(reports: dict[str, Report]) -> None:
    doc = reports["fairness"].to_dict()
    bad = copy.deepcopy(doc)
    bad["metrics"]["fairness.x"] = "high"
    with pytest.raises(ValidationError, match=r"metrics\.fairness\.x"):
        validate_report(bad)
    bad = copy.deepcopy(doc)
    del bad["body"]["attributes"][0]["groups"][0]["count"]
    with pytest.raises(ValidationError, match="count"):
        validate_report(bad)
    bad = copy.deepcopy(doc)
    bad["schema"] = "modeltrail/report/fairness/v9"
    with pytest.raises(ValidationError):
        validate_report(bad)
    bad = copy.deepcopy(doc)
    bad["schema_version"] = 9
    with pytest.raises(NotFoundError):
        validate_report(bad)
    with pytest.raises(ValidationError):
        validate_report({"kind": 3})
