"""A parsed ``.tflite`` graph -> the layer IR (:mod:`ofa_mcu.ir`): the one place that does it.

:func:`to_ir` computes ops, tensor shapes, weight/bias/quantization bytes, MACs and lifetimes as
:func:`ofa_mcu.ir.build_graph` computes them (tensor ids in creation order: the input, then each
op's output; ADD inputs ordered by producer), so for an exported subnet any planner's plan of
this IR equals its plan of ``build_graph(space, cfg)``. RESHAPE is an alias (its output is its
input's IR tensor, no IR op), recorded as an :class:`ofa_mcu.ir.View` for TFLM's planner, which
gives it a buffer of its own. Both runtimes, export verification, ``inspect`` and ``analyze``
read models through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ofa_mcu import ir as irmod
from ofa_mcu.errors import UserError
from ofa_mcu.tflite.reader import Graph, Op

#: TFLite builtin op -> IR op kind (CONV_2D is "conv" or "pointwise" by kernel size; RESHAPE is
#: an alias, not an op).
IR_KINDS: dict[str, str] = {op: kind for kind, op in irmod.TFLITE_OP.items() if kind != "pointwise"}
IR_KINDS["PADV2"] = "pad"  # PAD with an explicit pad value
ALIAS_OPS = ("RESHAPE",)


@dataclass
class IrMapping:
    """The layer IR of a ``.tflite`` graph and how the two correspond.

    ``tensor_of``: tflite tensor index -> IR tensor id (a RESHAPE output maps to its input's
    IR tensor); ``op_of``: per tflite op, its IR op index (None for RESHAPE).
    """

    graph: irmod.Graph
    tensor_of: dict[int, int]
    op_of: list[int | None]

    @property
    def one_to_one(self) -> bool:
        """Every tflite op is one IR op (no aliased RESHAPE)."""
        return None not in self.op_of


def op_kind(graph: Graph, op: Op) -> str | None:
    """The IR kind of ``op`` (None for an op outside the IR, e.g. RESHAPE)."""
    kind = IR_KINDS.get(op.opcode)
    if kind == "conv":
        w = graph.tensors[op.inputs[1]]
        return "pointwise" if len(w.shape) == 4 and w.shape[1] == w.shape[2] == 1 else "conv"
    return kind


def _window(op: Op, kh: int, kw: int) -> dict[str, int]:
    return {"kernel": max(kh, kw), "stride": int(op.options.get("stride_h", 1))}


def _op_fields(graph: Graph, op: Op, kind: str) -> dict[str, Any]:
    """Kernel, stride, weight / bias / quantization bytes, MACs and params of one op."""
    tens = graph.tensors
    x, y = tens[op.inputs[0]] if op.inputs and op.inputs[0] >= 0 else None, tens[op.outputs[0]]
    kw: dict[str, Any] = {"relu6": op.options.get("activation", "NONE") == "RELU6"}
    if kind in ("conv", "pointwise", "depthwise"):
        w = tens[op.inputs[1]]
        b = tens[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        kh, kw_ = int(w.shape[1]), int(w.shape[2])
        oh, ow, oc = y.ir_shape
        per_pixel = oc * kh * kw_ if kind == "depthwise" else oc * kh * kw_ * int(x.shape[3])
        kw.update(**_window(op, kh, kw_), weight_bytes=w.nbytes, bias_bytes=b.nbytes if b is not None else 0,
                  quant_channels=int(w.scale.size), macs=oh * ow * per_pixel, params=w.size + 2 * oc)
    elif kind == "fc":
        w = tens[op.inputs[1]]
        b = tens[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        kw.update(weight_bytes=w.nbytes, bias_bytes=b.nbytes if b is not None else 0,
                  quant_channels=int(w.scale.size), macs=int(w.size), params=w.size + int(w.shape[0]))
    elif kind in ("add", "pad", "concat", "softmax"):
        kw.update(macs=y.size)  # one element operation (or copy) per output value
    elif kind == "mean":
        kw.update(macs=x.size)
    elif kind in ("avgpool", "maxpool"):
        kh, kw_ = int(op.options["filter_height"]), int(op.options["filter_width"])
        kw.update(**_window(op, kh, kw_), macs=y.size * kh * kw_)
    else:  # other: its constant inputs are flash, one operation per output value
        consts = [tens[t] for t in op.inputs if t >= 0 and tens[t].is_constant]
        kw.update(weight_bytes=sum(c.nbytes for c in consts), macs=y.size, opcode=op.opcode)
    return kw


def to_ir(graph: Graph, *, space: Any = None, config: Any = None, names: Sequence[str] | None = None,
          origin: str = "model", other_ops: bool = False) -> IrMapping:
    """The layer IR of a parsed ``.tflite`` graph (``UserError`` for an op outside the IR).

    ``names``: one IR op name per non-RESHAPE op (default ``op<N>``). ``space`` / ``config`` are
    stored in the graph as given. ``other_ops``: an op outside the IR becomes an ``other`` op
    (its TFLite name in ``opcode``) instead of an error, for a runtime that runs every op.
    """
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UserError(f"{origin}: expected one input and one output, the model has "
                        f"{len(graph.inputs)} and {len(graph.outputs)}")
    g = irmod.Graph(space, config)
    tensor_of: dict[int, int] = {}
    op_of: list[int | None] = []
    tens = graph.tensors

    def new_tensor(name: str, shape: tuple[int, ...]) -> int:
        t = irmod.Tensor(len(g.tensors), name, shape, first=len(g.ops), last=len(g.ops))
        g.tensors.append(t)
        return t.id

    tensor_of[graph.inputs[0]] = new_tensor("input", tens[graph.inputs[0]].ir_shape)
    view_of: dict[int, int] = {}  # tflite tensor written by a RESHAPE -> its view index
    views: list[tuple[int, int, int | None, list[int]]] = []  # after, source, source view, readers
    for op in graph.ops:
        if op.opcode in ALIAS_OPS and op.inputs and op.inputs[0] in tensor_of:
            src = op.inputs[0]
            tensor_of[op.outputs[0]] = tensor_of[src]
            view_of[op.outputs[0]] = len(views)
            views.append((len(g.ops) - 1, tensor_of[src], view_of.get(src), []))
            op_of.append(None)
            continue
        kind = op_kind(graph, op)
        if kind is None and other_ops:
            kind = "other"
        if kind is None or len(op.outputs) != 1:
            what = "has no layer-IR kind" if kind is None else f"has {len(op.outputs)} outputs, the layer IR one"
            raise UserError(f"{origin}: op {op.index} {op.opcode} {what} "
                            f"(the IR describes {', '.join(sorted(IR_KINDS))} and RESHAPE)")
        acts = [tensor_of[t] for t in op.inputs if t >= 0 and not tens[t].is_constant and t in tensor_of]
        missing = [t for t in op.inputs if t >= 0 and not tens[t].is_constant and t not in tensor_of]
        if missing or not acts:
            raise UserError(f"{origin}: op {op.index} {op.opcode} reads tensor(s) {missing or 'none'} that no "
                            "earlier op writes (variable tensors and ops without an input are not supported)")
        if op.opcode == "ADD":
            acts.sort()
        index = len(g.ops)
        for t in op.inputs:
            if t in view_of:
                views[view_of[t]][3].append(index)
        name = names[index] if names is not None and index < len(names) else f"op{index}"
        out_shape = tens[op.outputs[0]].ir_shape
        kw = _op_fields(graph, op, kind)
        for t in acts:
            g.tensors[t].last = index
        out = new_tensor(name, out_shape)
        g.ops.append(irmod.Op(index, name, kind, tuple(acts), out, g.tensors[acts[0]].shape, out_shape, **kw))
        tensor_of[op.outputs[0]] = out
        op_of.append(index)
    if not g.ops:
        raise UserError(f"{origin}: the model has no layer-IR ops")
    if graph.outputs[0] not in tensor_of:
        raise UserError(f"{origin}: no op writes the output tensor {graph.outputs[0]}")
    if graph.outputs[0] in view_of:
        views[view_of[graph.outputs[0]]][3].append(len(g.ops))
    g.views = [irmod.View(after, src, sv, tuple(readers)) for after, src, sv, readers in views]
    g.input = tensor_of[graph.inputs[0]]
    g.output = tensor_of[graph.outputs[0]]
    g.tensors[g.output].last = len(g.ops) - 1
    return IrMapping(g, tensor_of, op_of)
