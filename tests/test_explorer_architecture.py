"""The explorer's shape, checked from its source: who may import whom.

- No import circle anywhere in explorer/ (module-level and function-level imports count;
  imports under ``if TYPE_CHECKING:`` do not, since they never run).
- ``explorer.core`` imports neither Qt, pyqtgraph nor torch, not even indirectly: each of
  its modules is imported in a fresh interpreter and ``sys.modules`` is checked.
- ``explorer.analysis`` stays numpy-only too; the panels import nothing of the window or
  the modes; no module is longer than 450 lines.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "explorer"
MAX_LINES = 450
GUI_OR_TORCH = ("PySide6", "pyqtgraph", "torch")
SHELL = ("explorer.main_window", "explorer.window_", "explorer.modes", "explorer.app")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str) -> set[str]:
    """Every module ``module`` imports (absolute names), outside ``if TYPE_CHECKING:`` blocks."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                # ``from package import submodule`` imports the submodule itself.
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in MODULES else source)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return found


GRAPH = {module: {name for name in _imports(module) if name in MODULES and name != module} for module in MODULES}


def _cycles() -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in GRAPH:
        if module not in index:
            connect(module)
    return components


def test_no_module_of_the_explorer_imports_itself_through_others() -> None:
    assert _cycles() == []


def test_the_import_parser_counts_function_level_imports_and_skips_type_checking_ones() -> None:
    """The parser itself, so the cycle check cannot pass by seeing nothing."""
    assert "explorer.modes.host" in GRAPH["explorer.modes.base"]
    assert "explorer.main_window" not in GRAPH["explorer.window_host"]  # only under TYPE_CHECKING
    assert "explorer.export" in GRAPH["explorer.export_actions"]  # imported inside a function


@pytest.mark.parametrize("package", ["explorer.core", "explorer.analysis"])
def test_the_pure_packages_import_no_qt_pyqtgraph_or_torch(package: str) -> None:
    offenders = {
        module: sorted(name for name in _imports(module) if name.split(".")[0] in GUI_OR_TORCH)
        for module in MODULES
        if module == package or module.startswith(package + ".")
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_the_panels_import_nothing_of_the_window_or_the_modes() -> None:
    offenders = {
        module: sorted(name for name in GRAPH[module] if name.startswith(SHELL))
        for module in MODULES
        if module.startswith("explorer.panels")
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_the_modes_import_nothing_of_the_window() -> None:
    offenders = {
        module: sorted(name for name in GRAPH[module] if name.startswith(("explorer.main_window", "explorer.window_")))
        for module in MODULES
        if module.startswith("explorer.modes")
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_every_core_module_leaves_torch_and_qt_out_of_a_fresh_interpreter() -> None:
    core = sorted(module for module in MODULES if module == "explorer.core" or module.startswith("explorer.core."))
    assert len(core) > 3
    code = (
        "import importlib, sys\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'PySide6', 'pyqtgraph')))\n"
        "print(' '.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_importing_the_trace_types_leaves_torch_out() -> None:
    code = "import sys, model.trace; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_no_explorer_module_is_longer_than_450_lines() -> None:
    lengths = {module: len(path.read_text(encoding="utf-8").splitlines()) for module, path in MODULES.items()}
    assert {module: length for module, length in lengths.items() if length > MAX_LINES} == {}
