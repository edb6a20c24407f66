"""Native runtime code generator: an int8 ``.tflite`` -> ``model.c``, ``model.h``, ``main.c``.

The generated C calls the kernels of ``firmware/kernels`` (bit-exact with TFLM's reference
kernels) once per op, with every constant in flash and every activation in one static arena:

* Weights (int8), biases (int32) and the per-channel requantization (int32 multiplier, int8
  shift) are ``static const`` arrays; each op's parameter struct is ``static const`` too.
* The arena layout comes from :func:`ofa_mcu.planner.plan_native` run on the layer IR of the
  model (:func:`ofa_mcu.tflite.to_ir`), so the arena the firmware reserves is exactly the figure the
  search and ``analyze --runtime native`` predicted: tensor lifetimes, in-place depthwise convs
  (one-plane scratch above what is alive), in-place ADD, strided depthwise convs fused with
  their expand conv (one ``ofa_expand_depthwise_s8`` call; the expand output buffer is its
  k-row window), convs fused with the ADD after them (one ``ofa_conv_add_s8`` call, reported under
  the ADD's index with kind ``conv+add``, :data:`FUSED_ADD_KIND`), in-place square 1x1 convs
  (``ofa_pointwise_s8_inplace``). RESHAPE is an alias (same bytes). CONCATENATION finds its
  inputs at their planned offsets (``in_offsets`` in its parameters).
* Each call goes to the kernel variant the layer's shape selects (:mod:`ofa_mcu.native.variants`,
  the same choice the run-time entry points make), e.g. ``ofa_depthwise_s8_plane3`` rather than
  ``ofa_depthwise_s8``, under ``#if OFA_KERNELS_DSP`` where the DSP and portable builds of the
  kernels choose differently, so the linker keeps only the variants the model runs.
* ``ofa_model_invoke()`` runs the ops in order, each wrapped in ``runner_layer_begin_named`` /
  ``runner_layer_end`` so the serial runner reports per-layer cycles with the IR op kind
  (``conv``, ``pointwise``, ``depthwise``, ``add``, ``avgpool``, ``fc``: the latency model's kinds).
  A fused call is one layer, reported under the depthwise conv's index with kind
  ``pointwise+depthwise`` (:data:`FUSED_KIND`) and the MACs of both.
* ``main.c`` fills the ``runner_model_t`` (input, a separate copy of the ``db``-loaded input,
  output, quantization, arena) and calls ``runner_main``. The arena is painted at start-up so
  ``arena_used`` reports the highest byte the model really wrote.

Two steps: :func:`plan_model` lowers and plans the model and returns plain data (the layers,
the arena figures and the template context); :func:`render_sources` renders that context with
the Jinja templates in ``templates/native/``. :func:`generate_native` does both. The output is
deterministic (same ``.tflite`` -> same bytes) and compiles with ``-Wall -Wextra -Werror``.
TensorFlow is not needed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ofa_mcu import __version__
from ofa_mcu import ir as irmod
from ofa_mcu.codegen import render_all
from ofa_mcu.errors import WorkFailed
from ofa_mcu.native.lowering import lower_graph
from ofa_mcu.native.variants import (
    KERNEL_CHOICES,
    candidates,
    choose_entries,
    entry_point,
    expand_depthwise_kernel,
    kernel_build,
    kernel_bytes,
    shared_entries,
    with_sharing,
)
from ofa_mcu.planner import Plan, inplace_pointwise_scratch_bytes, plan_native, pointwise_in_place
from ofa_mcu.tflite import Graph, Op, model_subnet, parse_tflite, to_ir

TEMPLATE_DIR = "native"
SOURCES = ("model.h", "model.c", "main.c")  # rendered in this order
#: Byte value the start-up code fills the arena with (arena_used = highest byte that differs).
ARENA_PAINT = 0xA5

_ARRAY_TYPES = {"weights": "int8_t", "bias": "int32_t", "out_mult": "int32_t", "out_shift": "int8_t",
                "in_offsets": "int32_t", "in_bytes": "int32_t"}
_PER_LINE = {"int8_t": 20, "int32_t": 8}
#: Layer kind the runner reports for an expand conv fused with its depthwise conv.
FUSED_KIND = "pointwise+depthwise"
#: Layer kind the runner reports for a conv fused with the ADD after it (``ofa_conv_add_s8``).
FUSED_ADD_KIND = "conv+add"
_SWAP_ADD_INPUTS = {"in1_offset": "in2_offset", "in2_offset": "in1_offset", "in1_mult": "in2_mult",
                    "in2_mult": "in1_mult", "in1_shift": "in2_shift", "in2_shift": "in1_shift"}


# ------------------------------------------------------------------------------------------
# generated model description


@dataclass
class NativeLayer:
    """One generated kernel call (an IR op)."""

    index: int  # IR op index = the runner's layer index
    tflite_index: int
    name: str
    kind: str
    opcode: str
    function: str
    inplace: bool
    inputs: list[int]  # arena offsets
    output: int
    output_bytes: int
    scratch: int | None  # arena offset of the in-place depthwise scratch
    in_shape: list[int]
    out_shape: list[int]
    macs: int
    const_bytes: int  # weights + bias + multipliers + shifts in flash
    # the C functions the generated call runs: its variant's entry point (and for a fused
    # expand + depthwise call the depthwise variant it is given), with and without the DSP loops
    entries: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class NativeModel:
    """What :func:`plan_model` planned (the figures and the template ``context``) and, once
    rendered (:func:`render_sources`, :func:`generate_native`), the ``sources``."""

    name: str
    sha256: str
    ir: irmod.Graph
    plan: Plan
    layers: list[NativeLayer]
    arena_bytes: int
    input_offset: int
    input_bytes: int
    input_shape: list[int]
    input_scale: float
    input_zero_point: int
    output_offset: int
    output_bytes: int
    output_scale: float
    output_zero_point: int
    const_bytes: int
    space: str | None = None
    subnet: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    kernels: dict[str, Any] = field(default_factory=dict)  # the fast / compact choice (:func:`choose_kernels`)
    context: dict[str, Any] = field(default_factory=dict)  # what the templates read
    sources: dict[str, str] = field(default_factory=dict)  # file name -> text, once rendered

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def layer_macs(self) -> dict[int, int]:
        return {layer.index: layer.macs for layer in self.layers}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (compile.json's ``native`` entry)."""
        return {
            "name": self.name, "sha256": self.sha256, "space": self.space, "subnet": self.subnet,
            "arena_bytes": self.arena_bytes, "planner": "ofa_mcu.planner.plan_native",
            "input": {"offset": self.input_offset, "bytes": self.input_bytes, "shape": self.input_shape,
                      "scale": self.input_scale, "zero_point": self.input_zero_point},
            "output": {"offset": self.output_offset, "bytes": self.output_bytes, "scale": self.output_scale,
                       "zero_point": self.output_zero_point},
            "const_bytes": self.const_bytes, "macs": self.macs, "kernels": self.kernels,
            "layers": [layer.to_dict() for layer in self.layers],
        }


