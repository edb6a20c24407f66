"""The native runtime's arena: one static plan with the in-place tricks our kernels allow.

The greedy placement over our own lifetimes, with in-place ops: a depthwise conv writes its
output over its input (plus a one-plane scratch buffer, :func:`inplace_depthwise_scratch_bytes`;
``ofa_depthwise_s8_inplace``) and an ADD writes over an input that dies there; a strided depthwise
conv is fused with the expand conv before it (``ofa_expand_depthwise_s8``), so the expanded
tensor only exists as a window of k rows (:func:`fused_window_bytes`); a conv other than a
stride-1 1x1 whose only reader is the ADD right after it adds its result into the ADD's other
input (``ofa_conv_add_s8``: the residual branch of a ResNet block never exists as a tensor); a
stride-1 1x1 conv with as many output as input channels runs in place through a few pixels of
scratch (:func:`inplace_pointwise_scratch_bytes`, ``ofa_pointwise_s8_inplace``) where that makes
the arena smaller; no interpreter state. When the greedy placement (largest first) fragments, the placement largest-lifetime-area
first is tried too, and the smaller plan kept. The native lowering (``ofa_mcu.native.lowering``)
and code generator read the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ofa_mcu.ir import Graph, Op
from ofa_mcu.planner.core import Plan, align_up, greedy_offsets, live_peak

#: Pixels ``ofa_pointwise_s8_inplace`` computes into its scratch before writing them back
#: (``OFA_PW_INPLACE_PIXELS`` in ``firmware/kernels/ofa_kernels.h``).
INPLACE_POINTWISE_PIXELS = 8


@dataclass(frozen=True)
class NativeCost:
    """Choices of the native runtime's planner (each one a kernel of ``firmware/kernels`` relies on).

    ``fuse_expand_depthwise``: a strided depthwise conv fused with the 1x1 expand conv before it
    (``ofa_expand_depthwise_s8``): the expanded tensor, the largest of an inverted residual block,
    only ever exists as a window of ``min(k, H)`` rows, and the depthwise output is written while
    the block input is still alive. Stride-1 depthwise convs are not fused: they run in place,
    which already costs no more than the expanded tensor itself.

    ``fuse_conv_add``: a conv other than a stride-1 1x1 (those are the pointwise fast path) whose
    only reader is the ADD right after it, when the ADD's other input dies there, runs as
    ``ofa_conv_add_s8``: it adds each result into that input in place (a ResNet block's residual
    branch and its 1x1 strided shortcut never exist as tensors). ``inplace_pointwise``: a
    stride-1 1x1 conv with as many output as input channels whose input dies there runs as
    ``ofa_pointwise_s8_inplace``, only when the arena gets smaller. Neither pattern occurs in the
    shipped search spaces' subnets (a stem conv is never followed by an ADD; no project conv is
    square), so their plans are unchanged.
    """

    alignment: int = 4
    inplace_depthwise: bool = True
    inplace_add: bool = True
    fuse_expand_depthwise: bool = True
    fuse_conv_add: bool = True
    inplace_pointwise: bool = True


def fused_window_bytes(dw: Op) -> int:
    """Bytes of the row window of an expand conv fused into depthwise conv ``dw``."""
    h, w, c = dw.in_shape
    return min(dw.kernel, h) * w * c


def inplace_depthwise_scratch_bytes(out_h: int, out_w: int) -> int:
    """Scratch of ``ofa_depthwise_s8_inplace``: one output channel plane (``out_h * out_w`` bytes)."""
    return out_h * out_w


def inplace_pointwise_scratch_bytes(pixels: int, out_c: int) -> int:
    """Scratch of ``ofa_pointwise_s8_inplace``: :data:`INPLACE_POINTWISE_PIXELS` output pixels."""
    return min(pixels, INPLACE_POINTWISE_PIXELS) * out_c


def conv_add_fusable(op: Op) -> bool:
    """Convs ``ofa_conv_add_s8`` runs: every conv but a stride-1 1x1 one (``ofa_pointwise_s8``)."""
    return op.kind == "conv" or (op.kind == "pointwise" and op.stride > 1)


def pointwise_in_place(op: Op) -> bool:
    """A stride-1 1x1 conv ``ofa_pointwise_s8_inplace`` can run: as many output as input channels."""
    return op.kind == "pointwise" and op.stride == 1 and op.in_shape == op.out_shape


def depthwise_fits_in_place(in_h: int, in_w: int, out_h: int, out_w: int) -> bool:
    """Whether ``ofa_depthwise_s8_inplace`` can write the output over the input (it never grows)."""
    return out_h * out_w <= in_h * in_w


def plan_native(graph: Graph, cost: NativeCost | None = None) -> Plan:
    """Our static plan: in-place depthwise (one-plane scratch), in-place ADD, strided depthwise
    convs fused with their expand conv, convs fused with the ADD after them, and in-place square
    pointwise convs where that makes the arena smaller (they copy each output pixel once more);
    see :class:`NativeCost`."""
    cost = cost or NativeCost()
    plan, inplace_pw = _plan(graph, cost)
    if inplace_pw:
        base, _ = _plan(graph, replace(cost, inplace_pointwise=False))
        if base.activation_bytes <= plan.activation_bytes:
            return base
    return plan


def _plan(graph: Graph, cost: NativeCost) -> tuple[Plan, bool]:
    """The plan with ``cost``'s rules, and whether it runs a pointwise conv in place."""
    inplace_pw = False
    ts, ops = graph.tensors, graph.ops
    size = [t.bytes for t in ts]
    first = [t.first for t in ts]
    last = [t.last for t in ts]
    root = list(range(len(ts)))  # tensor -> the tensor whose buffer it reuses (resolved)
    scratch: dict[int, int] = {}
    fused: dict[int, int] = {}
    fused_add: dict[int, int] = {}
    for op in ops:
        if op.kind == "depthwise" and cost.fuse_expand_depthwise and op.stride > 1 and op.index > 0:
            expand = ops[op.index - 1]
            window = op.inputs[0]
            if expand.kind == "pointwise" and expand.output == window and last[window] == op.index:
                fused[expand.index] = op.index
                size[window] = fused_window_bytes(op)
                first[op.output] = expand.index
                continue
        if op.index in fused_add.values():
            continue
        if cost.fuse_conv_add and conv_add_fusable(op) and op.index + 1 < len(ops):
            add = ops[op.index + 1]
            other = [t for t in add.inputs if t != op.output]
            if (add.kind == "add" and op.output in add.inputs and last[op.output] == add.index and len(other) == 1
                    and last[other[0]] == add.index and other[0] != graph.input
                    and ts[other[0]].bytes == ts[add.output].bytes == ts[op.output].bytes):
                fused_add[op.index] = add.index
                size[op.output] = 0  # the conv's result is added into the other input element by element
                root[add.output] = root[other[0]]
                continue
        if cost.inplace_pointwise and pointwise_in_place(op):
            x = op.inputs[0]
            nxt = ops[op.index + 1] if op.index + 1 < len(ops) else None
            expands = (cost.fuse_expand_depthwise and nxt is not None and nxt.kind == "depthwise" and nxt.stride > 1
                       and nxt.inputs[0] == op.output and last[op.output] == nxt.index)  # fused instead
            if last[x] == op.index and x != graph.input and not expands:
                inplace_pw = True
                root[op.output] = root[x]
                scratch[op.index] = align_up(inplace_pointwise_scratch_bytes(op.out_shape[0] * op.out_shape[1],
                                                                             op.out_shape[2]), cost.alignment)
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
    offsets, extent = greedy_offsets(sizes, g_first, g_last)
    plan = Plan("native", graph, groups, sizes, g_first, g_last, offsets, scratch, 0, fused=fused,
                fused_add=fused_add)
    if extent > live_peak(sizes, g_first, g_last):  # fragmented: try the largest lifetime area first
        order = sorted(range(len(sizes)), key=lambda k: sizes[k] * (g_last[k] - g_first[k] + 1), reverse=True)
        alt_offsets, _ = greedy_offsets(sizes, g_first, g_last, order=order)
        alt = Plan("native", graph, groups, sizes, g_first, g_last, alt_offsets, scratch, 0, fused=fused,
                   fused_add=fused_add)
        if alt.activation_bytes < plan.activation_bytes:
            plan = alt
    return plan, inplace_pw
