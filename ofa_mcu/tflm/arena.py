"""The real TFLM arena of a ``.tflite`` model, measured on TFLM's own allocator.

Two figures, both from the ``tflite-micro`` package's 64-bit host build:

- ``min_arena_bytes``: the smallest ``arena_size`` with which the interpreter allocates the model
  and runs one inference, by binary search (on allocation, which TFLM does entirely up front;
  the result is then confirmed by running an inference in it). This is the authoritative number (what a firmware's
  ``tensor_arena`` must hold). A too-small arena is not always a clean error in this package:
  some kernels' ``Init`` do not check a failed persistent allocation and the process crashes, or
  the allocator's tail pointer runs below its head and memory outside the arena is written. So
  the search runs in a worker process (``python -m ofa_mcu.tflm.arena``, TensorFlow never
  imported there) that forks one short-lived child per probe; a crash counts as "does not fit".
- ``report``: TFLM's ``RecordingMicroAllocator`` figures (``print_allocations()``, C++ stderr,
  captured from file descriptor 2) at a generous arena: head (planned activations and kernel
  scratch), tail (eval tensors, nodes, op data), per-section bytes. It can be a few bytes to
  ~1 KB below ``min_arena_bytes``: it leaves out the temporary allocations made while the
  kernels prepare and while the memory planner runs.

32-bit MCUs: activations are planned identically, but ``TfLiteEvalTensor`` is 12 B instead of
24 B, a node plus its registration pointer 32 B instead of 64 B, and op data structs hold 4-byte
pointers, so the same model needs less persistent memory on the device (DESIGN.md: 36,544 B
host, 34,884 B on a Cortex-M4 with reference kernels). The host figure is an upper bound for
reference kernels; optimized kernels (CMSIS-NN) add per-op scratch (see ``planner.TflmCost``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field

from ofa_mcu.errors import WorkFailed

#: Largest arena the search tries before giving up.
MAX_ARENA_BYTES = 1 << 30


@dataclass
class ArenaMeasurement:
    """Measured TFLM arena of one model (host build)."""

    min_arena_bytes: int
    total: int  # RecordingMicroAllocator: head + tail
    head: int
    tail: int
    sections: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> used, requested, count

    def to_dict(self) -> dict:
        return {"min_arena_bytes": self.min_arena_bytes, "recorded_total": self.total, "head": self.head,
                "tail": self.tail, "sections": self.sections}


def measure_arena(model: bytes, timeout: float = 600.0) -> ArenaMeasurement:
    """Measure ``model``'s TFLM arena in a worker process (see the module docstring)."""
    try:
        proc = subprocess.run([sys.executable, "-m", "ofa_mcu.tflm.arena"], input=bytes(model),
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise WorkFailed(f"measuring the TFLM arena took more than {timeout:.0f} s") from None
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        raise WorkFailed(f"measuring the TFLM arena failed: {tail[0]}")
    data = json.loads(proc.stdout.decode())
    r = data["report"]
    return ArenaMeasurement(data["min_arena_bytes"], r["total"], r["head"], r["tail"], r["sections"])


# ---- the worker ------------------------------------------------------------------------------

def _probe(model: bytes, size: int, shape: tuple[int, ...], dtype: str, invoke: bool = False) -> bool:
    """Allocate (and with ``invoke`` run once) with ``size`` bytes in a forked child; True if it worked."""
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 1
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            import numpy as np

            from ofa_mcu.tflm.host import interpreter

            interp = interpreter(model, size)
            if invoke:
                interp.set_input(np.zeros(shape, dtype=dtype), 0)
                interp.invoke()
            code = 0
        except BaseException:  # noqa: BLE001 - any failure means "does not fit"
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _worker(model: bytes) -> dict:
    import numpy as np

    from ofa_mcu.tflm.host import captured_stderr_fd, interpreter, parse_allocations

    # a generous arena allocates cleanly: read the input shape and the allocator's report
    big = 16 * len(model) + (4 << 20)
    interp = interpreter(model, big)
    d = interp.get_input_details(0)
    shape, dtype = tuple(int(x) for x in d["shape"]), np.dtype(d["dtype"]).name
    with captured_stderr_fd() as text:
        interp.set_input(np.zeros(shape, dtype=dtype), 0)
        interp.invoke()
        interp.print_allocations()
    report = parse_allocations(text[0])
    del interp
    # binary search, starting just above the recorded total (usually within 1 KB of the answer)
    hi = max(report.total + 2048, 1024)
    lo = 0
    while not _probe(model, hi, shape, dtype):
        lo = hi
        if hi >= MAX_ARENA_BYTES:
            raise SystemExit(f"the model does not fit even in {MAX_ARENA_BYTES} bytes")
        hi *= 2
    guess = max(report.total - 64, 0)  # usually fails: a tight lower bracket
    if guess > lo and not _probe(model, guess, shape, dtype):
        lo = guess
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _probe(model, mid, shape, dtype):
            hi = mid
        else:
            lo = mid
    # TFLM allocates everything up front; confirm that an inference runs in the arena found
    # (and search on with inference in the probes if it does not)
    while not _probe(model, hi, shape, dtype, invoke=True):
        lo, hi = hi, hi + max(16, hi // 64)
        if hi > MAX_ARENA_BYTES:
            raise SystemExit("the model allocates but does not run")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _probe(model, mid, shape, dtype, invoke=True):
            hi = mid
        else:
            lo = mid
    return {"min_arena_bytes": hi, "report": report.to_dict()}


def _main() -> None:
    model = sys.stdin.buffer.read()
    result = _worker(model)
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    _main()
