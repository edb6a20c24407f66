"""Library output: a model packaged for the user's own firmware (``ofa-mcu compile --format``).

Owns the output formats (a registry as data, :data:`FORMATS`) and the writing of one: the
runtime's library sources (its registry entry's ``library_sources``: the model, only the kernels
it uses, the ``ofa_model`` C API of ``ofa_model.h``) plus the packaging the format's templates in
``templates/library/`` render:

- ``library``: ``src/``, a CMake target (``CMakeLists.txt``: ``add_subdirectory`` it and link
  ``ofa_model``), a plain Makefile fragment (``ofa_model.mk``) and a README with a usage example;
- ``arduino``: an Arduino library (``library.properties``, ``src/``, ``examples/<name>/<name>.ino``,
  ``extras/``) as the Arduino library specification 1.5 lays it out;
- ``zephyr``: a Zephyr module (``zephyr/module.yml``, ``zephyr/CMakeLists.txt`` with
  ``zephyr_library``, ``zephyr/Kconfig`` for the arena placement) and a sample application.

None of them uses ofa-mcu's board support or serial runner, so any board works, including boards
whose YAML has no firmware fields. Every output also holds ``model.tflite`` and
``ofa_library.json`` (board, runtime, format, arena, files). Written atomically: rendered into a
temporary folder beside the output, then renamed into place; a previous library is replaced,
any other non-empty folder refused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ofa_mcu import __version__
from ofa_mcu.boards import Board, load_board
from ofa_mcu.codegen import render_all
from ofa_mcu.errors import UserError
from ofa_mcu.runtimes import LibrarySources, ModelRequest, get_runtime

LIBRARY_INFO = "ofa_library.json"
LIBRARY_FORMAT = "ofa-mcu-library/1"
MODEL_FILE = "model.tflite"


@dataclass(frozen=True)
class OutputFormat:
    """One library output format: where the sources and data files go, the templates it adds."""

    name: str
    noun: str  # what the output is called in messages ("C library")
    description: str
    src_dir: str  # folder of the runtime's library sources
    data_dir: str  # folder of model.tflite and ofa_library.json ("" = the root)
    #: output path -> template (paths may use {example}, the example's name)
    templates: tuple[tuple[str, str], ...]


FORMATS: dict[str, OutputFormat] = {f.name: f for f in (
    OutputFormat(
        name="library", noun="C library",
        description="C library folder: src/, CMake target ofa_model, Makefile fragment ofa_model.mk, README",
        src_dir="src", data_dir="",
        templates=(("CMakeLists.txt", "library/CMakeLists.txt.j2"), ("ofa_model.mk", "library/ofa_model.mk.j2"),
                   ("README.md", "library/README.md.j2")),
    ),
    OutputFormat(
        name="arduino", noun="Arduino library",
        description="Arduino library: library.properties, src/, examples/<name>/<name>.ino",
        src_dir="src", data_dir="extras",
        templates=(("library.properties", "library/arduino/library.properties.j2"),
                   ("examples/{example}/{example}.ino", "library/arduino/example.ino.j2"),
                   ("README.md", "library/arduino/README.md.j2")),
    ),
    OutputFormat(
        name="zephyr", noun="Zephyr module",
        description="Zephyr module: zephyr/module.yml, zephyr/CMakeLists.txt (zephyr_library), zephyr/Kconfig, "
                    "a sample",
        src_dir="src", data_dir="",
        templates=(("zephyr/module.yml", "library/zephyr/module.yml.j2"),
                   ("zephyr/CMakeLists.txt", "library/zephyr/CMakeLists.txt.j2"),
                   ("zephyr/Kconfig", "library/zephyr/Kconfig.j2"),
                   ("samples/{example}/CMakeLists.txt", "library/zephyr/sample_CMakeLists.txt.j2"),
                   ("samples/{example}/prj.conf", "library/zephyr/sample_prj.conf.j2"),
                   ("samples/{example}/src/main.c", "library/zephyr/sample_main.c.j2"),
                   ("README.md", "library/zephyr/README.md.j2")),
    ),
)}
#: the output of ``compile`` without --format: the standalone firmware project
PROJECT_FORMAT = "project"


def format_names() -> tuple[str, ...]:
    """``project`` (the standalone firmware) and the library formats."""
    return (PROJECT_FORMAT, *FORMATS)


def get_format(name: str) -> OutputFormat:
    fmt = FORMATS.get(name)
    if fmt is None:
        raise UserError(f"unknown output format '{name}': expected one of {', '.join(format_names())}")
    return fmt


def is_library(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a library written by :func:`render_library` (any format)."""
    p = Path(folder)
    return any((p / d / LIBRARY_INFO).is_file() for d in {f.data_dir for f in FORMATS.values()})


def check_output(out: str | os.PathLike) -> Path:
    """Refuse (one line) an output folder that exists and is neither empty nor a previous library."""
    p = Path(out).expanduser()
    if p.exists() and (not p.is_dir() or (any(p.iterdir()) and not is_library(p))):
        raise UserError(f"{p}: exists and is not a generated library; choose another --out")
    return p


