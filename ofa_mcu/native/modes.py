"""Several int8 models in one native firmware: operating modes switchable at run time.

A supernet's subnets share weights, so one firmware can carry K of them (``ofa-mcu compile`` of a
``search --modes K`` result, or several ``--subnet``) and switch between them while it runs. This
module turns K ``.tflite`` models into the native runtime's model sources:

* each mode is planned exactly as a single model (:func:`ofa_mcu.native.codegen.plan_model`) and
  rendered into its own ``mode<k>.c`` (``templates/native/modes/mode.c.j2``, which extends the
  single model's ``native/model.c.j2``): its constants are ``static const`` in that file and its
  kernel calls are ``ofa_mode<k>_invoke()``; a kernel loop one mode runs through a general entry
  point is run there by every mode (:func:`ofa_mcu.native.codegen.share_entries`), so the
  firmware holds one copy of it;
* all modes share ONE arena, ``ofa_arena``, of the largest mode's size (each mode's plan fits in
  it from offset 0; only one mode runs at a time);
* identical int8 weights are stored once (:func:`share_weights`): a weight array of one layer that
  equals, or is a contiguous run of, another layer's weight array (in this mode or another) points
  into that array instead of being stored again. With per-output-channel int8 weights BatchNorm
  folding leaves a channel's int8 bytes unchanged across subnets (``ofa_mcu.tflite.sharing``), so
  a layer with the same kernel and inputs in two modes is identical, and a layer of a narrower
  block (fewer output channels, the first ones of the wider block) is the start of the wider
  layer's array. Shared arrays live in ``model_shared.c``; outputs stay bit-exact (the bytes the
  kernel reads are the same);
* ``modes.c`` holds the arena and the C API of ``model.h``: ``ofa_model_count()``,
  ``ofa_model_select(i)`` (sets an index: no allocation; call it between inferences),
  ``ofa_model_selected()``, ``ofa_model_mode(i)`` (name, subnet, resolution, input shape,
  quantization, arena, layers, MACs), ``ofa_model_input()`` / ``ofa_model_output()`` and
  ``ofa_model_invoke()`` for the selected mode;
* ``main.c`` fills one ``runner_model_t`` per mode and serves the serial protocol with
  ``runner_main_modes`` (``ofa-mode N%`` switches; the MLPerf Tiny replies are unchanged).

:func:`plan_modes` plans and shares (plain data); :func:`render_modes` renders the templates.
Deterministic: the same models give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ofa_mcu import __version__
from ofa_mcu.codegen import render, render_all
from ofa_mcu.errors import UserError
from ofa_mcu.native.codegen import ARENA_PAINT, NativeModel, plan_model, share_entries

TEMPLATE_DIR = "native/modes"
SHARED_PREFIX = "ofa_shared_"
#: sources besides one ``mode<k>.c`` per mode (``model_shared.*`` only when something is shared)
SOURCES = ("model.h", "modes.c", "main.c")
SHARED_SOURCES = ("model_shared.h", "model_shared.c")
MAX_MODES = 16


@dataclass
class SharedArray:
    """An int8 weight array stored once in ``model_shared.c`` and read by several layers."""

    name: str
    data: np.ndarray
    users: list[str] = field(default_factory=list)  # "mode<k>:<array>" that point into it

    @property
    def bytes(self) -> int:
        return int(self.data.size)


@dataclass
class NativeModes:
    """K planned native models sharing one arena, with identical weights stored once."""

    name: str
    names: list[str]
    models: list[NativeModel]
    shared: list[SharedArray]
    arena_bytes: int  # the largest mode's arena
    weight_bytes_separate: int  # int8 weight bytes of the K models stored separately
    weight_bytes_stored: int  # int8 weight bytes once identical runs are stored once
    const_bytes_separate: int  # every constant (weights, biases, requantization) stored separately
    context: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def saved_bytes(self) -> int:
        return self.weight_bytes_separate - self.weight_bytes_stored

    def sharing(self) -> dict[str, Any]:
        """``compile.json``'s ``flash_sharing`` entry."""
        sep = self.weight_bytes_separate
        return {"weight_bytes_separate": sep, "weight_bytes_stored": self.weight_bytes_stored,
                "saved_bytes": self.saved_bytes, "saved_pct": round(100.0 * self.saved_bytes / sep, 2) if sep else 0.0,
                "const_bytes_separate": self.const_bytes_separate,
                "const_bytes_stored": self.const_bytes_separate - self.saved_bytes,
                "shared_arrays": len(self.shared),
                "rule": "an int8 weight array equal to, or a contiguous run of, another layer's is stored once"}


