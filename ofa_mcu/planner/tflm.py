"""The TFLM runtime's arena: TFLM's own planner and allocator, modelled, with CMSIS-NN's scratch.

TFLM plans every activation tensor into its own buffer with the greedy planner (equal sizes the
later tensor first, 16-byte alignment) and keeps persistent data in the arena (per tensor, per
node, per output channel, per op kind, fixed) plus the temporary memory its allocator needs while
it plans (which can exceed the activations of a small model). The cost parameters are data
(``TflmCost``), calibrated against the real allocator (``benchmarks/export_arena.py``).

CMSIS-NN's scratch rules live here too, next to each other: :func:`cmsis_nn_scratch_bytes` (what
CMSIS-NN's buffer-size functions return today: the search budgets boards built with CMSIS-NN
with it) and :func:`cmsis_nn_request_bytes` (what the TFLM tree the firmware links, February 2023,
requests, rounded up where CMSIS-NN versions differ: the firmware's arena reserves it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ofa_mcu.ir import Graph, Op
from ofa_mcu.planner.core import Plan, align_up, greedy_offsets

KERNELS = ("reference", "cmsis-nn")


@dataclass(frozen=True)
class TflmCost:
    """TFLM's arena beyond activations, calibrated on the host (64-bit) ``tflite-micro`` allocator.

    Calibration (``benchmarks/export_arena.py``, random subnets of both shipped spaces, exported
    and measured by binary search on ``arena_size``): the activation plan matches TFLM's head
    exactly; the persistent model is within a few bytes of TFLM's tail, and the defaults carry a
    16-byte margin on the fixed parts so the prediction is never below the measurement.

    Host figures (64-bit): ``TfLiteEvalTensor`` 24 B (for every tensor, constants included), a
    node with its registration 64 B, ``OpDataConv`` 80 B plus an int32 multiplier and shift per
    output channel, ``OpDataAdd`` 60 B; while planning, TFLM temporarily needs an
    ``AllocationInfo`` (32 B) per tensor and 40 B of greedy-planner bookkeeping per activation
    tensor. A 32-bit MCU build needs less for the same model (eval tensor 12 B, node 32 B,
    4-byte pointers in op data and allocation info) and plans the same activations, so these
    defaults are an upper bound there for TFLM's reference kernels. Optimized kernels (CMSIS-NN)
    also request per-op scratch buffers that the host build does not have: ``kernels="cmsis-nn"``
    adds them (:func:`cmsis_nn_scratch_bytes`); for small-resolution subnets with 5x5/7x7
    depthwise convs on many channels they exceed the 64-bit surplus, so use it for boards built
    with CMSIS-NN.
    """

    alignment: int = 16
    fixed_bytes: int = 624  # interpreter, allocator, graph, input/output TfLiteTensors
    per_tensor_bytes: int = 24  # TfLiteEvalTensor of each activation tensor
    per_node_bytes: int = 64  # TfLiteNode + registration pointer
    per_channel_bytes: int = 8  # int32 multiplier + int32 shift per output channel
    # per op: its op data, its builtin options, the eval tensors of its constant inputs (weights,
    # bias, axes) and allocator bookkeeping. Calibrated (benchmarks/export_arena.py on exports;
    # the four MLPerf Tiny models and the tests/tf_models.py models, with and without SOFTMAX,
    # against the real allocator: the tail within +16..+27 B of TFLM's on each of them)
    op_data_bytes: dict[str, int] = field(default_factory=lambda: {
        "conv": 156, "pointwise": 156, "depthwise": 156, "add": 72, "fc": 164, "avgpool": 176, "softmax": 88,
        "mean": 160, "maxpool": 80, "pad": 96, "concat": 96, "other": 256,
    })
    # per RESHAPE (a layer-IR view: its own TFLM node and output buffer, counted with the nodes and
    # tensors): its builtin options and the eval tensor of its constant shape input
    view_bytes: int = 60
    scratch_bytes: dict[str, int] = field(default_factory=dict)  # per op kind, e.g. kernel scratch
    kernels: str = "reference"  # "reference" (as measured on the host) or "cmsis-nn" (adds its scratch)
    # temporary memory while TFLM plans the arena (it must fit between the head and the tail, so
    # a model whose activations are smaller than this needs the difference on top)
    planning_fixed_bytes: int = 288
    planning_per_tensor_bytes: int = 72  # AllocationInfo + planner bookkeeping per activation tensor
    planning_view_bytes: int = 32  # AllocationInfo of a RESHAPE's constant shape input
    planning_op_bytes: dict[str, int] = field(default_factory=lambda: {
        "conv": 64, "pointwise": 64, "depthwise": 64, "mean": 32, "fc": 40,
    })  # AllocationInfo of each op's constant tensors (FC: calibrated on the FC-only ad01 and autoencoder)


def tflm_persistent_bytes(graph: Graph, cost: TflmCost) -> int:
    views = len(graph.views)
    return (
        cost.fixed_bytes
        + cost.per_tensor_bytes * (len(graph.tensors) + views)
        + cost.per_node_bytes * (len(graph.ops) + views)
        + cost.view_bytes * views
        + sum(cost.per_channel_bytes * op.quant_channels + cost.op_data_bytes.get(op.kind, 0) for op in graph.ops)
    )


def cmsis_nn_scratch_bytes(op: Op) -> int:
    """Scratch CMSIS-NN's int8 kernels request for ``op`` (Arm DSP builds, e.g. Cortex-M4/M7).

    From CMSIS-NN's buffer-size functions: a non-1x1 conv (``arm_convolve_s8``) needs an im2col
    buffer of 2 x C_in x k x k int16; a depthwise conv other than 3x3 (``arm_depthwise_conv_s8_opt``)
    C x k x k int16; AVERAGE_POOL_2D (``arm_avgpool_s8``) an int32 sum per channel; 1x1 convs,
    3x3 depthwise convs with SAME padding, ADD and FULLY_CONNECTED none. MEAN runs TFLM's
    reference kernel.
    """
    c_in = op.in_shape[-1]
    if op.kind == "conv" and op.kernel > 1:
        return 2 * c_in * op.kernel * op.kernel * 2
    if op.kind == "depthwise" and op.kernel != 3:
        return c_in * op.kernel * op.kernel * 2
    if op.kind == "avgpool":
        return 4 * op.out_shape[-1]
    return 0


def tflm_planning_bytes(graph: Graph, cost: TflmCost) -> int:
    """Temporary memory TFLM's allocator uses while it plans the activations."""
    return (
        cost.planning_fixed_bytes
        + cost.planning_per_tensor_bytes * (len(graph.tensors) + len(graph.views))
        + cost.planning_view_bytes * len(graph.views)
        + sum(cost.planning_op_bytes.get(op.kind, 0) for op in graph.ops)
    )


