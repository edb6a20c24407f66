"""TFLM-runtime firmware against a real TFLM tree: build, run in QEMU, profile, compare with host TFLM.

For one int8 ``.tflite`` (``--tflite``, or the MobileNetV2-like 48x48x3 model that
``benchmarks/kernels_qemu.py`` uses, 2.12 M MACs as ofa-mcu counts them; needs TensorFlow) this script renders the firmware
project with :func:`ofa_mcu.tflm.model_sources`, builds it for qemu-mps2-an386 (Cortex-M4) with
each kernel set asked for (``--kernels reference,cmsis_nn``), runs it in QEMU with the serial
profiler (``-icount shift=0``: the counts are instructions, not cycles) and reports:

- the size report (text / data / bss) of each ELF;
- instructions per inference and per MAC, overall and per op kind;
- whether the outputs equal host TFLM's (``tflite_micro.runtime.Interpreter``) and the largest
  difference;
- the arena the model uses (TFLM's count, ``ofa-mem%``) against the prediction and the reserved
  size (with ``--min-arena`` also the smallest arena that runs, by bisection over rebuilt
  firmware), and the stack high-water mark.

``--link-boards nucleo-f746zg,nrf52840-dk`` also builds (links) the firmware for real boards and
reports their size. A TFLM library already built for the same tree, kernels and core is reused
through the shared cache of compiled TFLM (``--cache``, default: ``ofa-mcu build``'s; each build
reports whether it compiled TFLM or linked the cached library, and its wall time: the
before/after figure of the cache). Build folders live under ``--work`` (default
``/tmp/ofa-mcu-tflm-bench``) and are reused by the next run.

    TFLM_DIR=/path/to/tree .venv/bin/python benchmarks/tflm_qemu.py \\
        [--tflm-dir-reference /path/to/tree-with-reference-kernels] [--kernels reference,cmsis_nn] \\
        [--link-boards nucleo-f746zg,nrf52840-dk] [--tflite MODEL] [--inputs 3] [--json OUT]

Without a TFLM tree (no ``--tflm-dir`` and no ``$TFLM_DIR``) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ofa_mcu.boards import load_board  # noqa: E402
from ofa_mcu.firmware import build_project, render_project  # noqa: E402
from ofa_mcu.firmware.trees import cache_root  # noqa: E402
from ofa_mcu.tflm import model_sources  # noqa: E402

EMULATED = "qemu-mps2-an386"


def _model(path: str | None) -> bytes:
    if path:
        return Path(path).read_bytes()
    from kernels_qemu import default_model  # the model the native-kernel benchmark measures

    return default_model()


def _host_outputs(data: bytes, inputs: list[bytes]) -> list[list[int]]:
    from ofa_mcu.tflm.host import TflmRunner

    runner = TflmRunner(data)
    x = np.stack([np.frombuffer(b, np.int8).reshape(runner.input.shape[1:]) for b in inputs])
    return runner.run_int8(x).astype(int).tolist()


class Builder:
    """Renders and builds projects; TFLM is compiled once per tree, kernels and core into the
    shared library cache (``OFA_TFLM_CACHE_DIR``, ``--cache``) and linked from there by every
    later build, as ``ofa-mcu build`` does."""

    def __init__(self, work: Path, data: bytes, meta: dict[str, Any], cache: Path | None) -> None:
        self.work = work
        self.data = data
        self.meta = meta
        self.cache = cache

    def defines(self, tflm_dir: Path, kernels: str) -> dict[str, str]:
        return {"TFLM_DIR": str(tflm_dir), "OFA_TFLM_KERNELS": kernels, "OFA_TFLM_LIBRARY": "",
                "OFA_TFLM_CACHE_DIR": str(self.cache) if self.cache else ""}

    def build(self, board: str, tflm_dir: Path, kernels: str) -> tuple[Any, dict[str, Any], float]:
        b = load_board(board)
        files, ctx = model_sources(self.data, b, self.meta)
        proj = render_project(b, self.work / f"{board}-{kernels}", files, runtime="tflm", extra_context=ctx,
                              extra_files={"model.tflite": self.data})
        t0 = time.monotonic()
        res = build_project(proj, defines=self.defines(tflm_dir, kernels), timeout_s=3600)
        print(f"  ({board}, {kernels}: TFLM library {res.record.get('library', '?')}, {time.monotonic() - t0:.1f} s)")
        return res, ctx, time.monotonic() - t0


def _per_kind(layers: list[Any]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for layer in layers:
        if not layer.macs:
            continue
        k = out.setdefault(layer.kind, {"macs": 0, "instructions": 0.0})
        k["macs"] += layer.macs
        k["instructions"] += layer.instructions or 0.0
    for k in out.values():
        k["per_mac"] = round(k["instructions"] / k["macs"], 2)
        k["instructions"] = round(k["instructions"])
    return out


def _allocates(builder: Builder, proj_name: str, tflm_dir: Path, kernels: str, size: int) -> bool:
    """Does the firmware with a ``size``-byte arena allocate and run one inference in QEMU?"""
    from ofa_mcu.errors import WorkFailed
    from ofa_mcu.profiler import Device
    from ofa_mcu.qemu import run_qemu

    files, ctx = model_sources(builder.data, load_board(EMULATED), builder.meta)
    ctx["defines"] = {"OFA_TFLM_ARENA_BYTES": f"{size}u"}
    proj = render_project(EMULATED, builder.work / proj_name, files, runtime="tflm", extra_context=ctx)
    res = build_project(proj, defines=builder.defines(tflm_dir, kernels))
    try:
        with run_qemu(res.elf, load_board(EMULATED), timeout_s=600) as session, \
                Device(session.url, timeout_s=30) as dev:
            dev.sync()
            dev.load(bytes(dev.info().input_bytes or 1))
            return "m-infer-done" in dev.command("infer 1 0", check=False, timeout_s=60)
    except WorkFailed:  # a crash or a hang counts as "does not fit"
        return False


def min_arena(builder: Builder, tflm_dir: Path, kernels: str, hi: int) -> int:
    """The smallest arena (multiple of 16) with which the firmware runs, by bisection."""
    lo = 0
    while hi - lo > 16:
        mid = (lo + hi) // 32 * 16
        if _allocates(builder, f"min-arena-{kernels}", tflm_dir, kernels, mid):
            hi = mid
        else:
            lo = mid
    return hi


def run_emulated(builder: Builder, tflm_dir: Path, kernels: str, n_inputs: int, runs: int,
                 find_min: bool = False) -> dict[str, Any]:
    from ofa_mcu.profiler import profile
    from ofa_mcu.qemu import run_qemu

    res, ctx, seconds = builder.build(EMULATED, tflm_dir, kernels)
    model = ctx["tflm"]["model"]
    arena = ctx["tflm"]["arena"]
    rng = np.random.default_rng(11)
    n = int(np.prod(model.input.shape))
    inputs = [rng.integers(-128, 128, n, dtype=np.int8).tobytes() for _ in range(n_inputs)]
    with run_qemu(res.elf, load_board(EMULATED), timeout_s=1800) as session:
        result = profile(session.url, inputs, runs=runs, warmup=1, timeout_s=60,
                         layer_macs=[x.macs for x in model.layers])
    expected = _host_outputs(builder.data, inputs)
    diffs = [abs(a - b) for got, exp in zip(result.outputs or [], expected) for a, b in zip(got, exp)]
    instr = (result.latency_instructions or {}).get("mean", 0.0)
    mem = result.memory
    reserved = arena.bytes_cmsis_nn if kernels == "cmsis_nn" else arena.bytes_reference
    smallest = None
    if find_min:
        smallest = min_arena(builder, tflm_dir, kernels, reserved)
    return {
        "board": EMULATED, "kernels": kernels, "build_seconds": round(seconds, 1),
        "tflm_library": res.record.get("library"), "size": res.size.as_dict(),
        "macs": model.macs, "instructions_per_inference": round(instr),
        "instructions_per_mac": round(instr / model.macs, 2) if model.macs else None,
        "per_kind": _per_kind(result.layers),
        "layers": [{"index": x.index, "kind": x.kind, "macs": x.macs, "instructions": round(x.instructions or 0)}
                   for x in result.layers],
        "layer_sum_instructions": round(sum(x.instructions or 0 for x in result.layers)),
        "outputs_equal_host_tflm": bool(diffs) and max(diffs) == 0,
        "max_output_diff": max(diffs) if diffs else None,
        "inputs": len(inputs),
        "arena": {"used": mem.get("arena_used"), "smallest_that_runs": smallest, "reserved": reserved,
                  "predicted": arena.predicted,
                  "margin": arena.margin, "cmsis_nn_scratch": arena.cmsis_nn_scratch, "source": arena.source},
        "stack": {"used": mem.get("stack_used"), "reserved": mem.get("stack_bytes")},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tflm-dir", default=os.environ.get("TFLM_DIR"), help="TFLM tree (default: $TFLM_DIR)")
    ap.add_argument("--tflm-dir-reference", default=None,
                    help="TFLM tree for the reference kernels (default: --tflm-dir)")
    ap.add_argument("--kernels", default="reference,cmsis_nn", help="comma-separated: reference, cmsis_nn")
    ap.add_argument("--link-boards", default="", help="comma-separated boards to build (link) too")
    ap.add_argument("--link-kernels", default="cmsis_nn", help="kernels for --link-boards")
    ap.add_argument("--tflite", default=None, help="model (default: the ~1.5 M-MAC MobileNetV2-like model)")
    ap.add_argument("--inputs", type=int, default=3, help="random inputs compared with host TFLM")
    ap.add_argument("--runs", type=int, default=2, help="timed runs per input")
    ap.add_argument("--work", default="/tmp/ofa-mcu-tflm-bench", help="build folders (reused)")
    ap.add_argument("--cache", default=None,
                    help="the folder of cached TFLM libraries (default: the one ofa-mcu build uses, "
                         "~/.cache/ofa-mcu/tflm; 'none': no cache)")
    ap.add_argument("--min-arena", action="store_true",
                    help="also find the smallest arena that runs on the emulated board (bisection, ~12 builds)")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    if not args.tflm_dir:
        print("tflm_qemu: skipped, no TFLM tree (pass --tflm-dir or set TFLM_DIR; see a generated project's README)")
        return 0
    tflm_dir = Path(args.tflm_dir).expanduser().resolve()
    ref_dir = Path(args.tflm_dir_reference).expanduser().resolve() if args.tflm_dir_reference else tflm_dir
    data = _model(args.tflite)
    cache = None if args.cache == "none" else Path(args.cache).absolute() if args.cache else cache_root() / "tflm"
    builder = Builder(Path(args.work), data, {"model_name": "bench"}, cache)
    results: dict[str, Any] = {"model_bytes": len(data), "tflm_dir": str(tflm_dir), "emulated": [], "linked": []}
    for kernels in [k for k in args.kernels.split(",") if k]:
        r = run_emulated(builder, ref_dir if kernels == "reference" else tflm_dir, kernels, args.inputs, args.runs,
                         find_min=args.min_arena)
        results["emulated"].append(r)
        s, a = r["size"], r["arena"]
        kinds = ", ".join(f"{k} {v['per_mac']}" for k, v in r["per_kind"].items())
        same = "equal host TFLM" if r["outputs_equal_host_tflm"] else f"differ by up to {r['max_output_diff']}"
        print(f"{EMULATED} {kernels:9s} text {s['text']:7d} data {s['data']:5d} bss {s['bss']:7d} | "
              f"{r['instructions_per_inference']:,} instructions, {r['instructions_per_mac']} per MAC "
              f"({kinds}) | outputs {same} | "
              f"arena used {a['used']} B of {a['reserved']} B (predicted {a['predicted']} B"
              f"{', smallest that runs ' + str(a['smallest_that_runs']) + ' B' if a['smallest_that_runs'] else ''}) | "
              f"stack {r['stack']['used']} B | build {r['build_seconds']} s")
    for board in [b for b in args.link_boards.split(",") if b]:
        kernels = args.link_kernels
        res, _, seconds = builder.build(board, ref_dir if kernels == "reference" else tflm_dir, kernels)
        results["linked"].append({"board": board, "kernels": kernels, "size": res.size.as_dict(),
                                  "elf": str(res.elf), "build_seconds": round(seconds, 1),
                                  "tflm_library": res.record.get("library")})
        s = res.size
        print(f"{board:17s} {kernels:9s} text {s.text:7d} data {s.data:5d} bss {s.bss:7d} | {res.elf} | "
              f"build {seconds:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
