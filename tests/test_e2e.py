"""End to end, as a user runs it: digits checkpoint -> subnet -> INT8 export -> native firmware ->
arm-none-eabi-gcc -> QEMU (mps2-an386, netduinoplus2, microbit) -> serial profiler.

The checkpoint is a tiny search space (1-channel 12/16-pixel digits, two stages) whose supernet is
saved in the trainer's checkpoint format (random weights: the export recalibrates BatchNorm on the
digits training images, so activations and quantization are those of a real model). Each board
gets its project through a different path: `ofa-mcu compile --subnet` (mps2-an386), `ofa-mcu
compile --search DIR` with a search result (netduinoplus2), and the ``compile_project`` API
(microbit, the smallest subnet, 16 KB of RAM). Checked on every board:

- the device's raw int8 outputs for given inputs (digits images and random bytes, loaded with `db`)
  equal TFLM's (``tflite_micro`` on the host, the project's own model.tflite);
- the per-layer counts sum to the whole inference's within 5%, one layer per IR op with its kind;
- the arena the firmware reserves is the predicted one, and the measured arena + stack stay within
  the prediction (arena) plus the board's stack;
- the latency LUT written by --lut is one `ofa-mcu search --latency-lut` accepts;
- QEMU is gone afterwards (also after Ctrl-C on `ofa-mcu emulate`).

And: a subnet that does not fit the real chip fails at link time with the linker's one-line
message; `flash --dry-run` prints the board's exact command and a missing flash tool names its
package; the tflm runtime renders when its generator is installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import TINY_SPACE, load_benchmark, require_tool, run_cli

from ofa_mcu.boards import load_board
from ofa_mcu.config import SubnetConfig
from ofa_mcu.ir import OP_KINDS
from ofa_mcu.native.codegen import FUSED_KIND
from ofa_mcu.space import SearchSpace

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]

BOARDS = ["qemu-mps2-an386", "qemu-netduinoplus2", "qemu-microbit"]


def _qemu_running(elf: Path) -> bool:
    r = subprocess.run(["pgrep", "-f", str(elf)], capture_output=True, text=True)
    return r.returncode == 0


def _host_tflm(model: bytes, xs: np.ndarray) -> list[list[int]]:
    from tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(model, arena_size=1 << 20)
    outs = []
    for x in xs:
        interp.set_input(x[None], 0)
        interp.invoke()
        outs.append([int(v) for v in np.asarray(interp.get_output(0)).ravel()])
    return outs


def _inputs(fw: Path, n_images: int = 2) -> np.ndarray:
    """Digits validation images in the model's input quantization, plus one random int8 input."""
    import torch

    from ofa_mcu.data import load_source, resize

    q = json.loads((fw / "export.json").read_text())["input"]
    _, h, w, c = q["shape"]
    val = load_source("digits", 0).val_x[:n_images]
    img = resize(torch.from_numpy(val), h).numpy().transpose(0, 2, 3, 1)
    xq = np.clip(np.round(img / q["scale"]) + q["zero_point"], -128, 127).astype(np.int8)
    rnd = np.random.default_rng(3).integers(-128, 128, (1, h, w, c)).astype(np.int8)
    return np.concatenate([xq, rnd])


