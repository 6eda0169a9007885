"""Every evidence report kind, and the index of a model version's reports, rendered in a real browser.

Playwright drives Debian's Chromium (``/usr/bin/chromium``; never ``playwright install``) over the HTML the
demo recorded: the page loads offline with no script error, its charts (inline SVG) are laid out with a
size, it cites its ledger event, and a full-page screenshot of each goes to ``tests/artifacts/reports/``
(gitignored; ``$MODELTRAIL_ARTIFACTS`` when set).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import sync_playwright

from _audit_support import demo_copy

CHROMIUM = os.environ.get("MODELTRAIL_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("MODELTRAIL_ARTIFACTS", Path(__file__).parent / "artifacts")) / "reports"
# Kinds whose HTML must hold charts: distributions, ROC curve and confusion matrix, per-group intervals.
CHARTED = {"data", "performance", "fairness", "explainability"}

pytestmark = [
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists(),
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; CI installs it)",
    ),
    pytest.mark.timeout(240),
]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_copy(tmp_path_factory.mktemp("reports-browser")) / "reports"


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            # Offline: a report must not need the network (fonts, scripts or styles from a CDN).
            context = browser.new_context(viewport={"width": 1200, "height": 900}, offline=True)
            yield context.new_page()
        finally:
            browser.close()


def _cited(reports: Path) -> dict[str, Path]:
    """The report of each kind as recorded in the ledger (``<kind>-<subject>-<seq>.html``), one model."""
    out: dict[str, Path] = {}
    for f in sorted(reports.glob("*-model_credit-logreg-v1-*.html")):
        m = re.fullmatch(r"([a-z]+)-.*-(\d+)\.html", f.name)
        if m and m.group(1) not in out:
            out[m.group(1)] = f
    out["data"] = sorted(reports.glob("data-dataset_german-credit-train-*.html"))[0]  # named by its dataset
    return out


def test_every_report_kind_renders_offline_with_charts_and_citation(reports: Path, page: Any) -> None:
    cited = _cited(reports)
    assert set(cited) == {"data", "performance", "fairness", "explainability", "robustness"}, sorted(cited)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for kind, path in cited.items():
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        page.goto(path.as_uri())
        assert errors == [], (kind, errors)
        text = page.inner_text("body")
        seq = path.stem.rsplit("-", 1)[1] if kind != "data" else r"\d+"
        assert re.search(rf"event {seq}\b", text) and "sha256" in text, kind
        sizes = page.eval_on_selector_all(
            "svg", "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })"
        )
        if kind in CHARTED:
            assert sizes and all(w > 10 and h > 10 for w, h in sizes), (kind, sizes)
        shot = ARTIFACTS / f"{kind}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000, kind


def test_the_index_links_every_report_of_the_version(reports: Path, page: Any) -> None:
    index = reports / "index-reports-model_credit-logreg-v1.html"
    page.goto(index.as_uri())
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    kinds = {h.split("-", 1)[0] for h in hrefs if h.endswith(".html")}
    assert {"performance", "fairness", "explainability", "robustness"} <= kinds, hrefs
    for h in hrefs:
        if h.endswith(".html"):
            assert (index.parent / h).is_file(), h  # every link resolves to a file beside the index
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "index.png"), full_page=True)
