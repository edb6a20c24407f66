"""Read a ``.tflite`` flatbuffer into plain dataclasses and lower it to native kernel calls.

Three layers, all pure Python + numpy (TensorFlow is never imported):

* :func:`parse_tflite` / :func:`load_tflite` turn the flatbuffer into a :class:`Graph` of
  :class:`Tensor` (name, shape, dtype, quantization arrays, constant data) and :class:`Op`
  (builtin op name, normalized options, tensor indices) in execution order. The flatbuffers
  schema module is the one shipped inside an installed package (ai-edge-litert, tflite-micro
  or tensorflow), imported lazily.
* Requantization helpers that reproduce TFLM's ``Prepare`` arithmetic exactly:
  :func:`quantize_multiplier` (frexp, round half away from zero to Q31, the 2^31 and tiny
  cases), :func:`conv_multipliers`, :func:`fc_multiplier` (float32 vs double scale product:
  TFLM's source and the host package disagree), :func:`add_multipliers`, :func:`mean_multiplier` (TFLM's run-time
  folding of 1/N), :func:`activation_range` (float32 division, as TFLM does) and
  :func:`compute_padding`.
* :func:`lower_op` / :func:`lower_graph` map each op to one call of a C kernel in
  ``firmware/kernels`` (:class:`KernelCall`): the C function, its parameter struct type, scalar
  fields and const arrays named exactly like the struct fields in ``ofa_kernels.h``, so a code
  generator can emit ``static const ofa_conv_params_t opN = {...};`` and
  ``ofa_conv_s8(&opN, arena + a, arena + b);``.

Unsupported models (not a TFLite file, more than one subgraph, an op or option the kernels do
not implement) raise :class:`~ofa_mcu.errors.UserError` with one clear line.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ofa_mcu.errors import UserError

PADDING_NAMES = {0: "SAME", 1: "VALID"}
ACTIVATION_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}

_NUMPY_DTYPES: dict[str, Any] = {
    "FLOAT32": np.float32,
    "FLOAT16": np.float16,
    "FLOAT64": np.float64,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "UINT16": np.uint16,
    "INT32": np.int32,
    "UINT32": np.uint32,
    "INT64": np.int64,
    "UINT64": np.uint64,
    "BOOL": np.bool_,
}

#: Builtin ops the native kernels implement (with the restrictions :func:`check_supported` checks).
SUPPORTED_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "ADD",
    "MEAN",
    "AVERAGE_POOL_2D",
    "RESHAPE",
)

_SCHEMA_MODULES = (
    "ai_edge_litert.schema_py_generated",
    "tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
    "tensorflow.lite.python.schema_py_generated",
)


def tflite_schema() -> ModuleType:
    """The TFLite flatbuffers schema module of an installed package (lazy import)."""
    for name in _SCHEMA_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise UserError(
        "reading .tflite files needs ai-edge-litert, tflite-micro or tensorflow installed "
        "(pip install 'ofa-mcu[export]')"
    )


# --------------------------------------------------------------------------------------------
# Graph dataclasses
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Tensor:
    """One tensor of the graph.

    ``scale`` (float32) and ``zero_point`` (int64) are empty when the tensor is not quantized;
    they have one entry per channel (along ``quantized_dimension``) for per-channel weights.
    ``data`` holds a constant tensor's contents with ``shape`` and ``dtype``; None otherwise.
    """

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: np.ndarray
    zero_point: np.ndarray
    quantized_dimension: int
    data: np.ndarray | None

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(_NUMPY_DTYPES.get(self.dtype.upper(), np.uint8)).itemsize

    @property
    def is_quantized(self) -> bool:
        return self.scale.size > 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def qscale(self) -> np.float32:
        """The per-tensor scale (float32, as TFLM stores it)."""
        if self.scale.size != 1:
            raise UserError(f"tensor {self.name!r} has {self.scale.size} scales, expected one")
        return np.float32(self.scale[0])

    @property
    def qzero(self) -> int:
        """The per-tensor zero point."""
        if self.zero_point.size == 0:
            raise UserError(f"tensor {self.name!r} is not quantized")
        return int(self.zero_point[0])


@dataclass(frozen=True)
class Op:
    """One operator. ``inputs`` may contain -1 for an absent optional input (e.g. no bias).

    ``options`` are the builtin options with snake_case keys (``stride_h``, ``stride_w``,
    ``dilation_h_factor``, ``depth_multiplier``, ``keep_dims``, ``filter_height``, ...);
    ``padding`` is ``"SAME"``/``"VALID"`` and ``activation`` one of :data:`ACTIVATION_NAMES`.
    """

    index: int
    opcode: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any]
    version: int = 1


@dataclass(frozen=True, eq=False)
class Graph:
    """The (single) subgraph of a TFLite model; ``ops`` are in execution order."""

    tensors: tuple[Tensor, ...]
    ops: tuple[Op, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    version: int = 3
    description: str = ""

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def producer(self, index: int) -> Op | None:
        """The op that writes tensor ``index`` (None for graph inputs and constants)."""
        for op in self.ops:
            if index in op.outputs:
                return op
        return None

    def consumers(self, index: int) -> list[Op]:
        return [op for op in self.ops if index in op.inputs]

    def activation_tensors(self) -> list[int]:
        """Indices of the non-constant tensors, in order of first appearance."""
        seen: list[int] = []
        for t in self.inputs:
            if t not in seen:
                seen.append(t)
        for op in self.ops:
            for t in (*op.inputs, *op.outputs):
                if t >= 0 and not self.tensors[t].is_constant and t not in seen:
                    seen.append(t)
        return seen

    def lifetimes(self) -> dict[int, tuple[int, int]]:
        """First and last op index at which each activation tensor must be alive.

        Graph inputs start at op 0, graph outputs live until the last op.
        """
        last_op = len(self.ops) - 1
        life: dict[int, list[int]] = {t: [0, 0] for t in self.inputs}
        for op in self.ops:
            for t in (*op.inputs, *op.outputs):
                if t < 0 or self.tensors[t].is_constant:
                    continue
                if t not in life:
                    life[t] = [op.index, op.index]
                life[t][1] = max(life[t][1], op.index)
        for t in self.outputs:
            if t in life:
                life[t][1] = last_op
        return {t: (a, b) for t, (a, b) in life.items()}


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _normalize_options(opts: Any) -> dict[str, Any]:
    if opts is None:
        return {}
    out: dict[str, Any] = {}
    for key, value in vars(opts).items():
        if isinstance(value, np.ndarray):
            value = tuple(value.tolist())
        elif isinstance(value, list):
            value = tuple(value)
        key = _snake(key)
        if key == "fused_activation_function":
            out["activation"] = ACTIVATION_NAMES.get(int(value), f"UNKNOWN_{value}")
            continue
        if key == "padding" and isinstance(value, int | np.integer):
            value = PADDING_NAMES.get(int(value), f"UNKNOWN_{value}")
        out[key] = value
    return out


def _enum_names(enum_cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def parse_tflite(data: bytes | bytearray | memoryview, origin: str = "<bytes>") -> Graph:
    """Parse TFLite flatbuffer bytes into a :class:`Graph` (no support checks)."""
    schema = tflite_schema()
    buf = bytes(data)
    if len(buf) < 8 or not schema.Model.ModelBufferHasIdentifier(buf, 0):
        raise UserError(f"{origin}: not a TFLite model (no 'TFL3' flatbuffer identifier)")
    try:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0))
    except Exception as exc:  # a corrupt flatbuffer fails in many ways
        raise UserError(f"{origin}: corrupt TFLite model ({type(exc).__name__}: {exc})") from None

    subgraphs = model.subgraphs or []
    if len(subgraphs) != 1:
        raise UserError(f"{origin}: expected one subgraph, found {len(subgraphs)}")
    sg = subgraphs[0]
    type_names = _enum_names(schema.TensorType)
    op_names = _enum_names(schema.BuiltinOperator)
    buffers = model.buffers or []

    tensors: list[Tensor] = []
    for i, t in enumerate(sg.tensors or []):
        dtype = type_names.get(int(t.type), f"TYPE_{t.type}")
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
        q = t.quantization
        scale = np.asarray(q.scale if q is not None and q.scale is not None else [], dtype=np.float32)
        zero = np.asarray(
            q.zeroPoint if q is not None and q.zeroPoint is not None else [], dtype=np.int64
        )
        qdim = int(q.quantizedDimension) if q is not None else 0
        const = None
        b = buffers[t.buffer] if 0 < t.buffer < len(buffers) else None
        if b is not None:
            raw: np.ndarray | None = None
            if b.data is not None and len(b.data) > 0:
                raw = np.asarray(b.data, dtype=np.uint8)
            elif b.offset > 1 and b.size > 0:  # large models keep buffers after the flatbuffer
                if b.offset + b.size > len(buf):
                    raise UserError(f"{origin}: buffer {t.buffer} lies outside the file")
                raw = np.frombuffer(buf, dtype=np.uint8, count=b.size, offset=b.offset)
            if raw is not None:
                np_type = _NUMPY_DTYPES.get(dtype)
                if np_type is None:
                    raise UserError(f"{origin}: constant tensor {i} has unsupported type {dtype}")
                arr = np.frombuffer(raw.tobytes(), dtype=np.dtype(np_type).newbyteorder("<"))
                expected = int(np.prod(shape, dtype=np.int64)) if shape else 1
                if arr.size != expected:
                    raise UserError(
                        f"{origin}: constant tensor {i} holds {arr.size} values, shape {shape} needs {expected}"
                    )
                const = arr.astype(np_type).reshape(shape)
        name = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name or "")
        tensors.append(Tensor(i, name, shape, dtype.lower(), scale, zero, qdim, const))

    codes = model.operatorCodes or []
    ops: list[Op] = []
    for k, op in enumerate(sg.operators or []):
        if not 0 <= op.opcodeIndex < len(codes):
            raise UserError(f"{origin}: op {k} has an invalid opcode index {op.opcodeIndex}")
        oc = codes[op.opcodeIndex]
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        name = op_names.get(code, f"BUILTIN_{code}")
        if name == "CUSTOM":
            custom = oc.customCode.decode() if isinstance(oc.customCode, bytes) else oc.customCode
            name = f"CUSTOM:{custom}"
        ins = tuple(int(x) for x in (op.inputs if op.inputs is not None else ()))
        outs = tuple(int(x) for x in (op.outputs if op.outputs is not None else ()))
        for t in (*ins, *outs):
            if t >= len(tensors):
                raise UserError(f"{origin}: op {k} ({name}) refers to tensor {t} of {len(tensors)}")
        ops.append(Op(k, name, ins, outs, _normalize_options(op.builtinOptions), int(oc.version or 1)))

    desc = model.description.decode("utf-8", "replace") if isinstance(model.description, bytes) else ""
    return Graph(
        tensors=tuple(tensors),
        ops=tuple(ops),
        inputs=tuple(int(x) for x in (sg.inputs if sg.inputs is not None else ())),
        outputs=tuple(int(x) for x in (sg.outputs if sg.outputs is not None else ())),
        version=int(model.version),
        description=desc,
    )


def read_tflite_bytes(path: str | Path) -> bytes:
    """The bytes of a model file; an unreadable file is a one-line ``UserError``."""
    p = Path(path)
    try:
        return p.read_bytes()
    except OSError as exc:
        raise UserError(f"{p}: cannot read ({exc.strerror or exc})") from None


def load_tflite(path: str | Path, check: bool = True) -> Graph:
    """Read and parse a ``.tflite`` file; with ``check`` also run :func:`check_supported`."""
    p = Path(path)
    graph = parse_tflite(read_tflite_bytes(p), origin=str(p))
    if check:
        check_supported(graph, origin=str(p))
    return graph


# --------------------------------------------------------------------------------------------
# TFLM's requantization arithmetic
# --------------------------------------------------------------------------------------------


def round_half_away(x: np.ndarray | float) -> np.ndarray:
    """``std::round`` (ties away from zero), exactly, elementwise; keeps the float dtype."""
    a = np.asarray(x)
    t = np.trunc(a)
    frac = a - t  # exact for |a| < 2^52 (float64) / 2^23 (float32)
    return t + np.where(np.abs(frac) >= 0.5, np.sign(a), 0).astype(a.dtype)


def quantize_multipliers(real: np.ndarray | list[float] | float) -> tuple[np.ndarray, np.ndarray]:
    """TFLM ``QuantizeMultiplier`` elementwise: real = mult * 2^(shift - 31).

    Returns (int32 multipliers in [2^30, 2^31), int32 shifts; shift > 0 is a left shift).
    0 gives (0, 0); |real| < 2^-32 or so is flushed to (0, 0) as TFLM does.
    """
    r = np.atleast_1d(np.asarray(real, dtype=np.float64))
    mant, exp = np.frexp(r)
    q = round_half_away(mant * float(1 << 31)).astype(np.int64)
    exp = exp.astype(np.int64)
    full = q == (1 << 31)
    q[full] //= 2
    exp[full] += 1
    tiny = exp < -31
    q[tiny] = 0
    exp[tiny] = 0
    return q.astype(np.int32), exp.astype(np.int32)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Scalar :func:`quantize_multipliers`."""
    m, s = quantize_multipliers(real)
    return int(m[0]), int(s[0])


