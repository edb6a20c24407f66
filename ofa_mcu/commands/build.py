"""`ofa-mcu build`: configure and build a generated firmware project (CMake, arm-none-eabi-gcc)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ofa_mcu.commands.options import echo_json, json_option
from ofa_mcu.errors import UserError
from ofa_mcu.runtimes import runtimes

#: every kernel set some runtime can build (the runtime checks its own: ``Runtime.check_kernels``)
KERNEL_CHOICES = tuple(dict.fromkeys(k for rt in runtimes() for k in rt.kernel_sets))


def tree_options(f: Callable) -> Callable:
    """--tflm-dir / --cmsis-nn-dir (default: $TFLM_DIR / $CMSIS_NN_DIR), --kernels, --no-cache."""
    f = click.option("--no-cache", is_flag=True,
                     help="Compile TFLM in this project's build folder instead of reusing (and filling) the "
                          "shared cache of compiled TFLM libraries ($OFA_MCU_CACHE_DIR, else ~/.cache/ofa-mcu).")(f)
    f = click.option("--kernels", type=click.Choice(KERNEL_CHOICES), default=None,
                     help="TFLM kernels to build: reference or cmsis-nn (default: what the project was compiled "
                          "for, from `compile --kernels` or the board YAML's runtime.tflm.kernels).")(f)
    f = click.option("--cmsis-nn-dir", type=click.Path(file_okay=False), default=None,
                     help="CMSIS-NN source tree for the cmsis-nn kernels (default: $CMSIS_NN_DIR, else the "
                          "copy inside the TFLM tree).")(f)
    f = click.option("--tflm-dir", type=click.Path(file_okay=False), default=None,
                     help="TFLM source tree (create_tflm_tree.py output, or a folder whose src/ is one, such "
                          "as tflite-micro-arduino-examples) for the tflm runtime (default: $TFLM_DIR, else "
                          "the tree the build folder was configured with; not needed for native).")(f)
    return f


def project_setup(project: Path, tflm_dir: str | None, cmsis_nn_dir: str | None, kernels: str | None,
                  no_cache: bool, say: Callable[[str], None]) -> dict[str, str]:
    """The CMake definitions for building ``project`` with the tree options; notes go to ``say``."""
    from ofa_mcu.firmware.trees import project_setup as setup_for

    setup = setup_for(project, dirs={"TFLM_DIR": tflm_dir, "CMSIS_NN_DIR": cmsis_nn_dir}, kernels=kernels,
                      use_cache=not no_cache)
    for note in setup.notes:
        say(note)
    return setup.defines


def project_board(project: Path) -> tuple[dict[str, Any], Any]:
    """(project.json, the Board or None when its YAML is not available)."""
    from ofa_mcu.artifacts import read_project_info
    from ofa_mcu.boards import load_board

    info = read_project_info(project)
    try:
        return info, load_board(str(info.get("board")))
    except Exception:  # noqa: BLE001 - a custom board YAML that moved: sizes are then not shown
        return info, None


def format_build(res: Any) -> list[str]:
    """What the build recorded: the kernels built and where a compiled library came from."""
    rec = res.record
    if not rec:
        return []
    line = f"kernels: {rec.get('kernels', '?')}; TFLM library: {rec.get('library', '?')}"
    where = rec.get("library_path") or rec.get("cache_entry")
    line += f" ({where})" if where else ""
    return [line + (f"; {res.seconds:.0f} s" if res.seconds is not None else "")]


def format_size(project: Path, res: Any, summary: dict[str, Any]) -> str:
    lines = [f"built {res.elf} (+ .bin, .hex, .map)", *format_build(res),
             f"size: text {summary['text']:,} B  data {summary['data']:,} B  bss {summary['bss']:,} B"]
    if "chip_flash_bytes" in summary:
        f, r = summary["flash_bytes"], summary["ram_bytes"]
        lines.append(f"flash {f:,} of {summary['chip_flash_bytes']:,} B ({100 * f / summary['chip_flash_bytes']:.1f}%), "
                     f"RAM (data + bss incl. arena and stack) {r:,} of {summary['chip_ram_bytes']:,} B "
                     f"({100 * r / summary['chip_ram_bytes']:.1f}%)")
    if "compiled_for_kernels" in summary:
        lines.append(f"note: compiled for {summary['compiled_for_kernels']} kernels, built with {summary['kernels']}: "
                     f"the firmware reserves {summary.get('firmware_arena_bytes', '?')} B of arena for these")
    if "predicted_flash_bytes" in summary:
        lines.append(f"predicted flash {summary['predicted_flash_bytes']:,} B (model + runtime code figure of the "
                     f"board YAML), actual text + data {summary['flash_bytes']:,} B")
    return "\n".join(lines)


@click.command()
@click.argument("fwdir", type=click.Path(file_okay=False))
@tree_options
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Parallel compile jobs (default: CPUs).")
@json_option
def build(fwdir: str, tflm_dir: str | None, cmsis_nn_dir: str | None, kernels: str | None, no_cache: bool,
          jobs: int | None, as_json: bool) -> None:
    """Build the firmware project FWDIR: build/firmware.elf, .bin, .hex, .map and a size report.

    Runs CMake with the project's arm-none-eabi toolchain file. A tflm project needs a TFLM tree
    (--tflm-dir or $TFLM_DIR) and optionally CMSIS-NN (--cmsis-nn-dir or $CMSIS_NN_DIR); TFLM
    is compiled once per tree, kernels and core and then taken from the shared cache. A model
    that does not fit the chip fails at link time with the linker's message (exit code 1).
    """
    from ofa_mcu.artifacts import read_compile_info
    from ofa_mcu.firmware.build import build_project, size_summary

    project = Path(fwdir)
    if not project.is_dir():
        raise UserError(f"{fwdir}: no such firmware project folder")
    info, board = project_board(project)
    say = (lambda _m: None) if as_json else (lambda msg: click.echo(f"build: {msg}", err=True))
    defines = project_setup(project, tflm_dir, cmsis_nn_dir, kernels, no_cache, say)
    say(f"{project} ({info.get('board')}, runtime {info.get('runtime')})")
    res = build_project(project, defines=defines, jobs=jobs, env=dict(os.environ))
    summary = size_summary(res, board, read_compile_info(project))
    if as_json:
        echo_json({**res.as_dict(), "board": info.get("board"), "runtime": info.get("runtime"), "size": summary})
    else:
        click.echo(format_size(project, res, summary))
