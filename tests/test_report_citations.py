"""Reports that cite and show (issue #15, point 7): ledger citation, intervals, ROC, confusion matrix,
distribution charts, per-group intervals, and the index page of one model version."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from _credit_models import PROTECTED, credit, predictions
from modeltrail.events import Actor
from modeltrail.evidence.data_report import data_report
from modeltrail.evidence.fairness import fairness_report
from modeltrail.evidence.performance import performance_report
from modeltrail.evidence.record import record_report, write_index
from modeltrail.evidence.render import render_html

PIPELINE = Actor("ci", "pipeline", "service")


def test_roc_points_are_sklearn_roc_curve_points() -> None:
    y, score, _ = predictions("logistic")
    report = performance_report(y, None, score, n_bootstrap=0)
    fpr, tpr, _ = roc_curve(y, score, drop_intermediate=False)
    ours = set(zip(report.body["roc_curve"]["fpr"], report.body["roc_curve"]["tpr"], strict=True))
    theirs = {(round(a, 12), round(b, 12)) for a, b in zip(fpr, tpr, strict=True)}
    assert {(round(a, 12), round(b, 12)) for a, b in ours} <= theirs
    assert (0.0, 0.0) in ours and (1.0, 1.0) in ours and len(ours) <= 101


def test_performance_page_shows_roc_confusion_and_intervals() -> None:
    y, score, _ = predictions("logistic")
    report = performance_report(y, None, score, n_bootstrap=50, seed=1)
    page = render_html(report)
    assert "ROC curve (AUC" in page and "Confusion matrix" in page
    lo, hi = report.body["overall"]["ci"]["roc_auc"]
    assert f"[{lo:.4g}, {hi:.4g}]" in page  # the interval beside the headline figure


def test_fairness_page_shows_intervals_and_per_group_charts() -> None:
    X, _ = credit()
    y, _, yp = predictions("logistic")
    report = fairness_report(y, yp, X[PROTECTED], n_bootstrap=50, seed=1)
    page = render_html(report)
    value = report.metrics["fairness.demographic_parity_difference"]
    attr = next(
        a for a in report.body["attributes"] if a["disparities"]["demographic_parity_difference"]["value"] == value
    )
    lo, hi = attr["disparities"]["demographic_parity_difference"]["ci"]
    assert f"[{lo:.4g}, {hi:.4g}]" in page
    assert "Selection rate by sex" in page and 'class="ci"' in page


def test_data_page_has_distribution_charts() -> None:
    X, y = credit()
    report = data_report(X.assign(credit_risk=y), label="credit_risk", protected=list(PROTECTED))
    columns = {c["name"]: c for c in report.body["columns"]}
    hist = columns["credit_amount"]["histogram"]
    counts, edges = np.histogram(X["credit_amount"].to_numpy(dtype=float), bins=20)
    assert hist["counts"] == counts.tolist() and np.allclose(hist["edges"], edges)
    assert columns["purpose"]["top_values"][0]["count"] == int(X["purpose"].value_counts().iloc[0])
    page = render_html(report)
    assert "credit_amount (distribution)" in page and "purpose (share of the top values)" in page


def test_recorded_pages_cite_event_hash_and_checkpoint_and_the_index_links_them(trail, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    X, _ = credit()
    y, score, yp = predictions("logistic")
    subject = "model:credit@1"
    perf = performance_report(y, None, score, n_bootstrap=20)
    fair = fairness_report(y, yp, X[PROTECTED], n_bootstrap=20)
    out = tmp_path / "reports"
    first = record_report(trail, perf, subject=subject, system="credit", actor=PIPELINE, out_dir=out, checkpoint=True)
    second = record_report(trail, fair, subject=subject, system="credit", actor=PIPELINE, out_dir=out)
    assert first.html_path is not None
    page = first.html_path.read_text(encoding="utf-8")
    assert f"seq {first.receipt.seq}" in page and first.report_sha256 in page
    cp = next(c for c in trail.checkpoints() if c.size > first.receipt.seq)
    assert f"tree size {cp.size}" in page and cp.root.hex() in page
    # The sha256 cited is the stored JSON's.
    assert hashlib.sha256(trail.blobs.get_bytes(first.report_sha256)).hexdigest() == first.report_sha256
    # The second report is not yet covered by a checkpoint; the index, written after one, cites it.
    assert "no signed checkpoint covers" in (second.html_path or Path()).read_text(encoding="utf-8")
    trail.checkpoint()
    index = write_index(trail, subject, out)
    text = index.read_text(encoding="utf-8")
    links = re.findall(r'href="([^"]+)"', text)
    assert len(links) == 2 and all((out / link).is_file() for link in links)
    cited = (out / links[0]).read_text(encoding="utf-8")  # newest first: the fairness report
    assert f"seq {second.receipt.seq}" in cited and "no signed checkpoint" not in cited
    assert "<script" not in text.lower()


@pytest.mark.parametrize("kind", ["performance", "fairness"])
def test_pages_are_offline(kind: str) -> None:
    X, _ = credit()
    y, score, yp = predictions("logistic")
    report = (
        performance_report(y, None, score, n_bootstrap=10)
        if kind == "performance"
        else fairness_report(y, yp, X[PROTECTED], n_bootstrap=10)
    )
    page = render_html(report)
    assert [u for u in re.findall(r"https?://[^\s\"'<>)]+", page) if "w3.org/2000/svg" not in u] == []
