"""Energy per inference (an estimate from the board YAML's datasheet figures) and the MLPerf Tiny
energy mode of the firmware: YAML validation, the arithmetic, the search constraint, the family
table, energy-mode builds for every board with a timestamp pin, and an energy-mode firmware
talking the protocol in QEMU."""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from helpers import require_tool, run_cli

from ofa_mcu.boards import board_from_dict, list_boards, load_board
from ofa_mcu.config import SubnetConfig
from ofa_mcu.energy import energy_uj, require_power, run_current_ma, run_power_mw
from ofa_mcu.errors import UserError
from ofa_mcu.firmware import build_project, config_defines, render_project
from ofa_mcu.resources import targets_dir

FIXTURES = Path(__file__).parent / "fixtures"
SUM_MODEL = {"main.c": (FIXTURES / "sum_model" / "main.c").read_text()}
REAL_WITH_FIRMWARE = [b.name for b in list_boards() if b.firmware_problem() is None and not b.emulated]


def _board_dict(name: str) -> dict:
    return yaml.safe_load((targets_dir() / f"{name}.yaml").read_text())


# ------------------------------------------------------------------------------------------
# board figures and the arithmetic


def test_shipped_power_figures_and_the_arithmetic():
    f746, f412, micro = load_board("nucleo-f746zg"), load_board("nucleo-f412zg"), load_board("qemu-microbit")
    assert run_current_ma(f746) == 102 and run_power_mw(f746) == pytest.approx(102 * 3.3)
    # per MHz: 112 uA/MHz at 100 MHz = 11.2 mA
    assert run_current_ma(f412) == pytest.approx(11.2)
    # ms x mA x V = uJ: 10 ms at 4.4 mA and 3.3 V is 145.2 uJ
    assert energy_uj(micro, 10.0) == pytest.approx(145.2)
    assert energy_uj(micro, None) is None
    # figures are optional: a board without them has no energy figure, and a limit is refused
    an386 = load_board("qemu-mps2-an386")
    assert an386.power is None and run_power_mw(an386) is None and energy_uj(an386, 5.0) is None
    with pytest.raises(UserError, match=r"^board qemu-mps2-an386: --energy-uj needs the datasheet figures"):
        require_power(an386)
    # every shipped figure is plausible: 0.1 mW .. 2 W of run power
    for b in list_boards():
        mw = run_power_mw(b)
        assert mw is None or 0.1 < mw < 2000, b.name


@pytest.mark.parametrize("power, message", [
    ({"supply_v": 12, "run_current_ma": 5}, r"power\.supply_v: expected a value in 0\.5 \.\. 5\.5 V, got 12"),
    ({"supply_v": 3.3}, r"power\.run_current_ma: expected exactly one of run_current_ma .* got neither"),
    ({"supply_v": 3.3, "run_current_ma": 5, "run_current_ua_per_mhz": 100}, r"got run_current_ma and run_current_ua_per_mhz"),
    ({"supply_v": 3.3, "run_current_ma": -1}, r"power\.run_current_ma: expected a positive number, got -1"),
    ({"supply_v": 3.3, "run_current_ma": 5000}, r"power\.run_current_ma: expected a value in 0\.01 \.\. 2,000 mA"),
    ({"supply_v": "3V", "run_current_ma": 5}, r"power\.supply_v: expected a positive number, got '3V'"),
    ({"supply_v": 3.3, "run_current_ma": 5, "watts": 1}, r"power\.watts"),
])
def test_bad_power_figures_are_one_line_errors(power, message):
    data = {**_board_dict("nucleo-f746zg"), "power": power}
    with pytest.raises(UserError) as e:
        board_from_dict(data, "my-board.yaml")
    assert "\n" not in str(e.value) and str(e.value).startswith("my-board.yaml: ")
    assert re.search(message, str(e.value)), str(e.value)


def test_per_mhz_figure_checked_at_the_board_clock_and_timestamp_pin_shape():
    data = {**_board_dict("nucleo-h743zi"), "power": {"supply_v": 3.3, "run_current_ua_per_mhz": 4999}}
    data["clock_hz"] = 480_000_000
    with pytest.raises(UserError, match=r"power\.run_current_ua_per_mhz: gives 2399\.52 mA at clock_hz 480000000"):
        board_from_dict(data, "h7.yaml")
    with pytest.raises(UserError, match=r"h7\.yaml: timestamp_pin: expected a stm32h7 GPIO like 'PF13', got 'P1\.08'"):
        board_from_dict({**_board_dict("nucleo-h743zi"), "timestamp_pin": "P1.08"}, "h7.yaml")
    with pytest.raises(UserError, match=r"timestamp_pin: expected a nrf52 GPIO like 'P1\.08', got 'PF13'"):
        board_from_dict({**_board_dict("nrf52840-dk"), "timestamp_pin": "PF13"}, "dk.yaml")


# ------------------------------------------------------------------------------------------
# the search constraint


