"""Training speed before and after the speed-up, side by side in one run on the same machine.

Each configuration is a whole `ofa-mcu train` process on the same Fashion-MNIST subset (written
once as an .npz, since the baseline code has no fashion-mnist source) with the same short
schedule: one epoch of the `full` phase (one subnet per step, no teacher) and one epoch of
`expand-2` (three subnets per step plus the teacher). Rows:

- ``before``: the code at ``--baseline`` (a git revision, extracted to a temporary folder) on the
  space ``mcu-32`` -- a 28x28 image upsampled up to 40x40, the set-up the issue measured;
- ``before, passive OpenMP``: the same with OMP_WAIT_POLICY=PASSIVE (what `ofa-mcu` now sets
  unless the user did: OpenMP threads sleep instead of spinning while they wait);
- ``after, mcu-32``: this code on the same space (what the code changes alone give);
- ``after, mcu-28``: this code on the space for 28x28 inputs (native resolution).

It prints seconds per epoch per phase (from metrics.json), training images per second and each
process's whole wall time. With ``--profile`` it first prints where one expand-2 step spends its
time (torch profiler, this code, ``--space``).

With ``--compare REV`` the rows are instead the code at REV and this code, both on ``--space``,
alternated ``--repeats`` times (the machine's load drifts; alternating keeps the comparison fair),
at ``--batch`` images per step.

With ``--layouts`` it first times one expand-2 step (3 subnets + the teacher, forward and
backward) in this process with the supernet's weights in PyTorch's default NCHW layout and in
channels-last, alternated ``--repeats`` times per batch size: a comparison of the two layouts alone,
less exposed to the load drift of a shared machine than whole processes.

Run: .venv/bin/python benchmarks/train_speed.py [--images 640] [--baseline 9ca2bea] [--profile]
     .venv/bin/python benchmarks/train_speed.py --layouts --repeats 3 --compare b1b9f36
     .venv/bin/python benchmarks/train_speed.py --compare b1b9f36 [--repeats 2] [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # this process's own torch (the profile), as ofa-mcu does

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCHEDULE = """name: speed
batch_size: @BATCH@
subnets_per_step: 3
kd_ratio: 1.0
bn_calib_samples: 200
phases:
  - {kind: full, epochs: 1, lr: 0.1}
  - {kind: expand-2, epochs: 1, lr: 0.05}
