"""The shape of the package, checked from its source: no import cycles, no private names across packages,
and the convenience methods of :class:`~modeltrail.Trail` in step with the feature functions they forward to.

The import graph is built with :mod:`ast` from ``src/modeltrail``: module-level imports only. Imports
under ``if TYPE_CHECKING:`` are ignored (they never run), and so are imports inside functions (they run
after every module has loaded; ``Trail``'s convenience methods and optional dependencies use them).
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import modeltrail
from modeltrail.trail import Trail

SRC = Path(modeltrail.__file__).resolve().parent.parent
PACKAGE = "modeltrail"

# Module-level import edges allowed to close a cycle, each with the reason and who removes it. Empty:
# the graph is acyclic. Add an edge here only with an issue number, never to make a new cycle pass.
ALLOWED_CYCLE_EDGES: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool

    @property
    def package(self) -> str:
        """The package this module's relative imports resolve against."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


def modules() -> dict[str, Module]:
    out = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        out[".".join(parts)] = Module(".".join(parts), path, is_package)
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def module_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: top level, or in top-level if/try/with blocks."""

    def walk(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                yield node
            elif isinstance(node, ast.If):
                if not _is_type_checking(node):
                    yield from walk(node.body)
                yield from walk(node.orelse)
            elif isinstance(node, ast.Try):
                yield from walk(node.body)
                for handler in node.handlers:
                    yield from walk(handler.body)
                yield from walk(node.orelse)
                yield from walk(node.finalbody)
            elif isinstance(node, ast.With):
                yield from walk(node.body)

    return walk(tree.body)


def imported_from(mod: Module, node: ast.ImportFrom) -> str:
    """The absolute module name of ``from X import ...`` as written in ``mod``."""
    if not node.level:
        return node.module or ""
    base = mod.package.split(".")
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base) + (f".{node.module}" if node.module else "")


def targets(mod: Module, node: ast.Import | ast.ImportFrom, known: dict[str, Module]) -> Iterator[tuple[str, str]]:
    """(module imported, name imported) for each name of an import statement, inside the package only."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name in known:
                yield alias.name, ""
        return
    source = imported_from(mod, node)
    if source.split(".")[0] != PACKAGE:
        return
    for alias in node.names:
        sub = f"{source}.{alias.name}"
        if sub in known:  # ``from . import events``: the submodule itself
            yield sub, ""
        elif source in known:
            yield source, alias.name


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, mod in known.items():
        tree = ast.parse(mod.path.read_text(encoding="utf-8"))
        for node in module_level_imports(tree):
            for target, _ in targets(mod, node, known):
                if target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_the_cycle_finder_finds_cycles() -> None:
    # The check below would pass vacuously if this did not work.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_relative_and_absolute_imports() -> None:
    graph = import_graph()
    assert "modeltrail.ledger.merkle" in graph["modeltrail.trail"]  # ``from .ledger import merkle``
    assert "modeltrail.events" in graph["modeltrail.trail"]  # ``from .events import (...)``
    # Only under TYPE_CHECKING in trail.py, so not an edge.
    assert "modeltrail.runtime.guard" not in graph["modeltrail.trail"]


def test_module_level_imports_are_acyclic() -> None:
    graph = import_graph()
    for edge in ALLOWED_CYCLE_EDGES:
        graph[edge[0]].discard(edge[1])
    found = cycles(graph)
    assert found == [], "module-level import cycles (break them, do not allow-list them):\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


