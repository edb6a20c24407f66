"""`ofa-mcu build`: configure and build a generated firmware project (CMake, arm-none-eabi-gcc)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ofa_mcu.commands.options import echo_json, json_option
from ofa_mcu.errors import UserError


def tree_options(f: Callable) -> Callable:
    """--tflm-dir / --cmsis-nn-dir (default: the TFLM_DIR / CMSIS_NN_DIR environment variables)."""
    f = click.option("--cmsis-nn-dir", type=click.Path(file_okay=False), default=None,
                     help="CMSIS-NN source tree for the tflm runtime's optimized kernels (default: "
                          "$CMSIS_NN_DIR, else the copy inside the TFLM tree; the board YAML's tflm "
                          "'kernels' chooses CMSIS-NN or reference kernels).")(f)
    f = click.option("--tflm-dir", type=click.Path(file_okay=False), default=None,
                     help="TFLM source tree (create_tflm_tree.py output) for the tflm runtime "
                          "(default: $TFLM_DIR; not needed for native).")(f)
    return f


def tree_defines(tflm_dir: str | None, cmsis_nn_dir: str | None) -> dict[str, str]:
    """CMake definitions for the trees given as options (the environment is read by CMake itself)."""
    defines: dict[str, str] = {}
    for var, value in (("TFLM_DIR", tflm_dir), ("CMSIS_NN_DIR", cmsis_nn_dir)):
        if value:
            path = Path(value).expanduser().absolute()
            if not path.is_dir():
                raise UserError(f"--{var.lower().replace('_', '-')} {value}: no such folder")
            defines[var] = str(path)
    return defines


def project_board(project: Path) -> tuple[dict[str, Any], Any]:
    """(project.json, the Board or None when its YAML is not available)."""
    from ofa_mcu.artifacts import read_project_info
    from ofa_mcu.boards import load_board

    info = read_project_info(project)
    try:
        return info, load_board(str(info.get("board")))
    except Exception:  # noqa: BLE001 - a custom board YAML that moved: sizes are then not shown
        return info, None


def format_size(project: Path, res: Any, summary: dict[str, Any]) -> str:
    lines = [f"built {res.elf} (+ .bin, .hex, .map)",
             f"size: text {summary['text']:,} B  data {summary['data']:,} B  bss {summary['bss']:,} B"]
    if "chip_flash_bytes" in summary:
        f, r = summary["flash_bytes"], summary["ram_bytes"]
        lines.append(f"flash {f:,} of {summary['chip_flash_bytes']:,} B ({100 * f / summary['chip_flash_bytes']:.1f}%), "
                     f"RAM (data + bss incl. arena and stack) {r:,} of {summary['chip_ram_bytes']:,} B "
                     f"({100 * r / summary['chip_ram_bytes']:.1f}%)")
    if "predicted_flash_bytes" in summary:
        lines.append(f"predicted flash {summary['predicted_flash_bytes']:,} B (model + runtime code figure of the "
                     f"board YAML), actual text + data {summary['flash_bytes']:,} B")
    return "\n".join(lines)


@click.command()
@click.argument("fwdir", type=click.Path(file_okay=False))
@tree_options
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Parallel compile jobs (default: CPUs).")
@json_option
def build(fwdir: str, tflm_dir: str | None, cmsis_nn_dir: str | None, jobs: int | None, as_json: bool) -> None:
    """Build the firmware project FWDIR: build/firmware.elf, .bin, .hex, .map and a size report.

    Runs CMake with the project's arm-none-eabi toolchain file. A tflm project needs a TFLM tree
    (--tflm-dir or $TFLM_DIR) and optionally CMSIS-NN (--cmsis-nn-dir or $CMSIS_NN_DIR). A model
    that does not fit the chip fails at link time with the linker's message (exit code 1).
    """
    from ofa_mcu.artifacts import read_compile_info
    from ofa_mcu.firmware.build import build_project, size_summary

    project = Path(fwdir)
    if not project.is_dir():
        raise UserError(f"{fwdir}: no such firmware project folder")
    info, board = project_board(project)
    defines = tree_defines(tflm_dir, cmsis_nn_dir)
    if not as_json:
        click.echo(f"build: {project} ({info.get('board')}, runtime {info.get('runtime')})", err=True)
    res = build_project(project, defines=defines, jobs=jobs, env=dict(os.environ))
    summary = size_summary(res, board, read_compile_info(project))
    if as_json:
        echo_json({**res.as_dict(), "board": info.get("board"), "runtime": info.get("runtime"), "size": summary})
    else:
        click.echo(format_size(project, res, summary))
