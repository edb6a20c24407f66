"""Operating modes of one board (``ofa-mcu search --modes K``): per mode accuracy, latency, energy
estimate, SRAM, flash, and how many int8 weight bytes the modes' real INT8 exports share.

Reads the modes a search chose for each board (``search.json``: ``boards.NAME.modes``), exports
every mode to INT8 ``.tflite`` (the ``ofa-mcu export`` pipeline: BatchNorm recalibrated per mode,
TensorFlow's converter, INT8 accuracy on TFLM), and measures with
:func:`ofa_mcu.tflite.sharing.weight_sharing` how many weight bytes are identical output channels
already stored by another mode. Prints, per board, one row per mode and the total flash of the
modes' models stored separately and with identical channels stored once (weights only; scales,
biases and the graph are never shared). Latency is the search's prediction (board latency model).

Run:
    .venv/bin/ofa-mcu search --checkpoint demo-out/train --target qemu-netduinoplus2 \\
        --target qemu-microbit --runtime native --modes 3 --out runs/modes
    .venv/bin/python benchmarks/mode_sharing.py --checkpoint demo-out/train --search runs/modes \\
        [--test-images N] [--out runs/modes/tflite] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ofa_mcu.artifacts import read_search
from ofa_mcu.checkpoint import load_checkpoint
from ofa_mcu.config import SubnetConfig
from ofa_mcu.data import load_source
from ofa_mcu.export.pipeline import export_subnet
from ofa_mcu.table import render
from ofa_mcu.tflite import parse_tflite
from ofa_mcu.tflite.sharing import weight_sharing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--search", type=Path, required=True, help="a search folder written with --modes K")
    ap.add_argument("--test-images", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="keep the modes' .tflite files here")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    ckpt = load_checkpoint(args.checkpoint)
    data = load_source(ckpt.data, ckpt.seed)
    result = read_search(args.search)
    t0 = time.time()
    out: dict[str, object] = {}
    for board, entry in result["boards"].items():
        modes = (entry.get("modes") or {}).get("entries") or []
        if not modes:
            print(f"{board}: no modes in {args.search} (search with --modes K)")
            continue
        rows, graphs, names, sizes = [], [], [], []
        for m in modes:
            cfg = SubnetConfig.from_dict(m["subnet"]).validate(ckpt.space)
            rep = export_subnet(ckpt.supernet, cfg, data, seed=result.get("seed", 0), bn_samples=ckpt.bn_calib_samples,
                                measure=False, test_images=args.test_images)
            if args.out:
                args.out.mkdir(parents=True, exist_ok=True)
                (args.out / f"{board}-{m['name']}.tflite").write_bytes(rep.model)
            graphs.append(parse_tflite(rep.model, m["name"]))
            names.append(m["name"])
            sizes.append(len(rep.model))
            energy = m.get("energy_uj")
            rows.append((m["name"], m["subnet_hash"], cfg.resolution, f"{100 * rep.report['accuracy']['int8']:.2f}%",
                         f"{m['latency_ms']:.2f}", "-" if energy is None else f"{energy:.1f}",
                         f"{m['peak_sram_bytes'] / 1024:.1f}", f"{m['model_flash_bytes'] / 1024:.1f}",
                         f"{len(rep.model) / 1024:.1f}"))
        share = weight_sharing(graphs, names)
        print(render(["mode", "subnet", "res", "INT8 test acc (TFLM)", "latency ms (predicted)", "energy uJ (estimate)",
                      "SRAM KB", "model flash KB (predicted)", ".tflite KB"], rows,
                     title=f"{board}: {len(modes)} modes, shared arena {entry['modes']['shared_arena_bytes'] / 1024:.1f} KB, "
                           f"flash models + code {entry['modes']['flash_bytes'] / 1024:.1f} KB of "
                           f"{entry['modes']['flash_limit_bytes'] / 1024:.1f} KB"))
        print(f"  int8 weights: {share['weight_bytes_separate']:,} B stored separately, "
              f"{share['weight_bytes_shared']:,} B with identical channels stored once "
              f"(saves {share['saved_bytes']:,} B, {share['saved_pct']:.1f}%); .tflite total {sum(sizes):,} B")
        out[board] = {"modes": modes, "tflite_bytes": sizes, "sharing": share}
    print(f"total {time.time() - t0:.0f} s (whole process figures, this machine)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
