"""Training schedules as data: phases of progressive shrinking with their learning rates.

Phase kinds, in Once-for-All order, and the elastic choices each one samples from:
``full`` (largest kernel, expand and depth), ``kernel`` (all kernels), ``depth-1`` (the two
largest depths), ``depth-2`` (all depths), ``expand-1`` (the two largest expand ratios),
``expand-2`` (everything). Resolution is sampled per batch in every phase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ofa_mcu.config import BlockChoice, SubnetConfig
from ofa_mcu.errors import UserError
from ofa_mcu.space import SearchSpace
from ofa_mcu.validation import load_yaml_model

PhaseKind = Literal["full", "kernel", "depth-1", "depth-2", "expand-1", "expand-2"]
SCHEDULES_DIR = Path(__file__).resolve().parent.parent / "schedules"


class Phase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: PhaseKind
    epochs: int = Field(ge=1, le=100_000)
    lr: float = Field(gt=0, le=10)
    warmup_epochs: int = Field(default=0, ge=0, le=100_000)


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    batch_size: int = Field(ge=1, le=1 << 20)
    subnets_per_step: int = Field(ge=1, le=1000)
    kd_ratio: float = Field(ge=0, le=1000)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    weight_decay: float = Field(default=3e-5, ge=0, lt=1)
    bn_calib_samples: int = Field(default=1000, ge=1, le=10_000_000)
    train_images: int | None = Field(default=None, ge=1)  # a stratified subset of the training split; None: all
    val_images: int | None = Field(default=None, ge=1)  # the phase metrics on a validation subset; None: all
    phases: tuple[Phase, ...] = Field(min_length=1)

    @property
    def total_epochs(self) -> int:
        return sum(p.epochs for p in self.phases)


def load_schedule(name_or_path: str) -> Schedule:
    """``quick``, ``default`` or a schedule YAML path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SCHEDULES_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            names = sorted(p.stem for p in SCHEDULES_DIR.glob("*.yaml"))
            raise UserError(f"unknown schedule '{name_or_path}': expected one of {', '.join(names)} or a YAML path")
    return load_yaml_model(Schedule, path)


@dataclass(frozen=True)
class Choices:
    """The elastic choices a phase samples from."""

    kernels: tuple[int, ...]
    expands: tuple[int, ...]
    depths: tuple[tuple[int, ...], ...]
    resolutions: tuple[int, ...]

    def largest(self, space: SearchSpace) -> SubnetConfig:
        return self._uniform(space, -1)

    def smallest(self, space: SearchSpace) -> SubnetConfig:
        return self._uniform(space, 0)

    def _uniform(self, space: SearchSpace, i: int) -> SubnetConfig:
        stages = tuple(tuple(BlockChoice(self.kernels[i], self.expands[i]) for _ in range(d[i])) for d in self.depths)
        return SubnetConfig(self.resolutions[i], stages, space.name)

    def sample(self, space: SearchSpace, rng) -> SubnetConfig:
        return SubnetConfig.sample(space, rng, kernels=self.kernels, expands=self.expands,
                                   depths=self.depths, resolutions=self.resolutions)


def phase_choices(space: SearchSpace, kind: str) -> Choices:
    k, e = space.kernels, space.expands
    d_all = tuple(s.depths for s in space.stages)
    d_max = tuple(s.depths[-1:] for s in space.stages)
    d_top2 = tuple(s.depths[-2:] for s in space.stages)
    table = {
        "full": (k[-1:], e[-1:], d_max),
        "kernel": (k, e[-1:], d_max),
        "depth-1": (k, e[-1:], d_top2),
        "depth-2": (k, e[-1:], d_all),
        "expand-1": (k, e[-2:], d_all),
        "expand-2": (k, e, d_all),
    }
    kernels, expands, depths = table[kind]
    return Choices(kernels, expands, depths, space.resolutions)


def middle_config(space: SearchSpace) -> SubnetConfig:
    """The subnet with the middle choice of every dimension (the 'mid' of the metrics)."""

    def m(t: tuple[int, ...]) -> int:
        return t[len(t) // 2]

    stages = tuple(tuple(BlockChoice(m(space.kernels), m(space.expands)) for _ in range(m(st.depths)))
                   for st in space.stages)
    return SubnetConfig(m(space.resolutions), stages, space.name)


def lr_at(phase: Phase, step: int, steps_per_epoch: int) -> float:
    """Linear warm-up over ``warmup_epochs``, then cosine decay to zero at the phase's end."""
    total = phase.epochs * steps_per_epoch
    warm = phase.warmup_epochs * steps_per_epoch
    if step < warm:
        return phase.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return 0.5 * phase.lr * (1 + math.cos(math.pi * t))
