"""The runnable examples in the modules' docstrings run, and print what they say they print.

Every module of ``src/modeltrail`` whose docstring holds a ``>>>`` example is collected and run.
"""

from __future__ import annotations

import doctest
import importlib
import tempfile
from pathlib import Path

import pytest

SRC = Path(importlib.import_module("modeltrail").__file__ or "").parent

# The public modules whose example is the first thing a reader sees: they must keep one.
MUST_HAVE_EXAMPLES = {
    "modeltrail",
    "modeltrail.errors",
    "modeltrail.trail",
    "modeltrail.ledger.proofs",
    "modeltrail.ledger.verify",
    "modeltrail.lineage",
    "modeltrail.integrations.dvc",
    "modeltrail.registry.classify",
    "modeltrail.requirements",
    "modeltrail.server",
}


def modules_with_examples() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        head = text.split('"""', 2)[1] if text.startswith('"""') else ""
        if ">>> " in head:
            parts = path.relative_to(SRC.parent).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples_run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if name.startswith("modeltrail.server"):
        pytest.importorskip("fastapi")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the examples' mkdtemp() folders go here
    monkeypatch.delenv("MODELTRAIL_URL", raising=False)
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(recurse=False).find(module)
    assert tests and tests[0].examples, f"{name} has no example in its docstring"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for t in tests:
        runner.run(t)
    assert runner.failures == 0, f"{runner.failures} failing example(s) in {name} (run with -s to see them)"


def test_the_public_modules_keep_their_examples() -> None:
    assert MUST_HAVE_EXAMPLES - set(modules_with_examples()) == set()