def test_allowed_cycle_edges_still_exist() -> None:
    graph = import_graph()
    stale = [edge for edge in ALLOWED_CYCLE_EDGES if edge[1] not in graph[edge[0]]]
    assert stale == [], f"remove these edges from ALLOWED_CYCLE_EDGES, they are gone: {stale}"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports_across_packages() -> list[str]:
    """``from other_package.mod import _name`` or ``from other_package._mod import name``, anywhere in a module."""
    known = modules()
    found = []
    for name, mod in known.items():
        for node in ast.walk(ast.parse(mod.path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target, imported in targets(mod, node, known):
                # A private module or name is the business of its own feature package (modeltrail.runtime's
                # _encoding and _writer serve modeltrail.runtime, nothing else).
                owner = ".".join(known[target].package.split(".")[:2])
                private = _private(imported) or any(_private(p) for p in target.split("."))
                if private and owner != ".".join(mod.package.split(".")[:2]):
                    found.append(f"{name}:{node.lineno} imports {target}{':' + imported if imported else ''}")
    return found


def test_no_private_name_is_imported_across_packages() -> None:
    found = private_imports_across_packages()
    assert found == [], "make these public (and document them) or move the code:\n" + "\n".join(found)


# -- Trail's convenience methods ------------------------------------------------------------------------


def _delegations() -> list[tuple[str, Callable[..., Any]]]:
    from modeltrail.lineage.datasets import register_dataset
    from modeltrail.lineage.models import load_model, register_model
    from modeltrail.lineage.queries import upstream
    from modeltrail.lineage.runs import trail_run
    from modeltrail.registry.lifecycle import approve, deploy, evaluate_gate_for
    from modeltrail.runtime.guard import guard
    from modeltrail.runtime.oversight import label, review

    return [
        ("run", trail_run),
        ("register_dataset", register_dataset),
        ("register_model", register_model),
        ("load_model", load_model),
        ("lineage", upstream),
        ("gate", evaluate_gate_for),
        ("approve", approve),
        ("deploy", deploy),
        ("guard", guard),
        ("review", review),
        ("label", label),
    ]


def _params(fn: Callable[..., Any], drop_first: int) -> dict[str, tuple[inspect._ParameterKind, bool]]:
    params = list(inspect.signature(fn).parameters.values())[drop_first:]
    return {p.name: (p.kind, p.default is inspect.Parameter.empty) for p in params}


@pytest.mark.parametrize("method,function", _delegations(), ids=[m for m, _ in _delegations()])
def test_trail_methods_take_what_the_feature_functions_take(method: str, function: Callable[..., Any]) -> None:
    mine = _params(getattr(Trail, method), 1)  # self
    theirs = _params(function, 1)  # trail
    if method == "lineage":
        mine.pop("direction")  # chooses upstream() or downstream()
    # Positional names may differ (``model`` for ``model_ref``); keyword ones are the API and must match.
    mine_kw = {k: v for k, v in mine.items() if v[0] is inspect.Parameter.KEYWORD_ONLY}
    theirs_kw = {k: v for k, v in theirs.items() if v[0] is inspect.Parameter.KEYWORD_ONLY}
    assert mine_kw == theirs_kw
    assert [v for v in mine.values() if v[0] is not inspect.Parameter.KEYWORD_ONLY] == [
        v for v in theirs.values() if v[0] is not inspect.Parameter.KEYWORD_ONLY
    ]


def test_trail_methods_are_typed_without_any_returns() -> None:
    hints = {name: inspect.signature(getattr(Trail, name)).return_annotation for name, _ in _delegations()}
    # load_model returns the user's own model object: the one honest ``Any``.
    assert {n: h for n, h in hints.items() if "Any" in str(h)} == {"load_model": "Any"}


# -- layers -----------------------------------------------------------------------------------------------

# The layers of docs/architecture.md, lowest first: a module imports (at module level) only from its own
# layer or below. Top-level names not listed (packages added later) are not checked until placed here.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundation", {"errors", "version", "ids", "speed"}),
    ("ledger", {"ledger", "events"}),  # the event format is the ledger's leaf format
    ("crypto/blobs", {"crypto", "blobs"}),
    ("trail", {"trail", "identity", "projections", "requirements", "governance"}),
    ("lineage/registry/policy", {"lineage", "registry", "policy"}),
    ("evidence/runtime/monitor", {"evidence", "runtime", "monitor", "retention"}),
    ("audit/integrations/documents", {"audit", "integrations", "demo", "documents", "exports"}),
    ("cli/server", {"cli", "server"}),
]


def layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:
        return len(LAYERS)  # the package itself re-exports from everywhere
    for i, (_, names) in enumerate(LAYERS):
        if parts[1] in names:
            return i
    return None


def test_module_level_imports_never_go_up_a_layer() -> None:
    upward = []
    for a, targets_ in import_graph().items():
        la = layer(a)
        for b in targets_:
            lb = layer(b)
            if la is not None and lb is not None and lb > la:
                upward.append(f"{a} ({LAYERS[la][0]}) imports {b} ({LAYERS[lb][0]})")
    assert upward == [], "\n".join(sorted(upward))


def test_the_ledger_imports_nothing_above_it_even_lazily() -> None:
    # Stricter than the layer rule: also imports inside functions and under TYPE_CHECKING. The ledger is the
    # smallest, most audited part; it must be readable (and verifiable) without the rest of the package.
    known = modules()
    allowed = {"modeltrail.errors", "modeltrail.events", "modeltrail.ids", "modeltrail.version", "modeltrail.speed"}
    found = []
    for name, mod in known.items():
        if not name.startswith("modeltrail.ledger"):
            continue
        for node in ast.walk(ast.parse(mod.path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target, _ in targets(mod, node, known):
                    if not target.startswith("modeltrail.ledger") and target not in allowed:
                        found.append(f"{name}:{node.lineno} imports {target}")
    assert found == [], "\n".join(found)
