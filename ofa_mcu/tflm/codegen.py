"""Model sources of a TFLM-runtime firmware project, rendered from ``templates/tflm/``.

:func:`model_sources` turns an int8 ``.tflite`` into the files of the project's ``model/``
folder and the ``extra_context`` that makes :func:`ofa_mcu.firmware.render_project` use the
TFLM CMake template (``templates/tflm/CMakeLists.txt.j2``, which compiles the TFLM tree named
by ``TFLM_DIR``) and write the project's ``README.md``::

    files, ctx = model_sources(tflite, board, meta)
    render_project(board, out_dir, files, runtime="tflm", extra_context=ctx)

The files:

- ``model_data.cc`` / ``model_data.h``: the ``.tflite`` byte for byte as a 16-byte aligned
  const array ``ofa_model_data`` (and ``ofa_model_data_len``). The ``.tflite`` file itself goes to
  the project root as ``model.tflite`` (``render_project(..., extra_files={"model.tflite": ...})``,
  as the compile pipeline does).
- ``model_config.h``: input shape and quantization, output quantization and class count, the
  op counts, and the tensor arena size: the calibrated :func:`ofa_mcu.planner.plan_tflm`
  prediction plus a margin (:func:`arena_size`, documented in the header).
- ``main.cc``: board start-up, a ``MicroMutableOpResolver<N>`` registering exactly the model's
  ops, the interpreter with a profiler that reports each op to the runner, and the serial
  protocol (``firmware/runner``) with per-inference and per-layer cycles, arena bytes used and
  the stack high-water mark.

Pure Python over the parsed flatbuffer (:mod:`ofa_mcu.tflite`); TensorFlow is never imported.
Only a model whose arena cannot be predicted (ops outside the layer IR, no ``arena_bytes`` in
``meta``) is measured on the host TFLM allocator (:mod:`ofa_mcu.tflm.arena`).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ofa_mcu import __version__
from ofa_mcu import ir as irmod
from ofa_mcu.codegen import c_float, render_all
from ofa_mcu.errors import UserError, WorkFailed
from ofa_mcu.planner import TflmCost, align_up, cmsis_nn_request_bytes, greedy_offsets, plan_tflm
from ofa_mcu.tflite import Graph, Op, Tensor, model_subnet, op_kind, parse_tflite, subnet_from_metadata, to_ir
from ofa_mcu.tflm.arena import measure_arena

if TYPE_CHECKING:  # type only: boards reads the runtime registry, which reads this module
    from ofa_mcu.boards import Board

RUNTIME = "tflm"
CMAKE_TEMPLATE = "tflm/CMakeLists.txt.j2"
README_TEMPLATE = "tflm/README.md.j2"
#: model/ file -> template that renders it
MODEL_TEMPLATES = {
    "model_data.h": "tflm/model_data.h.j2",
    "model_data.cc": "tflm/model_data.cc.j2",
    "model_config.h": "tflm/model_config.h.j2",
    "main.cc": "tflm/main.cc.j2",
}
MODEL_FILE = "model.tflite"  # the .tflite at the project root (extra_files of render_project)

#: TFLite builtin op -> the ``MicroMutableOpResolver`` method that registers it (the same name in
#: TFLM trees from 2023 to today).
RESOLVER_METHODS: dict[str, str] = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ARG_MAX": "AddArgMax", "ARG_MIN": "AddArgMin",
    "AVERAGE_POOL_2D": "AddAveragePool2D", "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd", "CAST": "AddCast",
    "CONCATENATION": "AddConcatenation", "CONV_2D": "AddConv2D", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEPTH_TO_SPACE": "AddDepthToSpace", "DEQUANTIZE": "AddDequantize", "DIV": "AddDiv", "ELU": "AddElu",
    "EXP": "AddExp", "EXPAND_DIMS": "AddExpandDims", "FLOOR": "AddFloor", "FULLY_CONNECTED": "AddFullyConnected",
    "GATHER": "AddGather", "HARD_SWISH": "AddHardSwish", "L2_NORMALIZATION": "AddL2Normalization",
    "LEAKY_RELU": "AddLeakyRelu", "LOGISTIC": "AddLogistic", "LOG_SOFTMAX": "AddLogSoftmax",
    "MAXIMUM": "AddMaximum", "MAX_POOL_2D": "AddMaxPool2D", "MEAN": "AddMean", "MINIMUM": "AddMinimum",
    "MIRROR_PAD": "AddMirrorPad", "MUL": "AddMul", "NEG": "AddNeg", "PACK": "AddPack", "PAD": "AddPad",
    "PADV2": "AddPadV2", "PRELU": "AddPrelu", "QUANTIZE": "AddQuantize", "REDUCE_MAX": "AddReduceMax",
    "RELU": "AddRelu", "RELU6": "AddRelu6", "RESHAPE": "AddReshape",
    "RESIZE_BILINEAR": "AddResizeBilinear", "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "RSQRT": "AddRsqrt", "SHAPE": "AddShape", "SOFTMAX": "AddSoftmax", "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "SPACE_TO_DEPTH": "AddSpaceToDepth", "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV", "SQRT": "AddSqrt",
    "SQUARE": "AddSquare", "SQUARED_DIFFERENCE": "AddSquaredDifference", "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice", "SUB": "AddSub", "SUM": "AddSum", "TANH": "AddTanh",
    "TRANSPOSE": "AddTranspose", "TRANSPOSE_CONV": "AddTransposeConv", "UNPACK": "AddUnpack",
}  # fmt: skip

#: Arena margin on top of the prediction: ``max(ARENA_MARGIN_MIN_BYTES, ARENA_MARGIN_FRACTION x
#: prediction)``, capped at the board's ``reserve_sram_bytes``, rounded up to 16 bytes. The
#: prediction is calibrated on the 64-bit host TFLM and is an upper bound for a 32-bit target:
#: on a Cortex-M4 with the February 2023 TFLM tree (QEMU, smallest arena that runs, found by
#: bisection) three models needed 1,648 / 6,176 / 46,944 B where the host said 2,488 (measured) /
#: 7,732 / 49,152 B (plan_tflm). The margin covers TFLM versions whose allocator needs more.
ARENA_MARGIN_MIN_BYTES = 512
ARENA_MARGIN_FRACTION = 0.02
#: CMSIS-NN allocator bookkeeping per scratch buffer (handle, request and planner records) and
#: the extra op data of a CMSIS-NN kernel over the reference one (its scratch buffer index).
CMSIS_NN_PER_SCRATCH_BYTES = 64
CMSIS_NN_PER_OP_BYTES = 16
#: Ops with a CMSIS-NN kernel in TFLM trees.
CMSIS_NN_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "MUL",
                "SOFTMAX", "SVDF", "UNIDIRECTIONAL_SEQUENCE_LSTM")
ALIGN = 16
#: Op kinds whose TFLM arena cost the planner is calibrated for on many models (our exports); a
#: model with other ops gets the host TFLM allocator's measurement instead of the prediction.
CALIBRATED_KINDS = ("conv", "pointwise", "depthwise", "add", "mean", "avgpool", "fc", "softmax")


def _align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


# ------------------------------------------------------------------------------------------
# the model


@dataclass(frozen=True)
class TensorInfo:
    """An int8 graph input or output: shape, bytes and per-tensor quantization."""

    shape: tuple[int, ...]
    dtype: str
    bytes: int
    scale: float
    zero_point: int

    @property
    def scale_literal(self) -> str:
        """The float32 scale as a C float literal that reads back to the same float32."""
        return c_float(self.scale, "g")

    @property
    def layout(self) -> str:
        return "NHWC" if len(self.shape) == 4 else "-".join(["D"] * len(self.shape))

    @property
    def dims(self) -> list[tuple[str, int]]:
        """Named dimensions for ``model_config.h`` (BATCH/HEIGHT/WIDTH/CHANNELS for NHWC)."""
        names = ("BATCH", "HEIGHT", "WIDTH", "CHANNELS") if len(self.shape) == 4 else ()
        return list(zip(names, self.shape))

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype, "bytes": self.bytes, "scale": self.scale,
                "zero_point": self.zero_point}


@dataclass(frozen=True)
class Layer:
    """One op in execution order as the firmware's profiler reports it."""

    index: int
    op: str  # TFLite builtin name (TFLM's profiler tag)
    kind: str  # ofa-mcu op kind
    name: str | None  # layer name from the layer IR, when known
    macs: int
    cmsis_nn_scratch: int  # scratch bytes the CMSIS-NN kernel requests (0: none)


