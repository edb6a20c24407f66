"""Per-layer SRAM / flash / MACs analysis of a subnet against a board's budgets.

Reads only the layer IR (no torch, no TensorFlow): the planner of the chosen runtime gives the
peak SRAM, the flash model gives the bytes the model takes in flash (weights, biases,
quantization parameters, container overhead) to which the runtime's code size is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ofa_mcu.boards import Board
from ofa_mcu.config import SubnetConfig
from ofa_mcu.ir import Graph, build_graph
from ofa_mcu.planner import Plan, plan
from ofa_mcu.space import SearchSpace


@dataclass(frozen=True)
class FlashCost:
    """Bytes a model takes in flash beyond its int8 weights and int32 biases, per runtime.

    tflm: the flatbuffer stores per-channel float32 scales and int64 zero points for weights and
    biases (24 B per channel), plus per-tensor and per-operator tables (a conv op also brings its
    weight and bias tensors) and a fixed part (header, op codes, signature, the converter's and
    ofa-mcu's metadata). Calibrated against exported ``.tflite`` sizes (``benchmarks/
    export_arena.py``): an upper bound, 0.01-0.4% above the real file on random subnets of both
    shipped spaces.
    native: an int32 multiplier and an int32 shift per channel, a few words per op.
    """

    per_channel: dict[str, int] = field(default_factory=lambda: {"tflm": 24, "native": 8})
    per_tensor: dict[str, int] = field(default_factory=lambda: {"tflm": 96, "native": 0})
    per_op: dict[str, int] = field(default_factory=lambda: {"tflm": 300, "native": 16})
    fixed: dict[str, int] = field(default_factory=lambda: {"tflm": 2048, "native": 64})


def model_flash_bytes(graph: Graph, runtime: str, cost: FlashCost | None = None) -> int:
    cost = cost or FlashCost()
    channels = sum(op.quant_channels for op in graph.ops)
    return (
        graph.weight_bytes
        + graph.bias_bytes
        + cost.per_channel[runtime] * channels
        + cost.per_tensor[runtime] * len(graph.tensors)
        + cost.per_op[runtime] * len(graph.ops)
        + cost.fixed[runtime]
    )


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
            "space": g.space.name,
            "subnet": g.config.to_dict(),
            "subnet_hash": g.config.stable_hash(),
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
    graph = build_graph(space, cfg.validate(space))
    p = plan(graph, runtime, board.runtime[runtime].kernels if board else "reference")
    mflash = model_flash_bytes(graph, runtime)
    code = board.runtime[runtime].code_bytes if board else 0
    a = Analysis(graph, p, runtime, mflash, code, board)
    if board is not None or sram_limit is not None:
        a.sram = Budget(sram_bytes(graph, p), sram_limit if sram_limit is not None else board.usable_sram(runtime))
    if board is not None or flash_limit is not None:
        limit = flash_limit if flash_limit is not None else board.usable_flash(runtime) + code
        a.flash = Budget(a.flash_bytes, limit)
    return a