def test_search_energy_limit_binds_and_is_reported(trained, tmp_path):
    from ofa_mcu.checkpoint import load_checkpoint
    from ofa_mcu.ir import build_graph
    from ofa_mcu.search.latency import board_latency

    ckpt = trained[0] / "checkpoint.pt"
    space, board = load_checkpoint(ckpt).space, load_board("qemu-netduinoplus2")
    lat = board_latency(board, "native")
    lo, hi = (lat.ms(build_graph(space, c)) for c in (SubnetConfig.min(space), SubnetConfig.max(space)))
    limit = (lo + hi) / 2 * run_power_mw(board)
    proc = run_cli("search", "--checkpoint", str(ckpt), "--target", "qemu-netduinoplus2", "--runtime", "native",
                   "--energy-uj", f"{limit:.4f}", "--predictor-samples", "12", "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    b = json.loads(proc.stdout)["boards"]["qemu-netduinoplus2"]
    assert b["energy_uj"] <= limit and b["energy_margin_uj"] >= 0
    assert b["energy_uj"] == pytest.approx(b["latency_ms"] * 40 * 3.3, rel=1e-3)
    assert b["limits"]["energy_uj"] == pytest.approx(limit, rel=1e-6)
    assert b["limits"]["energy_model"]["note"].startswith("estimate:")
    assert all(c["energy_uj"] <= limit for c in b["candidates"])
    # below the smallest subnet's energy: nothing fits, one line, exit 2
    proc = run_cli("search", "--checkpoint", str(ckpt), "--target", "qemu-netduinoplus2", "--runtime", "native",
                   "--energy-uj", f"{lo * run_power_mw(board) / 2:.4f}", "--out", str(tmp_path / "none"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert re.search(r"no subnet fits qemu-netduinoplus2 \(native\): smallest takes an estimated [\d.]+ uJ", proc.stderr)
    assert not (tmp_path / "none" / "search.json").exists()


def test_energy_limit_on_a_board_without_figures_is_refused_before_any_work(tmp_path):
    proc = run_cli("search", "--checkpoint", str(tmp_path / "no-such-checkpoint"), "--target", "qemu-mps2-an386",
                   "--energy-uj", "100", "--out", str(tmp_path / "s"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "board qemu-mps2-an386: --energy-uj needs the datasheet figures power.supply_v" in proc.stderr


def test_family_table_shows_the_estimate():
    from ofa_mcu.report.data import BoardReport
    from ofa_mcu.report.render import energy_label

    br = BoardReport(name="qemu-microbit", board=load_board("qemu-microbit"),
                     search={"latency_ms": 20.0, "subnet_hash": "x"})
    assert energy_label(br) == f"{20.0 * 4.4 * 3.3:,.1f} uJ (estimate)"
    br = BoardReport(name="qemu-mps2-an386", board=load_board("qemu-mps2-an386"), search={"latency_ms": 20.0})
    assert energy_label(br) == "-"


# ------------------------------------------------------------------------------------------
# the MLPerf Tiny energy mode of the firmware


def test_energy_mode_defines_and_refusals():
    for name in REAL_WITH_FIRMWARE + ["qemu-microbit"]:
        d = {x["name"]: x["value"] for x in config_defines(load_board(name), energy_mode=True)}
        assert d["BSP_ENERGY_MODE"] == "1" and d["BSP_UART_BAUD"] == "9600u", name
        normal = {x["name"]: x["value"] for x in config_defines(load_board(name))}
        assert "BSP_ENERGY_MODE" not in normal and normal["BSP_UART_BAUD"] == "115200u"
    f746 = {x["name"]: x["value"] for x in config_defines(load_board("nucleo-f746zg"), energy_mode=True)}
    assert (f746["BSP_TS_PORT"], f746["BSP_TS_PIN"]) == ("5", "13")  # PF13
    dk = {x["name"]: x["value"] for x in config_defines(load_board("nrf52840-dk"), energy_mode=True)}
    assert (dk["BSP_TS_PORT"], dk["BSP_TS_PIN"], dk["BSP_UART_NRF_BAUDRATE"]) == ("1", "8", "0x00275000u")
    for name in ("qemu-mps2-an386", "qemu-netduinoplus2"):
        with pytest.raises(UserError, match=rf"^board {name}: --energy-mode needs timestamp_pin in its YAML"):
            config_defines(load_board(name), energy_mode=True)


def test_compile_energy_mode_without_timestamp_pin_is_one_line(tmp_path):
    proc = run_cli("compile", "--checkpoint", str(tmp_path / "none"), "--target", "qemu-mps2-an386",
                   "--subnet", str(tmp_path / "none.json"), "--energy-mode", "--out", str(tmp_path / "fw"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "board qemu-mps2-an386: --energy-mode needs timestamp_pin" in proc.stderr
    assert not (tmp_path / "fw").exists()


def _symbol_size(elf: Path, name: str) -> int:
    out = subprocess.run(["arm-none-eabi-nm", "--print-size", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == name:
            return int(parts[1], 16)
    raise AssertionError(f"{name} not in {elf}")


def test_energy_mode_builds_for_every_real_board(tmp_path):
    """Every real board with board support builds in the energy mode with -Werror; the timestamp
    function really drives a pin there (it is a no-op in the performance build)."""
    require_tool("arm-none-eabi-gcc")
    require_tool("cmake")

    def one(name):
        energy = render_project(name, tmp_path / f"{name}-energy", SUM_MODEL, runtime="test",
                                model_name="sum-fixture", energy_mode=True)
        normal = render_project(name, tmp_path / f"{name}-perf", SUM_MODEL, runtime="test", model_name="sum-fixture")
        return name, build_project(energy, jobs=1), build_project(normal, jobs=1)

    with ThreadPoolExecutor(max_workers=2) as pool:
        built = list(pool.map(one, REAL_WITH_FIRMWARE))
    assert {load_board(n).family for n, _, _ in built} >= {"stm32f4", "stm32f7", "stm32l4", "stm32h7", "nrf52", "nrf53"}
    for name, energy, normal in built:
        assert json.loads((energy.project_dir / "project.json").read_text())["energy_mode"] is True
        assert "#define BSP_ENERGY_MODE" in (energy.project_dir / "config" / "board_config.h").read_text()
        assert _symbol_size(energy.elf, "bsp_timestamp") > _symbol_size(normal.elf, "bsp_timestamp"), name
        assert _symbol_size(energy.elf, "bsp_timestamp_init") > _symbol_size(normal.elf, "bsp_timestamp_init"), name


def test_energy_mode_protocol_in_qemu(tmp_path):
    """An energy-mode firmware on the emulated micro:bit: the energy banner, no m-lap-us lines,
    every other reply as in the performance mode (same results)."""
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    from ofa_mcu.profiler import Device
    from ofa_mcu.qemu import run_qemu

    board = load_board("qemu-microbit")
    replies = {}
    for mode in ("energy", "performance"):
        proj = render_project(board, tmp_path / mode, SUM_MODEL, runtime="test", model_name="sum-fixture",
                              energy_mode=mode == "energy")
        elf = build_project(proj, jobs=1).elf
        x = bytes((i * 29 + 3) % 256 for i in range(96))
        with run_qemu(elf, board, timeout_s=60) as session:
            with Device(session.url, timeout_s=10) as dev:
                import time

                banner, deadline = [], time.monotonic() + 20  # QEMU starts the guest when we connect
                while (line := dev.read_line(deadline)) not in (None, "m-ready"):
                    banner.append(line)
                dev.sync()
                assert dev.command(f"db load {len(x)}") == [f"m-[Expecting {len(x)} bytes]"]
                for i in range(0, len(x), 32):
                    dev.command("db " + x[i:i + 32].hex())
                replies[mode] = (banner, dev.command("infer 3 1", timeout_s=30), dev.command("results"), dev.outputs())
    energy, perf = replies["energy"], replies["performance"]
    assert energy[0] == ["m-timestamp-mode-energy", "m-init-done"]
    assert perf[0] == ["m-timestamp-mode-performance", "m-init-done"]
    assert energy[1][:3] == perf[1][:3] == ["m-warmup-start-1", "m-warmup-done", "m-infer-start-3"]
    assert [ln for ln in perf[1] if ln.startswith("m-lap-us-")] and not [ln for ln in energy[1] if "lap-us" in ln]
    assert energy[1] == [ln for ln in perf[1] if not ln.startswith("m-lap-us-")]
    assert energy[2] == perf[2] and energy[3] == perf[3]


def test_device_keeps_a_banner_sent_while_it_connects(tmp_path, monkeypatch):
    """QEMU starts the guest when the serial client connects; a banner that arrives before pyserial's
    socket handler has finished opening must still be read (it drains its input on open). The
    connection is slowed down here so that the banner always arrives in that window."""
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    import socket
    import time

    from ofa_mcu.profiler import Device
    from ofa_mcu.qemu import run_qemu

    board = load_board("qemu-microbit")
    proj = render_project(board, tmp_path / "fw", SUM_MODEL, runtime="test", model_name="sum-fixture")
    elf = build_project(proj, jobs=1).elf
    connect = socket.create_connection

    def slow_connect(*args, **kwargs):
        s = connect(*args, **kwargs)
        time.sleep(1.0)  # the guest boots and prints its banner meanwhile
        return s

    monkeypatch.setattr(socket, "create_connection", slow_connect)
    with run_qemu(elf, board, timeout_s=60) as session:
        with Device(session.url, timeout_s=10) as dev:
            banner, deadline = [], time.monotonic() + 20
            while (line := dev.read_line(deadline)) not in (None, "m-ready"):
                banner.append(line)
    assert banner == ["m-timestamp-mode-performance", "m-init-done"]
