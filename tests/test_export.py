"""INT8 export: TensorFlow conversion, the op whitelist, IR vs .tflite, determinism, TFLM arena and
flash calibration, metadata, and the `export` / `inspect` commands.

Small subnets of mcu-32 at resolution 24 with random weights (BatchNorm statistics recalibrated on
random images so activations are in a sane range); TensorFlow is imported once for the module.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_cli

from ofa_mcu.analysis import model_flash_bytes
from ofa_mcu.config import SubnetConfig
from ofa_mcu.export.convert import ALLOWED_OPS, export_tflite
from ofa_mcu.export.layers import fold_subnet
from ofa_mcu.export.pipeline import model_metadata, recover_ir, to_nhwc
from ofa_mcu.export.verify import compare_ir, reference_agreement, reference_int8_outputs
from ofa_mcu.ir import build_graph
from ofa_mcu.planner import plan_tflm
from ofa_mcu.space import load_space
from ofa_mcu.supernet.extract import extract
from ofa_mcu.supernet.model import Supernet
from ofa_mcu.tflite import parse_tflite, read_json_metadata
from ofa_mcu.tflm.arena import measure_arena
from ofa_mcu.tflm.host import TflmRunner
from ofa_mcu.train.bn import recalibrate

# checked without importing them (TensorFlow is imported once, by the first conversion)
pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("tensorflow", "tflite_micro", "ai_edge_litert")),
    reason="export needs the [export] extras (tensorflow-cpu, tflite-micro, ai-edge-litert)",
)

RES = 24
SCRIPT_SHA = """
import hashlib, sys
sys.path[:0] = [{root!r}, {tests!r}]
from test_export import _build
net, rep, meta = _build({seed})
from ofa_mcu.export.convert import export_tflite
print(hashlib.sha256(export_tflite(net, rep, metadata=meta)).hexdigest())
"""


def _supernet(space, seed: int = 0) -> Supernet:
    torch.manual_seed(seed)
    return Supernet(space).eval()


def _build(seed: int):
    """(static subnet, representative NHWC data, metadata) of a random res-24 subnet of mcu-32."""
    space = load_space("mcu-32")
    cfg = SubnetConfig.min(space) if seed == 0 else SubnetConfig.sample(space, seed, resolutions=(RES,))
    sn = _supernet(space, seed)
    images = np.random.default_rng(seed).random((64, 3, RES, RES), dtype=np.float32)
    recalibrate(sn, cfg, images)
    net = extract(sn, cfg)
    return net, to_nhwc(images[:16]), model_metadata(space, cfg)


@pytest.fixture(scope="module")
def exported():
    """Three exported subnets: (cfg, static net, representative data, model bytes)."""
    out = []
    for seed in (0, 1, 2):
        net, rep, meta = _build(seed)
        out.append((net.config, net, rep, export_tflite(net, rep, metadata=meta)))
    return out


def test_float_graph_matches_torch():
    from ofa_mcu.export.tf_build import build_tf_function, tf_float_logits

    net, rep, _ = _build(3)
    x = torch.from_numpy(rep.transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        ref = net(x).numpy()
    folded = fold_subnet(net)
    got = tf_float_logits(build_tf_function(folded, softmax=False), rep)
    assert np.abs(got - ref).max() < 1e-4 * max(1.0, np.abs(ref).max())
    probs = tf_float_logits(build_tf_function(folded), rep)  # what is converted: softmax of the logits
    want = torch.softmax(torch.from_numpy(ref), dim=1).numpy()
    assert np.abs(probs - want).max() < 1e-5 and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_only_whitelisted_ops(exported):
    for _, _, _, model in exported:
        g = parse_tflite(model)
        ops = {op.opcode for op in g.ops}
        assert ops <= ALLOWED_OPS
        assert not ops & {"TRANSPOSE", "PAD", "QUANTIZE", "DEQUANTIZE"}
        assert g.tensors[g.inputs[0]].dtype == "int8" and g.tensors[g.outputs[0]].dtype == "int8"
        for op in g.ops:
            if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                assert op.options["padding"] == "SAME"
                w = g.tensors[op.inputs[1]]
                assert w.scale.size == w.shape[0 if op.opcode == "CONV_2D" else 3] > 1  # per channel
            if op.opcode == "FULLY_CONNECTED":
                assert g.tensors[op.inputs[1]].scale.size == 1  # per tensor (DESIGN.md)


def test_ir_matches_tflite(exported):
    space = load_space("mcu-32")
    for cfg, _, _, model in exported:
        assert compare_ir(build_graph(space, cfg), model) == []
    # a different subnet is caught
    cfg0, cfg1 = exported[0][0], exported[1][0]
    assert compare_ir(build_graph(space, cfg1), exported[0][3])
    assert compare_ir(build_graph(space, cfg0), exported[1][3])


def test_deterministic_in_process_and_across_processes(exported):
    cfg, net, rep, model = exported[1]
    meta = model_metadata(load_space("mcu-32"), cfg)
    assert export_tflite(net, rep, metadata=meta) == model
    root = str(Path(__file__).resolve().parents[1])
    code = SCRIPT_SHA.format(root=root, tests=str(Path(__file__).resolve().parent), seed=1)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == hashlib.sha256(model).hexdigest()


def test_int8_on_tflm_tracks_float_and_matches_reference_kernels(exported):
    for _, net, rep, model in exported:
        runner = TflmRunner(model)
        x_q = runner.input.quantize(rep)
        out = runner.run_int8(x_q)
        # TFLM and TFLite's reference kernels agree bit for bit except the classifier, where
        # TFLite's reference FULLY_CONNECTED rounds once and TFLM twice (off by one at most)
        ref_out = reference_int8_outputs(model, x_q)
        assert np.abs(ref_out.astype(int) - out.astype(int)).max() <= 1
        agreement = reference_agreement(model, x_q)
        assert set(agreement["first_differing_op"]) <= {"FULLY_CONNECTED"} and agreement["max_int8_diff"] <= 1
        with torch.no_grad():
            ref = torch.softmax(net(torch.from_numpy(rep.transpose(0, 3, 1, 2).copy())), dim=1).numpy()
        got = runner.output.dequantize(out)  # the model ends in SOFTMAX: probabilities in steps of 1/256
        assert np.all(np.abs(got.sum(axis=1) - 1.0) < 0.05)
        # random weights on noise images: quantization error grows layer by layer (about one
        # output step per layer), so only a loose check here; accuracy is measured on digits
        assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.85


def test_arena_prediction_is_a_tight_upper_bound(exported):
    space = load_space("mcu-32")
    for cfg, _, _, model in exported:
        m = measure_arena(model)
        predicted = plan_tflm(build_graph(space, cfg)).peak_bytes
        assert m.min_arena_bytes <= predicted <= 1.05 * m.min_arena_bytes, (cfg, m, predicted)
        # TFLM's planner and ours agree on the activations
        assert plan_tflm(build_graph(space, cfg)).activation_bytes == m.head
        # the allocator's own report is within ~2 KB of the binary search (it omits temporaries;
        # up to 2,104 B with the SOFTMAX every export ends in)
        assert abs(m.total - m.min_arena_bytes) <= 2560


def test_flash_prediction_is_a_tight_upper_bound(exported):
    space = load_space("mcu-32")
    for cfg, _, _, model in exported:
        predicted = model_flash_bytes(build_graph(space, cfg), "tflm")
        assert len(model) <= predicted <= 1.03 * len(model)


def test_metadata_rebuilds_the_ir(exported):
    cfg, _, _, model = exported[2]
    meta = read_json_metadata(model)
    assert meta is not None and SubnetConfig.from_dict(meta["subnet"]) == cfg
    graph, why = recover_ir(model, "model")
    assert why is None and graph.config == cfg


def test_analyze_reads_a_tflite_like_its_subnet(exported, tmp_path):
    """`analyze --model` reads the .tflite into the IR (ofa_mcu.tflite.to_ir): the same layers, SRAM and
    flash as the analysis of its subnet, for both runtimes; unusable metadata is a one-line error."""
    from ofa_mcu.tflite import add_metadata

    cfg, _, _, model = exported[1]
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    (tmp_path / "s.json").write_text(json.dumps(cfg.to_dict()))
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(add_metadata(model, "ofa_mcu", b"{}"))
    for rt in ("tflm", "native"):
        by_model = json.loads(run_cli("analyze", "--model", str(path), "--runtime", rt, "--target", "nucleo-f746zg",
                                      "--json", check=True).stdout)
        by_subnet = json.loads(run_cli("analyze", "--space", "mcu-32", "--subnet", str(tmp_path / "s.json"),
                                       "--runtime", rt, "--target", "nucleo-f746zg", "--json", check=True).stdout)
        for key in ("peak_sram_bytes", "model_flash_bytes", "macs", "weight_bytes", "peak_layer", "fits"):
            assert by_model[key] == by_subnet[key], (rt, key)
        assert [r["name"] for r in by_model["layers"]] == [r["name"] for r in by_subnet["layers"]]
    proc = run_cli("analyze", "--model", str(bare), "--runtime", "native", "--json")
    assert proc.returncode == 2 and "incomplete ofa-mcu metadata" in proc.stderr and "\n" not in proc.stderr.strip()
    proc = run_cli("analyze", "--model", str(tmp_path / "missing.tflite"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr


def test_bad_representative_shape():
    net, rep, _ = _build(0)
    with pytest.raises(ValueError, match="NHWC"):
        export_tflite(net, rep.transpose(0, 3, 1, 2))


# ---- the commands ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A checkpoint of an untrained mcu-32 supernet for the digits data (1 channel, 10 classes)."""
    from ofa_mcu.checkpoint import save_state
    from ofa_mcu.data import load_source

    data = load_source("digits", 0)
    space = load_space("mcu-32").for_task(classes=data.classes, in_channels=data.in_channels)
    net = _supernet(space)
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    save_state(path, {"space": space.to_dict(), "data": "digits", "seed": 0, "done": True,
                      "schedule": {"bn_calib_samples": 200},
                      "model": {k: v.detach().clone() for k, v in net.state_dict().items()}})
    return path


