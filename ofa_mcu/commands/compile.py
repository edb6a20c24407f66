"""`ofa-mcu compile`: checkpoint -> subnet (given or searched) -> INT8 export -> firmware project."""

from __future__ import annotations

import click

from ofa_mcu.commands.build import KERNEL_CHOICES
from ofa_mcu.commands.options import echo_json, json_option, seed_option
from ofa_mcu.firmware.library import FORMATS, PROJECT_FORMAT, format_names
from ofa_mcu.runtimes import default_runtime, find_runtime, get_runtime, runtime_names, runtimes
from ofa_mcu.table import fmt_bytes


def _budget(name: str, b: dict | None) -> str | None:
    if not b:
        return None
    verdict = "fits" if b["fits"] else "DOES NOT FIT"
    return f"{name}: {fmt_bytes(b['used'])} of {fmt_bytes(b['limit'])} usable: {verdict} (margin {b['margin_bytes']:+,} B)"


def format_compile(info: dict, project: str, notes: list[str]) -> str:
    """The human summary of a compiled project."""
    p = info["predicted"]
    kernels = f" ({info['kernels']} kernels)" if info.get("kernels") and info["kernels"] != info["runtime"] else ""
    lines = [f"compiled {info['model']} for {info['board']} ({info['core']}), runtime {info['runtime']}{kernels}: "
             f"{project}"]
    sub = info.get("subnet") or {}
    if sub:
        depths = ",".join(str(len(s)) for s in sub.get("stages", []))
        lines.append(f"subnet {info['subnet_hash']} of {info['space']}: resolution {sub.get('resolution')}, depths {depths}, "
                     f"{len(info['layers'])} layers, {p.get('macs', 0):,} MACs")
    acc = info.get("accuracy")
    if acc:
        lines.append(f"accuracy on {acc['test_samples']} held-out test images: float {100 * acc['float']:.2f}%, "
                     f"int8 (TFLM) {100 * acc['int8']:.2f}%")
    if "arena_bytes" in p:
        extra = ""
        rt = find_runtime(info["runtime"])
        extra = rt.arena_note if rt is not None else ""
        lines.append(f"predicted arena {p['arena_bytes']:,} B{extra}, stack {p.get('stack_bytes', 0):,} B, "
                     f"flash {p.get('flash_bytes', 0):,} B (model {p.get('model_flash_bytes', 0):,} + code "
                     f"{p.get('code_bytes', 0):,})")
    for line in (_budget("SRAM", p.get("sram_budget")), _budget("flash", p.get("flash_budget"))):
        if line:
            lines.append(line)
    chosen = (info.get("native") or {}).get("kernels") or {}
    if chosen.get("note"):
        lines.append(f"kernel loops: {chosen['note']}")
    src = info.get("source_model")
    if src:
        lines.append(f"model {src['path']}: {len(info['layers'])} layers, {p.get('macs', 0):,} MACs, input "
                     f"{'x'.join(map(str, src['input']['shape']))} {src['input']['dtype']}")
    if p.get("latency_ms") is not None:
        lines.append(f"latency estimate {p['latency_ms']:,.1f} ms (the board's {info['runtime']} coefficients, "
                     "not measured)")
    if info.get("db_input") == "uint8":
        lines.append("MLPerf Tiny input: the firmware reads `db` bytes as uint8 and shifts them by -128 into the int8 "
                     "input, as the reference submissions read the official uint8 images (--db-input int8 to change)")
    if info.get("energy_mode"):
        lines.append("MLPerf Tiny energy mode: timestamps are pulses on the board's timestamp pin, UART at 9600 baud "
                     "(drive it with the EEMBC energy runner; `ofa-mcu profile` needs a performance-mode build)")
    energy = info.get("energy_model")
    if energy and p.get("macs") is not None and (info.get("search") or {}).get("latency_ms") is not None:
        uj = info["search"]["latency_ms"] * energy["run_power_mw"]
        lines.append(f"energy per inference: {uj:.1f} uJ ({energy['note']})")
    lines += [f"note: {n}" for n in notes]
    files = "model.tflite, compile.json" if src else "model.tflite, subnet.json, export.json, compile.json"
    lines.append(f"files: {files}, model/, firmware/, CMakeLists.txt")
    nxt = f"next: ofa-mcu build {project}"
    if info.get("emulated"):
        nxt += f"  |  ofa-mcu emulate {project} --profile"
    else:
        nxt += f"  then  ofa-mcu flash {project}"
    lines.append(nxt)
    return "\n".join(lines)


