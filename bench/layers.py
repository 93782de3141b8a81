"""Measure the house: the project's modules by layer and the imports between them.

Reads every module of the project (not the tests) with `ast`, places it in a layer, and
prints, from one reading of the source:

- files and lines per layer;
- arrows that run back up (a module importing one in a higher layer), at module level and
  inside functions;
- import circles (strongly connected sets of modules, counting every import);
- function-local imports: how many, and per 1,000 lines;
- the biggest modules.

The layers, lowest first, are the ones `.importlinter` enforces: the floor
(`casework.core`), models, services, tasks, flows and deployments, interfaces (the rest of
`casework`: the CLI, the stack, the worker, the demo). A module of `casework` that the floor
or the services have not taken yet counts as an interface.

    .venv/bin/python bench/layers.py
"""

from __future__ import annotations

import ast
import os
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOPS = ("casework", "models", "tasks", "flows", "deployments")
LAYERS = ("floor", "models", "services", "tasks", "flows", "interfaces")
PLACES = (  # first match wins
    ("casework.core", "floor"),
    ("casework.services", "services"),
    ("casework.models", "models"),
    ("casework.tasks", "tasks"),
    ("casework.flows", "flows"),
    ("casework.deployments", "flows"),
    ("casework", "interfaces"),
    # as the house was before its folders were installed inside casework
    ("models", "models"),
    ("tasks", "tasks"),
    ("flows", "flows"),
    ("deployments", "flows"),
)


def layer_of(module: str) -> str:
    for prefix, layer in PLACES:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    raise ValueError(module)


def modules() -> dict[str, Path]:
    """Every module of the project by its installed name (flows/ is casework.flows)."""
    found: dict[str, Path] = {}
    for top in TOPS:
        package = "casework" if top == "casework" else f"casework.{top}"
        for folder, dirs, files in os.walk(ROOT / top):  # not into casework's links to them
            dirs[:] = sorted(d for d in dirs if d not in ("migrations", "__pycache__"))
            for file in sorted(f for f in files if f.endswith(".py")):
                rel = (Path(folder) / file).relative_to(ROOT / top).with_suffix("")
                parts = [*package.split("."), *rel.parts]
                if parts[-1] == "__init__":
                    parts.pop()
                found[".".join(parts)] = Path(folder) / file
    return found


def imports_of(path: Path, name: str, known: set[str]) -> list[tuple[str, bool]]:
    """(imported module, inside a function) for each import of a project module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                continue  # for the type checker only: never runs
            inner = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            found.extend((hit, inner) for hit in _targets(child, package, known))
            visit(child, inner)

    visit(ast.parse(path.read_text(), str(path)), False)
    return [(target, local) for target, local in found if target != name]


def _targets(node: ast.AST, package: str, known: set[str]) -> list[str]:
    """The project modules one import statement brings in (the deepest known of each)."""
    if isinstance(node, ast.Import):
        wanted = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            base = ".".join([*parts[: len(parts) - node.level + 1], base]).strip(".")
        wanted = [f"{base}.{alias.name}" for alias in node.names]
    else:
        return []
    hits = []
    for target in wanted:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target:
            hits.append(target)
    return hits


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected sets of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def strong(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                strong(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(members) > 1:
                found.append(sorted(members))

    for node in sorted(graph):
        if node not in index:
            strong(node)
    return found


def main() -> None:
    found = modules()
    known = set(found)
    lines = {name: len(path.read_text().splitlines()) for name, path in found.items()}
    graph: dict[str, set[str]] = defaultdict(set)
    up_top: list[tuple[str, str]] = []
    up_local: list[tuple[str, str]] = []
    local = 0
    for name, path in found.items():
        graph[name]
        for target, inner in imports_of(path, name, known):
            graph[name].add(target)
            local += inner
            if LAYERS.index(layer_of(target)) > LAYERS.index(layer_of(name)):
                (up_local if inner else up_top).append((name, target))
    per_layer: dict[str, list[str]] = defaultdict(list)
    for name in found:
        per_layer[layer_of(name)].append(name)
    total = sum(lines.values())
    print(f"{'layer':<12} {'files':>6} {'lines':>7} {'share':>6}")
    for layer in LAYERS:
        names = per_layer.get(layer, [])
        size = sum(lines[n] for n in names)
        print(f"{layer:<12} {len(names):>6} {size:>7} {size / total:>6.0%}")
    print(f"{'all':<12} {len(found):>6} {total:>7}")
    print(f"arrows back up: {len(up_top)} at module level, {len(up_local)} inside functions")
    for name, target in sorted(set(up_top + up_local)):
        print(f"  {name} ({layer_of(name)}) -> {target} ({layer_of(target)})")
    rings = circles(graph)
    print(
        f"import circles: {len(rings)}; the largest holds "
        f"{max((len(r) for r in rings), default=0)} modules"
    )
    print(f"function-local imports: {local} ({local / total * 1000:.1f} per 1,000 lines)")
    print("biggest modules:")
    for name in sorted(lines, key=lines.__getitem__, reverse=True)[:3]:
        print(f"  {name}: {lines[name]} lines")


if __name__ == "__main__":
    main()