@dataclass
class _Nodes:
    """TFLM's buffers of a graph with views, lifetimes counted in TFLM nodes (IR ops and RESHAPEs
    in execution order); the IR tensors' buffers first, then the views'."""

    sizes: list[int]
    first: list[int]
    last: list[int]
    node_of_op: list[int]
    ir_first: list[int]  # node -> the first IR op at or after it
    ir_last: list[int]  # node -> the last IR op at or before it


def _node_lifetimes(graph: Graph) -> _Nodes:
    ops, views, ts = graph.ops, graph.views, graph.tensors
    node_of_op: list[int] = []
    node_of_view: list[int] = []
    ir_first: list[int] = []
    ir_last: list[int] = []
    k = 0
    for i in range(-1, len(ops)):
        if i >= 0:
            node_of_op.append(len(ir_first))
            ir_first.append(i)
            ir_last.append(i)
        while k < len(views) and views[k].after == i:
            node_of_view.append(len(ir_first))
            ir_first.append(min(i + 1, len(ops) - 1))
            ir_last.append(max(i, 0))
            k += 1
    end = len(ir_first) - 1

    def node(reader: int) -> int:
        return end if reader >= len(ops) else node_of_op[reader]

    via_view = {(r, v.source) for v in views for r in v.readers}
    sizes = [t.bytes for t in ts] + [ts[v.source].bytes for v in views]
    first = [0 if t.id == graph.input else node_of_op[t.first] for t in ts] + node_of_view
    last = list(first)
    for op in ops:
        for t in op.inputs:
            if (op.index, t) not in via_view:
                last[t] = max(last[t], node_of_op[op.index])
    for k, v in enumerate(views):
        src = v.source if v.source_view is None else len(ts) + v.source_view
        last[src] = max(last[src], node_of_view[k])
        for r in v.readers:
            last[len(ts) + k] = max(last[len(ts) + k], node(r))
    if not any(len(ops) in v.readers for v in views):
        last[graph.output] = end
    return _Nodes(sizes, first, last, node_of_op, ir_first, ir_last)


