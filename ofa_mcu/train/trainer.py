"""Progressive shrinking with knowledge distillation, resumable, optionally distributed.

One run goes through the schedule's phases (full -> kernel -> depth -> expand). Each step trains
several subnets on the same batch with gradient accumulation: the largest and the smallest of
the phase (the sandwich rule) plus random ones; every subnet after the first phase also learns
from the frozen full network (loss = CE + kd_ratio * soft cross-entropy). The teacher's logits
depend only on the batch and the resolution, so a step computes them once per resolution it
uses. The schedule's ``train_images`` trains on a fixed, stratified subset of the training
split (validation and BN recalibration are unchanged). A checkpoint is
written atomically after every epoch, so a killed run loses at most one epoch; after every phase
the min / middle / max subnets are evaluated (BN recalibrated) and logged to metrics.json.

Distributed: under torchrun (RANK/WORLD_SIZE set) the supernet is wrapped in
DistributedDataParallel (gloo on CPU, nccl on GPU), data is sharded with DistributedSampler,
every rank samples the same subnets for a step (a step-seeded RNG) and rank 0 writes files.
"""

from __future__ import annotations

import copy
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ofa_mcu.artifacts import METRICS_FILE, write_run_file
from ofa_mcu.atomic import remove_stale_temps
from ofa_mcu.checkpoint import FILENAME, load_weights, read_state, save_state
from ofa_mcu.config import SubnetConfig
from ofa_mcu.data import DataSplit, augment, load_source, resize
from ofa_mcu.errors import UserError, WorkFailed
from ofa_mcu.space import SearchSpace
from ofa_mcu.supernet import Supernet
from ofa_mcu.train.bn import evaluate
from ofa_mcu.train.schedule import Phase, Schedule, lr_at, middle_config, phase_choices


@dataclass
class TrainOptions:
    space: SearchSpace  # the shipped/YAML space; classes and channels are taken from the data
    data: str
    out: Path
    schedule: Schedule
    seed: int = 0
    device: str = "cpu"
    resume: bool = False
    quiet: bool = False


