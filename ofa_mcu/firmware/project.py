"""Rendering a firmware project: ``templates/project/`` + the ``firmware/`` sources a board and a
runtime need + the runtime's model sources, into one self-contained folder.

Owns the layout of a generated project and the template context the project templates read; the
board settings come from :mod:`ofa_mcu.firmware.board_config`, building is
:mod:`ofa_mcu.firmware.build`.

Layout of a rendered project::

    CMakeLists.txt  Makefile  arm-none-eabi.cmake  linker.ld  project.json
    config/board_config.h
    firmware/bsp/...  firmware/runner/...  [firmware/<subdir>/... for runtime code]
    model/<model sources>
    [README.md from the runtime's readme_template]  [extra files at the root]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ofa_mcu import __version__
from ofa_mcu.artifacts import PROJECT_INFO
from ofa_mcu.boards import Board, load_board
from ofa_mcu.codegen import render_all
from ofa_mcu.errors import UserError
from ofa_mcu.firmware.board_config import config_defines
from ofa_mcu.resources import firmware_dir
from ofa_mcu.runtimes import find_runtime

TEMPLATE_DIR = "project"
DEFAULT_CMAKE_TEMPLATE = "project/CMakeLists.txt.j2"
#: project file -> template (besides CMakeLists.txt and README.md)
PROJECT_TEMPLATES = (
    ("arm-none-eabi.cmake", "project/arm-none-eabi.cmake.j2"),
    ("linker.ld", "project/linker.ld.j2"),
    ("config/board_config.h", "project/board_config.h.j2"),
    ("Makefile", "project/Makefile.j2"),
)

BSP_COMMON: tuple[str, ...] = ("bsp.h", "bsp_internal.h", "bsp.c", "startup.c", "cycles.c", "semihost.c",
                                "timestamp.c")
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




def bsp_sources_for(board: Board) -> list[str]:
    """BSP file names (under ``firmware/bsp/``) a build for ``board`` needs, headers included."""
    board.require_firmware()
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
    energy_mode: bool = False,
    db_input: str = "int8",
) -> dict[str, Any]:
    """The variables the ``templates/project/*.j2`` templates read (see the report / module doc).

    ``energy_mode``: build for the MLPerf Tiny energy mode (GPIO timestamps, UART at 9600 baud;
    see :func:`ofa_mcu.firmware.board_config.config_defines`).

    ``extra_context`` entries override the computed ones; ``defines`` (a mapping) becomes
    compile definitions of the firmware target.
    """
    board = _as_board(board)
    board.require_firmware()
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
    rt = find_runtime(runtime)  # a project may carry its own runtime label (a test firmware, a benchmark)
    required, optional = (list(trees) for trees in (rt.source_trees if rt is not None else ((), ())))
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
        "config_defines": config_defines(board, emulated=emulated, semihosting=semihosting, energy_mode=energy_mode,
                                         db_input=db_input),
        "energy_mode": energy_mode,
        "db_input": db_input,
        "cpu_flags": cpu_flags,
        "common_flags": ["-ffunction-sections", "-fdata-sections", "-fno-common", "-g"],
        "cxx_flags": ["-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics",
                      "-fno-use-cxa-atexit"],
        "link_flags": ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections"],
        "opt_flags": ["-O2", "-DNDEBUG"],
        # the serial runner is protocol code around the inference, not part of it: built for size
        # (about 4 KB less flash than at -O2 on Cortex-M4; the layer hooks it runs inside an
        # inference compile to about the same instructions either way, 20-odd each)
        "runner_opt_flags": ["-Os"],
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
    energy_mode: bool = False,
    db_input: str = "int8",
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
    ``energy_mode``: the MLPerf Tiny energy mode (GPIO timestamps on the board's timestamp pin,
    UART at 9600 baud); recorded in ``project.json``. ``db_input``: ``uint8`` makes the serial
    runner shift the ``db`` bytes by -128 into the int8 input (the MLPerf Tiny ic01 / vww01 data
    sets are uint8 images); recorded in ``project.json``.

    Deterministic (same inputs, same bytes) and atomic: rendered into a temporary folder beside
    ``out_dir`` and renamed into place; a previous project's ``build/`` is kept when its toolchain
    file is unchanged.
    """
    board = _as_board(board)
    out = Path(out_dir).expanduser().absolute()
    extra = dict(extra_context or {})
    name = model_name or str(extra.get("model_name", "model"))
    extra.pop("model_name", None)
    rt = find_runtime(runtime)
    subdirs = tuple(firmware_subdirs if firmware_subdirs is not None else rt.firmware_subdirs if rt is not None else ())
    model_files = [_check_rel(n, "model source") for n in model_sources]
    cmake_template = str(extra.pop("cmake_template", DEFAULT_CMAKE_TEMPLATE))
    readme_template = extra.pop("readme_template", None)
    ctx = template_context(
        board, runtime=runtime, model_name=name, model_files=model_files, firmware_subdirs=subdirs,
        emulated=emulated, semihosting=semihosting, extra_context=extra, energy_mode=energy_mode,
        db_input=db_input,
    )
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / PROJECT_INFO).is_file():
        raise UserError(f"{out}: folder exists, is not empty and is not a generated project; choose another --out")

    templates = [("CMakeLists.txt", cmake_template), *PROJECT_TEMPLATES]
    if readme_template:
        templates.append(("README.md", str(readme_template)))
    files: dict[str, str | bytes] = dict(render_all(templates, ctx, "the firmware project"))

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
        "energy_mode": bool(ctx["energy_mode"]),
        "db_input": ctx["db_input"],
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
