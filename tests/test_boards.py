"""Board targets: the shipped YAMLs load with datasheet figures, and bad YAMLs give one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ofa_mcu.boards import Board, board_names, list_boards, load_board
from ofa_mcu.errors import UserError
from ofa_mcu.resources import targets_dir
from ofa_mcu.runtimes import get_runtime, runtimes

REPO = Path(__file__).resolve().parents[1]
KB = 1024
MB = 1024 * 1024


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "ofa_mcu", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _base_dict(name: str = "myboard") -> dict[str, Any]:
    data = yaml.safe_load((targets_dir() / "nucleo-f746zg.yaml").read_text())
    data["name"] = name
    return data


def _write(tmp_path: Path, data: Any, name: str = "myboard") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# shipped boards ------------------------------------------------------------------------------

EXPECTED_BOARDS = {
    "nucleo-f746zg",
    "stm32f746g-disco",
    "nucleo-f767zi",
    "nucleo-h743zi",
    "nucleo-l4r5zi",
    "nucleo-f412zg",
    "nrf52840-dk",
    "nrf5340-dk",
    "arduino-nano-33-ble",
    "qemu-mps2-an386",
    "qemu-mps2-an500",
    "qemu-netduinoplus2",
    "qemu-microbit",
    # no board support (no firmware fields): analysis, search and export only
    "rpi-pico",
    "teensy-41",
    "adafruit-feather-m4",
    "apollo4-plus-evb",
}
WITHOUT_BSP = {"rpi-pico": "rp2040", "teensy-41": "imxrt1062", "adafruit-feather-m4": "samd51",
               "apollo4-plus-evb": "apollo4"}


def test_all_shipped_boards_load_and_names_match_stems() -> None:
    assert set(board_names()) == EXPECTED_BOARDS
    boards = list_boards()
    assert [b.name for b in boards] == sorted(EXPECTED_BOARDS)
    for board in boards:
        assert isinstance(board, Board)
        assert (targets_dir() / f"{board.name}.yaml").is_file()
        assert board.usable_sram("tflm") > 0 and board.usable_flash("tflm") > 0
        assert board.usable_sram("native") > board.usable_sram("tflm")
        assert board.usable_flash("native") > board.usable_flash("tflm")
        assert board.arena.name == board.memory.arena_region
        for runtime in ("tflm", "native"):
            # the YAML's kinds, plus softmax (optional in a YAML) from the runtime's defaults for the core
            assert set(board.latency[runtime].cycles_per_mac) == {"conv", "depthwise", "pointwise", "add", "avgpool",
                                                                  "fc", "softmax"}


def test_load_by_path_equals_load_by_name() -> None:
    by_name = load_board("nrf52840-dk")
    by_path = load_board(str(targets_dir() / "nrf52840-dk.yaml"))
    assert by_name == by_path


def test_nucleo_f746zg_datasheet_figures() -> None:
    b = load_board("nucleo-f746zg")
    assert (b.core, b.fpu, b.dsp, b.family) == ("cortex-m7", "fpv5-sp-d16", True, "stm32f7")
    assert b.clock_hz == 216_000_000
    assert (b.memory.flash.origin, b.memory.flash.size) == (0x0800_0000, 1 * MB)
    assert b.sram_total == 320 * KB and b.arena.origin == 0x2000_0000
    assert (b.uart.instance, b.uart.base, b.uart.tx_pin, b.uart.rx_pin) == (
        "USART3",
        0x4000_4800,
        "PD8",
        "PD9",
    )
    assert b.cycle_counter == "dwt" and not b.emulated and b.flash_tool.tool == "openocd"
    assert b.gcc_cpu_flags() == ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"]
    # usable = arena region - stack (same region) - runtime static - reserve
    mem = b.memory
    assert (
        b.usable_sram("tflm")
        == 320 * KB - mem.stack_bytes - b.runtime["tflm"].static_bytes - mem.reserve_sram_bytes
    )
    assert b.usable_flash("native") == 1 * MB - b.runtime["native"].code_bytes - mem.reserve_flash_bytes


def test_nrf52840_dk_datasheet_figures() -> None:
    b = load_board("nrf52840-dk")
    assert (b.core, b.fpu, b.family, b.clock_hz) == ("cortex-m4", "fpv4-sp-d16", "nrf52", 64_000_000)
    assert (b.memory.flash.origin, b.memory.flash.size) == (0x0, 1 * MB)
    assert [(r.origin, r.size) for r in b.memory.ram] == [(0x2000_0000, 256 * KB)]
    assert (b.uart.instance, b.uart.base, b.uart.tx_pin, b.uart.rx_pin) == (
        "UARTE0",
        0x4000_2000,
        "P0.06",
        "P0.08",
    )
    assert b.flash_tool.tool == "nrfjprog" and b.flash_tool.args == ["--family", "NRF52"]


def test_nucleo_h743zi_split_banks() -> None:
    b = load_board("nucleo-h743zi")
    banks = {r.name: (r.origin, r.size) for r in b.memory.ram}
    assert banks == {
        "dtcm": (0x2000_0000, 128 * KB),
        "axi_sram": (0x2400_0000, 512 * KB),
        "sram123": (0x3000_0000, 288 * KB),
        "sram4": (0x3800_0000, 64 * KB),
    }
    assert b.memory.flash.size == 2 * MB
    # the stack lives in DTCM, so the arena region loses only runtime static data and the reserve
    assert b.memory.stack_region == "dtcm" and b.arena.name == "axi_sram"
    assert b.usable_sram("tflm") == 512 * KB - b.runtime["tflm"].static_bytes - b.memory.reserve_sram_bytes


def test_qemu_microbit_datasheet_figures() -> None:
    b = load_board("qemu-microbit")
    assert (b.core, b.fpu, b.dsp, b.clock_hz) == ("cortex-m0", "none", False, 16_000_000)
    assert (b.memory.flash.size, b.sram_total) == (256 * KB, 16 * KB)
    assert (b.uart.base, b.cycle_counter) == (0x4000_2000, "systick")
    assert b.emulated and b.qemu is not None and b.qemu.machine == "microbit"
    assert b.gcc_cpu_flags() == ["-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"]


def test_emulated_boards_match_design_table() -> None:
    machines = {b.name: b.qemu.machine for b in list_boards() if b.qemu is not None}
    assert machines == {
        "qemu-mps2-an386": "mps2-an386",
        "qemu-mps2-an500": "mps2-an500",
        "qemu-netduinoplus2": "netduinoplus2",
        "qemu-microbit": "microbit",
    }
    uarts = {
        "mps2-an386": 0x4000_4000,
        "mps2-an500": 0x4000_4000,
        "netduinoplus2": 0x4001_1000,
        "microbit": 0x4000_2000,
    }
    for b in list_boards():
        if b.qemu is not None:
            assert b.cycle_counter == "systick" and b.flash_tool.tool == "none"
            assert b.uart.base == uarts[b.qemu.machine]


def test_sizes_accept_ints_and_unit_strings(tmp_path: Path) -> None:
    data = _base_dict()
    data["memory"]["ram"][0]["size"] = 327680
    data["memory"]["flash"]["size"] = "1M"
    data["memory"]["stack_bytes"] = "8KB"
    data["memory"]["ram"][0]["origin"] = "0x20000000"
    b = load_board(str(_write(tmp_path, data)))
    assert (b.sram_total, b.memory.flash.size, b.memory.stack_bytes, b.arena.origin) == (
        320 * KB,
        MB,
        8 * KB,
        0x2000_0000,
    )


def test_latency_defaults_from_core_when_left_out(tmp_path: Path) -> None:
    data = _base_dict()
    del data["latency"]
    b = load_board(str(_write(tmp_path, data)))
    assert set(b.latency["native"].cycles_per_op) == {"conv", "depthwise", "pointwise", "add", "avgpool", "fc", "softmax"}
    assert b.latency["native"].cycles_per_mac["pointwise"] < b.latency["tflm"].cycles_per_mac["pointwise"]


def test_latency_defaults_follow_the_kernels_a_core_runs(tmp_path: Path) -> None:
    """Cores without the DSP extension run the portable C loops, not the DSP ones: a Cortex-M3 and
    an M33 built +nodsp get the portable table (M3 at 1.2 cycles an instruction), an M33 with DSP the
    M4 one; TFLM's CMSIS-NN table follows the same way."""
    native, tflm = get_runtime("native").default_latency, get_runtime("tflm").default_latency
    data = yaml.safe_load((targets_dir() / "nrf5340-dk.yaml").read_text())
    data["name"] = "myboard"
    del data["latency"]
    m33 = load_board(str(_write(tmp_path, data)))
    data["dsp"] = False
    m33_nodsp = load_board(str(_write(tmp_path, data)))
    assert m33.latency["native"].cycles_per_mac == native["cortex-m4"]["cycles_per_mac"]
    assert m33_nodsp.latency["native"].cycles_per_mac == native["cortex-m33+nodsp"]["cycles_per_mac"]
    assert m33_nodsp.latency["native"].cycles_per_mac["pointwise"] > 2 * m33.latency["native"].cycles_per_mac["pointwise"]
    cmsis = m33_nodsp.latency["tflm"].kernels["cmsis-nn"].cycles_per_mac
    assert cmsis == tflm["cortex-m33+nodsp"]["kernels"]["cmsis-nn"]["cycles_per_mac"] != tflm["cortex-m33"][
        "kernels"]["cmsis-nn"]["cycles_per_mac"]
    m3 = native["cortex-m3"]["cycles_per_mac"]
    assert m3["pointwise"] == pytest.approx(1.2 * native["cortex-m33+nodsp"]["cycles_per_mac"]["pointwise"])


