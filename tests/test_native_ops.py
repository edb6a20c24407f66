"""Native runtime on models nobody here exported: every op of the MLPerf Tiny reference models
(and MAX_POOL_2D, PAD, CONCATENATION, QUANTIZE / DEQUANTIZE at the edges), bit-exact with TFLM.

Small Keras models of the reference op shapes (``tests/tf_models.py``: ResNet-8-like residual
blocks with a stride-2 conv and a 1x1 shortcut, DS-CNN-like 10x4 stride-2 conv + depthwise +
25x5 average pool, MobileNet-like with PAD / VALID / MAX_POOL_2D / CONCATENATION / a 3x2 (2, 1)
conv / MEAN, the dense autoencoder with per-tensor and per-channel FC weights) are converted with
TensorFlow's converter. ``generate_native`` writes model.c; gcc compiles it with the kernels
(-Wall -Wextra -Werror); for every input EVERY intermediate tensor must equal
``tflite_micro.runtime.Interpreter`` with kPreserveAllTensors (the harness of
``test_native_codegen``). Also: a model with float input and output is deployed with its
QUANTIZE / DEQUANTIZE left off and gives the original model's int8 tensors; residual graphs
are planned by tensor lifetimes (the arena is below TFLM's activations); an op the native
runtime lacks is one line naming it, its operator index and the tflm runtime.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from pathlib import Path

import numpy as np
import pytest
import tf_models
from test_native_codegen import HostModel, _compare, _inputs, _tflm_all, kernel_objects  # noqa: F401

from ofa_mcu import tflite
from ofa_mcu.errors import UserError
from ofa_mcu.native.codegen import FUSED_ADD_KIND, generate_native
from ofa_mcu.planner import plan_tflm
from ofa_mcu.usermodel import load_user_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("tensorflow", "tflite_micro")),
                       reason="needs the [export] extras (tensorflow-cpu, tflite-micro)"),
]

# (model, build options, variant of the kernels)
CASES = [
    ("resnet", {}, "portable"),
    ("resnet", {"float_io": True}, "dsp"),
    ("dscnn", {}, "dsp"),
    ("dscnn", {}, "portable"),
    ("mobilenet", {}, "portable"),
    ("mobilenet", {}, "dsp"),
    ("autoencoder", {"per_channel_dense": False}, "portable"),
    ("autoencoder", {}, "dsp"),
]


def _key(name: str, opts: dict) -> str:
    import tensorflow as tf

    h = hashlib.sha256(f"{tf.__version__}{name}{sorted(opts.items())}".encode())
    h.update(Path(tf_models.__file__).read_bytes())
    return h.hexdigest()[:16]


@pytest.fixture(scope="session")
def tf_model(request: pytest.FixtureRequest):
    """name, options -> .tflite bytes (converted once; cached across sessions in pytest's cache)."""
    try:
        folder: Path | None = Path(request.config.cache.mkdir("ofa_tf_models"))
    except Exception:  # noqa: BLE001 - no cache provider
        folder = None
    memo: dict[str, bytes] = {}

    def get(name: str, **opts: bool) -> bytes:
        key = _key(name, opts)
        if key not in memo:
            path = folder / f"{name}-{key}.tflite" if folder is not None else None
            if path is not None and path.is_file():
                memo[key] = path.read_bytes()
            else:
                memo[key] = tf_models.build(name, **opts)
                if path is not None:
                    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                    tmp.write_bytes(memo[key])
                    os.replace(tmp, path)
        return memo[key]

    return get


@pytest.mark.parametrize(("name", "opts", "variant"), CASES,
                         ids=[f"{n}-{'-'.join(o) or 'int8'}-{v}" for n, o, v in CASES])
def test_reference_op_shapes_are_bit_exact_with_tflm(name: str, opts: dict, variant: str, tf_model,
                                                     kernel_objects, tmp_path: Path) -> None:  # noqa: F811
    original = tf_model(name, **opts)
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(original)
    um = load_user_model(str(path), "native")  # what compile --tflite deploys
    if opts.get("float_io"):
        assert [r.split()[2] for r in um.removed] == ["QUANTIZE", "DEQUANTIZE"]
    else:
        assert um.removed == [] and um.model == original
    data = um.model
    graph = tflite.parse_tflite(data)
    nm = generate_native(data, name=name)
    ops = {op.opcode for op in graph.ops}
    assert ops <= {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D",
                   "MEAN", "RESHAPE", "PAD", "CONCATENATION"}
    # generated calls go to the layers' variants, never to the run-time dispatching entry points
    assert not re.search(r"\b(ofa_conv_s8|ofa_conv_add_s8|ofa_depthwise_s8|ofa_depthwise_s8_inplace|"
                         r"ofa_expand_depthwise_s8)\(", nm.sources["model.c"])
    host = HostModel(nm, tmp_path / "gen", kernel_objects[variant])
    xs = _inputs(graph, 6, 3) if len(graph.tensors[graph.inputs[0]].shape) == 4 else \
        np.random.default_rng(3).integers(-128, 128, (6, *graph.tensors[graph.inputs[0]].shape)).astype(np.int8)
    checked = _compare(host, data, graph, xs, f"{name} {opts} [{variant}]")
    assert checked == len(xs) * len(nm.layers)
    if opts.get("float_io"):  # the int8 tensors are the original (float-in, float-out) model's
        orig = tflite.parse_tflite(original)
        t_in = orig.tensors[orig.inputs[0]]
        q_in = graph.tensors[graph.inputs[0]]
        floats = ((xs.astype(np.float32) - q_in.qzero) * q_in.qscale).astype(np.float32)
        assert np.array_equal(np.clip(np.round(floats / q_in.qscale) + q_in.qzero, -128, 127), xs)
        from tflite_micro import runtime

        interp = runtime.Interpreter.from_bytes(original, arena_size=1 << 22,
                                                intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
        dq = orig.ops[-1]
        for k, f in enumerate(floats):
            interp.set_input(f.reshape(t_in.shape), 0)
            interp.invoke()
            want = np.asarray(interp.GetTensor(dq.inputs[0], 0)["tensor_data"]).ravel()
            _, got = host.run(xs[k])
            assert np.array_equal(got, want)
    tflm = plan_tflm(um.ir)
    assert nm.arena_bytes < tflm.peak_bytes  # TFLM's arena: activations + persistent interpreter data
    if name == "resnet":  # residual branches fused into their ADD: below TFLM's activations alone
        fused = [layer for layer in nm.layers if layer.kind == FUSED_ADD_KIND]
        assert len(fused) == 2 and nm.arena_bytes < tflm.activation_bytes
        # its plain 3x3 convs share the conv + ADD row loop (add NULL): one copy of the loop
        assert re.search(r"ofa_conv_add_s8_rows\(&op\d+, NULL, ", nm.sources["model.c"])
        assert "ofa_conv_s8_rows" not in nm.sources["model.c"]
    if name == "dscnn":  # square 1x1 convs in place
        assert any(layer.function == "ofa_pointwise_s8_inplace" for layer in nm.layers)


def test_every_native_rule_at_once_is_bit_exact(tf_model, kernel_objects, tmp_path: Path,  # noqa: F811
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """In-place square 1x1 convs forced wherever the rule allows (not only where they shrink the
    arena): next to fused expand + strided depthwise convs, in-place depthwise convs, PAD and
    CONCATENATION, every tensor still equals TFLM's."""
    import ofa_mcu.native.codegen as codegen
    from ofa_mcu.planner import native as planner

    monkeypatch.setattr(codegen, "plan_native", lambda g, cost=None: planner._plan(g, cost or planner.NativeCost())[0])
    for name in ("mobilenet", "dscnn"):
        data = tf_model(name)
        nm = generate_native(data, name=name)
        inplace_pw = [layer.index for layer in nm.layers if layer.function == "ofa_pointwise_s8_inplace"]
        if name == "dscnn":
            assert inplace_pw
        else:  # its square 1x1 conv before the strided depthwise conv is fused with it, not in place
            assert nm.plan.fused and not inplace_pw
        graph = tflite.parse_tflite(data)
        host = HostModel(nm, tmp_path / name, kernel_objects["dsp"])
        _compare(host, data, graph, _inputs(graph, 3, 2), f"{name} forced in-place")


def test_float_io_ops_are_left_off_only_at_the_edges(tf_model) -> None:
    data = tf_model("autoencoder", float_io=True, softmax=True)
    b = tflite.int8_boundary(data, origin="ae.tflite")
    g0, g1 = tflite.parse_tflite(data), tflite.parse_tflite(b.model)
    assert [op.opcode for op in g0.ops] == ["QUANTIZE", *[op.opcode for op in g1.ops], "DEQUANTIZE"]
    assert all(g1.tensors[i].dtype == "int8" for i in (*g1.inputs, *g1.outputs))
    assert tflite.int8_boundary(b.model).model == b.model and not tflite.int8_boundary(b.model).changed
    assert tflite.int8_boundary(data).model == b.model  # deterministic


def test_unsupported_op_names_the_op_its_index_and_the_runtime(tf_model, tmp_path: Path) -> None:
    path = tmp_path / "kws.tflite"
    path.write_bytes(tf_model("dscnn", sigmoid=True))  # LOGISTIC: TFLM runs it, the native kernels do not
    graph = tflite.parse_tflite(path.read_bytes())
    index = next(op.index for op in graph.ops if op.opcode == "LOGISTIC")
    with pytest.raises(UserError) as e:
        load_user_model(str(path), "native")
    msg = str(e.value)
    assert "\n" not in msg and f"operator {index} (LOGISTIC)" in msg and "--runtime tflm" in msg
    um = load_user_model(str(path), "tflm")  # TFLM runs it: an "other" op of the IR
    assert [op.tflite_op for op in um.ir.ops][-1] == "LOGISTIC"


def test_golden_reference_differs_when_a_kernel_is_wrong(tf_model, kernel_objects, tmp_path: Path) -> None:  # noqa: F811
    """The comparison can fail: a PAD with the wrong pad value is caught."""
    data = tf_model("mobilenet")
    nm = generate_native(data, name="m")
    src = nm.sources["model.c"]
    assert ".pad_value = " in src
    nm.sources["model.c"] = src.replace(".pad_value = ", ".pad_value = 1 + ")
    graph = tflite.parse_tflite(data)
    host = HostModel(nm, tmp_path / "gen", kernel_objects["portable"])
    with pytest.raises(AssertionError, match="differs from TFLM"):
        _compare(host, data, graph, _inputs(graph, 2, 1), "broken pad")
    assert _tflm_all  # the golden values come from tflite_micro


def test_tflm_arena_prediction_for_user_model_ops(tf_model) -> None:
    """The analysis' TFLM arena (plan_tflm over the IR: AVERAGE_POOL_2D, MAX_POOL_2D, PAD,
    CONCATENATION, MEAN, SOFTMAX costs, a RESHAPE TFLM gives a buffer of its own) is an upper bound
    within 3% (512 B on a model of a few KB, whose arena is mostly TFLM's own state and planning
    temporaries) of the real allocator's on models with those ops; the activations are TFLM's exactly."""
    from ofa_mcu.tflm.arena import measure_arena
    from ofa_mcu.usermodel import model_ir

    for name, opts in (("mobilenet", {}), ("dscnn", {"softmax": True}), ("autoencoder", {"softmax": True}),
                       ("reshaped", {"softmax": True})):
        data = tf_model(name, **opts)
        ir = model_ir(data, tflite.parse_tflite(data), name)
        assert len(ir.views) == (1 if name == "reshaped" else 0)
        plan, m = plan_tflm(ir), measure_arena(data)
        assert plan.activation_bytes == m.head, (name, plan.activation_bytes, m.head)
        predicted, measured = plan.peak_bytes, m.min_arena_bytes
        assert measured <= predicted <= measured + max(0.03 * measured, 512), (name, predicted, measured)