def conv_multipliers(
    input_scale: float, filter_scales: np.ndarray | list[float], output_scale: float, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mult, shift) of CONV_2D / DEPTHWISE_CONV_2D / per-channel FC.

    TFLM: double(input_scale) * double(filter_scale[c]) / double(output_scale), the float32
    scales widened first; a single filter scale is broadcast to all channels.
    """
    ws = np.asarray(filter_scales, dtype=np.float32).astype(np.float64).ravel()
    if ws.size == 1:
        ws = np.full(channels, ws[0])
    if ws.size != channels:
        raise UserError(f"{ws.size} filter scales for {channels} output channels")
    eff = np.float64(np.float32(input_scale)) * ws / np.float64(np.float32(output_scale))
    return quantize_multipliers(eff)


def fc_multiplier(
    input_scale: float, filter_scale: float, output_scale: float, product: str = "double"
) -> tuple[int, int]:
    """Per-tensor FULLY_CONNECTED (mult, shift): input_scale * filter_scale / output_scale.

    TFLM's source (GetQuantizedConvolutionMultipler, unchanged since 2021) forms the product of
    the two float32 scales in float32 and widens it afterwards, which is what a Cortex-M build
    of TFLM computes (``product="float32"``). The installed ``tflite-micro`` host package,
    however, multiplies in double (its x86 binary does cvtss2sd, mulsd), and that is the
    bit-exactness reference of the native runtime, hence the default ``"double"``. The two
    Q31 multipliers differ for most models; the outputs differ by one only for rare
    accumulator values (tests/test_kernels.py constructs one).
    """
    a, b, c = np.float32(input_scale), np.float32(filter_scale), np.float32(output_scale)
    if product == "double":
        prod = np.float64(a) * np.float64(b)
    elif product == "float32":
        prod = np.float64(a * b)
    else:
        raise ValueError(f"product must be 'double' or 'float32', not {product!r}")
    return quantize_multiplier(float(prod / np.float64(c)))


def add_multipliers(scale1: float, scale2: float, output_scale: float) -> dict[str, int]:
    """TFLM int8 ADD Prepare: input and output multipliers for left shift 20.

    twice_max = 2 * double(max(s1, s2)); in_i = double(s_i) / twice_max;
    out = twice_max / (2^20 * double(s_out)).
    """
    s1, s2, so = np.float32(scale1), np.float32(scale2), np.float32(output_scale)
    twice_max = 2.0 * np.float64(max(s1, s2))
    m1, sh1 = quantize_multiplier(float(np.float64(s1) / twice_max))
    m2, sh2 = quantize_multiplier(float(np.float64(s2) / twice_max))
    mo, sho = quantize_multiplier(float(twice_max / (float(1 << 20) * np.float64(so))))
    return {
        "in1_mult": m1,
        "in1_shift": sh1,
        "in2_mult": m2,
        "in2_shift": sh2,
        "out_mult": mo,
        "out_shift": sho,
    }


def mean_multiplier(input_scale: float, output_scale: float, num_elements: int) -> tuple[int, int]:
    """(mult, shift) of int8 MEAN over ``num_elements`` values, 1/N folded in as TFLM folds it.

    TFLM: (m, s) = QuantizeMultiplier(double(in_scale) / double(out_scale)); then at run time
    k = min(floor(log2 N), 32, 31 + s), m' = int32((int64(m) << k) / N), s' = s - k; the
    output is MultiplyByQuantizedMultiplier(sum - in_zp * N, m', s') + out_zp.
    """
    n = int(num_elements)
    if n <= 0:
        raise UserError("MEAN over an empty axis")
    m, s = quantize_multiplier(
        float(np.float64(np.float32(input_scale)) / np.float64(np.float32(output_scale)))
    )
    k = min(n.bit_length() - 1, 32, 31 + s)
    # int64 arithmetic; m >= 0 so floor division equals C's truncation
    m2 = (m << k) // n
    return int(np.int32(m2)), s - k


def activation_range(
    activation: str, scale: float, zero_point: int, qmin: int = -128, qmax: int = 127
) -> tuple[int, int]:
    """TFLM CalculateActivationRangeQuantized: zp + round(f / scale) in float32, clipped."""

    def q(f: float) -> int:
        return int(zero_point) + int(round_half_away(np.float32(f) / np.float32(scale)))

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, q(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise UserError(f"fused activation {activation} is not supported by the native kernels")


def compute_padding(
    in_size: int, kernel: int, stride: int, padding: str, dilation: int = 1
) -> tuple[int, int, int]:
    """TFLite output size and (before, after) padding of one spatial dimension.

    SAME: out = ceil(in / stride); VALID: out = (in - k_eff) // stride + 1. Total padding
    max((out - 1) * stride + k_eff - in, 0); before = total // 2, after gets the odd one.
    """
    k_eff = (kernel - 1) * dilation + 1
    if padding == "SAME":
        out = (in_size + stride - 1) // stride
    elif padding == "VALID":
        out = (in_size - k_eff + stride) // stride
    else:
        raise UserError(f"padding {padding} is not supported")
    total = max((out - 1) * stride + k_eff - in_size, 0)
    return out, total // 2, total - total // 2


# --------------------------------------------------------------------------------------------
# Support checks and lowering to kernel calls
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KernelCall:
    """One generated line: ``function(&params, in..., out)``.

    ``params`` (ints) and ``arrays`` (numpy: int8 ``weights``, int32 ``bias``, int32
    ``out_mult``, int8 ``out_shift``) are named like the fields of ``params_type`` in
    ``firmware/kernels/ofa_kernels.h``; an absent bias is simply missing from ``arrays``
    (emit NULL). ``inputs`` / ``outputs`` are activation tensor indices in argument order.
    ``function`` is None for RESHAPE (same bytes: alias or copy the buffer).
    ``inplace_ok``: a depthwise conv that ``ofa_depthwise_s8_inplace`` can run, given a
    scratch of ``scratch_bytes``.
    """

    op_index: int
    opcode: str
    function: str | None
    params_type: str | None
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    params: dict[str, int]
    arrays: dict[str, np.ndarray]
    macs: int = 0
    inplace_ok: bool = False
    scratch_bytes: int = 0


_U16 = (0, 65535)
_U8 = (0, 255)


def _fits(problems: list[str], where: str, name: str, value: int, lim: tuple[int, int]) -> None:
    if not lim[0] <= value <= lim[1]:
        problems.append(f"{where}: {name}={value} outside [{lim[0]}, {lim[1]}]")


def _op_problems(graph: Graph, op: Op) -> list[str]:
    """Why ``op`` cannot run on the native kernels (empty when it can)."""
    where = f"op {op.index} {op.opcode}"
    if op.opcode not in SUPPORTED_OPS:
        return [f"{where}: not supported by the native runtime (supported: {', '.join(SUPPORTED_OPS)})"]
    p: list[str] = []
    t = graph.tensors
    data_ins = [i for i in op.inputs if i >= 0 and not t[i].is_constant]
    for i in (*data_ins, *op.outputs):
        if t[i].dtype != "int8":
            p.append(f"{where}: tensor {t[i].name!r} is {t[i].dtype}, the native kernels need int8")
        elif t[i].scale.size != 1 or t[i].zero_point.size != 1:
            p.append(f"{where}: activation tensor {t[i].name!r} is not per-tensor quantized")
    act = op.options.get("activation", "NONE")
    if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        p.append(f"{where}: fused activation {act} not supported")
    if p:
        return p

    if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        x, w = t[op.inputs[0]], t[op.inputs[1]]
        y = t[op.outputs[0]]
        if len(x.shape) != 4 or x.shape[0] != 1 or len(y.shape) != 4:
            p.append(f"{where}: needs a [1, H, W, C] input, got {list(x.shape)}")
            return p
        if not w.is_constant or w.dtype != "int8" or len(w.shape) != 4:
            p.append(f"{where}: weights must be a constant int8 4-D tensor")
            return p
        if w.zero_point.size and np.any(w.zero_point != 0):
            p.append(f"{where}: weights must be symmetric (zero point 0)")
        if op.options.get("dilation_h_factor", 1) != 1 or op.options.get("dilation_w_factor", 1) != 1:
            p.append(f"{where}: dilation is not supported")
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            b = t[op.inputs[2]]
            if not b.is_constant or b.dtype != "int32":
                p.append(f"{where}: bias must be a constant int32 tensor")
        if op.opcode == "DEPTHWISE_CONV_2D" and (w.shape[3] != x.shape[3] or y.shape[3] != x.shape[3]):
            p.append(f"{where}: only depth multiplier 1 is supported")
        if op.opcode == "CONV_2D" and w.shape[3] != x.shape[3]:
            p.append(f"{where}: grouped convolution is not supported")
        for name, v in (("in_h", x.shape[1]), ("in_w", x.shape[2]), ("in_c", x.shape[3]), ("out_c", y.shape[3])):
            _fits(p, where, name, v, _U16)
        for name, v in (
            ("kernel", max(w.shape[1], w.shape[2])),
            ("stride", max(op.options.get("stride_h", 1), op.options.get("stride_w", 1))),
        ):
            _fits(p, where, name, v, _U8)
    elif op.opcode == "FULLY_CONNECTED":
        x, w, y = t[op.inputs[0]], t[op.inputs[1]], t[op.outputs[0]]
        if not w.is_constant or w.dtype != "int8" or len(w.shape) != 2:
            p.append(f"{where}: weights must be a constant int8 [out, in] tensor")
            return p
        if w.zero_point.size and np.any(w.zero_point != 0):
            p.append(f"{where}: weights must be symmetric (zero point 0)")
        if x.size % w.shape[1] != 0:
            p.append(f"{where}: input of {x.size} values does not match {w.shape[1]} weight columns")
        if w.per_channel and w.scale.size != w.shape[0]:
            p.append(f"{where}: {w.scale.size} weight scales for {w.shape[0]} outputs")
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            b = t[op.inputs[2]]
            if not b.is_constant or b.dtype != "int32":
                p.append(f"{where}: bias must be a constant int32 tensor")
    elif op.opcode == "ADD":
        a, b = t[op.inputs[0]], t[op.inputs[1]]
        if a.is_constant or b.is_constant:
            p.append(f"{where}: ADD of a constant is not supported")
        elif a.shape != b.shape or a.shape != t[op.outputs[0]].shape:
            p.append(f"{where}: broadcasting ADD ({list(a.shape)} + {list(b.shape)}) is not supported")
    elif op.opcode == "MEAN":
        x, ax = t[op.inputs[0]], t[op.inputs[1]]
        if len(x.shape) != 4 or x.shape[0] != 1:
            p.append(f"{where}: needs a [1, H, W, C] input")
        elif not ax.is_constant:
            p.append(f"{where}: the axis must be constant")
        else:
            axes = sorted({int(a) % 4 for a in np.ravel(ax.data)})
            if axes != [1, 2]:
                p.append(f"{where}: only the mean over H and W (axes 1, 2) is supported, got {axes}")
        _fits(p, where, "h*w", x.shape[1] * x.shape[2] if len(x.shape) == 4 else 0, (1, 65535 * 65535))
    elif op.opcode == "AVERAGE_POOL_2D":
        x = t[op.inputs[0]]
        if len(x.shape) != 4 or x.shape[0] != 1:
            p.append(f"{where}: needs a [1, H, W, C] input")
    elif op.opcode == "RESHAPE":
        x, y = t[op.inputs[0]], t[op.outputs[0]]
        if x.size != y.size:
            p.append(f"{where}: reshape changes the element count")
        elif x.qscale != y.qscale or x.qzero != y.qzero:
            p.append(f"{where}: reshape changes the quantization")
    return p


def check_supported(graph: Graph, origin: str = "model") -> None:
    """Raise :class:`UserError` (one line) if any op cannot run on the native kernels."""
    problems: list[str] = []
    for t in graph.inputs:
        if graph.tensors[t].dtype != "int8":
            problems.append(f"input {graph.tensors[t].name!r} is {graph.tensors[t].dtype}, expected int8")
    for op in graph.ops:
        problems.extend(_op_problems(graph, op))
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UserError(f"{origin}: " + "; ".join(problems[:3]) + more)


def _bias(graph: Graph, op: Op, channels: int) -> dict[str, np.ndarray]:
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        b = graph.tensors[op.inputs[2]].data
        assert b is not None
        b = np.asarray(b, dtype=np.int32).ravel()
        if b.size != channels:
            raise UserError(f"op {op.index} {op.opcode}: bias has {b.size} values for {channels} channels")
        return {"bias": b}
    return {}


def _weight_arrays(graph: Graph, op: Op, w: Tensor, channels: int, mult: np.ndarray,
                   shift: np.ndarray) -> dict[str, np.ndarray]:
    """The constant arrays of a conv-like or fully connected call: int8 weights, int32 bias (if
    the op has one), int32 multipliers and int8 shifts."""
    assert w.data is not None
    return {
        "weights": np.ascontiguousarray(w.data, dtype=np.int8).ravel(),
        **_bias(graph, op, channels),
        "out_mult": mult.astype(np.int32),
        "out_shift": shift.astype(np.int8),
    }


def lower_op(graph: Graph, op: Op) -> KernelCall:
    """The native kernel call for one op (raises :class:`UserError` if unsupported)."""
    problems = _op_problems(graph, op)
    if problems:
        raise UserError("; ".join(problems[:3]))
    t = graph.tensors
    opts = op.options
    act = opts.get("activation", "NONE")

    if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        x, w, y = t[op.inputs[0]], t[op.inputs[1]], t[op.outputs[0]]
        _, in_h, in_w, in_c = x.shape
        _, out_h, out_w, out_c = y.shape
        k_h, k_w = w.shape[1], w.shape[2]
        sh, sw = int(opts.get("stride_h", 1)), int(opts.get("stride_w", 1))
        oh, pt, _ = compute_padding(in_h, k_h, sh, opts.get("padding", "VALID"))
        ow, pl, _ = compute_padding(in_w, k_w, sw, opts.get("padding", "VALID"))
        if (oh, ow) != (out_h, out_w):
            raise UserError(
                f"op {op.index} {op.opcode}: output {out_h}x{out_w} does not match the computed {oh}x{ow}"
            )
        mult, shift = conv_multipliers(x.qscale, w.scale, y.qscale, out_c)
        lo, hi = activation_range(act, y.qscale, y.qzero)
        params = {
            "in_h": in_h, "in_w": in_w, "in_c": in_c,
            "out_h": out_h, "out_w": out_w, "out_c": out_c,
            "k_h": k_h, "k_w": k_w, "stride_h": sh, "stride_w": sw,
            "pad_top": pt, "pad_left": pl,
            "in_offset": -x.qzero, "out_offset": y.qzero, "act_min": lo, "act_max": hi,
        }  # fmt: skip
        arrays = _weight_arrays(graph, op, w, out_c, mult, shift)
        if op.opcode == "DEPTHWISE_CONV_2D":
            macs = out_h * out_w * out_c * k_h * k_w
            return KernelCall(
                op.index, op.opcode, "ofa_depthwise_s8", "ofa_conv_params_t",
                (op.inputs[0],), (op.outputs[0],), params, arrays, macs,
                inplace_ok=out_h * out_w <= in_h * in_w, scratch_bytes=out_h * out_w,
            )  # fmt: skip
        pointwise = k_h == 1 and k_w == 1 and sh == 1 and sw == 1 and pt == 0 and pl == 0
        macs = out_h * out_w * out_c * k_h * k_w * in_c
        fn = "ofa_pointwise_s8" if pointwise else "ofa_conv_s8"
        return KernelCall(
            op.index, op.opcode, fn, "ofa_conv_params_t", (op.inputs[0],), (op.outputs[0],), params, arrays, macs
        )

    if op.opcode == "FULLY_CONNECTED":
        x, w, y = t[op.inputs[0]], t[op.inputs[1]], t[op.outputs[0]]
        n_out, n_in = w.shape
        if w.per_channel:
            mult, shift = conv_multipliers(x.qscale, w.scale, y.qscale, n_out)
        else:
            m, s = fc_multiplier(x.qscale, w.qscale, y.qscale)
            mult, shift = np.array([m], np.int32), np.array([s], np.int32)
        lo, hi = activation_range(act, y.qscale, y.qzero)
        params = {
            "batches": x.size // n_in, "in_features": n_in, "out_features": n_out,
            "in_offset": -x.qzero, "out_offset": y.qzero, "act_min": lo, "act_max": hi,
            "per_channel": int(w.per_channel),
        }  # fmt: skip
        arrays = _weight_arrays(graph, op, w, n_out, mult, shift)
        return KernelCall(
            op.index, op.opcode, "ofa_fully_connected_s8", "ofa_fc_params_t",
            (op.inputs[0],), (op.outputs[0],), params, arrays, params["batches"] * n_in * n_out,
        )  # fmt: skip

    if op.opcode == "ADD":
        a, b, y = t[op.inputs[0]], t[op.inputs[1]], t[op.outputs[0]]
        lo, hi = activation_range(act, y.qscale, y.qzero)
        params = {
            "size": y.size, "in1_offset": -a.qzero, "in2_offset": -b.qzero, "out_offset": y.qzero,
            **add_multipliers(a.qscale, b.qscale, y.qscale), "act_min": lo, "act_max": hi,
        }  # fmt: skip
        return KernelCall(
            op.index, op.opcode, "ofa_add_s8", "ofa_add_params_t",
            (op.inputs[0], op.inputs[1]), (op.outputs[0],), params, {}, 0,
        )  # fmt: skip

    if op.opcode == "MEAN":
        x, y = t[op.inputs[0]], t[op.outputs[0]]
        _, h, w_, c = x.shape
        m, s = mean_multiplier(x.qscale, y.qscale, h * w_)
        params = {
            "h": h, "w": w_, "c": c, "in_zero_point": x.qzero, "out_zero_point": y.qzero,
            "mult": m, "shift": s,
        }  # fmt: skip
        return KernelCall(
            op.index, op.opcode, "ofa_mean_hw_s8", "ofa_mean_params_t",
            (op.inputs[0],), (op.outputs[0],), params, {}, h * w_ * c,
        )  # fmt: skip

    if op.opcode == "AVERAGE_POOL_2D":
        x, y = t[op.inputs[0]], t[op.outputs[0]]
        _, in_h, in_w, c = x.shape
        _, out_h, out_w, _ = y.shape
        k_h, k_w = int(opts["filter_height"]), int(opts["filter_width"])
        sh, sw = int(opts.get("stride_h", 1)), int(opts.get("stride_w", 1))
        _, pt, _ = compute_padding(in_h, k_h, sh, opts.get("padding", "VALID"))
        _, pl, _ = compute_padding(in_w, k_w, sw, opts.get("padding", "VALID"))
        lo, hi = activation_range(act, y.qscale, y.qzero)
        params = {
            "in_h": in_h, "in_w": in_w, "c": c, "out_h": out_h, "out_w": out_w,
            "k_h": k_h, "k_w": k_w, "stride_h": sh, "stride_w": sw, "pad_top": pt, "pad_left": pl,
            "act_min": lo, "act_max": hi,
        }  # fmt: skip
        return KernelCall(
            op.index, op.opcode, "ofa_avgpool_s8", "ofa_avgpool_params_t",
            (op.inputs[0],), (op.outputs[0],), params, {}, out_h * out_w * c * k_h * k_w,
        )  # fmt: skip

    if op.opcode == "RESHAPE":
        return KernelCall(
            op.index, op.opcode, None, None, (op.inputs[0],), (op.outputs[0],),
            {"size": t[op.outputs[0]].size}, {},
        )  # fmt: skip

    raise UserError(f"op {op.index} {op.opcode}: not supported by the native runtime")


def lower_graph(graph: Graph, origin: str = "model") -> list[KernelCall]:
    """Check the whole graph, then lower every op in execution order."""
    check_supported(graph, origin)
    return [lower_op(graph, op) for op in graph.ops]