def test_export_and_inspect_commands(checkpoint, tmp_path):
    out = tmp_path / "min.tflite"
    proc = run_cli("export", "--checkpoint", str(checkpoint), "--preset", "min", "--out", str(out),
                   "--calibration-samples", "32", "--json", check=True)
    report = json.loads(proc.stdout)
    assert out.is_file() and (tmp_path / "min.json").is_file()
    side = json.loads((tmp_path / "min.json").read_text())
    assert side["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest() == report["sha256"]
    assert side["ir_check"] == "ok" and side["reference_check"]["max_int8_diff"] <= 1
    assert set(side["reference_check"]["first_differing_op"]) <= {"FULLY_CONNECTED"}
    arena = side["arena"]
    assert arena["measured_bytes"] <= arena["predicted_bytes"] <= 1.05 * arena["measured_bytes"]
    assert side["float_check"]["max_abs_diff"] < 1e-3
    assert side["input"]["dtype"] == "int8" and side["calibration_samples"] == 32
    assert 0.0 <= side["accuracy"]["int8"] <= 1.0
    assert side["ops"][-1] == "SOFTMAX" and side["output"]["zero_point"] == -128
    assert 0 <= side["accuracy"]["int8_top_ties_with_label"] <= side["accuracy"]["int8_top_ties"]

    proc = run_cli("inspect", str(out), "--json", check=True)
    info = json.loads(proc.stdout)
    assert info["ops"] == side["ops"]
    assert info["predicted_arena_bytes"] == arena["predicted_bytes"]
    assert info["measured_arena_bytes"] == arena["measured_bytes"]
    assert info["ir_check"] == "ok"
    assert set(info["resolver"]["ops"]) == {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "AVERAGE_POOL_2D", "FULLY_CONNECTED",
                                           "SOFTMAX"}
    text = run_cli("inspect", str(out), "--no-measure", check=True).stdout
    assert "MicroMutableOpResolver<6>" in text and "predicted" in text


def test_export_errors(checkpoint, tmp_path):
    out = str(tmp_path / "m.tflite")
    proc = run_cli("export", "--checkpoint", str(tmp_path / "missing.pt"), "--preset", "min", "--out", out)
    assert proc.returncode == 2 and "no such checkpoint" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1

    other = tmp_path / "other.json"
    other.write_text(SubnetConfig.min(load_space("mcu-imagenet")).to_json())
    proc = run_cli("export", "--checkpoint", str(checkpoint), "--subnet", str(other), "--out", out)
    assert proc.returncode == 2 and "mcu-imagenet" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1

    search = tmp_path / "search"
    search.mkdir()
    cfg = SubnetConfig.min(load_space("mcu-32")).to_dict()
    (search / "search.json").write_text(json.dumps({"boards": {"nucleo-f746zg": {"subnet": cfg}}}))
    proc = run_cli("export", "--checkpoint", str(checkpoint), "--search", str(search), "--board", "nrf52840dk",
                   "--out", out)
    assert proc.returncode == 2 and "nucleo-f746zg" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1

    proc = run_cli("inspect", str(tmp_path / "none.tflite"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m.tflite").exists()


def test_cmsis_nn_scratch_is_added_on_request():
    """CMSIS-NN's scratch (not in the host build) raises the prediction only when asked for."""
    from ofa_mcu.planner import TflmCost, cmsis_nn_scratch_bytes

    space = load_space("mcu-32")
    g = build_graph(space, SubnetConfig.min(space))  # 3x3 depthwise only: no depthwise scratch
    assert plan_tflm(g, TflmCost(kernels="cmsis-nn")).peak_bytes >= plan_tflm(g).peak_bytes
    big = build_graph(space, SubnetConfig.uniform(space, 24, "max", 7, 6))
    dw = next(op for op in big.ops if op.kind == "depthwise" and op.kernel == 7)
    assert cmsis_nn_scratch_bytes(dw) == dw.in_shape[-1] * 49 * 2
    assert plan_tflm(big, TflmCost(kernels="cmsis-nn")).peak_bytes > plan_tflm(big).peak_bytes
    with pytest.raises(ValueError):
        plan_tflm(big, TflmCost(kernels="fast"))
