"""Arena planning machinery shared by the runtimes' planners.

``greedy_offsets`` is TFLM's greedy placement (buffers sorted by size, largest first, equal sizes
optionally the later buffer first; each placed at the lowest offset that does not collide with
an already placed buffer alive at the same time). ``Plan`` is a planner's result: buffers
(groups of tensors sharing memory) with offsets, sizes and lifetimes, per-op figures (live bytes,
planned extent) and the op that sets the peak. The runtime-specific rules (what shares a buffer,
which scratch an op needs, what the runtime keeps in the arena) are in ``planner.tflm`` and
``planner.native``. Pure Python over small lists: the searcher calls this thousands of times
per second.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field

from ofa_mcu.ir import Graph


def align_up(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


def live_peak(sizes: list[int], first: list[int], last: list[int]) -> int:
    """The most bytes of buffers alive at one op: no placement can have a smaller extent."""
    if not sizes:
        return 0
    alive = [0] * (max(last) + 1)
    for size, fi, li in zip(sizes, first, last):
        for i in range(fi, li + 1):
            alive[i] += size
    return max(alive)


def greedy_offsets(sizes: list[int], first: list[int], last: list[int],
                   later_first: bool = False, order: list[int] | None = None) -> tuple[list[int], int]:
    """Place buffers largest first at the lowest non-colliding offset; return (offsets, extent).

    Buffers ``a`` and ``b`` collide when their lifetimes [first, last] overlap. Ties in size keep
    the earlier buffer first, or with ``later_first`` the later one, as TFLM does: its
    ``GreedyMemoryPlanner`` fills the array it sorts from the end (last buffer first) and then
    sorts it by size with a stable bubble sort. ``order``: place the buffers in this order instead.
    """
    n = len(sizes)
    # largest first; Python's sort is stable (also with reverse=True), so ties keep the order of
    # the indices given: ascending, or descending for later_first
    if order is None:
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
    # native: conv op index -> the ADD op right after it; the conv adds its result into the ADD's
    # other input (the conv's output tensor has no buffer of its own: size 0)
    fused_add: dict[int, int] = field(default_factory=dict)

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