def test_latency_optional_kinds_default_to_the_core(tmp_path: Path) -> None:
    """A YAML table without softmax gets the runtime's figure for the core; one that gives it keeps it;
    a required kind left out is still an error naming it."""

    data = _base_dict()
    b = load_board(str(_write(tmp_path, data)))
    core_default = get_runtime("tflm").default_latency[b.core]["cycles_per_mac"]["softmax"]
    assert "softmax" not in data["latency"]["tflm"]["cycles_per_mac"]  # the YAML gives the six required kinds
    assert b.latency["tflm"].cycles_per_mac["softmax"] == core_default
    data["latency"]["tflm"]["cycles_per_mac"]["softmax"] = 123.0
    assert load_board(str(_write(tmp_path, data))).latency["tflm"].cycles_per_mac["softmax"] == 123.0
    del data["latency"]["tflm"]["cycles_per_mac"]["avgpool"]
    with pytest.raises(UserError, match="missing op kind.*avgpool"):
        load_board(str(_write(tmp_path, data)))
    # a table written before the global pooling became AVERAGE_POOL_2D is told what to rename
    data["latency"]["tflm"]["cycles_per_mac"]["mean"] = 6.0
    with pytest.raises(UserError, match="rename mean to avgpool"):
        load_board(str(_write(tmp_path, data)))


