"""Read a ``.tflite`` flatbuffer into plain dataclasses: the one reader of model files.

:func:`parse_tflite` / :func:`load_tflite` turn the flatbuffer into a :class:`Graph` of
:class:`Tensor` (name, shape, dtype, quantization arrays, constant data) and :class:`Op`
(builtin op name, normalized options, tensor indices) in execution order. The flatbuffers schema
module is the one shipped inside an installed package (ai-edge-litert, tflite-micro or
tensorflow), imported lazily; TensorFlow itself is never imported. A file that cannot be read,
is not a TFLite model, is corrupt or has more than one subgraph is a one-line
:class:`~ofa_mcu.errors.UserError`.
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
    def ir_shape(self) -> tuple[int, ...]:
        """The shape as the layer IR writes it: NHWC without a batch dimension of 1."""
        s = tuple(int(d) for d in self.shape)
        return s[1:] if len(s) > 1 and s[0] == 1 else s

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


def load_tflite(path: str | Path) -> Graph:
    """Read and parse a ``.tflite`` file (no support checks: those belong to a runtime)."""
    p = Path(path)
    return parse_tflite(read_tflite_bytes(p), origin=str(p))