# ------------------------------------------------------------------------------------------
# generation


def _op_description(op: Op, layer: irmod.Op) -> str:
    shapes = "x".join(str(d) for d in layer.in_shape) + " -> " + "x".join(str(d) for d in layer.out_shape)
    act = op.options.get("activation", "NONE")
    extra = ""
    if layer.kind in ("conv", "pointwise", "depthwise", "avgpool", "maxpool"):
        extra = f" {layer.kernel}x{layer.kernel} stride {layer.stride}"
    return f"{op.opcode}{extra}, {shapes}" + (f", fused {act}" if act != "NONE" else "")


def _calls(function: str, params: dict[str, int], arrays: dict[str, Any], expand: Any = None
           ) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, list[str]], dict[str, list[list[str]]]]:
    """The generated call of the run-time entry point ``function`` for a layer with the parameters
    ``params`` and constant ``arrays``: its variant's entry point (:mod:`ofa_mcu.native.variants`);
    for a fused ``ofa_expand_depthwise_s8_with`` call (``params``: the depthwise conv's, ``expand``:
    the expand conv's :class:`~ofa_mcu.native.lowering.KernelCall`) the pointwise and depthwise
    variants it is given as arguments. Returns (the call on DSP builds, the call on portable builds
    or None when it is the same, {"dsp": functions called, "portable": functions called}, {"dsp":
    the candidates of each function called, "portable": the same}: :func:`choose_kernels`)."""
    out: dict[str, dict[str, Any]] = {}
    slots: dict[str, list[list[str]]] = {}
    for build, dsp in (("dsp", True), ("portable", False)):
        if function == "ofa_expand_depthwise_s8_with":
            out[build] = {"function": function,
                          "extra": [entry_point("ofa_pointwise_s8", expand.params, dsp, expand.arrays),
                                    expand_depthwise_kernel(params, dsp)]}
            slots[build] = [[function], candidates("ofa_pointwise_s8", expand.params, dsp, expand.arrays),
                            candidates("ofa_depthwise_s8", {**params, "out_h": 1}, dsp)]
        else:
            out[build] = {"function": entry_point(function, params, dsp, arrays), "extra": []}
            slots[build] = [candidates(function, params, dsp, arrays)]
    entries = {b: [c["function"], *c["extra"]] for b, c in out.items()}
    return out["dsp"], (out["portable"] if out["portable"] != out["dsp"] else None), entries, slots


