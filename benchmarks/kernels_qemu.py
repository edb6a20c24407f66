"""Native int8 kernels on emulated Cortex-M cores: bit-exactness on target and instructions per MAC.

For one int8 ``.tflite`` (``--tflite``, or a built-in MobileNetV2-like model of ~1.5 M MACs that
needs TensorFlow), this script lowers every op with ``ofa_mcu.native.lowering``, renders a
bare-metal C program (``templates/benchmarks/kernels_qemu.c.j2``) (weights and parameters const in flash, one static buffer per activation
tensor, the input, and the CRC32 of every op's TFLM output), builds it with arm-none-eabi-gcc
for several cores and runs it in QEMU with ``-icount shift=0`` (virtual time counts
instructions). The firmware times each op with SysTick, calibrated against a loop of known
length, and checks each op's output CRC against TFLM (``tflite_micro``, kPreserveAllTensors).
Depthwise ops are also run in place.

Variants: Cortex-M4 with and without the DSP path (mps2-an386), Cortex-M7 (mps2-an500) and
Cortex-M0 code (ARMv6-M, run on the an386 M4 core: the instruction count of Thumb-1 code does not
depend on the core that executes it). Counts are *instructions*, not cycles.

    .venv/bin/python benchmarks/kernels_qemu.py [--tflite MODEL] [--json OUT] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from mps2_harness import KERNELS, build_elf, run_elf  # noqa: E402

from ofa_mcu import tflite  # noqa: E402
from ofa_mcu.codegen import c_int, render  # noqa: E402
from ofa_mcu.export.convert import set_int8_options  # noqa: E402
from ofa_mcu.native import lowering  # noqa: E402

VARIANTS: dict[str, tuple[str, list[str]]] = {
    "m4-dsp": ("mps2-an386", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft"]),
    "m4-portable": ("mps2-an386", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft", "-DOFA_NO_DSP"]),
    "m7-dsp": ("mps2-an500", ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=soft"]),
    "m0": ("mps2-an386", ["-mcpu=cortex-m0", "-mthumb", "-masm-syntax-unified"]),
    # a debug build: no assembly blocks, the C form of every DSP loop (not in the default runs)
    "m4-dsp-O0": ("mps2-an386", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft", "-O0"]),
}
DEFAULT_VARIANTS = ("m4-dsp", "m4-portable", "m7-dsp", "m0")

CALIB_LOOPS = 2_000_000


def default_model() -> bytes:
    """A MobileNetV2-like int8 model, 48x48x3 input, about 1.5 M MACs."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    keras = tf.keras
    L = keras.layers
    keras.utils.set_random_seed(1)
    init = keras.initializers

    def bn() -> Any:
        return L.BatchNormalization(
            gamma_initializer=init.RandomUniform(0.5, 1.5),
            beta_initializer=init.RandomNormal(0.0, 0.3),
            moving_mean_initializer=init.RandomNormal(0.0, 0.3),
            moving_variance_initializer=init.RandomUniform(0.3, 1.5),
        )

    shape = (1, 48, 48, 3)
    inp = keras.Input(shape[1:], batch_size=1)
    x = L.ReLU(6.0)(bn()(L.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inp)))
    c = 8
    for e, k, s, out_c in ((1, 3, 1, 8), (6, 3, 2, 16), (6, 5, 1, 16), (6, 7, 2, 24), (4, 3, 1, 24)):
        block_in = x
        if e != 1:
            x = L.ReLU(6.0)(bn()(L.Conv2D(c * e, 1, use_bias=False)(x)))
        x = L.ReLU(6.0)(bn()(L.DepthwiseConv2D(k, strides=s, padding="same", use_bias=False)(x)))
        x = bn()(L.Conv2D(out_c, 1, use_bias=False)(x))
        if s == 1 and out_c == c:
            x = L.Add()([block_in, x])
        c = out_c
    x = L.ReLU(6.0)(bn()(L.Conv2D(64, 1, use_bias=False)(x)))
    # the head of ofa-mcu's exports and of the MLPerf Tiny models: AVERAGE_POOL_2D over the whole map
    x = L.Dense(10)(L.Flatten()(L.AveragePooling2D(pool_size=tuple(x.shape[1:3]))(x)))
    model = keras.Model(inp, x)
    fn = tf.function(lambda t: model(t, training=False)).get_concrete_function(tf.TensorSpec(shape, tf.float32))
    conv = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
    rng = np.random.default_rng(0)

    def rep() -> Any:
        for _ in range(16):
            yield [rng.uniform(-1.0, 2.0, shape).astype(np.float32)]

    set_int8_options(conv, rep)
    return conv.convert()