def format_library(info: dict, folder: str) -> str:
    """The human summary of a library written by ``compile --format library|arduino|zephyr``."""
    i, o = info["input"], info["output"]
    lines = [f"compiled {info['model']} as a{'n' if info['output_kind'][0] in 'AEIOU' else ''} {info['output_kind']} "
             f"({info['runtime']} runtime) for "
             f"{info['board']} ({info['core']}): {folder}",
             f"input int8 {'x'.join(map(str, i['shape']))} (scale {i['scale']:.6g}, zero point {i['zero_point']}), "
             f"output int8 {'x'.join(map(str, o['shape']))}; arena {info['arena_bytes']:,} B; "
             f"{len(info['layers'])} layers, {info['macs']:,} MACs"]
    acc = info.get("accuracy")
    if acc:
        lines.append(f"accuracy on {acc['test_samples']} held-out test images: float {100 * acc['float']:.2f}%, "
                     f"int8 (TFLM) {100 * acc['int8']:.2f}%")
    if info.get("needs"):
        lines.append(f"needs from your build: {', '.join(info['needs'])}")
    lines.append(f"next: see {folder}/README.md (API in ofa_model.h)")
    return "\n".join(lines)


def format_modes(info: dict, project: str, notes: list[str]) -> str:
    """The human summary of a multi-mode firmware project."""
    from ofa_mcu.table import render as render_table

    p = info["predicted"]
    lines = [f"compiled {info['model']} for {info['board']} ({info['core']}), runtime {info['runtime']}: "
             f"{len(info['modes'])} modes in one firmware: {project}"]
    rows = []
    for m in info["modes"]:
        mp, acc = m["predicted"], m.get("accuracy") or {}
        rows.append([str(m["index"]), m["name"], m["subnet_hash"], str(m["resolution"]),
                     f"{100 * acc['int8']:.2f}%" if acc.get("int8") is not None else "-",
                     fmt_bytes(mp["arena_bytes"]), fmt_bytes(mp["model_flash_bytes"]),
                     f"{mp['latency_ms']:,.1f} ms" if mp.get("latency_ms") is not None else "-",
                     f"{m['energy_uj_estimate']:.1f} uJ" if m.get("energy_uj_estimate") is not None else "-"])
    lines.append(render_table(["mode", "name", "subnet", "res", "int8 test", "arena", "model flash",
                               "latency (est.)", "energy (est.)"], rows))
    sh = info.get("flash_sharing") or {}
    if sh.get("weight_bytes_separate"):
        shared = (f" - {p['shared_weight_bytes_saved']:,} int8 weight bytes stored once ({sh.get('saved_pct', 0):.1f}% "
                  f"of {sh['weight_bytes_separate']:,})")
    else:
        shared = f" ({sh.get('rule', 'no weights shared')})"
    lines.append(f"shared arena {p['arena_bytes']:,} B (the largest mode's); flash {p['flash_bytes']:,} B = code "
                 f"{p['code_bytes']:,} + models {p['model_flash_bytes_separate']:,}{shared}")
    for line in (_budget("SRAM", p.get("sram_budget")), _budget("flash", p.get("flash_budget"))):
        if line:
            lines.append(line)
    lines += [f"note: {n}" for n in notes]
    lines.append("C API: ofa_model_count(), ofa_model_select(i), ofa_model_mode(i) (model/model.h); serial: ofa-mode N%")
    nxt = f"next: ofa-mcu build {project}"
    nxt += f"  |  ofa-mcu emulate {project} --profile" if info.get("emulated") else f"  then  ofa-mcu flash {project}"
    lines.append(nxt)
    return "\n".join(lines)


def _mode_choices(checkpoint: str, board: str, subnet_files: tuple[str, ...], search_dir: str | None):
    """(modes, search.json text) for several --subnet or a --search result with modes; None for one subnet."""
    from ofa_mcu.firmware.modes import ModeChoice, modes_from_search

    if len(subnet_files) < 2 and search_dir is None:
        return None
    from ofa_mcu.checkpoint import load_checkpoint, resolve_path
    from ofa_mcu.config import SubnetConfig

    space = load_checkpoint(resolve_path(checkpoint)).space
    if len(subnet_files) >= 2:
        return [ModeChoice(f"mode{k}", SubnetConfig.load(f).validate(space, source=f))
                for k, f in enumerate(subnet_files)], None
    assert search_dir is not None
    return modes_from_search(search_dir, board, space)


