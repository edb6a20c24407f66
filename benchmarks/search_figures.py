"""Search figures: constraint evaluations per second, full-search wall time, per-board results
for a digits / mcu-32 checkpoint on the shipped boards, and evolution vs random search.

Run: .venv/bin/python benchmarks/search_figures.py --checkpoint runs/q [--runtime native]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np

from ofa_mcu.boards import list_boards
from ofa_mcu.checkpoint import load_checkpoint
from ofa_mcu.config import SubnetConfig
from ofa_mcu.search import SearchOptions, run_search
from ofa_mcu.search.evolution import Evolution
from ofa_mcu.search.predictor import AccuracyCache, fit_predictor, training_set
from ofa_mcu.search.run import board_constraints
from ofa_mcu.table import fmt_bytes, render


def constraint_rate(space, con, predictor, n: int = 3000, repeats: int = 3) -> float:
    """Candidates per second through IR build + planner + flash + latency + the predictor (one core).

    The best of ``repeats`` passes over the same candidates (the cost cache emptied before each):
    on a shared machine the slower passes measure the neighbours, not the code.
    """
    cfgs = [SubnetConfig.sample(space, i) for i in range(n)]
    best = float("inf")
    for _ in range(repeats):
        con._cache.clear()
        t = time.perf_counter()
        for i in range(0, n, 100):
            batch = cfgs[i:i + 100]
            for c in batch:
                con.feasible(c)
            predictor.predict(batch)
        best = min(best, time.perf_counter() - t)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--runtime", default="native")
    ap.add_argument("--predictor-samples", type=int, default=60)
    ap.add_argument("--out", default="runs/search-figures")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    ckpt = load_checkpoint(args.checkpoint)
    space = ckpt.space
    boards = [b for b in list_boards()]
    opts = SearchOptions(Path(args.checkpoint), [b.name for b in boards], Path(args.out), runtime=args.runtime,
                         predictor_samples=args.predictor_samples, quiet=True)
    # the predictor's training set is measured once (cached beside the checkpoint)
    cache = AccuracyCache(ckpt.path)
    cfgs = training_set(space, args.predictor_samples, 0)
    if not all(cache.get(c) is not None for c in cfgs):
        run_search(SearchOptions(Path(args.checkpoint), ["qemu-mps2-an386"], Path(args.out), runtime=args.runtime,
                                 predictor_samples=args.predictor_samples, quiet=True), log=lambda m: None)
        cache = AccuracyCache(ckpt.path)  # re-read: the search filled it
    predictor = fit_predictor(space, cfgs, [cache.get(c) for c in cfgs])
    con = board_constraints(boards[0], space, opts)
    rate = constraint_rate(space, con, predictor)
    print(f"constraint evaluations (IR + {args.runtime} planner + flash + latency + predictor): {rate:,.0f} candidates/s "
          f"(best of 3 passes, board {boards[0].name})")

    feasible_boards, rows = [], []
    for b in boards:
        c = board_constraints(b, space, opts)
        if c.explain_infeasible():
            rows.append((b.name, "-", "-", "-", "-", "no subnet fits"))
            continue
        feasible_boards.append(b.name)
    t = time.time()
    result = run_search(SearchOptions(Path(args.checkpoint), feasible_boards, Path(args.out), runtime=args.runtime,
                                      predictor_samples=args.predictor_samples, quiet=True), log=lambda m: None)
    wall = time.time() - t
    for name, r in result["boards"].items():
        rows.append((name, f"{100 * r['measured_acc']:.1f}%", f"{fmt_bytes(r['peak_sram_bytes'])} / "
                     f"{fmt_bytes(r['limits']['sram_bytes'])}", f"{r['sram_used_pct']:.1f}%",
                     f"{fmt_bytes(r['flash_bytes'])} / {fmt_bytes(r['limits']['flash_bytes'])}", f"{r['search_s']:.1f}s"))
    print(render(["board", "accuracy", "SRAM used / usable", "SRAM use", "flash used / usable", "search"], rows,
                 title=f"{space.name} on {ckpt.data}, runtime {args.runtime} (predictor cached; {wall:.0f}s for all boards)"))

    # evolution vs random search with the same number of constraint evaluations, on the tightest board
    tight = min(feasible_boards, key=lambda n: board_constraints(next(b for b in boards if b.name == n), space, opts).sram_limit)
    con = board_constraints(next(b for b in boards if b.name == tight), space, opts)
    evo = Evolution(space, con.feasible, predictor.predict, 0)
    ranked, _ = evo.run([SubnetConfig.min(space)])
    rng = random.Random(0)
    feasible_random = []
    for _ in range(evo.evaluated):
        c = SubnetConfig.sample(space, rng)
        if con.feasible(c):
            feasible_random.append(c)
    best_random = feasible_random[int(np.argmax(predictor.predict(feasible_random)))] if feasible_random else None
    from ofa_mcu.data import load_source
    from ofa_mcu.train.bn import evaluate

    data = load_source(ckpt.data, ckpt.seed)
    calib = data.calibration_images(ckpt.bn_calib_samples, ckpt.seed)
    acc_evo = evaluate(ckpt.supernet, ranked[0], calib, data.val_x, data.val_y)
    acc_rand = evaluate(ckpt.supernet, best_random, calib, data.val_x, data.val_y) if best_random else float("nan")
    print(f"\n{tight}: evolution best measured {100 * acc_evo:.2f}% vs random search {100 * acc_rand:.2f}% "
          f"({evo.evaluated} constraint evaluations each; random found {len(feasible_random)} feasible)")


if __name__ == "__main__":
    main()
