"""SubnetConfig: one architecture inside a search space (resolution, depth, kernel, expand).

Only the active blocks are stored: stage ``i`` has ``len(stages[i])`` blocks, each a
``(kernel, expand)`` choice. JSON round trip, validation against a space with errors that name
the block and the allowed values, sampling, the min/max subnets, and a stable hash.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ofa_mcu.errors import UserError
from ofa_mcu.space import SearchSpace


@dataclass(frozen=True)
class BlockChoice:
    kernel: int
    expand: int


@dataclass(frozen=True)
class SubnetConfig:
    """Resolution plus, per stage, the (kernel, expand) choice of each active block."""

    resolution: int
    stages: tuple[tuple[BlockChoice, ...], ...]
    space: str = ""

    # ---- views -----------------------------------------------------------------------------
    @property
    def depths(self) -> tuple[int, ...]:
        return tuple(len(s) for s in self.stages)

    def blocks(self) -> list[tuple[int, int, BlockChoice]]:
        """(stage index, block index, choice) for every active block in order."""
        return [(i, j, b) for i, st in enumerate(self.stages) for j, b in enumerate(st)]

    # ---- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "space": self.space,
            "resolution": self.resolution,
            "stages": [[{"kernel": b.kernel, "expand": b.expand} for b in st] for st in self.stages],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any, source: str = "subnet") -> SubnetConfig:
        try:
            if not isinstance(data, dict):
                raise TypeError("expected a JSON object")
            unknown = set(data) - {"space", "resolution", "stages"}
            if unknown:
                raise ValueError(f"unknown key {sorted(unknown)[0]!r}")
            stages = []
            for i, st in enumerate(data["stages"]):
                blocks = []
                for j, b in enumerate(st):
                    if set(b) != {"kernel", "expand"}:
                        raise ValueError(f"stage {i} block {j}: expected keys 'kernel' and 'expand'")
                    blocks.append(BlockChoice(_int(b["kernel"]), _int(b["expand"])))
                stages.append(tuple(blocks))
            return cls(resolution=_int(data["resolution"]), stages=tuple(stages), space=str(data.get("space", "")))
        except KeyError as e:
            raise UserError(f"{source}: missing key {e.args[0]!r}") from None
        except (TypeError, ValueError) as e:
            raise UserError(f"{source}: {e}") from None

    @classmethod
    def load(cls, path: str | Path) -> SubnetConfig:
        """Read a subnet JSON file, or a result file that embeds one under ``"subnet"``."""
        from ofa_mcu.userfiles import read_json

        path = Path(path)
        if not path.exists():
            raise UserError(f"{path}: no such subnet file")
        data = read_json(path)
        if isinstance(data, dict) and "subnet" in data and "stages" not in data:
            data = data["subnet"]
        return cls.from_dict(data, str(path))

    def stable_hash(self) -> str:
        """12 hex digits identifying this architecture (same for equal configs, across runs)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    # ---- validation ------------------------------------------------------------------------
    def validate(self, space: SearchSpace, source: str = "subnet") -> SubnetConfig:
        """Raise a UserError naming the offending block and the allowed values; return self."""
        if self.space and self.space != space.name:
            raise UserError(f"{source}: subnet belongs to space '{self.space}', not '{space.name}'")
        if self.resolution not in space.resolutions:
            raise UserError(f"{source}: resolution {self.resolution} not in allowed {list(space.resolutions)}")
        if len(self.stages) != len(space.stages):
            raise UserError(f"{source}: {len(self.stages)} stages given, space '{space.name}' has {len(space.stages)}")
        for i, (st, spec) in enumerate(zip(self.stages, space.stages)):
            if len(st) not in spec.depths:
                raise UserError(f"{source}: stage {i}: depth {len(st)} not in allowed {list(spec.depths)}")
            for j, b in enumerate(st):
                if b.kernel not in space.kernels:
                    raise UserError(f"{source}: stage {i} block {j}: kernel {b.kernel} not in allowed {list(space.kernels)}")
                if b.expand not in space.expands:
                    raise UserError(f"{source}: stage {i} block {j}: expand {b.expand} not in allowed {list(space.expands)}")
        return self

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def uniform(cls, space: SearchSpace, resolution: int, depth: str, kernel: int, expand: int) -> SubnetConfig:
        stages = []
        for spec in space.stages:
            d = spec.depths[0] if depth == "min" else spec.depths[-1]
            stages.append(tuple(BlockChoice(kernel, expand) for _ in range(d)))
        return cls(resolution=resolution, stages=tuple(stages), space=space.name)

    @classmethod
    def min(cls, space: SearchSpace) -> SubnetConfig:
        return cls.uniform(space, space.resolutions[0], "min", space.kernels[0], space.expands[0])

    @classmethod
    def max(cls, space: SearchSpace) -> SubnetConfig:
        return cls.uniform(space, space.resolutions[-1], "max", space.kernels[-1], space.expands[-1])

    @classmethod
    def sample(
        cls,
        space: SearchSpace,
        seed: int | random.Random,
        *,
        kernels: tuple[int, ...] | None = None,
        expands: tuple[int, ...] | None = None,
        depths: tuple[tuple[int, ...], ...] | None = None,
        resolutions: tuple[int, ...] | None = None,
    ) -> SubnetConfig:
        """A uniformly random config; the keyword choices restrict it (progressive shrinking)."""
        rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        kernels = kernels or space.kernels
        expands = expands or space.expands
        resolutions = resolutions or space.resolutions
        stages = []
        for i, spec in enumerate(space.stages):
            d = rng.choice(depths[i] if depths else spec.depths)
            stages.append(tuple(BlockChoice(rng.choice(kernels), rng.choice(expands)) for _ in range(d)))
        return cls(resolution=rng.choice(resolutions), stages=tuple(stages), space=space.name)


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"expected an integer, got {v!r}")
    return v
