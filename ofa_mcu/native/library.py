"""The native runtime as sources for the user's own firmware: the model, only the kernels it calls,
and the ``ofa_model`` API (``templates/library/``).

:func:`library_files` plans the model like the firmware project does
(:func:`ofa_mcu.native.codegen.plan_model`: the same arena, the same kernel calls) and renders
``ofa_model.c`` from ``templates/library/native_model.c.j2``, which extends the project's
``native/model.c.j2`` (same constants and calls; the runner's per-layer calls become the optional
timing hook, the arena gets its placement options). The kernel files are those of
``firmware/kernels`` that define a function the model calls, closed over the kernel functions
those call in turn, plus the headers they include: nothing else.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from ofa_mcu import __version__
from ofa_mcu.codegen import render_all
from ofa_mcu.errors import WorkFailed
from ofa_mcu.native.codegen import NativeModel, plan_model
from ofa_mcu.resources import firmware_dir
from ofa_mcu.tflite import parse_tflite

KERNEL_DIR = "kernels"
MODEL_TEMPLATES = (("ofa_model.h", "library/ofa_model.h.j2"), ("ofa_model.c", "library/native_model.c.j2"))

_DEFINITION = re.compile(r"^(?!static\b)[A-Za-z_][\w \t*]*?\b(ofa_\w+)\s*\([^;{]*\)\s*\{", re.M)
_CALL = re.compile(r"\b(ofa_\w+)\s*\(")
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


@lru_cache(maxsize=1)
def _kernel_index() -> tuple[dict[str, str], dict[str, str]]:
    """(kernel function -> the ``firmware/kernels`` file defining it, file name -> text)."""
    folder = firmware_dir() / KERNEL_DIR
    texts = {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.suffix in (".c", ".h")}
    defined: dict[str, str] = {}
    for name, text in texts.items():
        if name.endswith(".c"):
            for fn in _DEFINITION.findall(_code(text)):
                defined[fn] = name
    return defined, texts


def _code(text: str) -> str:
    """C source without its comments (a comment naming a kernel is not a call)."""
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


def kernel_files(functions: set[str]) -> list[str]:
    """The ``firmware/kernels`` files a model calling ``functions`` needs: the files defining them,
    those defining the kernel functions these call, and every header they include (sorted)."""
    defined, texts = _kernel_index()
    missing = sorted(functions - set(defined))
    if missing:
        raise WorkFailed(f"no kernel in firmware/{KERNEL_DIR} defines {', '.join(missing)}")
    todo = [defined[f] for f in sorted(functions)]
    files: set[str] = set()
    while todo:
        name = todo.pop()
        if name in files:
            continue
        files.add(name)
        text = texts[name]
        if name.endswith(".c"):  # a header declares every kernel; only definitions call them
            todo += [defined[f] for f in _CALL.findall(_code(text)) if f in defined and defined[f] != name]
        todo += [h for h in _INCLUDE.findall(text) if h in texts]
    return sorted(files)


def library_files(model: bytes, *, name: str, origin: str) -> tuple[dict[str, str], dict[str, Any], NativeModel]:
    """(files: ``ofa_model.h``, ``ofa_model.c`` and the kernel files, the API facts of
    ``ofa_model.h``, the planned :class:`NativeModel`)."""
    graph = parse_tflite(bytes(model), origin=origin)
    planned = plan_model(model, name=name, origin=origin, graph=graph)
    shapes = [[int(d) for d in graph.tensors[t].shape] for t in (graph.inputs[0], graph.outputs[0])]
    ctx = planned.context
    # every variant a call may run, on DSP and portable builds alike
    functions = {f for op in ctx["ops"] if not op["reshape"] for fs in op["entries"].values() for f in fs}
    kernels = kernel_files(functions)
    api = {
        "generator": f"ofa-mcu {__version__}", "name": name, "runtime": "native", "sha256": planned.sha256,
        "space": planned.space, "subnet_hash": ctx["subnet_hash"],
        "arena_bytes": planned.arena_bytes,
        "arena_note": "every tensor of the network, planned by ofa_mcu.planner.plan_native "
                      "(in-place depthwise convs and ADDs, fused expand + strided depthwise convs)",
        "runtime_state": None, "init_failure": None,
        "input": {"shape": shapes[0], "bytes": planned.input_bytes, "scale": planned.input_scale,
                  "zero_point": planned.input_zero_point},
        "output": {"shape": shapes[1], "bytes": planned.output_bytes,
                   "scale": planned.output_scale, "zero_point": planned.output_zero_point},
        "layers": len(planned.layers), "macs": planned.macs, "const_bytes": planned.const_bytes,
        "kernels": kernels,
        "layer_list": [{"index": i, "kind": x.kind, "name": x.name, "macs": x.macs}
                       for i, x in enumerate(planned.layers)],
    }
    # the hook numbers the kernel calls 0 .. OFA_MODEL_LAYERS - 1 (a fused call is one layer)
    layer_seq = {x.index: i for i, x in enumerate(planned.layers)}
    files = render_all(MODEL_TEMPLATES, {**ctx, "api": api, "layer_seq": layer_seq}, "the native library")
    _, texts = _kernel_index()
    files.update({k: texts[k] for k in kernels})
    return files, api, planned
