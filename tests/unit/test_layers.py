"""Imports point down: no cycle between modules of ``src/iu_core``, no layer importing a higher one.

Read from the source, not from a running interpreter: every ``import`` and
``from … import`` statement of every module (inside functions too, but not
those under ``if TYPE_CHECKING:``) is an edge. ``from package import name``
is an edge to ``package.name`` when that is a module, else to ``package``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# Highest first: a module may import its own layer and the layers below it.
LAYERS: dict[str, int] = {
    # front ends
    "cli": 5,
    "console": 5,
    "__main__": 5,
    # operator actions (and the runtime macros, which run them)
    "ops": 4,
    "macros": 4,
    # the delivery worker
    "worker": 3,
    # delivery: the kind table and seam, and the adapters of each kind
    "delivery": 2,
    "delivery_seam": 2,
    "targets": 2,
    "report": 2,
    "vector": 2,
    "workflow": 2,
    # the domain, and the outbox's bookkeeping beside it
    "domain": 1,
    "metrics": 1,
    "retention": 1,
    # connection, SQL files, migrations, errors, settings
    "iu_core": 0,
    "db": 0,
    "sqlfiles": 0,
    "migrations": 0,
    "errors": 0,
    "settings": 0,
    "embedded": 0,
    "codes": 0,
    "events": 0,
    "actor": 0,
    "psql_script": 0,
    "lazy_exports": 0,
    "tracing": 0,
}
# The console is restructured on its own; its internal cycle is known.
CYCLE_EXEMPT_UNITS = {"console"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "iu_core").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                skipped.update(id(n) for n in ast.walk(inner))
    return skipped


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "iu_core" and (target := _resolve(alias.name)):
                    yield target
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            if base.split(".")[0] != "iu_core":
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                target = full if full in MODULES else _resolve(base)
                if target:
                    yield target


GRAPH: dict[str, set[str]] = {m: set(_imports(m, p)) - {m} for m, p in MODULES.items()}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer() -> None:
    assert {_unit(m) for m in MODULES} - set(LAYERS) == set()


def test_the_graph_sees_imports() -> None:
    # The reader must find real edges, or the tests below would pass on nothing.
    assert "iu_core.delivery.kinds" in GRAPH["iu_core.delivery"]
    assert "iu_core.worker.store" in GRAPH["iu_core.worker.scheduler"]
    assert "iu_core.delivery.seam" in GRAPH["iu_core.delivery_seam"]


def test_no_import_cycle_between_modules() -> None:
    cycles = [c for c in _cycles(GRAPH) if not {_unit(m) for m in c} <= CYCLE_EXEMPT_UNITS]
    assert cycles == []


def test_no_import_cycle_between_packages() -> None:
    units: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        units.setdefault(_unit(module), set()).update(_unit(t) for t in targets if _unit(t) != _unit(module))
    assert _cycles(units) == []


def test_no_layer_imports_a_higher_one() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if LAYERS[_unit(target)] > LAYERS[_unit(module)]
    )
    assert upward == []


def test_the_delivery_port_imports_no_adapter() -> None:
    adapters = {"targets", "report", "vector", "workflow", "worker"}
    leaks = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if _unit(module) == "delivery"
        for target in targets
        if _unit(target) in adapters
    )
    assert leaks == []
