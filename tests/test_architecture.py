"""The architecture the README's layout table describes, checked on the source.

- no import cycle between the package's parts (subpackages and top-level modules), function-level
  imports included (``tests/import_graph.py`` derives the graph; run it to print the graph);
- the library never imports the CLI (``ofa_mcu.commands``);
- no code outside the runtime registry switches on a runtime's name;
- one reader turns a ``.tflite`` into the layer IR;
- only the ONNX exporter imports onnx / onnxruntime, and analysis and search never load them.
"""

from __future__ import annotations

import re
from pathlib import Path

from import_graph import CLI_NODES, PACKAGE, find_cycle, layers, package_graph


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph()
    assert {"tflite", "runtimes", "planner", "native", "tflm", "firmware", "commands"} <= set(graph)
    assert find_cycle(graph) is None, "import cycle: " + " -> ".join(find_cycle(graph) or [])
    assert sum(len(layer) for layer in layers(graph)) == len(graph)


def test_library_never_imports_the_cli() -> None:
    graph = package_graph()
    offenders = sorted(n for n, deps in graph.items() if n not in CLI_NODES and "commands" in deps)
    assert offenders == []


def test_a_planted_cycle_is_found(tmp_path: Path) -> None:
    """The checker itself: a function-level import that closes a loop is a cycle."""
    pkg = tmp_path / "ofa_mcu"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("from ofa_mcu import b\n")
    (pkg / "b.py").write_text("def f():\n    from ofa_mcu.a import x\n    return x\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ofa_mcu import a\n")
    graph = package_graph(pkg)
    assert graph == {"a": {"b"}, "b": {"a"}, "c": set()}
    assert find_cycle(graph) in (["a", "b", "a"], ["b", "a", "b"])


def test_runtime_names_are_switched_on_only_in_the_registry() -> None:
    pattern = re.compile(r"""runtime\s*[!=]=|[!=]=\s*["'](tflm|native)["']|["'](tflm|native)["']\s*[!=]=""")
    hits = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "runtimes":
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{path.relative_to(PACKAGE.parent)}:{i}: {line.strip()}")
    assert hits == []


def test_one_tflite_to_ir_function() -> None:
    """Only ofa_mcu/tflite/to_ir.py builds IR ops from a parsed .tflite (irmod.Op / ir.Op calls)."""
    builders = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                      if re.search(r"\b(irmod|ir)\.Op\(|\bIrOp\(", p.read_text()))
    assert builders == ["tflite/to_ir.py"]


ONNX_PACKAGES = ("onnx", "onnxruntime", "onnxscript")


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(graph.get(n, ()))
    return seen


def test_only_the_onnx_exporter_imports_onnx_and_analysis_search_never_reach_it() -> None:
    """onnx / onnxruntime (the ``onnx`` extra) are imported by ofa_mcu/export/onnx.py alone, and
    neither analysis nor search imports the export package, even indirectly."""
    pattern = re.compile(r"^\s*(?:import|from)\s+(" + "|".join(ONNX_PACKAGES) + r")\b", re.M)
    importers = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if pattern.search(p.read_text()))
    assert importers == ["export/onnx.py"]
    graph = package_graph()
    for node in ("analysis", "search", "boards", "energy"):
        assert "export" not in _reachable(graph, node), node


def test_analysis_and_search_do_not_load_onnx_at_run_time() -> None:
    import subprocess
    import sys

    code = ("import sys, ofa_mcu.analysis, ofa_mcu.search.run, ofa_mcu.energy, ofa_mcu.commands.search, "
            "ofa_mcu.commands.analyze; "
            f"print(sorted(m for m in {ONNX_PACKAGES!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