def test_unknown_runtime_is_a_user_error() -> None:
    with pytest.raises(UserError, match="no runtime figures for 'tvm'"):
        load_board("nucleo-f746zg").usable_sram("tvm")


def test_boards_without_board_support_datasheet_figures() -> None:
    """The boards shipped without firmware fields: chip figures, where the arena goes, what is refused."""
    pico = load_board("rpi-pico")
    assert (pico.core, pico.fpu, pico.dsp, pico.clock_hz) == ("cortex-m0plus", "none", False, 133_000_000)
    assert (pico.sram_total, pico.memory.flash.size, pico.memory.flash.origin) == (264 * KB, 2 * MB, 0x1000_0000)
    teensy = load_board("teensy-41")
    assert (teensy.core, teensy.fpu, teensy.clock_hz, teensy.sram_total) == ("cortex-m7", "fpv5-d16", 600_000_000, MB)
    # the arena lives in OCRAM2, never in the TCMs whose split depends on the code size
    assert (teensy.arena.name, teensy.arena.origin, teensy.arena.size) == ("ocram2", 0x2020_0000, 512 * KB)
    assert teensy.memory.stack_region == "dtcm" and teensy.memory.flash.size == 8 * MB
    samd = load_board("adafruit-feather-m4")
    assert (samd.core, samd.fpu, samd.clock_hz, samd.sram_total, samd.memory.flash.size) == (
        "cortex-m4", "fpv4-sp-d16", 120_000_000, 192 * KB, 512 * KB)
    apollo = load_board("apollo4-plus-evb")
    assert (apollo.core, apollo.clock_hz, apollo.memory.flash.size) == ("cortex-m4", 192_000_000, 2 * MB)
    assert apollo.sram_total == 2816 * KB and (apollo.arena.name, apollo.arena.size) == ("ssram", MB)
    for name, family in WITHOUT_BSP.items():
        b = load_board(name)
        assert b.family == family and (b.uart, b.cycle_counter, b.flash_tool, b.qemu) == (None, None, None, None)
        assert b.firmware_problem() == f"family {family!r} has no board support"
        # latency coefficients: each runtime's defaults for the core
        for rt in runtimes():
            table = b.latency[rt.name]
            assert table == type(table).model_validate(rt.default_latency[b.core])
        with pytest.raises(UserError) as info:
            b.require_firmware()
        msg = str(info.value)
        assert "\n" not in msg and msg.startswith(f"board {name}: family {family!r} has no board support")
        assert "ofa-mcu compile --format library" in msg
    # every shipped board with board support keeps it
    for b in list_boards():
        if b.name not in WITHOUT_BSP:
            assert b.firmware_problem() is None, b.name


