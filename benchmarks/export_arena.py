"""TFLM arena and flash calibration check, and export time per model.

For each shipped space: the min and max subnets plus N random ones (default 30) of a supernet
with random weights (BatchNorm statistics randomized so biases are realistic) are exported to
INT8 ``.tflite`` (representative set: random images, default 200), their real TFLM arena is
measured on the host ``tflite-micro`` allocator (binary search) and compared with the planner's
prediction (``plan_tflm``), and the file size with the flash model (``model_flash_bytes``).
Prints the prediction error distribution (min/median/max, percent; never below 0 is the
contract, at most +5% for the arena) and the export (conversion) and measurement times.

Run: .venv/bin/python benchmarks/export_arena.py [--samples 30] [--calibration-samples 200]
     [--space mcu-32 --space mcu-imagenet] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from ofa_mcu.analysis import model_flash_bytes
from ofa_mcu.config import SubnetConfig
from ofa_mcu.export.convert import export_tflite
from ofa_mcu.export.pipeline import model_metadata
from ofa_mcu.export.verify import compare_ir
from ofa_mcu.ir import build_graph
from ofa_mcu.planner import plan_tflm
from ofa_mcu.space import load_space
from ofa_mcu.supernet.extract import extract
from ofa_mcu.supernet.model import Supernet
from ofa_mcu.table import render
from ofa_mcu.tflm.arena import measure_arena
from ofa_mcu.tflm.host import captured_stderr_fd


def random_supernet(space, seed: int) -> Supernet:
    torch.manual_seed(seed)
    net = Supernet(space)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return net.eval()


def run_space(name: str, samples: int, calibration: int, seed: int) -> list[dict]:
    space = load_space(name)
    net = random_supernet(space, seed)
    cfgs = [("min", SubnetConfig.min(space)), ("max", SubnetConfig.max(space))]
    cfgs += [(f"random{i}", SubnetConfig.sample(space, seed * 1000 + i)) for i in range(samples)]
    rows = []
    for label, cfg in cfgs:
        static = extract(net, cfg)
        rep = np.random.default_rng(seed).random((calibration, cfg.resolution, cfg.resolution, space.in_channels),
                                                  dtype=np.float32)
        t = time.perf_counter()
        with captured_stderr_fd():
            model = export_tflite(static, rep, metadata=model_metadata(space, cfg))
        t_export = time.perf_counter() - t
        graph = build_graph(space, cfg)
        problems = compare_ir(graph, model)
        t = time.perf_counter()
        m = measure_arena(model)
        t_measure = time.perf_counter() - t
        plan = plan_tflm(graph)
        predicted = plan.peak_bytes
        flash = model_flash_bytes(graph, "tflm")
        row = {
            "space": name, "subnet": label, "config": cfg.to_dict(), "resolution": cfg.resolution, "ops": len(graph.ops),
            "measured_arena": m.min_arena_bytes, "recorded_arena": m.total, "predicted_arena": predicted,
            "measured_head": m.head, "measured_tail": m.tail, "predicted_activations": plan.activation_bytes,
            "predicted_persistent": plan.persistent_bytes,
            "arena_error_pct": 100 * (predicted - m.min_arena_bytes) / m.min_arena_bytes,
            "model_bytes": len(model), "predicted_flash": flash, "flash_error_pct": 100 * (flash - len(model)) / len(model),
            "ir_match": not problems, "export_s": t_export, "measure_s": t_measure,
        }
        rows.append(row)
        print(f"{name} {label:9s} r{cfg.resolution:<3d} arena {m.min_arena_bytes:>8,} pred {predicted:>8,} "
              f"({row['arena_error_pct']:+.3f}%)  flash {len(model):>9,} pred {flash:>9,} ({row['flash_error_pct']:+.3f}%)  "
              f"export {t_export:5.1f}s measure {t_measure:4.1f}s{'' if not problems else '  IR MISMATCH'}", flush=True)
    return rows


def dist(values: list[float]) -> str:
    return f"{min(values):+.3f} / {statistics.median(values):+.3f} / {max(values):+.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=30, help="random subnets per space (plus min and max)")
    ap.add_argument("--calibration-samples", type=int, default=200)
    ap.add_argument("--space", action="append", default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", default=None, help="write all rows to this file")
    args = ap.parse_args()
    rows: list[dict] = []
    for name in args.space or ["mcu-32", "mcu-imagenet"]:
        rows += run_space(name, args.samples, args.calibration_samples, args.seed)
    table = []
    for name in dict.fromkeys(r["space"] for r in rows):
        rs = [r for r in rows if r["space"] == name]
        arena = [r["arena_error_pct"] for r in rs]
        flash = [r["flash_error_pct"] for r in rs]
        table.append((name, len(rs), dist(arena), sum(e < 0 for e in arena), sum(e > 5 for e in arena), dist(flash),
                      sum(e < 0 for e in flash), sum(not r["ir_match"] for r in rs),
                      f"{statistics.median(r['export_s'] for r in rs):.1f} s", f"{max(r['export_s'] for r in rs):.1f} s",
                      f"{statistics.median(r['measure_s'] for r in rs):.1f} s"))
    print()
    print(render(["space", "models", "arena err % min/med/max", "<0", ">5%", "flash err % min/med/max", "<0",
                  "IR mismatch", "export med", "export max", "measure med"], table,
                 title=f"prediction vs host TFLM (calibration {args.calibration_samples} samples)"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
