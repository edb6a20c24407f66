"""`ofa-mcu demo`, reduced: the tiny trained checkpoint, a family of an emulated board (built, run in
QEMU, profiled, outputs checked against host TFLM), a real board (TFLM project + build/flash
commands) and a board no subnet fits (reported, skipped); then a rerun that reuses every step.

The full demo (mcu-28 on Fashion-MNIST, demo schedule) takes minutes: `make demo`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import require_tool, run_cli

from ofa_mcu.resources import targets_dir

pytestmark = pytest.mark.slow


def test_demo_help_names_its_options() -> None:
    proc = run_cli("demo", "--help")
    assert proc.returncode == 0
    for opt in ("--out", "--data", "fashion-mnist", "digits", "--schedule", "--fresh", "--seed", "quick", "default"):
        assert opt in proc.stdout


def _tiny_ram_board(tmp_path: Path) -> Path:
    """qemu-microbit with 6 KB of RAM: the native runtime leaves too little for any tiny subnet."""
    text = (targets_dir() / "qemu-microbit.yaml").read_text()
    text = text.replace("name: qemu-microbit", "name: tiny-ram-board").replace("size: 16K", "size: 6K")
    text = text.replace("tflm: {code_bytes: 80000, static_bytes: 4096", "tflm: {code_bytes: 80000, static_bytes: 1024")
    assert "static_bytes: 1024" in text  # the edit above found its line
    path = tmp_path / "tiny-ram-board.yaml"
    path.write_text(text)
    return path


def test_reduced_demo_end_to_end_and_rerun(files, trained, tmp_path: Path, capsys) -> None:
    for tool in ("arm-none-eabi-gcc", "cmake", "qemu-system-arm"):
        require_tool(tool)
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    from ofa_mcu.commands.demo import Demo

    out = tmp_path / "demo"
    (out / "train").mkdir(parents=True)
    for name in ("checkpoint.pt", "metrics.json"):  # the finished tiny run: the demo reuses it
        shutil.copy(trained[0] / name, out / "train" / name)
    boards = ["qemu-microbit", "nucleo-f746zg", str(_tiny_ram_board(tmp_path))]

    def run() -> str:
        Demo(out, str(files / "schedule.yaml"), 0, boards, predictor_samples=12, space=str(files / "space.yaml"),
             data=f"npz:{files / 'digits300.npz'}").run()
        return capsys.readouterr().out

    text = run()
    state = json.loads((out / "demo.json").read_text())
    st = state["status"]
    assert st["qemu-microbit"]["status"] == "profiled" and st["nucleo-f746zg"]["status"] == "compiled"
    assert st["tiny-ram-board"]["status"] == "no-fit" and "no subnet fits tiny-ram-board (native)" in st["tiny-ram-board"]["note"]
    assert "SKIPPED: no subnet fits tiny-ram-board" in text

    # the emulated board ran in QEMU: bit-exact with host TFLM, per-layer counts, build sizes
    fw = out / "fw" / "qemu-microbit"
    prof = json.loads((fw / "profile.json").read_text())
    assert prof["check"]["match"] is True and prof["check"]["inputs"] == 4 and prof["emulated"] is True
    assert len(prof["layers"]) == len(json.loads((fw / "compile.json").read_text())["layers"])
    assert json.loads((fw / "build.json").read_text())["size"]["flash_bytes"] > 0
    assert "outputs equal host TFLM bit for bit on 4/4 images" in text

    # the real board: a TFLM project and the commands to build and flash it (not built here)
    real = out / "fw" / "nucleo-f746zg"
    assert json.loads((real / "project.json").read_text())["runtime"] == "tflm" and not (real / "build").exists()
    assert f"ofa-mcu build {real} --tflm-dir" in text and f"ofa-mcu flash {real}" in text

    # the family table and the report
    table = text[text.index("product family"):]
    assert "(QEMU)" in next(line for line in table.splitlines() if line.startswith("qemu-microbit"))
    assert "(predicted)" in next(line for line in table.splitlines() if line.startswith("nucleo-f746zg"))
    assert "no feasible subnet" in next(line for line in table.splitlines() if line.startswith("tiny-ram-board"))
    assert f"report: {(out / 'report.html').absolute()}" in text
    html = (out / "report.html").read_text()
    assert "no subnet fits tiny-ram-board" in html and "ofa-mcu flash" in html
    assert "| qemu-microbit | native |" in (out / "report.md").read_text()

    # a rerun reuses the checkpoint, the search, the compiled projects and the profile
    again = run()
    for step in ("train", "search", "compile", "profile"):
        lines = [line for line in again.splitlines() if line.startswith("[") and f"] {step} " in line
                 and "SKIPPED" not in line]
        assert lines and all(line.endswith("(reused)") for line in lines), (step, again)
