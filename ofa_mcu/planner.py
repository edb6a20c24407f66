"""Memory planners: where each activation tensor lives in the arena, per runtime.

- ``tflm``: TFLM's greedy planner (buffers sorted by size, largest first, equal sizes the later
  tensor first; each placed at the lowest offset that does not collide with an already placed
  buffer alive at the same time; sizes rounded up to 16 bytes) plus a model of TFLM's
  persistent allocations (per tensor, per node, per output channel, per op kind, fixed) and of
  the temporary memory TFLM's allocator needs while it plans (which can exceed the activations
  of a small model). The cost parameters are data (``TflmCost``), calibrated against the real
  allocator (``benchmarks/export_arena.py``).
- ``native``: the same greedy placement over our own lifetimes, with in-place ops: a depthwise
  conv writes its output over its input (plus a one-channel scratch buffer) and an ADD writes
  over an input that dies there; a strided depthwise conv is fused with the expand conv before
  it, so the expanded tensor only exists as a window of k rows; no interpreter state.

Both return a ``Plan`` with per-op figures (live bytes, planned extent) and the op that sets the
peak. Pure Python over small lists: the searcher calls this thousands of times per second.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field

from ofa_mcu.ir import Graph, Op

RUNTIMES = ("tflm", "native")


def align_up(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


def greedy_offsets(sizes: list[int], first: list[int], last: list[int],
                   later_first: bool = False) -> tuple[list[int], int]:
    """Place buffers largest first at the lowest non-colliding offset; return (offsets, extent).

    Buffers ``a`` and ``b`` collide when their lifetimes [first, last] overlap. Ties in size keep
    the earlier buffer first, or with ``later_first`` the later one, as TFLM does: its
    ``GreedyMemoryPlanner`` fills the array it sorts from the end (last buffer first) and then
    sorts it by size with a stable bubble sort.
    """
    n = len(sizes)
    # largest first; Python's sort is stable (also with reverse=True), so ties keep the order of
    # the indices given: ascending, or descending for later_first
    order = sorted(range(n - 1, -1, -1) if later_first else range(n), key=sizes.__getitem__, reverse=True)
    offsets = [0] * n
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last), kept sorted by offset
    extent = 0
    for i in order:
        fi, li, size = first[i], last[i], sizes[i]
        offset = 0
        for start, end, pf, pl in placed:
            if pf > li or pl < fi:  # not alive at the same time
                continue
            if start - offset >= size:
                break
            if end > offset:
                offset = end
        offsets[i] = offset
        insort(placed, (offset, offset + size, fi, li))
        if offset + size > extent:
            extent = offset + size
    return offsets, extent


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
    fixed_bytes: int = 880  # interpreter, allocator, graph, input/output TfLiteTensors; MEAN and FC state
    per_tensor_bytes: int = 24  # TfLiteEvalTensor of each activation tensor
    per_node_bytes: int = 64  # TfLiteNode + registration pointer
    per_channel_bytes: int = 8  # int32 multiplier + int32 shift per output channel
    # per op: its op data, the eval tensors of its constant inputs (weights, bias, axes) and
    # allocator bookkeeping
    op_data_bytes: dict[str, int] = field(default_factory=lambda: {
        "conv": 156, "pointwise": 156, "depthwise": 156, "add": 72, "mean": 48, "fc": 48,
    })
    scratch_bytes: dict[str, int] = field(default_factory=dict)  # per op kind, e.g. kernel scratch
    kernels: str = "reference"  # "reference" (as measured on the host) or "cmsis-nn" (adds its scratch)
    # temporary memory while TFLM plans the arena (it must fit between the head and the tail, so
    # a model whose activations are smaller than this needs the difference on top)
    planning_fixed_bytes: int = 288
    planning_per_tensor_bytes: int = 72  # AllocationInfo + planner bookkeeping per activation tensor
    planning_op_bytes: dict[str, int] = field(default_factory=lambda: {
        "conv": 64, "pointwise": 64, "depthwise": 64, "mean": 32, "fc": 64,
    })  # AllocationInfo of each op's constant tensors


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


@dataclass
class OpMemory:
    """Memory at one op: activations alive, their planned extent, and the total with overheads."""

    live_bytes: int
    extent_bytes: int
    total_bytes: int


@dataclass
class Plan:
    """Buffers (groups of tensors sharing memory) with their offsets, sizes and lifetimes."""

    runtime: str
    graph: Graph
    groups: list[list[int]]  # tensor ids sharing one buffer
    sizes: list[int]
    first: list[int]
    last: list[int]
    offsets: list[int]
    scratch: dict[int, int]  # op index -> scratch bytes placed above what is alive there
    persistent_bytes: int  # runtime state in the arena (tflm)
    activation_bytes: int = 0
    # native: expand op index -> the depthwise op it is fused into; the expand's output buffer is
    # the row window (fused_window_bytes), and the depthwise output lives from the expand on
    fused: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_ops = len(self.graph.ops)
        live = [0] * n_ops  # bytes of the buffers alive at each op
        top = [0] * n_ops  # highest end of a buffer alive at each op
        for off, size, fi, li in zip(self.offsets, self.sizes, self.first, self.last):
            end = off + size
            for i in range(fi, li + 1):  # every buffer lives within the ops [0, n_ops)
                live[i] += size
                if end > top[i]:
                    top[i] = end
        for i, extra in self.scratch.items():
            live[i] += extra
            top[i] += extra
        self._live, self._top = live, top
        self.activation_bytes = max(top, default=0)

    @property
    def peak_bytes(self) -> int:
        return self.activation_bytes + self.persistent_bytes

    def tensor_offset(self, tensor: int) -> int:
        return next(self.offsets[k] for k, g in enumerate(self.groups) if tensor in g)

    def op_memory(self, index: int) -> OpMemory:
        top = self._top[index]
        return OpMemory(self._live[index], top, top + self.persistent_bytes)

    @property
    def per_op(self) -> list[OpMemory]:
        return [self.op_memory(op.index) for op in self.graph.ops]

    @property
    def peak_op(self) -> int:
        """The op whose live buffers reach highest in the arena (ties: most bytes alive)."""
        return max(range(len(self._top)), key=lambda i: (self._top[i], self._live[i]))


def tflm_persistent_bytes(graph: Graph, cost: TflmCost) -> int:
    return (
        cost.fixed_bytes
        + cost.per_tensor_bytes * len(graph.tensors)
        + cost.per_node_bytes * len(graph.ops)
        + sum(cost.per_channel_bytes * op.quant_channels + cost.op_data_bytes.get(op.kind, 0) for op in graph.ops)
    )


def cmsis_nn_scratch_bytes(op: Op) -> int:
    """Scratch CMSIS-NN's int8 kernels request for ``op`` (Arm DSP builds, e.g. Cortex-M4/M7).

    From CMSIS-NN's buffer-size functions: a non-1x1 conv (``arm_convolve_s8``) needs an im2col
    buffer of 2 x C_in x k x k int16; a depthwise conv other than 3x3 (``arm_depthwise_conv_s8_opt``)
    C x k x k int16; 1x1 convs, 3x3 depthwise convs with SAME padding, ADD and FULLY_CONNECTED
    none. MEAN runs TFLM's reference kernel.
    """
    c_in = op.in_shape[-1]
    if op.kind == "conv" and op.kernel > 1:
        return 2 * c_in * op.kernel * op.kernel * 2
    if op.kind == "depthwise" and op.kernel != 3:
        return c_in * op.kernel * op.kernel * 2
    return 0


def tflm_planning_bytes(graph: Graph, cost: TflmCost) -> int:
    """Temporary memory TFLM's allocator uses while it plans the activations."""
    return (
        cost.planning_fixed_bytes
        + cost.planning_per_tensor_bytes * len(graph.tensors)
        + sum(cost.planning_op_bytes.get(op.kind, 0) for op in graph.ops)
    )