"""


def write_subset(path: Path, images: int) -> None:
    """The first images of Fashion-MNIST's training files (uint8 N,28,28), as npz x / y."""
    from ofa_mcu.data import FASHION_MNIST_DIR, read_idx

    x = read_idx(FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz")
    y = read_idx(FASHION_MNIST_DIR / "train-labels-idx1-ubyte.gz")
    n = int(round(images / 0.64))  # this code trains on 64% of it (test, then validation carved out)
    np.savez(path, x=x[:n], y=y[:n].astype(np.int64))


def train_count(data: Path, baseline: bool) -> int:
    """Training images of the npz's split: the baseline carved 20% validation per class; this
    code first carves 20% test, then 20% of the rest as validation."""
    y = np.load(data)["y"]
    if not baseline:
        from ofa_mcu.data import load_source

        return len(load_source(f"npz:{data}", 0).train_y)
    return int(sum(n - max(1, round(n * 0.2)) for n in np.bincount(y)))


def run_train(label: str, code: Path, space: str, data: Path, schedule: Path, out: Path, omp: str | None,
              batch: int = 32, old_split: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = str(code)
    if omp:
        env["OMP_WAIT_POLICY"] = omp
    cmd = [sys.executable, "-m", "ofa_mcu", "train", "--space", space, "--data", f"npz:{data}", "--out", str(out),
           "--schedule", str(schedule), "--quiet"]
    t0 = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=out.parent)  # not the repo: it would shadow PYTHONPATH
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{label}: training failed:\n{proc.stderr[-2000:]}")
    m = json.loads((out / "metrics.json").read_text())
    steps = train_count(data, old_split) // batch
    return {"label": label, "space": space, "wall_s": wall, "epochs": m["epochs"], "steps": steps}


def profile_step(space_name: str, images: int) -> None:
    """Where one expand-2 step (3 subnets + teacher) spends its time, by torch operator."""
    import random

    import torch
    import torch.nn.functional as F
    from torch.profiler import ProfilerActivity, profile

    from ofa_mcu.config import SubnetConfig
    from ofa_mcu.data import augment, load_source, resize
    from ofa_mcu.space import load_space
    from ofa_mcu.supernet import Supernet
    from ofa_mcu.train.schedule import Phase
    from ofa_mcu.train.trainer import _step_subnets, soft_cross_entropy

    d = load_source("fashion-mnist", 0)
    space = load_space(space_name).for_task(classes=10, in_channels=1)
    torch.manual_seed(0)
    net, teacher = Supernet(space), Supernet(space)
    teacher.load_state_dict(net.state_dict())
    teacher.set_active(SubnetConfig.max(space))
    for p in teacher.parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    phase = Phase(kind="expand-2", epochs=1, lr=0.05)
    tx, ty = torch.from_numpy(d.train_x[:images]), torch.from_numpy(d.train_y[:images])
    gen = torch.Generator().manual_seed(0)
    parts = {"student forward": 0.0, "teacher forward": 0.0, "backward": 0.0, "other": 0.0}

    def step(i: int) -> None:
        t = time.perf_counter()
        subnets = _step_subnets(phase, space, 3, random.Random(i))
        x, y = augment(tx[i * 32 : (i + 1) * 32], gen, False), ty[i * 32 : (i + 1) * 32]
        opt.zero_grad()
        cache: dict[int, torch.Tensor] = {}
        parts["other"] += time.perf_counter() - t
        for cfg in subnets:
            t = time.perf_counter()
            xb = resize(x, cfg.resolution)
            net.set_active(cfg)
            logits = net(xb)
            parts["student forward"] += time.perf_counter() - t
            t = time.perf_counter()
            if cfg.resolution not in cache:
                with torch.no_grad():
                    cache[cfg.resolution] = teacher(xb)
            parts["teacher forward"] += time.perf_counter() - t
            t = time.perf_counter()
            loss = F.cross_entropy(logits, y) + soft_cross_entropy(logits, cache[cfg.resolution])
            (loss / len(subnets)).backward()
            parts["backward"] += time.perf_counter() - t
        t = time.perf_counter()
        opt.step()
        parts["other"] += time.perf_counter() - t

    for i in range(2):
        step(i)
    for k in parts:
        parts[k] = 0.0
    steps = max(1, images // 32 - 2)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(2, 2 + steps):
            step(i)
    total = sum(parts.values())
    print(f"profile: {space_name}, expand-2 step, batch 32, {torch.get_num_threads()} threads "
          f"(OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}), {steps} steps: "
          f"{32 * steps / total:.1f} images/s")
    print("  " + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in parts.items()))
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12), flush=True)


def _expand2_step(net, teacher, space, x, y, rng) -> None:
    """Forward and backward of one expand-2 step: 3 subnets, each learning from the teacher."""
    import torch
    import torch.nn.functional as F

    from ofa_mcu.data import resize
    from ofa_mcu.train.schedule import Phase
    from ofa_mcu.train.trainer import _step_subnets, soft_cross_entropy

    targets: dict[int, torch.Tensor] = {}
    for cfg in _step_subnets(Phase(kind="expand-2", epochs=1, lr=0.05), space, 3, rng):
        xb = resize(x, cfg.resolution)
        net.set_active(cfg)
        logits = net(xb)
        if cfg.resolution not in targets:
            with torch.no_grad():
                targets[cfg.resolution] = teacher(xb)
        (F.cross_entropy(logits, y) + soft_cross_entropy(logits, targets[cfg.resolution])).backward()