def tflm_tensors(model: bytes, graph: tflite.Graph, x: np.ndarray) -> dict[int, np.ndarray]:
    from tflite_micro import runtime

    acts = graph.activation_tensors()
    arena = 2 * sum(graph.tensors[i].nbytes for i in acts) + (1 << 20)
    interp = runtime.Interpreter.from_bytes(
        model, arena_size=arena, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors
    )
    interp.set_input(x, 0)
    interp.invoke()
    return {i: np.asarray(interp.GetTensor(i, 0)["tensor_data"]).ravel().copy() for i in acts}


_ARRAY_TYPES = {"weights": "int8_t", "bias": "int32_t", "out_mult": "int32_t", "out_shift": "int8_t"}
TEMPLATE = "benchmarks/kernels_qemu.c.j2"


def context(graph: tflite.Graph, calls: list[lowering.KernelCall], x: np.ndarray,
            golden: dict[int, np.ndarray]) -> dict[str, Any]:
    """What the benchmark firmware's template reads: tensors, the input, one entry per op."""
    t = graph.tensors
    ops = []
    for c in calls:
        fields = [f".{k} = {c_int(v)}" for k, v in c.params.items()]
        arrays = []
        for name, arr in c.arrays.items():
            arrays.append({"ctype": _ARRAY_TYPES[name], "name": f"op{c.op_index}_{name}",
                           "data": [int(v) for v in np.asarray(arr).ravel()]})
            fields.append(f".{name} = op{c.op_index}_{name}")
        if c.params_type in ("ofa_conv_params_t", "ofa_fc_params_t") and "bias" not in c.arrays:
            fields.append(".bias = 0")
        ops.append({
            "index": c.op_index, "function": c.function, "params_type": c.params_type, "fields": fields,
            "arrays": arrays, "inputs": [f"t{j}" for j in c.inputs], "output": f"t{c.outputs[0]}",
            "output_bytes": t[c.outputs[0]].size, "input_bytes": t[c.inputs[0]].size, "macs": c.macs,
            "crc": zlib.crc32(golden[c.outputs[0]].astype(np.int8).tobytes()),
            "inplace": c.function == "ofa_depthwise_s8",
        })
    return {
        "tensors": [{"index": i, "size": t[i].size} for i in graph.activation_tensors()],
        "input_values": [int(v) for v in x.ravel()],
        "input_tensor": f"t{graph.inputs[0]}",
        "inplace_bytes": max([t[c.inputs[0]].size for c in calls if c.function == "ofa_depthwise_s8"] + [1]),
        "scratch_bytes": max([c.scratch_bytes for c in calls] + [1]),
        "ops": ops,
        "calib_loops": CALIB_LOOPS,
    }


def generate(graph: tflite.Graph, calls: list[lowering.KernelCall], x: np.ndarray, golden: dict[int, np.ndarray]) -> str:
    """The benchmark firmware's main file, rendered from ``templates/benchmarks/kernels_qemu.c.j2``."""
    return render(TEMPLATE, context(graph, calls, x, golden), "the kernel benchmark firmware")