def plan_tflm(graph: Graph, cost: TflmCost | None = None) -> Plan:
    """TFLM's arena: every tensor its own buffer, greedy placement, persistent state on top.

    When the planner's temporary memory is larger than the planned activations, the difference
    is counted in ``persistent_bytes`` (the arena must hold it, though not for the whole run).
    """
    cost = cost or TflmCost()
    if cost.kernels not in ("reference", "cmsis-nn"):
        raise ValueError(f"unknown TFLM kernels {cost.kernels!r}: expected 'reference' or 'cmsis-nn'")
    scratch: dict[int, int] = {}
    if cost.scratch_bytes or cost.kernels == "cmsis-nn":
        for op in graph.ops:
            b = cost.scratch_bytes.get(op.kind, 0) + (cmsis_nn_scratch_bytes(op) if cost.kernels == "cmsis-nn" else 0)
            if b:
                scratch[op.index] = align_up(b, cost.alignment)
    ts = graph.tensors
    sizes = [align_up(t.bytes, cost.alignment) for t in ts]
    first = [t.first for t in ts]
    last = [t.last for t in ts]
    offsets, _ = greedy_offsets(sizes, first, last, later_first=True)
    p = Plan("tflm", graph, [[t.id] for t in ts], sizes, first, last, offsets, scratch,
             tflm_persistent_bytes(graph, cost))
    shortfall = align_up(tflm_planning_bytes(graph, cost), cost.alignment) - p.activation_bytes
    p.persistent_bytes += max(shortfall, 0)
    return p


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
                scratch[op.index] = align_up(op.out_shape[0] * op.out_shape[1], cost.alignment)
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


_TFLM_COSTS = {k: TflmCost(kernels=k) for k in ("reference", "cmsis-nn")}  # the defaults, built once


def plan(graph: Graph, runtime: str, kernels: str = "reference") -> Plan:
    """The arena plan of ``runtime``; ``kernels`` (TFLM only) adds CMSIS-NN's scratch buffers."""
    if runtime == "tflm":
        cost = _TFLM_COSTS.get(kernels)
        return plan_tflm(graph, cost if cost is not None else TflmCost(kernels=kernels))
    if runtime == "native":
        return plan_native(graph)
    raise ValueError(f"unknown runtime {runtime!r}: expected one of {RUNTIMES}")
