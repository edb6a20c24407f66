"""Layer IR: the int8 graph a subnet becomes on the device, built without torch or TensorFlow.

``build_graph(space, cfg)`` lists the ops in execution order exactly as the exported TFLite
model has them (CONV_2D, DEPTHWISE_CONV_2D, CONV_2D 1x1, ADD, AVERAGE_POOL_2D over the whole
feature map, FULLY_CONNECTED, SOFTMAX) with
tensor shapes (NHWC, batch 1 omitted), int8 weight bytes, int32 bias bytes, the number of
per-channel quantization parameters, MACs, trainable float parameters (as torch counts them:
conv weights + BatchNorm scale and shift, or linear weight + bias) and tensor lifetimes.
Analysis (SRAM, flash, MACs, latency) reads only this. A ``.tflite`` becomes the same IR through
:func:`ofa_mcu.tflite.to_ir`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ofa_mcu.config import SubnetConfig
from ofa_mcu.padding import same_out
from ofa_mcu.space import SearchSpace

#: Op kinds of the IR. ``build_graph`` emits conv, depthwise, pointwise, add, ``avgpool`` (the
#: global pooling: AVERAGE_POOL_2D over the whole feature map, whose int8 rounding is the same in
#: every TFLM version and in CMSIS-NN, unlike MEAN's), fc and ``softmax`` (SOFTMAX, one "MAC" per
#: element: an exported subnet ends in it, as the MLPerf Tiny models do, when it has at most
#: :data:`SOFTMAX_MAX_CLASSES` classes); the others come from models read with
#: :func:`ofa_mcu.tflite.to_ir` (MEAN, MAX_POOL_2D, PAD, CONCATENATION), and ``other``
#: stands for any op outside the IR when a model is read for a runtime that runs every op (its
#: TFLite name is the op's ``opcode``).
OP_KINDS = ("conv", "depthwise", "pointwise", "add", "mean", "fc", "avgpool", "maxpool", "pad", "concat", "softmax",
            "other")
#: Most classes an exported subnet ends in SOFTMAX for. TFLM's int8 softmax sums exponentials in
#: Q12.19: a row of 512 or more values can reach 2^28, where its rounding shift exceeds 31 bits
#: (the host tflite_micro package aborts on gemmlowp's assertion, a Cortex-M build shifts out of
#: range), and int8 probabilities in steps of 1/256 cannot hold that many classes anyway. Larger
#: heads (mcu-imagenet's 1000 classes) keep their logits as the output.
SOFTMAX_MAX_CLASSES = 511
TFLITE_OP = {
    "conv": "CONV_2D",
    "pointwise": "CONV_2D",
    "depthwise": "DEPTHWISE_CONV_2D",
    "add": "ADD",
    "mean": "MEAN",
    "fc": "FULLY_CONNECTED",
    "avgpool": "AVERAGE_POOL_2D",
    "maxpool": "MAX_POOL_2D",
    "pad": "PAD",
    "concat": "CONCATENATION",
    "softmax": "SOFTMAX",
}


@dataclass(slots=True)
class Tensor:
    id: int
    name: str
    shape: tuple[int, ...]
    first: int = 0  # index of the op that writes it (0 for the graph input)
    last: int = 0  # index of the last op that reads it (the last op for the graph output)
    bytes: int = field(init=False)  # int8 elements = bytes (the shape never changes)

    def __post_init__(self) -> None:
        n = 1
        for d in self.shape:
            n *= d
        self.bytes = n


@dataclass(slots=True)
class Op:
    index: int
    name: str
    kind: str
    inputs: tuple[int, ...]
    output: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    kernel: int = 1
    stride: int = 1
    relu6: bool = False
    weight_bytes: int = 0  # int8 weights
    bias_bytes: int = 0  # int32 biases
    quant_channels: int = 0  # per-channel (scale, zero point) entries of the weights
    macs: int = 0
    params: int = 0  # trainable float parameters of the torch layers this op comes from
    opcode: str = ""  # the TFLite builtin of an ``other`` op (the others have one per kind)

    @property
    def tflite_op(self) -> str:
        return self.opcode or TFLITE_OP[self.kind]

    @property
    def out_channels(self) -> int:
        return self.out_shape[-1]


@dataclass(slots=True, frozen=True)
class View:
    """A RESHAPE: no IR op (its output is its source's IR tensor for every reader), but TFLM runs
    it as a node with an output buffer of its own, so its TFLM planner needs where it runs and who
    reads it.

    ``after``: the index of the IR op it runs after (-1: before the first). ``source``: the IR
    tensor it reshapes; ``source_view``: the view it reshapes instead (a RESHAPE of a RESHAPE),
    else None. ``readers``: the IR ops that read its output directly (the graph output counts as
    ``len(ops)``).
    """

    after: int
    source: int
    source_view: int | None
    readers: tuple[int, ...]


@dataclass(slots=True)
class Graph:
    space: SearchSpace
    config: SubnetConfig
    ops: list[Op] = field(default_factory=list)
    tensors: list[Tensor] = field(default_factory=list)
    input: int = 0
    output: int = 0
    views: list[View] = field(default_factory=list)  # RESHAPEs, in execution order

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def params(self) -> int:
        return sum(op.params for op in self.ops)

    @property
    def weight_bytes(self) -> int:
        return sum(op.weight_bytes for op in self.ops)

    @property
    def bias_bytes(self) -> int:
        return sum(op.bias_bytes for op in self.ops)


class _Builder:
    def __init__(self, space: SearchSpace, cfg: SubnetConfig) -> None:
        self.g = Graph(space, cfg)
        self.tensors, self.ops = self.g.tensors, self.g.ops  # the hot path appends to these

    def tensor(self, name: str, shape: tuple[int, ...]) -> int:
        tid = len(self.tensors)
        self.tensors.append(Tensor(tid, name, shape, len(self.ops)))
        return tid

    def _op(self, name: str, kind: str, inputs: tuple[int, ...], out_shape: tuple[int, ...], kernel: int = 1,
            stride: int = 1, relu6: bool = False, weight_bytes: int = 0, bias_bytes: int = 0,
            quant_channels: int = 0, macs: int = 0, params: int = 0) -> int:
        index = len(self.ops)
        tensors = self.tensors
        for t in inputs:
            tensors[t].last = index
        out = len(tensors)
        tensors.append(Tensor(out, name, out_shape, index))
        self.ops.append(Op(index, name, kind, inputs, out, tensors[inputs[0]].shape, out_shape, kernel, stride,
                           relu6, weight_bytes, bias_bytes, quant_channels, macs, params))
        return out

    def conv(self, name: str, x: int, out_ch: int, kernel: int, stride: int, relu6: bool,
             depthwise: bool = False) -> int:
        h, w, c = self.tensors[x].shape
        oh, ow = same_out(h, stride), same_out(w, stride)
        if depthwise:
            kind, weights, out_ch = "depthwise", c * kernel * kernel, c
        else:
            kind = "pointwise" if kernel == 1 else "conv"
            weights = out_ch * c * kernel * kernel
        return self._op(name, kind, (x,), (oh, ow, out_ch), kernel=kernel, stride=stride, relu6=relu6,
                        weight_bytes=weights, bias_bytes=4 * out_ch, quant_channels=out_ch,
                        macs=oh * ow * weights, params=weights + 2 * out_ch)

    def add(self, name: str, a: int, b: int) -> int:
        t = self.tensors[a]
        return self._op(name, "add", (a, b), t.shape, macs=t.bytes)

    def global_pool(self, name: str, x: int) -> int:
        """AVERAGE_POOL_2D over the whole map (VALID, stride 1) to 1x1xC; the classifier reads that
        (TFLite's FULLY_CONNECTED flattens its input: the converter folds the reshape away)."""
        h, w, c = self.tensors[x].shape
        return self._op(name, "avgpool", (x,), (1, 1, c), kernel=max(h, w), macs=h * w * c)

    def fc(self, name: str, x: int, out: int) -> int:
        c = self.tensors[x].shape[-1]
        return self._op(name, "fc", (x,), (out,), weight_bytes=c * out, bias_bytes=4 * out,
                        quant_channels=1, macs=c * out, params=c * out + out)

    def softmax(self, name: str, x: int) -> int:
        t = self.tensors[x]
        return self._op(name, "softmax", (x,), t.shape, macs=t.bytes)


def build_graph(space: SearchSpace, cfg: SubnetConfig) -> Graph:
    """The int8 op graph of ``cfg`` (validated against ``space``)."""
    b = _Builder(space, cfg)
    r = cfg.resolution
    x = b.tensor("input", (r, r, space.in_channels))
    x = b.conv("stem", x, space.stem.channels, space.stem.kernel, space.stem.stride, relu6=True)
    h = b.conv("first.dw", x, 0, 3, 1, relu6=True, depthwise=True)
    h = b.conv("first.pw", h, space.first_block.channels, 1, 1, relu6=False)
    x = b.add("first.add", x, h) if space.stem.channels == space.first_block.channels else h
    for i, j, choice in cfg.blocks():
        spec = space.stages[i]
        stride = spec.stride if j == 0 else 1
        in_ch = b.g.tensors[x].shape[-1]
        p = f"s{i}.b{j}"
        h = b.conv(f"{p}.expand", x, in_ch * choice.expand, 1, 1, relu6=True)
        h = b.conv(f"{p}.dw", h, 0, choice.kernel, stride, relu6=True, depthwise=True)
        h = b.conv(f"{p}.project", h, spec.channels, 1, 1, relu6=False)
        x = b.add(f"{p}.add", x, h) if stride == 1 and in_ch == spec.channels else h
    x = b.global_pool("pool", x)
    x = b.fc("classifier", x, space.classes)
    if space.classes <= SOFTMAX_MAX_CLASSES:
        x = b.softmax("softmax", x)
    g = b.g
    g.output = x
    g.tensors[x].last = len(g.ops) - 1
    return g