def _entries(ops_ctx: list[dict[str, Any]], build: str) -> set[str]:
    return {f for op in ops_ctx if not op["reshape"] for f in op["entries"][build]}


def _share_entries(ops_ctx: list[dict[str, Any]], layers: list[NativeLayer],
                   used: dict[str, set[str]] | None = None) -> None:
    """Calls of an entry point whose loop the firmware also holds in a more general one go to the
    general one (:func:`ofa_mcu.native.variants.shared_entries`), per build (DSP, portable): one
    copy of each loop. ``used``: the entry points of the whole firmware per build (default: this
    model's)."""
    share = {b: shared_entries(_entries(ops_ctx, b) if used is None else used[b]) for b in ("dsp", "portable")}
    if not any(share.values()):
        return
    by_index = {layer.index: layer for layer in layers}
    for op in ops_ctx:
        if op["reshape"]:
            continue
        calls = {"dsp": op["call"], "portable": op["call_portable"] or op["call"]}
        for b, c in calls.items():
            sh = share[b]
            fn, extra = sh.get(c["function"], (c["function"], []))
            # a kernel passed as an argument (the fused call's) is replaced alike; it never takes NULL
            calls[b] = {"function": fn, "extra": [*extra, *(sh[e][0] if e in sh else e for e in c["extra"])]}
        op["call"] = calls["dsp"]
        op["call_portable"] = calls["portable"] if calls["portable"] != calls["dsp"] else None
        op["entries"] = {b: [c["function"], *(e for e in c["extra"] if e != "NULL")] for b, c in calls.items()}
        by_index[op["index"]].entries = op["entries"]


def share_entries(models: list[NativeModel]) -> None:
    """:func:`_share_entries` over the models of one firmware (operating modes): a loop one model
    runs in a general entry point is run there by every model."""
    used = {b: set().union(*(_entries(m.context["ops"], b) for m in models)) for b in ("dsp", "portable")}
    for m in models:
        _share_entries(m.context["ops"], m.layers, used)


_PATHS = ("dsp", "portable")


