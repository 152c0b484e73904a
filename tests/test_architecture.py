"""The house's floors hold: the diffusion library imports no harness, nothing imports in a circle.

Imports are read from the source (module-level and lazy ones alike), so a circle hidden behind a function-level
import counts too.
"""

import ast
from pathlib import Path

from conftest import ROOT


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports (`from a import b` counts a.b when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    files = [p for top in ("repro", "papers") for p in (ROOT / top).rglob("*.py")]
    known = {_module_name(p) for p in files}
    graph = {_module_name(p): _imports(p, known) for p in files}
    # a package's own __init__ is imported by its modules implicitly: not an edge of its own
    return {m: {d for d in deps if d != m and not m.startswith(d + ".")} for m, deps in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_in_the_engine_or_the_papers():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_diffusion_library_imports_no_harness_and_no_paper():
    graph = _graph()
    library = [m for m in graph if m == "repro.diffusion" or m.startswith("repro.diffusion.")]
    assert library
    for module in library:
        outside = {d for d in graph[module] if not (d == "repro.diffusion" or d.startswith("repro.diffusion."))}
        assert outside == set(), f"{module} imports {sorted(outside)}"


def test_the_engine_imports_no_paper():
    graph = _graph()
    for module, deps in graph.items():
        if module.startswith("repro"):
            assert not {d for d in deps if d.startswith("papers")}, module
