"""Profile a built project on its emulated board and check it against the host TFLM.

:func:`profile_emulated` runs the firmware in QEMU, profiles it over the runner protocol, gives the
layers their MACs and kinds from ``compile.json``, and compares the device's int8 outputs with
``tflite_micro`` on the host running the project's ``model.tflite`` (bit for bit). The result is
what ``profile.json`` holds, with a ``check`` entry.

:func:`profile_modes` does the same for every operating mode of a multi-mode firmware (switched
with ``ofa-mode N`` on one running device): per mode the profile, its layers from the mode's
entry in ``compile.json`` and the check against the mode's own ``.tflite``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ofa_mcu.artifacts import MODEL_FILE, read_compile_info
from ofa_mcu.errors import UserError
from ofa_mcu.firmware.trees import read_build_record
from ofa_mcu.profiler import attach_project, profile, profile_json
from ofa_mcu.qemu import run_qemu
from ofa_mcu.tflm.host import TflmRunner


def check_outputs(model: bytes, xs: np.ndarray, outputs: list[list[int]] | None, labels: Any = None,
                  reference: str = "tflite_micro on the host (the project's model.tflite)") -> dict[str, Any]:
    """The device's int8 outputs for ``xs`` against ``tflite_micro`` running ``model`` on the host."""
    host = TflmRunner(model).run_int8(xs)
    device = np.array(outputs or [], dtype=np.int64).reshape(len(xs), -1) if outputs else None
    match = device is not None and device.shape == host.shape and bool((device == host).all())
    mismatches = len(xs) if device is None or device.shape != host.shape else int((device != host).any(1).sum())
    check: dict[str, Any] = {"inputs": int(len(xs)), "match": match, "mismatches": mismatches, "reference": reference}
    if labels is not None:
        check["correct"] = int((device.argmax(1) == labels).sum()) if device is not None and device.size else 0
    return check


def mode_inputs(mode: dict[str, Any], given: np.ndarray | None) -> np.ndarray:
    """The inputs for one mode: ``given`` (rows of the mode's input size), else the profiler's fixed
    default input in the mode's shape."""
    from ofa_mcu.profiler import default_input

    shape = [int(d) for d in (mode.get("input") or {}).get("shape") or []]
    nbytes = int(np.prod(shape)) if shape else 0
    if given is not None:
        if given.ndim < 1 or given[0].size != nbytes:
            raise UserError(f"--inputs: rows of {given[0].size if given.ndim else 0} values, mode {mode['index']} "
                            f"({mode['name']}) takes {nbytes} ({'x'.join(map(str, shape))}); give inputs that fit "
                            "every mode, or none")
        return given.astype(np.int8, copy=False)
    return np.frombuffer(default_input(nbytes), dtype=np.int8).reshape(1, *shape[1:])


def profile_modes(url: str, project: Path, compiled: dict[str, Any], inputs: np.ndarray | None, *, runs: int,
                  warmup: int = 1, timeout_s: float = 10.0, baud: int = 115200, built_kernels: str | None = None,
                  order: list[int] | None = None, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Profile every operating mode of the multi-mode firmware on ``url`` (in ``order``, default
    0..K-1 and back to 0, switched with ``ofa-mode``), each checked bit for bit against its own ``.tflite`` on
    the host TFLM: ``{"modes": [profile.json of each mode with its check], "switches": [...]}``."""
    modes = compiled["modes"]
    seq = [*range(len(modes)), 0] if order is None else list(order)
    if not seq or any(not 0 <= k < len(modes) for k in seq):
        raise UserError(f"mode order {seq}: expected indices 0..{len(modes) - 1}")
    out: dict[int, dict[str, Any]] = {}
    for k in seq:
        m = modes[k]
        xs = mode_inputs(m, inputs)
        if progress is not None:
            progress(f"mode {k} ({m['name']}): {len(xs)} input(s) of {'x'.join(map(str, xs.shape[1:]))}")
        result = profile(url, xs, runs=runs, warmup=warmup, timeout_s=timeout_s, baud=baud, progress=progress, mode=k,
                         expect_sizes={"input_bytes": int(xs[0].size)})
        attach_project(result, {**compiled, "layers": m.get("layers") or []}, built_kernels)
        data = profile_json(result, None, None)
        data["check"] = check_outputs((project / m["model_file"]).read_bytes(), xs, result.outputs,
                                      reference=f"tflite_micro on the host ({m['model_file']})")
        data["predicted"] = {key: m["predicted"].get(key) for key in ("arena_bytes", "sram_bytes", "model_flash_bytes",
                                                                      "latency_ms")}
        data["accuracy"] = m.get("accuracy")
        data["energy_uj_estimate"] = m.get("energy_uj_estimate")
        if k in out:  # switched back: the outputs must not depend on the way there
            prev = out[k]["check"]
            same = out[k]["outputs"] == data["outputs"] and data["check"]["match"]
            prev["revisits"] = prev.get("revisits", 0) + 1
            prev["revisits_same"] = prev.get("revisits_same", True) and same
            prev["match"] = prev["match"] and same
            continue
        out[k] = data
    return {"modes": [out[k] for k in sorted(out)], "order": seq,
            "match": all(d["check"]["match"] for d in out.values())}


def profile_emulated(board: Any, project: Path, elf: Path, xs: np.ndarray, labels: Any, *, runs: int,
                     warmup: int = 1, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run ``elf`` in QEMU on ``board``, profile ``xs`` (int8 NHWC) and compare with the host TFLM."""
    with run_qemu(elf, board, timeout_s=600) as session:
        if progress is not None:
            progress(f"QEMU {board.qemu.machine} on {session.url}")
        result = profile(session.url, xs, runs=runs, warmup=warmup, progress=progress)
    attach_project(result, read_compile_info(project), read_build_record(elf.parent).get("kernels"))
    data = profile_json(result, None, None)
    data["check"] = check_outputs((project / MODEL_FILE).read_bytes(), xs, result.outputs, labels)
    return data
