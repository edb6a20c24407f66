"""Native runtime arena vs the real TFLM arena for the same ``.tflite``, over random subnets.

For N random subnets of each shipped space (mcu-32 at resolutions 24..40, mcu-imagenet at 96..144;
random supernet weights with BatchNorm recalibrated on random images, exported with the real
export path), this compares:

- native: the arena of the generated native C (``ofa_mcu.native.codegen``; the plan of
  ``ofa_mcu.planner.plan_native``: lifetimes, in-place depthwise and ADD, strided depthwise
  fused with its expand conv, no interpreter state);
- TFLM: the smallest ``arena_size`` with which TFLM's own allocator allocates and runs the model
  (``ofa_mcu.tflm.arena.measure_arena``, host 64-bit build of the ``tflite-micro`` package; a
  32-bit MCU needs 2-5% less, DESIGN.md), and its activation part alone (the allocator's head:
  TFLM's greedy plan of the same tensors, without in-place ops).

It prints one row per subnet and the median and range of native / TFLM (goal: <= 0.6), and of
native / TFLM activations (what in-place and fused ops save on their own).

    .venv/bin/python benchmarks/native_arena.py [--n 8] [--seed 0] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPACES = {"mcu-32": (24, 28, 32, 36, 40), "mcu-imagenet": (96, 112, 128, 144)}


def export_random(space_name: str, seed: int, resolutions: tuple[int, ...]) -> tuple[Any, Any, bytes]:
    """(space, subnet, INT8 .tflite) of a random subnet with random weights."""
    import torch

    from ofa_mcu.config import SubnetConfig
    from ofa_mcu.export.convert import export_tflite
    from ofa_mcu.export.pipeline import model_metadata, to_nhwc
    from ofa_mcu.space import load_space
    from ofa_mcu.supernet.extract import extract
    from ofa_mcu.supernet.model import Supernet
    from ofa_mcu.train.bn import recalibrate

    space = load_space(space_name)
    cfg = SubnetConfig.sample(space, seed, resolutions=resolutions)
    torch.manual_seed(seed)
    sn = Supernet(space).eval()
    images = np.random.default_rng(seed).random((8, space.in_channels, cfg.resolution, cfg.resolution),
                                                dtype=np.float32)
    recalibrate(sn, cfg, images)
    return space, cfg, export_tflite(extract(sn, cfg), to_nhwc(images[:4]), metadata=model_metadata(space, cfg))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=8, help="random subnets per space")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="write the rows and the summary here")
    args = ap.parse_args()

    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    from ofa_mcu.ir import build_graph
    from ofa_mcu.native.codegen import generate_native
    from ofa_mcu.planner import plan_tflm
    from ofa_mcu.tflm.arena import measure_arena

    rows: list[dict[str, Any]] = []
    print(f"{'space':13} {'res':>4} {'subnet':12} {'MACs':>11} {'native B':>9} {'TFLM B':>9} {'ratio':>6} "
          f"{'TFLM act. B':>11} {'TFLM pred. B':>12}")
    t0 = time.time()
    for k, (space_name, resolutions) in enumerate(SPACES.items()):
        for i in range(args.n):
            seed = args.seed * 1000 + 100 * k + i + 1
            space, cfg, model = export_random(space_name, seed, resolutions)
            native = generate_native(model)
            measured = measure_arena(model)
            tflm_plan = plan_tflm(build_graph(space, cfg))
            row = {
                "space": space_name, "resolution": cfg.resolution, "subnet": cfg.stable_hash(), "macs": native.macs,
                "native_arena": native.arena_bytes, "tflm_arena": measured.min_arena_bytes,
                "ratio": native.arena_bytes / measured.min_arena_bytes, "tflm_head": measured.head,
                "ratio_activations": native.arena_bytes / measured.head,
                "tflm_predicted": tflm_plan.peak_bytes,
            }
            rows.append(row)
            print(f"{space_name:13} {cfg.resolution:4} {row['subnet']:12} {row['macs']:11,} {row['native_arena']:9,} "
                  f"{row['tflm_arena']:9,} {row['ratio']:6.3f} {row['tflm_head']:11,} {row['tflm_predicted']:12,}",
                  flush=True)
    summary: dict[str, Any] = {}
    print()
    for key, what in (("ratio", "native / TFLM arena"), ("ratio_activations", "native / TFLM activations (head)")):
        summary[key] = {}
        for name in [*SPACES, "all"]:
            r = [x[key] for x in rows if name in ("all", x["space"])]
            s = {"n": len(r), "median": statistics.median(r), "min": min(r), "max": max(r)}
            summary[key][name] = s
            print(f"{what}, {name}: median {s['median']:.3f}, range {s['min']:.3f} .. {s['max']:.3f} ({s['n']} subnets)")
    print(f"({time.time() - t0:.0f} s; TFLM = smallest arena_size that allocates and runs, host 64-bit build)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