def layout_steps(space_name: str, batches: list[int], repeats: int, steps: int = 6) -> None:
    """Images/s of one expand-2 step, NCHW vs channels-last weights, alternated in this process."""
    import random

    import torch

    from ofa_mcu.config import SubnetConfig
    from ofa_mcu.space import load_space
    from ofa_mcu.supernet import Supernet
    from ofa_mcu.table import render

    space = load_space(space_name).for_task(classes=10, in_channels=1)
    rows = []
    for batch in batches:
        speed: dict[str, list[float]] = {"NCHW": [], "channels-last": []}
        for _ in range(repeats):
            for layout in speed:
                torch.manual_seed(0)
                net, teacher = Supernet(space), Supernet(space)  # channels-last as built
                if layout == "NCHW":
                    net, teacher = (m.to(memory_format=torch.contiguous_format) for m in (net, teacher))
                teacher.set_active(SubnetConfig.max(space))
                x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
                rng = random.Random(0)

                for i in range(steps + 1):  # the first step warms up
                    if i == 1:
                        t0 = time.perf_counter()
                    _expand2_step(net, teacher, space, x, y, rng)
                speed[layout].append(batch * steps / (time.perf_counter() - t0))
        a, b = (sorted(v)[len(v) // 2] for v in speed.values())
        rows.append((batch, " ".join(f"{v:.0f}" for v in speed["NCHW"]),
                     " ".join(f"{v:.0f}" for v in speed["channels-last"]), f"x{b / a:.2f}"))
    print(render(["batch", "NCHW img/s", "channels-last img/s", "median ratio"], rows,
                 title=f"one expand-2 step of {space_name} (3 subnets + teacher), {torch.get_num_threads()} threads, "
                       f"{repeats} alternated repeats"), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=640, help="training images per epoch")
    ap.add_argument("--baseline", default="9ca2bea", help="git revision of the code before the speed-up")
    ap.add_argument("--profile", action="store_true", help="first profile one expand-2 step")
    ap.add_argument("--space", default="mcu-28", help="space to profile (and of --compare)")
    ap.add_argument("--compare", metavar="REV", help="rows: the code at REV vs this code, on --space")
    ap.add_argument("--repeats", type=int, default=2, help="with --compare: alternated runs of each")
    ap.add_argument("--batch", type=int, default=32, help="images per step")
    ap.add_argument("--layouts", action="store_true", help="first compare NCHW and channels-last steps in-process")
    args = ap.parse_args()
    if args.layouts:
        layout_steps(args.space, [32, 64, 128], args.repeats)
    if args.profile:
        profile_step(args.space, args.images)
    from ofa_mcu.table import render

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        base = tmp_path / "baseline"
        base.mkdir()
        baseline = args.compare or args.baseline
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", baseline, "ofa_mcu"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        data, sched = tmp_path / "fashion.npz", tmp_path / "speed.yaml"
        write_subset(data, args.images)
        sched.write_text(SCHEDULE.replace("@BATCH@", str(args.batch)))
        if args.compare:
            runs = [(f"{label} #{k + 1}", code, args.space, None) for k in range(args.repeats)
                    for label, code in ((args.compare, base), ("this code", ROOT))]
        else:
            runs = [("before", base, "mcu-32", None), ("before, passive OpenMP", base, "mcu-32", "PASSIVE"),
                    ("after, mcu-32", ROOT, "mcu-32", None), ("after, mcu-28", ROOT, "mcu-28", None)]
        results = []
        for i, (label, code, space, omp) in enumerate(runs):
            print(f"running {label} ...", flush=True)
            results.append(run_train(label, code, space, data, sched, tmp_path / f"run{i}", omp, args.batch,
                                     old_split=code != ROOT and not args.compare))
    rows = []

    def img_s(r: dict, e: dict) -> float:
        return args.batch * r["steps"] / e["time_s"]

    base = {e["phase"]: img_s(results[0], e) for e in results[0]["epochs"]}
    for r in results:
        cells = [r["label"], r["space"]]
        for e in r["epochs"]:
            cells.append(f"{e['time_s']:.1f} s / {r['steps']} steps = {img_s(r, e):.1f} img/s "
                         f"(x{img_s(r, e) / base[e['phase']]:.2f})")
        cells.append(f"{r['wall_s']:.0f} s")
        rows.append(cells)
    print(render(["code", "space", "full epoch", "expand-2 epoch", "process wall"], rows,
                 title=f"training speed, Fashion-MNIST, batch {args.batch} (the baseline's split may train on more images: "
                       f"compare img/s), {os.cpu_count()} CPUs (baseline {baseline})"))


if __name__ == "__main__":
    main()
