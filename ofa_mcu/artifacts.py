"""Run files: the one owner of their names, their typed readers and their writers.

A run leaves JSON files behind that later verbs (and the report) read back:

=================  ===================================================================
``search.json``    ``ofa-mcu search``: per board the chosen subnet, its costs and margins
``compile.json``   ``ofa-mcu compile``: board, runtime, subnet, predicted figures, layers
``export.json``    the export report (accuracy, quantization, arena and flash checks)
``project.json``   a rendered firmware project: board, model, runtime, files
``build.json``     a built project (the demo): the build result and its size summary
``profile.json``   a profile run: latency, per-layer counts, memory, check against host TFLM
``subnet.json``    a subnet configuration
``metrics.json``   a training run's per-phase metrics
``demo.json``      ``ofa-mcu demo``: what each step did and the keys that decide reuse
=================  ===================================================================

Each run file has a pydantic model of the fields later verbs rely on (other fields pass through
untouched), and :func:`read_run_file` reads it like a board YAML: through
:func:`ofa_mcu.userfiles.read_json` (UTF-8, bounded size and depth, finite numbers, an object at
the top) and then the model, so a file of the wrong shape (``[]``, ``"layers": null``) is one line
naming the file and the field, never an ``AttributeError`` three verbs later. Readers return the
file's dict (validated) so callers keep working with plain data. Writers write atomically
(:mod:`ofa_mcu.atomic`). Latency LUTs are read and written by :mod:`ofa_mcu.profiler.lut` with
the :class:`LutFile` model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ofa_mcu.atomic import write_json
from ofa_mcu.config import SubnetConfig
from ofa_mcu.errors import UserError
from ofa_mcu.space import SearchSpace
from ofa_mcu.userfiles import read_json
from ofa_mcu.validation import validate_model

SEARCH_FILE = "search.json"
COMPILE_INFO = "compile.json"
EXPORT_REPORT = "export.json"
PROJECT_INFO = "project.json"
BUILD_INFO = "build.json"
PROFILE_FILE = "profile.json"
SUBNET_FILE = "subnet.json"
DEMO_STATE = "demo.json"
METRICS_FILE = "metrics.json"
MODEL_FILE = "model.tflite"  # the .tflite of a compiled project (not JSON, named here too)

COMPILE_FORMAT = "ofa-mcu-compile/1"

PathLike = str | os.PathLike


# ------------------------------------------------------------------------------------------
# the typed models


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
    kernels: str | None = None  # native, reference or cmsis-nn (absent in files before it was recorded)


class ProfileLayer(_Entry):
    index: int = Field(ge=0)
    kind: str | None = None
    cycles: float | None = Field(default=None, ge=0)
    instructions: float | None = Field(default=None, ge=0)
    ticks: float | None = Field(default=None, ge=0)  # emulated: SysTick counts (virtual time)


class ProfileFile(_RunFile):
    """profile.json (``ofa-mcu profile --json`` / ``emulate --profile --json``)."""

    emulated: bool = False
    clock_hz: int | None = Field(default=None, ge=1)
    layers: list[ProfileLayer] = []
    latency_ms: dict[str, float] = {}
    latency_instructions: dict[str, float] | None = None
    memory: dict[str, int] = {}
    counter: str | None = None
    kernels: str | None = None  # native, reference or cmsis-nn (absent in files before it was recorded)


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


def write_run_file(folder: PathLike, name: str, data: Any) -> Path:
    """Write run file ``name`` (one of the names above) into ``folder``, atomically."""
    return write_json(Path(folder) / name, data)


# ------------------------------------------------------------------------------------------
# project files


def is_project(folder: PathLike) -> bool:
    """Whether ``folder`` holds a rendered firmware project."""
    return (Path(folder) / PROJECT_INFO).is_file()


def read_project_info(project_dir: PathLike) -> dict[str, Any]:
    """The ``project.json`` of a rendered project (board, model, runtime, emulated, qemu_machine)."""
    path = Path(project_dir) / PROJECT_INFO
    if not path.exists():
        raise UserError(f"{project_dir}: not a generated firmware project (no {PROJECT_INFO})")
    return read_run_file(ProjectFile, path)


def read_compile_info(project_dir: PathLike) -> dict[str, Any] | None:
    """A compiled project's compile.json (None when the project has none)."""
    path = Path(project_dir) / COMPILE_INFO
    if not path.exists():
        return None
    return read_run_file(CompileFile, path)


def read_export_report(folder: PathLike) -> dict[str, Any] | None:
    """A project's (or an export's) export.json, None when there is none."""
    path = Path(folder) / EXPORT_REPORT
    if not path.exists():
        return None
    return read_run_file(AnyObject, path)


def read_profile(folder: PathLike) -> dict[str, Any]:
    """A project's profile.json."""
    return read_run_file(ProfileFile, Path(folder) / PROFILE_FILE)


# ------------------------------------------------------------------------------------------
# search results


def search_path(search: PathLike) -> Path:
    """``search.json`` of a search folder (or the file itself when given)."""
    p = Path(search)
    return p / SEARCH_FILE if p.is_dir() or not str(search).endswith(".json") else p


def read_search(search: PathLike) -> dict[str, Any]:
    """A search result (``{"boards": {NAME: {...}}, ...}``) from a folder or a ``search.json``."""
    path = search_path(search)
    if not path.is_file():
        raise UserError(f"{path}: no such search result (run `ofa-mcu search` first)")
    return read_run_file(SearchFile, path)


def search_entry(search: PathLike, board: str) -> dict[str, Any]:
    """The search result's entry for ``board`` (board names compared case-insensitively)."""
    path = search_path(search)
    boards = read_search(path)["boards"]
    entry = boards.get(board)
    if entry is None:
        folded = {k.lower(): k for k in boards}
        entry = boards.get(folded.get(board.lower(), ""))
    if entry is None:
        have = ", ".join(sorted(boards)) or "none"
        raise UserError(f"{path}: no result for board '{board}' (boards searched: {have})")
    if not isinstance(entry, dict) or "subnet" not in entry:
        raise UserError(f"{path}: board '{board}' has no 'subnet'")
    return entry


def subnet_from_search(search: PathLike, board: str, space: SearchSpace) -> SubnetConfig:
    """The subnet the search chose for ``board`` (``DIR/search.json``: ``{"boards": {NAME: {"subnet": ...}}}``)."""
    path = search_path(search)
    entry = search_entry(path, board)
    source = f"{path} (board {board})"
    return SubnetConfig.from_dict(entry["subnet"], source).validate(space, source)
