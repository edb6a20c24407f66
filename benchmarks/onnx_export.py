"""ONNX export figures: float max |onnxruntime - PyTorch| and INT8 (QDQ) accuracy vs the TFLite INT8
model, for the subnets a search chose (by default the three boards of the demo family).

For each (search folder, board) the board's subnet is exported with ``--format onnx-int8``
(:func:`ofa_mcu.export.onnx.export_onnx`): the INT8 ``.tflite`` is exported as the reference
(TensorFlow's converter, its accuracy on TFLM's reference kernels), then the float ONNX model
(its logits against the PyTorch subnet's on onnxruntime) and the QDQ model calibrated on the same
training images (its accuracy on onnxruntime). All accuracies are on the held-out TEST split
(all of it unless --test-images). Prints one row per subnet and, with --json, writes the reports.

Run (after `ofa-mcu demo`, whose folder holds train/ and search/):
    .venv/bin/python benchmarks/onnx_export.py --demo demo-out [--test-images N] [--json out.json]
or name the checkpoint and the (search folder, board) pairs:
    .venv/bin/python benchmarks/onnx_export.py --checkpoint runs/fm --subnet runs/search:qemu-microbit ...
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ofa_mcu.artifacts import read_search, subnet_from_search
from ofa_mcu.checkpoint import load_checkpoint
from ofa_mcu.data import load_source
from ofa_mcu.export.onnx import export_onnx
from ofa_mcu.table import render


def demo_subnets(demo: Path) -> list[tuple[Path, str]]:
    """(search folder, board) for every board of a demo folder's searches."""
    pairs = []
    for folder in sorted(p.parent for p in (demo / "search").glob("*/search.json")):
        for board in sorted(read_search(folder)["boards"]):
            pairs.append((folder, board))
    return pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", type=Path, help="a demo output folder (train/ and search/*/search.json)")
    ap.add_argument("--checkpoint", type=Path, help="checkpoint (default: DEMO/train)")
    ap.add_argument("--subnet", action="append", default=[], help="SEARCH_DIR:BOARD (repeatable)")
    ap.add_argument("--test-images", type=int, default=None, help="stratified test subset (default: all)")
    ap.add_argument("--calibration-samples", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="write the reports here")
    args = ap.parse_args()
    ckpt_path = args.checkpoint or (args.demo / "train" if args.demo else None)
    if ckpt_path is None:
        ap.error("give --demo or --checkpoint")
    pairs = [(Path(s.rsplit(":", 1)[0]), s.rsplit(":", 1)[1]) for s in args.subnet]
    if args.demo and not pairs:
        pairs = demo_subnets(args.demo)
    if not pairs:
        ap.error("no subnets: give --subnet SEARCH_DIR:BOARD or a --demo folder with searches")
    ckpt = load_checkpoint(ckpt_path)
    data = load_source(ckpt.data, ckpt.seed)
    rows, reports = [], []
    t_all = time.time()
    for folder, board in pairs:
        cfg = subnet_from_search(folder, board, ckpt.space)
        t0 = time.time()
        rep = export_onnx(ckpt.supernet, cfg, data, fmt="onnx-int8", calibration_samples=args.calibration_samples,
                          seed=args.seed, bn_samples=ckpt.bn_calib_samples, test_images=args.test_images).report
        acc, fc, ic = rep["accuracy"], rep["float_check"], rep["int8_check"]
        rows.append((board, cfg.stable_hash(), cfg.resolution, f"{fc['max_abs_diff']:.2e}",
                     f"{100 * acc['torch_float']:.2f}%", f"{100 * acc['onnx_float']:.2f}%",
                     f"{100 * ic['tflite_int8']:.2f}%", f"{100 * acc['onnx_int8']:.2f}%", f"{ic['diff_points']:+.2f}",
                     f"{time.time() - t0:.0f}"))
        reports.append({"search": str(folder), "board": board, "report": rep})
    print(render(["board", "subnet", "res", "float max |diff|", "torch float", "onnx float", "TFLite INT8 (TFLM)",
                  "ONNX INT8 (QDQ, ORT)", "INT8 diff, points", "s"], rows,
                 title=f"ONNX export of {ckpt.space.name} on {ckpt.data}: {acc['test_samples']} test images "
                       f"({acc['test_source']}), seed {args.seed}"))
    print(f"total {time.time() - t_all:.0f} s (whole process figures, this machine)")
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1) + "\n")


if __name__ == "__main__":
    main()
