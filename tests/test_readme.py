"""The README's examples run as written: the training script (with its policy.yaml), then the serving app."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_quickstart_names_the_two_commands() -> None:
    bash = _blocks("bash")[0]
    assert "modeltrail demo" in bash and "scripts/test.sh" in bash


def test_readme_examples_run(tmp_path: Path) -> None:
    train, serve = _blocks("python")
    assert len(train.splitlines()) <= 30 and len(serve.splitlines()) <= 25
    (tmp_path / "policy.yaml").write_text(_blocks("yaml")[0], encoding="utf-8")
    (tmp_path / "train.py").write_text(train, encoding="utf-8")
    (tmp_path / "serve.py").write_text(serve, encoding="utf-8")
    out = subprocess.run([sys.executable, "train.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "gate passed: True" in out.stdout
    out = subprocess.run([sys.executable, "serve.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "fallback"
