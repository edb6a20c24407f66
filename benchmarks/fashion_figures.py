"""Accuracy figures of a trained supernet on its TEST split (Fashion-MNIST: the official 10,000).

For one checkpoint (e.g. `ofa-mcu train --data fashion-mnist --space mcu-28 --schedule cpu-40min`):

1. spread: the smallest, middle and largest subnet extracted (BN recalibrated), test accuracy;
2. the accuracy predictor: trained on ``--predictor-samples`` subnets measured on the validation
   split, Kendall tau and RMSE against ``--held-out`` other random subnets (also validation);
3. per board of the family (micro:bit and netduinoplus2 with the native runtime, F746 and L4R5
   with TFLM): the searched subnet (chosen on validation), its test accuracy, SRAM and flash;
4. INT8 (the exported .tflite on TFLM's kernels) vs float on the test split for those subnets;
5. evolution vs random search under the micro:bit's and netduinoplus2's budgets: both score the
   same number of distinct subnets with the predictor, over ``--seeds`` seeds; the winner of each
   is then measured on the test split (mean +- std over seeds).

Run: .venv/bin/python benchmarks/fashion_figures.py --checkpoint runs/fm40 [--val-images 2000] [--device cuda]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as ofa-mcu sets it (shared cores)

import numpy as np  # noqa: E402

from ofa_mcu.boards import load_board  # noqa: E402
from ofa_mcu.checkpoint import load_checkpoint  # noqa: E402
from ofa_mcu.config import SubnetConfig  # noqa: E402
from ofa_mcu.data import load_source  # noqa: E402
from ofa_mcu.ir import build_graph  # noqa: E402
from ofa_mcu.search import SearchOptions, run_search  # noqa: E402
from ofa_mcu.search.evolution import Evolution  # noqa: E402
from ofa_mcu.search.predictor import (  # noqa: E402
    DEFAULT_PREDICTOR,
    PREDICTORS,
    AccuracyCache,
    fit_predictor,
    kendall_tau,
    measure,
    training_set,
)
from ofa_mcu.search.run import board_constraints  # noqa: E402
from ofa_mcu.table import fmt_bytes, render  # noqa: E402
from ofa_mcu.train.bn import evaluate  # noqa: E402
from ofa_mcu.train.schedule import middle_config  # noqa: E402

FAMILY = (("qemu-microbit", "native"), ("qemu-netduinoplus2", "native"), ("nucleo-f746zg", "tflm"),
          ("nucleo-l4r5zi", "tflm"))
EVO_BOARDS = ("qemu-microbit", "qemu-netduinoplus2")


def pct(a: float) -> str:
    return f"{100 * a:.2f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--val-images", type=int, default=None,
                    help="validation images per subnet measurement (default: all, as the search measures)")
    ap.add_argument("--predictor", choices=sorted(PREDICTORS), default=DEFAULT_PREDICTOR)
    ap.add_argument("--predictor-samples", type=int, default=240, help="as the search (its cache is shared)")
    ap.add_argument("--held-out", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", default="runs/fashion-figures")
    ap.add_argument("--int8-test-images", type=int, default=2000,
                    help="stratified test subset for INT8 vs float (TFLM runs ~30 ms per image on 2 cores)")
    ap.add_argument("--skip-int8", action="store_true")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="where subnets are measured (the search's own measurements stay on the CPU)")
    args = ap.parse_args()
    t_all = time.time()
    ckpt = load_checkpoint(args.checkpoint)
    ckpt.supernet.to(args.device)
    space = ckpt.space
    data = load_source(ckpt.data, ckpt.seed)
    calib = data.calibration_images(ckpt.bn_calib_samples, ckpt.seed)
    val_x, val_y = data.val_subset(args.val_images, ckpt.seed)
    print(f"{space.name} on {ckpt.data}: {len(data.train_y)} train / {len(data.val_y)} validation "
          f"({len(val_y)} used to measure) / {len(data.test_y)} test ({data.test_source}) images", flush=True)

    def test_acc(cfg: SubnetConfig) -> float:
        return evaluate(ckpt.supernet, cfg, calib, data.test_x, data.test_y)

    # 1. spread across the space
    rows, spread = [], {}
    for label, cfg in (("smallest", SubnetConfig.min(space)), ("middle", middle_config(space)),
                       ("largest", SubnetConfig.max(space))):
        spread[label] = test_acc(cfg)
        rows.append((label, cfg.resolution, f"{build_graph(space, cfg).macs:,}", pct(spread[label])))
    print(render(["subnet", "res", "MACs", "test accuracy"], rows,
                 title=f"spread (largest - smallest): {100 * (spread['largest'] - spread['smallest']):.2f} points"),
          flush=True)

    # 2. predictor on held-out subnets (validation measurements, cached beside the checkpoint)
    # the split names of the search's own cache, so that the search below measures nothing twice
    cache = AccuracyCache(ckpt.path, split="validation" if args.val_images is None else f"validation:{len(val_y)}")

    def val_acc(cfg: SubnetConfig) -> float:
        return evaluate(ckpt.supernet, cfg, calib, val_x, val_y)

    t = time.time()
    train_cfgs = training_set(space, args.predictor_samples, 0)
    rng, seen, held = random.Random(12345), set(train_cfgs), []
    while len(held) < args.held_out:
        c = SubnetConfig.sample(space, rng)
        if c not in seen:
            seen.add(c)
            held.append(c)
    acc_train = measure(train_cfgs, val_acc, cache)
    acc_held = np.array(measure(held, val_acc, cache))
    predictor = fit_predictor(space, train_cfgs, acc_train, seed=0, kind=args.predictor)
    pred = predictor.predict(held)
    tau = kendall_tau(pred, acc_held)
    rmse = float(np.sqrt(np.mean((pred - acc_held) ** 2)))
    print(f"\n{predictor.kind} predictor ({predictor.detail or 'defaults'}): trained on {len(train_cfgs)}, "
          f"tested on {len(held)} held-out subnets (validation): "
          f"Kendall tau {tau:.3f}, RMSE {100 * rmse:.2f} points; held-out accuracies span "
          f"{100 * acc_held.min():.1f}..{100 * acc_held.max():.1f}% ({time.time() - t:.0f} s)", flush=True)

    # 3. per board: the searched subnet (chosen on validation), test accuracy, memory
    chosen: dict[str, tuple[SubnetConfig, dict]] = {}
    out = Path(args.out)
    for runtime in ("native", "tflm"):
        names = [b for b, rt in FAMILY if rt == runtime]
        res = run_search(SearchOptions(ckpt.path, names, out / runtime, runtime=runtime, seed=0,
                                       predictor_samples=args.predictor_samples, predictor=args.predictor,
                                       val_images=args.val_images,
                                       quiet=True), log=lambda m: None)
        for name in names:
            e = res["boards"][name]
            chosen[name] = (SubnetConfig.from_dict(e["subnet"]).validate(space), e)
    rows = []
    for name, rt in FAMILY:
        cfg, e = chosen[name]
        rows.append((name, rt, cfg.resolution, f"{e['macs']:,}", pct(e["measured_acc"]), pct(e["test_acc"]),
                     f"{fmt_bytes(e['peak_sram_bytes'])} / {fmt_bytes(e['limits']['sram_bytes'])}",
                     f"{fmt_bytes(e['flash_bytes'])} / {fmt_bytes(e['limits']['flash_bytes'])}"))
    print(render(["board", "runtime", "res", "MACs", "val acc (chose)", "test acc", "SRAM used / usable",
                  "flash used / usable"], rows, title="per board: searched subnet"), flush=True)

    # 4. INT8 vs float on the test split
    if not args.skip_int8:
        from ofa_mcu.export.pipeline import export_subnet

        rows = []
        ckpt.supernet.cpu()  # the export runs on the CPU
        for name, _ in FAMILY:
            cfg, _e = chosen[name]
            t = time.time()
            rep = export_subnet(ckpt.supernet, cfg, data, seed=0, bn_samples=ckpt.bn_calib_samples,
                                measure=False, test_images=args.int8_test_images).report["accuracy"]
            rows.append((name, pct(rep["float"]), pct(rep["int8"]), f"{rep['drop_points']:+.2f}",
                         rep["test_samples"], f"{time.time() - t:.0f} s"))
        print(render(["board", "float (torch)", "INT8 (TFLM)", "drop (points)", "test images", "export"], rows,
                     title="INT8 vs float, test split"), flush=True)
        ckpt.supernet.to(args.device)

    # 5. evolution vs random search, same number of distinct subnets scored by the predictor
    rows = []
    for name in EVO_BOARDS:
        con = board_constraints(load_board(name), space, SearchOptions(ckpt.path, [name], out, runtime="native"))
        evo_acc, rnd_acc, evo_pred, rnd_pred, counts = [], [], [], [], []
        for seed in range(args.seeds):
            scored: set[SubnetConfig] = set()

            def fitness(cfgs: list[SubnetConfig], scored: set = scored) -> np.ndarray:
                scored.update(cfgs)
                return predictor.predict(cfgs)

            ranked, _ = Evolution(space, con.feasible, fitness, seed).run([SubnetConfig.min(space)])
            n = len(scored)
            rng, pool, tries = random.Random(seed), {}, 0
            while len(pool) < n and tries < 200 * n:
                tries += 1
                c = SubnetConfig.sample(space, rng)
                if c not in pool and con.feasible(c):
                    pool[c] = None
            cands = list(pool)
            p = predictor.predict(cands)
            best_rnd = cands[int(np.argmax(p))]
            evo_pred.append(float(predictor.predict([ranked[0]])[0]))
            rnd_pred.append(float(p.max()))
            evo_acc.append(test_acc(ranked[0]))
            rnd_acc.append(test_acc(best_rnd))
            counts.append(n)
        rows.append((name, f"{np.mean(counts):.0f}", f"{100 * np.mean(evo_pred):.2f} +- {100 * np.std(evo_pred):.2f}",
                     f"{100 * np.mean(rnd_pred):.2f} +- {100 * np.std(rnd_pred):.2f}",
                     f"{100 * np.mean(evo_acc):.2f} +- {100 * np.std(evo_acc):.2f}",
                     f"{100 * np.mean(rnd_acc):.2f} +- {100 * np.std(rnd_acc):.2f}"))
    print(render(["board", "subnets scored", "evolution predicted %", "random predicted %", "evolution test %",
                  "random test %"], rows, title=f"evolution vs random search, {args.seeds} seeds (mean +- std)"))
    print(f"\nwhole benchmark {time.time() - t_all:.0f} s")


if __name__ == "__main__":
    main()
