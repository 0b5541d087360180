"""The package's shape: sub-packages by role, and imports that only go one way."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tcclip"
TOP_LEVEL_MODULES = {"__init__", "__main__", "cli", "config", "errors", "paths", "registry", "system_errors"}
SUB_PACKAGES = {"data", "engine", "model", "report", "suite", "synth"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every tcclip module a file imports, at module level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tcclip"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("tcclip"))
    return found


def _unit(module: str) -> str:
    """The sub-package (or top-level module) a module belongs to."""
    parts = module.split(".")
    return ".".join(parts[:2])


@pytest.fixture(scope="module")
def import_graphs() -> tuple[nx.DiGraph, nx.DiGraph]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    by_module, by_package = nx.DiGraph(), nx.DiGraph()
    for name, path in modules.items():
        for target in _imports(path):
            if target in modules and target != name:
                by_module.add_edge(name, target)
                if _unit(name) != _unit(target) and _unit(target) != "tcclip":
                    by_package.add_edge(_unit(name), _unit(target))
    return by_module, by_package


def test_top_level_holds_only_the_shared_modules_and_role_packages():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert modules == TOP_LEVEL_MODULES
    assert packages == SUB_PACKAGES


def test_module_import_graph_is_acyclic(import_graphs):
    by_module, _ = import_graphs
    assert by_module.number_of_edges() > 50  # the walk found the imports at all
    assert list(nx.simple_cycles(by_module)) == []


def test_package_import_graph_is_acyclic(import_graphs):
    """report -> suite -> engine -> data/model, never back (imports inside functions included)."""
    _, by_package = import_graphs
    assert ("tcclip.report", "tcclip.suite") in by_package.edges
    assert list(nx.simple_cycles(by_package)) == []
