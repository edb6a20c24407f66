"""Supernet checkpoints: one file holding everything needed to resume training or deploy.

Contents: the search space (with the task's classes and input channels), the data source and
seed, the schedule, the supernet's weights and BatchNorm statistics, the frozen teacher, the
optimizer state, progress (phase, epoch), RNG states, metrics and the tool version. Written
atomically (temporary file, fsync, rename); read back with ``weights_only`` unpickling, and a
truncated, corrupt or foreign file is a one-line UserError.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ofa_mcu import __version__
from ofa_mcu.atomic import write_bytes
from ofa_mcu.errors import UserError
from ofa_mcu.space import SearchSpace

FORMAT = "ofa-mcu-checkpoint"
FORMAT_VERSION = 1
FILENAME = "checkpoint.pt"


def resolve_path(path: str | Path) -> Path:
    """A checkpoint file, or a training output folder holding ``checkpoint.pt``."""
    p = Path(path)
    if p.is_dir():
        p = p / FILENAME
    if not p.is_file():
        raise UserError(f"{path}: no such checkpoint (expected a file or a training folder with {FILENAME})")
    return p


def _read(path: Path, required: tuple[str, ...] = ("space", "data", "seed", "model")) -> dict[str, Any]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle errors, foreign objects: all one message
        raise UserError(f"{path}: not a readable ofa-mcu checkpoint (truncated or corrupt: {e.__class__.__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{path}: not an ofa-mcu checkpoint (no '{FORMAT}' marker)")
    if state.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path}: checkpoint format {state.get('format_version')} is not supported "
                        f"(this ofa-mcu reads format {FORMAT_VERSION})")
    for key in required:
        kind = _TYPES[key]
        if key not in state:
            raise UserError(f"{path}: damaged checkpoint: no '{key}' entry")
        if not isinstance(state[key], kind) or isinstance(state[key], bool) and kind is not bool:
            raise UserError(f"{path}: damaged checkpoint: '{key}' is a {type(state[key]).__name__}")
    return state


# entries of a checkpoint (one missing was not written by this tool, or was edited); deploying
# needs the first four, resuming all
_TYPES: dict[str, type] = {
    "space": dict, "data": str, "seed": int, "model": dict, "schedule": dict, "phase": int, "epoch": int,
    "metrics": dict,
}
RESUME_ENTRIES = tuple(_TYPES)


def load_weights(net: Any, weights: dict[str, Any], space: SearchSpace, path: Path | str) -> None:
    """Load ``weights`` into ``net``; weights of another space are one line naming the space."""
    own = net.state_dict()
    missing = [k for k in own if k not in weights]
    extra = [k for k in weights if k not in own]
    shape = [k for k in own if k in weights and getattr(weights[k], "shape", None) != own[k].shape]
    if missing or extra or shape:
        first = (missing or extra or shape)[0]
        raise UserError(f"{path}: weights are not those of space '{space.name}' ({len(missing)} missing, "
                        f"{len(extra)} unexpected, {len(shape)} of another shape, e.g. '{first}')")
    net.load_state_dict(weights)


def read_state(path: str | Path, *, resume: bool = False) -> dict[str, Any]:
    """The checkpoint's entries; ``resume``: also those a resumed training needs."""
    return _read(resolve_path(path), RESUME_ENTRIES) if resume else _read(resolve_path(path))


def read_space(path: str | Path) -> SearchSpace:
    return SearchSpace.from_dict(read_state(path)["space"], source=str(path))


def save_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Serialise ``state`` (plus format marker and tool version) and write it atomically."""
    import torch

    buf = io.BytesIO()
    torch.save({**state, "format": FORMAT, "format_version": FORMAT_VERSION, "tool_version": __version__}, buf)
    return write_bytes(path, buf.getvalue())


@dataclass
class Checkpoint:
    """A loaded checkpoint, ready for analysis, search and export."""

    path: Path
    space: SearchSpace
    supernet: Any  # ofa_mcu.supernet.Supernet, eval mode
    data: str
    seed: int
    done: bool
    metrics: list[dict] = field(default_factory=list)
    bn_calib_samples: int = 1000


def load_checkpoint(path: str | Path) -> Checkpoint:
    from ofa_mcu.supernet import Supernet

    p = resolve_path(path)
    state = _read(p)
    space = SearchSpace.from_dict(state["space"], source=str(p))
    net = Supernet(space)
    load_weights(net, state["model"], space, p)
    return Checkpoint(p, space, net.eval(), state["data"], state["seed"], state.get("done", False),
                      state.get("metrics", []), state.get("schedule", {}).get("bn_calib_samples", 1000))