def _shared_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder all pytest-xdist workers of this session share (the projects are built once)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise work on one project across xdist workers (builds share its build/ folder)."""
    from filelock import FileLock

    with FileLock(str(path) + ".lock"):
        yield


def _space() -> SearchSpace:
    import yaml

    return SearchSpace.from_dict(yaml.safe_load(TINY_SPACE), source="tiny")


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A digits checkpoint of the tiny space (trainer format) and three subnet choices."""
    for tool in ("arm-none-eabi-gcc", "cmake", "qemu-system-arm"):
        require_tool(tool)
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    space = _space()
    root = _shared_base(tmp_path_factory) / "e2e"
    searched = SubnetConfig.sample(space, 5, resolutions=(16,))
    state = {"root": root, "ckpt": root / "run" / "checkpoint.pt", "space": space, "max": SubnetConfig.max(space),
             "searched": searched, "search_dir": root / "search"}
    with _locked(root):
        if not state["ckpt"].is_file():
            import random

            import torch

            from ofa_mcu.checkpoint import save_state
            from ofa_mcu.supernet import Supernet

            torch.manual_seed(0)
            net = Supernet(space)
            state["ckpt"].parent.mkdir(parents=True, exist_ok=True)
            (root / "max.json").write_text(state["max"].to_json())
            state["search_dir"].mkdir(exist_ok=True)
            (state["search_dir"] / "search.json").write_text(json.dumps({"boards": {"qemu-netduinoplus2": {
                "subnet": searched.to_dict(), "runtime": "native", "predicted_acc": 0.5, "measured_acc": 0.5}}}))
            save_state(state["ckpt"], {
                "space": space.to_dict(), "data": "digits", "seed": 0,
                "schedule": {"name": "e2e", "bn_calib_samples": 200},
                "model": {k: v.detach().cpu() for k, v in net.state_dict().items()}, "teacher": None,
                "optimizer": None, "phase": 1, "epoch": 0, "done": True,
                "rng": {"torch": torch.get_rng_state(), "python": random.getstate()}, "metrics": {},
            })
    return state


@pytest.fixture(scope="session")
def projects(work: dict[str, Any]) -> dict[str, Path]:
    """The three compiled and built projects (compiled once per session, shared by xdist workers)."""
    root = work["root"]
    out = {"qemu-mps2-an386": root / "fw-an386", "qemu-netduinoplus2": root / "fw-netduino",
           "qemu-microbit": root / "fw-microbit"}
    with _locked(root):
        if not (root / "projects.done").is_file():
            proc = run_cli("compile", "--checkpoint", str(work["ckpt"]), "--target", "qemu-mps2-an386",
                           "--subnet", str(root / "max.json"), "--out", str(out["qemu-mps2-an386"]),
                           "--model-name", "ic01", "--json", check=True)
            info = json.loads(proc.stdout)
            assert info["runtime"] == "native" and info["board"] == "qemu-mps2-an386"  # the default when emulated
            run_cli("compile", "--checkpoint", str(work["ckpt"]), "--target", "qemu-netduinoplus2", "--search",
                    str(work["search_dir"]), "--runtime", "native", "--out", str(out["qemu-netduinoplus2"]), check=True)
            from ofa_mcu.firmware.compile import compile_project

            res = compile_project(work["ckpt"], "qemu-microbit", out["qemu-microbit"], "native",
                                  subnet=SubnetConfig.min(work["space"]))
            assert res.native is not None and res.native.arena_bytes == res.info["predicted"]["arena_bytes"]
            from ofa_mcu.firmware.build import build_project

            for fw in out.values():
                build_project(fw, jobs=2)
            (root / "projects.done").write_text("ok\n")
    return out


def test_compiled_projects_hold_what_was_asked(work: dict[str, Any], projects: dict[str, Path]) -> None:
    from ofa_mcu.analysis import analyze

    expect = {"qemu-mps2-an386": work["max"], "qemu-netduinoplus2": work["searched"],
              "qemu-microbit": SubnetConfig.min(work["space"])}
    for board, fw in projects.items():
        info = json.loads((fw / "compile.json").read_text())
        cfg = SubnetConfig.load(fw / "subnet.json")
        assert cfg == expect[board] and info["subnet_hash"] == cfg.stable_hash()
        for name in ("model.tflite", "export.json", "project.json", "CMakeLists.txt", "linker.ld", "model/model.c",
                     "model/model.h", "model/main.c", "firmware/kernels/ofa_kernels.h"):
            assert (fw / name).is_file(), name
        # the arena in model.h is the analysis' prediction (what the search used) for this board
        a = analyze(work["space"], cfg, load_board(board), "native")
        assert info["predicted"]["arena_bytes"] == a.plan.peak_bytes
        assert info["predicted"]["sram_bytes"] == a.peak_sram_bytes
        assert f"#define OFA_MODEL_ARENA_BYTES {a.plan.peak_bytes}u" in (fw / "model" / "model.h").read_text()
        # one kernel call per IR op, except a strided depthwise conv and its expand conv: one fused call
        assert a.plan.fused
        assert [layer["kind"] for layer in info["layers"]] == [
            FUSED_KIND if op.index in a.plan.fused.values() else op.kind for op in a.graph.ops
            if op.index not in a.plan.fused]
        assert info["predicted"]["fits"] is True and info["accuracy"]["test_samples"] > 0
        # every export ends in SOFTMAX; --model-name names the an386 firmware for the MLPerf Tiny runner
        assert info["layers"][-1]["kind"] == "softmax" and info["output"]["zero_point"] == -128
        assert info["model"] == ("ic01" if board == "qemu-mps2-an386" else f"tiny-{cfg.stable_hash()}")
    searched = projects["qemu-netduinoplus2"]
    assert (searched / "search.json").is_file()
    assert json.loads((searched / "compile.json").read_text())["search"]["measured_acc"] == 0.5


