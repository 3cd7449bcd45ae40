"""The package's import graph has no cycle, and the layers import downwards only.

Every ``import`` of an nbexplain module counts, at module level or inside a function (a lazy
import is still a dependency), resolved from the source with ``ast``; ``from pkg import name``
counts as an import of ``pkg.name`` when that is a module.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2] / "nbexplain"


def module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    base_name = ".".join(base + ([node.module] if node.module else []))
                else:
                    base_name = node.module or ""
                targets = [base_name] + [f"{base_name}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                if t in files and t != mod:
                    graph[mod].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read():
    g = import_graph()
    # known edges: the graph must see relative, lazy and from-package imports
    assert "nbexplain._api" in g["nbexplain"]
    assert "nbexplain.widgets" in g["nbexplain._api"]                    # lazy, in explain()
    assert "nbexplain.methods.integrated_gradients" in g["nbexplain.methods"]


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("lower,upper", [
    ("nbexplain.methods", "nbexplain.widgets"),
    ("nbexplain.methods", "nbexplain._api"),
    ("nbexplain.backends", "nbexplain.methods"),
    ("nbexplain.backends", "nbexplain.widgets"),
    ("nbexplain.live", "nbexplain.widgets"),
])
def test_layers_import_downwards(lower, upper):
    bad = sorted((m, t) for m, ts in import_graph().items() if m.startswith(lower)
                 for t in ts if t.startswith(upper))
    assert bad == []


if __name__ == "__main__":   # print the graph (for docs and reviews)
    for m, ts in sorted(import_graph().items()):
        print(m, "->", ", ".join(sorted(ts)) or "-")
