"""Generated native firmware on emulated Cortex-M: instructions per MAC per op kind, portable vs
DSP code, and the error of the latency model (predicted vs measured per-layer and total counts).

For K random subnets of mcu-32 (random supernet weights, BatchNorm recalibrated on random images,
exported with the real export path) the native runtime project is generated, built with
arm-none-eabi-gcc and run in QEMU with -icount (virtual time counts instructions) for three
builds: Cortex-M4 with the DSP (SMLAD) kernels, Cortex-M4 with the portable C kernels
(-DOFA_NO_DSP), and Cortex-M0 code (ARMv6-M; run on the mps2-an386 machine, because the micro:bit
model has only 16 KB of RAM: the instruction count of Thumb-1 code does not depend on the core
that executes it). The serial profiler reads the per-layer counts (firmware/runner).

Figures printed:

1. instructions per MAC per op kind (sum over the layers of that kind) and overall, per build;
2. latency model error: the board YAML's coefficients (qemu-mps2-an386 for the M4 DSP build, the
   native runtime's no-DSP table for the portable one, qemu-microbit for M0: ``cycles_per_mac *
   MACs + cycles_per_op`` per layer, the search's latency model) against the measured per-layer and whole-inference counts; and the same for a
   LUT fitted on the OTHER subnets' measurements (leave one subnet out: what `ofa-mcu profile
   --lut` buys).

Counts are executed instructions (QEMU), not cycles.

    .venv/bin/python benchmarks/native_qemu.py [--n 4] [--json OUT] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from native_arena import export_random  # noqa: E402

BOARD = "qemu-mps2-an386"
VARIANTS: dict[str, dict[str, Any]] = {
    "m4-dsp": {"latency_board": "qemu-mps2-an386", "extra": {}},
    # scored against the native runtime's table for ARMv7/8-M code without the DSP extension (what a
    # Cortex-M3 or an M33 +nodsp board gets), not the DSP board's
    "m4-portable": {"latency_board": "qemu-mps2-an386", "latency_table": "cortex-m33+nodsp",
                    "extra": {"defines": {"OFA_NO_DSP": "1"}}},
    "m0": {"latency_board": "qemu-microbit",
           "extra": {"cpu_flags": ["-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft", "-masm-syntax-unified"]}},
}
KINDS = ("conv", "depthwise", "pointwise", "pointwise+depthwise", "add", "avgpool", "fc", "softmax")


def run_variant(model: bytes, variant: str, folder: Path) -> list[dict[str, Any]]:
    """Per-layer measurements [{index, name, kind, macs, instructions}] of one build in QEMU."""
    from ofa_mcu.boards import load_board
    from ofa_mcu.firmware import build_project, render_project
    from ofa_mcu.native.codegen import generate_native
    from ofa_mcu.profiler import profile
    from ofa_mcu.qemu import run_qemu

    board = load_board(BOARD)
    nm = generate_native(model, name=f"bench-{variant}")
    proj = render_project(board, folder, nm.sources, runtime="native", model_name=nm.name,
                          extra_context=VARIANTS[variant]["extra"])
    elf = build_project(proj, jobs=2).elf
    with run_qemu(elf, board, timeout_s=600) as session:
        res = profile(session.url, runs=1, warmup=0, timeout_s=30)
    by_index = {layer.index: layer for layer in nm.layers}
    fused_into = {dw: ex for ex, dw in nm.plan.fused.items()}
    out = []
    for layer in res.layers:
        info = by_index[layer.index]
        ops = [nm.ir.ops[i] for i in (fused_into.get(layer.index), layer.index) if i is not None]
        out.append({"index": layer.index, "name": info.name, "kind": info.kind, "macs": info.macs,
                    "parts": [(op.kind, op.macs) for op in ops],  # the IR ops the call runs
                    "instructions": float(layer.instructions or 0.0)})
    total = (res.latency_instructions or {}).get("mean", 0.0)
    out.append({"index": -1, "name": "TOTAL", "kind": "total", "macs": nm.macs, "instructions": float(total)})
    return out


def ipm_table(runs: dict[str, list[list[dict[str, Any]]]]) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for variant, subnets in runs.items():
        row: dict[str, float] = {}
        layers = [x for s in subnets for x in s if x["kind"] != "total"]
        for kind in KINDS:
            sel = [x for x in layers if x["kind"] == kind]
            macs = sum(x["macs"] for x in sel)
            if macs:
                row[kind] = sum(x["instructions"] for x in sel) / macs
        totals = [x for s in subnets for x in s if x["kind"] == "total"]
        row["overall"] = sum(x["instructions"] for x in totals) / sum(x["macs"] for x in totals)
        table[variant] = row
    return table


def _err(pred: float, meas: float) -> float:
    return abs(pred - meas) / meas if meas else 0.0


def latency_errors(variant: str, subnets: list[list[dict[str, Any]]]) -> dict[str, Any]:
    from ofa_mcu.boards import load_board
    from ofa_mcu.profiler import fit_latency_lut
    from ofa_mcu.search.latency import board_latency

    yaml_model = board_latency(load_board(VARIANTS[variant]["latency_board"]), "native")
    if "latency_table" in VARIANTS[variant]:
        from ofa_mcu.runtimes import get_runtime
        from ofa_mcu.search.latency import LatencyModel

        table = get_runtime("native").default_latency[VARIANTS[variant]["latency_table"]]
        yaml_model = LatencyModel(dict(table["cycles_per_mac"]), dict(table["cycles_per_op"]), yaml_model.clock_hz,
                                  f"native default table {VARIANTS[variant]['latency_table']}")
    out: dict[str, Any] = {}
    for source in ("board YAML", "LUT (leave one subnet out)"):
        layer_err: dict[str, list[float]] = {k: [] for k in KINDS}
        total_err: list[float] = []
        signed_total: list[float] = []
        for i, layers in enumerate(subnets):
            if source == "board YAML":
                def predict(kind: str, macs: int) -> float:
                    return yaml_model.op_cycles(kind, macs)
            else:
                others = [{"kind": x["kind"], "macs": x["macs"], "count": x["instructions"]}
                          for j, s in enumerate(subnets) if j != i for x in s if len(x.get("parts", ())) == 1]
                coef = fit_latency_lut(others)["kinds"]

                def predict(kind: str, macs: int, coef: dict = coef) -> float:
                    c = coef.get(kind)
                    return yaml_model.op_cycles(kind, macs) if c is None else c["cycles_per_mac"] * macs + c["cycles_per_op"]
            pred_total = 0.0
            for x in layers:
                if x["kind"] == "total":
                    continue
                p = sum(predict(kind, macs) for kind, macs in x["parts"])  # a fused call: both ops
                pred_total += p
                layer_err[x["kind"]].append(_err(p, x["instructions"]))
            meas_total = next(x["instructions"] for x in layers if x["kind"] == "total")
            total_err.append(_err(pred_total, meas_total))
            signed_total.append((pred_total - meas_total) / meas_total)
        out[source] = {
            "per_layer_median_abs_pct": {k: 100 * statistics.median(v) for k, v in layer_err.items() if v},
            "all_layers_median_abs_pct": 100 * statistics.median([e for v in layer_err.values() for e in v]),
            "total_mean_abs_pct": 100 * statistics.fmean(total_err),
            "total_max_abs_pct": 100 * max(total_err),
            "total_mean_signed_pct": 100 * statistics.fmean(signed_total),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=4, help="random subnets of mcu-32")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="keep the generated projects here")
    args = ap.parse_args()
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    t0 = time.time()
    work = Path(tempfile.mkdtemp(prefix="native-qemu-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[list[dict[str, Any]]]] = {v: [] for v in VARIANTS}
    subnets = []
    try:
        for i in range(args.n):
            _, cfg, model = export_random("mcu-32", 100 + i, (24, 28, 32))
            subnets.append({"subnet": cfg.stable_hash(), "resolution": cfg.resolution})
            for variant in VARIANTS:
                layers = run_variant(model, variant, work / f"s{i}-{variant}")
                runs[variant].append(layers)
                total = layers[-1]
                print(f"subnet {cfg.stable_hash()} (res {cfg.resolution}, {total['macs']:,} MACs) {variant:12}: "
                      f"{total['instructions']:,.0f} instructions, {total['instructions'] / total['macs']:.2f} per MAC",
                      flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    ipm = ipm_table(runs)
    print("\ninstructions per MAC (QEMU -icount; sum over layers of each kind)")
    print(f"{'build':12} " + " ".join(f"{k:>9}" for k in (*KINDS, "overall")))
    for variant, row in ipm.items():
        print(f"{variant:12} " + " ".join(f"{row[k]:9.2f}" if k in row else f"{'-':>9}" for k in (*KINDS, "overall")))
    errors = {v: latency_errors(v, runs[v]) for v in VARIANTS}
    print("\nlatency model error vs measured instruction counts")
    for variant, by_source in errors.items():
        for source, e in by_source.items():
            kinds = ", ".join(f"{k} {v:.0f}%" for k, v in e["per_layer_median_abs_pct"].items())
            print(f"{variant:12} {source:27}: per layer median |err| {e['all_layers_median_abs_pct']:.1f}% ({kinds}); "
                  f"total mean |err| {e['total_mean_abs_pct']:.1f}% (max {e['total_max_abs_pct']:.1f}%, "
                  f"signed {e['total_mean_signed_pct']:+.1f}%)")
    print(f"({time.time() - t0:.0f} s, {args.n} subnets x {len(VARIANTS)} builds)")
    if args.json:
        args.json.write_text(json.dumps({"subnets": subnets, "instructions_per_mac": ipm, "latency_error": errors,
                                         "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
