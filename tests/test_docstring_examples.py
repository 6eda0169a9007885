"""The runnable examples in the public modules' docstrings run, and print what they say they print."""

from __future__ import annotations

import doctest
import importlib
import tempfile
from pathlib import Path

import pytest

# Every module whose docstring carries a ``>>>`` example (test_every_example_is_run keeps this complete).
MODULES = [
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
]
SRC = Path(importlib.import_module("modeltrail").__file__ or "").parent


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if name == "modeltrail.server":
        pytest.importorskip("fastapi")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the examples' mkdtemp() folders go here
    monkeypatch.delenv("MODELTRAIL_URL", raising=False)
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(recurse=False)
    tests = finder.find(module)
    assert tests and tests[0].examples, f"{name} has no example in its docstring"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for t in tests:
        runner.run(t)
    assert runner.failures == 0, f"{runner.failures} failing example(s) in {name} (run with -s to see them)"


def test_every_example_is_run() -> None:
    with_examples = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        head = text.split('"""', 2)[1] if text.startswith('"""') else ""
        if ">>> " in head:
            parts = path.relative_to(SRC.parent).with_suffix("").parts
            with_examples.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert with_examples == set(MODULES)