def _identifier(name: str) -> str:
    """``name`` as a C / Arduino / Zephyr identifier: ``ofa_model_<name>`` with [A-Za-z0-9_] only."""
    return "ofa_model_" + re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_")


def _write_tree(out: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write ``files`` into a temporary folder beside ``out``, then rename it into place."""
    out = out.expanduser().absolute()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as e:
        raise UserError(f"{out}: cannot write: {e.strerror or e}") from None
    old: Path | None = None
    try:
        for rel in sorted(files):
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            data = files[rel]
            path.write_bytes(data.encode("utf-8") if isinstance(data, str) else bytes(data))
        if out.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "library")
        os.replace(tmp, out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not out.exists() and (old / "library").exists():
            os.replace(old / "library", out)
        raise UserError(f"{out}: cannot write: {e.strerror or e}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not out.exists() and (old / "library").exists():
            os.replace(old / "library", out)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return out


def library_context(lib: LibrarySources, board: Board, fmt: OutputFormat, name: str,
                    info: Mapping[str, Any]) -> dict[str, Any]:
    """What the packaging templates read."""
    ident = _identifier(name)
    src = sorted(lib.files)
    return {
        "generator": f"ofa-mcu {__version__}",
        "api": lib.api,
        "name": name,
        "ident": ident,
        "example": ident + "_infer",
        "board": board,
        "cpu_flags": board.gcc_cpu_flags(),
        "format": fmt,
        "runtime": lib.api["runtime"],
        "cxx": lib.cxx,
        "needs_tflm": "TFLM" in lib.needs,
        "src_dir": fmt.src_dir,
        "data_dir": fmt.data_dir,
        "sources": [f for f in src if f.endswith((".c", ".cc", ".cpp"))],
        "c_sources": [f for f in src if f.endswith(".c")],
        "cxx_sources": [f for f in src if f.endswith((".cc", ".cpp"))],
        "headers": [f for f in src if f.endswith(".h")],
        "info": info,
    }


def render_library(model: bytes, board: Board | str, out: str | os.PathLike, runtime: str, fmt: str, *,
                   name: str, space: Any = None, subnet: Any = None, report: Mapping[str, Any] | None = None,
                   predicted: Mapping[str, Any] | None = None, extra_info: Mapping[str, Any] | None = None,
                   say: Callable[[str], None] = lambda _m: None) -> tuple[Path, dict[str, Any], LibrarySources]:
    """Write the library of an INT8 ``.tflite`` for ``runtime`` in format ``fmt`` into ``out``:
    (folder, its ``ofa_library.json``, the runtime's :class:`LibrarySources`)."""
    rt = get_runtime(runtime)
    form = get_format(fmt)
    b = board if isinstance(board, Board) else load_board(board)
    if rt.library_sources is None:
        raise UserError(f"runtime {runtime}: no library output (only {', '.join(format_names()[:1])})")
    out_path = check_output(out)
    lib = rt.library_sources(bytes(model), b, ModelRequest(name=name, origin=MODEL_FILE, space=space, subnet=subnet,
                                                          report=dict(report or {}),
                                                          predicted=dict(predicted or {}), say=say))

    def rel_data(f: str) -> str:
        return f"{form.data_dir}/{f}" if form.data_dir else f

    info: dict[str, Any] = {
        "format": LIBRARY_FORMAT,
        "generator": f"ofa-mcu {__version__}",
        "output_format": form.name,
        "output_kind": form.noun,
        "board": b.name,
        "core": b.core,
        "runtime": runtime,
        "model": name,
        "model_bytes": len(model),
        "space": space.name if space is not None else None,
        "subnet": subnet.to_dict() if subnet is not None else None,
        "subnet_hash": subnet.stable_hash() if subnet is not None else None,
        "accuracy": (report or {}).get("accuracy"),
        "arena_bytes": lib.api["arena_bytes"],
        "input": lib.api["input"],
        "output": lib.api["output"],
        "layers": lib.api["layer_list"],
        "macs": lib.api["macs"],
        "kernels": lib.api["kernels"],
        "needs": list(lib.needs),
        "predicted": dict(predicted or {}),
        **dict(extra_info or {}),
        **lib.info,
    }
    ctx = library_context(lib, b, form, name, info)
    targets = [(path.format(example=ctx["example"]), template) for path, template in form.templates]
    files: dict[str, str | bytes] = dict(render_all(targets, ctx, f"the {form.name} library"))
    for f, content in lib.files.items():
        files[f"{form.src_dir}/{f}"] = content
    files[rel_data(MODEL_FILE)] = bytes(model)
    info["files"] = sorted([*files, rel_data(LIBRARY_INFO)])
    files[rel_data(LIBRARY_INFO)] = json.dumps(info, indent=2) + "\n"
    say(f"writing the {form.noun} ({runtime} runtime) for {b.name} into {out_path}")
    return _write_tree(out_path, files), info, lib