def _apply_entries(op_lists: list[list[dict[str, Any]]], layer_lists: list[list[NativeLayer]],
                   compact: dict[str, Any], builds: dict[str, str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Each kernel call of the models (one firmware) goes to the entry points
    :func:`ofa_mcu.native.variants.choose_entries` picks per build path, with the families in
    ``compact[path]`` compact; returns its per-family figures per path."""
    picks: dict[str, list[str]] = {}
    reports: dict[str, dict[str, dict[str, Any]]] = {}
    for path in _PATHS:
        slots = [sl for ops in op_lists for op in ops if not op["reshape"] for sl in op["slots"][path]]
        picks[path], reports[path] = choose_entries(slots, builds[path], compact[path])
    pos = dict.fromkeys(_PATHS, 0)
    for ops, layers in zip(op_lists, layer_lists, strict=True):
        by_index = {layer.index: layer for layer in layers}
        for op in ops:
            if op["reshape"]:
                continue
            calls: dict[str, dict[str, Any]] = {}
            for path in _PATHS:
                n = len(op["slots"][path])
                sel = picks[path][pos[path]:pos[path] + n]
                pos[path] += n
                calls[path] = {"function": sel[0], "extra": sel[1:]}
            op["call"] = calls["dsp"]
            op["call_portable"] = calls["portable"] if calls["portable"] != calls["dsp"] else None
            op["entries"] = {b: [c["function"], *c["extra"]] for b, c in calls.items()}
            by_index[op["index"]].entries = op["entries"]
    return reports


def choose_kernels(op_lists: list[list[dict[str, Any]]], layer_lists: list[list[NativeLayer]], kernels: str = "fast",
                   *, core: str | None = None, dsp: bool | None = None, kernel_budget: int | None = None
                   ) -> dict[str, Any]:
    """Fast or compact kernel loops for the models of one firmware (their template ``ops`` and
    layers, updated in place), before :func:`_share_entries`. ``kernels``: ``fast`` (each layer the
    variant its shape selects), ``compact`` (per op family the entry points of fewest bytes that run
    all its layers), ``auto`` (fast, unless its kernel code exceeds ``kernel_budget`` bytes on the
    target core: then the families that save most go compact, one at a time, until it fits or all
    are). ``core`` / ``dsp``: the target (its build's code sizes, :func:`ofa_mcu.native.variants.kernel_build`;
    default Cortex-M4 for the DSP path and M0 for the portable one). Returns the record the plan,
    the reports and the generated sources' comments show: the choice, bytes per family fast and compact."""
    if kernels not in KERNEL_CHOICES:
        raise WorkFailed(f"kernels {kernels!r}: expected one of {', '.join(KERNEL_CHOICES)}")
    builds = {"dsp": kernel_build(core, True), "portable": kernel_build(core, False)}
    target = "dsp" if dsp or (dsp is None and core is None) else "portable"
    none: dict[str, Any] = dict.fromkeys(_PATHS, ())
    reports = _apply_entries(op_lists, layer_lists, none, builds)

    def total(path: str) -> int:
        used = {e for ops in op_lists for op in ops if not op["reshape"] for e in op["entries"][path]}
        return kernel_bytes(with_sharing(used), builds[path])

    fast_total = {p: total(p) for p in _PATHS}
    compact_fams: list[str] = []
    if kernels == "compact":
        compact_fams = sorted(reports[target])
    elif kernels == "auto" and kernel_budget is not None and fast_total[target] > kernel_budget:
        saving = sorted(reports[target], key=lambda f: reports[target][f]["compact_bytes"]
                        - reports[target][f]["fast_bytes"])
        for fam in saving:
            if reports[target][fam]["compact_bytes"] >= reports[target][fam]["fast_bytes"]:
                break
            compact_fams.append(fam)
            _apply_entries(op_lists, layer_lists, dict.fromkeys(_PATHS, compact_fams), builds)
            if total(target) <= kernel_budget:
                break
    if compact_fams:
        reports = _apply_entries(op_lists, layer_lists, dict.fromkeys(_PATHS, compact_fams), builds)
    chosen = {p: total(p) for p in _PATHS}
    compact_total = {p: sum(r["compact_bytes"] for r in reports[p].values())
                     + fast_total[p] - sum(r["fast_bytes"] for r in reports[p].values()) for p in _PATHS}
    saved = [f for f in compact_fams if reports[target][f]["choice"] == "compact"]
    choice = "fast" if not saved else "compact" if set(saved) >= {
        f for f, r in reports[target].items() if r["compact_bytes"] < r["fast_bytes"]} else "mixed"
    b = builds[target]
    if choice == "fast":
        why = (f"fast loops: {chosen[target]:,} B of kernel code on {b}"
               + (f" (the compact choice: {compact_total[target]:,} B, "
                  f"{fast_total[target] - compact_total[target]:,} B less)"
                  if compact_total[target] < fast_total[target] else ", as small as the compact choice")
               + (f"; fits the {kernel_budget:,} B the board's flash leaves for kernel code"
                  if kernel_budget is not None else ""))
    else:
        why = (f"compact loops for {', '.join(saved)}: {chosen[target]:,} B of kernel code on {b} instead of "
               f"{fast_total[target]:,} B with the fast loops ({fast_total[target] - chosen[target]:,} B less)"
               + (f", because the board's flash leaves {kernel_budget:,} B for kernel code"
                  if kernels == "auto" and kernel_budget is not None else ", as requested"))
        if kernels == "auto" and kernel_budget is not None and chosen[target] > kernel_budget:
            why += " (still more than that)"
    return {"requested": kernels, "choice": choice, "compact_families": saved, "core": core,
            "build": b, "kernel_bytes": chosen[target], "fast_bytes": fast_total[target],
            "compact_bytes": compact_total[target], "budget_bytes": kernel_budget,
            "by_build": {builds[p]: {"kernel_bytes": chosen[p], "fast_bytes": fast_total[p],
                                     "compact_bytes": compact_total[p]} for p in _PATHS},
            "families": reports[target], "note": why}


def plan_model(model: bytes, *, name: str = "model", origin: str = "model.tflite", use_metadata: bool = True,
               graph: Graph | None = None, kernels: str = "fast", core: str | None = None, dsp: bool | None = None,
               kernel_budget: int | None = None) -> NativeModel:
    """Lower and plan an int8 ``.tflite`` for the native runtime: the figures and the template
    context (plain data), no text yet (:func:`render_sources` renders it).

    With ``use_metadata`` (default) and ofa-mcu metadata in the model (an exported subnet), the
    IR op names come from :func:`ofa_mcu.ir.build_graph` and the plan is checked to be the
    very plan of the subnet's IR (``WorkFailed`` if the model and its metadata disagree).
    ``graph``: an already parsed (possibly edited) graph to generate instead of parsing
    ``model`` (whose bytes then only name the source). Unsupported models raise ``UserError``
    with one line. ``kernels``, ``core``, ``dsp``, ``kernel_budget``: the fast or compact kernel
    loops (:func:`choose_kernels`; recorded in the result's ``kernels`` and the sources' comments).
    """
    data = bytes(model)
    if graph is None:
        graph = parse_tflite(data, origin=origin)
    calls = lower_graph(graph, origin=origin)
    found = model_subnet(data, origin) if use_metadata else None
    space, cfg = found if found is not None else (None, None)
    ref: irmod.Graph | None = None
    names: list[str] | None = None
    if space is not None:
        ref = irmod.build_graph(space, cfg)
        names = [op.name for op in ref.ops]
    mapping = to_ir(graph, space=space, config=cfg, names=names, origin=origin)
    ir_graph = mapping.graph
    plan = plan_native(ir_graph)
    if ref is not None:
        ref_plan = plan_native(ref)
        same_ops = [(o.kind, o.in_shape, o.out_shape, o.macs) for o in ref.ops] == [
            (o.kind, o.in_shape, o.out_shape, o.macs) for o in ir_graph.ops]
        if not same_ops or ref_plan.activation_bytes != plan.activation_bytes:
            raise WorkFailed(f"{origin}: the graph does not match the subnet in its metadata "
                             f"(IR arena {ref_plan.activation_bytes} B, model {plan.activation_bytes} B)")

    tens = graph.tensors
    offset_of = {t.id: plan.tensor_offset(t.id) for t in ir_graph.tensors}
    group_of = {t: k for k, grp in enumerate(plan.groups) for t in grp}
    arena_bytes = plan.activation_bytes

    arrays: list[dict[str, Any]] = []
    params_ctx: list[dict[str, Any]] = []  # one static const parameter struct per layer
    ops_ctx: list[dict[str, Any]] = []  # the kernel calls, in order (RESHAPE: a comment)
    layers: list[NativeLayer] = []
    const_total = 0
    fused_into = {dw: ex for ex, dw in plan.fused.items()}  # depthwise op -> its fused expand op
    pending_expand: dict[str, Any] | None = None  # the expand call a fused depthwise call completes
    add_of = {add: conv for conv, add in plan.fused_add.items()}  # ADD op -> the conv fused into it
    pending_conv: dict[str, Any] | None = None  # the conv call a fused ADD call completes
    for call, tfl_op in zip(calls, graph.ops, strict=True):
        ir_index = mapping.op_of[call.op_index]
        if ir_index is None:  # RESHAPE: the IR tensor is shared, nothing to run
            ops_ctx.append({"reshape": True, "tflite_index": call.op_index,
                            "comment": f"RESHAPE {list(tens[call.inputs[0]].shape)} -> "
                                       f"{list(tens[call.outputs[0]].shape)}: same bytes, no code"})
            continue
        op = ir_graph.ops[ir_index]
        var = f"op{ir_index}"
        # (field, value): an int (written with the c_int filter) or the name of a constant array / NULL
        fields: list[tuple[str, int | str]] = [(k, int(v)) for k, v in call.params.items()]
        if ir_index in add_of and pending_conv is not None and \
                mapping.tensor_of[call.inputs[1]] == pending_conv["op"].output:
            # ofa_conv_add_s8 adds the conv result as input 1: give the ADD's inputs in that order
            fields = [(_SWAP_ADD_INPUTS.get(k, k), v) for k, v in fields]
        const_bytes = 0
        in_offsets = [offset_of[mapping.tensor_of[t]] for t in call.inputs]
        call_arrays = dict(call.arrays)
        if call.arena_inputs:  # the kernel finds its inputs at their planned offsets
            call_arrays["in_offsets"] = np.array(in_offsets, np.int32)
        for aname in _ARRAY_TYPES:
            if aname not in call_arrays:
                if call.params_type in ("ofa_conv_params_t", "ofa_fc_params_t") and aname == "bias":
                    fields.append(("bias", "NULL"))
                continue
            arr = np.asarray(call_arrays[aname])
            ctype = _ARRAY_TYPES[aname]
            if ctype == "int8_t":
                arr = arr.astype(np.int8)
            else:
                arr = arr.astype(np.int32)
            nbytes = int(arr.size * arr.itemsize)
            const_bytes += nbytes
            arrays.append({"name": f"{var}_{aname}", "ctype": ctype, "count": int(arr.size),
                           "data": arr, "per_line": _PER_LINE[ctype], "bytes": nbytes,
                           "comment": f"{op.name}: {aname} ({arr.size} x {ctype})"})
            fields.append((aname, f"{var}_{aname}"))
        const_total += const_bytes
        out_t = mapping.tensor_of[call.outputs[0]]
        out_offset = offset_of[out_t]
        assert call.function is not None and call.params_type is not None
        params = {"index": ir_index, "name": op.name, "kind": op.kind,
                  "var": var, "params_type": call.params_type, "fields": fields,
                  "comment": _op_description(tfl_op, op)}
        if ir_index in plan.fused:  # runs inside the fused call of the next layer
            if call.function != "ofa_pointwise_s8":
                raise WorkFailed(f"{origin}: op {call.op_index}: the plan fuses a {call.function} conv into a "
                                 "depthwise conv; only a 1x1 stride-1 conv can be fused")
            params_ctx.append(params)
            pending_expand = {"op": op, "in_offsets": in_offsets, "window": out_offset,
                              "const_bytes": const_bytes, "tfl_op": tfl_op, "call": call}
            continue
        if ir_index in fused_into:
            ex = pending_expand
            if ex is None or ex["op"].index != fused_into[ir_index] or call.function != "ofa_depthwise_s8":
                raise WorkFailed(f"{origin}: op {call.op_index}: the plan fuses this layer with one the model "
                                 "does not run just before it")
            pending_expand = None
            ex_op = ex["op"]
            params_ctx.append(params)
            fused_name = f"{ex_op.name}+{op.name}"
            c_dsp, c_port, entries, slots = _calls("ofa_expand_depthwise_s8_with", call.params, call.arrays,
                                                  ex["call"])
            buffers = (f"in @{ex['in_offsets']}, expanded rows in the window @{ex['window']} "
                       f"({plan.sizes[group_of[mapping.tensor_of[call.inputs[0]]]]} B), out @{out_offset} "
                       f"({tens[call.outputs[0]].size} B)")
            ops_ctx.append({
                "reshape": False, "index": ir_index, "tflite_index": call.op_index,
                "name": fused_name, "kind": FUSED_KIND, "param_vars": [f"op{ex_op.index}", var],
                "function": "ofa_expand_depthwise_s8", "call": c_dsp, "call_portable": c_port,
                "entries": entries, "slots": slots,
                "args": [ex["in_offsets"][0], ex["window"], out_offset],  # arena offsets
                "comment": f"layers {ex_op.index} and {ir_index} fused: "
                           f"{_op_description(ex['tfl_op'], ex_op)}, then {params['comment']}",
                "macs": ex_op.macs + op.macs, "inplace": False, "buffers": buffers,
            })
            layers.append(NativeLayer(
                index=ir_index, tflite_index=call.op_index, name=fused_name, kind=FUSED_KIND, opcode=call.opcode,
                function="ofa_expand_depthwise_s8", inplace=False, inputs=ex["in_offsets"], output=out_offset,
                output_bytes=tens[call.outputs[0]].size, scratch=ex["window"], in_shape=list(ex_op.in_shape),
                out_shape=list(op.out_shape), macs=ex_op.macs + op.macs,
                const_bytes=ex["const_bytes"] + const_bytes, entries=entries,
            ))
            continue
        if ir_index in plan.fused_add:  # runs inside the fused call of the ADD after it
            if call.function != "ofa_conv_s8":
                raise WorkFailed(f"{origin}: op {call.op_index}: the plan fuses a {call.function} call into an ADD; "
                                 "only ofa_conv_s8 convs can be")
            params_ctx.append(params)
            pending_conv = {"op": op, "in_offsets": in_offsets, "const_bytes": const_bytes, "tfl_op": tfl_op,
                            "params": call.params, "arrays": call.arrays}
            continue
        if ir_index in add_of:
            cv = pending_conv
            if cv is None or cv["op"].index != add_of[ir_index] or call.function != "ofa_add_s8":
                raise WorkFailed(f"{origin}: op {call.op_index}: the plan fuses this ADD with a conv the model "
                                 "does not run just before it")
            pending_conv = None
            cv_op = cv["op"]
            other = next(t for t in call.inputs if mapping.tensor_of[t] != cv_op.output)
            if offset_of[mapping.tensor_of[other]] != out_offset:
                raise WorkFailed(f"{origin}: op {call.op_index}: a fused conv + ADD must write over the ADD's "
                                 "other input")
            params_ctx.append(params)
            fused_name = f"{cv_op.name}+{op.name}"
            out_bytes = tens[call.outputs[0]].size
            c_dsp, c_port, entries, slots = _calls("ofa_conv_add_s8", cv["params"], cv["arrays"])
            ops_ctx.append({
                "reshape": False, "index": ir_index, "tflite_index": call.op_index,
                "name": fused_name, "kind": FUSED_ADD_KIND, "param_vars": [f"op{cv_op.index}", var],
                "function": "ofa_conv_add_s8", "call": c_dsp, "call_portable": c_port, "entries": entries,
                "slots": slots,
                "args": [cv["in_offsets"][0], out_offset],
                "comment": f"layers {cv_op.index} and {ir_index} fused: {_op_description(cv['tfl_op'], cv_op)}, "
                           f"then {params['comment']}, added in place into the other input",
                "macs": cv_op.macs + op.macs, "inplace": True,
                "buffers": f"in @{cv['in_offsets']}, in/out @{out_offset} ({out_bytes} B)",
            })
            layers.append(NativeLayer(
                index=ir_index, tflite_index=call.op_index, name=fused_name, kind=FUSED_ADD_KIND,
                opcode=call.opcode, function="ofa_conv_add_s8", inplace=True, inputs=cv["in_offsets"],
                output=out_offset, output_bytes=out_bytes, scratch=None, in_shape=list(cv_op.in_shape),
                out_shape=list(op.out_shape), macs=cv_op.macs + op.macs, const_bytes=cv["const_bytes"] + const_bytes,
                entries=entries,
            ))
            continue
        in_t = mapping.tensor_of[call.inputs[0]]
        inplace = group_of[out_t] == group_of[in_t] or (
            len(call.inputs) > 1 and group_of[out_t] == group_of[mapping.tensor_of[call.inputs[1]]])
        function = call.function
        scratch: int | None = None
        if inplace and function == "ofa_depthwise_s8":
            if not call.inplace_ok or plan.scratch.get(ir_index, 0) < call.scratch_bytes:
                raise WorkFailed(f"{origin}: op {call.op_index}: the plan runs a depthwise conv in place that the "
                                 "kernel cannot run in place")
            live = [k for k in range(len(plan.sizes)) if plan.first[k] <= ir_index <= plan.last[k]]
            scratch = max(plan.offsets[k] + plan.sizes[k] for k in live)
            function = "ofa_depthwise_s8_inplace"
            args = [out_offset, scratch]
        elif inplace and function == "ofa_pointwise_s8":
            if not pointwise_in_place(op) or plan.scratch.get(ir_index, 0) < inplace_pointwise_scratch_bytes(
                    op.out_shape[0] * op.out_shape[1], op.out_shape[2]):
                raise WorkFailed(f"{origin}: op {call.op_index}: the plan runs a 1x1 conv in place that the "
                                 "kernel cannot run in place")
            live = [k for k in range(len(plan.sizes)) if plan.first[k] <= ir_index <= plan.last[k]]
            scratch = max(plan.offsets[k] + plan.sizes[k] for k in live)
            function = "ofa_pointwise_s8_inplace"
            args = [out_offset, scratch]
        elif inplace and function != "ofa_add_s8":
            raise WorkFailed(f"{origin}: op {call.op_index} ({function}) cannot run in place")
        elif call.arena_inputs:
            args = [0, out_offset]  # the arena base; the inputs' offsets are in the parameters
        else:
            args = [*in_offsets, out_offset]
        out_bytes = tens[call.outputs[0]].size
        params_ctx.append(params)
        c_dsp, c_port, entries, slots = _calls(function, call.params, call.arrays)
        ops_ctx.append({
            "reshape": False, "index": ir_index, "tflite_index": call.op_index,
            "name": op.name, "kind": op.kind, "param_vars": [var], "function": function, "call": c_dsp,
            "call_portable": c_port, "entries": entries, "slots": slots, "args": args,
            "comment": params["comment"], "macs": op.macs, "inplace": inplace,
            "buffers": f"in @{in_offsets}, out @{out_offset} ({out_bytes} B)"
                       + (f", scratch @{scratch} ({plan.scratch[ir_index]} B)" if scratch is not None else ""),
        })
        layers.append(NativeLayer(
            index=ir_index, tflite_index=call.op_index, name=op.name, kind=op.kind, opcode=call.opcode,
            function=function, inplace=inplace, inputs=in_offsets, output=out_offset, output_bytes=out_bytes,
            scratch=scratch, in_shape=list(op.in_shape), out_shape=list(op.out_shape), macs=op.macs,
            const_bytes=const_bytes, entries=entries,
        ))

    chosen = choose_kernels([ops_ctx], [layers], kernels, core=core, dsp=dsp, kernel_budget=kernel_budget)
    _share_entries(ops_ctx, layers)
    x_t, y_t = tens[graph.inputs[0]], tens[graph.outputs[0]]
    buffers = []
    for k, grp in enumerate(plan.groups):
        members = ", ".join(f"{ir_graph.tensors[t].name} {list(ir_graph.tensors[t].shape)}" for t in grp)
        buffers.append({"offset": plan.offsets[k], "size": plan.sizes[k], "first": plan.first[k],
                        "last": plan.last[k], "tensors": members})
    buffers.sort(key=lambda b: (b["offset"], b["first"]))
    scratches = [{"op": i, "bytes": b} for i, b in sorted(plan.scratch.items())]
    sha = hashlib.sha256(data).hexdigest()
    ctx: dict[str, Any] = {
        "generator": f"ofa-mcu {__version__}",
        "name": name,
        "origin": origin.rsplit("/", 1)[-1],
        "sha256": sha,
        "space": space.name if space is not None else None,
        "subnet_hash": cfg.stable_hash() if cfg is not None else None,
        "arena_bytes": arena_bytes,
        "arena_paint": f"0x{ARENA_PAINT:02X}u",
        "input_offset": offset_of[ir_graph.input],
        "input_bytes": x_t.size,
        "input_shape": list(x_t.ir_shape),
        "input_scale": float(x_t.qscale),
        "input_zero_point": x_t.qzero,
        "output_offset": offset_of[ir_graph.output],
        "output_bytes": y_t.size,
        "output_scale": float(y_t.qscale),
        "output_zero_point": y_t.qzero,
        "layer_count": len(layers),
        "macs": sum(layer.macs for layer in layers),
        "const_bytes": const_total,
        "arrays": arrays,
        "params": params_ctx,
        "ops": ops_ctx,
        "buffers": buffers,
        "scratches": scratches,
        "kernels": chosen,
    }
    return NativeModel(
        name=name, sha256=sha, ir=ir_graph, plan=plan, layers=layers, arena_bytes=arena_bytes,
        input_offset=ctx["input_offset"], input_bytes=ctx["input_bytes"], input_shape=ctx["input_shape"],
        input_scale=ctx["input_scale"], input_zero_point=ctx["input_zero_point"],
        output_offset=ctx["output_offset"], output_bytes=ctx["output_bytes"], output_scale=ctx["output_scale"],
        output_zero_point=ctx["output_zero_point"], const_bytes=const_total,
        space=ctx["space"], subnet=cfg.to_dict() if cfg is not None else None, context=ctx, kernels=chosen,
    )


def render_sources(planned: NativeModel) -> dict[str, str]:
    """``model.h``, ``model.c`` and ``main.c`` of a planned model (``templates/native/``)."""
    return render_all(((f, f"{TEMPLATE_DIR}/{f}.j2") for f in SOURCES), planned.context, "the native model")


def generate_native(model: bytes, *, name: str = "model", origin: str = "model.tflite", use_metadata: bool = True,
                    graph: Graph | None = None, kernels: str = "fast", core: str | None = None,
                    dsp: bool | None = None, kernel_budget: int | None = None) -> NativeModel:
    """Generate the native-runtime sources for an int8 ``.tflite``: :func:`plan_model`, then
    :func:`render_sources` (the result's ``sources``). Unsupported models raise ``UserError``
    with one line."""
    planned = plan_model(model, name=name, origin=origin, use_metadata=use_metadata, graph=graph, kernels=kernels,
                         core=core, dsp=dsp, kernel_budget=kernel_budget)
    planned.sources = render_sources(planned)
    return planned
