#!/usr/bin/env python3
"""List the import cycles among the project's modules (callcontrol/, sip/, ivr/); exit 1 if any.

    python scripts/check_imports.py [ROOT]

Every ``import`` and ``from ... import`` is read with ``ast``, those under
``if TYPE_CHECKING:`` and inside functions included (a cycle that only
type checkers see is still two modules that know each other). Relative
imports are resolved; ``from pkg import name`` counts as an import of
``pkg.name`` when that is a module, else of ``pkg``. Cycles are the
strongly connected components of the module graph with more than one
module (or a module importing itself); one shortest cycle of each is printed.
It also checks the layering rule that ``sip/`` and ``ivr/`` import nothing
of ``callcontrol``.
"""
from __future__ import annotations

import ast
import sys
from collections import deque
from pathlib import Path

PACKAGES = ("callcontrol", "sip", "ivr")
LOWER_LAYERS = ("sip", "ivr")  # know nothing of callcontrol (docs/design.md)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(root: Path) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            modules[module_name(root, path)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in modules else target)
    # Keep only the project's modules; "a.b.c" also names package "a.b" when c is not a module.
    resolved: set[str] = set()
    for target in out:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name or target == name and target:
            resolved.add(target)
    return resolved


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                result.append(sorted(component))
    return result


def shortest_cycle(graph: dict[str, set[str]], members: list[str]) -> list[str]:
    """A shortest cycle through the component's first module (BFS inside the component)."""
    allowed = set(members)
    start = members[0]
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node] & allowed):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    return [start, start]


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each project module under ``root`` and the project modules it imports."""
    modules = find_modules(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles: strongly connected components of more than one module, or a self-import."""
    return [c for c in strongly_connected(graph) if len(c) > 1 or c[0] in graph[c[0]]]


def layering_violations(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(module, target) for each import of ``callcontrol`` from a lower layer."""
    return [(name, target)
            for name, targets in sorted(graph.items()) if name.split(".")[0] in LOWER_LAYERS
            for target in sorted(targets) if target.split(".")[0] == "callcontrol"]


def main(argv: list[str]) -> int:
    root = Path(argv[1]).resolve() if len(argv) > 1 else Path(__file__).resolve().parent.parent
    graph = import_graph(root)
    problems = 0
    for component in cycles(graph):
        problems += 1
        print("import cycle: " + " -> ".join(shortest_cycle(graph, component)))
    for name, target in layering_violations(graph):
        problems += 1
        print(f"layering: {name} imports {target}")
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
