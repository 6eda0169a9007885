"""The documentation matches the product: the CLI reference is current, quoted commands exist."""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Fenced blocks whose lines are shell commands (python blocks are code, not command lines).
SHELL_LANGS = {"bash", "sh", "shell", "console", "text", "yaml", "yml", ""}


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    # Registered first: dataclasses in the script look their module up in sys.modules.
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _doc_files() -> list[Path]:
    files = [
        ROOT / "README.md",
        *sorted((ROOT / "docs").rglob("*.md")),
        *sorted((ROOT / "examples").rglob("*.md")),
    ]
    # The generated reference quotes every command by construction; checking it against itself proves nothing.
    return [f for f in files if f.name != "cli.md"]


def _shell_blocks(text: str) -> list[str]:
    return [
        body for lang, body in re.findall(r"```([a-z]*)\n(.*?)```", text, flags=re.S) if lang in SHELL_LANGS
    ]


def command_lines(text: str) -> list[list[str]]:
    """Every ``modeltrail …`` invocation in the shell-like code blocks of a Markdown text, as tokens."""
    out: list[list[str]] = []
    for block in _shell_blocks(text):
        # Join continuation lines so that a command split with a backslash is read whole.
        for line in block.replace("\\\n", " ").splitlines():
            for m in re.finditer(r"(?:^|[\s$(`|;&])modeltrail[ \t]+([^#\n]*)", line):
                try:
                    tokens = shlex.split(m.group(1), posix=True)
                except ValueError:
                    tokens = m.group(1).split()
                out.append(tokens)
    return out


def resolve(tokens: list[str], paths: set[tuple[str, ...]]) -> tuple[str, ...] | None:
    """The command path ``tokens`` names (global ``--trail X`` skipped), or None when it names none."""
    i = 0
    while i < len(tokens) and tokens[i].startswith("-"):
        i += 2 if tokens[i] == "--trail" else 1
    words = tokens[i:]
    if not words:
        return ()  # bare `modeltrail` or `modeltrail --help`
    path: tuple[str, ...] = ()
    for w in words:
        if (*path, w) in paths:
            path = (*path, w)
            continue
        break
    if not path:
        return None
    # A group must be followed by one of its subcommands (or nothing / an option such as --help).
    subs = {p[len(path)] for p in paths if len(p) > len(path) and p[: len(path)] == path}
    rest = words[len(path) :]
    if subs and rest and not rest[0].startswith("-") and rest[0] not in subs:
        return None
    return path


def test_cli_reference_is_up_to_date() -> None:
    gen = _script("gen_cli_docs")
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == gen.render(), "docs/cli.md is out of date: run python scripts/gen_cli_docs.py"


def test_cli_reference_covers_every_command() -> None:
    gen = _script("gen_cli_docs")
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for path in gen.command_paths():
        if path:
            assert (
                f"modeltrail {' '.join(path)}\n```" in text or f"# modeltrail {' '.join(path)}\n" in text
            ), path


def test_resolver_rejects_unknown_commands() -> None:
    paths = _script("gen_cli_docs").command_paths()
    assert resolve(["gate", "check", "credit@1"], paths) == ("gate", "check")
    assert resolve(["--trail", "x", "verify"], paths) == ("verify",)
    assert resolve(["gate", "evaluate", "credit@1"], paths) is None
    assert resolve(["obliterate", "x"], paths) is None
    assert command_lines("```bash\nmodeltrail review list  # queue\n```\n") == [["review", "list"]]


@pytest.mark.parametrize("doc", _doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_commands_quoted_in_docs_exist(doc: Path) -> None:
    paths = _script("gen_cli_docs").command_paths()
    bad = [
        " ".join(tokens)
        for tokens in command_lines(doc.read_text(encoding="utf-8"))
        if resolve(tokens, paths) is None
    ]
    assert not bad, f"{doc.relative_to(ROOT)} quotes commands that do not exist: {bad}"


def test_docs_quote_many_commands() -> None:
    # Guards the check above against silently matching nothing (a changed fence style, say).
    total = sum(len(command_lines(f.read_text(encoding="utf-8"))) for f in _doc_files())
    assert total >= 40


def test_relative_links_resolve() -> None:
    broken = []
    for doc in [*_doc_files(), ROOT / "docs" / "cli.md"]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def _fenced(path: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def test_training_and_serving_guides_run(tmp_path: Path) -> None:
    guides = ROOT / "docs" / "guides"
    (tmp_path / "policy.yaml").write_text(_fenced(guides / "training.md", "yaml")[0], encoding="utf-8")
    (tmp_path / "train.py").write_text(_fenced(guides / "training.md", "python")[0], encoding="utf-8")
    (tmp_path / "serve.py").write_text(_fenced(guides / "serving.md", "python")[0], encoding="utf-8")
    run = [sys.executable, "train.py"]
    out = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert "model:credit@1 gate passed: True" in out.stdout
    out = subprocess.run(
        [sys.executable, "serve.py"], cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "fallback" and lines[1].endswith("decisions waiting for review")