def test_build_reports_sizes(projects: dict[str, Path]) -> None:
    fw = projects["qemu-mps2-an386"]
    with _locked(fw):
        proc = run_cli("build", str(fw), "--json", check=True)
        text = run_cli("build", str(fw), check=True).stdout
    d = json.loads(proc.stdout)
    assert Path(d["elf"]).is_file() and Path(d["bin"]).is_file() and Path(d["hex"]).is_file()
    s = d["size"]
    assert s["text"] > 0 and s["bss"] > 0 and s["flash_bytes"] <= s["chip_flash_bytes"]
    assert s["predicted_arena_bytes"] == json.loads((fw / "compile.json").read_text())["predicted"]["arena_bytes"]
    assert "text" in text and "bss" in text and "firmware.elf" in text


@pytest.mark.parametrize("board", BOARDS)
def test_device_outputs_cycles_and_memory(board: str, projects: dict[str, Path], tmp_path: Path) -> None:
    fw = projects[board]
    xs = _inputs(fw)
    np.save(tmp_path / "inputs.npy", xs)
    lut = tmp_path / "lut.json"
    common = ["--inputs", str(tmp_path / "inputs.npy"), "--runs", "2", "--warmup", "1", "--lut", str(lut), "--json"]
    with _locked(fw):
        if board == "qemu-netduinoplus2":
            proc = run_cli("profile", "--port", f"qemu:{fw}", *common)
        else:
            proc = run_cli("emulate", str(fw), "--profile", *common)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    info = json.loads((fw / "compile.json").read_text())

    # bit-exact with TFLM on the host, for every input
    assert d["outputs"] == _host_tflm((fw / "model.tflite").read_bytes(), xs)
    assert (d["board"], d["runtime"], d["counter"], d["count_unit"]) == (board, "native", "systick", "instructions")

    # per-layer counts: one per kernel call with its kind and MACs, summing to the whole inference
    assert [(x["index"], x["kind"], x["macs"]) for x in d["layers"]] == [
        (x["index"], x["kind"], x["macs"]) for x in info["layers"]]
    # emulated: instructions, said so; the SysTick counts are ticks, nothing is called cycles
    assert "cycles" not in json.dumps({k: v for k, v in d.items() if k not in ("lut", "count_note")}) and "instructions" in d["count_note"]
    assert d["kernels"] == info["kernels"] == "native"
    total = d["latency_instructions"]["mean"]
    assert abs(d["layer_instructions_sum"] - total) <= 0.05 * total
    assert all(x["instructions"] > 0 and x["ticks"] > 0 for x in d["layers"])
    clock = load_board(board).clock_hz
    assert d["latency_ticks"]["mean"] == pytest.approx(total * clock / 1e9)

    # memory: the reserved arena is the prediction; arena + stack measured stay within it
    mem, pred = d["memory"], info["predicted"]
    stack_bytes = load_board(board).memory.stack_bytes
    assert mem["arena_bytes"] == pred["arena_bytes"]
    assert 0 < mem["arena_used"] <= pred["arena_bytes"]
    assert 0 < mem["stack_used"] <= stack_bytes == mem["stack_bytes"]
    assert mem["arena_used"] + mem["stack_used"] <= pred["arena_bytes"] + stack_bytes

    # the LUT is one the search reads
    table = json.loads(lut.read_text())
    assert table["board"] == board and table["unit"] == "instructions" and set(table["kinds"]) <= set(OP_KINDS)
    assert len(table["samples"]) == sum(x["kind"] != FUSED_KIND for x in info["layers"])
    # fitted on instructions, the unit it says, not on SysTick ticks
    assert sorted(s["count"] for s in table["samples"]) == pytest.approx(
        sorted(x["instructions"] for x in d["layers"] if x["kind"] != FUSED_KIND))
    from ofa_mcu.search.latency import board_latency

    model = board_latency(load_board(board), "native", lut)
    assert model.source.startswith("LUT")
    assert not _qemu_running(fw / "build" / "firmware.elf")


