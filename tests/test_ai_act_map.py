"""docs/ai-act-map.md is generated from the requirement catalogue and is current."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

from modeltrail.requirements import load_catalogue

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "ai-act-map.md"


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_ai_act_map", ROOT / "scripts" / "gen_ai_act_map.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    # Registered first: dataclasses in the script look their module up in sys.modules.
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _row_ids(text: str) -> list[str]:
    section = text.split("## By requirement", 1)[1].split("## Evidence", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)


def test_page_is_up_to_date() -> None:
    assert PAGE.read_text(encoding="utf-8") == _gen().render(), "run python scripts/gen_ai_act_map.py"


def test_every_requirement_on_the_page_exists_in_the_catalogue_and_back() -> None:
    cat = load_catalogue()
    ids = _row_ids(PAGE.read_text(encoding="utf-8"))
    assert ids and len(ids) == len(set(ids))
    assert [i for i in ids if i not in cat] == []
    assert set(ids) == set(cat.ids)


def test_every_evidence_name_has_an_entry() -> None:
    gen = _gen()
    for req in load_catalogue():
        for name in req.evidence:
            entry = gen.serves(name)
            assert entry.today or entry.gap, name


def test_unbuilt_features_are_not_claimed() -> None:
    # The features the project has not built must show as gaps, never as served.
    gen = _gen()
    for name in ("doc.incident_report", "report.content_marking"):
        assert gen.serves(name).today is None, name
    text = PAGE.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `art16.i` |"))
    assert "| not yet |" in row
    # Generated documents are built: the copy of the declaration in Annex IV is served.
    row = next(line for line in text.splitlines() if line.startswith("| `annex4.8` |"))
    assert "| served |" in row