def soft_cross_entropy(logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    return torch.sum(-F.softmax(target_logits, dim=1) * F.log_softmax(logits, dim=1), dim=1).mean()


class _Dist:
    """Rank/world of this process; initialises the process group under torchrun."""

    def __init__(self, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1 and not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if device == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _step_subnets(phase: Phase, space: SearchSpace, count: int, rng: random.Random) -> list[SubnetConfig]:
    """Sandwich: the phase's largest and smallest subnets, then random ones (no duplicates)."""
    ch = phase_choices(space, phase.kind)
    out = [ch.largest(space)]
    for cfg in [ch.smallest(space)] + [ch.sample(space, rng) for _ in range(max(0, count - 2))]:
        if cfg not in out:
            out.append(cfg)
    return out[:count]


class Trainer:
    def __init__(self, opts: TrainOptions) -> None:
        self.opts = opts
        self.sched = opts.schedule
        if opts.device == "cuda" and not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA device is available")
        self.dist = _Dist(opts.device)
        self.device = torch.device(opts.device if opts.device != "cuda" else f"cuda:{self.dist.rank % max(1, torch.cuda.device_count())}")
        if self.device.type == "cuda":
            # same seed, same result: cuDNN's deterministic kernels only (batches, augmentation and
            # subnet choices are drawn on the CPU from seeded generators, whatever the device)
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        self.data: DataSplit = load_source(opts.data, opts.seed)
        self.space = opts.space.for_task(classes=self.data.classes, in_channels=self.data.in_channels)
        self.ckpt_path = opts.out / FILENAME
        torch.manual_seed(opts.seed)
        self.net = Supernet(self.space).to(self.device)
        self.teacher: Supernet | None = None
        self.phase_idx, self.epoch = 0, 0  # next epoch to run
        self.metrics: dict[str, Any] = {"space": self.space.name, "data": opts.data, "schedule": self.sched.name,
                                        "seed": opts.seed, "phases": [], "epochs": []}
        self.optimizer_state: dict | None = None
        self.rng_state: dict | None = None
        for name in (FILENAME, METRICS_FILE):  # what a killed writer left behind
            remove_stale_temps(opts.out, name)
        if opts.resume:
            self._load()
        elif self.ckpt_path.exists():
            raise UserError(f"{self.ckpt_path} exists: pass --resume to continue it, or choose another --out")
        self.calib = self.data.calibration_images(self.sched.bn_calib_samples, opts.seed)
        self.train_x, self.train_y = self.data.train_subset(self.sched.train_images, opts.seed)
        self.val_x, self.val_y = self.data.val_subset(self.sched.val_images, opts.seed)

    # ---- checkpoint ------------------------------------------------------------------------
    def _state(self, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        return {
            "space": self.space.to_dict(), "data": self.opts.data, "seed": self.opts.seed,
            "schedule": self.sched.model_dump(mode="json"),
            "model": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
            "teacher": None if self.teacher is None else {k: v.cpu() for k, v in self.teacher.state_dict().items()},
            # a new phase starts with a fresh optimizer, so only mid-phase states are kept
            "optimizer": optimizer.state_dict() if self.epoch > 0 else None,
            "phase": self.phase_idx, "epoch": self.epoch,
            "done": self.phase_idx >= len(self.sched.phases),
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
            "metrics": self.metrics,
        }

    def _load(self) -> None:
        if not self.ckpt_path.exists():
            raise UserError(f"--resume: no checkpoint at {self.ckpt_path}")
        st = read_state(self.ckpt_path, resume=True)
        if st["data"] != self.opts.data or st["space"]["name"] != self.space.name:
            raise UserError(f"{self.ckpt_path}: was trained on space '{st['space']['name']}' with data "
                            f"'{st['data']}', not '{self.space.name}' / '{self.opts.data}'")
        load_weights(self.net, st["model"], self.space, self.ckpt_path)
        if st.get("teacher") is not None:
            self.teacher = self._frozen_copy()
            load_weights(self.teacher, st["teacher"], self.space, self.ckpt_path)
        if st["schedule"] != self.sched.model_dump(mode="json"):
            raise UserError(f"{self.ckpt_path}: was trained with schedule '{st['schedule'].get('name')}' as it "
                            f"was then; resume with that same schedule (a changed schedule cannot be resumed)")
        self.phase_idx, self.epoch = st["phase"], st["epoch"]
        phases = self.sched.phases
        if not (0 <= self.phase_idx <= len(phases) and 0 <= self.epoch
                and (self.phase_idx == len(phases) or self.epoch < phases[self.phase_idx].epochs)):
            raise UserError(f"{self.ckpt_path}: damaged checkpoint: phase {self.phase_idx} epoch {self.epoch} "
                            f"is not in the schedule")
        self.metrics = st["metrics"]
        self.optimizer_state = st.get("optimizer")
        self.rng_state = st.get("rng")

    def _frozen_copy(self) -> Supernet:
        """The frozen full network used as teacher.

        It normalises with the statistics of the batch it sees (train-mode BatchNorm with
        momentum 0, so its stored statistics never change): the teacher is queried at every
        resolution, and running statistics estimated at one resolution mislead it at another.
        """
        t = copy.deepcopy(self.net).train()
        for p in t.parameters():
            p.requires_grad_(False)
        for m in t.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = 0.0
        t.set_active(SubnetConfig.max(self.space))
        return t

    # ---- training --------------------------------------------------------------------------
    def _optimizer(self, phase: Phase) -> torch.optim.Optimizer:
        no_decay = [p for n, p in self.net.named_parameters() if p.ndim <= 1 or "transforms" in n]
        decay = [p for n, p in self.net.named_parameters() if not (p.ndim <= 1 or "transforms" in n)]
        return torch.optim.SGD([{"params": decay, "weight_decay": self.sched.weight_decay},
                                {"params": no_decay, "weight_decay": 0.0}],
                               lr=phase.lr, momentum=self.sched.momentum, nesterov=True)

    def _batches(self, epoch_seed: int) -> list[np.ndarray]:
        n, bs = len(self.train_x), self.sched.batch_size
        if self.dist.world > 1:
            from torch.utils.data import DistributedSampler

            sampler = DistributedSampler(range(n), num_replicas=self.dist.world, rank=self.dist.rank,
                                         shuffle=True, seed=self.opts.seed, drop_last=True)
            sampler.set_epoch(epoch_seed)
            order = np.array(list(sampler))
        else:
            order = np.random.default_rng(self.opts.seed * 100_003 + epoch_seed).permutation(n)
        return [order[i : i + bs] for i in range(0, len(order) - bs + 1, bs)] or [order]

    def run(self) -> dict[str, Any]:
        try:
            return self._run()
        finally:
            self.dist.close()

    def _run(self) -> dict[str, Any]:
        if self.rng_state is not None:  # global RNGs as saved (each epoch also seeds its own)
            torch.set_rng_state(self.rng_state["torch"])
            random.setstate(self.rng_state["python"])
        model: torch.nn.Module = self.net
        if self.dist.world > 1:
            model = torch.nn.parallel.DistributedDataParallel(self.net, find_unused_parameters=True)
        train_x = torch.from_numpy(self.train_x)
        train_y = torch.from_numpy(self.train_y)
        while self.phase_idx < len(self.sched.phases):
            phase = self.sched.phases[self.phase_idx]
            if self.epoch == 0 and phase.kind in ("expand-1", "expand-2"):
                self.net.sort_channels()
            if self.epoch == 0 and phase.kind != "full" and self.teacher is None:
                self.teacher = self._frozen_copy()
            opt = self._optimizer(phase)
            if self.optimizer_state is not None:
                opt.load_state_dict(self.optimizer_state)
                self.optimizer_state = None
            phase_start = time.time()
            while True:
                loss = self._epoch(model, opt, phase, train_x, train_y)
                self.epoch += 1
                finished = self.epoch >= phase.epochs
                if finished:
                    self._end_phase(phase, loss, time.time() - phase_start)
                    self.phase_idx, self.epoch = self.phase_idx + 1, 0
                if self.dist.main:
                    save_state(self.ckpt_path, self._state(opt))
                    write_run_file(self.opts.out, METRICS_FILE, self.metrics)
                if finished:
                    break
        return self.metrics

    def _epoch(self, model: torch.nn.Module, opt: torch.optim.Optimizer, phase: Phase,
               train_x: torch.Tensor, train_y: torch.Tensor) -> float:
        """One epoch; a function of the weights, the optimizer state and the epoch index only
        (batch order, augmentation and subnet choices are seeded per epoch), so a resumed run
        repeats exactly what the interrupted one would have done."""
        global_epoch = sum(p.epochs for p in self.sched.phases[: self.phase_idx]) + self.epoch
        batches = self._batches(global_epoch)
        gen = torch.Generator().manual_seed(self.opts.seed * 1_000_003 + global_epoch * 101 + self.dist.rank)
        model.train()
        total, count, t0 = 0.0, 0, time.time()
        bar = self._bar(len(batches), phase)
        for step, idx in enumerate(batches):
            for group in opt.param_groups:
                group["lr"] = lr_at(phase, self.epoch * len(batches) + step, len(batches))
            rng = random.Random(f"{self.opts.seed}/{global_epoch}/{step}")  # same on every rank
            subnets = _step_subnets(phase, self.space, self.sched.subnets_per_step, rng)
            x = augment(train_x[idx], gen, self.data.flip).to(self.device)
            y = train_y[idx].to(self.device)
            opt.zero_grad(set_to_none=True)
            step_loss = 0.0
            teacher_logits: dict[int, torch.Tensor] = {}  # per resolution: same batch, same frozen teacher
            for cfg in subnets:
                xb = resize(x, cfg.resolution)
                self.net.set_active(cfg)
                logits = model(xb)
                loss = F.cross_entropy(logits, y)
                if self.teacher is not None and self.sched.kd_ratio > 0:
                    target = teacher_logits.get(cfg.resolution)
                    if target is None:
                        with torch.no_grad():
                            target = teacher_logits[cfg.resolution] = self.teacher(xb)
                    loss = loss + self.sched.kd_ratio * soft_cross_entropy(logits, target)
                (loss / len(subnets)).backward()
                step_loss += loss.item() / len(subnets)
            if not math.isfinite(step_loss):
                raise WorkFailed(f"training diverged: the loss became {step_loss} in phase {phase.kind}, epoch "
                                 f"{self.epoch + 1}, step {step + 1} (lower the schedule's lr?); the last "
                                 f"checkpoint ({self.ckpt_path}) is kept")
            opt.step()
            total += step_loss * len(idx)
            count += len(idx)
            if bar is not None:
                bar.set_postfix(loss=f"{step_loss:.3f}", img_s=f"{count / max(1e-9, time.time() - t0):.0f}")
                bar.update(1)
        if bar is not None:
            bar.close()
        mean_loss = total / max(1, count)
        self.metrics["epochs"].append({"phase": phase.kind, "epoch": self.epoch, "global_epoch": global_epoch,
                                       "loss": round(mean_loss, 5), "lr": phase.lr, "time_s": round(time.time() - t0, 2)})
        return mean_loss

    def _bar(self, total: int, phase: Phase):
        if self.opts.quiet or not self.dist.main:
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc=f"{phase.kind} {self.epoch + 1}/{phase.epochs}", unit="step",
                    leave=False, dynamic_ncols=True, disable=None)  # silent when stderr is not a terminal

    def _end_phase(self, phase: Phase, loss: float, seconds: float) -> None:
        accs = {}
        for label, cfg in (("min", SubnetConfig.min(self.space)),
                           ("mid", middle_config(self.space)), ("max", SubnetConfig.max(self.space))):
            accs[f"{label}_acc"] = round(evaluate(self.net, cfg, self.calib, self.val_x, self.val_y), 5)
        row = {"phase": phase.kind, "epochs": phase.epochs, "loss": round(loss, 5), "time_s": round(seconds, 1), **accs}
        self.metrics["phases"].append(row)
        if self.dist.main:
            print(f"phase {phase.kind:<8} {phase.epochs:>2} epochs {seconds:6.1f}s  loss {loss:.3f}  "
                  f"val acc min {accs['min_acc']:.3f}  mid {accs['mid_acc']:.3f}  max {accs['max_acc']:.3f}", flush=True)
        self.net.train()
