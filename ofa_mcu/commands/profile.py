"""`ofa-mcu profile`: measure a device over its serial port (MLPerf Tiny runner protocol + ofa-mcu
extensions): outputs, latency, per-layer cycles, memory; optionally merge into a latency LUT.

The option set and the text report here are shared with `ofa-mcu emulate --profile`; the work is in
:mod:`ofa_mcu.profiler`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ofa_mcu.commands.options import echo_json, json_option
from ofa_mcu.errors import UserError, WorkFailed
from ofa_mcu.profiler import attach_project, check_lut, model_sizes, profile_json, update_lut
from ofa_mcu.table import fmt_int, render


def measure_options(f: Callable) -> Callable:
    """--runs, --warmup, --inputs, --lut, --timeout: what every profiling verb takes."""
    f = click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.5), default=10.0, show_default=True,
                     help="Seconds each serial command may take (inferences get a timeout scaled from a first "
                          "timed run).")(f)
    f = click.option("--lut", "lut", type=click.Path(dir_okay=False), default=None,
                     help="Latency LUT JSON to create or update with the per-layer measurements (fit of cycles per "
                          "MAC and per op, per op kind); `ofa-mcu search --latency-lut` reads it.")(f)
    f = click.option("--inputs", "inputs", type=click.Path(dir_okay=False, exists=True), default=None,
                     help="int8 .npy of shape (N, H, W, C) already in the model's input quantization "
                          "(default: one fixed deterministic input).")(f)
    f = click.option("--warmup", type=click.IntRange(min=0), default=1, show_default=True,
                     help="Untimed inferences before the timed ones (per input).")(f)
    f = click.option("--runs", type=click.IntRange(min=1), default=5, show_default=True,
                     help="Timed inferences per input.")(f)
    return f


def load_inputs(path: str | None) -> Any:
    """The int8 inputs of a .npy file (None without a file)."""
    if path is None:
        return None
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"{path}: not a readable .npy file ({e.__class__.__name__}: {str(e)[:80]})") from None
    if arr.dtype != np.int8:
        raise UserError(f"{path}: inputs must be int8 (already quantized to the model's input), got {arr.dtype}")
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim < 2 or len(arr) == 0:
        raise UserError(f"{path}: expected shape (N, H, W, C) (or (N, ...) the model's input shape), "
                        f"got {tuple(arr.shape)}")
    return arr


def format_profile(result: Any, lut_path: str | None = None, lut: dict[str, Any] | None = None) -> str:
    """The latency / per-layer / memory report of a profile run as text."""
    emulated = result.emulated
    unit = "instructions" if emulated else "cycles"
    lines = [f"profile of {result.model or result.name} on {result.board or result.port} ({result.core}, "
             f"{(result.clock_hz or 0) / 1e6:g} MHz), runtime {result.runtime}"
             + (f" ({result.kernels} kernels)" if result.kernels else "") + f", counter {result.counter}"]
    if emulated:
        lines.append("emulated (QEMU -icount shift=0): counts are executed INSTRUCTIONS, not cycles; times are "
                     "QEMU's virtual time (1 ns per instruction), not the board's")
    lines.append(f"{len(result.lap_ms_per_run)} input(s) x {result.runs} run(s) (warm-up {result.warmup})")
    ms = result.latency_ms
    counts = result.latency_instructions if emulated and result.latency_instructions else result.latency_cycles
    if ms:
        lines.append("latency: " + ", ".join(f"{k} {ms[k]:.3f} ms" for k in ("mean", "median", "min", "max", "std")
                                            if k in ms))
    if counts:
        lines.append(f"{unit}: " + ", ".join(f"{k} {counts[k]:,.0f}" for k in ("mean", "median", "min", "max")
                                            if k in counts))
    if result.layers:
        total = sum((layer.instructions if emulated and layer.instructions is not None else layer.cycles)
                    for layer in result.layers) or 1.0
        rows = []
        for layer in result.layers:
            v = layer.instructions if emulated and layer.instructions is not None else float(layer.cycles)
            per_mac = f"{v / layer.macs:.2f}" if layer.macs else "-"
            rows.append((layer.index, layer.name or "", layer.kind, fmt_int(layer.macs) if layer.macs is not None else "-",
                         fmt_int(round(v)), f"{100 * v / total:.1f}%", per_mac))
        lines.append(render(["#", "layer", "kind", "MACs", unit, "share", f"{unit[:5]}/MAC"], rows,
                            title=f"per layer (last inference of each input, averaged; {unit})"))
        whole = (result.latency_instructions or {}).get("mean") if emulated else result.latency_cycles.get("mean")
        if whole:
            lines.append(f"sum of layers {total:,.0f} = {100 * total / whole:.1f}% of the whole inference "
                         f"({whole:,.0f} {unit})")
        if result.layers_dropped:
            lines.append(f"note: {result.layers_dropped} layers did not fit the firmware's layer table")
    m = result.memory
    if m:
        lines.append(f"memory: arena used {m.get('arena_used', 0):,} of {m.get('arena_bytes', 0):,} B, stack used "
                     f"{m.get('stack_used', 0):,} of {m.get('stack_bytes', 0):,} B, static RAM {m.get('static_ram', 0):,} B")
    if result.outputs:
        for i, out in enumerate(result.outputs[:4]):
            top = max(range(len(out)), key=lambda k: out[k]) if out else -1
            shown = ",".join(str(v) for v in out[:12]) + (",..." if len(out) > 12 else "")
            lines.append(f"output {i} (int8): [{shown}]  top-1 class {top}")
        if len(result.outputs) > 4:
            lines.append(f"... {len(result.outputs) - 4} more outputs (see --json)")
    if lut is not None and lut_path:
        fits = ", ".join(f"{k}: {v['cycles_per_mac']:.2f}/MAC + {v['cycles_per_op']:,.0f} (n={v['n']}, "
                         f"mean rel. error {100 * v['mean_rel_error']:.1f}%)" for k, v in lut["kinds"].items())
        lines.append(f"latency LUT {lut_path} ({lut['unit']}, {len(lut['samples'])} samples): {fits}")
    return "\n".join(lines)


def format_modes_profile(res: dict[str, Any]) -> str:
    """Per mode: latency, SRAM, flash, accuracy and the check against the host TFLM."""
    from ofa_mcu.table import fmt_bytes
    from ofa_mcu.table import render as render_table

    rows = []
    for d in res["modes"]:
        m, mem, pred, chk = d.get("mode") or {}, d.get("memory") or {}, d.get("predicted") or {}, d["check"]
        acc = (d.get("accuracy") or {}).get("int8")
        lat = d.get("latency_instructions") or {}
        clock = d.get("clock_hz") or 0
        ms = f"{1000.0 * lat['mean'] / clock:,.2f}" if lat.get("mean") and clock else "-"  # 1 instruction per cycle
        rows.append([str(m.get("index")), str(m.get("name")), str(m.get("input_shape")),
                     f"{lat.get('mean', 0):,.0f}" if lat else "-", ms,
                     fmt_bytes(mem.get("arena_used", 0)), fmt_bytes(pred.get("model_flash_bytes") or 0),
                     f"{100 * acc:.2f}%" if acc is not None else "-",
                     f"{d.get('energy_uj_estimate'):.1f}" if d.get("energy_uj_estimate") is not None else "-",
                     "yes" if chk["match"] else f"NO ({chk['mismatches']} of {chk['inputs']})"])
    head = ["mode", "name", "input", "instructions", "ms at clock (est.)", "arena used", "model flash", "int8 test", "uJ (est.)",
            "== host TFLM"]
    order = " -> ".join(str(k) for k in res["order"])
    return render_table(head, rows) + f"\nmodes switched over serial (ofa-mode N%) in the order {order}"


@click.command()
@click.option("--port", required=True,
              help="Serial device (/dev/ttyACM0), pyserial URL (socket://127.0.0.1:4444, rfc2217://...), or "
                   "qemu:FWDIR to build an emulated project, run it in QEMU and profile it.")
@click.option("--baud", type=click.IntRange(min=1), default=115200, show_default=True,
              help="Baud rate of a serial device (ignored by socket URLs).")
@measure_options
@click.option("--project", "project", type=click.Path(file_okay=False), default=None,
              help="The compiled project running on the device (its compile.json gives per-layer MACs and op "
                   "kinds for --lut); implied by qemu:FWDIR.")
@click.option("--mode", "mode", type=click.IntRange(min=0), default=None,
              help="A firmware with operating modes: switch to mode N first (ofa-mode N%) and profile it alone. "
                   "Without it, a project with modes (--project) has every mode profiled and checked.")
@json_option
def profile(port: str, baud: int, runs: int, warmup: int, inputs: str | None, lut: str | None, timeout_s: float,
            project: str | None, mode: int | None, as_json: bool) -> None:
    """Profile a device: load inputs (db), run `infer N W`, read outputs, latency, per-layer cycles,
    arena and stack use.

    Speaks the MLPerf Tiny runner protocol (any MLPerf Tiny firmware answers the standard part) plus
    the ofa-mcu extensions. On emulated boards the counts are instruction counts. With --lut the
    per-layer measurements are merged into a latency LUT (fit of cycles per MAC and per op per op
    kind, the fit error reported).
    """
    from ofa_mcu.artifacts import read_compile_info
    from ofa_mcu.firmware.trees import read_build_record
    from ofa_mcu.profiler import profile as run_profile
    from ofa_mcu.qemu import QEMU_PORT_PREFIX, open_port

    data = load_inputs(inputs)
    check_lut(lut)
    if project is None and port.startswith(QEMU_PORT_PREFIX):
        project = port[len(QEMU_PORT_PREFIX):]
    compiled = read_compile_info(project) if project else None
    sizes = model_sizes(project)
    say = None if as_json else (lambda msg: click.echo(f"profile: {msg}", err=True))
    built = read_build_record(Path(project) / "build").get("kernels") if project else None
    modes = (compiled or {}).get("modes") or []
    if modes and mode is None:
        if lut:
            raise click.UsageError("--lut profiles one mode: add --mode N")
        from ofa_mcu.emulation import profile_modes

        assert project is not None and compiled is not None
        with open_port(port) as url:
            res = profile_modes(url, Path(project), compiled, data, runs=runs, warmup=warmup, timeout_s=timeout_s,
                                baud=baud, built_kernels=built, progress=say)
        if as_json:
            echo_json(res)
        else:
            click.echo(format_modes_profile(res))
        if not res["match"]:
            raise WorkFailed("the device's outputs differ from the host TFLM for at least one mode (see above)")
        return
    if mode is not None and modes:
        if mode >= len(modes):
            raise UserError(f"--mode {mode}: {project} has {len(modes)} modes (0..{len(modes) - 1})")
        compiled = {**(compiled or {}), "layers": modes[mode].get("layers") or []}
        shape = (modes[mode].get("input") or {}).get("shape") or []
        sizes = {"input_bytes": int(math.prod(int(d) for d in shape))} if shape else None
    with open_port(port) as url:
        if say:
            say(f"connected to {url}")
        result = run_profile(url, data, runs=runs, warmup=warmup, baud=baud, timeout_s=timeout_s, progress=say,
                             expect_sizes=sizes, mode=mode)
    attach_project(result, compiled, built)
    table = update_lut(lut, result) if lut else None
    if as_json:
        echo_json(profile_json(result, lut, table))
    else:
        click.echo(format_profile(result, lut, table))
