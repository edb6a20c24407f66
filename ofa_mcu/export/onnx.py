"""ONNX export of one subnet: float (``onnx``) or INT8 QDQ (``onnx-int8``), verified with onnxruntime.

The second exit besides the INT8 ``.tflite``: runtimes that take ONNX (onnxruntime on Cortex-A
gateways, vendor NPU toolchains). The subnet is recalibrated and extracted exactly as for the
TFLite export, then written by torch's TorchScript-based ONNX exporter (opset
:data:`OPSET`, NCHW float input ``input`` with a dynamic batch, output ``logits``, the ofa-mcu
metadata in ``metadata_props``). Verification with onnxruntime on the held-out TEST split:

- float: the largest absolute difference between onnxruntime's and the PyTorch subnet's logits
  (goal <= :data:`FLOAT_TOLERANCE`), and both accuracies;
- INT8: onnxruntime's static quantization in the QDQ format (per-channel int8 weights, int8
  activations, min/max calibration) on the SAME calibration images the TFLite export uses
  (:meth:`~ofa_mcu.data.DataSplit.calibration_images` with the same count and seed), its test
  accuracy against the TFLite INT8 model's on TFLM (the TFLite export runs too; goal: within
  :data:`INT8_TOLERANCE_POINTS` points).

The same inputs give the same bytes (checked by the tests). ``onnx`` and ``onnxruntime`` are
the ``onnx`` extra; nothing but this module imports them, and analysis and search never import
this module.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ofa_mcu.config import SubnetConfig
from ofa_mcu.errors import UserError
from ofa_mcu.export.pipeline import DEFAULT_CALIBRATION_SAMPLES, ExportResult, model_metadata

OPSET = 17
FORMATS = ("onnx", "onnx-int8")
FLOAT_TOLERANCE = 1e-4  # goal for max |onnxruntime - torch| on the float logits
INT8_TOLERANCE_POINTS = 1.0  # goal for |ONNX INT8 - TFLite INT8| test accuracy, in points
ONNX_FORMAT = "ofa-mcu-onnx/1"
_BATCH = 256  # onnxruntime inference batch


def require_onnx() -> None:
    """One line when the ``onnx`` extra is not installed."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise UserError("the ONNX export needs the packages onnx and onnxruntime (pip install -e '.[onnx]'; "
                        "`make install` installs them)") from None


def _session(model: bytes) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def run_onnx(model: bytes, x: np.ndarray) -> np.ndarray:
    """Logits of an ONNX model from this module for an N,C,H,W float32 batch (onnxruntime, CPU)."""
    sess = _session(model)
    name = sess.get_inputs()[0].name
    out = [sess.run(None, {name: np.ascontiguousarray(x[i:i + _BATCH], dtype=np.float32)})[0]
           for i in range(0, len(x), _BATCH)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _torch_to_onnx(net: Any, shape: tuple[int, ...]) -> bytes:
    import torch

    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notice
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(shape),), buf, dynamo=False, opset_version=OPSET,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
    return buf.getvalue()


def _with_metadata(model: bytes, meta: dict[str, Any]) -> bytes:
    """The model with the ofa-mcu metadata (space + subnet, as in the .tflite) in ``metadata_props``."""
    import onnx

    proto = onnx.load_from_string(model)
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = "ofa_mcu", json.dumps(meta, sort_keys=True)
    proto.producer_name = "ofa-mcu"
    onnx.checker.check_model(proto)
    return proto.SerializeToString(deterministic=True)


class _Calibration:
    """onnxruntime's CalibrationDataReader over a fixed NCHW batch, one image at a time."""

    def __init__(self, name: str, images: np.ndarray) -> None:
        self._items = iter([{name: images[i:i + 1]} for i in range(len(images))])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)

    def rewind(self) -> None:  # not needed for a single min/max pass
        pass


