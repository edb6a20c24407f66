"""`ofa-mcu emulate`: build a project for an emulated board and run it in QEMU (optionally profiled)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import click

from ofa_mcu.commands.build import project_board, project_setup, tree_options
from ofa_mcu.commands.options import echo_json, json_option
from ofa_mcu.commands.profile import format_modes_profile, format_profile, load_inputs, measure_options
from ofa_mcu.errors import UserError, WorkFailed
from ofa_mcu.profiler import attach_project, check_lut, model_sizes, profile_json, update_lut
from ofa_mcu.runtimes import default_runtime

EMULATE_SUBDIR = "emulate"


def emulated_project(project: Path, board_name: str | None, say: Any) -> tuple[Path, Any]:
    """The project folder to build for the emulated board, re-rendered when it differs from FWDIR's."""
    from ofa_mcu.artifacts import MODEL_FILE, read_compile_info, read_export_report
    from ofa_mcu.boards import board_names, load_board
    from ofa_mcu.firmware.compile import render_model_project

    info, own = project_board(project)
    board = load_board(board_name) if board_name else own
    emulated = [n for n in board_names() if load_board(n).emulated]
    if board is None:
        raise UserError(f"{project}: board {info.get('board')!r} cannot be loaded; give --board ({', '.join(emulated)})")
    if board.qemu is not None:
        board.require_firmware()
    if board.qemu is None:
        raise UserError(f"board {board.name} is not emulated (no QEMU machine): give --board with one of "
                        f"{', '.join(emulated)}")
    if own is not None and board.name == own.name and info.get("emulated"):
        return project, board
    if (read_compile_info(project) or {}).get("modes"):
        raise UserError(f"{project}: a firmware with operating modes runs on its own board ({info.get('board')}); "
                        f"compile the modes for {board.name} instead (ofa-mcu compile --target {board.name} ...)")
    model = project / MODEL_FILE
    if not model.is_file():
        raise UserError(f"{project}: no {MODEL_FILE} to re-render for {board.name}")
    compiled = read_compile_info(project) or {}
    runtime = str(compiled.get("runtime") or info.get("runtime") or default_runtime(board))
    report: dict[str, Any] = read_export_report(project) or {}
    out = project / EMULATE_SUBDIR / board.name
    say(f"re-rendering {project.name} ({info.get('board')}) for {board.name} into {out}")
    from ofa_mcu.tflite import parse_tflite, read_json_metadata, read_tflite_bytes

    data = read_tflite_bytes(model)
    parse_tflite(data, origin=str(model))  # a damaged model is named by its path, before any work
    read_json_metadata(data, origin=str(model))
    path, _, _ = render_model_project(data, board, out, runtime, report=report)
    return path, board


@click.command()
@click.argument("fwdir", type=click.Path(file_okay=False, exists=True))
@click.option("--board", "board_name", default=None,
              help="Emulated board to run on (qemu-mps2-an386, qemu-mps2-an500, qemu-netduinoplus2, qemu-microbit); "
                   "default: the project's own board. Another board re-renders the project into FWDIR/emulate/BOARD.")
@click.option("--profile", "do_profile", is_flag=True,
              help="Run the profiler on the emulated board and print the latency table (instruction counts).")
@measure_options
@click.option("--qemu-timeout", type=click.FloatRange(min=1), default=None,
              help="Kill QEMU after this many seconds (default: none without --profile, 600 s with it).")