def _weights(model: NativeModel) -> list[dict[str, Any]]:
    return [a for a in model.context["arrays"] if a["ctype"] == "int8_t" and a["name"].endswith("_weights")]


def share_weights(models: Sequence[NativeModel]) -> list[SharedArray]:
    """Store identical int8 weights once: rewrite the models' contexts in place so that a weight
    array found inside a larger (or equal, earlier) one points into it; returns the shared arrays.

    Arrays are visited largest first (ties: mode order, then layer order), so each one can only
    point into one already kept; a kept array another layer points into moves to the shared pool.
    """
    items = [(k, a) for k, m in enumerate(models) for a in _weights(m)]
    order = sorted(range(len(items)), key=lambda i: (-items[i][1]["count"], i))
    kept: list[int] = []  # item indices stored in full
    raw = {i: np.ascontiguousarray(items[i][1]["data"], dtype=np.int8).tobytes() for i in range(len(items))}
    target: dict[int, tuple[int, int]] = {}  # item -> (kept item, byte offset)
    for i in order:
        data = raw[i]
        for j in kept:
            off = raw[j].find(data)
            if off >= 0:
                target[i] = (j, off)
                break
        else:
            kept.append(i)
    pool: dict[int, SharedArray] = {}
    for i in sorted(target):  # deterministic names: by the order of the first user
        j, _ = target[i]
        if j not in pool:
            pool[j] = SharedArray(f"{SHARED_PREFIX}{len(pool)}", np.frombuffer(raw[j], dtype=np.int8).copy())
    renames: dict[tuple[int, str], str] = {}  # (mode, array name) -> C expression
    for j, arr in pool.items():
        k, a = items[j]
        renames[(k, a["name"])] = arr.name
        arr.users.append(f"mode{k}:{a['name']}")
    for i, (j, off) in sorted(target.items()):
        k, a = items[i]
        renames[(k, a["name"])] = pool[j].name + (f" + {off}" if off else "")
        pool[j].users.append(f"mode{k}:{a['name']}")
    for k, m in enumerate(models):
        ctx = m.context
        moved = {name for (mk, name) in renames if mk == k}
        for a in ctx["arrays"]:
            if a["name"] in moved:
                a["shared_as"] = renames[(k, a["name"])]
        ctx["arrays"] = [a for a in ctx["arrays"] if a["name"] not in moved]
        for p in ctx["params"]:
            p["fields"] = [(f, renames.get((k, v), v) if isinstance(v, str) else v) for f, v in p["fields"]]
    return list(pool.values())


def _mode_context(k: int, name: str, m: NativeModel, subnet_hash: str | None) -> dict[str, Any]:
    c = m.context
    dims = [int(d) for d in c["input_shape"]]
    if len(dims) == 3:  # the IR's HWC: the tensor is NHWC with batch 1
        dims = [1, *dims]
    return {"index": k, "name": name, "subnet_hash": subnet_hash or "", "file": f"mode{k}.c",
            "invoke": f"ofa_mode{k}_invoke", "input_shape": dims, "input_shape_text": "x".join(map(str, dims)),
            "resolution": dims[1] if len(dims) == 4 else 0,
            **{key: c[key] for key in ("input_offset", "input_bytes", "input_scale", "input_zero_point",
                                       "output_offset", "output_bytes", "output_scale", "output_zero_point",
                                       "arena_bytes", "layer_count", "macs", "const_bytes", "sha256")}}


