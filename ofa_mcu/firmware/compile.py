"""The compile pipeline: checkpoint -> (search) -> subnet -> INT8 export -> firmware project.

:func:`compile_project` is what ``ofa-mcu compile`` runs:

1. the subnet: given (a :class:`~ofa_mcu.config.SubnetConfig` or a subnet JSON file), read from
   a search result (``DIR/search.json``), or found by running the search for the board
   (:func:`ofa_mcu.search.run_search`) when the folder holds no result yet;
2. the INT8 ``.tflite`` (:func:`ofa_mcu.export.pipeline.export_subnet`: BN recalibration,
   TensorFlow's converter, verification on TFLM, INT8 accuracy);
3. the model sources of the runtime (``ofa_mcu.runtimes``: its ``model_sources``);
4. the project (:func:`ofa_mcu.firmware.project.render_project`) with ``model.tflite``,
   ``subnet.json``, ``export.json`` (the export report) and ``compile.json``: board, runtime,
   subnet, accuracy, the predicted arena / SRAM / flash against the board's budgets, and one
   entry per layer (index, name, op kind, MACs) that ``ofa-mcu profile --lut`` attaches to the
   measured per-layer cycles.

:func:`render_model_project` re-renders a compiled project's ``model.tflite`` for another board
(``ofa-mcu emulate --board``) without exporting again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ofa_mcu import __version__
from ofa_mcu.artifacts import (
    COMPILE_FORMAT,
    COMPILE_INFO,
    EXPORT_REPORT,
    MODEL_FILE,
    SEARCH_FILE,
    SUBNET_FILE,
    is_project,
    search_path,
    subnet_from_search,
)
from ofa_mcu.boards import Board, load_board
from ofa_mcu.config import SubnetConfig
from ofa_mcu.energy import power_summary
from ofa_mcu.errors import UserError
from ofa_mcu.firmware.board_config import check_energy_mode
from ofa_mcu.firmware.library import PROJECT_FORMAT, check_output, get_format, render_library
from ofa_mcu.firmware.project import render_project
from ofa_mcu.runtimes import ModelRequest, get_runtime
from ofa_mcu.search import SearchOptions, run_search
from ofa_mcu.space import SearchSpace
from ofa_mcu.tflite import model_subnet
from ofa_mcu.userfiles import parse_json, read_text

Progress = Callable[[str], None]


@dataclass
class CompileResult:
    """What :func:`compile_project` produced."""

    project_dir: Path
    board: str
    runtime: str
    subnet: SubnetConfig | None  # None for a .tflite without ofa-mcu metadata (compile_tflite)
    model: bytes
    info: dict[str, Any]  # the project's compile.json
    native: Any = None  # the runtime's model description (ofa_mcu.native.codegen.NativeModel for native)
    search: dict[str, Any] | None = None  # the search result entry for the board, if searched
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.info, "project_dir": str(self.project_dir), "notes": self.notes}


# ------------------------------------------------------------------------------------------
# the subnet


def _run_search(checkpoint: Path, board: Board, runtime: str, out: Path, seed: int, quiet: bool,
                say: Progress) -> None:
    say(f"searching the best subnet for {board.name} ({runtime} runtime) into {out}")
    run_search(SearchOptions(checkpoint=checkpoint, targets=[board.name], out=out, runtime=runtime, seed=seed,
                             quiet=quiet), log=say)


def resolve_subnet(space: SearchSpace, board: Board, runtime: str, checkpoint: Path, *,
                   subnet: SubnetConfig | str | os.PathLike | None, search_dir: str | os.PathLike | None,
                   seed: int = 0, quiet: bool = True, say: Progress = lambda _m: None
                   ) -> tuple[SubnetConfig, dict[str, Any] | None, str | None]:
    """(subnet, the search's entry for the board or None, search.json text or None)."""
    if subnet is not None and search_dir is not None:
        raise UserError("give either a subnet or a search folder, not both")
    if isinstance(subnet, SubnetConfig):
        return subnet.validate(space), None, None
    if subnet is not None:
        return SubnetConfig.load(subnet).validate(space, source=str(subnet)), None, None
    tmp: str | None = None
    if search_dir is None:
        tmp = tempfile.mkdtemp(prefix="ofa-mcu-search-")
        folder = Path(tmp)
    else:
        folder = Path(search_dir)
        if folder.suffix.lower() == ".json" and not folder.is_dir():
            folder = folder.parent
    try:
        if not search_path(folder).is_file():
            _run_search(checkpoint, board, runtime, folder, seed, quiet, say)
        cfg = subnet_from_search(folder, board.name, space)
        text = read_text(search_path(folder))
        entry = parse_json(text, str(search_path(folder)))["boards"].get(board.name)
        if isinstance(entry, dict) and entry.get("runtime") not in (None, runtime):
            say(f"note: the search for {board.name} assumed the {entry.get('runtime')} runtime, compiling for {runtime}")
        return cfg, entry if isinstance(entry, dict) else None, text
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------
# rendering


#: A model name the firmware reports (``m-name-dut-[NAME]``, ``m-model-[NAME]``): the MLPerf Tiny
#: runner picks its test script and data set folder by it (ic01, kws01, vww01, ad01).
MODEL_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")


def check_model_name(name: str, what: str = "--model-name") -> str:
    """``name`` if it can be the firmware's model name, else ``UserError`` (one line)."""
    if not MODEL_NAME_RE.fullmatch(name):
        raise UserError(f"{what} {name!r}: expected 1-32 letters, digits, '_', '.' or '-', starting with a "
                        "letter or digit (e.g. ic01, the MLPerf Tiny runner's name for image classification)")
    return name


#: MLPerf Tiny models whose official data sets are uint8 images: the reference submissions'
#: ``th_load_tensor`` shifts each byte by -128 into the int8 input, and so does a firmware compiled
#: with ``--model-name`` one of these (``db_input`` uint8) unless ``--db-input`` says otherwise.
UINT8_DATASET_MODELS = ("ic01", "vww01")
DB_INPUTS = ("int8", "uint8")


def db_input_for(model_name: str, given: str | None = None) -> str:
    """How the serial runner reads ``db`` bytes: ``given``, else uint8 for the models whose MLPerf
    Tiny data sets are uint8 images (:data:`UINT8_DATASET_MODELS`), else int8."""
    if given is not None:
        if given not in DB_INPUTS:
            raise UserError(f"--db-input {given!r}: expected int8 or uint8")
        return given
    return "uint8" if model_name in UINT8_DATASET_MODELS else "int8"


def _model_name(space: str | None, cfg: SubnetConfig | None, given: str | None = None) -> str:
    if given is not None:
        return check_model_name(given)
    if space and cfg is not None:
        return f"{space}-{cfg.stable_hash()}"
    return "model"


def _file_model_name(path: str | os.PathLike, limit: int = 64) -> str:
    """A model name from a ``.tflite`` file name: letters, digits, '_', '.', '-' (at most ``limit``;
    a firmware's ``m-model-[...]`` name takes 32), starting with a letter or digit."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem).strip("._-")[:limit].rstrip("._-")
    return stem or "model"


def _predicted(space: SearchSpace | None, cfg: SubnetConfig | None, board: Board, runtime: str,
               model: bytes | None = None) -> dict[str, Any]:
    """The analysis' figures for this subnet (what the search assumed), or for the layer IR of a
    ``.tflite`` without a subnet (read from its graph alone), on this board."""
    from ofa_mcu.analysis import analyze, analyze_graph
    from ofa_mcu.search.latency import board_latency

    if space is not None and cfg is not None:
        a, source = analyze(space, cfg, board, runtime), "ofa_mcu.analysis (layer IR + planner + flash model)"
    elif model is not None:
        from ofa_mcu.tflite import parse_tflite
        from ofa_mcu.usermodel import model_ir

        a = analyze_graph(model_ir(model, parse_tflite(model, MODEL_FILE), MODEL_FILE), board, runtime)
        source = "ofa_mcu.analysis of the .tflite graph (layer IR + planner + flash model)"
    else:
        return {"source": "generated model (no subnet metadata)"}
    d = a.to_dict()
    rt = get_runtime(runtime)
    by_kernels = {k: rt.plan(a.graph, k).peak_bytes for k in rt.kernel_sets}
    return {
        "source": source,
        "arena_bytes": a.plan.peak_bytes,
        **({"arena_bytes_by_kernels": by_kernels} if by_kernels else {}),
        "sram_bytes": a.peak_sram_bytes,  # arena + the runner's copy of the input
        "activation_bytes": a.plan.activation_bytes,
        "persistent_bytes": a.plan.persistent_bytes,
        "peak_layer": d["peak_layer"],
        "model_flash_bytes": a.model_flash_bytes,
        "code_bytes": a.code_bytes,
        "flash_bytes": a.flash_bytes,
        "stack_bytes": board.memory.stack_bytes,
        "sram_budget": d["sram_budget"],
        "flash_budget": d["flash_budget"],
        "fits": a.fits,
        "macs": a.graph.macs,
        "latency_ms": round(board_latency(board, runtime).ms(a.graph), 3),
    }


def _layers(space: SearchSpace | None, cfg: SubnetConfig | None, model: bytes) -> list[dict[str, Any]]:
    """One entry per profiled layer (index, name, op kind, MACs) from the layer IR of the subnet,
    or of the ``.tflite`` itself when it carries no subnet."""
    if space is not None and cfg is not None:
        from ofa_mcu.ir import build_graph

        g = build_graph(space, cfg)
        return [{"index": op.index, "name": op.name, "kind": op.kind, "tflite_op": op.tflite_op, "macs": op.macs,
                 "in_shape": list(op.in_shape), "out_shape": list(op.out_shape)} for op in g.ops]
    from ofa_mcu.tflite import parse_tflite, to_ir

    g = to_ir(parse_tflite(model, MODEL_FILE), origin=MODEL_FILE, other_ops=True).graph
    return [{"index": op.index, "name": op.name, "kind": op.kind, "tflite_op": op.tflite_op, "macs": op.macs, "in_shape": list(op.in_shape),
             "out_shape": list(op.out_shape)} for op in g.ops]


def render_model_project(model: bytes, board: Board | str, out: str | os.PathLike, runtime: str, *,
                         space: SearchSpace | None = None, subnet: SubnetConfig | None = None,
                         report: Mapping[str, Any] | None = None, search_text: str | None = None,
                         extra_info: Mapping[str, Any] | None = None, say: Progress = lambda _m: None,
                         energy_mode: bool = False, model_name: str | None = None,
                         db_input: str | None = None) -> tuple[Path, dict[str, Any], Any]:
    """Render the firmware project of an INT8 ``.tflite`` for ``board``: (folder, compile.json, the
    runtime's model description, e.g. a ``NativeModel``).

    ``space`` / ``subnet`` give the predicted figures and layer names (read from the model's
    metadata when not given); ``report`` is the export report (accuracy, quantization).
    ``model_name``: the name the firmware reports (``m-model-[...]``; default ``SPACE-HASH``).
    ``db_input``: how the serial runner reads ``db`` bytes (:func:`db_input_for`).
    """
    rt = get_runtime(runtime)
    b = board if isinstance(board, Board) else load_board(board)
    b.require_firmware()
    if energy_mode:
        check_energy_mode(b)  # a board without a timestamp pin: one line, before any work
    if space is None or subnet is None:
        space, subnet = model_subnet(model, MODEL_FILE) or (None, None)
    name = _model_name(space.name if space is not None else None, subnet, model_name)
    db = db_input_for(name, db_input)
    rep = dict(report or {})
    predicted = _predicted(space, subnet, b, runtime, model)
    made = rt.model_sources(model, b, ModelRequest(name=name, origin=MODEL_FILE, space=space, subnet=subnet,
                                                   report=rep, predicted=predicted, say=say))
    info: dict[str, Any] = {
        "format": COMPILE_FORMAT,
        "generator": f"ofa-mcu {__version__}",
        "board": b.name,
        "core": b.core,
        "clock_hz": b.clock_hz,
        "emulated": b.emulated,
        "qemu_machine": b.qemu.machine if b.qemu else None,
        "runtime": runtime,
        "kernels": rt.kernels(b),
        "model": name,
        "model_file": MODEL_FILE,
        "model_bytes": len(model),
        "space": space.name if space is not None else None,
        "subnet": subnet.to_dict() if subnet is not None else None,
        "subnet_hash": subnet.stable_hash() if subnet is not None else None,
        "accuracy": rep.get("accuracy"),
        "input": rep.get("input"),
        "output": rep.get("output"),
        "predicted": predicted,
        "layers": made.layers if made.layers is not None else _layers(space, subnet, model),
        "energy_mode": energy_mode,
        "db_input": db,
        "energy_model": power_summary(b),
        **dict(extra_info or {}),
        **made.info,
    }
    extra_files: dict[str, str | bytes] = {MODEL_FILE: bytes(model), COMPILE_INFO: json.dumps(info, indent=2) + "\n"}
    if subnet is not None:
        extra_files[SUBNET_FILE] = json.dumps(subnet.to_dict(), indent=2) + "\n"
    if rep:
        extra_files[EXPORT_REPORT] = json.dumps(rep, indent=2) + "\n"
    if search_text is not None:
        extra_files[SEARCH_FILE] = search_text
    say(f"rendering the {runtime} firmware project for {b.name} into {out}")
    path = render_project(b, out, made.sources, runtime=runtime, extra_context=made.extra_context, model_name=name,
                          extra_files=extra_files, energy_mode=energy_mode, db_input=db)
    return path, info, made.model


# ------------------------------------------------------------------------------------------
# the whole pipeline


def _check_out(board: Board, out: str | os.PathLike, output_format: str, energy_mode: bool) -> Path:
    """Before any work: the output folder (a library folder, or a folder that is empty or holds a
    previous project) and what the board must have for the output asked for."""
    if output_format != PROJECT_FORMAT:
        get_format(output_format)
        return check_output(out)
    board.require_firmware()
    if energy_mode:
        check_energy_mode(board)
    out_path = Path(out).expanduser()
    if out_path.exists() and (not out_path.is_dir() or (any(out_path.iterdir()) and not is_project(out_path))):
        raise UserError(f"{out_path}: exists and is not a generated firmware project; choose another --out")
    return out_path




def compile_project(checkpoint: str | os.PathLike, board: Board | str, out: str | os.PathLike,
                    runtime: str = "native", *, subnet: SubnetConfig | str | os.PathLike | None = None,
                    search_dir: str | os.PathLike | None = None, calibration_samples: int = 200, seed: int = 0,
                    measure_arena: bool | None = None, test_images: int | None = None,
                    progress: Progress | None = None, output_format: str = PROJECT_FORMAT,
                   energy_mode: bool = False, model_name: str | None = None,
                   db_input: str | None = None) -> CompileResult:
    """Search (unless a subnet is given), export and render a firmware project into ``out``
    (``output_format`` ``project``), or a library for the user's own firmware (``library``,
    ``arduino``, ``zephyr``: :mod:`ofa_mcu.firmware.library`; any board, no board support needed).

    ``subnet``: a config or a subnet JSON path. ``search_dir``: a search output folder; its
    ``search.json`` gives the board's subnet, and when it has none yet the search runs there
    first. Neither: the search runs in a temporary folder and its ``search.json`` is kept in the
    project. ``measure_arena``: measure the real TFLM arena during export (default: for tflm).
    ``model_name``: the name the firmware reports (``m-model-[...]``, e.g. ``ic01``); ``db_input``:
    how its serial runner reads ``db`` bytes (default from the name: :func:`db_input_for`).
    """
    if model_name is not None:
        check_model_name(model_name)
    if db_input is not None:
        db_input_for("", db_input)
    rt = get_runtime(runtime)
    say: Progress = progress or (lambda _m: None)
    b = board if isinstance(board, Board) else load_board(board)
    library = output_format != PROJECT_FORMAT
    out_path = _check_out(b, out, output_format, energy_mode)
    from ofa_mcu.checkpoint import load_checkpoint, resolve_path

    ckpt_path = resolve_path(checkpoint)
    ckpt = load_checkpoint(ckpt_path)
    space = ckpt.space
    cfg, entry, search_text = resolve_subnet(space, b, runtime, ckpt_path, subnet=subnet, search_dir=search_dir,
                                             seed=seed, quiet=progress is None, say=say)
    from ofa_mcu.analysis import analyze

    pre = analyze(space, cfg, b, runtime)
    notes: list[str] = []
    if pre.fits is False:
        what = [n for n, bud in (("SRAM", pre.sram), ("flash", pre.flash)) if bud is not None and not bud.fits]
        notes.append(f"the analysis predicts that subnet {cfg.stable_hash()} does not fit {b.name} "
                     f"({' and '.join(what)}): the link will fail")
        say("warning: " + notes[-1])

    from ofa_mcu.data import load_source
    from ofa_mcu.export.pipeline import export_subnet

    data = load_source(ckpt.data, ckpt.seed)
    if data.in_channels != space.in_channels:
        raise UserError(f"{ckpt_path}: data '{ckpt.data}' has {data.in_channels} channels, space expects "
                        f"{space.in_channels}")
    say(f"exporting subnet {cfg.stable_hash()} of {space.name} to INT8")
    exported = export_subnet(ckpt.supernet, cfg, data, calibration_samples=calibration_samples, seed=seed,
                             bn_samples=ckpt.bn_calib_samples,
                             measure=rt.measures_tflm_arena if measure_arena is None else measure_arena,
                             test_images=test_images,
                             progress=(lambda m: say(f"export: {m}")) if progress else None)
    report = {**exported.report, "checkpoint": str(ckpt_path), "data": ckpt.data}
    extra = {"checkpoint": str(ckpt_path), "data": ckpt.data}
    if entry is not None:
        extra["search"] = {k: entry.get(k) for k in ("predicted_acc", "measured_acc", "peak_sram_bytes",
                                                      "flash_bytes", "latency_ms", "runtime") if k in entry}
    if library:
        name = _model_name(space.name, cfg)
        path, info, lib = render_library(exported.model, b, out_path, runtime, output_format, name=name, space=space,
                                         subnet=cfg, report=report, predicted=_predicted(space, cfg, b, runtime),
                                         extra_info=extra, say=say)
        return CompileResult(project_dir=path, board=b.name, runtime=runtime, subnet=cfg, model=exported.model,
                             info=info, native=lib.model, search=entry, notes=notes)
    path, info, native = render_model_project(exported.model, b, out_path, runtime, space=space, subnet=cfg,
                                              report=report, search_text=search_text, extra_info=extra, say=say,
                                              energy_mode=energy_mode, model_name=model_name, db_input=db_input)
    return CompileResult(project_dir=path, board=b.name, runtime=runtime, subnet=cfg, model=exported.model, info=info,
                         native=native, search=entry, notes=notes)


def compile_tflite(path: str | os.PathLike, board: Board | str, out: str | os.PathLike, runtime: str,
                   progress: Progress | None = None, output_format: str = PROJECT_FORMAT,
                   energy_mode: bool = False, model_name: str | None = None,
                   db_input: str | None = None) -> CompileResult:
    """Render the firmware project of any int8 ``.tflite`` (a user's model: no checkpoint, no
    metadata needed) into ``out``: the model prepared for the runtime
    (:func:`ofa_mcu.usermodel.load_user_model`: float QUANTIZE / DEQUANTIZE at the edges left
    off, every op checked), the analysis' figures against the board, the project."""
    from ofa_mcu.usermodel import load_user_model

    say: Progress = progress or (lambda _m: None)
    b = board if isinstance(board, Board) else load_board(board)
    library = output_format != PROJECT_FORMAT
    out_path = _check_out(b, out, output_format, energy_mode)
    um = load_user_model(str(path), runtime)
    notes: list[str] = []
    if um.removed:
        notes.append(f"deployed with int8 input and output: removed {', '.join(um.removed)}")
        say(notes[-1])
    found = model_subnet(um.model, str(path))
    space, cfg = found if found is not None else (None, None)
    if library:
        name = _model_name(space.name, cfg) if space is not None else _file_model_name(path)
        path_out, info, lib = render_library(um.model, b, out_path, runtime, output_format, name=name, space=space,
                                             subnet=cfg, predicted=_predicted(space, cfg, b, runtime, um.model),
                                             extra_info={"source_model": um.to_dict()}, say=say)
        return CompileResult(project_dir=path_out, board=b.name, runtime=runtime, subnet=cfg, model=um.model,
                             info=info, native=lib.model, notes=notes)
    if model_name is None and space is None:  # a user's model is named after its file
        model_name = _file_model_name(path, limit=32)
    path_out, info, native = render_model_project(um.model, b, out_path, runtime, space=space, subnet=cfg,
                                                  extra_info={"source_model": um.to_dict()}, say=say,
                                                  energy_mode=energy_mode, model_name=model_name, db_input=db_input)
    if info["predicted"].get("fits") is False:
        what = [k for k in ("sram_budget", "flash_budget") if not (info["predicted"].get(k) or {}).get("fits", True)]
        notes.append(f"the analysis predicts that {Path(path).name} does not fit {b.name} "
                     f"({' and '.join(w.split('_')[0].upper().replace('FLASH', 'flash') for w in what)}): "
                     "the link will fail")
        say("warning: " + notes[-1])
    return CompileResult(project_dir=path_out, board=b.name, runtime=runtime, subnet=cfg, model=um.model, info=info,
                         native=native, notes=notes)