@click.command(name="compile")
@click.option("--checkpoint", type=click.Path(), default=None,
              help="Supernet checkpoint (a file or a training folder with checkpoint.pt).")
@click.option("--tflite", "tflite", type=click.Path(dir_okay=False), default=None,
              help="Compile any int8 .tflite instead (no checkpoint: input shape and quantization come from the "
                   "graph; a float QUANTIZE at the input and DEQUANTIZE at the output are left off).")
@click.option("--target", "target", required=True,
              help="Board name (see `ofa-mcu boards`) or board YAML path.")
@click.option("--subnet", "subnet_files", type=click.Path(dir_okay=False), multiple=True,
              help="Subnet JSON to deploy (from `space sample` or a search result). Repeat it for one firmware "
                   "with several operating modes switchable at run time (mode 0 = the first; native runtime).")
@click.option("--search", "search_dir", type=click.Path(), default=None,
              help="Search output folder: its search.json gives the board's subnet (all its modes, in one "
                   "firmware, for a `search --modes K` result); if the folder has no search.json yet, the "
                   "search runs there first.")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True,
              help="Folder to write: the firmware project, or the library with --format (replaced if it is a "
                   "previous one of the same kind).")
@click.option("--runtime", type=click.Choice(runtime_names()), default=None,
              help="Runtime on the device: " + "; ".join(f"{rt.name}: {rt.description}" for rt in runtimes())
                   + ". Default: " + ", ".join(f"{rt.name} on {'emulated' if rt.default_on_emulated else 'real'} boards"
                                               for rt in runtimes()) + ".")
@click.option("--format", "output_format", type=click.Choice(format_names()), default=PROJECT_FORMAT,
              show_default=True,
              help="What to write: project: the standalone firmware (board support + serial runner; boards with a "
                   "supported family); " + "; ".join(f"{f.name}: {f.description}" for f in FORMATS.values())
                   + ". The library formats work for any board and use none of ofa-mcu's board support.")
@click.option("--calibration-samples", type=click.IntRange(min=1), default=200, show_default=True,
              help="Training images that calibrate the INT8 quantization.")
@click.option("--test-images", type=click.IntRange(min=10), default=None,
              help="Measure float and INT8 accuracy on a stratified subset of this many test images (default: all).")
@click.option("--energy-mode", is_flag=True,
              help="Build for the MLPerf Tiny energy mode: each timestamp is a low pulse on the board YAML's "
                   "timestamp_pin (for the energy monitor) instead of m-lap-us, the UART runs at 9600 baud; "
                   "every other reply is unchanged.")
@click.option("--model-name", default=None,
              help="Name the firmware reports to the MLPerf Tiny runner (m-model-[NAME], m-name-dut-[NAME]), "
                   "which picks its test script and data set by it: ic01, kws01, vww01, ad01. Default: "
                   "SPACE-SUBNETHASH.")
@click.option("--db-input", type=click.Choice(["int8", "uint8"]), default=None,
              help="How the firmware reads the bytes the MLPerf Tiny runner sends with `db`: uint8 (shifted by "
                   "-128 into the int8 input, as the reference submissions read the uint8 images of the official "
                   "ic01 and vww01 data sets) or int8 (the input as is). Default: uint8 for --model-name ic01 or "
                   "vww01, else int8. `ofa-mcu profile` and `emulate` adapt to either.")
@click.option("--kernels", type=click.Choice(KERNEL_CHOICES), default=None,
              help="tflm runtime: the TFLM kernels the firmware is built with, reference or cmsis-nn; the "
                   "predicted arena includes their scratch (default: the board YAML's runtime.tflm.kernels).")
