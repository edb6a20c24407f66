"""The one place that reads ``.tflite`` files, without TensorFlow.

- ``reader``: flatbuffer -> :class:`Graph` of :class:`Tensor` / :class:`Op` (one-line errors for
  unreadable, foreign or corrupt files).
- ``metadata``: the ofa-mcu metadata entry (space + subnet of an exported model): read, write,
  and :func:`model_subnet`.
- ``to_ir``: :func:`to_ir`, a parsed graph -> the layer IR (:mod:`ofa_mcu.ir`).
- ``boundary``: :func:`int8_boundary`, float QUANTIZE / DEQUANTIZE at the graph's edges removed.

Both runtimes, export verification, ``inspect`` and ``analyze`` read models through this package.
"""

from ofa_mcu.tflite.boundary import Boundary, int8_boundary
from ofa_mcu.tflite.metadata import (
    METADATA_NAME,
    add_metadata,
    model_subnet,
    read_json_metadata,
    read_metadata,
    subnet_from_metadata,
)
from ofa_mcu.tflite.reader import (
    Graph,
    Op,
    Tensor,
    load_tflite,
    parse_tflite,
    read_tflite_bytes,
    tflite_schema,
)
from ofa_mcu.tflite.to_ir import IrMapping, op_kind, to_ir

__all__ = [
    "METADATA_NAME",
    "Boundary",
    "Graph",
    "IrMapping",
    "Op",
    "Tensor",
    "add_metadata",
    "int8_boundary",
    "load_tflite",
    "model_subnet",
    "op_kind",
    "parse_tflite",
    "read_json_metadata",
    "read_metadata",
    "read_tflite_bytes",
    "subnet_from_metadata",
    "tflite_schema",
    "to_ir",
]
