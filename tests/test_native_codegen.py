"""Native runtime code generator: the GENERATED model.c, host-compiled with gcc, is bit-exact with TFLM.

For 20 random subnets (12 of mcu-32 at resolution 24, 8 of mcu-imagenet at resolution 96 with
shallow stages), each exported to INT8 with the real export path (random supernet weights, BN
statistics recalibrated on random images, TensorFlow's converter), ``generate_native`` writes
model.c; gcc compiles it with the kernels (-Wall -Wextra -Werror) into a shared library whose
``runner_layer_end`` hook calls back into Python after every layer. For 10 inputs per model the
output and EVERY intermediate tensor (read from the arena at the planned offset right after its
layer) must equal ``tflite_micro.runtime.Interpreter`` with kPreserveAllTensors. Half the models
use the kernels' DSP code paths (plain-C models of SMLAD & co.).

Also: the arena is exactly the native planner's prediction for the subnet's IR (what `analyze`
and the search use), generation is deterministic, RESHAPE is an alias, unsupported models are one
clear error, and the generated sources cross-compile for Cortex-M0/M4 with -Werror.

Converted models are cached per session, and across sessions in pytest's cache folder (keyed by
the subnet, the seed, TensorFlow's version and the sources of the export path).
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import importlib.util
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import load_benchmark, require_tool

from ofa_mcu import tflite
from ofa_mcu.analysis import analyze
from ofa_mcu.config import SubnetConfig
from ofa_mcu.errors import UserError
from ofa_mcu.ir import build_graph
from ofa_mcu.native.codegen import FUSED_KIND, generate_native
from ofa_mcu.planner import plan_native
from ofa_mcu.space import load_space

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("tensorflow", "tflite_micro")),
    reason="needs the [export] extras (tensorflow-cpu, tflite-micro)",
)

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "firmware" / "kernels"
RUNNER = ROOT / "firmware" / "runner"
CFLAGS = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-pedantic"]
N_INPUTS = 10
# (space, resolution, seeds): 12 + 8 = 20 random subnets
MODELS = [("mcu-32", 24, s) for s in range(1, 13)] + [("mcu-imagenet", 96, s) for s in range(1, 9)]

# Host stand-ins for the runner's profiling hooks: runner_layer_end calls back into Python.
HARNESS_C = """
#include <stdint.h>
#include "runner.h"
typedef void (*layer_cb_t)(uint32_t index);
static layer_cb_t s_cb;
void harness_set_callback(layer_cb_t cb) { s_cb = cb; }
void runner_layer_begin_named(uint32_t index, const char *kind, const char *name)
{
    (void)index; (void)kind; (void)name;
}
void runner_layer_begin(uint32_t index, const char *kind) { (void)index; (void)kind; }
void runner_layer_end(uint32_t index) { if (s_cb != 0) { s_cb(index); } }
"""


def _config(space_name: str, res: int, seed: int) -> SubnetConfig:
    space = load_space(space_name)
    depths = None if space_name == "mcu-32" else tuple(spec.depths[:2] for spec in space.stages)
    return SubnetConfig.sample(space, seed, resolutions=(res,), depths=depths)


def _source_key() -> str:
    """Changes whenever the export path or TensorFlow changes (cross-session cache key)."""
    import tensorflow as tf

    h = hashlib.sha256(tf.__version__.encode())
    for sub in ("export", "supernet"):
        for p in sorted((ROOT / "ofa_mcu" / sub).glob("*.py")):
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _export(space_name: str, res: int, seed: int) -> bytes:
    import torch

    from ofa_mcu.export.convert import export_tflite
    from ofa_mcu.export.pipeline import model_metadata, to_nhwc
    from ofa_mcu.supernet.extract import extract
    from ofa_mcu.supernet.model import Supernet
    from ofa_mcu.train.bn import recalibrate

    space = load_space(space_name)
    cfg = _config(space_name, res, seed)
    torch.manual_seed(seed)
    sn = Supernet(space).eval()
    images = np.random.default_rng(seed).random((16, space.in_channels, res, res), dtype=np.float32)
    recalibrate(sn, cfg, images)
    return export_tflite(extract(sn, cfg), to_nhwc(images[:8]), metadata=model_metadata(space, cfg))


class ModelCache:
    """Exported models by (space, resolution, seed): in memory, and on disk across sessions."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.models: dict[tuple[str, int, int], bytes] = {}
        self.key: str | None = None

    def get(self, space_name: str, res: int, seed: int) -> bytes:
        k = (space_name, res, seed)
        if k not in self.models:
            path = None
            if self.folder is not None:
                self.key = self.key or _source_key()
                cfg_hash = _config(space_name, res, seed).stable_hash()
                path = self.folder / f"{space_name}-{res}-{seed}-{cfg_hash}-{self.key}.tflite"
            if path is not None and path.is_file():
                self.models[k] = path.read_bytes()
            else:
                self.models[k] = _export(space_name, res, seed)
                if path is not None:  # atomic: parallel workers may export the same model
                    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                    tmp.write_bytes(self.models[k])
                    os.replace(tmp, path)
        return self.models[k]


