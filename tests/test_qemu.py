"""End to end in QEMU: the fixture firmware (BSP + runner + a tiny checkable C "model") is
rendered, built with arm-none-eabi-gcc and run on every emulated machine; the serial protocol's
standard replies and extensions are checked, the outputs are compared with Python, and QEMU is
shown to be reaped whatever happens (exception, Ctrl-C, timeout)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import require_tool

from ofa_mcu.boards import load_board
from ofa_mcu.errors import WorkFailed
from ofa_mcu.firmware import build_project, config_defines, render_project
from ofa_mcu.profiler import Device, fit_latency_lut, lut_samples, profile
from ofa_mcu.qemu import open_port, qemu_command, run_qemu

FIXTURES = Path(__file__).parent / "fixtures"
MACHINES = ["qemu-mps2-an386", "qemu-mps2-an500", "qemu-netduinoplus2", "qemu-microbit"]
INPUT_BYTES = 96
CONV_MACS = {0: 1000, 1: 4000, 2: 16000}



def fixture_expected(x: bytes) -> list[int]:
    """What tests/fixtures/sum_model/main.c computes for input ``x`` (see its header)."""
    v = [b - 256 if b > 127 else b for b in x]
    total = 0
    for macs in CONV_MACS.values():
        acc = 0
        for i in range(macs):
            acc += v[i % len(v)] * (((7 * i) & 127) - 64)
        total += acc
    out = [max(-128, min(127, sum(v[k::8]) >> 2)) for k in range(8)]
    low = total & 0xFF
    return [*out, low - 256 if low > 127 else low]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _qemu_left(elf: Path) -> bool:
    """Any qemu process still running this ELF (checked with pgrep)?"""
    r = subprocess.run(["pgrep", "-f", str(elf)], capture_output=True, text=True)
    return r.returncode == 0


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Fixture firmware for every emulated machine: 'sum' (runner) and 'exit' (bsp_exit(3))."""
    require_tool("arm-none-eabi-gcc")
    require_tool("cmake")
    require_tool("qemu-system-arm")
    root = tmp_path_factory.mktemp("qemu-fw")
    sum_src = {"main.c": (FIXTURES / "sum_model" / "main.c").read_text()}
    exit_src = {"main.c": (FIXTURES / "exit_main.c").read_text()}
    jobs = []
    for board in MACHINES:
        jobs.append((board, "sum", sum_src, None))
        jobs.append((board, "exit", exit_src, None))
    for board in ("qemu-mps2-an386", "qemu-mps2-an500"):
        # Ask the BSP to try the DWT first: QEMU's CYCCNT reads 0, so it must fall back.
        defs = [dict(d, value="1") if d["name"] == "BSP_COUNTER_DWT" else d for d in config_defines(load_board(board))]
        jobs.append((board, "dwt", exit_src, {"config_defines": defs}))

    def one(job):
        board, kind, src, extra = job
        proj = render_project(board, root / f"{board}-{kind}", src, runtime="test", model_name="sum-fixture",
                              extra_context=extra)
        return (board, kind), build_project(proj, jobs=1).elf

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, jobs))


def _load(dev: Device, data: bytes) -> None:
    assert dev.command(f"db load {len(data)}") == [f"m-[Expecting {len(data)} bytes]"]
    replies = [dev.command("db " + data[i : i + 40].hex()) for i in range(0, len(data), 40)]
    assert replies[-1] == ["m-load-done"] and all(r == [] for r in replies[:-1])


