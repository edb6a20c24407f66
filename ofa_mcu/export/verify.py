"""Checks of an exported model: IR vs ``.tflite`` op for op, torch vs TensorFlow float logits,
INT8 accuracy on TFLM, and TFLM vs TFLite's reference kernels.

``compare_ir`` is the contract between analysis and deployment: the layer IR
(:func:`ofa_mcu.ir.build_graph`) must describe the converted graph exactly (op kinds and order,
kernel, stride, fused activation, tensor shapes and wiring, weight and bias bytes, per-channel
quantization parameter counts), so SRAM/flash predictions made during the search hold for the
deployed model. No TensorFlow import here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ofa_mcu.ir import Graph


def _parse(model: bytes | Any) -> Any:
    from ofa_mcu.native.tflite_graph import parse_tflite

    return parse_tflite(model) if isinstance(model, bytes | bytearray | memoryview) else model


def compare_ir(graph: Graph, model: bytes | Any) -> list[str]:
    """Differences between the IR ``graph`` and the ``.tflite`` model (bytes or parsed); [] if none."""
    tg = _parse(model)
    problems: list[str] = []
    if len(tg.ops) != len(graph.ops):
        problems.append(f"IR has {len(graph.ops)} ops, .tflite has {len(tg.ops)}: IR "
                        f"{[op.tflite_op for op in graph.ops]} vs .tflite {[op.opcode for op in tg.ops]}")
        return problems
    if len(tg.inputs) != 1 or len(tg.outputs) != 1:
        problems.append(f".tflite has {len(tg.inputs)} inputs and {len(tg.outputs)} outputs, expected one each")
        return problems
    where: dict[int, int] = {graph.input: tg.inputs[0]}  # IR tensor id -> .tflite tensor index

    def shape_of(t: int) -> tuple[int, ...]:
        shape = tg.tensors[t].shape
        return tuple(shape[1:]) if shape and shape[0] == 1 else tuple(shape)

    if shape_of(tg.inputs[0]) != graph.tensors[graph.input].shape:
        problems.append(f"input shape {graph.tensors[graph.input].shape} in IR, {shape_of(tg.inputs[0])} in .tflite")
    for op, top in zip(graph.ops, tg.ops):
        name = f"op {op.index} ({op.name})"

        def bad(what: str, ir_value: object, tfl_value: object, name: str = name) -> None:
            problems.append(f"{name}: {what} {ir_value} in IR, {tfl_value} in .tflite")

        if op.tflite_op != top.opcode:
            bad("op", op.tflite_op, top.opcode)
            continue
        acts = [t for t in top.inputs if t >= 0 and not tg.tensors[t].is_constant]
        consts = [t for t in top.inputs if t >= 0 and tg.tensors[t].is_constant]
        ir_inputs = [where.get(t) for t in op.inputs]
        if sorted(ir_inputs, key=str) != sorted(acts, key=str):
            bad("input tensors", ir_inputs, acts)
        if len(top.outputs) != 1:
            bad("outputs", 1, len(top.outputs))
            continue
        out = top.outputs[0]
        where[op.output] = out
        if tg.tensors[out].dtype != "int8":
            bad("output dtype", "int8", tg.tensors[out].dtype)
        if acts and shape_of(acts[0]) != op.in_shape:
            bad("input shape", op.in_shape, shape_of(acts[0]))
        if shape_of(out) != op.out_shape:
            bad("output shape", op.out_shape, shape_of(out))
        activation = top.options.get("activation", "NONE")
        if op.kind in ("conv", "pointwise", "depthwise", "add", "fc") and activation != ("RELU6" if op.relu6 else "NONE"):
            bad("fused activation", "RELU6" if op.relu6 else "NONE", activation)
        if op.kind in ("conv", "pointwise", "depthwise", "fc"):
            w = tg.tensors[top.inputs[1]]
            b = tg.tensors[top.inputs[2]] if len(top.inputs) > 2 and top.inputs[2] >= 0 else None
            if w.nbytes != op.weight_bytes:
                bad("weight bytes", op.weight_bytes, w.nbytes)
            if (b.nbytes if b is not None else 0) != op.bias_bytes:
                bad("bias bytes", op.bias_bytes, b.nbytes if b is not None else 0)
            if w.scale.size != op.quant_channels:
                bad("weight quantization channels", op.quant_channels, w.scale.size)
            if op.kind != "fc":
                kernel = w.shape[1:3]
                if tuple(kernel) != (op.kernel, op.kernel):
                    bad("kernel", (op.kernel, op.kernel), tuple(kernel))
                stride = (top.options.get("stride_h"), top.options.get("stride_w"))
                if stride != (op.stride, op.stride):
                    bad("stride", (op.stride, op.stride), stride)
                if top.options.get("padding") != "SAME":
                    bad("padding", "SAME", top.options.get("padding"))
        elif op.kind == "mean":
            axes = [tg.tensors[t].data.tolist() for t in consts]
            if axes != [[1, 2]] or top.options.get("keep_dims", False):
                bad("mean axes/keep_dims", "[1, 2]/False", f"{axes}/{top.options.get('keep_dims')}")
    if where.get(graph.output) != tg.outputs[0]:
        problems.append(f"graph output is tensor {where.get(graph.output)} in IR, {tg.outputs[0]} in .tflite")
    return problems


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy (fraction)."""
    if len(labels) == 0:
        return 0.0
    return float((np.asarray(logits).argmax(axis=1) == np.asarray(labels)).mean())


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

    from ofa_mcu.export.tflm import interpreter

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
