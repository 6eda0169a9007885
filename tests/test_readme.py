"""The README's examples run as written: the training script (with its policy.yaml), then the serving app."""

from __future__ import annotations

import os
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
    # Then the shell block, as written, on the trail the two scripts made.
    shell = next(b for b in _blocks("bash") if "modeltrail verify" in b)
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "modeltrail").exists(), "the modeltrail command is not installed next to the interpreter"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELTRAIL_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", shell], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "model.registered" in out.stdout and "gate production: PASSED" in out.stdout
    assert re.search(r"^OK \d+ events", out.stdout, flags=re.M) and (tmp_path / "gate.xml").is_file()
