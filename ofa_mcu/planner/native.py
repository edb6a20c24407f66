"""The native runtime's arena: one static plan with the in-place tricks our kernels allow.

The greedy placement over our own lifetimes, with in-place ops: a depthwise conv writes its
output over its input (plus a one-plane scratch buffer, :func:`inplace_depthwise_scratch_bytes`;
``ofa_depthwise_s8_inplace``) and an ADD writes over an input that dies there; a strided depthwise
conv is fused with the expand conv before it (``ofa_expand_depthwise_s8``), so the expanded
tensor only exists as a window of k rows (:func:`fused_window_bytes`); no interpreter state.
The native lowering (``ofa_mcu.native.lowering``) reads the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from ofa_mcu.ir import Graph, Op
from ofa_mcu.planner.core import Plan, align_up, greedy_offsets


@dataclass(frozen=True)
class NativeCost:
    """Choices of the native runtime's planner (each one a kernel of ``firmware/kernels`` relies on).

    ``fuse_expand_depthwise``: a strided depthwise conv fused with the 1x1 expand conv before it
    (``ofa_expand_depthwise_s8``): the expanded tensor, the largest of an inverted residual block,
    only ever exists as a window of ``min(k, H)`` rows, and the depthwise output is written while
    the block input is still alive. Stride-1 depthwise convs are not fused: they run in place,
    which already costs no more than the expanded tensor itself.
    """

    alignment: int = 4
    inplace_depthwise: bool = True
    inplace_add: bool = True
    fuse_expand_depthwise: bool = True


def fused_window_bytes(dw: Op) -> int:
    """Bytes of the row window of an expand conv fused into depthwise conv ``dw``."""
    h, w, c = dw.in_shape
    return min(dw.kernel, h) * w * c


def inplace_depthwise_scratch_bytes(out_h: int, out_w: int) -> int:
    """Scratch of ``ofa_depthwise_s8_inplace``: one output channel plane (``out_h * out_w`` bytes)."""
    return out_h * out_w


def depthwise_fits_in_place(in_h: int, in_w: int, out_h: int, out_w: int) -> bool:
    """Whether ``ofa_depthwise_s8_inplace`` can write the output over the input (it never grows)."""
    return out_h * out_w <= in_h * in_w


def plan_native(graph: Graph, cost: NativeCost | None = None) -> Plan:
    """Our static plan: in-place depthwise (one-plane scratch), in-place ADD, and strided
    depthwise convs fused with their expand conv (see :class:`NativeCost`)."""
    cost = cost or NativeCost()
    ts, ops = graph.tensors, graph.ops
    size = [t.bytes for t in ts]
    first = [t.first for t in ts]
    last = [t.last for t in ts]
    root = list(range(len(ts)))  # tensor -> the tensor whose buffer it reuses (resolved)
    scratch: dict[int, int] = {}
    fused: dict[int, int] = {}
    for op in ops:
        if op.kind == "depthwise" and cost.fuse_expand_depthwise and op.stride > 1 and op.index > 0:
            expand = ops[op.index - 1]
            window = op.inputs[0]
            if expand.kind == "pointwise" and expand.output == window and last[window] == op.index:
                fused[expand.index] = op.index
                size[window] = fused_window_bytes(op)
                first[op.output] = expand.index
                continue
        if not {"depthwise": cost.inplace_depthwise, "add": cost.inplace_add}.get(op.kind, False):
            continue
        dying = next((t for t in op.inputs if last[t] == op.index and t != graph.input), None)
        if dying is not None:
            root[op.output] = root[dying]
            if op.kind == "depthwise":
                scratch[op.index] = align_up(inplace_depthwise_scratch_bytes(op.out_shape[0], op.out_shape[1]),
                                                   cost.alignment)
    group_of: dict[int, int] = {}
    groups: list[list[int]] = []
    sizes: list[int] = []
    g_first: list[int] = []
    g_last: list[int] = []
    for t in range(len(ts)):  # a buffer's root tensor comes first, so groups keep tensor order
        k = group_of.get(root[t])
        if k is None:
            group_of[root[t]] = len(groups)
            groups.append([t])
            sizes.append(size[t])
            g_first.append(first[t])
            g_last.append(last[t])
        else:
            groups[k].append(t)
            sizes[k] = max(sizes[k], size[t])
            g_first[k] = min(g_first[k], first[t])
            g_last[k] = max(g_last[k], last[t])
    sizes = [align_up(b, cost.alignment) for b in sizes]
    offsets, _ = greedy_offsets(sizes, g_first, g_last)
    return Plan("native", graph, groups, sizes, g_first, g_last, offsets, scratch, 0, fused=fused)