def plan_modes(models: Sequence[bytes], *, name: str = "model", names: Sequence[str] | None = None,
               share: bool = True) -> NativeModes:
    """Plan K int8 ``.tflite`` models (2..:data:`MAX_MODES`) as the modes of one native firmware:
    each planned alone, one arena of the largest need, identical weights stored once
    (``share``)."""
    if not 1 <= len(models) <= MAX_MODES:
        raise UserError(f"a multi-mode firmware holds 1 to {MAX_MODES} models, got {len(models)}")
    names = list(names or [f"mode{k}" for k in range(len(models))])
    if len(names) != len(models) or len(set(names)) != len(names):
        raise UserError(f"mode names must be one per model and distinct, got {names}")
    planned = [plan_model(bytes(mb), name=f"{name} {n}", origin=f"mode{k}.tflite")
               for k, (mb, n) in enumerate(zip(models, names))]
    share_entries(planned)  # one copy of each kernel loop for all modes
    separate = sum(a["bytes"] for m in planned for a in _weights(m))
    const_separate = sum(m.const_bytes for m in planned)
    shared = share_weights(planned) if share else []
    stored = sum(a["bytes"] for m in planned for a in _weights(m)) + sum(s.bytes for s in shared)
    arena = max(m.arena_bytes for m in planned)
    hashes = [m.context.get("subnet_hash") for m in planned]
    modes_ctx = [_mode_context(k, n, m, h) for k, (n, m, h) in enumerate(zip(names, planned, hashes))]
    ctx: dict[str, Any] = {
        "generator": f"ofa-mcu {__version__}",
        "name": name,
        "modes": modes_ctx,
        "arena_bytes": arena,
        "arena_paint": f"0x{ARENA_PAINT:02X}u",
        "select_note": "never, for the native runtime: selecting sets an index",
        "input_max_bytes": max(m.input_bytes for m in planned),
        "output_max_bytes": max(m.output_bytes for m in planned),
        "shared": [{"name": s.name, "count": s.bytes, "data": s.data, "per_line": 20, "users": s.users}
                   for s in shared],
        "weight_bytes_separate": separate,
        "weight_bytes_stored": stored,
    }
    return NativeModes(name=name, names=names, models=planned, shared=shared, arena_bytes=arena,
                       weight_bytes_separate=separate, weight_bytes_stored=stored,
                       const_bytes_separate=const_separate, context=ctx)


def render_modes(planned: NativeModes) -> dict[str, str]:
    """The model sources: ``model.h``, ``modes.c``, ``main.c``, one ``mode<k>.c`` per mode and,
    when weights are shared, ``model_shared.h`` / ``model_shared.c``."""
    ctx = planned.context
    files = render_all(((f, f"{TEMPLATE_DIR}/{f}.j2") for f in SOURCES), ctx, "the native modes")
    if planned.shared:
        files.update(render_all(((f, f"{TEMPLATE_DIR}/{f}.j2") for f in SHARED_SOURCES), ctx, "the shared weights"))
    for mode, m in zip(ctx["modes"], planned.models):
        mctx = {**m.context, "mode": mode, "has_shared": bool(planned.shared), "firmware": planned.name}
        files[mode["file"]] = render(f"{TEMPLATE_DIR}/mode.c.j2", mctx, f"mode {mode['index']}")
    return files


def generate_modes(models: Sequence[bytes], *, name: str = "model", names: Sequence[str] | None = None,
                   share: bool = True) -> NativeModes:
    """:func:`plan_modes`, then :func:`render_modes` (the result's ``sources``)."""
    planned = plan_modes(models, name=name, names=names, share=share)
    planned.sources = render_modes(planned)
    return planned
