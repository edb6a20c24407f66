"""Checks of an exported model: IR vs ``.tflite`` op for op, torch vs TensorFlow float logits,
INT8 accuracy on TFLM, and TFLM vs TFLite's reference kernels.

``compare_ir`` is the contract between analysis and deployment: the layer IR
(:func:`ofa_mcu.ir.build_graph`) must equal the IR of the converted graph
(:func:`ofa_mcu.tflite.to_ir`): op kinds and order, kernel, stride, fused activation, tensor
shapes and wiring, weight and bias bytes, per-channel quantization parameter counts, so SRAM/flash predictions made during the search hold for the
deployed model. No TensorFlow import here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ofa_mcu.errors import UserError
from ofa_mcu.ir import Graph as IrGraph
from ofa_mcu.tflite import Graph, parse_tflite, to_ir
from ofa_mcu.tflm.host import interpreter


def _parse(model: bytes | Graph) -> Graph:
    return parse_tflite(model) if isinstance(model, bytes | bytearray | memoryview) else model


def compare_ir(graph: IrGraph, model: bytes | Graph) -> list[str]:
    """Differences between the IR ``graph`` and the ``.tflite`` model (bytes or parsed); [] if none.

    The model is read into the IR with :func:`ofa_mcu.tflite.to_ir` and compared op for op (kind,
    kernel, stride, fused ReLU6, shapes, wiring, weight / bias / quantization bytes); what the IR
    does not hold is checked on the graph itself (int8 outputs, SAME padding, the global pooling's
    window); RESHAPEs are compared as the IR's views.
    """
    tg = _parse(model)
    problems: list[str] = []
    tops = [op for op in tg.ops if op.opcode != "RESHAPE"]  # RESHAPEs are views, compared below
    if len(tops) != len(graph.ops) or len(tg.ops) - len(tops) != len(graph.views):
        problems.append(f"IR has {len(graph.ops)} ops and {len(graph.views)} RESHAPE(s), .tflite has "
                        f"{[op.opcode for op in tg.ops]}: IR {[op.tflite_op for op in graph.ops]}")
        return problems
    try:
        mapping = to_ir(tg, origin=".tflite")
    except UserError as e:
        return [str(e)]
    model_ir = mapping.graph
    if model_ir.tensors[model_ir.input].shape != graph.tensors[graph.input].shape:
        problems.append(f"input shape {graph.tensors[graph.input].shape} in IR, "
                        f"{model_ir.tensors[model_ir.input].shape} in .tflite")
    where: dict[int, int] = {graph.input: model_ir.input}  # IR tensor id -> the model's IR tensor id
    for op, mop, top in zip(graph.ops, model_ir.ops, tops):
        name = f"op {op.index} ({op.name})"

        def bad(what: str, ir_value: object, tfl_value: object, name: str = name) -> None:
            problems.append(f"{name}: {what} {ir_value} in IR, {tfl_value} in .tflite")

        if op.tflite_op != top.opcode:
            bad("op", op.tflite_op, top.opcode)
            continue
        ir_inputs = [where.get(t) for t in op.inputs]
        if sorted(ir_inputs, key=str) != sorted(mop.inputs, key=str):
            bad("input tensors", ir_inputs, list(mop.inputs))
        where[op.output] = mop.output
        if tg.tensors[top.outputs[0]].dtype != "int8":
            bad("output dtype", "int8", tg.tensors[top.outputs[0]].dtype)
        if mop.in_shape != op.in_shape:
            bad("input shape", op.in_shape, mop.in_shape)
        if mop.out_shape != op.out_shape:
            bad("output shape", op.out_shape, mop.out_shape)
        activation = top.options.get("activation", "NONE")
        if op.kind in ("conv", "pointwise", "depthwise", "add", "fc") and activation != ("RELU6" if op.relu6 else "NONE"):
            bad("fused activation", "RELU6" if op.relu6 else "NONE", activation)
        if op.kind in ("conv", "pointwise", "depthwise", "fc"):
            for what, attr in (("weight bytes", "weight_bytes"), ("bias bytes", "bias_bytes"),
                               ("weight quantization channels", "quant_channels")):
                if getattr(mop, attr) != getattr(op, attr):
                    bad(what, getattr(op, attr), getattr(mop, attr))
            if op.kind != "fc":
                kernel = tuple(tg.tensors[top.inputs[1]].shape[1:3])
                if kernel != (op.kernel, op.kernel):
                    bad("kernel", (op.kernel, op.kernel), kernel)
                stride = (top.options.get("stride_h"), top.options.get("stride_w"))
                if stride != (op.stride, op.stride):
                    bad("stride", (op.stride, op.stride), stride)
                if top.options.get("padding") != "SAME":
                    bad("padding", "SAME", top.options.get("padding"))
        elif op.kind == "avgpool":
            window = (top.options.get("filter_height"), top.options.get("filter_width"))
            if window != tuple(op.in_shape[:2]) or top.options.get("padding") != "VALID":
                bad("pooling window/padding", f"{tuple(op.in_shape[:2])}/VALID", f"{window}/{top.options.get('padding')}")
    views = [(v.after, where.get(v.source), v.source_view, v.readers) for v in graph.views]
    model_views = [(v.after, v.source, v.source_view, v.readers) for v in model_ir.views]
    if views != model_views:
        problems.append(f"RESHAPEs (after op, source, source view, readers) {views} in IR, {model_views} in .tflite")
    if where.get(graph.output) != model_ir.output:
        problems.append(f"graph output is tensor {where.get(graph.output)} in IR, {model_ir.output} in .tflite")
    return problems


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy (fraction)."""
    if len(labels) == 0:
        return 0.0
    return float((np.asarray(logits).argmax(axis=1) == np.asarray(labels)).mean())


