"""Compiling K subnets into ONE firmware whose operating modes switch at run time.

``ofa-mcu compile --search DIR`` of a ``search --modes K`` result (``boards.NAME.modes``) or with
several ``--subnet`` runs :func:`compile_modes`: every mode's subnet is exported to INT8 like a
single subnet (BN recalibration, TensorFlow's converter, verification on TFLM, test accuracy),
then the runtime renders all of them into one project (``Runtime.modes_sources``:
``ofa_mcu.native.modes``, ``ofa_mcu.tflm.modes``): one shared arena (the largest mode's), every
model in flash (native: identical int8 weights stored once), ``ofa_model_select(i)`` and the
serial ``ofa-mode N%``.

The project holds ``mode<k>.tflite`` (each mode's own model, the reference its outputs are
checked against), ``model.tflite`` (mode 0's, the mode the firmware starts in, for the tools that
read one model) and ``compile.json`` with a ``modes`` list: per mode its name, subnet, accuracy,
input, predicted arena / SRAM / model flash / latency / energy and layers; at the top the shared
arena, the total flash against the board (each model's flash minus what is stored once), and
``flash_sharing`` (int8 weight bytes separate vs stored).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ofa_mcu import __version__
from ofa_mcu.artifacts import COMPILE_FORMAT, COMPILE_INFO, MODEL_FILE, SEARCH_FILE, search_path
from ofa_mcu.boards import Board, load_board
from ofa_mcu.config import SubnetConfig
from ofa_mcu.energy import energy_uj, power_summary
from ofa_mcu.errors import UserError
from ofa_mcu.firmware.compile import CompileResult, _check_out, _predicted, check_model_name
from ofa_mcu.firmware.project import render_project
from ofa_mcu.runtimes import ModelRequest, get_runtime
from ofa_mcu.space import SearchSpace
from ofa_mcu.userfiles import parse_json, read_text

Progress = Callable[[str], None]
MODES_FORMAT = 1


def mode_file(k: int) -> str:
    """The project's file holding mode ``k``'s ``.tflite``."""
    return f"mode{k}.tflite"


@dataclass
class ModeChoice:
    """One mode to compile: its name, its subnet and, from a search, its entry there."""

    name: str
    subnet: SubnetConfig
    entry: dict[str, Any] | None = None


def modes_from_search(search_dir: str | os.PathLike, board: str, space: SearchSpace
                      ) -> tuple[list[ModeChoice], str] | None:
    """The modes a ``search --modes K`` result chose for ``board`` and the search.json text, or
    None when the result holds no modes for it (a bad file is a one-line ``UserError``)."""
    path = search_path(search_dir)
    if not path.is_file():
        return None
    text = read_text(path)
    data = parse_json(text, str(path))
    boards = data.get("boards") if isinstance(data, dict) else None
    entry = boards.get(board) if isinstance(boards, dict) else None  # a malformed file: the one-subnet path names it
    modes = entry.get("modes") if isinstance(entry, dict) else None
    if not isinstance(modes, dict):
        return None
    entries = modes.get("entries")
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{path}: boards.{board}.modes.entries: expected a list of modes")
    out = []
    for i, e in enumerate(entries):
        src = f"{path} (board {board}, mode {i})"
        if not isinstance(e, dict) or not isinstance(e.get("subnet"), dict):
            raise UserError(f"{src}: expected an object with a subnet")
        out.append(ModeChoice(str(e.get("name") or f"mode{i}"),
                              SubnetConfig.from_dict(e["subnet"], src).validate(space, src), e))
    return out, text


def _name(space: SearchSpace, choices: Sequence[ModeChoice], given: str | None) -> str:
    if given is not None:
        return check_model_name(given)
    digest = hashlib.sha256(",".join(c.subnet.stable_hash() for c in choices).encode()).hexdigest()[:8]
    return f"{space.name}-{len(choices)}modes-{digest}"


def _budget(used: int, limit: int | None) -> dict[str, Any] | None:
    if limit is None:
        return None
    return {"used": used, "limit": limit, "fits": used <= limit, "margin_bytes": limit - used,
            "margin_pct": round(100.0 * (limit - used) / limit, 2) if limit else float("-inf")}


def combined_prediction(modes: Sequence[dict[str, Any]], saved_bytes: int) -> dict[str, Any]:
    """The firmware's figures from its modes' (``_predicted`` of each): one arena, the largest;
    flash for every model plus the code once, minus the weight bytes stored once."""
    arena = max(int(m["arena_bytes"]) for m in modes)
    sram = max(int(m["sram_bytes"]) for m in modes)
    code = int(modes[0]["code_bytes"])
    separate = sum(int(m["model_flash_bytes"]) for m in modes)
    flash = code + separate - saved_bytes
    sram_limit = (modes[0].get("sram_budget") or {}).get("limit")
    flash_limit = (modes[0].get("flash_budget") or {}).get("limit")
    sb, fb = _budget(sram, sram_limit), _budget(flash, flash_limit)
    return {
        "source": "each mode's analysis; one shared arena (the largest mode's), every model's flash plus the code "
                  "once, minus the int8 weight bytes stored once",
        "arena_bytes": arena, "sram_bytes": sram, "stack_bytes": modes[0].get("stack_bytes"),
        "model_flash_bytes": separate - saved_bytes, "model_flash_bytes_separate": separate,
        "shared_weight_bytes_saved": saved_bytes, "code_bytes": code, "flash_bytes": flash,
        "flash_bytes_as_separate_firmwares": sum(int(m["flash_bytes"]) for m in modes),
        "sram_budget": sb, "flash_budget": fb,
        "fits": None if sb is None or fb is None else bool(sb["fits"] and fb["fits"]),
        "macs": max(int(m.get("macs", 0)) for m in modes),
        "latency_ms": None,
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def render_modes_project(models: Sequence[bytes], board: Board | str, out: str | os.PathLike, runtime: str, *,
                         space: SearchSpace, choices: Sequence[ModeChoice], reports: Sequence[dict[str, Any]],
                         search_text: str | None = None, extra_info: dict[str, Any] | None = None,
                         say: Progress = lambda _m: None, energy_mode: bool = False,
                         model_name: str | None = None) -> tuple[Path, dict[str, Any], Any]:
    """Render one firmware project running ``models`` (one per choice, same order) as operating
    modes: (folder, compile.json, the runtime's description of the modes)."""
    rt = get_runtime(runtime)
    if rt.modes_sources is None:
        raise UserError(f"the {runtime} runtime has no multi-mode firmware yet: compile the modes with "
                        "--runtime native")
    b = board if isinstance(board, Board) else load_board(board)
    b.require_firmware()
    name = _name(space, choices, model_name)
    preds = [_predicted(space, c.subnet, b, runtime) for c in choices]
    reqs = [ModelRequest(name=c.name, origin=mode_file(k), space=space, subnet=c.subnet, report=r, predicted=p,
                         say=say) for k, (c, r, p) in enumerate(zip(choices, reports, preds))]
    made = rt.modes_sources([bytes(m) for m in models], b, reqs, name)
    sharing = made.info.get("flash_sharing") or {}
    predicted = combined_prediction(preds, int(sharing.get("saved_bytes", 0)))
    power = power_summary(b)
    mode_layers = made.info.pop("mode_layers", None) or [None] * len(choices)
    modes_info = []
    for k, (c, r, p, layers) in enumerate(zip(choices, reports, preds, mode_layers)):
        e = c.entry or {}
        modes_info.append({
            "index": k, "name": c.name, "model_file": mode_file(k), "model_bytes": len(models[k]),
            "subnet": c.subnet.to_dict(), "subnet_hash": c.subnet.stable_hash(),
            "resolution": c.subnet.resolution,
            "accuracy": r.get("accuracy"), "input": r.get("input"), "output": r.get("output"),
            "search": {key: e.get(key) for key in ("measured_acc", "test_acc", "latency_ms", "energy_uj")
                       if key in e} or None,
            "predicted": p,
            "energy_uj_estimate": _round(energy_uj(b, p.get("latency_ms"))),
            "layers": layers,
        })
    first = modes_info[0]
    info: dict[str, Any] = {
        "format": COMPILE_FORMAT,
        "generator": f"ofa-mcu {__version__}",
        "board": b.name, "core": b.core, "clock_hz": b.clock_hz, "emulated": b.emulated,
        "qemu_machine": b.qemu.machine if b.qemu else None,
        "runtime": runtime, "kernels": rt.kernels(b), "model": name,
        "model_file": MODEL_FILE, "model_bytes": len(models[0]),
        "space": space.name,
        # the mode the firmware starts in (mode 0) for the tools that read one model
        "subnet": first["subnet"], "subnet_hash": first["subnet_hash"],
        "accuracy": first["accuracy"], "input": first["input"], "output": first["output"],
        "predicted": predicted,
        "layers": first["layers"],
        "energy_mode": energy_mode,
        "energy_model": power,
        "modes_format": MODES_FORMAT,
        "modes": modes_info,
        **dict(extra_info or {}),
        **made.info,
    }
    files: dict[str, str | bytes] = {MODEL_FILE: bytes(models[0]), COMPILE_INFO: json.dumps(info, indent=2) + "\n"}
    for k, m in enumerate(models):
        files[mode_file(k)] = bytes(m)
        files[f"export-mode{k}.json"] = json.dumps(reports[k], indent=2) + "\n"
    if search_text is not None:
        files[SEARCH_FILE] = search_text
    say(f"rendering the {runtime} firmware project with {len(models)} modes for {b.name} into {out}")
    path = render_project(b, out, made.sources, runtime=runtime, extra_context=made.extra_context, model_name=name,
                          extra_files=files, energy_mode=energy_mode)
    return path, info, made.model


def compile_modes(checkpoint: str | os.PathLike, board: Board | str, out: str | os.PathLike, runtime: str = "native",
                  *, choices: Sequence[ModeChoice], search_text: str | None = None, calibration_samples: int = 200,
                  seed: int = 0, test_images: int | None = None, progress: Progress | None = None,
                  energy_mode: bool = False, model_name: str | None = None) -> CompileResult:
    """Export every mode's subnet and render the multi-mode firmware project into ``out``."""
    if not 2 <= len(choices):
        raise UserError(f"a multi-mode firmware needs at least 2 subnets, got {len(choices)}")
    hashes = [c.subnet.stable_hash() for c in choices]
    if len(set(hashes)) != len(hashes):
        raise UserError(f"the modes must be distinct subnets, got {', '.join(hashes)}")
    if get_runtime(runtime).modes_sources is None:
        raise UserError(f"the {runtime} runtime has no multi-mode firmware yet: compile the modes with "
                        "--runtime native")
    if model_name is not None:
        check_model_name(model_name)
    say: Progress = progress or (lambda _m: None)
    b = board if isinstance(board, Board) else load_board(board)
    out_path = _check_out(b, out, "project", energy_mode)
    from ofa_mcu.checkpoint import load_checkpoint, resolve_path
    from ofa_mcu.data import load_source
    from ofa_mcu.export.pipeline import export_subnet

    ckpt_path = resolve_path(checkpoint)
    ckpt = load_checkpoint(ckpt_path)
    space = ckpt.space
    choices = [ModeChoice(c.name, c.subnet.validate(space), c.entry) for c in choices]
    data = load_source(ckpt.data, ckpt.seed)
    if data.in_channels != space.in_channels:
        raise UserError(f"{ckpt_path}: data '{ckpt.data}' has {data.in_channels} channels, space expects "
                        f"{space.in_channels}")
    models: list[bytes] = []
    reports: list[dict[str, Any]] = []
    for k, c in enumerate(choices):
        say(f"exporting mode {k} ({c.name}): subnet {c.subnet.stable_hash()} of {space.name} to INT8")
        exported = export_subnet(ckpt.supernet, c.subnet, data, calibration_samples=calibration_samples, seed=seed,
                                 bn_samples=ckpt.bn_calib_samples, measure=get_runtime(runtime).measures_tflm_arena,
                                 test_images=test_images,
                                 progress=(lambda m, k=k: say(f"export mode {k}: {m}")) if progress else None)
        models.append(exported.model)
        reports.append({**exported.report, "checkpoint": str(ckpt_path), "data": ckpt.data})
    extra = {"checkpoint": str(ckpt_path), "data": ckpt.data}
    path, info, made = render_modes_project(models, b, out_path, runtime, space=space, choices=choices,
                                            reports=reports, search_text=search_text, extra_info=extra, say=say,
                                            energy_mode=energy_mode, model_name=model_name)
    notes = []
    if info["predicted"].get("fits") is False:
        notes.append(f"the analysis predicts that the {len(choices)} modes together do not fit {b.name}: "
                     "the link will fail")
        say("warning: " + notes[-1])
    return CompileResult(project_dir=path, board=b.name, runtime=runtime, subnet=choices[0].subnet,
                         model=models[0], info=info, native=made, notes=notes)
