"""The console's modules import one another in one direction only: no import cycle inside console/."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import iu_core.console

PACKAGE = "iu_core.console"


def console_modules() -> dict[str, Path]:
    root = Path(iu_core.console.__file__).parent
    found = {PACKAGE: root / "__init__.py"}
    for info in pkgutil.iter_modules([str(root)]):
        found[f"{PACKAGE}.{info.name}"] = root / f"{info.name}.py"
    return found


def console_imports(path: Path, modules: set[str]) -> set[str]:
    """Console modules that ``path`` imports anywhere (at the top or inside a function)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in modules and node.module != PACKAGE:
                out.add(node.module)
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                if name in modules:
                    out.add(name)
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_every_console_module_imports_and_none_imports_back() -> None:
    modules = console_modules()
    assert f"{PACKAGE}.asgi" in modules and f"{PACKAGE}.routes" in modules
    assert f"{PACKAGE}.service" not in modules  # pages and actions call the operator layer directly
    for name in modules:
        importlib.import_module(name)
    graph = {name: console_imports(path, set(modules)) - {name} for name, path in modules.items()}
    assert f"{PACKAGE}.routes" in graph[f"{PACKAGE}.asgi"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