def _quantize_qdq(model: bytes, calib: np.ndarray) -> bytes:
    """Static INT8 quantization in the QDQ format: per-channel int8 weights, int8 activations, min/max."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="ofa-mcu-onnx-") as tmp:
        src, pre, dst = Path(tmp) / "float.onnx", Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(model)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(dst), _Calibration("input", calib), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
        proto = onnx.load(str(dst))
    return proto.SerializeToString(deterministic=True)


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean()) if len(labels) else 0.0


def export_onnx(supernet: Any, cfg: SubnetConfig, data: Any, *, fmt: str = "onnx",
                calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES, seed: int = 0, bn_samples: int = 1000,
                test_images: int | None = None, progress: Any = None) -> ExportResult:
    """Export ``cfg`` of ``supernet`` to ONNX (``fmt`` "onnx": float; "onnx-int8": QDQ) and verify it.

    ``data``, ``calibration_samples``, ``seed``, ``bn_samples`` and ``test_images`` mean what they
    mean for :func:`ofa_mcu.export.pipeline.export_subnet`; for "onnx-int8" that TFLite export
    runs too, for the INT8 accuracy the ONNX model is compared with.
    """
    if fmt not in FORMATS:
        raise UserError(f"--format: expected one of {', '.join(FORMATS)} for the ONNX export, got {fmt!r}")
    require_onnx()
    import torch

    from ofa_mcu.data import resize
    from ofa_mcu.supernet.extract import extract
    from ofa_mcu.train.bn import recalibrate

    def step(msg: str) -> None:
        if progress is not None:
            progress(msg)

    t0 = time.perf_counter()
    space = supernet.space
    cfg = cfg.validate(space)
    res = cfg.resolution
    tflite_report: dict[str, Any] | None = None
    if fmt == "onnx-int8":
        from ofa_mcu.export.pipeline import export_subnet

        step("exporting the INT8 .tflite as the reference (same subnet, calibration images and seed)")
        tflite_report = export_subnet(supernet, cfg, data, calibration_samples=calibration_samples, seed=seed,
                                      bn_samples=bn_samples, measure=False, test_images=test_images,
                                      progress=progress).report
    step(f"recalibrating BatchNorm on {min(bn_samples, len(data.train_x))} training images")
    recalibrate(supernet, cfg, data.calibration_images(bn_samples, seed))
    net = extract(supernet, cfg).eval()
    test_x, test_y = data.test_subset(test_images, seed)
    with torch.no_grad():
        test = resize(torch.from_numpy(test_x), res)
        torch_logits = net(test).numpy()
        calib = resize(torch.from_numpy(data.calibration_images(calibration_samples, seed)), res).numpy()
    test_np = np.ascontiguousarray(test.numpy(), dtype=np.float32)
    calib = np.ascontiguousarray(calib, dtype=np.float32)

    step(f"exporting to ONNX (opset {OPSET})")
    meta = {**model_metadata(space, cfg), "onnx_format": fmt}
    float_model = _with_metadata(_torch_to_onnx(net, (1, *test_np.shape[1:])), meta)
    step(f"checking the float model on onnxruntime ({len(test_np)} test images)")
    ort_logits = run_onnx(float_model, test_np)
    max_diff = float(np.abs(ort_logits - torch_logits).max()) if len(test_np) else 0.0
    report: dict[str, Any] = {
        "format": ONNX_FORMAT,
        "onnx_format": fmt,
        "opset": OPSET,
        "space": space.name,
        "space_spec": space.to_dict(),
        "subnet": cfg.to_dict(),
        "subnet_hash": cfg.stable_hash(),
        "seed": seed,
        "bn_samples": int(min(bn_samples, len(data.train_x))),
        "input": {"name": "input", "layout": "NCHW", "dtype": "float32", "shape": ["batch", *test_np.shape[1:]]},
        "output": {"name": "logits", "dtype": "float32", "shape": ["batch", int(torch_logits.shape[1])]},
        "float_check": {"max_abs_diff": max_diff, "tolerance": FLOAT_TOLERANCE, "ok": max_diff <= FLOAT_TOLERANCE,
                        "samples": int(len(test_np)), "reference": "the PyTorch subnet (BN recalibrated)"},
        "accuracy": {"split": "test", "test_samples": int(len(test_y)), "test_source": data.test_source,
                     "torch_float": _accuracy(torch_logits, test_y), "onnx_float": _accuracy(ort_logits, test_y)},
        "runtime": "onnxruntime (CPU)",
    }
    model = float_model
    if fmt == "onnx-int8":
        assert tflite_report is not None
        step(f"quantizing to INT8 (QDQ) on {len(calib)} calibration images")
        model = _with_metadata(_quantize_qdq(float_model, calib), meta)
        step(f"INT8 inference on onnxruntime ({len(test_np)} test images)")
        int8_acc = _accuracy(run_onnx(model, test_np), test_y)
        tfl = float(tflite_report["accuracy"]["int8"])
        diff = round(100 * (int8_acc - tfl), 3)
        report["calibration_samples"] = int(len(calib))
        report["quantization"] = {"format": "QDQ", "weights": "int8 per channel (symmetric)",
                                  "activations": "int8 per tensor (asymmetric)", "calibration": "min/max"}
        report["accuracy"]["onnx_int8"] = int8_acc
        report["int8_check"] = {"tflite_int8": tfl, "tflite_int8_runtime": "tflm (tflite-micro reference kernels)",
                                "tflite_sha256": tflite_report["sha256"],
                                "tflite_calibration_samples": tflite_report["calibration_samples"], "diff_points": diff,
                                "tolerance_points": INT8_TOLERANCE_POINTS, "ok": abs(diff) <= INT8_TOLERANCE_POINTS}
    report["model_bytes"] = len(model)
    report["sha256"] = hashlib.sha256(model).hexdigest()
    report["export_seconds"] = round(time.perf_counter() - t0, 3)
    return ExportResult(model, report)
