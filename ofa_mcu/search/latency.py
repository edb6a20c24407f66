"""Latency model: cycles per op predicted from the IR, per board.

cycles(op) = cycles_per_mac[kind] * MACs + cycles_per_op[kind]; latency in ms = cycles / clock.
Coefficients come from the board YAML (per runtime) by default, or from a LUT measured by ``ofa-mcu profile
--lut`` (read and checked by :func:`ofa_mcu.profiler.lut.read_lut`), which replaces the kinds it
covers. In QEMU the "cycles" are instruction counts. Op kinds a board's table has no coefficients
for (those of models read from a user's ``.tflite``) are costed like a similar kind
(:data:`KIND_FALLBACK`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ofa_mcu.boards import Board
from ofa_mcu.errors import UserError
from ofa_mcu.ir import Graph
from ofa_mcu.profiler.lut import read_lut

#: op kind without coefficients -> the kind it is costed like (pooling and copies like the global
#: AVERAGE_POOL_2D, per-element ops like ADD)
KIND_FALLBACK = {"mean": "avgpool", "maxpool": "avgpool", "pad": "avgpool", "concat": "avgpool", "softmax": "add",
                 "other": "add"}


@dataclass(frozen=True)
class LatencyModel:
    cycles_per_mac: dict[str, float]
    cycles_per_op: dict[str, float]
    clock_hz: int
    source: str

    def op_cycles(self, kind: str, macs: int) -> float:
        if kind not in self.cycles_per_mac:
            kind = KIND_FALLBACK.get(kind, "add")
        return self.cycles_per_mac[kind] * macs + self.cycles_per_op[kind]

    def cycles(self, graph: Graph) -> float:
        return sum(self.op_cycles(op.kind, op.macs) for op in graph.ops)

    def ms(self, graph: Graph) -> float:
        return 1000.0 * self.cycles(graph) / self.clock_hz


def board_latency(board: Board, runtime: str = "tflm", lut: str | Path | None = None) -> LatencyModel:
    """The board YAML's coefficients for ``runtime`` and the kernels the board builds
    (``runtime.<name>.kernels``, ``--kernels``), with a measured LUT's kinds on top."""
    table = board.latency[runtime]  # type: ignore[index]
    kernels = board.runtime[runtime].kernels if runtime in board.runtime else None  # type: ignore[operator]
    chosen = table.for_kernels(kernels)
    per_mac = dict(chosen.cycles_per_mac)
    per_op = dict(chosen.cycles_per_op)
    source = f"board {board.name} ({runtime}" + (f", {kernels} kernels)" if chosen is not table else ")")
    if lut is not None:
        path = Path(lut)
        data = read_lut(path)  # the LUT's own format check (ofa_mcu.profiler.lut)
        for kind, coef in data["kinds"].items():
            per_mac[kind] = float(coef["cycles_per_mac"])
            per_op[kind] = float(coef["cycles_per_op"])
        lut_board = data.get("board")
        if lut_board and lut_board != board.name:
            raise UserError(f"{path}: LUT was measured on '{lut_board}', not '{board.name}'")
        source = f"LUT {path}"
    return LatencyModel(per_mac, per_op, board.clock_hz, source)