@seed_option
@json_option
def compile_cmd(checkpoint: str | None, tflite: str | None, target: str, subnet_files: tuple[str, ...],
                search_dir: str | None, out: str, runtime: str | None, output_format: str, calibration_samples: int,
                test_images: int | None, energy_mode: bool, model_name: str | None, db_input: str | None,
                kernels: str | None, seed: int, as_json: bool) -> None:
    """Compile a firmware project for one board: subnet -> INT8 .tflite -> C project, or any int8
    .tflite (--tflite MODEL) -> C project; or, with --format, a library for your own firmware.

    The subnet is given (--subnet) or comes from a search (--search DIR; run first when DIR has no
    result; with neither, the board is searched for and the result kept in OUT/search.json). The subnet is exported to INT8 (BN recalibrated, TensorFlow's converter, verified on
    TFLM), then rendered for the runtime into OUT: CMake project, board support, serial runner,
    model sources, model.tflite, subnet.json, export.json and compile.json (predicted arena and
    flash against the board's budgets, per-layer MACs). Build it with `ofa-mcu build OUT`.

    With --tflite the model is checked against the runtime (an op it does not run is named with
    its operator index and the runtime that runs it), analysed from its graph alone and rendered
    the same way; `build`, `emulate` and `profile` work on the project as on any other.

    With --format library, arduino or zephyr, OUT is instead a library for your own firmware: the
    model, only the kernels it uses and the C API of ofa_model.h (init, input/output tensors,
    invoke, arena size, per-layer timing hook), packaged as a CMake/Make library, an Arduino
    library or a Zephyr module; for any board, including boards without board support.
    """
    if (checkpoint is None) == (tflite is None):
        raise click.UsageError("give exactly one of --checkpoint CKPT or --tflite MODEL")
    subnet_file = subnet_files[0] if len(subnet_files) == 1 else None
    if tflite is not None and (subnet_files or search_dir is not None):
        raise click.UsageError("--subnet and --search go with --checkpoint, not with --tflite")
    if subnet_files and search_dir is not None:
        raise click.UsageError("give at most one of --subnet FILE or --search DIR")
    from ofa_mcu.atomic import check_writable
    from ofa_mcu.boards import load_board
    from ofa_mcu.firmware.compile import check_model_name

    if model_name is not None:
        check_model_name(model_name)
    board = load_board(target)
    if output_format == PROJECT_FORMAT:
        board.require_firmware()  # before any work: a board without board support gets one line
    if db_input is not None and output_format != PROJECT_FORMAT:
        raise click.UsageError("--db-input is a firmware option: it goes with --format project")
    if energy_mode:
        if output_format != PROJECT_FORMAT:
            raise click.UsageError("--energy-mode is a firmware option: it goes with --format project")
        from ofa_mcu.firmware.board_config import check_energy_mode

        check_energy_mode(board)  # a board without a timestamp pin: one line, nothing written
    check_writable(out, folder=True)
    from ofa_mcu.firmware.compile import compile_project, compile_tflite
    from ofa_mcu.firmware.library import check_output

    if output_format != PROJECT_FORMAT:
        check_output(out)

    rt = runtime or default_runtime(board)
    if kernels is not None:
        board = board.with_kernels(rt, get_runtime(rt).check_kernels(kernels, board))
    progress = None if as_json else (lambda msg: click.echo(f"compile: {msg}", err=True))
    modes = _mode_choices(checkpoint, board.name, subnet_files, search_dir) if checkpoint is not None else None
    if modes is not None and output_format != PROJECT_FORMAT:
        raise click.UsageError("several modes go into a firmware project: --format project")
    if modes is not None:
        from ofa_mcu.firmware.modes import compile_modes

        assert checkpoint is not None
        choices, search_text = modes
        res = compile_modes(checkpoint, board, out, rt, choices=choices, search_text=search_text,
                            calibration_samples=calibration_samples, seed=seed, test_images=test_images,
                            progress=progress, energy_mode=energy_mode, model_name=model_name)
    elif tflite is not None:
        res = compile_tflite(tflite, board, out, rt, progress=progress, output_format=output_format,
                             energy_mode=energy_mode, model_name=model_name, db_input=db_input)
    else:
        assert checkpoint is not None
        res = compile_project(checkpoint, board, out, rt, subnet=subnet_file, search_dir=search_dir,
                              calibration_samples=calibration_samples, seed=seed, test_images=test_images,
                              progress=progress, output_format=output_format,
                              energy_mode=energy_mode, model_name=model_name, db_input=db_input)
    if as_json:
        echo_json(res.to_json())
    elif modes is not None:
        click.echo(format_modes(res.info, str(res.project_dir), res.notes))
    elif output_format != PROJECT_FORMAT:
        click.echo(format_library(res.info, str(res.project_dir)))
    else:
        click.echo(format_compile(res.info, str(res.project_dir), res.notes))
