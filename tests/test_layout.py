"""The package layout: no import cycles, and the split spool keeps its names.

The import graph is read from the source (``ast``), lazy imports inside
functions included: a cycle hidden behind a function-level import is still a
cycle, and only works while nobody imports the modules in the other order.
Imports under ``if TYPE_CHECKING:`` are not edges (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sfeventlog", "sfeventlog_transports")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(name: str, path: Path) -> set[str]:
    """Modules of ours that ``name`` imports (a package's ``__init__`` never counts:
    every submodule import runs it, so it would put every package in a cycle)."""
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if _is_type_checking(node.test):
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(alias.name for alias in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.level or node.module is None:
                return
            submodules = {f"{node.module}.{a.name}" for a in node.names} & MODULES.keys()
            found.update(submodules or {node.module})

    Visitor().visit(ast.parse(path.read_text()))
    return {m for m in found
            if m in MODULES and m != name and MODULES[m].name != "__init__.py"}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def test_no_module_imports_itself_through_others() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    assert "sfeventlog.store.base" in graph["sfeventlog.store.sqlite"]  # the graph sees imports
    assert _cycles(graph) == []


def test_the_split_spool_keeps_its_public_names() -> None:
    from sfeventlog import deadletters, ownership, recovery, spool

    assert spool.DeadLetter is deadletters.DeadLetter
    assert spool.move_aside is recovery.move_aside
    assert spool.SpoolLocked is ownership.SpoolLocked
    for method in ("move_to_deadletter", "deadletters", "replay_deadletters",
                   "purge_deadletters", "deadletter_count"):
        assert getattr(spool.Spool, method) is getattr(deadletters.DeadLetterTable, method)
