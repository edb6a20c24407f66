"""Search spaces: the elastic dimensions of a supernet, as data.

A space is a YAML file (shipped ones in ``ofa_mcu/spaces/``, loaded by name, or any path):
a stem, a fixed first block, stages of inverted-residual blocks with a stride, a width and the
allowed depths, the kernel and expand-ratio choices, and the input resolutions. The number of
classes and input channels are task parameters (``SearchSpace.for_task``).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ofa_mcu.errors import UserError
from ofa_mcu.resources import spaces_dir
from ofa_mcu.validation import load_yaml_model, validate_model

_STRICT = ConfigDict(extra="forbid", frozen=True)
# plausible bounds for a microcontroller network: anything larger is a typo
MAX_CHANNELS, MAX_KERNEL, MAX_EXPAND, MAX_DEPTH, MAX_RESOLUTION, MAX_CLASSES = 4096, 15, 16, 32, 1024, 100_000


class StemSpec(BaseModel):
    model_config = _STRICT
    channels: int = Field(gt=0, le=MAX_CHANNELS)
    kernel: int = Field(default=3, gt=0, le=MAX_KERNEL)
    stride: int = Field(default=2, ge=1, le=2)

    @field_validator("kernel")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError("kernel must be odd")
        return v


class FirstBlockSpec(BaseModel):
    model_config = _STRICT
    channels: int = Field(gt=0, le=MAX_CHANNELS)


class StageSpec(BaseModel):
    model_config = _STRICT
    channels: int = Field(gt=0, le=MAX_CHANNELS)
    stride: int = Field(ge=1, le=2)
    depths: tuple[Annotated[int, Field(le=MAX_DEPTH)], ...] = Field(min_length=1)

    @field_validator("depths")
    @classmethod
    def _positive_sorted(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 1 for d in v):
            raise ValueError("depths must be >= 1")
        return tuple(sorted(set(v)))

    @property
    def max_depth(self) -> int:
        return self.depths[-1]


class SearchSpace(BaseModel):
    """An elastic MobileNetV2-style space. Immutable; hashable by value."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str = ""
    in_channels: int = Field(default=3, gt=0, le=MAX_CHANNELS)
    classes: int = Field(default=10, ge=2, le=MAX_CLASSES)
    resolutions: tuple[Annotated[int, Field(le=MAX_RESOLUTION)], ...] = Field(min_length=1)
    stem: StemSpec
    first_block: FirstBlockSpec
    kernels: tuple[Annotated[int, Field(le=MAX_KERNEL)], ...] = Field(min_length=1)
    expands: tuple[Annotated[int, Field(le=MAX_EXPAND)], ...] = Field(min_length=1)
    stages: tuple[StageSpec, ...] = Field(min_length=1)

    @field_validator("resolutions", "kernels", "expands")
    @classmethod
    def _sorted_unique_positive(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(x < 1 for x in v):
            raise ValueError("values must be >= 1")
        return tuple(sorted(set(v)))

    @field_validator("kernels")
    @classmethod
    def _odd_kernels(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(k % 2 == 0 for k in v):
            raise ValueError("kernel sizes must be odd")
        return v

    # ---- derived ---------------------------------------------------------------------------
    @property
    def max_kernel(self) -> int:
        return self.kernels[-1]

    @property
    def max_expand(self) -> int:
        return self.expands[-1]

    @cached_property
    def stage_in_channels(self) -> tuple[int, ...]:
        """Input width of each stage's first block."""
        ins, prev = [], self.first_block.channels
        for st in self.stages:
            ins.append(prev)
            prev = st.channels
        return tuple(ins)

    @property
    def last_channels(self) -> int:
        return self.stages[-1].channels

    def for_task(self, classes: int | None = None, in_channels: int | None = None) -> SearchSpace:
        """The same space with the task's class count and input channels."""
        upd = {}
        if classes is not None:
            upd["classes"] = classes
        if in_channels is not None:
            upd["in_channels"] = in_channels
        return validate_model(SearchSpace, {**self.model_dump(), **upd}, f"space {self.name}")

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict, source: str = "space") -> SearchSpace:
        return validate_model(cls, data, source)


def space_names() -> list[str]:
    return sorted(p.stem for p in spaces_dir().glob("*.yaml"))


def load_space(name_or_path: str) -> SearchSpace:
    """Load a shipped space by name (``mcu-32``) or any space YAML by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_yaml_model(SearchSpace, path)
    shipped = spaces_dir() / f"{name_or_path}.yaml"
    if not shipped.exists():
        raise UserError(f"unknown search space '{name_or_path}': expected one of {', '.join(space_names())} or a YAML path")
    return load_yaml_model(SearchSpace, shipped)
