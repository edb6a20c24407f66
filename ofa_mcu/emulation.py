"""Profile a built project on its emulated board and check it against the host TFLM.

:func:`profile_emulated` runs the firmware in QEMU, profiles it over the runner protocol, gives the
layers their MACs and kinds from ``compile.json``, and compares the device's int8 outputs with
``tflite_micro`` on the host running the project's ``model.tflite`` (bit for bit). The result is
what ``profile.json`` holds, with a ``check`` entry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ofa_mcu.artifacts import MODEL_FILE, read_compile_info
from ofa_mcu.firmware.trees import read_build_record
from ofa_mcu.profiler import attach_project, profile, profile_json
from ofa_mcu.qemu import run_qemu
from ofa_mcu.tflm.host import TflmRunner


def profile_emulated(board: Any, project: Path, elf: Path, xs: np.ndarray, labels: Any, *, runs: int,
                     warmup: int = 1, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run ``elf`` in QEMU on ``board``, profile ``xs`` (int8 NHWC) and compare with the host TFLM."""
    with run_qemu(elf, board, timeout_s=600) as session:
        if progress is not None:
            progress(f"QEMU {board.qemu.machine} on {session.url}")
        result = profile(session.url, xs, runs=runs, warmup=warmup, progress=progress)
    attach_project(result, read_compile_info(project), read_build_record(elf.parent).get("kernels"))
    host = TflmRunner((project / MODEL_FILE).read_bytes()).run_int8(xs)
    device = np.array(result.outputs or [], dtype=np.int64).reshape(len(xs), -1) if result.outputs else None
    match = device is not None and device.shape == host.shape and bool((device == host).all())
    mismatches = len(xs) if device is None or device.shape != host.shape else int((device != host).any(1).sum())
    correct = int((device.argmax(1) == labels).sum()) if device is not None and device.size else 0
    data = profile_json(result, None, None)
    data["check"] = {"inputs": int(len(xs)), "match": match, "mismatches": mismatches, "correct": correct,
                     "reference": "tflite_micro on the host (the project's model.tflite)"}
    return data