@pytest.mark.parametrize("board", MACHINES)
def test_protocol_end_to_end(builds, board, capsys):
    b = load_board(board)
    elf = builds[(board, "sum")]
    x = bytes((i * 53 + 7) % 256 for i in range(INPUT_BYTES))
    with run_qemu(elf, b, timeout_s=90) as session:
        with Device(session.url, timeout_s=10) as dev:
            assert dev.sync() == "m-name-dut-[sum-fixture]"
            assert dev.command("name") == ["m-name-dut-[sum-fixture]"]
            assert dev.command("profile") == ["m-profile-[ULPMark for tinyML Firmware V0.0.1]", "m-model-[sum-fixture]"]
            _load(dev, x)
            dump = dev.command("db print")
            assert len(dump) == INPUT_BYTES // 8 and all(ln.startswith("m-buffer-") for ln in dump)
            assert bytes.fromhex("".join(ln[len("m-buffer-"):].replace("-", "") for ln in dump)) == x
            lines = dev.command("infer 2 1", timeout_s=30)
            assert lines[:3] == ["m-warmup-start-1", "m-warmup-done", "m-infer-start-2"]
            assert re.fullmatch(r"m-lap-us-\d+", lines[3]) and re.fullmatch(r"m-lap-us-\d+", lines[4])
            assert int(lines[4][9:]) > int(lines[3][9:])
            assert lines[5] == "m-infer-done"
            expected = fixture_expected(x)
            assert lines[6] == "m-results-[" + ",".join(f"{0.5 * (q + 1):.3f}" for q in expected) + "]"
            assert len(lines) == 7
            assert dev.command("results") == [lines[6]]
            assert dev.outputs() == expected
            # Standard errors, each followed by m-ready.
            assert dev.command("bogus", check=False) == ["e-[Unknown command: bogus]"]
            assert dev.command("db load 0", check=False) == ["e-[Command 'db load' must be >0 bytes]"]
            assert dev.command("db load 100000", check=False) == [
                f"e-[Supplied buffer size 100000 exceeds maximum of {INPUT_BYTES}]"]
            assert dev.command("infer 0", check=False) == ["e-[Inference iterations must be >0]"]
            assert dev.command("db 00", check=False) == ["e-[No 'db load' in progress]"]
            assert dev.command("db load 4", check=False) == ["m-[Expecting 4 bytes]"]
            assert dev.command("db abc", check=False) == ["e-[Insufficent number of hex digits]"]
            assert dev.command("db zz00", check=False) == ["e-[Invalid hex digit 'zz']"]
            assert dev.command("infer 1 0", check=False) == ["e-[Input incomplete: 0 of 4 bytes loaded]"]
            assert dev.command("db 01020304", check=False) == ["m-load-done"]
            assert dev.command("x" * 300, check=False) == ["e-[Command too long: more than 256 characters]"]
            with pytest.raises(WorkFailed, match=r"device error on 'bogus%': e-\[Unknown command: bogus\]"):
                dev.command("bogus")
            info = dev.info()
            assert (info.board, info.counter, info.clock_hz, info.emulated) == (board, "systick", b.clock_hz, True)
            assert (info.core, info.input_bytes, info.output_bytes, info.arena_bytes) == (b.core, 96, 9, 4096)

        # A second connection to the same QEMU (the chardev listens again): the profiler.
        inputs = [x, bytes(range(96)), bytes(255 - i for i in range(96))]
        res = profile(session.url, inputs, runs=3, warmup=1, timeout_s=10)
    assert not _alive(session.pid)

    assert res.outputs == [fixture_expected(i) for i in inputs]
    assert res.results == [[0.5 * (q + 1) for q in fixture_expected(i)] for i in inputs]
    assert (res.board, res.counter, res.emulated, res.count_unit) == (board, "systick", True, "instructions")
    assert res.clock_hz == b.clock_hz and res.model == "sum-fixture" and res.runtime == "test"
    assert [(layer.index, layer.kind) for layer in res.layers] == [
        (0, "conv"), (1, "conv"), (2, "conv"), (3, "fc"), (4, "add")]
    assert [layer.name for layer in res.layers] == [None, None, None, "class_sums", None]
    mean_cycles = res.latency_cycles["mean"]
    assert abs(res.layer_cycles_sum - mean_cycles) <= 0.05 * mean_cycles
    instr = res.latency_instructions
    assert instr is not None and instr["mean"] == pytest.approx(mean_cycles * 1e9 / b.clock_hz)
    assert res.latency_ms["mean"] == pytest.approx(mean_cycles * 1000 / b.clock_hz)
    assert res.memory["arena_bytes"] == 4096 and res.memory["arena_used"] == INPUT_BYTES + 64
    assert 0 < res.memory["stack_used"] < res.memory["stack_bytes"] == b.memory.stack_bytes
    assert len(res.lap_ms_per_run) == 3
    # Per-layer ticks grow with the MACs: a straight-line fit explains them.
    res.attach_macs(CONV_MACS)
    lut = fit_latency_lut([s for s in lut_samples(res) if s["kind"] == "conv"], board=board, unit=res.count_unit)
    assert lut["kinds"]["conv"]["r2"] > 0.99 and lut["kinds"]["conv"]["cycles_per_mac"] > 1
    with capsys.disabled():
        print(f"\n  {board}: {instr['mean']:.0f} instructions per inference "
              f"({mean_cycles:.0f} SysTick ticks at {b.clock_hz} Hz), conv "
              f"{lut['kinds']['conv']['cycles_per_mac']:.2f} instructions/MAC, counter={res.counter}")


@pytest.mark.parametrize("board", MACHINES)
def test_semihosting_exit_status_and_systick(builds, board):
    elf = builds[(board, "exit")]
    with run_qemu(elf, load_board(board), timeout_s=30) as session:
        import serial

        ser = serial.serial_for_url(session.url, timeout=0.25)
        got = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b"\n" not in got:
            try:
                if not got:
                    ser.write(b"g")  # until the fixture has seen one and prints its line
                got += ser.read(ser.in_waiting or 1)
            except serial.SerialException:
                break
        try:
            ser.write(b"q")  # the fixture exits after a second byte
        except serial.SerialException:
            pass  # a repeated "g" was that byte: QEMU has gone already
        ser.flush()
        assert session.wait(20) == 3  # bsp_exit(3) through SYS_EXIT_EXTENDED
        ser.close()
    assert got.decode() == f"hello from {board} counter=systick advancing\r\n"


