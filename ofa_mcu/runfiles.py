"""Typed readers of the files one run leaves for the next (project.json, compile.json,
profile.json, search.json, export.json, latency LUTs, metrics.json).

Each run file has a pydantic model of the fields later verbs rely on (other fields pass through
untouched), and :func:`read_run_file` reads it like a board YAML: through
:func:`ofa_mcu.userfiles.read_json` (UTF-8, bounded size and depth, finite numbers, an object at
the top) and then the model, so a file of the wrong shape (``[]``, ``"layers": null``) is one
line naming the file and the field, never an ``AttributeError`` three verbs later. Readers return
the file's dict (validated) so callers keep working with plain data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ofa_mcu.userfiles import read_json
from ofa_mcu.validation import validate_model


class _RunFile(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow")


class ProjectFile(_RunFile):
    """project.json of a rendered firmware project."""

    board: str
    runtime: str
    model: str = ""
    emulated: bool = False
    qemu_machine: str | None = None


class CompileLayer(_Entry):
    index: int = Field(ge=0)
    kind: str
    macs: int = Field(ge=0)
    name: str | None = None


class CompileFile(_RunFile):
    """compile.json of a compiled project."""

    board: str
    runtime: str
    emulated: bool = False
    layers: list[CompileLayer] = []
    predicted: dict[str, Any] = {}
    subnet: dict[str, Any] | None = None
    space: str | None = None


class ProfileLayer(_Entry):
    index: int = Field(ge=0)
    kind: str | None = None
    cycles: float | None = Field(default=None, ge=0)
    instructions: float | None = Field(default=None, ge=0)


class ProfileFile(_RunFile):
    """profile.json (``ofa-mcu profile --json`` / ``emulate --profile --json``)."""

    emulated: bool = False
    clock_hz: int | None = Field(default=None, ge=1)
    layers: list[ProfileLayer] = []
    latency_ms: dict[str, float] = {}
    latency_instructions: dict[str, float] | None = None
    memory: dict[str, int] = {}
    counter: str | None = None


class SearchFile(_RunFile):
    """search.json: per board, the search result (its ``subnet`` and predicted figures)."""

    boards: dict[str, dict[str, Any]]


class LutKind(_Entry):
    cycles_per_mac: float = Field(ge=0)
    cycles_per_op: float = Field(ge=0)


class LutFile(_RunFile):
    """A latency LUT from ``ofa-mcu profile --lut``."""

    kinds: dict[str, LutKind]
    samples: list[dict[str, Any]] = []
    board: str | None = None


class AnyObject(_RunFile):
    """A run file whose content is only shown (metrics.json, export.json, build.json, demo.json)."""


def read_run_file(model: type[_RunFile], path: str | Path, source: str | None = None) -> dict[str, Any]:
    """The JSON object at ``path``, validated as ``model``; any problem is one UserError line."""
    source = source or str(path)
    data = read_json(path, source)
    validate_model(model, data, source)
    return data
