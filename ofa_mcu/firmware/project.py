"""Generated firmware projects: rendering (templates/project/ + firmware/ sources) and building.

Owns the layout of a generated project, the template context the project templates read, the
derived board settings written to ``config/board_config.h`` (STM32 PLL factors, bus prescalers,
flash wait states, UART pins and baud-rate register values), and the CMake build with its size
report. A project is self-contained: the BSP and runner sources it needs are copied into it.

Layout of a rendered project::

    CMakeLists.txt  Makefile  arm-none-eabi.cmake  linker.ld  project.json
    config/board_config.h
    firmware/bsp/...  firmware/runner/...  [firmware/<subdir>/... for runtime code]
    model/<model sources>
    [README.md from the runtime's readme_template]  [extra files at the root]
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ofa_mcu import __version__
from ofa_mcu.atomic import check_writable, write_text
from ofa_mcu.boards import Board, load_board
from ofa_mcu.errors import UserError, WorkFailed
from ofa_mcu.resources import firmware_dir, templates_dir

PROJECT_INFO = "project.json"
TEMPLATE_DIR = "project"
DEFAULT_CMAKE_TEMPLATE = "project/CMakeLists.txt.j2"

BSP_COMMON: tuple[str, ...] = ("bsp.h", "bsp_internal.h", "bsp.c", "startup.c", "cycles.c", "semihost.c")
BSP_FAMILY: dict[str, tuple[str, ...]] = {
    "mps2": ("clock_mps2.c", "uart_cmsdk.c"),
    "stm32f4": ("stm32_rcc.h", "clock_stm32f4.c", "uart_stm32.c"),
    "stm32f7": ("stm32_rcc.h", "clock_stm32f7.c", "cache_armv7m.c", "uart_stm32.c"),
    "stm32l4": ("stm32_rcc.h", "clock_stm32l4.c", "uart_stm32.c"),
    "stm32h7": ("stm32_rcc.h", "clock_stm32h7.c", "cache_armv7m.c", "uart_stm32.c"),
    "nrf51": ("clock_nrf5x.c", "uart_nrf51.c"),
    "nrf52": ("clock_nrf5x.c", "uarte_nrf5x.c"),
    "nrf53": ("clock_nrf5x.c", "uarte_nrf5x.c"),
}
RUNNER_FILES: tuple[str, ...] = ("runner.h", "runner.c")
COMPILED_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".S", ".s")
CXX_SUFFIXES = (".cc", ".cpp", ".cxx")

# Default source trees a runtime needs (CMake FATAL_ERROR when missing or wrong).
_RUNTIME_DIRS: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]] = {
    "tflm": (
        [
            {
                "var": "TFLM_DIR",
                "check": "tensorflow/lite/micro/micro_interpreter.h",
                "what": "a TFLM source tree",
                "hint": "Create one with tensorflow/lite/micro/tools/project_generation/"
                "create_tflm_tree.py from a tflite-micro checkout.",
            }
        ],
        [
            {
                "var": "CMSIS_NN_DIR",
                "check": "Include/arm_nnfunctions.h",
                "what": "a CMSIS-NN source tree",
                "hint": "Clone ARM-software/CMSIS-NN, or leave CMSIS_NN_DIR unset for reference kernels.",
            }
        ],
    ),
}
_RUNTIME_SUBDIRS: dict[str, tuple[str, ...]] = {"native": ("kernels",), "tflm": ("tflm",)}


# ------------------------------------------------------------------------------------------
# derived board settings


@dataclass(frozen=True)
class _Define:
    name: str
    value: str
    comment: str = ""


def _u(n: int) -> str:
    return f"{n}u"


def _hex(n: int) -> str:
    return f"0x{n:08X}u"


def _pow2_div(freq: int, max_hz: int) -> int:
    """Smallest prescaler 1, 2, 4, 8 or 16 bringing ``freq`` to at most ``max_hz``."""
    for div in (1, 2, 4, 8, 16):
        if freq // div <= max_hz and freq % div == 0:
            return div
    return 16


def _stm32_f4f7_plan(board: Board) -> dict[str, int]:
    """Main PLL from HSI 16 MHz: /M=8 (2 MHz), xN, /P (RM0090 6.3.2 / RM0385 5.3.2 ranges)."""
    f = board.clock_hz
    for p in (2, 4, 6, 8):
        vco = f * p
        if vco % 2_000_000 == 0 and 100_000_000 <= vco <= 432_000_000 and 50 <= vco // 2_000_000 <= 432:
            n = vco // 2_000_000
            break
    else:
        raise UserError(
            f"board {board.name}: clock_hz {f} cannot be made by the {board.family} main PLL from HSI "
            "16 MHz (need clock_hz * P in 100..432 MHz, a multiple of 2 MHz, P in 2/4/6/8)"
        )
    q = min(15, max(2, math.ceil(vco / 48_000_000)))
    if board.family == "stm32f4":
        apb1_max, apb2_max, ws_hz = 42_000_000, 84_000_000, 30_000_000
    else:
        apb1_max, apb2_max, ws_hz = 54_000_000, 108_000_000, 30_000_000
    return {
        "BSP_PLL_M": 8, "BSP_PLL_N": n, "BSP_PLL_P": p, "BSP_PLL_Q": q, "BSP_PLL_R": 2,
        "BSP_AHB_DIV": 1,
        "BSP_APB1_DIV": _pow2_div(f, apb1_max),
        "BSP_APB2_DIV": _pow2_div(f, apb2_max),
        "BSP_FLASH_LATENCY": max(0, math.ceil(f / ws_hz) - 1),
    }


def _stm32_l4_plan(board: Board) -> dict[str, int]:
    """PLL from HSI16: /M=1, xN (8..127), /R (2/4/6/8), VCO 64..344 MHz (RM0432 6.4.4)."""
    f = board.clock_hz
    for r in (2, 4, 6, 8):
        vco = f * r
        if vco % 16_000_000 == 0 and 64_000_000 <= vco <= 344_000_000 and 8 <= vco // 16_000_000 <= 127:
            n = vco // 16_000_000
            break
    else:
        raise UserError(
            f"board {board.name}: clock_hz {f} cannot be made by the STM32L4 PLL from HSI16 "
            "(need clock_hz * R a multiple of 16 MHz in 64..344 MHz, R in 2/4/6/8)"
        )
    # Wait states: range 1 boost (L4+) 20 MHz per wait state; range 1 normal on the L4 16 MHz.
    ws_hz = 20_000_000 if f > 80_000_000 else 16_000_000
    return {
        "BSP_PLL_M": 1, "BSP_PLL_N": n, "BSP_PLL_P": 7, "BSP_PLL_Q": 2, "BSP_PLL_R": r,
        "BSP_AHB_DIV": 1, "BSP_APB1_DIV": 1, "BSP_APB2_DIV": 1,
        "BSP_FLASH_LATENCY": max(0, math.ceil(f / ws_hz) - 1),
        "BSP_STM32_L4_BOOST": int(f > 80_000_000),
    }


def _stm32_h7_plan(board: Board) -> dict[str, int]:
    """PLL1 from HSI 64 MHz: /M=4 (16 MHz, PLL1RGE 8..16), xN, /P=2; wide VCO (RM0433 8.5.2)."""
    f = board.clock_hz
    vos0 = f > 400_000_000
    vco = 2 * f
    if vco % 16_000_000 or not 192_000_000 <= vco <= 960_000_000 or f > 480_000_000:
        raise UserError(
            f"board {board.name}: clock_hz {f} cannot be made by the STM32H7 PLL1 from HSI 64 MHz "
            "(need 2 * clock_hz a multiple of 16 MHz in 192..960 MHz, clock_hz <= 480 MHz)"
        )
    hclk_max = 240_000_000 if vos0 else 200_000_000
    ahb = _pow2_div(f, hclk_max)
    hclk = f // ahb
    apb = _pow2_div(hclk, 120_000_000 if vos0 else 100_000_000)
    # FLASH_ACR LATENCY / WRHIGHFREQ against the AXI clock (RM0433 table "FLASH recommended
    # number of wait states and programming delay").
    table = ((70e6, 0, 0), (140e6, 1, 1), (185e6, 2, 1), (210e6, 2, 2), (225e6, 3, 2))
    ws, wrh = next(((w, h) for limit, w, h in table if hclk <= limit), (4, 2))
    return {
        "BSP_PLL_M": 4, "BSP_PLL_N": vco // 16_000_000, "BSP_PLL_P": 2, "BSP_PLL_Q": 4, "BSP_PLL_R": 2,
        "BSP_AHB_DIV": ahb, "BSP_APB1_DIV": apb, "BSP_APB2_DIV": apb, "BSP_APB3_DIV": apb,
        "BSP_APB4_DIV": apb, "BSP_FLASH_LATENCY": ws, "BSP_STM32_H7_WRHIGHFREQ": wrh,
        "BSP_STM32_H7_VOS0": int(vos0),
    }


def _stm32_pin(board: Board, pin: str | None, what: str) -> tuple[int, int]:
    m = re.fullmatch(r"P([A-K])(\d{1,2})", pin or "")
    if not m or int(m.group(2)) > 15:
        raise UserError(f"board {board.name}: uart.{what}: expected an STM32 pin like 'PD8', got {pin!r}")
    return ord(m.group(1)) - ord("A"), int(m.group(2))


def _nrf_pin(board: Board, pin: str | None, what: str) -> tuple[int, int]:
    m = re.fullmatch(r"P([01])\.(\d{1,2})", pin or "")
    if not m or int(m.group(2)) > 31:
        raise UserError(f"board {board.name}: uart.{what}: expected an nRF pin like 'P0.06', got {pin!r}")
    return int(m.group(1)), int(m.group(2))


def _stm32_af(board: Board) -> int:
    """Alternate function of the U(S)ART pins (datasheet "Alternate function mapping")."""
    inst = board.uart.instance.upper()
    if inst in ("USART1", "USART2", "USART3"):
        return 7
    if board.family == "stm32h7" and inst == "UART7":
        return 7
    return 8  # UART4/5, USART6, UART7/8, LPUART1


# BAUDRATE register values: nRF51 RM "UART" / nRF52840 PS "UARTE" (they differ for some rates).
_NRF51_UART_BAUD = {
    9600: 0x00275000, 14400: 0x003B0000, 19200: 0x004EA000, 28800: 0x0075F000, 38400: 0x009D5000,
    57600: 0x00EBF000, 115200: 0x01D7E000, 230400: 0x03AFB000, 460800: 0x075F7000,
    921600: 0x0EBEDFA4, 1000000: 0x10000000,
}
_NRF_UARTE_BAUD = {
    9600: 0x00275000, 14400: 0x003AF000, 19200: 0x004EA000, 28800: 0x0075C000, 38400: 0x009D0000,
    57600: 0x00EB0000, 115200: 0x01D60000, 230400: 0x03B00000, 460800: 0x07400000,
    921600: 0x0F000000, 1000000: 0x10000000,
}


def config_defines(board: Board, *, emulated: bool | None = None, semihosting: bool | None = None) -> list[dict[str, str]]:
    """The ``#define`` lines of ``board_config.h`` for ``board`` (name, value, comment)."""
    emulated = board.emulated if emulated is None else emulated
    semihosting = emulated if semihosting is None else semihosting
    fam = board.family
    d: list[_Define] = [
        _Define("BSP_BOARD_NAME", json.dumps(board.name)),
        _Define("BSP_CORE_NAME", json.dumps(board.core)),
        _Define("BSP_FAMILY_NAME", json.dumps(fam)),
        _Define(f"BSP_FAMILY_{fam.upper()}", "1"),
        _Define("BSP_CLOCK_HZ", _u(board.clock_hz), "core clock (board YAML clock_hz)"),
        _Define("BSP_EMULATED", str(int(emulated)), "1: QEMU build, clock set-up skipped"),
        _Define("BSP_SEMIHOSTING", str(int(semihosting)), "1: bsp_exit() uses semihosting SYS_EXIT"),
        _Define(
            "BSP_COUNTER_DWT", str(int(board.cycle_counter == "dwt")),
            "1: try DWT CYCCNT first (board YAML cycle_counter)",
        ),
        _Define("BSP_STACK_BYTES", _u(board.memory.stack_bytes)),
        _Define("BSP_UART_INSTANCE", json.dumps(board.uart.instance)),
        _Define("BSP_UART_BASE", _hex(board.uart.base), f"{board.uart.instance}"),
        _Define("BSP_UART_BAUD", _u(board.uart.baud)),
    ]
    uart_clock = board.clock_hz
    if fam.startswith("stm32"):
        plan = {"stm32f4": _stm32_f4f7_plan, "stm32f7": _stm32_f4f7_plan, "stm32l4": _stm32_l4_plan,
                "stm32h7": _stm32_h7_plan}[fam](board)
        plan.setdefault("BSP_STM32_OVERDRIVE", int(fam == "stm32f7" and board.clock_hz > 180_000_000))
        plan.setdefault(
            "BSP_STM32_VOS_2BIT",
            int(fam == "stm32f4" and not board.mcu.upper().startswith(("STM32F405", "STM32F407", "STM32F415", "STM32F417"))),
        )
        plan.setdefault("BSP_STM32_L4_BOOST", 0)
        plan.setdefault("BSP_STM32_H7_VOS0", 0)
        inst = board.uart.instance.upper()
        on_apb2 = inst in ("USART1", "USART6")
        hclk = board.clock_hz // plan["BSP_AHB_DIV"]
        uart_clock = hclk // plan["BSP_APB2_DIV" if on_apb2 else "BSP_APB1_DIV"]
        for name, value in plan.items():
            d.append(_Define(name, str(value)))
        tx = _stm32_pin(board, board.uart.tx_pin, "tx_pin")
        rx = _stm32_pin(board, board.uart.rx_pin, "rx_pin")
        af = _stm32_af(board)
        d += [
            _Define("BSP_UART_LPUART", str(int(inst.startswith("LPUART"))), "BRR = 256 * fck / baud"),
            _Define("BSP_UART_TX_PORT", str(tx[0]), f"{board.uart.tx_pin} (0 = port A)"),
            _Define("BSP_UART_TX_PIN", str(tx[1])),
            _Define("BSP_UART_TX_AF", str(af), "alternate function number"),
            _Define("BSP_UART_RX_PORT", str(rx[0]), f"{board.uart.rx_pin}"),
            _Define("BSP_UART_RX_PIN", str(rx[1])),
            _Define("BSP_UART_RX_AF", str(af)),
        ]
    elif fam.startswith("nrf"):
        table = _NRF51_UART_BAUD if fam == "nrf51" else _NRF_UARTE_BAUD
        if board.uart.baud not in table:
            raise UserError(
                f"board {board.name}: uart.baud: expected one of {', '.join(map(str, sorted(table)))} "
                f"for {fam}, got {board.uart.baud}"
            )
        tx = _nrf_pin(board, board.uart.tx_pin, "tx_pin")
        rx = _nrf_pin(board, board.uart.rx_pin, "rx_pin")
        if fam == "nrf51" and (tx[0] or rx[0]):
            raise UserError(f"board {board.name}: uart: the nRF51 has only port P0")
        d += [
            _Define("BSP_UART_NRF_BAUDRATE", _hex(table[board.uart.baud]), "BAUDRATE register value"),
            _Define("BSP_UART_TX_PORT", str(tx[0]), f"{board.uart.tx_pin}"),
            _Define("BSP_UART_TX_PIN", str(tx[1])),
            _Define("BSP_UART_RX_PORT", str(rx[0]), f"{board.uart.rx_pin}"),
            _Define("BSP_UART_RX_PIN", str(rx[1])),
        ]
    d.append(_Define("BSP_UART_CLOCK_HZ", _u(uart_clock), "U(S)ART kernel clock"))
    return [{"name": x.name, "value": x.value, "comment": x.comment} for x in d]


