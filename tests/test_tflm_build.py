"""Building tflm projects as a user meets it: where the TFLM tree comes from, which kernels are
built, what the build records (``ofa_mcu.firmware.trees``, ``build`` / ``emulate`` / ``compile``
options).

Without a TFLM tree (CI): a tree folder is the tree itself or a repository whose ``src/`` is one
(the tflite-micro-arduino-examples layout); a tflite-micro checkout is refused with the command
that makes a tree; anything else is refused with the hint. An unset tree comes from the
environment, else from the build folder's last configure only when that configure succeeded (a
failed one makes CMake say the tree is missing, with real CMake). ``--kernels`` is checked
against the runtime, one line and exit 2 from the CLI. ``compile``'s kernel choice reaches
compile.json, the predicted arena of both kernel sets and the project's CMake default.

With a TFLM tree (``tests/test_tflm_firmware.py``, ``$TFLM_DIR``): the shared cache of compiled
TFLM libraries, filled by the first build and linked by the second.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import require_tool, run_cli, touch_files

from ofa_mcu.errors import UserError, WorkFailed
from ofa_mcu.firmware import build_project, render_project
from ofa_mcu.firmware.trees import build_setup, cache_root, project_setup, resolve_tree
from ofa_mcu.runtimes import get_runtime

HEADER = "tensorflow/lite/micro/micro_interpreter.h"
TFLM_SPEC = get_runtime("tflm").source_trees[0][0]


def test_tree_itself_or_its_repository_src(tmp_path: Path) -> None:
    tree = touch_files(tmp_path / "tree", HEADER)
    assert resolve_tree(TFLM_SPEC, str(tree), "--tflm-dir") == (tree, None)
    repo = touch_files(tmp_path / "arduino-examples", f"src/{HEADER}", "library.properties")
    path, note = resolve_tree(TFLM_SPEC, str(repo), "--tflm-dir")
    assert path == repo / "src" and note is not None and "src/" in note


def test_checkout_and_other_folders_refused_with_what_to_do(tmp_path: Path) -> None:
    checkout = touch_files(tmp_path / "tflite-micro", TFLM_SPEC["checkout"])
    with pytest.raises(UserError, match=r"a source checkout, not a TFLM source tree; make one with .*create_tflm_tree\.py"):
        resolve_tree(TFLM_SPEC, str(checkout), "--tflm-dir")
    with pytest.raises(UserError, match=r"not a TFLM source tree \(no tensorflow/lite/micro/micro_interpreter\.h in "
                                        r"it or in its src/\)\. Create one with"):
        resolve_tree(TFLM_SPEC, str(tmp_path), "$TFLM_DIR")
    with pytest.raises(UserError, match="no such folder"):
        resolve_tree(TFLM_SPEC, str(tmp_path / "absent"), "--tflm-dir")


def test_tree_from_option_then_environment(tmp_path: Path) -> None:
    a, b = touch_files(tmp_path / "a", HEADER), touch_files(tmp_path / "b", HEADER)
    rt = get_runtime("tflm")
    env = {"TFLM_DIR": str(b), "HOME": str(tmp_path)}
    got = build_setup(rt, tmp_path / "build", dirs={"TFLM_DIR": str(a)}, kernels="reference", env=env)
    assert got.defines["TFLM_DIR"] == str(a) and got.defines["OFA_TFLM_KERNELS"] == "reference"
    got = build_setup(rt, tmp_path / "build", dirs={}, kernels="cmsis-nn", env=env)
    assert got.defines["TFLM_DIR"] == str(b) and got.defines["OFA_TFLM_KERNELS"] == "cmsis_nn"
    # the shared cache: under the user's cache folder unless switched off
    assert got.defines["OFA_TFLM_CACHE_DIR"] == str(tmp_path / ".cache" / "ofa-mcu" / "tflm")
    assert cache_root({"OFA_MCU_CACHE_DIR": str(tmp_path / "c")}) == tmp_path / "c"
    off = build_setup(rt, tmp_path / "build", dirs={}, kernels="cmsis-nn", use_cache=False, env=env)
    assert off.defines["OFA_TFLM_CACHE_DIR"] == ""


def test_kernels_checked_against_the_runtime() -> None:
    with pytest.raises(UserError, match=r"--kernels cmsis-nn: the native runtime builds native"):
        get_runtime("native").check_kernels("cmsis-nn")
    with pytest.raises(UserError, match=r"--kernels fast: the tflm runtime builds reference or cmsis-nn"):
        get_runtime("tflm").check_kernels("fast")
    assert get_runtime("tflm").check_kernels("reference") == "reference"


def _tflm_project(tmp_path: Path) -> Path:
    return render_project("qemu-mps2-an386", tmp_path / "proj", {"main.cc": "int main() { return 0; }\n"},
                          runtime="tflm", extra_context={"cmake_template": "tflm/CMakeLists.txt.j2"})


def test_a_failed_configure_is_never_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("arm-none-eabi-gcc")
    require_tool("cmake")
    monkeypatch.delenv("TFLM_DIR", raising=False)
    monkeypatch.delenv("CMSIS_NN_DIR", raising=False)
    proj = _tflm_project(tmp_path)
    partial = touch_files(tmp_path / "partial", HEADER)  # the header, but no flatbuffers: configure fails
    first = project_setup(proj, dirs={"TFLM_DIR": str(partial)})
    assert first.kernels == "cmsis-nn"  # the emulated board's default: what the documented tree ships
    with pytest.raises(WorkFailed, match="is not a complete TFLM tree"):
        build_project(proj, defines=first.defines)
    again = project_setup(proj, dirs={})
    assert again.defines["TFLM_DIR"] == "" and not again.notes
    with pytest.raises(WorkFailed, match="TFLM_DIR is not set"):
        build_project(proj, defines=again.defines)


def test_build_cli_refuses_bad_tree_and_kernels_in_one_line(tmp_path: Path) -> None:
    proj = _tflm_project(tmp_path)
    checkout = touch_files(tmp_path / "tflite-micro", TFLM_SPEC["checkout"])
    for args, pattern in (
        (["--tflm-dir", str(checkout)], "create_tflm_tree.py"),
        (["--tflm-dir", str(tmp_path / "absent")], "no such folder"),
        (["--kernels", "fast"], "Invalid value for '--kernels'"),
    ):
        proc = run_cli("build", str(proj), *args)
        assert proc.returncode == 2, proc.stderr
        assert pattern in proc.stderr and "Traceback" not in proc.stderr
    native = render_project("qemu-mps2-an386", tmp_path / "native", {"main.c": "int main(void) { return 0; }\n"},
                            runtime="native")
    proc = run_cli("build", str(native), "--kernels", "cmsis-nn")
    assert proc.returncode == 2 and "the native runtime builds native" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_compile_kernels_reach_compile_json_and_cmake(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from test_tflm_firmware import _exported_subnet

    from ofa_mcu.boards import load_board
    from ofa_mcu.firmware.compile import render_model_project

    data, graph = _exported_subnet()
    board = load_board("qemu-mps2-an386")
    rt = get_runtime("tflm")
    plans = {k: rt.plan(graph, k).peak_bytes for k in rt.kernel_sets}
    for kernels, cmake in (("reference", "reference"), ("cmsis-nn", "cmsis_nn")):
        out = tmp_path / kernels
        render_model_project(data, board.with_kernels("tflm", kernels), out, "tflm")
        info = json.loads((out / "compile.json").read_text())
        assert info["kernels"] == kernels
        assert info["predicted"]["arena_bytes"] == plans[kernels]
        assert info["predicted"]["arena_bytes_by_kernels"] == plans
        reserved = info["firmware_arena_bytes"]
        assert reserved["cmsis-nn"] >= reserved["reference"] >= plans["reference"]
        assert f'set(OFA_TFLM_KERNELS "{cmake}" CACHE STRING' in (out / "CMakeLists.txt").read_text()
        assert project_setup(out, dirs={}, env={}).defines["OFA_TFLM_KERNELS"] == cmake


def test_latency_model_follows_the_kernels_built(tmp_path: Path) -> None:
    import yaml

    from ofa_mcu.boards import load_board
    from ofa_mcu.config import SubnetConfig
    from ofa_mcu.ir import build_graph
    from ofa_mcu.search.latency import board_latency
    from ofa_mcu.space import load_space

    space = load_space("mcu-32")
    graph = build_graph(space, SubnetConfig.max(space))
    board = load_board("nucleo-f746zg")  # builds CMSIS-NN (its YAML's main table: reference kernels)
    cmsis, ref = board_latency(board, "tflm"), board_latency(board.with_kernels("tflm", "reference"), "tflm")
    assert "cmsis-nn kernels" in cmsis.source and "kernels" not in ref.source
    assert ref.cycles_per_mac == dict(board.latency["tflm"].cycles_per_mac)
    assert cmsis.ms(graph) < 0.5 * ref.ms(graph)
    assert board_latency(board, "native").source == "board nucleo-f746zg (native)"
    # a YAML's own CMSIS-NN table wins over the core's default
    data = yaml.safe_load((Path(__file__).parents[1] / "targets" / "nucleo-f746zg.yaml").read_text())
    own = {**data["latency"]["tflm"]["cycles_per_mac"], "conv": 1.25}
    data["latency"]["tflm"]["kernels"] = {"cmsis-nn": {"cycles_per_mac": own,
                                                       "cycles_per_op": dict(data["latency"]["tflm"]["cycles_per_op"])}}
    data["name"] = "mine"
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(data))
    assert board_latency(load_board(str(tmp_path / "mine.yaml")), "tflm").cycles_per_mac["conv"] == 1.25
