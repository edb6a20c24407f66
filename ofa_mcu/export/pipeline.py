"""The whole export of one subnet: recalibrate, extract, convert, verify, measure, report.

``export_subnet`` is what ``ofa-mcu export`` runs; ``inspect_model`` what ``ofa-mcu inspect``
runs. Both return JSON-able reports. TensorFlow is imported (lazily) only for the conversion.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ofa_mcu import __version__
from ofa_mcu.config import SubnetConfig
from ofa_mcu.space import SearchSpace

#: ``format`` of the metadata stored in the ``.tflite`` and of the sidecar JSON.
EXPORT_FORMAT = "ofa-mcu-export/1"
DEFAULT_CALIBRATION_SAMPLES = 200
FLOAT_CHECK_SAMPLES = 64  # samples for the torch vs TensorFlow float comparison
REFERENCE_CHECK_SAMPLES = 64  # samples for the TFLM vs TFLite reference-kernel comparison

#: TFLite op -> the ``MicroMutableOpResolver`` method that registers it.
RESOLVER_CALLS = {
    "CONV_2D": "AddConv2D", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "ADD": "AddAdd", "MEAN": "AddMean",
    "AVERAGE_POOL_2D": "AddAveragePool2D", "FULLY_CONNECTED": "AddFullyConnected", "RESHAPE": "AddReshape",
    "SOFTMAX": "AddSoftmax",
}


def model_metadata(space: SearchSpace, cfg: SubnetConfig) -> dict[str, Any]:
    """What the ``.tflite`` carries so the layer IR can be rebuilt from it alone."""
    return {"format": EXPORT_FORMAT, "ofa_mcu_version": __version__, "space": space.to_dict(), "subnet": cfg.to_dict()}


def to_nhwc(x: Any) -> np.ndarray:
    """An N,C,H,W torch or numpy batch as a contiguous N,H,W,C float32 array."""
    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    return np.ascontiguousarray(arr.transpose(0, 2, 3, 1), dtype=np.float32)


def resolver(ops: list[str]) -> dict[str, Any]:
    """The TFLM op resolver a firmware needs for these ops (first-use order)."""
    unique = list(dict.fromkeys(ops))
    return {"ops": unique, "count": len(unique), "calls": [RESOLVER_CALLS.get(o, f"/* {o}: unsupported */") for o in unique]}


@dataclass
class ExportResult:
    model: bytes
    report: dict[str, Any]


def export_subnet(supernet: Any, cfg: SubnetConfig, data: Any, *, calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES,
                  seed: int = 0, bn_samples: int = 1000, measure: bool = True,
                  test_images: int | None = None, progress: Any = None) -> ExportResult:
    """Export ``cfg`` of ``supernet`` (a loaded :class:`~ofa_mcu.supernet.Supernet`) to INT8 TFLite.

    ``data`` is a :class:`~ofa_mcu.data.DataSplit`: BatchNorm statistics are recalibrated for the
    subnet on ``bn_samples`` training images, quantization is calibrated on
    ``calibration_samples`` training images (both fixed subsets for ``seed``), and the held-out
    TEST split (all of it, or a stratified subset of ``test_images``) measures float (torch) and
    INT8 (TFLM) accuracy (the validation split chose the subnet, so it would flatter it). Raises ExportError when
    the converted graph is not the clean int8 graph or does not match the layer IR.
    """
    import torch

    from ofa_mcu.data import resize
    from ofa_mcu.export.convert import ExportError, export_tflite
    from ofa_mcu.export.layers import fold_subnet
    from ofa_mcu.export.verify import accuracy, compare_ir, reference_agreement, top_ties
    from ofa_mcu.ir import build_graph
    from ofa_mcu.planner import TflmCost, plan_tflm
    from ofa_mcu.supernet.extract import extract
    from ofa_mcu.tflm.arena import measure_arena
    from ofa_mcu.tflm.host import TflmRunner, captured_stderr_fd
    from ofa_mcu.train.bn import recalibrate

    def step(msg: str) -> None:
        if progress is not None:
            progress(msg)

    t0 = time.perf_counter()
    space: SearchSpace = supernet.space
    cfg = cfg.validate(space)
    if calibration_samples < 1:
        raise ValueError("calibration_samples must be >= 1")
    res = cfg.resolution
    step(f"recalibrating BatchNorm on {min(bn_samples, len(data.train_x))} training images")
    recalibrate(supernet, cfg, data.calibration_images(bn_samples, seed))
    net = extract(supernet, cfg)
    with torch.no_grad():
        test_x, test_y = data.test_subset(test_images, seed)
        test = resize(torch.from_numpy(test_x), res)
        float_logits = net(test).numpy()
        rep = to_nhwc(resize(torch.from_numpy(data.calibration_images(calibration_samples, seed)), res))
    test_nhwc = to_nhwc(test)
    float_acc = accuracy(float_logits, test_y)

    step("building the TensorFlow graph and converting to INT8")
    folded = fold_subnet(net)
    failure: ExportError | None = None
    model = b""
    with captured_stderr_fd() as tf_log, warnings.catch_warnings():  # TensorFlow's chatter
        warnings.simplefilter("ignore")
        from ofa_mcu.export.tf_build import build_tf_function, tf_float_logits

        n_float = min(FLOAT_CHECK_SAMPLES, len(test_nhwc))
        tf_logits = tf_float_logits(build_tf_function(folded, softmax=False), test_nhwc[:n_float])
        t_convert = time.perf_counter()
        try:
            model = export_tflite(net, rep, metadata=model_metadata(space, cfg), folded=folded,
                                  tf_function=build_tf_function(folded))
        except ExportError as e:
            failure = e
        convert_s = time.perf_counter() - t_convert
    if failure is not None:
        lines = [ln for ln in tf_log[0].splitlines() if "error" in ln.lower()]
        raise ExportError(f"{failure}" + (f" (converter: {lines[-1].strip()})" if lines else "")) from failure
    float_diff = float(np.abs(tf_logits - float_logits[:n_float]).max()) if n_float else 0.0

    step("checking the .tflite against the layer IR")
    graph = build_graph(space, cfg)
    problems = compare_ir(graph, model)
    if problems:
        raise ExportError("the .tflite does not match the layer IR: " + "; ".join(problems[:5]))

    step(f"running INT8 inference on TFLM ({len(test_nhwc)} test images)")
    runner = TflmRunner(model)
    x_q = runner.input.quantize(test_nhwc)
    int8_out = runner.run_int8(x_q)
    # The model outputs int8 softmax probabilities (steps of 1/256; logits above SOFTMAX_MAX_CLASSES
    # classes): classes whose logits are close can tie at the top. argmax takes the lowest tied index, as np.argmax in the MLPerf Tiny host
    # runner does; the ties are counted and reported.
    int8_acc = accuracy(int8_out.astype(np.float32), test_y)
    ties = top_ties(int8_out, test_y)
    reference = reference_agreement(model, x_q[:REFERENCE_CHECK_SAMPLES])

    plan = plan_tflm(graph)
    cmsis = plan_tflm(graph, TflmCost(kernels="cmsis-nn"))
    report: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "ofa_mcu_version": __version__,
        "space": space.name,
        "space_spec": space.to_dict(),
        "subnet": cfg.to_dict(),
        "subnet_hash": cfg.stable_hash(),
        "seed": seed,
        "calibration_samples": int(len(rep)),
        "bn_samples": int(min(bn_samples, len(data.train_x))),
        "model_bytes": len(model),
        "sha256": hashlib.sha256(model).hexdigest(),
        "accuracy": {
            "float": float_acc, "int8": int8_acc, "drop_points": round(100 * (float_acc - int8_acc), 3),
            "split": "test", "test_samples": int(len(test_y)), "test_source": data.test_source,
            "int8_runtime": "tflm (tflite-micro reference kernels)",
            "int8_output": ("softmax (scale 1/256); top-1 = argmax, the lowest index among tied outputs"
                            if graph.ops[-1].kind == "softmax" else "logits; top-1 = argmax"),
            "int8_top_ties": ties["tied"], "int8_top_ties_with_label": ties["tied_with_label"],
        },
        "float_check": {"max_abs_diff": float_diff, "max_abs_logit": float(np.abs(float_logits).max()) if len(float_logits) else 0.0,
                        "samples": int(n_float)},
        "reference_check": reference,
        "input": runner.input.to_dict(),
        "output": runner.output.to_dict(),
        "ops": [op.tflite_op for op in graph.ops],
        "resolver": resolver([op.tflite_op for op in graph.ops]),
        "ir_check": "ok",
        "arena": {"predicted_bytes": plan.peak_bytes, "activation_bytes": plan.activation_bytes,
                  "persistent_bytes": plan.persistent_bytes, "predicted_cmsis_nn_bytes": cmsis.peak_bytes,
                  "measured_bytes": None, "error_pct": None},
        "macs": graph.macs,
        "weight_bytes": graph.weight_bytes,
        "convert_seconds": round(convert_s, 3),
    }
    from ofa_mcu.analysis import model_flash_bytes

    report["flash"] = {"predicted_model_bytes": model_flash_bytes(graph, "tflm"), "model_bytes": len(model)}
    if measure:
        step("measuring the real TFLM arena")
        m = measure_arena(model)
        report["arena"].update({
            "measured_bytes": m.min_arena_bytes,
            "error_pct": round(100 * (plan.peak_bytes - m.min_arena_bytes) / m.min_arena_bytes, 3),
            "recorded": m.to_dict(),
            "note": "measured on the 64-bit host tflite-micro build; a 32-bit MCU needs slightly less",
        })
    report["export_seconds"] = round(time.perf_counter() - t0, 3)
    return ExportResult(model, report)


def _scale_fields(t: Any) -> dict[str, Any]:
    if not t.is_quantized:
        return {"scale": None, "zero_point": None, "per_channel": 0}
    if t.per_channel:
        return {"scale": None, "zero_point": None, "per_channel": int(t.scale.size),
                "scale_range": [float(t.scale.min()), float(t.scale.max())],
                "zero_points": sorted({int(z) for z in t.zero_point.tolist()}), "axis": t.quantized_dimension}
    return {"scale": float(t.scale[0]), "zero_point": int(t.zero_point[0]) if t.zero_point.size else 0, "per_channel": 0}


def recover_ir(model: bytes, origin: str, sidecar: Any = None) -> tuple[Any, str | None]:
    """The layer IR of an exported model from its metadata (or its sidecar JSON); (None, why) if not."""
    from pathlib import Path

    from ofa_mcu.errors import UserError
    from ofa_mcu.ir import build_graph
    from ofa_mcu.tflite import read_json_metadata, subnet_from_metadata

    meta = read_json_metadata(model, origin=origin)  # metadata that is not JSON: a UserError
    source = f"{origin} metadata"
    if meta is None and sidecar is not None and Path(sidecar).is_file():
        from ofa_mcu.userfiles import read_json

        side = read_json(sidecar)
        if isinstance(side, dict) and "space_spec" in side and "subnet" in side:
            meta, source = {"space": side["space_spec"], "subnet": side["subnet"]}, str(sidecar)
    if meta is None:
        return None, "no ofa-mcu metadata in the model and no sidecar JSON beside it"
    try:
        found = subnet_from_metadata(meta, source)
    except UserError as e:
        return None, str(e)
    return build_graph(*found), None


def inspect_model(path: Any, measure: bool = True) -> dict[str, Any]:
    """Ops, tensors, weights, resolver, and measured vs predicted TFLM arena of a ``.tflite`` file."""
    from pathlib import Path

    from ofa_mcu.analysis import model_flash_bytes
    from ofa_mcu.export.verify import compare_ir
    from ofa_mcu.planner import plan_tflm
    from ofa_mcu.tflite import parse_tflite, read_tflite_bytes

    p = Path(path)
    model = read_tflite_bytes(p)
    tg = parse_tflite(model, origin=str(p))
    graph, why = recover_ir(model, str(p), p.with_suffix(".json"))
    layers = []
    for op in tg.ops:
        acts = [t for t in op.inputs if t >= 0 and not tg.tensors[t].is_constant]
        consts = [t for t in op.inputs if t >= 0 and tg.tensors[t].is_constant]
        w = tg.tensors[consts[0]] if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and consts else None
        b = tg.tensors[consts[1]] if w is not None and len(consts) > 1 else None
        layers.append({
            "index": op.index, "op": op.opcode,
            "inputs": [list(tg.tensors[t].shape) for t in acts],
            "output": list(tg.tensors[op.outputs[0]].shape) if op.outputs else [],
            "activation": op.options.get("activation"),
            "stride": op.options.get("stride_h"),
            "kernel": list(w.shape[1:3]) if w is not None and op.opcode != "FULLY_CONNECTED" else None,
            "weight_bytes": w.nbytes if w is not None else 0,
            "bias_bytes": b.nbytes if b is not None else 0,
        })
    tensors = []
    for t in tg.tensors:
        tensors.append({"index": t.index, "name": t.name, "shape": list(t.shape), "dtype": t.dtype,
                        "bytes": t.nbytes, "constant": t.is_constant, **_scale_fields(t)})
    ops = [op.opcode for op in tg.ops]
    report: dict[str, Any] = {
        "model": str(p),
        "model_bytes": len(model),
        "ops": ops,
        "layers": layers,
        "tensors": tensors,
        "input": {**tensors[tg.inputs[0]]} if tg.inputs else None,
        "output": {**tensors[tg.outputs[0]]} if tg.outputs else None,
        "weight_bytes": sum(x["weight_bytes"] for x in layers),
        "bias_bytes": sum(x["bias_bytes"] for x in layers),
        "constant_bytes": sum(t.nbytes for t in tg.tensors if t.is_constant),
        "resolver": resolver(ops),
        "space": None, "subnet": None,
        "predicted_arena_bytes": None,
        "predicted_model_bytes": None,
        "ir_check": None,
        "measured_arena_bytes": None,
    }
    if graph is not None:
        plan = plan_tflm(graph)
        problems = compare_ir(graph, tg)
        report.update({
            "space": graph.space.name, "subnet": graph.config.to_dict(),
            "predicted_arena_bytes": plan.peak_bytes,
            "predicted_model_bytes": model_flash_bytes(graph, "tflm"),
            "ir_check": "ok" if not problems else problems,
        })
    else:
        report["prediction_unavailable"] = why
    if measure:
        from ofa_mcu.tflm.arena import measure_arena

        m = measure_arena(model)
        report["measured_arena_bytes"] = m.min_arena_bytes
        report["arena_recorded"] = m.to_dict()
        if report["predicted_arena_bytes"]:
            report["arena_error_pct"] = round(100 * (report["predicted_arena_bytes"] - m.min_arena_bytes) / m.min_arena_bytes, 3)
    return report
