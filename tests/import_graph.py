"""The package import graph of ofa_mcu, derived from the source's imports.

A node is a subpackage (``ofa_mcu/tflite/``) or a top-level module (``ofa_mcu/boards.py``); an edge
``a -> b`` means some module of ``a`` imports something of ``b``, at module level or inside a
function (both count: a function-level import is a dependency too). Imports under
``if TYPE_CHECKING:`` are type annotations only and are left out.

Run ``python tests/import_graph.py`` to print the graph, one node per line with what it imports,
lowest layer first; ``tests/test_architecture.py`` asserts it has no cycle and that only the CLI
imports ``ofa_mcu.commands``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ofa_mcu"
#: the command-line layer: allowed to import everything, imported by nothing in the library
CLI_NODES = ("cli", "__main__", "commands")


def node_of(module: str) -> str | None:
    """``ofa_mcu.tflite.reader`` -> ``tflite``; ``ofa_mcu.boards`` -> ``boards``; others -> None."""
    parts = module.split(".")
    if parts[0] != "ofa_mcu" or len(parts) < 2:
        return None
    return parts[1]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str) -> list[str]:
    """Modules imported by ``tree`` (absolute names), skipping ``if TYPE_CHECKING:`` blocks."""
    found: list[str] = []
    package = module.rsplit(".", 1)[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base == "ofa_mcu":  # from ofa_mcu import tflite: the imported names are modules
                found.extend(f"ofa_mcu.{alias.name}" for alias in node.names)
            else:
                found.append(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def package_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """node -> the nodes it imports (edges within a node left out)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        module = ".".join(rel.parts)
        if module.endswith(".__init__"):
            module = module[: -len(".__init__")]
        src = node_of(module)
        if src is None:  # the package's own __init__ (the version string)
            continue
        deps = graph.setdefault(src, set())
        for imported in _imports(ast.parse(path.read_text(), str(path)), module):
            dst = node_of(imported)
            if dst is not None and dst != src and ((root / dst).is_dir() or (root / f"{dst}.py").is_file()):
                deps.add(dst)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a node list (first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def dfs(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = dfs(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = dfs(n)
            if found:
                return found
    return None


def layers(graph: dict[str, set[str]]) -> list[list[str]]:
    """Nodes by layer: layer 0 imports no other node, layer k only nodes of lower layers."""
    level: dict[str, int] = {}

    def depth(n: str) -> int:
        if n not in level:
            level[n] = -1  # a cycle would recurse forever; find_cycle reports it first
            level[n] = 1 + max((depth(m) for m in graph.get(n, ())), default=-1)
        return level[n]

    for n in graph:
        depth(n)
    out: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for n, k in level.items():
        out[k].append(n)
    return [sorted(layer) for layer in out]


def main() -> int:
    graph = package_graph()
    cycle = find_cycle(graph)
    if cycle:
        print("import cycle: " + " -> ".join(cycle))
        return 1
    for k, layer in enumerate(layers(graph)):
        for n in layer:
            print(f"{k:2d}  {n:<12} -> {', '.join(sorted(graph[n])) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