@tree_options
@json_option
def emulate(fwdir: str, board_name: str | None, do_profile: bool, runs: int, warmup: int, inputs: str | None,
            lut: str | None, timeout_s: float, qemu_timeout: float | None, tflm_dir: str | None,
            cmsis_nn_dir: str | None, kernels: str | None, no_cache: bool, as_json: bool) -> None:
    """Build FWDIR for an emulated board and run it in qemu-system-arm (-icount, semihosting exit).

    The board's UART is served on a free local TCP port. Without --profile the port is printed
    (profile it with `ofa-mcu profile --port socket://127.0.0.1:PORT`) and QEMU runs until Ctrl-C.
    With --profile the profiler runs and prints the latency table; QEMU's counts are executed
    instructions, not cycles. QEMU is always stopped and reaped on the way out.
    """
    from ofa_mcu.artifacts import read_compile_info
    from ofa_mcu.firmware.build import build_project
    from ofa_mcu.profiler import profile as run_profile
    from ofa_mcu.profiler.mlperf import boot
    from ofa_mcu.qemu import run_qemu

    if not do_profile and (inputs or lut):
        raise click.UsageError("--inputs and --lut go with --profile")
    say = (lambda _m: None) if as_json else (lambda msg: click.echo(f"emulate: {msg}", err=True))
    data = load_inputs(inputs)
    check_lut(lut)
    project, board = emulated_project(Path(fwdir), board_name, say)
    say(f"building {project} for {board.name} (QEMU {board.qemu.machine})")
    built = build_project(project, defines=project_setup(project, tflm_dir, cmsis_nn_dir, kernels, no_cache, say))
    if built.record:
        say(f"built with {built.kernels} kernels, TFLM library {built.record.get('library', '?')}")
    limit = qemu_timeout if qemu_timeout is not None else (600.0 if do_profile else None)
    if do_profile and (read_compile_info(project) or {}).get("modes"):
        if lut:
            raise click.UsageError("--lut profiles one mode: use `ofa-mcu profile --mode N --lut ...`")
        from ofa_mcu.emulation import profile_modes

        compiled = read_compile_info(project) or {}
        with run_qemu(built.elf, board, timeout_s=limit) as session:
            say(f"QEMU {board.qemu.machine} running, UART on {session.url}; profiling {len(compiled['modes'])} modes")
            res = profile_modes(session.url, project, compiled, data, runs=runs, warmup=warmup, timeout_s=timeout_s,
                                built_kernels=built.kernels, progress=None if as_json else say)
        if as_json:
            echo_json({**res, "project": str(project), "elf": str(built.elf)})
        else:
            click.echo(format_modes_profile(res))
        if not res["match"]:
            raise WorkFailed("the device's outputs differ from the host TFLM for at least one mode (see above)")
        return
    if do_profile:
        compiled = read_compile_info(project)
        with run_qemu(built.elf, board, timeout_s=limit) as session:
            say(f"QEMU {board.qemu.machine} running, UART on {session.url}; profiling")
            result = run_profile(session.url, data, runs=runs, warmup=warmup, timeout_s=timeout_s,
                                 progress=None if as_json else say, expect_sizes=model_sizes(project))
        attach_project(result, compiled, built.kernels)
        table = update_lut(lut, result) if lut else None
        if as_json:
            echo_json({**profile_json(result, lut, table), "project": str(project), "elf": str(built.elf)})
        else:
            click.echo(format_profile(result, lut, table))
        return
    # "press Ctrl-C to stop" must hold even when SIGINT was ignored in the process that started us
    # (Python leaves an inherited SIG_IGN in place, e.g. under some test runners and job controls)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with run_qemu(built.elf, board, timeout_s=limit) as session:
            # start the guest now (it answers name%), so that whoever connects next (the MLPerf Tiny
            # runner, the profiler) finds the firmware idle with nothing queued
            name = boot(session.url)
            desc = {"board": board.name, "machine": board.qemu.machine, "elf": str(built.elf), "port": session.port,
                    "url": session.url, "pid": session.pid, "name": name}
            if as_json:
                click.echo(json.dumps(desc))
            else:
                click.echo(f"QEMU {board.qemu.machine} is running {built.elf}")
                click.echo(f"serial port: {session.url}  (the firmware has started and waits for commands)")
                click.echo(f"profile it:  ofa-mcu profile --port {session.url} --project {project}")
                click.echo("press Ctrl-C to stop QEMU")
            status = session.process.wait()
            say(f"QEMU exited with status {status}" + (" (timeout)" if session.timed_out else ""))
    except KeyboardInterrupt:
        say("stopped QEMU")
