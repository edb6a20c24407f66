"""How well each accuracy predictor ranks subnets it has not seen, against the noise of measuring.

For one checkpoint: ``--subnets`` distinct random subnets (with the smallest and largest) are
measured on the VALIDATION split, each on its two stratified halves A and B (accuracy on all of
it is their mean: the halves have equal size). The last ``--held-out`` subnets are the test set of
the predictors; for each training size in ``--train-sizes`` and each of ``--splits`` random draws
of training subnets from the rest, every predictor of ``ofa_mcu.search.predictor.PREDICTORS`` is
fitted and scored (Kendall tau and RMSE against the held-out subnets' measured accuracy).

The split-half figure is the ceiling no predictor can beat by much: Kendall tau between the
held-out subnets' accuracies on half A and on half B (two measurements of the same subnets with
independent sampling noise; the full-split measurement is less noisy than either half).

Measurements are cached beside the checkpoint (``accuracy-cache.json``, splits
``validation-half-a:N`` and ``validation-half-b:N``), so a second run only refits.

    .venv/bin/python benchmarks/predictor_quality.py --checkpoint runs/fm40 [--subnets 400] \\
        [--held-out 100] [--train-sizes 60,120,240] [--splits 10] [--val-images N]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as ofa-mcu sets it (shared cores)

import numpy as np  # noqa: E402

from ofa_mcu.checkpoint import load_checkpoint  # noqa: E402
from ofa_mcu.data import load_source  # noqa: E402
from ofa_mcu.search.predictor import (  # noqa: E402
    PREDICTORS,
    AccuracyCache,
    fit_predictor,
    kendall_tau,
    measure,
    training_set,
)
from ofa_mcu.table import render  # noqa: E402
from ofa_mcu.train.bn import evaluate  # noqa: E402


def halves(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint, equal-size index sets of ``y``, each stratified by label."""
    rng = np.random.default_rng(seed)
    a, b = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = len(idx) // 2
        a.append(idx[:k])
        b.append(idx[k : 2 * k])
    return np.sort(np.concatenate(a)), np.sort(np.concatenate(b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--subnets", type=int, default=400, help="measured subnets in all (training pool + held out)")
    ap.add_argument("--held-out", type=int, default=100)
    ap.add_argument("--train-sizes", default="60,120,240")
    ap.add_argument("--splits", type=int, default=10, help="random draws of training subnets per size")
    ap.add_argument("--val-images", type=int, default=None, help="validation images (default: all)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.train_sizes.split(",")]
    if args.subnets - args.held_out < max(sizes):
        sys.exit(f"--subnets {args.subnets} leaves {args.subnets - args.held_out} training subnets; "
                 f"--train-sizes asks for {max(sizes)}")
    t_all = time.time()
    ckpt = load_checkpoint(args.checkpoint)
    space = ckpt.space
    data = load_source(ckpt.data, ckpt.seed)
    calib = data.calibration_images(ckpt.bn_calib_samples, ckpt.seed)
    val_x, val_y = data.val_subset(args.val_images, ckpt.seed)
    ia, ib = halves(val_y, ckpt.seed)
    print(f"{space.name} on {ckpt.data}: validation halves of {len(ia)} images each "
          f"({len(val_y)} validation images)", flush=True)

    cfgs = training_set(space, args.subnets, 0)
    cache_a = AccuracyCache(ckpt.path, split=f"validation-half-a:{len(ia)}")
    cache_b = cache_a.for_split(f"validation-half-b:{len(ib)}")
    t = time.time()
    done = [0]

    def tick(_: int) -> None:
        done[0] += 1
        if done[0] % 20 == 0:
            print(f"  measured {done[0]} of {2 * len(cfgs)} ({time.time() - t:.0f} s)", flush=True)

    acc_a = np.array(measure(cfgs, lambda c: evaluate(ckpt.supernet, c, calib, val_x[ia], val_y[ia]), cache_a, tick))
    acc_b = np.array(measure(cfgs, lambda c: evaluate(ckpt.supernet, c, calib, val_x[ib], val_y[ib]), cache_b, tick))
    acc = (acc_a + acc_b) / 2
    print(f"measured {len(cfgs)} subnets in {time.time() - t:.0f} s: accuracy {100 * acc.min():.2f}.."
          f"{100 * acc.max():.2f}% (std {100 * acc.std():.2f} points)", flush=True)

    held = slice(len(cfgs) - args.held_out, len(cfgs))
    pool = list(range(len(cfgs) - args.held_out))
    held_cfgs, held_acc = cfgs[held], acc[held]
    half_tau = kendall_tau(acc_a[held], acc_b[held])
    half_rmse = float(np.sqrt(np.mean((acc_a[held] - acc_b[held]) ** 2)))
    print(f"split-half: Kendall tau {half_tau:.3f} between halves A and B on the {args.held_out} held-out "
          f"subnets; RMSE A vs B {100 * half_rmse:.2f} points (one half's noise is RMSE / sqrt 2; the full "
          "split's, RMSE / 2)", flush=True)

    rows = []
    for n in sizes:
        for kind in PREDICTORS:
            taus, rmses, secs = [], [], []
            for s in range(args.splits):
                idx = random.Random(1000 * n + s).sample(pool, n)
                t = time.time()
                p = fit_predictor(space, [cfgs[i] for i in idx], acc[idx].tolist(), seed=s, kind=kind)
                pred = p.predict(held_cfgs)
                secs.append(time.time() - t)
                taus.append(kendall_tau(pred, held_acc))
                rmses.append(float(np.sqrt(np.mean((pred - held_acc) ** 2))))
            rows.append((n, kind, f"{np.mean(taus):.3f} +- {np.std(taus):.3f}",
                         f"{100 * np.mean(rmses):.2f} +- {100 * np.std(rmses):.2f}", f"{np.mean(secs):.2f} s"))
    print(render(["training subnets", "predictor", "Kendall tau", "RMSE (points)", "fit + predict"], rows,
                 title=f"predictors on {args.held_out} held-out subnets, {args.splits} draws each (mean +- std)"))
    print(f"\nwhole benchmark {time.time() - t_all:.0f} s")


if __name__ == "__main__":
    main()