def test_firmware_fields_are_optional_but_checked_when_given(tmp_path: Path) -> None:
    data = _base_dict()
    for key in ("family", "uart", "cycle_counter", "flash_tool"):
        del data[key]
    b = load_board(str(_write(tmp_path, data)))
    assert b.family is None and b.usable_sram("tflm") == load_board("nucleo-f746zg").usable_sram("tflm")
    assert b.firmware_problem() == "its YAML has no family"
    data["family"] = "stm32f7"
    b = load_board(str(_write(tmp_path, data)))
    assert b.firmware_problem() == "its YAML has no uart and no cycle_counter and no flash_tool (family stm32f7)"
    # a supported family still constrains the core; a family name must look like one
    data["family"] = "nrf51"
    with pytest.raises(UserError, match=r"myboard.yaml: core: family nrf51 has a cortex-m0 core"):
        load_board(str(_write(tmp_path, data)))
    data["family"] = "STM32 F7!"
    with pytest.raises(UserError, match=r"myboard.yaml: family: expected a lower-case family name"):
        load_board(str(_write(tmp_path, data)))


# errors ----------------------------------------------------------------------------------------


def _set(path: list[Any], value: Any) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        target: Any = d
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _drop(path: list[Any]) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        target: Any = d
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _add_bank(d: dict[str, Any]) -> None:
    d["memory"]["ram"].append({"name": "sram2", "origin": 0x3000_0000, "size": -5})


ERROR_CASES = [
    ("unknown key", _set(["memory", "ram_size"], 5), "memory.ram_size", "unknown key"),
    ("missing field", _drop(["uart", "base"]), "uart.base", "missing required field"),
    (
        "negative size",
        _set(["memory", "ram", 0, "size"], -5),
        "memory.ram[0].size",
        "expected a positive size in bytes",
    ),
    ("negative size, 2nd bank", _add_bank, "memory.ram[1].size", "got -5"),
    ("wrong type", _set(["vendor"], 42), "vendor", "expected a string, got 42"),
    ("wrong type, list", _set(["memory", "ram"], "320K"), "memory.ram", "expected a list"),
    ("bad enum", _set(["core"], "cortex-m99"), "core", "expected one of"),
    ("bad arena_region", _set(["memory", "arena_region"], "dtcm"), "memory.arena_region", "got 'dtcm'"),
    ("bad stack_region", _set(["memory", "stack_region"], "ccm"), "memory.stack_region", "got 'ccm'"),
    (
        "fpu on an M0",
        lambda d: d.update(core="cortex-m0", family="mps2", dsp=False, cycle_counter="systick"),
        "fpu",
        "cortex-m0",
    ),
    ("dwt in QEMU", _set(["qemu"], {"machine": "mps2-an500"}), "cycle_counter", "systick"),
    (
        "reserves too big",
        _set(["memory", "reserve_sram_bytes"], "400K"),
        "memory.reserve_sram_bytes",
        "no SRAM",
    ),
    ("missing op kind", _drop(["latency", "tflm", "cycles_per_mac", "fc"]), "latency.tflm.cycles_per_mac", "fc"),
    ("name mismatch", _set(["name"], "other"), "name", "expected 'myboard'"),
]


