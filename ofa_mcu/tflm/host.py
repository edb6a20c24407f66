"""Run ``.tflite`` models on the real TFLM kernels (int8 inference, allocation reports).

Uses the ``tflite-micro`` Python package (``tflite_micro.runtime.Interpreter``): TFLM's reference
kernels and its allocator, built for the 64-bit host. No TensorFlow import.

The arena itself is measured in :mod:`ofa_mcu.tflm.arena` (a failed allocation is not always
clean in this package, so it probes in child processes).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ofa_mcu.errors import WorkFailed


@contextmanager
def captured_stderr_fd() -> Iterator[list[str]]:
    """Redirect file descriptor 2 (C/C++ stderr) to a temporary file; yield a list that receives
    the captured text when the block ends."""
    out: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))


def _runtime() -> Any:
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise WorkFailed("running models on TFLM needs the tflite-micro package (pip install 'ofa-mcu[export]')") from None
    return runtime


def interpreter(model: bytes, arena_size: int, preserve_all_tensors: bool = False) -> Any:
    """A TFLM interpreter with tensors allocated (RuntimeError if the arena is too small)."""
    rt = _runtime()
    config = rt.InterpreterConfig.kPreserveAllTensors if preserve_all_tensors else rt.InterpreterConfig.kAllocationRecording
    with captured_stderr_fd():
        return rt.Interpreter.from_bytes(bytes(model), arena_size=arena_size, intrepreter_config=config)


@dataclass
class QuantParams:
    scale: float
    zero_point: int
    shape: tuple[int, ...]
    dtype: str

    def quantize(self, x: np.ndarray) -> np.ndarray:
        q = np.round(np.asarray(x, dtype=np.float64) / self.scale) + self.zero_point
        return np.clip(q, -128, 127).astype(np.int8)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return ((np.asarray(q, dtype=np.float64) - self.zero_point) * self.scale).astype(np.float32)

    def to_dict(self) -> dict:
        return {"scale": self.scale, "zero_point": self.zero_point, "shape": list(self.shape), "dtype": self.dtype}


def _quant(details: dict) -> QuantParams:
    q = details.get("quantization_parameters", {})
    scales, zeros = np.asarray(q.get("scales", [])), np.asarray(q.get("zero_points", []))
    dtype = np.dtype(details["dtype"]).name
    return QuantParams(float(scales[0]) if scales.size else 0.0, int(zeros[0]) if zeros.size else 0,
                       tuple(int(d) for d in details["shape"]), dtype)


class TflmRunner:
    """One TFLM interpreter for repeated int8 inference (refills the input before each run)."""

    def __init__(self, model: bytes, arena_size: int | None = None) -> None:
        self.model = bytes(model)
        size = arena_size if arena_size is not None else 8 * len(self.model) + (4 << 20)
        try:
            self.interp = interpreter(self.model, size)
        except RuntimeError as e:
            raise WorkFailed(f"TFLM could not allocate the model in {size} bytes: {e}") from None
        self.input = _quant(self.interp.get_input_details(0))
        self.output = _quant(self.interp.get_output_details(0))

    def run_int8(self, x_q: np.ndarray) -> np.ndarray:
        """Int8 outputs (N, classes) for int8 inputs (N, H, W, C)."""
        outs = []
        for i in range(len(x_q)):
            self.interp.set_input(np.ascontiguousarray(x_q[i:i + 1], dtype=np.int8), 0)
            self.interp.invoke()
            outs.append(np.array(self.interp.get_output(0)).reshape(1, -1))
        return np.concatenate(outs, axis=0) if outs else np.zeros((0, 0), np.int8)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Dequantized logits for float NHWC inputs (quantized with the model's input parameters)."""
        return self.output.dequantize(self.run_int8(self.input.quantize(x)))




_TOTAL = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_SECTION = re.compile(r"'([^']+)' used (\d+) bytes with alignment overhead \(requested (\d+) bytes for (\d+) ")


@dataclass
class AllocationReport:
    """TFLM's RecordingMicroAllocator figures after one inference."""

    total: int
    head: int
    tail: int
    sections: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> used, requested, count

    def to_dict(self) -> dict:
        return {"total": self.total, "head": self.head, "tail": self.tail, "sections": self.sections}


def parse_allocations(text: str) -> AllocationReport:
    """Parse the text ``Interpreter.print_allocations()`` writes to C++ stderr."""
    totals = {m.group(1): int(m.group(2)) for m in _TOTAL.finditer(text)}
    if set(totals) != {"total", "head", "tail"}:
        raise WorkFailed("could not read TFLM's allocation report")
    sections = {m.group(1): {"used": int(m.group(2)), "requested": int(m.group(3)), "count": int(m.group(4))}
                for m in _SECTION.finditer(text)}
    return AllocationReport(totals["total"], totals["head"], totals["tail"], sections)