# ------------------------------------------------------------------------------------------
# rendering


def bsp_sources_for(board: Board) -> list[str]:
    """BSP file names (under ``firmware/bsp/``) a build for ``board`` needs, headers included."""
    if board.family not in BSP_FAMILY:
        raise UserError(f"board {board.name}: no board support for family {board.family!r}")
    return [*BSP_COMMON, *BSP_FAMILY[board.family]]


def _as_board(board: Board | str) -> Board:
    return board if isinstance(board, Board) else load_board(board)


def _check_rel(name: str, what: str) -> str:
    p = Path(name)
    if not name or p.is_absolute() or ".." in p.parts or name.startswith("~"):
        raise UserError(f"{what} {name!r}: expected a relative path inside the project")
    return p.as_posix()


def _data_region(board: Board, extra: Mapping[str, Any]) -> str:
    region = extra.get("data_region", board.memory.stack_region)
    names = [r.name for r in board.memory.ram]
    if region not in names:
        raise UserError(f"data_region {region!r}: expected one of {', '.join(names)}")
    return region


def template_context(
    board: Board | str,
    *,
    runtime: str = "native",
    model_name: str = "model",
    model_files: Sequence[str] = (),
    firmware_subdirs: Sequence[str] = (),
    emulated: bool | None = None,
    semihosting: bool | None = None,
    extra_context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The variables the ``templates/project/*.j2`` templates read (see the report / module doc).

    ``extra_context`` entries override the computed ones; ``defines`` (a mapping) becomes
    compile definitions of the firmware target.
    """
    board = _as_board(board)
    extra = dict(extra_context or {})
    emulated = board.emulated if emulated is None else emulated
    semihosting = emulated if semihosting is None else semihosting
    fw = firmware_dir()
    subdir_sources: list[str] = []
    for sub in firmware_subdirs:
        src = fw / sub
        if not src.is_dir():
            raise UserError(f"firmware/{sub}: no such folder in the installation ({fw})")
        subdir_sources += sorted(
            f"firmware/{sub}/{p.relative_to(src).as_posix()}"
            for p in src.rglob("*") if p.is_file() and p.name.endswith(COMPILED_SUFFIXES)
        )
    model_compile = [f"model/{f}" for f in model_files if f.endswith(COMPILED_SUFFIXES)]
    cxx = any(f.endswith(CXX_SUFFIXES) for f in [*model_files, *subdir_sources]) or bool(extra.get("cxx", False))
    cpu_flags = board.gcc_cpu_flags()
    if board.core in ("cortex-m0", "cortex-m0plus"):
        cpu_flags.append("-masm-syntax-unified")
    required, optional = _RUNTIME_DIRS.get(runtime, ([], []))
    defines = extra.pop("defines", {}) or {}
    header = [
        f"Generated by ofa-mcu {__version__} for board {board.name} ({board.mcu}, {board.core}),",
        f"model {model_name}, runtime {runtime}{' (emulated: QEMU ' + board.qemu.machine + ')' if board.qemu and emulated else ''}.",
        "Do not edit: re-render the project instead.",
    ]
    mem = board.memory
    ctx: dict[str, Any] = {
        "generator": f"ofa-mcu {__version__}",
        "header_lines": header,
        "project_name": re.sub(r"[^A-Za-z0-9_]", "_", f"ofa_{board.name}_{model_name}"),
        "board": board,
        "model_name": model_name,
        "runtime": runtime,
        "emulated": emulated,
        "semihosting": semihosting,
        "memory": {
            "flash": mem.flash,
            "ram": mem.ram,
            "arena_region": mem.arena_region,
            "stack_region": mem.stack_region,
            "data_region": _data_region(board, extra),
            "stack_bytes": mem.stack_bytes,
        },
        "config_defines": config_defines(board, emulated=emulated, semihosting=semihosting),
        "cpu_flags": cpu_flags,
        "common_flags": ["-ffunction-sections", "-fdata-sections", "-fno-common", "-g"],
        "cxx_flags": ["-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics",
                      "-fno-use-cxa-atexit"],
        "link_flags": ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections"],
        "opt_flags": ["-O2", "-DNDEBUG"],
        "warning_flags": ["-Wall", "-Wextra", "-Werror"],
        "c_std": "-std=c99",
        "cxx": cxx,
        "bsp_sources": [f"firmware/bsp/{f}" for f in bsp_sources_for(board) if f.endswith(".c")],
        "runner_sources": [f"firmware/runner/{f}" for f in RUNNER_FILES if f.endswith(".c")],
        "model_compile_sources": [*subdir_sources, *model_compile],
        "include_dirs": ["config", "firmware/bsp", "firmware/runner",
                         *(f"firmware/{s}" for s in firmware_subdirs), "model"],
        "compile_definitions": [f"{k}={v}" if v is not None else str(k) for k, v in dict(defines).items()],
        "required_dirs": required,
        "optional_dirs": optional,
    }
    ctx.update(extra)
    return ctx


def jinja_env() -> jinja2.Environment:
    """The Jinja environment every generated file is rendered with (strict, no autoescape)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def _write(root: Path, rel: str, data: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_bytes(data.encode("utf-8"))
    else:
        path.write_bytes(bytes(data))


def render_project(
    board: Board | str,
    out_dir: str | os.PathLike,
    model_sources: Mapping[str, str | bytes],
    runtime: str = "native",
    extra_context: Mapping[str, Any] | None = None,
    *,
    model_name: str | None = None,
    firmware_subdirs: Sequence[str] | None = None,
    extra_files: Mapping[str, str | bytes] | None = None,
    emulated: bool | None = None,
    semihosting: bool | None = None,
) -> Path:
    """Render a self-contained firmware project for ``board`` into ``out_dir``; return its path.

    ``model_sources`` (file name -> content) go to ``model/``; the C/C++/asm ones are compiled and
    one of them must define ``main()`` (init, fill a ``runner_model_t``, ``runner_main()``).
    ``firmware_subdirs`` are extra folders of ``firmware/`` to copy and compile (default: the
    runtime's, ``kernels`` for ``native``). ``extra_files`` go to the project root. ``emulated``
    defaults to ``board.emulated``, ``semihosting`` to ``emulated``. ``extra_context`` overrides
    template variables; ``extra_context["cmake_template"]`` names a template (relative to
    ``templates/``) that extends ``project/CMakeLists.txt.j2`` for a runtime, and
    ``extra_context["readme_template"]`` one rendered with the same variables into ``README.md``.

    Deterministic (same inputs, same bytes) and atomic: rendered into a temporary folder beside
    ``out_dir`` and renamed into place; a previous project's ``build/`` is kept when its toolchain
    file is unchanged.
    """
    board = _as_board(board)
    out = Path(out_dir).expanduser().absolute()
    extra = dict(extra_context or {})
    name = model_name or str(extra.get("model_name", "model"))
    extra.pop("model_name", None)
    subdirs = tuple(_RUNTIME_SUBDIRS.get(runtime, ()) if firmware_subdirs is None else firmware_subdirs)
    model_files = [_check_rel(n, "model source") for n in model_sources]
    cmake_template = str(extra.pop("cmake_template", DEFAULT_CMAKE_TEMPLATE))
    readme_template = extra.pop("readme_template", None)
    ctx = template_context(
        board, runtime=runtime, model_name=name, model_files=model_files, firmware_subdirs=subdirs,
        emulated=emulated, semihosting=semihosting, extra_context=extra,
    )
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / PROJECT_INFO).is_file():
        raise UserError(f"{out}: folder exists, is not empty and is not a generated project; choose another --out")

    env = jinja_env()
    files: dict[str, str | bytes] = {}
    try:
        files["CMakeLists.txt"] = env.get_template(cmake_template).render(ctx)
        for tname, target in (
            ("project/arm-none-eabi.cmake.j2", "arm-none-eabi.cmake"),
            ("project/linker.ld.j2", "linker.ld"),
            ("project/board_config.h.j2", "config/board_config.h"),
            ("project/Makefile.j2", "Makefile"),
        ):
            files[target] = env.get_template(tname).render(ctx)
        if readme_template:
            files["README.md"] = env.get_template(str(readme_template)).render(ctx)
    except jinja2.TemplateError as e:
        raise WorkFailed(f"rendering the firmware project failed: {type(e).__name__}: {e}") from None

    fw = firmware_dir()
    for f in bsp_sources_for(board):
        files[f"firmware/bsp/{f}"] = (fw / "bsp" / f).read_bytes()
    for f in RUNNER_FILES:
        files[f"firmware/runner/{f}"] = (fw / "runner" / f).read_bytes()
    for sub in subdirs:
        src = fw / sub
        for p in sorted(src.rglob("*")):
            if p.is_file() and not p.name.endswith((".o", ".pyc")):
                files[f"firmware/{sub}/{p.relative_to(src).as_posix()}"] = p.read_bytes()
    for n, content in model_sources.items():
        files[f"model/{_check_rel(n, 'model source')}"] = content
    for n, content in (extra_files or {}).items():
        rel = _check_rel(n, "extra file")
        if rel in files or rel == PROJECT_INFO:
            raise UserError(f"extra file {rel!r} would replace a generated file")
        files[rel] = content
    info = {
        "generator": ctx["generator"],
        "board": board.name,
        "model": name,
        "runtime": runtime,
        "emulated": bool(ctx["emulated"]),
        "semihosting": bool(ctx["semihosting"]),
        "qemu_machine": board.qemu.machine if board.qemu else None,
        "files": sorted(files),
    }
    files[PROJECT_INFO] = json.dumps(info, indent=2) + "\n"

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    old: Path | None = None
    try:
        for rel in sorted(files):
            _write(tmp, rel, files[rel])
        if out.is_dir():
            old_build = out / "build"
            old_tc = out / "arm-none-eabi.cmake"
            if old_build.is_dir() and old_tc.is_file() and old_tc.read_bytes() == (tmp / "arm-none-eabi.cmake").read_bytes():
                os.replace(old_build, tmp / "build")
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "project")
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not out.exists() and (old / "project").exists():
            os.replace(old / "project", out)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return out


def read_project_info(project_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``project.json`` of a rendered project (board, model, runtime, emulated, qemu_machine)."""
    from ofa_mcu.runfiles import ProjectFile, read_run_file

    path = Path(project_dir) / PROJECT_INFO
    if not path.exists():
        raise UserError(f"{project_dir}: not a generated firmware project (no {PROJECT_INFO})")
    return read_run_file(ProjectFile, path)


# ------------------------------------------------------------------------------------------
# building


@dataclass(frozen=True)
class SizeReport:
    """arm-none-eabi-size (Berkeley format): text = code + constants, data = initialised RAM
    (also stored in flash), bss = zeroed RAM including the .arena and .stack sections."""

    text: int
    data: int
    bss: int

    @property
    def flash_bytes(self) -> int:
        return self.text + self.data

    @property
    def ram_bytes(self) -> int:
        return self.data + self.bss

    def as_dict(self) -> dict[str, int]:
        return {"text": self.text, "data": self.data, "bss": self.bss}


@dataclass(frozen=True)
class BuildResult:
    """What a successful build produced."""

    project_dir: Path
    build_dir: Path
    elf: Path
    bin: Path
    hex: Path
    map: Path
    size: SizeReport
    log: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "project_dir": str(self.project_dir), "build_dir": str(self.build_dir), "elf": str(self.elf),
            "bin": str(self.bin), "hex": str(self.hex), "map": str(self.map), "size": self.size.as_dict(),
        }


_ERROR_PATTERNS = (
    re.compile(r"region [`'][^`']+' overflowed by \d+ bytes?"),
    re.compile(r".*will not fit in region .*"),
    re.compile(r".*undefined reference to .*"),
    re.compile(r"\S*:(?: fatal)? error: .*"),
)


def _first_errors(log: str, limit: int = 3) -> str:
    """The linker's / compiler's / CMake's own messages from a failed build log, one line."""
    lines = log.splitlines()
    found: list[str] = []
    for i, line in enumerate(lines):
        text = line.strip()
        if not text:
            continue
        if text.startswith("CMake Error"):
            body = []
            for nxt in lines[i + 1 :]:
                if not nxt.strip():
                    if body:
                        break
                    continue
                if not nxt.startswith(" "):
                    break
                body.append(nxt.strip())
            found.append(" ".join(body) or text)
        else:
            for pat in _ERROR_PATTERNS:
                m = pat.search(text)
                if m:
                    msg = m.group(0).strip()
                    if msg.startswith(("collect2", "make", "gmake")):
                        break
                    found.append(msg)
                    break
        if len(found) >= limit:
            break
    seen: list[str] = []
    for f in found:
        if f not in seen:
            seen.append(f)
    return "; ".join(seen) if seen else (lines[-1].strip() if lines else "no output")


def _run(cmd: list[str], *, cwd: Path, env: Mapping[str, str], timeout_s: float) -> tuple[int, str]:
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=timeout_s, check=False,
        )
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace") if isinstance(e.stdout, bytes) else str(e.stdout or "")
        return 124, out + f"\n[timed out after {timeout_s:.0f} s]\n"
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def parse_size(text: str) -> SizeReport:
    """Parse ``arm-none-eabi-size --format=berkeley`` output."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and all(p.isdigit() for p in parts[:3]):
            return SizeReport(int(parts[0]), int(parts[1]), int(parts[2]))
    raise WorkFailed(f"could not read the size report: {text.strip()[:200]!r}")


def _stale_cache(bdir: Path, proj: Path) -> bool:
    """True when ``bdir`` holds a CMake cache made for another source or build folder."""
    cache = bdir / "CMakeCache.txt"
    if not cache.is_file():
        return False
    text = cache.read_text(encoding="utf-8", errors="replace")
    home = re.search(r"^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$", text, re.M)
    where = re.search(r"^CMAKE_CACHEFILE_DIR:INTERNAL=(.*)$", text, re.M)
    same = [Path(m.group(1).strip()).resolve() == d.resolve() for m, d in ((home, proj), (where, bdir)) if m]
    return not same or not all(same)


def build_project(
    project_dir: str | os.PathLike,
    *,
    build_dir: str | os.PathLike | None = None,
    defines: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    jobs: int | None = None,
    generator: str | None = None,
    timeout_s: float = 3600.0,
) -> BuildResult:
    """Configure (CMake) and build a rendered project; return the ELF/bin/hex/map and sizes.

    ``defines`` become ``-DNAME=VALUE`` (e.g. ``TFLM_DIR``); the CMake project also reads
    ``TFLM_DIR`` / ``CMSIS_NN_DIR`` from ``env`` (default: this process's environment). A failed
    configure, compile or link raises ``WorkFailed`` carrying the tool's own message (for a link
    that does not fit: "region `ram' overflowed by N bytes"); the full log is in
    ``<build_dir>/build.log``.
    """
    proj = Path(project_dir).expanduser().absolute()
    if not (proj / "CMakeLists.txt").is_file():
        raise UserError(f"{project_dir}: no CMakeLists.txt (not a firmware project)")
    cmake = shutil.which("cmake")
    if cmake is None:
        raise WorkFailed("cmake not found: install it (Debian/Ubuntu: apt-get install cmake)")
    full_env = dict(os.environ if env is None else env)
    if shutil.which("arm-none-eabi-gcc", path=full_env.get("PATH")) is None and not full_env.get("ARM_TOOLCHAIN_DIR"):
        raise WorkFailed(
            "arm-none-eabi-gcc not found: install it (Debian/Ubuntu: apt-get install gcc-arm-none-eabi "
            "libnewlib-arm-none-eabi) or set ARM_TOOLCHAIN_DIR"
        )
    bdir = Path(build_dir).expanduser().absolute() if build_dir else proj / "build"
    check_writable(bdir, folder=True)
    if _stale_cache(bdir, proj):  # a project copied or moved: its cache names the old folders
        shutil.rmtree(bdir)
    bdir.mkdir(parents=True, exist_ok=True)
    cfg = [cmake, "-S", str(proj), "-B", str(bdir)]
    if not (bdir / "CMakeCache.txt").exists():
        gen = generator or ("Ninja" if shutil.which("ninja") else None)
        if gen:
            cfg += ["-G", gen]
    for k, v in (defines or {}).items():
        cfg.append(f"-D{k}={v}")
    log_parts: list[str] = []

    def fail(stage: str, text: str) -> WorkFailed:
        write_text(bdir / "build.log", "".join(log_parts))
        return WorkFailed(f"firmware {stage} failed for {proj}: {_first_errors(text)} (log: {bdir / 'build.log'})")

    rc, text = _run(cfg, cwd=proj, env=full_env, timeout_s=timeout_s)
    log_parts.append(f"$ {' '.join(cfg)}\n{text}")
    if rc != 0:
        raise fail("configure (cmake)", text)
    bld = [cmake, "--build", str(bdir), "-j", str(jobs or os.cpu_count() or 1)]
    rc, text = _run(bld, cwd=proj, env=full_env, timeout_s=timeout_s)
    log_parts.append(f"$ {' '.join(bld)}\n{text}")
    if rc != 0:
        raise fail("build", text)
    write_text(bdir / "build.log", "".join(log_parts))

    elf = bdir / "firmware.elf"
    outputs = [elf, bdir / "firmware.bin", bdir / "firmware.hex", bdir / "firmware.map"]
    missing = [p.name for p in outputs if not p.is_file()]
    if missing:
        raise WorkFailed(f"firmware build of {proj} produced no {', '.join(missing)} (log: {bdir / 'build.log'})")
    size_tool = shutil.which("arm-none-eabi-size", path=full_env.get("PATH"))
    if size_tool is None:
        cache = (bdir / "CMakeCache.txt").read_text(encoding="utf-8", errors="replace")
        m = re.search(r"^CMAKE_SIZE:FILEPATH=(.+)$", cache, re.M)
        size_tool = m.group(1).strip() if m else "arm-none-eabi-size"
    rc, text = _run([size_tool, "--format=berkeley", str(elf)], cwd=proj, env=full_env, timeout_s=60)
    if rc != 0:
        raise WorkFailed(f"arm-none-eabi-size failed on {elf}: {text.strip()[:200]}")
    return BuildResult(
        project_dir=proj, build_dir=bdir, elf=elf, bin=outputs[1], hex=outputs[2], map=outputs[3],
        size=parse_size(text), log="".join(log_parts),
    )
