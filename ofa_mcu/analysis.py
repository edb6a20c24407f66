"""Per-layer SRAM / flash / MACs analysis of a subnet against a board's budgets.

Reads only the layer IR (no torch, no TensorFlow): the chosen runtime (``ofa_mcu.runtimes``)
gives the peak SRAM (its planner) and the bytes the model takes in flash (its flash model:
weights, biases, quantization parameters, container overhead), to which the board's figure for
the runtime's code size is added.
"""

from __future__ import annotations

from dataclasses import dataclass

from ofa_mcu.boards import Board
from ofa_mcu.config import SubnetConfig
from ofa_mcu.ir import Graph, build_graph
from ofa_mcu.planner import Plan
from ofa_mcu.runtimes import get_runtime
from ofa_mcu.space import SearchSpace


def model_flash_bytes(graph: Graph, runtime: str) -> int:
    """Bytes the model takes in flash with ``runtime`` (its flash model), without the runtime's code."""
    return get_runtime(runtime).flash_bytes(graph)


def input_copy_bytes(graph: Graph) -> int:
    """The serial runner keeps the loaded input outside the arena (both runtimes refill the input
    tensor from it before every inference, because the planner reuses the input buffer)."""
    return graph.tensors[graph.input].bytes


def sram_bytes(graph: Graph, p: Plan) -> int:
    """SRAM the model needs beyond the runtime's static data and stack: arena + input copy."""
    return p.peak_bytes + input_copy_bytes(graph)


@dataclass
class Budget:
    used: int
    limit: int

    @property
    def fits(self) -> bool:
        return self.used <= self.limit

    @property
    def margin(self) -> int:
        return self.limit - self.used

    @property
    def margin_pct(self) -> float:
        return 100.0 * self.margin / self.limit if self.limit else float("-inf")

    def to_dict(self) -> dict:
        return {"used": self.used, "limit": self.limit, "fits": self.fits,
                "margin_bytes": self.margin, "margin_pct": round(self.margin_pct, 2)}


@dataclass
class Analysis:
    graph: Graph
    plan: Plan
    runtime: str
    model_flash_bytes: int
    code_bytes: int
    board: Board | None = None
    sram: Budget | None = None
    flash: Budget | None = None

    @property
    def peak_sram_bytes(self) -> int:
        return sram_bytes(self.graph, self.plan)

    @property
    def flash_bytes(self) -> int:
        return self.model_flash_bytes + self.code_bytes

    @property
    def fits(self) -> bool | None:
        if self.sram is None or self.flash is None:
            return None
        return self.sram.fits and self.flash.fits

    def layers(self) -> list[dict]:
        peak = self.plan.peak_op
        rows = []
        for op, mem in zip(self.graph.ops, self.plan.per_op):
            rows.append({
                "index": op.index, "name": op.name, "kind": op.kind, "tflite_op": op.tflite_op,
                "in_shape": list(op.in_shape), "out_shape": list(op.out_shape),
                "kernel": op.kernel, "stride": op.stride, "macs": op.macs, "params": op.params,
                "weight_bytes": op.weight_bytes, "bias_bytes": op.bias_bytes,
                "live_bytes": mem.live_bytes, "sram_bytes": mem.total_bytes + input_copy_bytes(self.graph),
                "peak": op.index == peak,
            })
        return rows

    def to_dict(self) -> dict:
        g = self.graph
        return {
            "space": g.space.name if g.space is not None else None,
            "subnet": g.config.to_dict() if g.config is not None else None,
            "subnet_hash": g.config.stable_hash() if g.config is not None else None,
            "runtime": self.runtime,
            "board": self.board.name if self.board else None,
            "macs": g.macs,
            "params": g.params,
            "weight_bytes": g.weight_bytes,
            "peak_sram_bytes": self.peak_sram_bytes,
            "activation_bytes": self.plan.activation_bytes,
            "persistent_bytes": self.plan.persistent_bytes,
            "input_copy_bytes": input_copy_bytes(g),
            "peak_layer": g.ops[self.plan.peak_op].name,
            "model_flash_bytes": self.model_flash_bytes,
            "code_bytes": self.code_bytes,
            "flash_bytes": self.flash_bytes,
            "sram_budget": self.sram.to_dict() if self.sram else None,
            "flash_budget": self.flash.to_dict() if self.flash else None,
            "fits": self.fits,
            "layers": self.layers(),
        }


def analyze(space: SearchSpace, cfg: SubnetConfig, board: Board | None = None, runtime: str = "tflm",
            sram_limit: int | None = None, flash_limit: int | None = None) -> Analysis:
    """Analyse ``cfg``; with a board, compare against its usable SRAM and flash.

    ``sram_limit`` / ``flash_limit`` (bytes) override the board's usable figures; the flash
    limit applies to model + runtime code.
    """
    return analyze_graph(build_graph(space, cfg.validate(space)), board, runtime, sram_limit, flash_limit)


def analyze_graph(graph: Graph, board: Board | None = None, runtime: str = "tflm", sram_limit: int | None = None,
                  flash_limit: int | None = None) -> Analysis:
    """:func:`analyze` of a layer IR (e.g. of a ``.tflite`` read with :func:`ofa_mcu.tflite.to_ir`)."""
    rt = get_runtime(runtime)
    p = rt.plan(graph, board.runtime[runtime].kernels if board else "reference")
    mflash = rt.flash_bytes(graph)
    code = board.runtime[runtime].code_bytes if board else 0
    a = Analysis(graph, p, runtime, mflash, code, board)
    if board is not None or sram_limit is not None:
        a.sram = Budget(sram_bytes(graph, p), sram_limit if sram_limit is not None else board.usable_sram(runtime))
    if board is not None or flash_limit is not None:
        limit = flash_limit if flash_limit is not None else board.usable_flash(runtime) + code
        a.flash = Budget(a.flash_bytes, limit)
    return a