@pytest.mark.parametrize(
    ("mutate", "field", "expected"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_bad_board_gives_one_line_error_naming_file_and_field(
    tmp_path: Path, mutate: Any, field: str, expected: str
) -> None:
    data = _base_dict()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(UserError) as info:
        load_board(str(path))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {field}: "), message
    assert expected in message


def test_bad_yaml_syntax(tmp_path: Path) -> None:
    path = tmp_path / "myboard.yaml"
    path.write_text("name: myboard\nmemory: {flash: [1, 2\n")
    with pytest.raises(UserError) as info:
        load_board(str(path))
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: invalid YAML at line ")


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = tmp_path / "myboard.yaml"
    path.write_text("name: myboard\nname: myboard\n")
    with pytest.raises(UserError, match="duplicate key 'name'"):
        load_board(str(path))


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "myboard.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(UserError, match="expected a mapping"):
        load_board(str(path))


def test_unknown_board_name_lists_known_names() -> None:
    with pytest.raises(UserError) as info:
        load_board("nucleo-f999zz")
    message = str(info.value)
    assert "\n" not in message and "unknown board 'nucleo-f999zz'" in message
    assert "nucleo-f746zg" in message and "qemu-microbit" in message


def test_missing_board_file() -> None:
    with pytest.raises(UserError, match="no such board file"):
        load_board("does/not/exist.yaml")


def test_shipped_board_errors_name_targets_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ofa_mcu.boards as boards_mod

    fake = tmp_path / "targets"
    fake.mkdir()
    data = _base_dict("broken")
    data["memory"]["ram"][0]["size"] = -5
    _write(fake, data, "broken")
    monkeypatch.setattr(boards_mod, "targets_dir", lambda: fake)
    with pytest.raises(UserError) as info:
        load_board("broken")
    assert str(info.value).startswith("targets/broken.yaml: memory.ram[0].size: expected a positive size")


# CLI -------------------------------------------------------------------------------------------


def test_cli_boards_json() -> None:
    result = _run_cli("boards", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == sorted(EXPECTED_BOARDS)
    f746 = next(r for r in rows if r["name"] == "nucleo-f746zg")
    assert f746["memory"]["flash"]["size"] == MB and f746["sram_total"] == 320 * KB
    assert f746["usable_sram"]["tflm"] == load_board("nucleo-f746zg").usable_sram("tflm")
    assert f746["emulated"] is False and f746["qemu"] is None and f746["firmware_problem"] is None
    pico = next(r for r in rows if r["name"] == "rpi-pico")
    assert pico["family"] == "rp2040" and pico["uart"] is None
    assert pico["firmware_problem"] == "family 'rp2040' has no board support"


def test_cli_boards_table() -> None:
    result = _run_cli("boards")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["name", "core"]
    assert len(lines) == 1 + len(EXPECTED_BOARDS)
    microbit = next(line for line in lines if line.startswith("qemu-microbit"))
    assert microbit.split()[-2:] == ["yes", "microbit"]
    for name in WITHOUT_BSP:
        row = next(line for line in lines if line.startswith(name + " "))
        assert row.split()[-2:] == ["no", "-"], row


def test_cli_bad_board_exits_2_with_one_line(tmp_path: Path) -> None:
    data = _base_dict()
    data["memory"]["arena_region"] = "nowhere"
    path = _write(tmp_path, data)
    result = _run_cli("boards", str(path))
    assert result.returncode == 2
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in result.stderr
    assert "memory.arena_region" in err[0] and str(path) in err[0]

    result = _run_cli("boards", "no-such-board")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