@dataclass(frozen=True)
class TflmModel:
    """What the templates need to know about one ``.tflite``."""

    data: bytes
    graph: Graph
    input: TensorInfo
    output: TensorInfo
    layers: tuple[Layer, ...]
    ir: Any = None  # ofa_mcu.ir.Graph of the model, when known

    @property
    def bytes(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def classes(self) -> int:
        return self.output.shape[-1] if self.output.shape else 1

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def ops(self) -> list[dict[str, str]]:
        """The distinct builtin ops in first-use order, each with its resolver method."""
        return [{"op": op, "method": RESOLVER_METHODS[op]} for op in dict.fromkeys(x.op for x in self.layers)]


def _tensor_info(graph: Graph, index: int, what: str, origin: str) -> TensorInfo:
    t = graph.tensors[index]
    if t.dtype != "int8":
        raise UserError(f"{origin}: the {what} tensor {t.name!r} is {t.dtype}; the TFLM firmware needs an int8 "
                        "model (full-integer quantization with int8 input and output)")
    if t.scale.size != 1 or t.zero_point.size != 1:
        raise UserError(f"{origin}: the {what} tensor {t.name!r} has no per-tensor quantization")
    return TensorInfo(tuple(int(d) for d in t.shape), t.dtype, int(t.nbytes), float(t.qscale), int(t.qzero))


def _weights(graph: Graph, op: Op) -> Tensor | None:
    if len(op.inputs) > 1 and op.inputs[1] >= 0 and graph.tensors[op.inputs[1]].is_constant:
        return graph.tensors[op.inputs[1]]
    return None


def _layer(graph: Graph, op: Op) -> Layer:
    """Kind (the layer IR's; ops outside the IR report their lower-case TFLite name), MACs and
    the CMSIS-NN scratch request (:func:`ofa_mcu.planner.cmsis_nn_request_bytes`) of one op."""
    out = graph.tensors[op.outputs[0]] if op.outputs else None
    x = graph.tensors[op.inputs[0]] if op.inputs and op.inputs[0] >= 0 else None
    out_elems = out.size if out is not None else 0
    w = _weights(graph, op)
    kind = op_kind(graph, op) if op.opcode != "CONV_2D" or w is not None else None
    kind = kind or op.opcode.lower()
    macs = 0
    if op.opcode == "CONV_2D" and w is not None and len(w.shape) == 4:
        _, kh, kw, i = w.shape
        macs = out_elems * kh * kw * i
    elif op.opcode == "DEPTHWISE_CONV_2D" and w is not None and len(w.shape) == 4:
        _, kh, kw, _ = w.shape
        macs = out_elems * kh * kw
    elif op.opcode == "FULLY_CONNECTED" and w is not None and len(w.shape) == 2:
        macs = out_elems * w.shape[1]
    elif op.opcode == "AVERAGE_POOL_2D" and out is not None:
        macs = out_elems * int(op.options.get("filter_height", 1)) * int(op.options.get("filter_width", 1))
    elif op.opcode in ("ADD", "MEAN") and x is not None:
        macs = x.size
    fast_1x1 = (w is not None and len(w.shape) == 4 and w.shape[1] == w.shape[2] == 1
                and op.options.get("stride_h", 1) == op.options.get("stride_w", 1) == 1
                and op.options.get("dilation_h_factor", 1) == op.options.get("dilation_w_factor", 1) == 1)
    scratch = cmsis_nn_request_bytes(
        op.opcode, tuple(w.shape) if w is not None else (), int(x.shape[-1]) if x is not None and x.shape else 0,
        int(out.shape[-1]) if out is not None and out.shape else 1, fast_1x1)
    return Layer(op.index, op.opcode, kind, None, int(macs), int(scratch))


def _ir_from_metadata(data: bytes, meta: Mapping[str, Any], origin: str) -> tuple[irmod.Graph, str] | None:
    """The layer IR of an exported model: from ``meta`` (space_spec/space + subnet) or from the
    ofa-mcu metadata inside the ``.tflite``; None when neither is there or usable."""
    candidates: list[tuple[str, Any]] = []
    space = meta.get("space_spec", meta.get("space"))
    if isinstance(space, Mapping) and isinstance(meta.get("subnet"), Mapping):
        candidates.append(("meta", {"space": dict(space), "subnet": dict(meta["subnet"])}))
    candidates.append(("the .tflite's ofa-mcu metadata", None))
    for source, given in candidates:
        try:
            found = subnet_from_metadata(given, source) if given is not None else model_subnet(data, origin)
        except UserError:  # unusable here: the other source, or the graph itself, remains
            continue
        if found is not None:
            return irmod.build_graph(*found), source
    return None


def _ir_from_tflite(graph: Graph) -> irmod.Graph | None:
    """The layer IR of the ``.tflite`` graph itself (:func:`ofa_mcu.tflite.to_ir`) when TFLM's
    arena can be predicted from it: every op is an IR op of a kind the TFLM cost model is
    calibrated for (:data:`CALIBRATED_KINDS`) or a RESHAPE (an IR view); else None."""
    try:
        mapping = to_ir(graph)
    except UserError:
        return None
    if any(op.kind not in CALIBRATED_KINDS for op in mapping.graph.ops):
        return None
    return mapping.graph


def check_model(graph: Graph, origin: str = "model") -> None:
    """``UserError`` (one line) for a model the TFLM firmware cannot run: not one input and one
    output, no ops, an op with no resolver method, an input or output that is not int8."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UserError(f"{origin}: the TFLM firmware runs models with one input and one output tensor, "
                        f"this one has {len(graph.inputs)} and {len(graph.outputs)}")
    if not graph.ops:
        raise UserError(f"{origin}: the model has no ops")
    unknown = sorted({op.opcode for op in graph.ops} - set(RESOLVER_METHODS))
    if unknown:
        raise UserError(f"{origin}: no MicroMutableOpResolver method known for op(s) {', '.join(unknown)}")
    _tensor_info(graph, graph.inputs[0], "input", origin)
    _tensor_info(graph, graph.outputs[0], "output", origin)


def describe_model(data: bytes, meta: Mapping[str, Any] | None = None, origin: str = "model") -> TflmModel:
    """Parse ``data`` (a ``.tflite``) into what the templates need; ``UserError`` for a model the
    TFLM firmware cannot run (:func:`check_model`)."""
    meta = meta or {}
    graph = parse_tflite(data, origin=origin)
    check_model(graph, origin)
    layers = [_layer(graph, op) for op in graph.ops]
    found = _ir_from_metadata(data, meta, origin)
    ir = found[0] if found else None
    if ir is not None and [op.tflite_op for op in ir.ops] == [layer.op for layer in layers]:
        layers = [Layer(x.index, x.op, x.kind, op.name, x.macs, x.cmsis_nn_scratch) for x, op in zip(layers, ir.ops)]
    else:
        ir = None
    return TflmModel(data=bytes(data), graph=graph, input=_tensor_info(graph, graph.inputs[0], "input", origin),
                     output=_tensor_info(graph, graph.outputs[0], "output", origin), layers=tuple(layers), ir=ir)


# ------------------------------------------------------------------------------------------
# the arena


@dataclass(frozen=True)
class ArenaSize:
    """The tensor arena the firmware reserves, and where the figures come from."""

    predicted: int  # bytes TFLM needs with reference kernels (prediction or given)
    margin: int
    margin_rule: str
    source: str  # how ``predicted`` was obtained
    cmsis_nn_scratch: int  # extra bytes with CMSIS-NN kernels
    cmsis_nn_scratch_note: str
    activation_bytes: int | None = None
    persistent_bytes: int | None = None

    @property
    def bytes_reference(self) -> int:
        return _align(self.predicted + self.margin)

    @property
    def bytes_cmsis_nn(self) -> int:
        return _align(self.predicted + self.margin + self.cmsis_nn_scratch)

    def to_dict(self) -> dict[str, Any]:
        return {"predicted": self.predicted, "margin": self.margin, "margin_rule": self.margin_rule,
                "source": self.source, "cmsis_nn_scratch": self.cmsis_nn_scratch,
                "bytes_reference": self.bytes_reference, "bytes_cmsis_nn": self.bytes_cmsis_nn,
                "activation_bytes": self.activation_bytes, "persistent_bytes": self.persistent_bytes}


def _cmsis_nn_extra(model: TflmModel, ir: Any) -> tuple[int, str]:
    """Extra arena bytes with the CMSIS-NN kernels: their scratch buffers, planned like TFLM plans
    them (a buffer alive during its op only, placed by the greedy planner among the activations)
    when the layer IR is known, else the largest one on top; plus allocator bookkeeping per
    buffer and the larger op data of the optimized kernels."""
    scratch = [x for x in model.layers if x.cmsis_nn_scratch > 0]
    if not scratch:
        return 0, "none for this model"
    big = max(scratch, key=lambda x: x.cmsis_nn_scratch)
    optimized = [x for x in model.layers if x.op in CMSIS_NN_OPS]
    bookkeeping = CMSIS_NN_PER_SCRATCH_BYTES * len(scratch) + CMSIS_NN_PER_OP_BYTES * len(optimized)
    if ir is not None and len(ir.ops) == len(model.layers):
        sizes = [align_up(t.bytes, ALIGN) for t in ir.tensors]
        first = [t.first for t in ir.tensors]
        last = [t.last for t in ir.tensors]
        _, base = greedy_offsets(sizes, first, last, later_first=True)
        _, planned = greedy_offsets(sizes + [align_up(x.cmsis_nn_scratch, ALIGN) for x in scratch],
                                    first + [x.index for x in scratch], last + [x.index for x in scratch],
                                    later_first=True)
        how = f"{len(scratch)} scratch buffers (largest {big.cmsis_nn_scratch} B, layer {big.index}, {big.op}) " \
              f"planned among the activations: +{planned - base} B"
        extra = planned - base
    else:
        how = f"the largest of {len(scratch)} scratch buffers ({big.cmsis_nn_scratch} B, layer {big.index}, {big.op})"
        extra = align_up(big.cmsis_nn_scratch, ALIGN)
    note = (f"the February 2023 CMSIS-NN rules (+{_align(extra + bookkeeping)} B: {how}; "
            f"{CMSIS_NN_PER_SCRATCH_BYTES} B bookkeeping per buffer and {CMSIS_NN_PER_OP_BYTES} B op data for "
            f"each of {len(optimized)} optimized ops)")
    return _align(extra + bookkeeping), note


def arena_size(model: TflmModel, meta: Mapping[str, Any] | None = None, board: Board | None = None) -> ArenaSize:
    """The arena for ``model``: ``meta["arena_bytes"]`` when given, else the calibrated
    :func:`~ofa_mcu.planner.plan_tflm` prediction over the layer IR (from ``meta`` / the
    ``.tflite``'s metadata, or built from the ``.tflite`` graph), else (ops outside the IR) the
    host TFLM measurement. Plus a margin: ``meta["arena_margin_bytes"]``, or
    ``max(ARENA_MARGIN_MIN_BYTES, ARENA_MARGIN_FRACTION x prediction)`` capped at the board's
    ``reserve_sram_bytes`` (so that a model the search fitted into the board's usable SRAM links)."""
    meta = meta or {}
    act = pers = None
    planner_cmsis = None  # plan_tflm's own CMSIS-NN figure (kernels="cmsis-nn")
    ir = model.ir
    if meta.get("arena_bytes") is not None:
        predicted, source = int(meta["arena_bytes"]), "given (meta arena_bytes)"
        ir = ir if ir is not None else _ir_from_tflite(model.graph)
    else:
        source = "plan_tflm over the layer IR of the exported subnet"
        if ir is None:
            ir, source = _ir_from_tflite(model.graph), "plan_tflm over the .tflite graph"
        if ir is not None:
            plan = plan_tflm(ir, TflmCost(kernels="reference"))
            predicted, act, pers = plan.peak_bytes, plan.activation_bytes, plan.persistent_bytes
            planner_cmsis = plan_tflm(ir, TflmCost(kernels="cmsis-nn")).peak_bytes
            source += f" (activations {act} B + persistent {pers} B, calibrated on the 64-bit host TFLM)"
        else:
            try:
                predicted = measure_arena(model.data).min_arena_bytes
            except (ImportError, WorkFailed) as e:
                ops = sorted({x.op for x in model.layers} - {irmod.TFLITE_OP[k] for k in CALIBRATED_KINDS}
                             - {"RESHAPE"})
                raise UserError(f"cannot size the TFLM arena: op(s) {', '.join(ops)} are outside the layer IR "
                                f"and the host TFLM measurement failed ({e}); give meta['arena_bytes']") from None
            source = "measured on the 64-bit host TFLM allocator (ops outside the layer IR)"
    if predicted <= 0:
        raise UserError(f"arena size must be positive, got {predicted}")
    if meta.get("arena_margin_bytes") is not None:
        margin, rule = _align(int(meta["arena_margin_bytes"])), "given (meta arena_margin_bytes)"
    else:
        margin = _align(max(ARENA_MARGIN_MIN_BYTES, math.ceil(ARENA_MARGIN_FRACTION * predicted)))
        rule = f"max({ARENA_MARGIN_MIN_BYTES} B, {ARENA_MARGIN_FRACTION:.0%} of the prediction)"
        reserve = board.memory.reserve_sram_bytes if board is not None else 0
        if reserve >= ARENA_MARGIN_MIN_BYTES and margin > reserve:
            margin = reserve // ALIGN * ALIGN
            rule += f", capped at the board's reserve_sram_bytes ({reserve} B)"
        rule += f", rounded up to {ALIGN} B"
    scratch, note = _cmsis_nn_extra(model, ir)
    if planner_cmsis is not None:
        # The search budgets CMSIS-NN boards with plan_tflm(kernels="cmsis-nn"); reserve at least that.
        extra = _align(planner_cmsis - predicted)
        note = f"the larger of plan_tflm(kernels='cmsis-nn') (+{extra} B) and {note}"
        scratch = max(scratch, extra)
    return ArenaSize(predicted, margin, rule, source, scratch, note, act, pers)


# ------------------------------------------------------------------------------------------
# rendering


def _model_name(meta: Mapping[str, Any], data: bytes) -> str:
    name = meta.get("model_name") or meta.get("name")
    if not name and meta.get("subnet_hash"):
        name = f"subnet-{str(meta['subnet_hash'])[:12]}"
    name = str(name or f"model-{hashlib.sha256(data).hexdigest()[:12]}")
    if not re.fullmatch(r"[A-Za-z0-9_.+-]{1,64}", name):
        raise UserError(f"model name {name!r}: expected 1-64 letters, digits, '_', '.', '+' or '-'")
    return name


def _accuracy(meta: Mapping[str, Any]) -> dict[str, float]:
    acc = meta.get("accuracy")
    if isinstance(acc, Mapping):
        return {k: float(v) for k, v in acc.items() if k in ("int8", "float") and isinstance(v, int | float)}
    if isinstance(acc, int | float):
        return {"int8": float(acc)}
    return {}


def _summary(model: TflmModel, arena: ArenaSize, board: Board, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Model facts for the README (from ``meta`` where it has them)."""
    code = board.runtime[RUNTIME].code_bytes if RUNTIME in board.runtime else None
    static = board.runtime[RUNTIME].static_bytes if RUNTIME in board.runtime else None
    sram = meta.get("sram_bytes", meta.get("peak_sram_bytes"))
    flash = meta.get("flash_bytes")
    return {
        "accuracy": _accuracy(meta),
        "sram_bytes": int(sram) if sram is not None else None,
        "flash_bytes": int(flash) if flash is not None else (len(model.data) + code if code is not None else None),
        "runtime_code_bytes": code,
        "runtime_static_bytes": static,
        "usable_sram": board.usable_sram(RUNTIME) if RUNTIME in board.runtime else None,
        "usable_flash": board.usable_flash(RUNTIME) if RUNTIME in board.runtime else None,
        "space": meta.get("space") if isinstance(meta.get("space"), str) else None,
        "subnet": meta.get("subnet") if isinstance(meta.get("subnet"), Mapping) else None,
        "subnet_hash": meta.get("subnet_hash"),
    }


def model_sources(tflite_bytes: bytes, board: Board, meta: Mapping[str, Any] | None = None,
                  ) -> tuple[dict[str, str], dict[str, Any]]:
    """The ``model/`` files of a TFLM firmware project and the ``extra_context`` for
    :func:`~ofa_mcu.firmware.render_project` (``runtime="tflm"``).

    ``meta`` (all keys optional; the ``export`` report JSON fits): ``model_name`` / ``name``;
    ``accuracy`` (a fraction, or ``{"int8": .., "float": ..}``); ``sram_bytes`` /
    ``peak_sram_bytes`` and ``flash_bytes`` (the analysis' predicted totals); ``space_spec`` /
    ``space`` and ``subnet`` (the layer IR, also read from the ``.tflite``'s own metadata);
    ``subnet_hash``; ``arena_bytes`` (use instead of the prediction) and ``arena_margin_bytes``.

    Returns ``({"model_data.cc", "model_data.h", "model_config.h", "main.cc": text},
    extra_context)``; ``extra_context`` names the TFLM CMake and README templates and carries the
    model facts they render (key ``tflm``). Keep the ``.tflite`` beside them as ``model.tflite``
    at the project root (``extra_files``).
    """
    meta = dict(meta or {})
    data = bytes(tflite_bytes)
    name = _model_name(meta, data)
    model = describe_model(data, meta, origin=name)
    arena = arena_size(model, meta, board)
    header = [
        f"Generated by ofa-mcu {__version__} for board {board.name} ({board.mcu}, {board.core}),",
        f"model {name}, runtime tflm.",
        "Do not edit: re-render the project instead.",
    ]
    mem = board.memory
    ctx = {
        "header_lines": header,
        "model_name": name,
        "board": board,
        "memory": {"arena_region": mem.arena_region},
        "model": model,
        "arena": arena,
    }
    files = render_all(MODEL_TEMPLATES.items(), ctx, "the TFLM model sources")
    extra_context: dict[str, Any] = {
        "cmake_template": CMAKE_TEMPLATE,
        "readme_template": README_TEMPLATE,
        "model_name": name,
        "cxx": True,
        "tflm": {
            "model": model,
            "arena": arena,
            "summary": _summary(model, arena, board, meta),
            "ops": model.ops,
        },
    }
    return files, extra_context
