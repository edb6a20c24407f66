"""The ``tflm`` runtime: TensorFlow Lite for Microcontrollers' interpreter on the board.

Owns what the library knows about TFLM as a deployment target: the arena planner
(:func:`ofa_mcu.planner.plan_tflm`, CMSIS-NN scratch for boards built with it), the flash model
of a ``.tflite`` in flash, TFLM's default latency coefficients per core, the firmware folder
(``firmware/tflm``: profiler, platform glue) and the TFLM / CMSIS-NN source trees the project's
CMake needs, and the model sources (:func:`ofa_mcu.tflm.codegen.model_sources`,
``templates/tflm/``). The default runtime for real boards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ofa_mcu.planner import plan_tflm_kernels
from ofa_mcu.planner.tflm import KERNELS
from ofa_mcu.runtimes.registry import (
    FlashModel,
    LibrarySources,
    ModelRequest,
    ModelSources,
    Runtime,
    register_runtime,
    scaled_latency,
)
from ofa_mcu.tflm.codegen import RESOLVER_METHODS, RUNTIME, check_model
from ofa_mcu.tflm.codegen import model_sources as tflm_model_sources
from ofa_mcu.tflm.library import library_files

NAME = RUNTIME  # the name the TFLM package writes into its projects

#: The flatbuffer stores per-channel float32 scales and int64 zero points for weights and biases
#: (24 B per channel), plus per-tensor and per-operator tables (a conv op also brings its weight
#: and bias tensors) and a fixed part (header, op codes, signature, the converter's and ofa-mcu's
#: metadata). Calibrated against exported ``.tflite`` sizes (``benchmarks/export_arena.py``): an
#: upper bound, 0.01-0.4% above the real file on random subnets of both shipped spaces.
FLASH = FlashModel(per_channel=24, per_tensor=96, per_op=300, fixed=2048)

#: TFLM's reference kernels on a Cortex-M4 (DESIGN.md: ~17.4 instructions per MAC overall) and,
#: for boards that build them, the CMSIS-NN kernels (``benchmarks/tflm_qemu.py``, QEMU
#: mps2-an386: CMSIS_NN_M4_MEASURED); other cores scaled. Without the DSP extension (M0, M0+,
#: M3) CMSIS-NN runs its plain-C paths, which were not measured: the reference table stands.
#: The global AVERAGE_POOL_2D: 9.0 (reference) and 6.8 (CMSIS-NN) instructions per MAC, measured on
#: that model's pooling (it replaced MEAN, whose reference kernel took 137 under CMSIS-NN builds).
#: SOFTMAX (per element) runs the same gemmlowp arithmetic as the native kernel (330
#: instructions per element measured there), taken as 400 for both sets: an estimate.
_KINDS = ("conv", "depthwise", "pointwise", "add", "avgpool", "fc", "softmax")
_REFERENCE_M4 = {
    "cycles_per_mac": {"conv": 14.0, "depthwise": 20.0, "pointwise": 14.0, "add": 10.0, "avgpool": 9.0, "fc": 12.0,
                       "softmax": 400.0},
    "cycles_per_op": dict.fromkeys(_KINDS, 2000.0),
}
CMSIS_NN_M4_MEASURED = {  # the 2.17 M-MAC MobileNetV2-like model, Feb-2023 Arduino tree; per-MAC incl. each op's fixed cost
    "cycles_per_mac": {"conv": 6.2, "depthwise": 8.9, "pointwise": 3.8, "add": 80.8, "avgpool": 6.8, "fc": 3.3,
                       "softmax": 400.0},
    "cycles_per_op": dict.fromkeys(_KINDS, 2000.0),
}


def _core_table(factor: float, dsp: bool) -> dict[str, Any]:
    """The reference table scaled for a core, with its CMSIS-NN table beside it."""
    cmsis = scaled_latency(CMSIS_NN_M4_MEASURED if dsp else _REFERENCE_M4, factor)
    return {**scaled_latency(_REFERENCE_M4, factor), "kernels": {"cmsis-nn": cmsis}}


DEFAULT_LATENCY = {
    "cortex-m0": _core_table(1.5, dsp=False), "cortex-m0plus": _core_table(1.5, dsp=False),
    "cortex-m3": _core_table(1.2, dsp=False), "cortex-m4": _core_table(1.0, dsp=True),
    "cortex-m7": _core_table(0.8, dsp=True), "cortex-m33": _core_table(1.0, dsp=True),
    "cortex-m33+nodsp": _core_table(1.0, dsp=False), "cortex-m55": _core_table(0.8, dsp=True),
}  # fmt: skip

SOURCE_TREES = (
    ({"var": "TFLM_DIR", "check": "tensorflow/lite/micro/micro_interpreter.h", "what": "a TFLM source tree",
      "hint": "Create one with tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py from a "
              "tflite-micro checkout, or use the src/ folder of tflite-micro-arduino-examples (README.md, "
              "'A TFLM tree').",
      "checkout": "tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py",
      "checkout_hint": "python3 tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py "
                       "--makefile_options=\"TARGET=cortex_m_generic TARGET_ARCH=cortex-m4 "
                       "OPTIMIZED_KERNEL_DIR=cmsis_nn\" /tmp/tflm-tree"},),
    ({"var": "CMSIS_NN_DIR", "check": "Include/arm_nnfunctions.h", "what": "a CMSIS-NN source tree",
      "hint": "Clone ARM-software/CMSIS-NN, or leave CMSIS_NN_DIR unset for reference kernels."},),
)


#: The CMake names (``OFA_TFLM_KERNELS``) of the kernel sets a TFLM project can be built with.
_CMAKE_KERNELS = {"reference": "reference", "cmsis-nn": "cmsis_nn"}


def _build_defines(kernels: str, cache: Path | None) -> dict[str, str]:
    """CMake definitions of a TFLM build: the kernels to compile and the shared library cache."""
    return {"OFA_TFLM_KERNELS": _CMAKE_KERNELS[kernels], "OFA_TFLM_CACHE_DIR": str(cache) if cache else ""}


def _meta(board: Any, req: ModelRequest) -> dict[str, Any]:
    """What the TFLM model sources read about the model (the export report, subnet, prediction)."""
    meta: dict[str, Any] = {**req.report, "name": req.name, "model_name": req.name, "board": board.name}
    if req.space is not None and req.subnet is not None:
        meta.update({"space_spec": req.space.to_dict(), "subnet": req.subnet.to_dict(),
                     "subnet_hash": req.subnet.stable_hash()})
    if "arena_bytes" in req.predicted:
        meta.update({"sram_bytes": req.predicted["arena_bytes"], "flash_bytes": req.predicted["flash_bytes"]})
    if req.space is not None:
        meta["space"] = req.space.name
    return meta


def _sources(model: bytes, board: Any, req: ModelRequest) -> ModelSources:
    req.say("generating the TFLM model sources")
    sources, extra = tflm_model_sources(model, board, _meta(board, req))
    layers = None
    if req.subnet is None:  # TFLM's profiler reports every op (RESHAPE and ops outside the IR too)
        layers = [{"index": x.index, "name": x.name or f"op{x.index}", "kind": x.kind, "tflite_op": x.op,
                   "macs": x.macs} for x in extra["tflm"]["model"].layers]
    arena = extra["tflm"]["arena"]
    # the arena the firmware reserves for each kernel set (model_config.h picks one at build time)
    reserved = {"reference": arena.bytes_reference, "cmsis-nn": arena.bytes_cmsis_nn}
    return ModelSources(dict(sources), dict(extra or {}), layers, info={"firmware_arena_bytes": reserved})


def _modes(models: list[bytes], board: Any, reqs: list[ModelRequest], name: str) -> ModelSources:
    from ofa_mcu.tflm.modes import modes_sources

    say = reqs[0].say if reqs else (lambda _m: None)
    say(f"generating the TFLM sources of {len(models)} modes sharing one tensor arena")
    files, extra, described, arenas = modes_sources(models, board, [_meta(board, r) for r in reqs], name=name,
                                                    names=[r.name for r in reqs])
    layers = [[{"index": x.index, "name": x.name or f"op{x.index}", "kind": x.kind, "tflite_op": x.op,
                "macs": x.macs} for x in m.layers] for m in described]
    reserved = {"reference": max(a.bytes_reference for a in arenas), "cmsis-nn": max(a.bytes_cmsis_nn for a in arenas)}
    info = {"firmware_arena_bytes": reserved, "mode_layers": layers,
            "tflm_modes": [{"arena": a.to_dict(), "ops": [o["op"] for o in m.ops]} for m, a in zip(described, arenas)],
            "flash_sharing": {"weight_bytes_separate": 0, "weight_bytes_stored": 0, "saved_bytes": 0, "saved_pct": 0.0,
                              "rule": "none: TFLM reads every mode's flatbuffer in place (the native runtime shares)"}}
    return ModelSources(dict(files), dict(extra), layers[0], info, described)


def _library(model: bytes, board: Any, req: ModelRequest) -> LibrarySources:
    req.say("generating the TFLM model sources and the ofa_model API over the interpreter")
    files, api, described = library_files(model, board, _meta(board, req), name=req.name)
    info = {"arena_bytes": api["arena_bytes"], "ops": api["kernels"]}
    return LibrarySources(dict(files), api, cxx=True, needs=("TFLM",), info=info, model=described)


@register_runtime
def tflm() -> Runtime:
    return Runtime(
        name=NAME,
        description="TFLM interpreter (reference or CMSIS-NN kernels), model as a .tflite in flash",
        plan=plan_tflm_kernels,
        flash=FLASH,
        default_latency=DEFAULT_LATENCY,
        firmware_subdirs=("tflm",),
        source_trees=SOURCE_TREES,
        model_sources=_sources,
        library_sources=_library,
        modes_sources=_modes,
        template_dir="tflm",
        default_on_emulated=False,
        measures_tflm_arena=True,
        compile_steps=8,
        kernel_sets=KERNELS,
        build_defines=_build_defines,
        persistent_label="TFLM persistent data",
        rank=0,
        ops=frozenset(RESOLVER_METHODS),
        check_model=check_model,
    )
