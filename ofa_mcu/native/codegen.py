"""Native runtime code generator: an int8 ``.tflite`` -> ``model.c``, ``model.h``, ``main.c``.

The generated C calls the kernels of ``firmware/kernels`` (bit-exact with TFLM's reference
kernels) once per op, with every constant in flash and every activation in one static arena:

* Weights (int8), biases (int32) and the per-channel requantization (int32 multiplier, int8
  shift) are ``static const`` arrays; each op's parameter struct is ``static const`` too.
* The arena layout comes from :func:`ofa_mcu.planner.plan_native` run on the layer IR of the
  model (:func:`ir_from_tflite`), so the arena the firmware reserves is exactly the figure the
  search and ``analyze --runtime native`` predicted: tensor lifetimes, in-place depthwise convs
  (one-plane scratch above what is alive), in-place ADD, strided depthwise convs fused with
  their expand conv (one ``ofa_expand_depthwise_s8`` call; the expand output buffer is its
  k-row window). RESHAPE is an alias (same bytes).
* ``ofa_model_invoke()`` runs the ops in order, each wrapped in ``runner_layer_begin_named`` /
  ``runner_layer_end`` so the serial runner reports per-layer cycles with the IR op kind
  (``conv``, ``pointwise``, ``depthwise``, ``add``, ``mean``, ``fc``: the latency model's kinds).
  A fused call is one layer, reported under the depthwise conv's index with kind
  ``pointwise+depthwise`` (:data:`FUSED_KIND`) and the MACs of both.
* ``main.c`` fills the ``runner_model_t`` (input, a separate copy of the ``db``-loaded input,
  output, quantization, arena) and calls ``runner_main``. The arena is painted at start-up so
  ``arena_used`` reports the highest byte the model really wrote.

The C comes from the Jinja templates in ``templates/native/``; the output is deterministic (same
``.tflite`` -> same bytes) and compiles with ``-Wall -Wextra -Werror``. TensorFlow is not needed.

Public API: :func:`generate_native` -> :class:`NativeModel`, :func:`ir_from_tflite`,
:func:`subnet_from_model`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
import numpy as np

from ofa_mcu import __version__
from ofa_mcu import ir as irmod
from ofa_mcu.errors import UserError, WorkFailed
from ofa_mcu.firmware.project import jinja_env
from ofa_mcu.native import tflite_graph as tg
from ofa_mcu.planner import Plan, plan_native

TEMPLATE_DIR = "native"
#: Byte value the start-up code fills the arena with (arena_used = highest byte that differs).
ARENA_PAINT = 0xA5

_ARRAY_TYPES = {"weights": "int8_t", "bias": "int32_t", "out_mult": "int32_t", "out_shift": "int8_t"}
_PER_LINE = {"int8_t": 20, "int32_t": 8}
_INT32_MIN = -(1 << 31)
#: Layer kind the runner reports for an expand conv fused with its depthwise conv.
FUSED_KIND = "pointwise+depthwise"


# ------------------------------------------------------------------------------------------
# tflite graph -> layer IR


@dataclass
class IrMapping:
    """The layer IR of a ``.tflite`` graph and how the two correspond.

    ``tensor_of``: tflite tensor index -> IR tensor id (a RESHAPE output maps to its input's
    IR tensor); ``op_of``: per tflite op, its IR op index (None for RESHAPE).
    """

    graph: irmod.Graph
    tensor_of: dict[int, int]
    op_of: list[int | None]


def _shape(t: tg.Tensor) -> tuple[int, ...]:
    """NHWC without the batch dimension, as the IR writes shapes."""
    s = tuple(int(d) for d in t.shape)
    return s[1:] if len(s) > 1 and s[0] == 1 else s


def ir_from_tflite(graph: tg.Graph, *, space: Any = None, config: Any = None,
                   names: Sequence[str] | None = None) -> IrMapping:
    """The layer IR (:mod:`ofa_mcu.ir`) of a parsed, supported ``.tflite`` graph.

    Ops, tensor shapes, weight/bias/quantization bytes, MACs and lifetimes are computed as
    :func:`ofa_mcu.ir.build_graph` computes them (tensor ids in creation order: the input, then
    each op's output; ADD inputs ordered by producer), so for an exported subnet the native plan
    of this IR equals the plan of ``build_graph(space, cfg)``. ``names``: one IR op name per
    non-RESHAPE op (default ``op<N>``). ``space`` / ``config`` are stored in the graph as given.
    """
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UserError(f"the native runtime needs one input and one output, the model has "
                        f"{len(graph.inputs)} and {len(graph.outputs)}")
    g = irmod.Graph(space, config)
    tensor_of: dict[int, int] = {}
    op_of: list[int | None] = []
    tens = graph.tensors

    def new_tensor(name: str, shape: tuple[int, ...]) -> int:
        t = irmod.Tensor(len(g.tensors), name, shape, first=len(g.ops), last=len(g.ops))
        g.tensors.append(t)
        return t.id

    tensor_of[graph.inputs[0]] = new_tensor("input", _shape(tens[graph.inputs[0]]))
    for op in graph.ops:
        if op.opcode == "RESHAPE":
            tensor_of[op.outputs[0]] = tensor_of[op.inputs[0]]
            op_of.append(None)
            continue
        acts = [tensor_of[t] for t in op.inputs if t >= 0 and not tens[t].is_constant]
        if op.opcode == "ADD":
            acts.sort()
        index = len(g.ops)
        name = names[index] if names is not None and index < len(names) else f"op{index}"
        x, y = tens[op.inputs[0]], tens[op.outputs[0]]
        out_shape = _shape(y)
        kw: dict[str, Any] = {"relu6": op.options.get("activation", "NONE") == "RELU6"}
        if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = tens[op.inputs[1]]
            b = tens[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
            kh, kw_ = int(w.shape[1]), int(w.shape[2])
            oh, ow, oc = out_shape
            in_c = int(x.shape[3])
            if op.opcode == "DEPTHWISE_CONV_2D":
                kind, per_pixel = "depthwise", oc * kh * kw_
            else:
                kind, per_pixel = ("pointwise" if kh == kw_ == 1 else "conv"), oc * kh * kw_ * in_c
            kw.update(kernel=max(kh, kw_), stride=int(op.options.get("stride_h", 1)), weight_bytes=w.nbytes,
                      bias_bytes=b.nbytes if b is not None else 0, quant_channels=int(w.scale.size),
                      macs=oh * ow * per_pixel, params=w.size + 2 * oc)
        elif op.opcode == "FULLY_CONNECTED":
            w = tens[op.inputs[1]]
            b = tens[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
            kind = "fc"
            kw.update(weight_bytes=w.nbytes, bias_bytes=b.nbytes if b is not None else 0,
                      quant_channels=int(w.scale.size), macs=int(w.size), params=w.size + int(w.shape[0]))
        elif op.opcode == "ADD":
            kind = "add"
            kw.update(macs=y.size)
        elif op.opcode == "MEAN":
            kind = "mean"
            kw.update(macs=x.size)
        elif op.opcode == "AVERAGE_POOL_2D":
            kind = "avgpool"
            kh, kw_ = int(op.options["filter_height"]), int(op.options["filter_width"])
            kw.update(kernel=max(kh, kw_), stride=int(op.options.get("stride_h", 1)), macs=y.size * kh * kw_)
        else:
            raise UserError(f"op {op.index} {op.opcode}: not supported by the native runtime")
        for t in acts:
            g.tensors[t].last = index
        out = new_tensor(name, out_shape)
        g.ops.append(irmod.Op(index, name, kind, tuple(acts), out, g.tensors[acts[0]].shape, out_shape, **kw))
        tensor_of[op.outputs[0]] = out
        op_of.append(index)
    if not g.ops:
        raise UserError("the model has no ops the native runtime runs")
    g.input = tensor_of[graph.inputs[0]]
    g.output = tensor_of[graph.outputs[0]]
    g.tensors[g.output].last = len(g.ops) - 1
    return IrMapping(g, tensor_of, op_of)


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

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class NativeModel:
    """What :func:`generate_native` produced: the sources and the figures behind them."""

    sources: dict[str, str]
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
            "const_bytes": self.const_bytes, "macs": self.macs,
            "layers": [layer.to_dict() for layer in self.layers],
        }


# ------------------------------------------------------------------------------------------
# Jinja helpers


def _c_int(v: int) -> str:
    """A C integer literal (INT32_MIN written so that it stays an int)."""
    v = int(v)
    return "(-2147483647 - 1)" if v == _INT32_MIN else str(v)


def _c_rows(values: np.ndarray, per_line: int) -> Iterator[str]:
    flat = np.asarray(values).ravel().tolist()
    for i in range(0, len(flat), per_line):
        yield ", ".join(_c_int(v) if v == _INT32_MIN else str(v) for v in flat[i:i + per_line])


def _c_float(v: float) -> str:
    return f"{float(np.float32(v)):.9e}f"


def _c_string(s: str) -> str:
    """A C string literal body (printable ASCII; anything else becomes '?')."""
    out = []
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def _comment(s: str) -> str:
    """Text safe inside a C block comment."""
    return s.replace("*/", "* /").replace("/*", "/ *")


def _env() -> jinja2.Environment:
    env = jinja_env()
    env.filters["c_int"] = _c_int
    env.filters["c_float"] = _c_float
    env.filters["c_string"] = _c_string
    env.filters["comment"] = _comment
    return env


# ------------------------------------------------------------------------------------------
# generation


def subnet_from_model(model: bytes, origin: str = "model") -> tuple[Any, Any]:
    """(space, config) of an exported subnet from the model's ofa-mcu metadata, or (None, None)."""
    try:
        from ofa_mcu.export.tflite_file import read_json_metadata
    except ImportError:  # pragma: no cover - part of the package
        return None, None
    meta = read_json_metadata(model, origin=origin)
    if not isinstance(meta, dict) or "space" not in meta or "subnet" not in meta:
        return None, None
    from ofa_mcu.config import SubnetConfig
    from ofa_mcu.space import SearchSpace

    space = SearchSpace.from_dict(meta["space"], source=f"{origin} metadata")
    cfg = SubnetConfig.from_dict(meta["subnet"], source=f"{origin} metadata").validate(space, f"{origin} metadata")
    return space, cfg


def _op_description(op: tg.Op, graph: tg.Graph, layer: irmod.Op) -> str:
    shapes = "x".join(str(d) for d in layer.in_shape) + " -> " + "x".join(str(d) for d in layer.out_shape)
    act = op.options.get("activation", "NONE")
    extra = ""
    if layer.kind in ("conv", "pointwise", "depthwise", "avgpool"):
        extra = f" {layer.kernel}x{layer.kernel} stride {layer.stride}"
    return f"{op.opcode}{extra}, {shapes}" + (f", fused {act}" if act != "NONE" else "")


def generate_native(model: bytes, *, name: str = "model", origin: str = "model.tflite",
                    use_metadata: bool = True, graph: tg.Graph | None = None) -> NativeModel:
    """Generate the native-runtime sources for an int8 ``.tflite`` (``model.c``, ``model.h``, ``main.c``).

    With ``use_metadata`` (default) and ofa-mcu metadata in the model (an exported subnet), the
    IR op names come from :func:`ofa_mcu.ir.build_graph` and the plan is checked to be the
    very plan of the subnet's IR (``WorkFailed`` if the model and its metadata disagree).
    ``graph``: an already parsed (possibly edited) graph to generate instead of parsing
    ``model`` (whose bytes then only name the source). Unsupported models raise ``UserError``
    with one line.
    """
    data = bytes(model)
    if graph is None:
        graph = tg.parse_tflite(data, origin=origin)
    calls = tg.lower_graph(graph, origin=origin)
    space, cfg = subnet_from_model(data, origin) if use_metadata else (None, None)
    ref: irmod.Graph | None = None
    names: list[str] | None = None
    if space is not None:
        ref = irmod.build_graph(space, cfg)
        names = [op.name for op in ref.ops]
    mapping = ir_from_tflite(graph, space=space, config=cfg, names=names)
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
    for call, tfl_op in zip(calls, graph.ops, strict=True):
        ir_index = mapping.op_of[call.op_index]
        if ir_index is None:  # RESHAPE: the IR tensor is shared, nothing to run
            ops_ctx.append({"reshape": True, "tflite_index": call.op_index,
                            "comment": f"RESHAPE {list(tens[call.inputs[0]].shape)} -> "
                                       f"{list(tens[call.outputs[0]].shape)}: same bytes, no code"})
            continue
        op = ir_graph.ops[ir_index]
        var = f"op{ir_index}"
        fields: list[tuple[str, str]] = [(k, _c_int(v)) for k, v in call.params.items()]
        const_bytes = 0
        for aname in ("weights", "bias", "out_mult", "out_shift"):
            if aname not in call.arrays:
                if call.params_type in ("ofa_conv_params_t", "ofa_fc_params_t") and aname == "bias":
                    fields.append(("bias", "NULL"))
                continue
            arr = np.asarray(call.arrays[aname])
            ctype = _ARRAY_TYPES[aname]
            if ctype == "int8_t":
                arr = arr.astype(np.int8)
            else:
                arr = arr.astype(np.int32)
            nbytes = int(arr.size * arr.itemsize)
            const_bytes += nbytes
            arrays.append({"name": f"{var}_{aname}", "ctype": ctype, "count": int(arr.size),
                           "rows": list(_c_rows(arr, _PER_LINE[ctype])), "bytes": nbytes,
                           "comment": f"{op.name}: {aname} ({arr.size} x {ctype})"})
            fields.append((aname, f"{var}_{aname}"))
        const_total += const_bytes
        in_offsets = [offset_of[mapping.tensor_of[t]] for t in call.inputs]
        out_t = mapping.tensor_of[call.outputs[0]]
        out_offset = offset_of[out_t]
        assert call.function is not None and call.params_type is not None
        params = {"index": ir_index, "name": op.name, "kind": op.kind,
                  "var": var, "params_type": call.params_type, "fields": fields,
                  "comment": _op_description(tfl_op, graph, op)}
        if ir_index in plan.fused:  # runs inside the fused call of the next layer
            if call.function != "ofa_pointwise_s8":
                raise WorkFailed(f"{origin}: op {call.op_index}: the plan fuses a {call.function} conv into a "
                                 "depthwise conv; only a 1x1 stride-1 conv can be fused")
            params_ctx.append(params)
            pending_expand = {"op": op, "in_offsets": in_offsets, "window": out_offset,
                              "const_bytes": const_bytes, "tfl_op": tfl_op}
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
            buffers = (f"in @{ex['in_offsets']}, expanded rows in the window @{ex['window']} "
                       f"({plan.sizes[group_of[mapping.tensor_of[call.inputs[0]]]]} B), out @{out_offset} "
                       f"({tens[call.outputs[0]].size} B)")
            ops_ctx.append({
                "reshape": False, "index": ir_index, "tflite_index": call.op_index,
                "name": fused_name, "kind": FUSED_KIND, "param_vars": [f"op{ex_op.index}", var],
                "function": "ofa_expand_depthwise_s8",
                "args": [f"ofa_arena + {ex['in_offsets'][0]}", f"ofa_arena + {ex['window']}", f"ofa_arena + {out_offset}"],
                "comment": f"layers {ex_op.index} and {ir_index} fused: "
                           f"{_op_description(ex['tfl_op'], graph, ex_op)}, then {params['comment']}",
                "macs": ex_op.macs + op.macs, "inplace": False, "buffers": buffers,
            })
            layers.append(NativeLayer(
                index=ir_index, tflite_index=call.op_index, name=fused_name, kind=FUSED_KIND, opcode=call.opcode,
                function="ofa_expand_depthwise_s8", inplace=False, inputs=ex["in_offsets"], output=out_offset,
                output_bytes=tens[call.outputs[0]].size, scratch=ex["window"], in_shape=list(ex_op.in_shape),
                out_shape=list(op.out_shape), macs=ex_op.macs + op.macs,
                const_bytes=ex["const_bytes"] + const_bytes,
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
            args = [f"ofa_arena + {out_offset}", f"ofa_arena + {scratch}"]
        elif inplace and function != "ofa_add_s8":
            raise WorkFailed(f"{origin}: op {call.op_index} ({function}) cannot run in place")
        else:
            args = [f"ofa_arena + {o}" for o in in_offsets] + [f"ofa_arena + {out_offset}"]
        out_bytes = tens[call.outputs[0]].size
        params_ctx.append(params)
        ops_ctx.append({
            "reshape": False, "index": ir_index, "tflite_index": call.op_index,
            "name": op.name, "kind": op.kind, "param_vars": [var], "function": function, "args": args,
            "comment": params["comment"], "macs": op.macs, "inplace": inplace,
            "buffers": f"in @{in_offsets}, out @{out_offset} ({out_bytes} B)"
                       + (f", scratch @{scratch} ({plan.scratch[ir_index]} B)" if scratch is not None else ""),
        })
        layers.append(NativeLayer(
            index=ir_index, tflite_index=call.op_index, name=op.name, kind=op.kind, opcode=call.opcode,
            function=function, inplace=inplace, inputs=in_offsets, output=out_offset, output_bytes=out_bytes,
            scratch=scratch, in_shape=list(op.in_shape), out_shape=list(op.out_shape), macs=op.macs,
            const_bytes=const_bytes,
        ))

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
        "input_shape": list(_shape(x_t)),
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
    }
    env = _env()
    try:
        sources = {
            "model.h": env.get_template(f"{TEMPLATE_DIR}/model.h.j2").render(ctx),
            "model.c": env.get_template(f"{TEMPLATE_DIR}/model.c.j2").render(ctx),
            "main.c": env.get_template(f"{TEMPLATE_DIR}/main.c.j2").render(ctx),
        }
    except jinja2.TemplateError as e:
        raise WorkFailed(f"rendering the native model failed: {type(e).__name__}: {e}") from None
    return NativeModel(
        sources=sources, name=name, sha256=sha, ir=ir_graph, plan=plan, layers=layers, arena_bytes=arena_bytes,
        input_offset=ctx["input_offset"], input_bytes=ctx["input_bytes"], input_shape=ctx["input_shape"],
        input_scale=ctx["input_scale"], input_zero_point=ctx["input_zero_point"],
        output_offset=ctx["output_offset"], output_bytes=ctx["output_bytes"], output_scale=ctx["output_scale"],
        output_zero_point=ctx["output_zero_point"], const_bytes=const_total,
        space=ctx["space"], subnet=cfg.to_dict() if cfg is not None else None,
    )