def plan_tflm(graph: Graph, cost: TflmCost | None = None) -> Plan:
    """TFLM's arena: every tensor its own buffer, greedy placement, persistent state on top.

    A RESHAPE (an IR view) is a TFLM node with a buffer of its own: the placement is made over
    TFLM's nodes; the plan's per-op figures show a view's buffer from the IR op after it.
    When the planner's temporary memory is larger than the planned activations, the difference
    is counted in ``persistent_bytes`` (the arena must hold it, though not for the whole run).
    """
    cost = cost or TflmCost()
    if cost.kernels not in KERNELS:
        raise ValueError(f"unknown TFLM kernels {cost.kernels!r}: expected 'reference' or 'cmsis-nn'")
    scratch: dict[int, int] = {}
    if cost.scratch_bytes or cost.kernels == "cmsis-nn":
        for op in graph.ops:
            b = cost.scratch_bytes.get(op.kind, 0) + (cmsis_nn_scratch_bytes(op) if cost.kernels == "cmsis-nn" else 0)
            if b:
                scratch[op.index] = align_up(b, cost.alignment)
    ts = graph.tensors
    if not graph.views:
        sizes = [align_up(t.bytes, cost.alignment) for t in ts]
        first = [t.first for t in ts]
        last = [t.last for t in ts]
        offsets, _ = greedy_offsets(sizes, first, last, later_first=True)
        p = Plan("tflm", graph, [[t.id] for t in ts], sizes, first, last, offsets, scratch,
                 tflm_persistent_bytes(graph, cost))
    else:
        nodes = _node_lifetimes(graph)
        sizes = [align_up(b, cost.alignment) for b in nodes.sizes]
        offsets, _ = greedy_offsets(sizes, nodes.first, nodes.last, later_first=True)
        # the plan's per-op figures are per IR op: a buffer from the first IR op at or after its
        # first node to the last IR op at or before its last node
        last = [nodes.ir_last[la] for la in nodes.last]
        first = [min(nodes.ir_first[f], la) for f, la in zip(nodes.first, last)]
        groups = [[t.id] for t in ts] + [[] for _ in graph.views]
        p = Plan("tflm", graph, groups, sizes, first, last, offsets, scratch, tflm_persistent_bytes(graph, cost))
        top = [0] * len(nodes.ir_first)  # the extent at each TFLM node, scratch included
        for off, size, fi, la in zip(offsets, sizes, nodes.first, nodes.last):
            for n in range(fi, la + 1):
                top[n] = max(top[n], off + size)
        for i, extra in scratch.items():
            top[nodes.node_of_op[i]] += extra
        p.activation_bytes = max(top, default=0)
    shortfall = align_up(tflm_planning_bytes(graph, cost), cost.alignment) - p.activation_bytes
    p.persistent_bytes += max(shortfall, 0)
    return p


def cmsis_nn_request_bytes(opcode: str, weight_shape: tuple[int, ...], in_channels: int, out_channels: int,
                           fast_1x1: bool) -> int:
    """Scratch the CMSIS-NN kernels of the February 2023 TFLM tree request for one TFLite op (DSP
    code path), rounded up where CMSIS-NN versions differ: a conv other than the fast 1x1 path two
    int16 im2col columns (``2 * 2 * ceil4(C_in * kh * kw)``); a depthwise conv (any kernel) an
    int16 copy of its receptive field (``2 * C * kh * kw``); AVERAGE_POOL_2D int32 sums per
    channel; everything else none."""
    if opcode == "CONV_2D" and len(weight_shape) == 4 and not fast_1x1:
        _, kh, kw, i = weight_shape
        return 2 * 2 * (-(-(i * kh * kw) // 4) * 4)
    if opcode == "DEPTHWISE_CONV_2D" and len(weight_shape) == 4:
        _, kh, kw, c = weight_shape
        return 2 * c * kh * kw if in_channels == c else 0
    if opcode == "AVERAGE_POOL_2D":
        return 4 * out_channels
    return 0


_TFLM_COSTS = {k: TflmCost(kernels=k) for k in KERNELS}  # the defaults, built once


def plan_tflm_kernels(graph: Graph, kernels: str = "reference") -> Plan:
    """:func:`plan_tflm` with the default costs of ``kernels`` (``reference`` or ``cmsis-nn``)."""
    cost = _TFLM_COSTS.get(kernels)
    return plan_tflm(graph, cost if cost is not None else TflmCost(kernels=kernels))
