"""Architecture checks read from the source: no import circle inside a package.

A circle (A imports B imports … A) only works while one of its imports stays inside a
function, and breaks the day someone moves it to the top. The graph here is built with
``ast`` from every module of a package, counting imports at any depth (top level,
functions, ``TYPE_CHECKING`` blocks), so a circle cannot hide behind a late import.
Only the package's own modules are nodes; a parent package that Python runs before a
submodule is not an edge, only an import written in the source is.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def module_names(package: Path) -> dict[str, Path]:
    """Every module of the package folder ``package``, by dotted name (``model.hf.cache``)."""
    names: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The package's own modules that one import statement of ``module`` names."""
    if isinstance(node, ast.Import):
        targets = {alias.name for alias in node.names}
    else:
        if node.level:
            # ``from . import x`` in a package's __init__ is relative to the package itself.
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            origin = ".".join(base + ([node.module] if node.module else []))
        else:
            origin = node.module or ""
        # ``from pkg import name`` names the submodule ``pkg.name`` when there is one,
        # else an attribute of ``pkg`` itself.
        targets = {f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin for alias in node.names}
    found = set()
    for target in targets:
        # ``import pkg.sub.mod`` of an unknown leaf still names the nearest known module.
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != module:
            found.add(target)
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    """``module -> modules of the same package it imports``, from the source of ``package``."""
    modules = module_names(package)
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _imported(node, name, path.name == "__init__.py", known)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[a, b, …, a]``, or None when the graph has none."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return visiting[visiting.index(node) :] + [node]
        if node in done:
            return None
        visiting.append(node)
        for neighbour in sorted(graph.get(node, ())):
            cycle = visit(neighbour)
            if cycle is not None:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start)
        if cycle is not None:
            return cycle
    return None


@pytest.mark.parametrize("package", ["model"])
def test_a_package_has_no_import_circle(package):
    graph = import_graph(ROOT / package)
    assert len(graph) > 1
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_graph_sees_relative_absolute_and_function_level_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .a import thing\n")
    (package / "a.py").write_text("import os\nfrom . import b\n")
    (package / "b.py").write_text("def late():\n    from pkg.sub import c\n")
    (package / "sub" / "__init__.py").write_text("from .. import a\nVALUE = 1\n")
    (package / "sub" / "c.py").write_text("from . import VALUE\nimport pkg.sub.missing\n")
    graph = import_graph(package)
    assert graph == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.sub.c"},
        "pkg.sub": {"pkg.a"},
        "pkg.sub.c": {"pkg.sub"},
    }
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.sub", "pkg.a"]
    (package / "b.py").write_text("VALUE = 2\n")
    assert find_cycle(import_graph(package)) is None