def test_emulate_prints_the_port_and_stops_on_ctrl_c(projects: dict[str, Path]) -> None:
    fw = projects["qemu-microbit"]
    elf = fw / "build" / "firmware.elf"
    with _locked(fw):
        rc = _emulate_then_ctrl_c(fw, elf)
    assert rc == 0
    assert not _qemu_running(elf)


def _emulate_then_ctrl_c(fw: Path, elf: Path) -> int:
    # started with SIGINT ignored, as some runners start children: emulate must still stop on Ctrl-C
    proc = subprocess.Popen([sys.executable, "-m", "ofa_mcu", "emulate", str(fw)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # noqa: PLW1509
    try:
        deadline = time.monotonic() + 120
        lines = []
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(lines)
        url = re.search(r"socket://127\.0\.0\.1:\d+", text)
        assert url, text + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        from ofa_mcu.profiler import Device

        with Device(url.group(0), timeout_s=10) as dev:  # the firmware answers on that port
            assert dev.sync().startswith("m-name-dut-[tiny-")
        assert _qemu_running(elf)
        proc.send_signal(signal.SIGINT)
        return proc.wait(timeout=90)  # the reaper allows QEMU a SIGTERM grace, then SIGKILL; slow under load
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_link_fails_cleanly_when_the_subnet_does_not_fit(tmp_path: Path) -> None:
    """mcu-32's largest subnet on the micro:bit's 16 KB of RAM / 256 KB of flash: the linker says so."""
    for tool in ("arm-none-eabi-gcc", "cmake"):
        require_tool(tool)
    pytest.importorskip("tensorflow")
    import torch

    from ofa_mcu.export.convert import export_tflite
    from ofa_mcu.export.pipeline import model_metadata, to_nhwc
    from ofa_mcu.firmware.compile import render_model_project
    from ofa_mcu.space import load_space
    from ofa_mcu.supernet.extract import extract
    from ofa_mcu.supernet.model import Supernet
    from ofa_mcu.train.bn import recalibrate

    space = load_space("mcu-32")
    cfg = SubnetConfig.max(space)
    torch.manual_seed(0)
    sn = Supernet(space).eval()
    images = np.random.default_rng(0).random((8, 3, cfg.resolution, cfg.resolution), dtype=np.float32)
    recalibrate(sn, cfg, images)
    model = export_tflite(extract(sn, cfg), to_nhwc(images[:4]), metadata=model_metadata(space, cfg))
    fw, info, native = render_model_project(model, "qemu-microbit", tmp_path / "fw", "native")
    assert info["predicted"]["fits"] is False and info["predicted"]["sram_bytes"] > 16 * 1024  # arena + input copy
    proc = run_cli("build", str(fw))
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) <= 2
    assert re.search(r"region `\w+' overflowed by \d+ bytes", err), err


def test_flash_commands(projects: dict[str, Path], tmp_path: Path) -> None:
    from ofa_mcu.firmware.compile import render_model_project

    model = (projects["qemu-mps2-an386"] / "model.tflite").read_bytes()
    fw, _, _ = render_model_project(model, "nucleo-f746zg", tmp_path / "nucleo", "native")
    proc = run_cli("flash", str(fw), "--dry-run", check=True)
    elf = (fw / "build" / "firmware.elf").absolute()
    assert proc.stdout.strip() == f"openocd -f board/st_nucleo_f7.cfg -c 'program {elf} verify reset exit'"
    fw2, _, _ = render_model_project(model, "nrf52840-dk", tmp_path / "nrf", "native")
    cmd = json.loads(run_cli("flash", str(fw2), "--dry-run", "--json", check=True).stdout)["command"]
    assert cmd[0] == "nrfjprog" and "--program" in cmd and cmd[cmd.index("--program") + 1].endswith("firmware.hex")
    # a missing tool is a one-line error naming the package
    env = {**os.environ, "PATH": str(tmp_path)}
    p = subprocess.run([sys.executable, "-m", "ofa_mcu", "flash", str(fw)], capture_output=True, text=True, env=env)
    assert p.returncode == 1 and "openocd not found" in p.stderr and "apt-get install openocd" in p.stderr
    # emulated boards are run, not flashed
    p2 = run_cli("flash", str(projects["qemu-microbit"]))
    assert p2.returncode == 2 and "ofa-mcu emulate" in p2.stderr


def test_tflm_runtime_renders_or_says_why(projects: dict[str, Path], tmp_path: Path) -> None:
    import importlib.util

    from ofa_mcu.errors import UserError
    from ofa_mcu.firmware.compile import render_model_project

    model = (projects["qemu-mps2-an386"] / "model.tflite").read_bytes()
    if importlib.util.find_spec("ofa_mcu.tflm") is None:
        with pytest.raises(UserError, match="tflm runtime is not available"):
            render_model_project(model, "nucleo-f746zg", tmp_path / "t", "tflm")
        return
    fw, info, native = render_model_project(model, "nucleo-f746zg", tmp_path / "t", "tflm")
    assert native is None and info["runtime"] == "tflm" and (fw / "model.tflite").read_bytes() == model
    # compile.json records the kernels: the board YAML's choice, the one its arena prediction used
    assert info["kernels"] == "cmsis-nn" == json.loads((fw / "compile.json").read_text())["kernels"]
    from ofa_mcu.boards import load_board

    reference = load_board("qemu-mps2-an386").with_kernels("tflm", "reference")  # compile --kernels reference
    fw2, info2, _ = render_model_project(model, reference, tmp_path / "t2", "tflm")
    assert info2["kernels"] == "reference" and info2["predicted"]["arena_bytes"] < info["predicted"]["arena_bytes"]
    assert json.loads((fw / "project.json").read_text())["runtime"] == "tflm"


def test_cli_errors_are_one_line(projects: dict[str, Path], tmp_path: Path, work: dict[str, Any]) -> None:
    p = run_cli("compile", "--checkpoint", str(work["ckpt"]), "--target", "qemu-microbit", "--out", str(tmp_path / "x"),
                "--subnet", str(tmp_path / "s.json"), "--search", str(tmp_path / "se"))
    assert p.returncode == 2 and "--subnet" in p.stderr
    # neither: the board is searched for, and the search result kept in the project
    p = run_cli("compile", "--checkpoint", str(work["ckpt"]), "--target", "qemu-microbit", "--out", str(tmp_path / "x"))
    assert p.returncode == 0, p.stderr
    assert "qemu-microbit" in json.loads((tmp_path / "x" / "search.json").read_text())["boards"]
    p = run_cli("build", str(tmp_path))
    assert p.returncode == 2 and "not a generated firmware project" in p.stderr
    np.save(tmp_path / "f.npy", np.zeros((1, 4, 4, 1), np.float32))
    p = run_cli("emulate", str(projects["qemu-microbit"]), "--profile", "--inputs", str(tmp_path / "f.npy"))  # no build
    assert p.returncode == 2 and "int8" in p.stderr and "Traceback" not in p.stderr
    p = run_cli("emulate", str(projects["qemu-microbit"]), "--board", "nucleo-f746zg")
    assert p.returncode == 2 and "not emulated" in p.stderr


# ------------------------------------------------------------------------------------------
# MLPerf Tiny host runner, accuracy mode, over socket:// to QEMU
# ------------------------------------------------------------------------------------------


def _runner_inputs(fw: Path, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N held-out digits test images (stratified) in the model's input quantization, their labels,
    and host TFLM's int8 outputs for them."""
    import torch

    from ofa_mcu.data import load_source, resize
    from ofa_mcu.export.pipeline import to_nhwc
    from ofa_mcu.tflm.host import TflmRunner

    runner = TflmRunner((fw / "model.tflite").read_bytes())
    x, y = load_source("digits", 0).test_subset(n, 0)
    x_q = runner.input.quantize(to_nhwc(resize(torch.from_numpy(x), int(runner.input.shape[1]))))
    return x_q, np.asarray(y, dtype=np.int64), runner.run_int8(x_q)


def test_mlperf_runner_accuracy_mode_equals_host_tflm(projects: dict[str, Path], tmp_path: Path) -> None:
    """Our driver of the MLPerf Tiny runner's rules (name/profile, reconnect, 31-byte db chunks,
    infer 1 0, results normalized by their sum, argmax) against the firmware in QEMU: its Top-1 and
    every prediction equal host TFLM's on the same held-out images; m-results are the softmax
    outputs dequantized with three decimals, exactly as printf("%0.3f") prints them."""
    from ofa_mcu.profiler.mlperf import boot, run_accuracy, write_dataset
    from ofa_mcu.qemu import run_qemu

    fw = projects["qemu-mps2-an386"]
    x_q, y, host = _runner_inputs(fw, 30)
    assert set(y.tolist()) == set(range(10))  # the runner's AUC needs every class
    # --model-name ic01: the firmware reads the data set's files as uint8 images (the official
    # ic01 format) and shifts them by -128, as the reference submissions do
    assert json.loads((fw / "compile.json").read_text())["db_input"] == "uint8"
    folder = write_dataset(tmp_path / "datasets", "ic01", list(x_q), list(y), 10, "uint8")
    first = (folder / "ic01_00000_" f"{int(y[0])}.bin").read_bytes()
    assert first == bytes((int(v) + 128) for v in x_q[0].ravel())
    with _locked(fw):
        elf = fw / "build" / "firmware.elf"
        with run_qemu(elf, "mps2-an386", timeout_s=600) as session:
            assert boot(session.url) == "m-name-dut-[ic01]"
            run = run_accuracy(session.url, tmp_path / "datasets")
    assert (run.name, run.model) == ("ic01", "ic01") and len(run.files) == len(y)
    assert [f.label for f in run.files] == y.tolist()
    assert [f.predicted for f in run.files] == host.argmax(axis=1).tolist()
    assert run.top1_percent == pytest.approx(100.0 * float((host.argmax(axis=1) == y).mean()))
    scale = np.float32(1.0 / 256.0)
    for f, q in zip(run.files, host, strict=True):
        # int8 steps of 1/256 stay distinct at three decimals: ties and order are the int8 ones
        assert f.raw == [float(f"{float(np.float32(int(v) + 128) * scale):.3f}") for v in q]
        assert abs(sum(f.raw) - 1.0) < 0.05 and f.elapsed_us is not None


@pytest.mark.skipif(not os.environ.get("OFA_MLPERF_RUNNER_DIR"),
                    reason="OFA_MLPERF_RUNNER_DIR (mlcommons/tiny benchmark/runner, fetched) is not set")
def test_real_mlperf_runner_accuracy_mode_equals_host_tflm(projects: dict[str, Path], tmp_path: Path) -> None:
    """The unmodified MLPerf Tiny host runner (from $OFA_MLPERF_RUNNER_DIR) in accuracy mode over
    socket:// to QEMU: its reported Top-1 and predictions equal host TFLM's on the same inputs."""
    from ofa_mcu.profiler.mlperf import boot, write_dataset
    from ofa_mcu.qemu import run_qemu

    bench = load_benchmark("mlperf_runner")
    fw = projects["qemu-mps2-an386"]
    x_q, y, host = _runner_inputs(fw, 30)
    write_dataset(tmp_path / "datasets", "ic01", list(x_q), list(y), 10, "uint8")
    with _locked(fw):
        with run_qemu(fw / "build" / "firmware.elf", "mps2-an386", timeout_s=900) as session:
            boot(session.url)
            res = bench.run_mlcommons(os.environ["OFA_MLPERF_RUNNER_DIR"], session.url, tmp_path / "datasets",
                                      tmp_path / "runner")
    assert res["model"] == "ic01" and res["files"] == len(y)
    assert res["predicted"] == host.argmax(axis=1).tolist()
    assert res["top1_percent"] == pytest.approx(round(100.0 * float((host.argmax(axis=1) == y).mean()), 1))