def top_ties(outputs: np.ndarray, labels: np.ndarray) -> dict[str, int]:
    """How many samples have two or more outputs tied at the maximum (int8 softmax outputs tie
    when logits are closer than one output step), and how many of those ties include the label
    (argmax counts such a sample correct only when the label is the lowest tied index)."""
    out = np.asarray(outputs)
    if out.size == 0:
        return {"tied": 0, "tied_with_label": 0}
    top = out == out.max(axis=1, keepdims=True)
    tied = top.sum(axis=1) > 1
    lab = np.asarray(labels, dtype=np.int64)
    with_label = tied & top[np.arange(len(lab)), lab]
    return {"tied": int(tied.sum()), "tied_with_label": int(with_label.sum())}


def reference_int8_outputs(model: bytes, x_q: np.ndarray) -> np.ndarray:
    """Int8 outputs of TFLite's reference kernels (LiteRT, ``BUILTIN_REF``) for int8 NHWC inputs."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=bytes(model), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    outs = []
    for i in range(len(x_q)):
        interp.set_tensor(inp["index"], np.ascontiguousarray(x_q[i:i + 1], dtype=np.int8))
        interp.invoke()
        outs.append(interp.get_tensor(out["index"]).reshape(1, -1).copy())
    return np.concatenate(outs, axis=0) if outs else np.zeros((0, 0), np.int8)


def reference_agreement(model: bytes, x_q: np.ndarray) -> dict[str, Any]:
    """Compare TFLM with TFLite's reference kernels (LiteRT ``BUILTIN_REF``) op by op.

    For each input, every op's int8 output is compared; the first op whose output differs is
    counted (later ops inherit the difference). Known: TFLite's reference FULLY_CONNECTED
    requantizes with a single rounding while TFLM rounds twice, so the classifier may differ by
    one step on a few percent of inputs even with per-tensor weights; every other op is
    bit-exact.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    tg = _parse(bytes(model))
    micro = interpreter(model, 16 * len(model) + (4 << 20), preserve_all_tensors=True)
    ref = Interpreter(model_content=bytes(model), experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                      experimental_preserve_all_tensors=True)
    ref.allocate_tensors()
    ref_in = ref.get_input_details()[0]["index"]
    first: dict[str, int] = {}
    max_diff = 0
    for i in range(len(x_q)):
        x = np.ascontiguousarray(x_q[i:i + 1], dtype=np.int8)
        micro.set_input(x, 0)
        micro.invoke()
        ref.set_tensor(ref_in, x)
        ref.invoke()
        for op in tg.ops:
            t = op.outputs[0]
            a = np.asarray(micro.GetTensor(t, 0)["tensor_data"]).astype(np.int32).ravel()
            b = ref.get_tensor(t).astype(np.int32).ravel()
            if not np.array_equal(a, b):
                first[op.opcode] = first.get(op.opcode, 0) + 1
                break
        out = tg.outputs[0]
        diff = np.abs(np.asarray(micro.GetTensor(out, 0)["tensor_data"]).astype(np.int32).ravel()
                      - ref.get_tensor(out).astype(np.int32).ravel())
        max_diff = max(max_diff, int(diff.max()) if diff.size else 0)
    return {"samples": int(len(x_q)), "max_int8_diff": max_diff, "differing_samples": sum(first.values()),
            "first_differing_op": first, "reference": "TFLite BUILTIN_REF kernels (ai-edge-litert)"}
