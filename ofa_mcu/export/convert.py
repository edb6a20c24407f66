"""Static torch subnet -> full-integer INT8 ``.tflite`` bytes, with TensorFlow's own converter.

The subnet is folded (:mod:`ofa_mcu.export.layers`), written as an NHWC TensorFlow graph
(:mod:`ofa_mcu.export.tf_build`) and converted with ``TFLiteConverter``: int8 input and output,
per-channel int8 conv and depthwise weights, int32 biases, activations calibrated on the given
representative set (NHWC float32, one sample per calibration step, in order). The classifier is
quantized per tensor (``_experimental_disable_per_channel_quantization_for_dense_layers``): with
per-channel FULLY_CONNECTED weights TFLite's reference kernel rounds once and TFLM twice, and
early-2023 TFLM trees use the first channel's scale for every channel (DESIGN.md); per-tensor FC
is bit-exact everywhere.

The result contains only the ops in :data:`ALLOWED_OPS` (checked, :class:`ExportError` if not)
and is deterministic: the same subnet and representative set give identical bytes (the graph is
built without random state, the calibration runs the float model one sample at a time, and
the metadata is serialized with sorted keys).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ofa_mcu.errors import WorkFailed
from ofa_mcu.export.layers import FoldedNet, fold_subnet
from ofa_mcu.supernet.extract import StaticSubnet
from ofa_mcu.tflite import METADATA_NAME, add_metadata, parse_tflite

#: TFLite builtin ops an exported model may contain (all run well on TFLM and CMSIS-NN).
ALLOWED_OPS = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "RESHAPE", "SOFTMAX",
})


class ExportError(WorkFailed):
    """The converter produced something other than the clean int8 graph we require."""


def _check_representative(net: FoldedNet, representative: np.ndarray) -> np.ndarray:
    rep = np.asarray(representative)
    want = (net.resolution, net.resolution, net.in_channels)
    if rep.ndim != 4 or tuple(rep.shape[1:]) != want:
        raise ValueError(f"representative data must be N x {want[0]} x {want[1]} x {want[2]} (NHWC), "
                         f"got shape {tuple(rep.shape)}")
    if len(rep) == 0:
        raise ValueError("representative data is empty")
    if not np.all(np.isfinite(rep)):
        raise ValueError("representative data contains NaN or infinity")
    return np.ascontiguousarray(rep, dtype=np.float32)


def set_int8_options(converter: Any, representative_dataset: Callable[[], Iterable[list[np.ndarray]]], *,
                     per_tensor_dense: bool = True) -> None:
    """Configure a ``TFLiteConverter`` for full-integer INT8 as ofa-mcu converts every model: int8
    input and output, int8 builtin ops only, per-channel conv weights, activations calibrated on
    ``representative_dataset``, and (``per_tensor_dense``) a per-tensor FULLY_CONNECTED (see the
    module docstring)."""
    from ofa_mcu.export.tf_build import tf_module

    tf = tf_module()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    if per_tensor_dense:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True


def convert_folded(net: FoldedNet, representative: np.ndarray, tf_function: Any | None = None) -> bytes:
    """Convert a folded net to int8 TFLite bytes (no metadata, no checks)."""
    from ofa_mcu.export.tf_build import build_tf_function, tf_module

    tf = tf_module()
    rep = _check_representative(net, representative)
    fn = tf_function if tf_function is not None else build_tf_function(net)

    def dataset() -> Any:
        for i in range(len(rep)):
            yield [rep[i:i + 1]]

    module = tf.Module()
    module.forward = fn
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], module)
    set_int8_options(converter, dataset)
    try:
        return bytes(converter.convert())
    except Exception as e:  # the converter raises many types; report one line
        raise ExportError(f"TFLite conversion failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e


def check_graph(model: bytes) -> list[str]:
    """The op names of ``model`` in order; ExportError unless it is the clean int8 graph.

    Clean: only :data:`ALLOWED_OPS`; int8 input and output; every CONV_2D / DEPTHWISE_CONV_2D
    with per-channel int8 weights (zero points 0) and int32 biases; FULLY_CONNECTED with
    per-tensor int8 weights and int32 bias.
    """
    g = parse_tflite(model)
    names = [op.opcode for op in g.ops]
    bad = sorted(set(names) - ALLOWED_OPS)
    if bad:
        raise ExportError(f"converted graph contains unsupported ops {bad} (allowed: {sorted(ALLOWED_OPS)})")
    for t in (*g.inputs, *g.outputs):
        if g.tensors[t].dtype != "int8":
            raise ExportError(f"graph input/output {g.tensors[t].name!r} is {g.tensors[t].dtype}, expected int8")
    for op in g.ops:
        if op.opcode not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        w, b = g.tensors[op.inputs[1]], g.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        channels = w.shape[0] if op.opcode != "DEPTHWISE_CONV_2D" else w.shape[3]
        want_scales = 1 if op.opcode == "FULLY_CONNECTED" else channels
        if w.dtype != "int8" or w.scale.size != want_scales or np.any(w.zero_point != 0):
            raise ExportError(f"op {op.index} ({op.opcode}): weights are {w.dtype} with {w.scale.size} scales, "
                              f"expected int8 with {want_scales} symmetric scales")
        if b is None or b.dtype != "int32":
            raise ExportError(f"op {op.index} ({op.opcode}): expected an int32 bias")
    return names


def export_tflite(subnet: StaticSubnet, representative: np.ndarray, *, metadata: dict | None = None,
                  folded: FoldedNet | None = None, tf_function: Any | None = None) -> bytes:
    """INT8 ``.tflite`` bytes of ``subnet`` calibrated on ``representative`` (N, H, W, C float32).

    ``metadata`` (a JSON-able dict, e.g. the subnet config and its space) is stored in the model
    under :data:`~ofa_mcu.tflite.METADATA_NAME`. ``folded`` / ``tf_function`` reuse
    work already done by the caller (e.g. the float check). Deterministic.
    """
    net = folded if folded is not None else fold_subnet(subnet)
    model = convert_folded(net, representative, tf_function)
    check_graph(model)
    if metadata is not None:
        payload = json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode()
        model = add_metadata(model, METADATA_NAME, payload)
    return model