def build_and_run(variant: str, src_dir: Path, main_c: Path, kernels: Path = KERNELS, tag: str = "") -> dict[str, Any]:
    """Build the benchmark firmware with the kernels of ``kernels`` (default: this tree's) and run it."""
    machine, flags = VARIANTS[variant]
    srcs = [main_c, *sorted(kernels.glob("*.c"))]
    elf = build_elf(srcs, flags, src_dir / f"bench-{variant}{tag}.elf", kernels)
    size = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], check=True, capture_output=True, text=True)
    returncode, text = run_elf(machine, elf, timeout=600)
    calib = re.search(r"CALIB (\d+) (\d+)", text)
    if calib is None:
        raise RuntimeError(f"{variant}: no output from QEMU (rc {returncode}): {text[-500:]}")
    ipt = int(calib.group(1)) / int(calib.group(2))  # instructions per SysTick tick
    ops = [
        {"op": int(m[0]), "kind": m[1], "macs": int(m[2]), "instructions": round(int(m[3]) * ipt), "ok": m[4] == "ok"}
        for m in re.findall(r"^OP (\d+) (\S+) (\d+) (\d+) (ok|BAD)$", text, re.M)
    ]
    inplace = {int(m[0]): (round(int(m[1]) * ipt), m[2] == "ok") for m in re.findall(r"^INPLACE (\d+) (\d+) (ok|BAD)$", text, re.M)}
    total = re.search(r"^TOTAL (\d+)$", text, re.M)
    text_bytes = sum(int(m) for m in re.findall(r"^\.text\s+(\d+)", size.stdout, re.M))
    return {
        "variant": variant,
        "machine": machine,
        "instructions_per_tick": ipt,
        "exit_code": returncode,
        "all_ok": returncode == 0 and "RESULT OK" in text and all(o["ok"] for o in ops),
        "ops": ops,
        "inplace": inplace,
        "total_instructions": round(int(total.group(1)) * ipt) if total else None,
        "text_bytes": text_bytes,
    }


def summarize(run: dict[str, Any]) -> dict[str, Any]:
    by_kind: dict[str, list[int]] = {}
    for o in run["ops"]:
        acc = by_kind.setdefault(o["kind"], [0, 0, 0])
        acc[0] += o["instructions"]
        acc[1] += o["macs"]
        acc[2] += 1
    dw_normal = sum(o["instructions"] for o in run["ops"] if o["op"] in run["inplace"])
    dw_inplace = sum(v[0] for v in run["inplace"].values())
    total_macs = sum(o["macs"] for o in run["ops"])
    return {
        "instructions_per_mac": {
            k: round(v[0] / v[1], 2) if v[1] else None for k, v in sorted(by_kind.items())
        },
        "instructions": {k: v[0] for k, v in sorted(by_kind.items())},
        "model_instructions_per_mac": round(run["total_instructions"] / total_macs, 2),
        "depthwise_inplace_over_normal": round(dw_inplace / dw_normal, 2) if dw_normal else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tflite", type=Path, help="int8 model (default: a built-in MobileNetV2-like one)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--keep", type=Path, help="keep the generated sources and ELFs in this folder")
    ap.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                    help="comma-separated subset of " + ",".join(VARIANTS))
    args = ap.parse_args()
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            print(f"{tool} not found", file=sys.stderr)
            return 2
    model = args.tflite.read_bytes() if args.tflite else default_model()
    graph = tflite.parse_tflite(model, origin=str(args.tflite or "built-in model"))
    calls = lowering.lower_graph(graph)
    t_in = graph.tensors[graph.inputs[0]]
    x = np.random.default_rng(123).integers(-128, 128, t_in.shape).astype(np.int8)
    golden = tflm_tensors(model, graph, x)

    work = args.keep or Path(tempfile.mkdtemp(prefix="ofa-kbench-"))
    work.mkdir(parents=True, exist_ok=True)
    main_c = work / "bench_model.c"
    main_c.write_text(generate(graph, calls, x, golden))
    macs = sum(c.macs for c in calls)
    result: dict[str, Any] = {"model_macs": macs, "ops": len(calls), "variants": {}}
    print(f"model: {len(calls)} ops, {macs} MACs")
    for v in args.variants.split(","):
        run = build_and_run(v, work, main_c)
        summ = summarize(run)
        result["variants"][v] = {**run, "summary": summ}
        print(
            f"{v:12s} {'bit-exact' if run['all_ok'] else 'MISMATCH':9s} model {summ['model_instructions_per_mac']:6.2f} "
            f"instr/MAC  per kind: "
            + ", ".join(f"{k.replace('ofa_', '').replace('_s8', '')} {val}" for k, val in summ["instructions_per_mac"].items())
            + f"  in-place dw x{summ['depthwise_inplace_over_normal']}  .text {run['text_bytes']} B"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r["all_ok"] for r in result["variants"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
