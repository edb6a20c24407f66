"""Once-for-All vs training each subnet from scratch (default: digits / mcu-32).

Trains the supernet once with a schedule (default: `default`; or reuses a finished run in
``--out``), then trains the min, a middle and the max subnet each from scratch for as many epochs
as the whole supernet run, on the same training images (the schedule's ``train_images`` subset
when it has one), and prints: subnet, MACs, TEST accuracy extracted from the supernet (BN
recalibrated, no fine-tuning), TEST accuracy from scratch, and the training time of both
approaches for these 3 subnets and extrapolated to 10 deployment targets; plus the supernet's
step time relative to a static max-subnet step.

Run: .venv/bin/python benchmarks/ofa_vs_scratch.py [--data digits --space mcu-32] [--schedule default]
     [--out runs/ofa-vs-scratch]
     e.g. --data fashion-mnist --space mcu-28 --schedule cpu-40min --out runs/fm40 (a finished run)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as ofa-mcu sets it (shared cores)

import numpy as np  # noqa: E402
import torch
import torch.nn.functional as F

from ofa_mcu.checkpoint import load_checkpoint
from ofa_mcu.config import SubnetConfig
from ofa_mcu.data import augment, load_source, resize
from ofa_mcu.ir import build_graph
from ofa_mcu.space import load_space
from ofa_mcu.supernet.extract import build_static
from ofa_mcu.table import render
from ofa_mcu.train.bn import accuracy, evaluate
from ofa_mcu.train.schedule import load_schedule, middle_config
from ofa_mcu.train.trainer import Trainer, TrainOptions


def train_scratch(space, cfg: SubnetConfig, data, epochs: int, batch: int, lr: float, seed: int,
                  train_images: int | None = None, on_epoch=None, device: str = "cpu") -> tuple[float, float]:
    """A static subnet trained alone: SGD + nesterov, warm-up epoch then cosine; (test acc, seconds).

    Channels-last, as the supernet trains. ``on_epoch(epoch, net, seconds)`` is called after each
    epoch. Batches and augmentation are drawn on the CPU whatever the ``device``.
    """
    torch.manual_seed(seed)
    net = build_static(space, cfg).to(device=device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=3e-5)
    train_x, train_y = data.train_subset(train_images, seed)
    x_all, y_all = torch.from_numpy(train_x), torch.from_numpy(train_y)
    steps_per_epoch = max(1, len(x_all) // batch)
    total = epochs * steps_per_epoch
    t0, step = time.time(), 0
    for epoch in range(epochs):
        net.train()
        t_epoch = time.time()
        order = np.random.default_rng(seed + epoch).permutation(len(x_all))
        gen = torch.Generator().manual_seed(seed * 31 + epoch)
        for i in range(steps_per_epoch):
            idx = order[i * batch:(i + 1) * batch]
            warm = steps_per_epoch
            rate = lr * (step + 1) / warm if step < warm else 0.5 * lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
            for g in opt.param_groups:
                g["lr"] = rate
            x = resize(augment(x_all[idx], gen, data.flip).to(device), cfg.resolution)
            loss = F.cross_entropy(net(x), y_all[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        if on_epoch is not None:
            on_epoch(epoch, net, time.time() - t_epoch)
    seconds = time.time() - t0
    return accuracy(net, data.test_x, data.test_y, cfg.resolution), seconds


def step_times(space, data, subnets_per_step: int, batch: int, reps: int = 10) -> tuple[float, float]:
    """Mean seconds of one supernet training step (sandwich of N subnets) and of one static max step."""
    from ofa_mcu.supernet import Supernet
    from ofa_mcu.train.schedule import Phase
    from ofa_mcu.train.trainer import _step_subnets

    net, static = Supernet(space), build_static(space, SubnetConfig.max(space))
    x = torch.from_numpy(data.train_x[:batch])
    y = torch.from_numpy(data.train_y[:batch])
    rng = random.Random(0)

    def super_step() -> None:
        for cfg in _step_subnets(Phase(kind="expand-2", epochs=1, lr=0.1), space, subnets_per_step, rng):
            net.set_active(cfg)
            F.cross_entropy(net(resize(x, cfg.resolution)), y).backward()

    def static_step() -> None:
        F.cross_entropy(static(resize(x, space.resolutions[-1])), y).backward()

    out = []
    for fn in (super_step, static_step):
        fn()
        t0 = time.time()
        for _ in range(reps):
            fn()
        out.append((time.time() - t0) / reps)
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--schedule", default="default")
    ap.add_argument("--out", default="runs/ofa-vs-scratch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default="digits")
    ap.add_argument("--space", default="mcu-32")
    args = ap.parse_args()
    out = Path(args.out)
    sched = load_schedule(args.schedule)
    ckpt_path = out / "checkpoint.pt"
    t0 = time.time()
    if not (ckpt_path.exists() and load_checkpoint(ckpt_path).done):
        Trainer(TrainOptions(load_space(args.space), args.data, out, sched, seed=args.seed, quiet=True,
                             resume=ckpt_path.exists())).run()
    metrics = json.loads((out / "metrics.json").read_text())
    supernet_s = sum(p["time_s"] for p in metrics["phases"])
    ckpt = load_checkpoint(ckpt_path)
    space = ckpt.space
    data = load_source(ckpt.data, ckpt.seed)
    calib = data.calibration_images(sched.bn_calib_samples, args.seed)
    rows, scratch_total, extract_total = [], 0.0, 0.0
    for label, cfg in (("min", SubnetConfig.min(space)), ("mid", middle_config(space)), ("max", SubnetConfig.max(space))):
        t = time.time()
        acc_ofa = evaluate(ckpt.supernet, cfg, calib, data.test_x, data.test_y)
        extract_total += time.time() - t
        acc_scratch, secs = train_scratch(space, cfg, data, sched.total_epochs, sched.batch_size,
                                          sched.phases[0].lr, args.seed, sched.train_images)
        scratch_total += secs
        rows.append((label, f"{build_graph(space, cfg).macs:,}", f"{100 * acc_ofa:.2f}%", f"{100 * acc_scratch:.2f}%",
                     f"{100 * (acc_ofa - acc_scratch):+.2f}", f"{secs:.0f}"))
    print(render(["subnet", "MACs", "OFA (extracted)", "from scratch", "OFA - scratch (points)", "scratch train s"], rows,
                 title=f"{ckpt.data} / {space.name}, schedule '{sched.name}' ({sched.total_epochs} epochs), seed "
                       f"{args.seed}, test accuracy on {len(data.test_y)} images"))
    per_target_scratch = scratch_total / 3
    per_target_ofa = extract_total / 3
    print()
    print(render(["approach", "3 subnets (s)", "10 targets (s, extrapolated)"], [
        ("OFA: train once + extract", f"{supernet_s + extract_total:.0f}", f"{supernet_s + 10 * per_target_ofa:.0f}"),
        ("train each from scratch", f"{scratch_total:.0f}", f"{10 * per_target_scratch:.0f}"),
    ], title="training time"))
    sup, sta = step_times(space, data, sched.subnets_per_step, sched.batch_size)
    print(f"\nsupernet step ({sched.subnets_per_step} subnets) {1000 * sup:.0f} ms vs static max-subnet step "
          f"{1000 * sta:.0f} ms: {sup / sta:.2f}x; whole benchmark {time.time() - t0:.0f} s")
    last = metrics["phases"][-1]
    print(f"supernet after '{last['phase']}': max {last['max_acc']:.4f}, mid {last['mid_acc']:.4f}, "
          f"min {last['min_acc']:.4f} (validation, BN recalibrated); training {supernet_s:.0f} s")


if __name__ == "__main__":
    main()
