"""A parsed ``.tflite`` graph -> the layer IR (:mod:`ofa_mcu.ir`): the one place that does it.

:func:`to_ir` computes ops, tensor shapes, weight/bias/quantization bytes, MACs and lifetimes as
:func:`ofa_mcu.ir.build_graph` computes them (tensor ids in creation order: the input, then each
op's output; ADD inputs ordered by producer), so for an exported subnet any planner's plan of
this IR equals its plan of ``build_graph(space, cfg)``. RESHAPE is an alias (its output is its
input's IR tensor, no IR op). Both runtimes, export verification, ``inspect`` and ``analyze``
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
    """The IR kind of ``op`` (None for an op outside the IR, e.g. RESHAPE or SOFTMAX)."""
    kind = IR_KINDS.get(op.opcode)
    if kind == "conv":
        w = graph.tensors[op.inputs[1]]
        return "pointwise" if len(w.shape) == 4 and w.shape[1] == w.shape[2] == 1 else "conv"
    return kind


def to_ir(graph: Graph, *, space: Any = None, config: Any = None, names: Sequence[str] | None = None,
          origin: str = "model") -> IrMapping:
    """The layer IR of a parsed ``.tflite`` graph (``UserError`` for an op outside the IR).

    ``names``: one IR op name per non-RESHAPE op (default ``op<N>``). ``space`` / ``config`` are
    stored in the graph as given.
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
    for op in graph.ops:
        if op.opcode in ALIAS_OPS:
            tensor_of[op.outputs[0]] = tensor_of[op.inputs[0]]
            op_of.append(None)
            continue
        kind = op_kind(graph, op)
        if kind is None or len(op.outputs) != 1:
            raise UserError(f"{origin}: op {op.index} {op.opcode} has no layer-IR kind "
                            f"(the IR describes {', '.join(sorted(IR_KINDS))} and RESHAPE)")
        acts = [tensor_of[t] for t in op.inputs if t >= 0 and not tens[t].is_constant]
        if op.opcode == "ADD":
            acts.sort()
        index = len(g.ops)
        name = names[index] if names is not None and index < len(names) else f"op{index}"
        x, y = tens[op.inputs[0]], tens[op.outputs[0]]
        out_shape = y.ir_shape
        kw: dict[str, Any] = {"relu6": op.options.get("activation", "NONE") == "RELU6"}
        if kind in ("conv", "pointwise", "depthwise"):
            w = tens[op.inputs[1]]
            b = tens[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
            kh, kw_ = int(w.shape[1]), int(w.shape[2])
            oh, ow, oc = out_shape
            per_pixel = oc * kh * kw_ if kind == "depthwise" else oc * kh * kw_ * int(x.shape[3])
            kw.update(kernel=max(kh, kw_), stride=int(op.options.get("stride_h", 1)), weight_bytes=w.nbytes,
                      bias_bytes=b.nbytes if b is not None else 0, quant_channels=int(w.scale.size),
                      macs=oh * ow * per_pixel, params=w.size + 2 * oc)
        elif kind == "fc":
            w = tens[op.inputs[1]]
            b = tens[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
            kw.update(weight_bytes=w.nbytes, bias_bytes=b.nbytes if b is not None else 0,
                      quant_channels=int(w.scale.size), macs=int(w.size), params=w.size + int(w.shape[0]))
        elif kind == "add":
            kw.update(macs=y.size)
        elif kind == "mean":
            kw.update(macs=x.size)
        else:  # avgpool
            kh, kw_ = int(op.options["filter_height"]), int(op.options["filter_width"])
            kw.update(kernel=max(kh, kw_), stride=int(op.options.get("stride_h", 1)), macs=y.size * kh * kw_)
        for t in acts:
            g.tensors[t].last = index
        out = new_tensor(name, out_shape)
        g.ops.append(irmod.Op(index, name, kind, tuple(acts), out, g.tensors[acts[0]].shape, out_shape, **kw))
        tensor_of[op.outputs[0]] = out
        op_of.append(index)
    if not g.ops:
        raise UserError(f"{origin}: the model has no layer-IR ops")
    g.input = tensor_of[graph.inputs[0]]
    g.output = tensor_of[graph.outputs[0]]
    g.tensors[g.output].last = len(g.ops) - 1
    return IrMapping(g, tensor_of, op_of)
