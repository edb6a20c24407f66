"""What one architecture of a space reaches when trained alone on ALL training images.

The accuracy goals of a data set (Fashion-MNIST: largest subnet >= 93%) only make sense if the
space's largest subnet can reach them at all. This trains one static subnet (``--subnet
max|mid|min``) from scratch on every training image (no supernet, no teacher), SGD + nesterov,
one warm-up epoch then cosine, channels-last as the supernet trains (``ofa_vs_scratch.py``'s
loop, the one its twins use), and prints after every
epoch the validation and TEST accuracy and the training images per second (whole epoch).

Run: .venv/bin/python benchmarks/scratch_ceiling.py [--data fashion-mnist] [--space mcu-28]
     [--subnet max] [--epochs 10] [--batch 128] [--lr 0.2] [--train-images N] [--seed 0]
     [--device cuda]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as ofa-mcu sets it (shared cores)

from ofa_vs_scratch import train_scratch  # noqa: E402  (this folder: the same loop as the twins)

from ofa_mcu.config import SubnetConfig
from ofa_mcu.data import load_source
from ofa_mcu.ir import build_graph
from ofa_mcu.space import load_space
from ofa_mcu.table import render
from ofa_mcu.train.bn import accuracy
from ofa_mcu.train.schedule import middle_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--space", default="mcu-28")
    ap.add_argument("--subnet", choices=["max", "mid", "min"], default="max")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.2)
    ap.add_argument("--train-images", type=int, default=None, help="a stratified subset (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = ap.parse_args()

    data = load_source(args.data, args.seed)
    space = load_space(args.space).for_task(classes=data.classes, in_channels=data.in_channels)
    cfg = {"max": SubnetConfig.max, "min": SubnetConfig.min, "mid": middle_config}[args.subnet](space)
    train_x, _ = data.train_subset(args.train_images, args.seed)
    per_epoch = max(1, len(train_x) // args.batch)
    print(f"{args.data} / {args.space} {args.subnet}: {build_graph(space, cfg).macs:,} MACs, "
          f"{len(train_x)} training images", flush=True)
    rows = []

    def on_epoch(epoch: int, net, seconds: float) -> None:
        val = accuracy(net, data.val_x, data.val_y, cfg.resolution)
        test = accuracy(net, data.test_x, data.test_y, cfg.resolution)
        rows.append((epoch + 1, f"{100 * val:.2f}%", f"{100 * test:.2f}%", f"{per_epoch * args.batch / seconds:.0f}"))
        print(f"epoch {epoch + 1}: val {100 * val:.2f}%  test {100 * test:.2f}%  {seconds:.0f} s", flush=True)

    train_scratch(space, cfg, data, args.epochs, args.batch, args.lr, args.seed, args.train_images, on_epoch,
                  device=args.device)
    print(render(["epoch", "validation", "test", "train img/s"], rows,
                 title=f"{args.subnet} subnet of {args.space} from scratch, batch {args.batch}, lr {args.lr}, "
                       f"seed {args.seed}, test = {len(data.test_y)} held-out images"))


if __name__ == "__main__":
    main()
