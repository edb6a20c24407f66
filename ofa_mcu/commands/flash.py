"""`ofa-mcu flash`: write a built firmware image to the board with the board YAML's flash tool."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click

from ofa_mcu.commands.options import echo_json, json_option
from ofa_mcu.errors import UserError, WorkFailed

#: Where each flash tool comes from (the error message when it is missing).
TOOL_PACKAGES = {
    "openocd": "Debian/Ubuntu: apt-get install openocd",
    "pyocd": "pip install pyocd",
    "st-flash": "Debian/Ubuntu: apt-get install stlink-tools",
    "nrfjprog": "Nordic's nRF Command Line Tools (not in Debian: download from nordicsemi.com)",
}


def flash_command(board: Any, build_dir: Path) -> list[str]:
    """The command line that writes ``build_dir``'s image to ``board`` (absolute paths)."""
    board.require_firmware()
    tool = board.flash_tool.tool
    args = list(board.flash_tool.args)
    build_dir = build_dir.absolute()
    elf, hexf, binf = build_dir / "firmware.elf", build_dir / "firmware.hex", build_dir / "firmware.bin"
    if tool == "openocd":
        return ["openocd", *args, "-c", f"program {elf} verify reset exit"]
    if tool == "pyocd":
        return ["pyocd", "flash", *args, str(hexf)]
    if tool == "st-flash":
        return ["st-flash", *args, "--reset", "write", str(binf), f"0x{board.memory.flash.origin:08X}"]
    if tool == "nrfjprog":
        return ["nrfjprog", *args, "--program", str(hexf), "--sectorerase", "--verify", "--reset"]
    if board.emulated:
        raise UserError(f"board {board.name} is emulated (QEMU {board.qemu.machine}): nothing to flash, "
                        "run it with `ofa-mcu emulate FWDIR`")
    raise UserError(f"board {board.name} has no flash tool in its YAML (flash_tool.tool: none)")


@click.command()
@click.argument("fwdir", type=click.Path(file_okay=False))
@click.option("--dry-run", is_flag=True, help="Print the exact flash command instead of running it.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=300, show_default=True,
              help="Seconds the flash tool may run.")
@json_option
def flash(fwdir: str, dry_run: bool, timeout_s: float, as_json: bool) -> None:
    """Flash the built firmware of FWDIR onto its board (openocd, pyocd, st-flash or nrfjprog,
    with the arguments from the board YAML). Build it first with `ofa-mcu build FWDIR`;
    emulated boards are run with `ofa-mcu emulate FWDIR` instead."""
    from ofa_mcu.commands.build import project_board

    project = Path(fwdir)
    info, board = project_board(project)
    if board is None:
        raise UserError(f"{fwdir}: board {info.get('board')!r} of the project cannot be loaded")
    cmd = flash_command(board, project / "build")
    images = [project / "build" / n for n in ("firmware.elf", "firmware.hex", "firmware.bin")]
    built = all(p.is_file() for p in images)
    text = shlex.join(cmd)
    if dry_run:
        if as_json:
            echo_json({"board": board.name, "tool": board.flash_tool.tool, "command": cmd, "built": built,
                       "dry_run": True})
        else:
            click.echo(text)
            if not built:
                click.echo(f"note: {project / 'build'} has no image yet: run `ofa-mcu build {fwdir}` first", err=True)
        return
    tool = board.flash_tool.tool
    if shutil.which(cmd[0]) is None:
        raise WorkFailed(f"{tool} not found: install it ({TOOL_PACKAGES[tool]})")
    if not built:
        raise UserError(f"{fwdir}: not built yet (no build/firmware.elf/.hex/.bin): run `ofa-mcu build {fwdir}` first")
    if not as_json:
        click.echo(f"flash: {text}", err=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise WorkFailed(f"{tool} did not finish within {timeout_s:g} s (is the board connected?)") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()]
        msg = (errors or lines or [f"exit code {proc.returncode}"])[-1]
        raise WorkFailed(f"{tool} failed (exit code {proc.returncode}): {msg}")
    if as_json:
        echo_json({"board": board.name, "tool": tool, "command": cmd, "flashed": True})
    else:
        click.echo(f"flashed {board.name} with {tool}")
