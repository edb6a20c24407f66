"""The source trees a firmware project's CMake needs (TFLM, CMSIS-NN) and the other definitions
``ofa-mcu build`` passes to CMake.

A tree comes from an option (``--tflm-dir``), else the environment (``TFLM_DIR``), else the
build folder's own earlier configure, which is reused only when that configure succeeded, and
then named. A folder that is not the tree itself but a repository whose ``src/`` is one (the
tflite-micro-arduino-examples library) is taken as its ``src/``; a tflite-micro checkout is
refused with the command that makes a tree from it. The runtime's ``build_defines`` add the
kernels to compile (``--kernels``) and the shared cache of compiled libraries
(:func:`cache_root`, ``--no-cache``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ofa_mcu.errors import UserError

#: what a project's CMake wrote about the build it configured (``key=value`` lines): the kernels
#: actually built, where a compiled library came from
BUILD_RECORD = "ofa_build.txt"


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """The user's ofa-mcu cache folder: ``$OFA_MCU_CACHE_DIR``, else ``$XDG_CACHE_HOME/ofa-mcu``,
    else ``~/.cache/ofa-mcu``."""
    env = os.environ if env is None else env
    if env.get("OFA_MCU_CACHE_DIR"):
        return Path(env["OFA_MCU_CACHE_DIR"]).expanduser().absolute()
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    base = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else home / ".cache"
    return base.absolute() / "ofa-mcu"


def _option(var: str) -> str:
    return "--" + var.lower().replace("_", "-")


def resolve_tree(spec: Mapping[str, str], value: str, origin: str) -> tuple[Path, str | None]:
    """(the tree, a note when it is not ``value`` itself) for one ``source_trees`` entry.

    ``origin`` names where ``value`` came from (``--tflm-dir``, ``$TFLM_DIR``) in the errors."""
    path = Path(value).expanduser().absolute()
    if not path.is_dir():
        raise UserError(f"{origin} {value}: no such folder")
    check = spec.get("check")
    if not check or (path / check).is_file():
        return path, None
    if (path / "src" / check).is_file():
        return path / "src", f"{origin} {value}: using its src/ folder, which is {spec.get('what', 'the tree')}"
    checkout = spec.get("checkout")
    if checkout and (path / checkout).is_file():
        raise UserError(f"{origin} {value}: a source checkout, not {spec.get('what', 'a tree')}; make one with "
                        f"(in {path}) {spec.get('checkout_hint', checkout)} and pass that folder")
    hint = f" {spec['hint']}" if spec.get("hint") else ""
    raise UserError(f"{origin} {value}: not {spec.get('what', 'the expected tree')} (no {check} in it or in "
                    f"its src/).{hint}")


def read_cmake_cache(build_dir: Path) -> dict[str, str]:
    """The ``NAME:TYPE=value`` entries of ``build_dir/CMakeCache.txt`` (empty when there is none)."""
    cache = build_dir / "CMakeCache.txt"
    if not cache.is_file():
        return {}
    out: dict[str, str] = {}
    for m in re.finditer(r"^([A-Za-z_][A-Za-z0-9_]*):[A-Z]+=(.*)$", cache.read_text("utf-8", "replace"), re.M):
        out[m.group(1)] = m.group(2).strip()
    return out


def configured(build_dir: Path) -> bool:
    """True when CMake's last configure of ``build_dir`` succeeded (it wrote the build files)."""
    return (build_dir / "build.ninja").is_file() or (build_dir / "Makefile").is_file()


def read_build_record(build_dir: Path) -> dict[str, str]:
    """The ``key=value`` lines the project's CMake wrote into :data:`BUILD_RECORD` (empty: none)."""
    path = build_dir / BUILD_RECORD
    if not path.is_file():
        return {}
    out: dict[str, str] = {}
    for line in path.read_text("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


@dataclass
class BuildSetup:
    """What a build of one project passes to CMake, and what the user should be told about it."""

    defines: dict[str, str] = field(default_factory=dict)
    kernels: str | None = None  # the kernels asked for (None: a runtime without a choice)
    notes: list[str] = field(default_factory=list)


def build_setup(runtime: Any, build_dir: Path, *, dirs: Mapping[str, str | None],
                kernels: str | None = None, use_cache: bool = True,
                env: Mapping[str, str] | None = None) -> BuildSetup:
    """The CMake definitions for building a project of ``runtime`` (a registry ``Runtime``, or
    None for a project of an unknown runtime) in ``build_dir``.

    ``dirs``: tree options by variable (``{"TFLM_DIR": "--tflm-dir value or None"}``); an unset
    one comes from ``env``, else from the build folder's last successful configure (named in a
    note), else stays unset so that CMake names what is missing. ``kernels``: the kernel set to
    build (checked against the runtime's). ``use_cache``: share compiled libraries through
    :func:`cache_root`.
    """
    env = os.environ if env is None else env
    setup = BuildSetup()
    specs: dict[str, Mapping[str, str]] = {}
    if runtime is not None:
        for group in runtime.source_trees:
            for spec in group:
                specs[spec["var"]] = spec
    cached = read_cmake_cache(build_dir)
    ok = configured(build_dir)
    for var in sorted({*specs, *(v for v, d in dirs.items() if d)}):
        spec = specs.get(var, {"var": var})
        value, origin = dirs.get(var), _option(var)
        if not value and env.get(var):
            value, origin = env[var], f"${var}"
        if value:
            path, note = resolve_tree(spec, value, origin)
            setup.defines[var] = str(path)
            if note:
                setup.notes.append(note)
        elif cached.get(var) and ok:
            setup.notes.append(f"{var}: using {cached[var]}, the tree this build folder was configured with "
                               f"(give {_option(var)} to change it)")
        elif cached.get(var):
            setup.defines[var] = ""  # a failed configure's tree is never reused silently
    if runtime is not None and runtime.build_defines is not None:
        setup.kernels = runtime.check_kernels(kernels)
        cache = cache_root(env) / runtime.name if use_cache else None
        setup.defines.update(runtime.build_defines(setup.kernels, cache))
    elif kernels is not None and runtime is not None:
        setup.kernels = runtime.check_kernels(kernels)
    return setup


def project_setup(project: Path, *, dirs: Mapping[str, str | None], kernels: str | None = None,
                  use_cache: bool = True, env: Mapping[str, str] | None = None) -> BuildSetup:
    """:func:`build_setup` for a generated project: its runtime from ``compile.json`` /
    ``project.json``, and by default the kernels it was compiled for (``compile --kernels``,
    else its board's)."""
    from ofa_mcu.artifacts import read_compile_info, read_project_info
    from ofa_mcu.boards import load_board
    from ofa_mcu.runtimes import find_runtime

    info = read_project_info(project)
    compiled = read_compile_info(project) or {}
    rt = find_runtime(compiled.get("runtime") or info.get("runtime"))
    if kernels is None and rt is not None and rt.kernel_sets:
        kernels = compiled.get("kernels") if compiled.get("kernels") in rt.kernel_sets else None
        if kernels is None:
            try:
                kernels = rt.kernels(load_board(str(info.get("board"))))
            except UserError:  # a custom board YAML that moved: the runtime's first set
                kernels = None
    return build_setup(rt, project / "build", dirs=dirs, kernels=kernels, use_cache=use_cache, env=env)