@pytest.mark.parametrize("board", ["qemu-mps2-an386", "qemu-mps2-an500"])
def test_dwt_is_probed_and_systick_used_when_cyccnt_is_stuck(builds, board):
    with run_qemu(builds[(board, "dwt")], load_board(board), timeout_s=30) as session:
        with Device(session.url, timeout_s=10) as dev:
            line, deadline = None, time.monotonic() + 10
            while line is None and time.monotonic() < deadline:
                dev.write("g")  # until the fixture has seen one and prints its line
                line = dev.read_line(time.monotonic() + 0.25)
    assert line == f"hello from {board} counter=systick advancing"


def test_profiler_fails_cleanly_when_the_port_disappears(builds):
    # The exit fixture prints one line and ends QEMU: the port closes under the profiler.
    elf = builds[("qemu-mps2-an386", "exit")]
    t = time.monotonic()
    with run_qemu(elf, "mps2-an386", timeout_s=30) as session:
        with pytest.raises(WorkFailed, match="closed or disappeared"):
            profile(session.url, timeout_s=5)
    assert time.monotonic() - t < 10


def test_qemu_is_killed_at_its_timeout(builds):
    elf = builds[("qemu-mps2-an386", "sum")]
    with run_qemu(elf, "mps2-an386", timeout_s=2) as session:
        with Device(session.url, timeout_s=5) as dev:
            dev.sync()
            time.sleep(2.5)
            assert session.timed_out
            with pytest.raises(WorkFailed, match="closed or disappeared|no reply"):
                dev.command("name")
    assert not _alive(session.pid)


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_qemu_is_reaped_when_the_block_raises(builds, exc):
    elf = builds[("qemu-microbit", "sum")]
    with pytest.raises(exc):
        with run_qemu(elf, load_board("qemu-microbit"), timeout_s=60) as session:
            pid = session.pid
            assert _alive(pid) and _qemu_left(elf)
            raise exc()
    assert not _alive(pid)
    assert not _qemu_left(elf)


def test_qemu_is_reaped_when_nobody_connects(builds):
    elf = builds[("qemu-mps2-an500", "sum")]
    with run_qemu(elf, "mps2-an500", timeout_s=60) as session:
        pid = session.pid
    assert not _alive(pid) and not _qemu_left(elf)


def test_qemu_errors_are_clear(builds, tmp_path, monkeypatch):
    elf = builds[("qemu-mps2-an386", "sum")]
    with pytest.raises(WorkFailed, match="failed to start"):
        with run_qemu(elf, "no-such-machine", timeout_s=10):
            pass
    with pytest.raises(WorkFailed, match="no such firmware ELF"):
        with run_qemu(tmp_path / "missing.elf", "mps2-an386"):
            pass
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(WorkFailed, match=r"qemu-system-arm not found: .*apt-get install qemu-system-arm"):
        with run_qemu(elf, "mps2-an386"):
            pass


def test_qemu_command_line():
    cmd = qemu_command("microbit", "/x/fw.elf", 4444)
    joined = " ".join(cmd)
    assert "-machine microbit" in joined and "-kernel /x/fw.elf" in joined
    assert "-icount shift=0,align=off,sleep=off" in joined
    assert "-serial tcp:127.0.0.1:4444,server=on,wait=on,nodelay=on" in joined
    assert "-semihosting-config enable=on,target=native" in joined and "-nographic" in joined


def test_qemu_port_spec_builds_and_runs_a_project(builds):
    fwdir = builds[("qemu-netduinoplus2", "sum")].parent.parent
    with open_port(f"qemu:{fwdir}") as url:
        assert url.startswith("socket://127.0.0.1:")
        res = profile(url, runs=1, warmup=0, timeout_s=10)
    assert res.board == "qemu-netduinoplus2" and res.outputs and len(res.outputs[0]) == 9
    assert not _qemu_left(fwdir / "build" / "firmware.elf")
    with open_port("/dev/ttyACM7") as url:
        assert url == "/dev/ttyACM7"


def test_a_qemu_timeout_is_reported_as_such(builds):
    """The port closes because QEMU was killed at its limit: the error says so (not "connection reset")."""
    elf = builds[("qemu-mps2-an386", "sum")]
    with pytest.raises(WorkFailed, match=r"QEMU was stopped after its time limit of 2 s \(--qemu-timeout\)"):
        with run_qemu(elf, "mps2-an386", timeout_s=2) as session:
            with Device(session.url, timeout_s=5) as dev:
                dev.sync()
                time.sleep(2.5)
                dev.command("name")
    assert not _alive(session.pid)


def test_a_copied_project_builds_in_its_new_folder(builds, tmp_path):
    """A built project copied elsewhere carries a CMake cache naming the old folder: rebuilt cleanly."""
    src = builds[("qemu-microbit", "exit")].parent.parent
    dst = tmp_path / "copied"
    shutil.copytree(src, dst)
    res = build_project(dst, jobs=1)
    assert res.elf == dst / "build" / "firmware.elf" and res.elf.is_file()
    assert str(dst) in (dst / "build" / "CMakeCache.txt").read_text()
