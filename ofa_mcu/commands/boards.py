"""`ofa-mcu boards`: list the board targets (or check given board YAMLs) with their budgets."""

from __future__ import annotations

import json

import click

from ofa_mcu.boards import Board, list_boards, load_board
from ofa_mcu.energy import run_power_mw
from ofa_mcu.runtimes import runtime_names

_RUNTIME = runtime_names()[0]  # the table's usable figures: the first registered runtime (tflm)
_COLUMNS = (
    "name",
    "core",
    "clock MHz",
    "SRAM KB",
    "flash KB",
    f"usable SRAM KB ({_RUNTIME})",
    f"usable flash KB ({_RUNTIME})",
    "run mW",
    "firmware",
    "emulated",
)


def _kb(n: int) -> str:
    return str(n // 1024)


def _row(board: Board) -> list[str]:
    has_rt = _RUNTIME in board.runtime
    return [
        board.name,
        board.core,
        f"{board.clock_hz / 1e6:g}",
        _kb(board.sram_total),
        _kb(board.memory.flash.size),
        _kb(board.usable_sram(_RUNTIME)) if has_rt else "-",
        _kb(board.usable_flash(_RUNTIME)) if has_rt else "-",
        "-" if (mw := run_power_mw(board)) is None else f"{mw:.1f}",
        "yes" if board.firmware_problem() is None else "no",
        board.qemu.machine if board.qemu is not None else "-",
    ]


def format_table(boards: list[Board]) -> str:
    """The boards as an aligned text table (text left-aligned, numbers right-aligned)."""
    rows = [list(_COLUMNS), *(_row(b) for b in boards)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    numeric = {2, 3, 4, 5, 6, 7}
    lines = []
    for row in rows:
        cells = [
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@click.command("boards")
@click.argument("names", nargs=-1, metavar="[BOARD]...")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON list with every field of each board plus its derived figures "
    "(sram_total, emulated, firmware_problem (null when a standalone firmware project can be "
    "generated), usable_sram and usable_flash per runtime, in bytes).",
)
def boards(names: tuple[str, ...], as_json: bool) -> None:
    """List the board targets with their memory budgets.

    With no BOARD, lists every board shipped in targets/. Each BOARD is a board name (a file stem
    in targets/, e.g. nucleo-f746zg) or a path to a board YAML, which is validated: a problem is
    reported as one line naming the file and the field, with exit code 2.

    The table shows total SRAM and flash, and the usable SRAM (arena) and flash (model) left with
    the tflm runtime after stack, runtime code and static data, and reserves. KB = 1024 bytes,
    rounded down. "firmware": whether a standalone firmware project (`compile`) can be generated;
    boards without board support (e.g. rpi-pico, teensy-41) work with analyze, search, export and
    `compile --format library|arduino|zephyr` (the model as a library for your own firmware).
    "run mW": run-mode current x supply voltage from the YAML's datasheet figures (`power`), the
    basis of the energy-per-inference estimate; "-" where the YAML has none.
    """
    selected = [load_board(n) for n in names] if names else list_boards()
    if as_json:
        click.echo(json.dumps([{**b.summary(), "run_power_mw": run_power_mw(b)} for b in selected], indent=2))
    else:
        click.echo(format_table(selected))