@pytest.fixture(scope="session")
def models(request: pytest.FixtureRequest) -> ModelCache:
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    try:
        folder: Path | None = Path(request.config.cache.mkdir("ofa_native_models"))
    except Exception:  # noqa: BLE001 - no cache (e.g. -p no:cacheprovider): convert every session
        folder = None
    return ModelCache(folder)


@pytest.fixture(scope="session")
def kernel_objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """The kernels and the harness compiled once, portable and with the emulated DSP paths."""
    gcc = require_tool("gcc")
    d = tmp_path_factory.mktemp("native_objs")
    (d / "harness.c").write_text(HARNESS_C)
    out: dict[str, list[Path]] = {}
    for variant, extra in (("portable", []), ("dsp", ["-DOFA_EMULATE_DSP"])):
        objs = []
        for src in [*sorted(KERNELS.glob("*.c")), d / "harness.c"]:
            obj = d / f"{variant}-{src.stem}.o"
            cmd = [gcc, *CFLAGS, "-O2", "-fPIC", f"-I{KERNELS}", f"-I{RUNNER}", *extra, "-c", str(src), "-o", str(obj)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            assert res.returncode == 0, res.stderr
            objs.append(obj)
        out[variant] = objs
    return out


class HostModel:
    """A generated model.c compiled for the host; ``run`` returns every layer's output."""

    def __init__(self, model: Any, folder: Path, objects: list[Path]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in model.sources.items():
            (folder / name).write_text(text)
        so = folder / "libmodel.so"
        cmd = ["gcc", *CFLAGS, "-fPIC", "-shared", f"-I{folder}", f"-I{KERNELS}", f"-I{RUNNER}",
               str(folder / "model.c"), *map(str, objects), "-o", str(so)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr[-3000:]
        self.model = model
        self.lib = ctypes.CDLL(str(so))
        self.arena = np.ctypeslib.as_array((ctypes.c_int8 * model.arena_bytes).in_dll(self.lib, "ofa_arena"))
        self.layers = {layer.index: layer for layer in model.layers}
        self.captured: dict[int, np.ndarray] = {}
        cb_type = ctypes.CFUNCTYPE(None, ctypes.c_uint32)
        self._cb = cb_type(self._on_layer_end)  # keep a reference
        self.lib.harness_set_callback(self._cb)

    def _on_layer_end(self, index: int) -> None:
        layer = self.layers[index]
        self.captured[index] = self.arena[layer.output:layer.output + layer.output_bytes].copy()

    def run(self, x: np.ndarray) -> tuple[dict[int, np.ndarray], np.ndarray]:
        m = self.model
        self.arena[:] = -91  # garbage: nothing may depend on a zeroed arena
        self.arena[m.input_offset:m.input_offset + m.input_bytes] = x.ravel()
        self.captured = {}
        assert self.lib.ofa_model_invoke() == 0
        return self.captured, self.arena[m.output_offset:m.output_offset + m.output_bytes].copy()


def _inputs(graph: tflite.Graph, n: int, seed: int) -> np.ndarray:
    """Half uniformly random int8, half quantized smooth images in the input's real range."""
    rng = np.random.default_rng(seed)
    t = graph.tensors[graph.inputs[0]]
    shape = t.shape
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append(rng.integers(-128, 128, shape).astype(np.int8))
        else:
            base = rng.random((1, 4, 4, shape[3]))
            img = np.kron(base, np.ones((1, (shape[1] + 3) // 4, (shape[2] + 3) // 4, 1)))[:, : shape[1], : shape[2]]
            q = np.round(img / float(t.qscale)) + t.qzero
            out.append(np.clip(q, -128, 127).astype(np.int8))
    return np.stack(out)


def _tflm_all(model: bytes, graph: tflite.Graph, xs: np.ndarray) -> list[dict[int, np.ndarray]]:
    from tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(
        model, arena_size=8 * len(model) + (4 << 20), intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors
    )
    outs = []
    wanted = [op.outputs[0] for op in graph.ops]
    for x in xs:
        interp.set_input(x, 0)
        interp.invoke()
        outs.append({t: np.asarray(interp.GetTensor(t, 0)["tensor_data"]).ravel().copy() for t in wanted})
    return outs


def _compare(host: HostModel, model: bytes, graph: tflite.Graph, xs: np.ndarray, label: str,
             tflite_out: Callable[[int], int] | None = None) -> int:
    golden = _tflm_all(model, graph, xs)
    checked = 0
    for k, x in enumerate(xs):
        got, final = host.run(x)
        assert sorted(got) == sorted(host.layers), f"{label}: layers reported {sorted(got)}"
        for layer in host.model.layers:
            t = graph.ops[layer.tflite_index].outputs[0] if tflite_out is None else tflite_out(layer.tflite_index)
            want = golden[k][t]
            y = got[layer.index]
            if not np.array_equal(y, want):
                diff = np.abs(y.astype(np.int32) - want.astype(np.int32))
                raise AssertionError(
                    f"{label} input {k}: layer {layer.index} {layer.name} ({layer.function}) differs from TFLM in "
                    f"{int((diff > 0).sum())}/{y.size} values, max |diff| {int(diff.max())}")
            checked += 1
        assert np.array_equal(final, golden[k][graph.outputs[0]]), f"{label} input {k}: final output differs"
    return checked


@pytest.mark.slow
@pytest.mark.parametrize(("space_name", "res", "seed"), MODELS, ids=[f"{s}-{r}-{n}" for s, r, n in MODELS])
def test_generated_model_is_bit_exact_with_tflm(space_name: str, res: int, seed: int, models: ModelCache,
                                                kernel_objects: dict[str, list[Path]], tmp_path: Path) -> None:
    data = models.get(space_name, res, seed)
    nm = generate_native(data, name=f"{space_name}-{seed}")
    graph = tflite.parse_tflite(data)
    # the arena is the native planner's prediction for this subnet: the number the search used
    space = load_space(space_name)
    cfg = _config(space_name, res, seed)
    assert nm.arena_bytes == plan_native(build_graph(space, cfg)).activation_bytes
    a = analyze(space, cfg, runtime="native")
    assert nm.arena_bytes == a.plan.peak_bytes
    assert a.peak_sram_bytes == nm.arena_bytes + a.graph.tensors[a.graph.input].bytes  # + the runner's input copy
    fused = plan_native(build_graph(space, cfg)).fused  # expand -> strided depthwise, one kernel call
    assert fused and all(dw == ex + 1 for ex, dw in fused.items())
    assert [layer.kind for layer in nm.layers] == [
        FUSED_KIND if op.index in fused.values() else op.kind for op in build_graph(space, cfg).ops
        if op.index not in fused]
    assert any(layer.inplace and layer.kind == "depthwise" for layer in nm.layers)
    variant = "dsp" if seed % 2 == 0 else "portable"
    host = HostModel(nm, tmp_path / "gen", kernel_objects[variant])
    xs = _inputs(graph, N_INPUTS, seed)
    checked = _compare(host, data, graph, xs, f"{space_name} seed {seed} [{variant}]")
    assert checked == N_INPUTS * (len(graph.ops) - len(fused))  # a fused expand output never exists


@pytest.mark.slow
@pytest.mark.parametrize(("model", "variant"), [(MODELS[0], "dsp"), (MODELS[0], "portable"), (MODELS[13], "dsp"),
                                                (MODELS[13], "portable")], ids=["mcu32-dsp", "mcu32-portable",
                                                                                "imagenet-dsp", "imagenet-portable"])
def test_compact_kernels_are_bit_exact_with_tflm(model: tuple[str, int, int], variant: str, models: ModelCache,
                                                 kernel_objects: dict[str, list[Path]], tmp_path: Path) -> None:
    """The compact kernel choice (per op family the general loops of fewest bytes instead of each
    layer's fast variant) gives every layer's TFLM output, with less kernel code than the fast choice,
    the same arena, and says so in the generated sources."""
    data = models.get(*model)
    target = {"core": "cortex-m4" if variant == "dsp" else "cortex-m0", "dsp": variant == "dsp"}
    fast = generate_native(data, name="m", **target)
    nm = generate_native(data, name="m", kernels="compact", **target)
    k = nm.kernels
    assert k["requested"] == "compact" and k["choice"] in ("compact", "mixed") and k["compact_families"]
    assert k["kernel_bytes"] == k["compact_bytes"] < k["fast_bytes"] == fast.kernels["kernel_bytes"]
    assert nm.arena_bytes == fast.arena_bytes and nm.const_bytes == fast.const_bytes
    assert "Kernel loops (compact): compact loops for" in nm.sources["model.c"]
    assert "Kernel loops (fast): fast loops" in fast.sources["model.c"]
    path = variant if variant == "dsp" else "portable"
    assert {e for layer in nm.layers for e in layer.entries[path]} != {e for layer in fast.layers
                                                                       for e in layer.entries[path]}
    graph = tflite.parse_tflite(data)
    host = HostModel(nm, tmp_path / "gen", kernel_objects[variant])
    fused = plan_native(build_graph(load_space(model[0]), _config(*model))).fused
    checked = _compare(host, data, graph, _inputs(graph, 4, model[2]), f"{model[0]} compact [{variant}]")
    assert checked == 4 * (len(graph.ops) - len(fused))


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["m4-dsp", "m0"])
def test_flash_prediction_matches_the_linked_firmware(variant: str, models: ModelCache, tmp_path: Path) -> None:
    """Real firmware (qemu-mps2-an386 board support; M4 or ARMv6-M code), fast and compact kernel
    loops: the generator's kernel bytes are the linked kernels' (linker map) exactly, the flash
    predicted for the whole firmware (the native flash model + runner, board support and C library +
    kernels) is within 1 KB of the ELF's text + data, and the analysis' figure with the board's
    code_bytes (what the search uses) is not below it."""
    require_tool("arm-none-eabi-gcc")
    require_tool("cmake")
    from ofa_mcu.analysis import analyze_graph
    from ofa_mcu.boards import load_board
    from ofa_mcu.firmware import build_project, render_project
    from ofa_mcu.native.variants import kernel_build
    from ofa_mcu.runtimes.native import FLASH, RUNTIME_BASE_BYTES

    bench = load_benchmark("native_flash")
    board = load_board("qemu-mps2-an386")
    core, dsp = bench.CORES[variant]
    data = models.get(*MODELS[0])
    for kernels in ("fast", "compact"):
        nm = generate_native(data, name="m", kernels=kernels, core=core, dsp=dsp)
        proj = render_project(board, tmp_path / kernels, nm.sources, runtime="native", model_name=nm.name,
                              extra_context=bench.VARIANTS[variant])
        built = build_project(proj, jobs=2)
        flash = built.size.text + built.size.data
        assert bench.flash_parts(built.elf.with_suffix(".map"))["kernels"] == nm.kernels["kernel_bytes"], kernels
        predicted = FLASH.model_bytes(nm.ir) + RUNTIME_BASE_BYTES[kernel_build(core, dsp)] + nm.kernels["kernel_bytes"]
        assert abs(predicted - flash) <= 1024, (kernels, predicted, flash)
        if variant == "m4-dsp":  # the board's own core
            assert analyze_graph(nm.ir, board, "native").flash_bytes >= flash


@pytest.mark.slow
def test_ir_and_plan_match_the_subnet_ir(models: ModelCache) -> None:
    """ir_from_tflite gives build_graph's IR op for op and the very same native plan."""
    for space_name, res, seed in (MODELS[0], MODELS[-1]):
        data = models.get(space_name, res, seed)
        mapping = tflite.to_ir(tflite.parse_tflite(data))
        ref = build_graph(load_space(space_name), _config(space_name, res, seed))
        got = mapping.graph
        fields = ("kind", "inputs", "output", "in_shape", "out_shape", "kernel", "stride", "relu6", "weight_bytes",
                  "bias_bytes", "quant_channels", "macs", "params")
        for a, b in zip(got.ops, ref.ops, strict=True):
            assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields], (a, b)
        assert [(t.shape, t.first, t.last) for t in got.tensors] == [(t.shape, t.first, t.last) for t in ref.tensors]
        p1, p2 = plan_native(got), plan_native(ref)
        assert (p1.groups, p1.offsets, p1.sizes, p1.scratch, p1.fused) == (p2.groups, p2.offsets, p2.sizes, p2.scratch,
                                                                 p2.fused)


@pytest.mark.slow
def test_generation_is_deterministic_and_commented(models: ModelCache) -> None:
    data = models.get(*MODELS[1])
    a = generate_native(data, name="m")
    b = generate_native(bytes(data), name="m")
    assert a.sources == b.sources
    c = a.sources["model.c"]
    assert "plan_native" in c and a.sha256 in c and "Do not edit" in c
    assert c.count("runner_layer_begin_named(") == c.count("runner_layer_end(") == len(a.layers)
    assert "static const int8_t op0_weights[" in c and "static const int32_t op0_bias[" in c
    assert "static const int32_t op0_out_mult[" in c and "static const int8_t op0_out_shift[" in c
    assert f"#define OFA_MODEL_ARENA_BYTES {a.arena_bytes}u" in a.sources["model.h"]
    assert "runner_main(&model);" in a.sources["main.c"]
    assert a.const_bytes == sum(layer.const_bytes for layer in a.layers)


def _with_reshape(graph: tflite.Graph) -> tuple[tflite.Graph, int, int]:
    """The graph with a RESHAPE [1, 1, 1, C] -> [1, C] -> FC input inserted after the global
    AVERAGE_POOL_2D."""
    mean = next(op for op in graph.ops if op.opcode == "AVERAGE_POOL_2D")
    fc = next(op for op in graph.ops if op.opcode == "FULLY_CONNECTED")
    src = graph.tensors[mean.outputs[0]]
    new_t = dataclasses.replace(src, index=len(graph.tensors), name="reshaped", shape=(1, src.shape[-1]))
    reshape = tflite.Op(mean.index + 1, "RESHAPE", (src.index,), (new_t.index,), {})
    ops = []
    for op in graph.ops:
        if op.index > mean.index:
            ins = tuple(new_t.index if (op is fc and t == src.index) else t for t in op.inputs)
            op = dataclasses.replace(op, index=op.index + 1, inputs=ins)
        ops.append(op)
    ops.insert(mean.index + 1, reshape)
    return dataclasses.replace(graph, tensors=(*graph.tensors, new_t), ops=tuple(ops)), mean.index, src.index


@pytest.mark.slow
def test_reshape_is_an_alias(models: ModelCache, kernel_objects: dict[str, list[Path]], tmp_path: Path) -> None:
    data = models.get(*MODELS[2])
    graph = tflite.parse_tflite(data)
    edited, mean_index, mean_out = _with_reshape(graph)
    nm = generate_native(data, graph=edited, name="reshaped", use_metadata=False)
    plain = generate_native(data, name="plain")
    assert "RESHAPE" in nm.sources["model.c"] and nm.arena_bytes == plain.arena_bytes
    assert len(nm.layers) == len(plain.layers) == len(graph.ops) - len(plain.plan.fused)
    host = HostModel(nm, tmp_path / "gen", kernel_objects["portable"])
    xs = _inputs(graph, 3, 7)

    def original_out(tflite_index: int) -> int:  # edited op index -> the original graph's output tensor
        return graph.ops[tflite_index if tflite_index <= mean_index else tflite_index - 1].outputs[0]

    _compare(host, data, graph, xs, "reshape", tflite_out=original_out)


@pytest.mark.slow
def test_unsupported_models_are_one_clear_error(models: ModelCache) -> None:
    data = models.get(*MODELS[0])
    graph = tflite.parse_tflite(data)
    ops = list(graph.ops)
    ops[-1] = dataclasses.replace(ops[-1], opcode="LOGISTIC")
    with pytest.raises(UserError, match="LOGISTIC"):
        generate_native(data, graph=dataclasses.replace(graph, ops=tuple(ops)), use_metadata=False)
    with pytest.raises(UserError, match="not a TFLite model"):
        generate_native(b"definitely not a flatbuffer")


ARM_CPUS = {
    "cortex-m0": ["-mcpu=cortex-m0", "-mthumb", "-masm-syntax-unified"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
}


@pytest.mark.slow
@pytest.mark.parametrize("cpu", sorted(ARM_CPUS))
def test_generated_sources_cross_compile(cpu: str, models: ModelCache, tmp_path: Path) -> None:
    gcc = require_tool("arm-none-eabi-gcc")
    nm = generate_native(models.get(*MODELS[0]))
    for name, text in nm.sources.items():
        (tmp_path / name).write_text(text)
    for src in ("model.c", "main.c"):
        cmd = [gcc, *ARM_CPUS[cpu], "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{tmp_path}", f"-I{KERNELS}",
               f"-I{RUNNER}", f"-I{ROOT / 'firmware' / 'bsp'}", "-c", str(tmp_path / src), "-o", str(tmp_path / (src + ".o"))]
        res = subprocess.run(cmd, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr[-2000:]
