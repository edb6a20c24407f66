"""The ``native`` runtime: generated C calling our own int8 kernels (``firmware/kernels``).

Owns what the library knows about it: the arena planner (:func:`ofa_mcu.planner.plan_native`:
in-place depthwise and ADD, fused expand + strided depthwise), the flash model (constants only),
the default latency coefficients per core (fitted on QEMU instruction counts,
``benchmarks/native_qemu.py``), the firmware folder (``firmware/kernels``) and the model sources
(:func:`ofa_mcu.native.codegen.generate_native`, ``templates/native/``). Bit-exact with TFLM, a
smaller arena; the default runtime on emulated boards.
"""

from __future__ import annotations

from typing import Any

from ofa_mcu.errors import WorkFailed
from ofa_mcu.native.codegen import generate_native
from ofa_mcu.native.library import library_files
from ofa_mcu.native.lowering import SUPPORTED_OPS, check_supported
from ofa_mcu.native.modes import generate_modes
from ofa_mcu.native.variants import kernel_build
from ofa_mcu.planner import plan_native
from ofa_mcu.runtimes.registry import (
    FlashModel,
    LibrarySources,
    ModelRequest,
    ModelSources,
    Runtime,
    register_runtime,
    scaled_latency,
)

NAME = "native"
README_TEMPLATE = "native/README.md.j2"

#: The model's flash beyond its int8 weights and int32 biases: an int32 multiplier and an int8 shift per
#: channel (5 B), and per IR op about 104 B (its parameter struct, the call in ofa_model_invoke with the
#: layer hooks, its name). Fitted (least squares, benchmarks/native_flash.py) on the linker maps' model/
#: part of 28 firmware builds (ic01, kws01, vww01, ad01 and ten random mcu-32 subnets, Cortex-M4 and
#: M0): per_channel 4.99, per_op 104.3, fixed -20 B; residuals -120..+98 B with these rounded figures.
FLASH = FlashModel(per_channel=5, per_tensor=0, per_op=104, fixed=0)
#: Flash of the serial runner, board support and C library (everything but the model and the
#: kernels) per kernel build (:func:`ofa_mcu.native.variants.kernel_build`), the largest measured
#: (benchmarks/native_flash.py, qemu-mps2-an386 board support; the same 28 builds, M7 and M3 on 4 models):
#: what the generator weighs the fast kernel loops against the board's flash with (:func:`kernel_budget`).
RUNTIME_BASE_BYTES = {"m0": 9493, "m3": 8721, "m4": 7821, "m7": 8923}

_KINDS = ("conv", "depthwise", "pointwise", "add", "avgpool", "fc", "softmax")
#: Our kernels: instructions per MAC per op kind measured in QEMU over 4 random mcu-32 subnets
#: (benchmarks/native_qemu.py --n 4; avgpool, the global AVERAGE_POOL_2D that replaced MEAN, measured
#: with the kernels before this table's last remeasure): M4 with the DSP path, M0 ARMv6-M code;
#: ADD, AVERAGE_POOL_2D and SOFTMAX count one "MAC" per element. Per-op costs hardly change the fit. M4 remeasured
#: after the DSP assembly loops and four-output stage (whole-inference error 9.7% on M4, it was 21.2% with the
#: previous table against the new kernels). ADD 18 per element since its loop's rounding carries add the
#: other input and the output offset (benchmarks/kernels_qemu.py's built-in model: 20.0 -> 18.0). Depthwise
#: refitted after the DSP lanes rewrite and the transposed 3x3 band (native_qemu.py --n 4: depthwise layers
#: 3.2 per MAC, the depthwise part of the fused expand + depthwise layers about 5.8 with pointwise at 2.0;
#: 3.7-3.8 fits both together, whole-inference error 11.0% -> 5.6% with this table, per-layer median error
#: of depthwise layers about 40%: a cost per MAC that counts padded taps cannot follow small planes). Conv
#: and fc refitted after the widened-window first conv and the fully connected passes (native_qemu.py --n 4 on
#: main de29c24: first convs 2.63-2.64 per MAC, the 48 -> 10 heads 1,600 instructions, two-row loop, 1,480
#: after fa74dc5 (native_qemu.py --n 1): fc 2.9 with the 100-instruction per-op cost; conv 2.55 after 938e6e3
#: (the first conv of that subnet 2.64 -> 2.53);
#: per-layer median error conv 45% -> 1%, fc 13% -> 1%; whole inference mean 5.7% -> 6.1%, signed +4.9% ->
#: +2.3%, max 19.8% -> 16.8%: the conv's over-prediction had hidden the other kinds' under-prediction).
_M4 = {
    "cycles_per_mac": {"conv": 2.55, "depthwise": 3.8, "pointwise": 2.0, "add": 18.0, "avgpool": 17.2, "fc": 2.9,
                       "softmax": 333.0},
    "cycles_per_op": dict.fromkeys(_KINDS, 100.0),
}
#: M0 refitted after the Thumb-1 kernels (native_qemu.py --n 4: conv 8.0, depthwise 8.5, pointwise
#: 5.8, ADD 98 per element); pointwise 6.8 also carries the fused expand + depthwise layers' extra
#: cost (11.3 per MAC against 6.8 from their parts' kinds): whole-inference error 3.6%, per-layer median 7.2%.
_M0 = {
    "cycles_per_mac": {"conv": 8.0, "depthwise": 8.5, "pointwise": 6.8, "add": 98.0, "avgpool": 33.5, "fc": 8.4,
                       "softmax": 1306.0},
    "cycles_per_op": dict.fromkeys(_KINDS, 100.0),
}


#: ARMv7-M / ARMv8-M code without the DSP extension (Cortex-M3, an M33 built +nodsp) runs the
#: portable C loops: native_qemu.py --n 4, its m4-portable build (-DOFA_NO_DSP), on main ad58917: conv
#: 5.19, depthwise 7.38, pointwise 3.99, fused expand + depthwise 7.05, ADD 49.1, avgpool 17.3, fc 5.08
#: instructions per MAC, softmax 335 per element; pointwise 4.4 and depthwise 7.4 carry the fused
#: layers (whole-inference error 5.4%, per-layer median 13%). The M3 used the DSP table times 1.2
#: before: about 45% under what its code executes. Its 1.2 cycles per instruction is an estimate
#: (multi-cycle multiplies), not a measurement.
_PORTABLE = {
    "cycles_per_mac": {"conv": 5.2, "depthwise": 7.4, "pointwise": 4.4, "add": 49.0, "avgpool": 17.3, "fc": 5.1,
                       "softmax": 335.0},
    "cycles_per_op": dict.fromkeys(_KINDS, 100.0),
}


#: per core; "<core>+nodsp": that core without the DSP extension (a board YAML's ``dsp: false``)
DEFAULT_LATENCY = {
    "cortex-m0": _M0, "cortex-m0plus": _M0, "cortex-m3": scaled_latency(_PORTABLE, 1.2), "cortex-m4": _M4,
    "cortex-m7": scaled_latency(_M4, 0.8), "cortex-m33": _M4, "cortex-m33+nodsp": _PORTABLE,
    "cortex-m55": scaled_latency(_M4, 0.8),
}  # fmt: skip


def kernel_budget(board: Any, predicted: dict[str, Any]) -> int | None:
    """Bytes of kernel code the board's flash leaves a model: the flash limit (``flash_budget``)
    minus the model's flash (constants, parameters, calls: :data:`FLASH`) and the runner, board
    support and C library (:data:`RUNTIME_BASE_BYTES`); None without a flash limit."""
    limit = (predicted.get("flash_budget") or {}).get("limit")
    if limit is None or predicted.get("model_flash_bytes") is None:
        return None
    base = RUNTIME_BASE_BYTES[kernel_build(board.core, bool(board.dsp))]
    return int(limit) - int(predicted["model_flash_bytes"]) - base


def _sources(model: bytes, board: Any, req: ModelRequest) -> ModelSources:
    req.say("generating the native C model (weights in flash, arena planned by plan_native)")
    budget = kernel_budget(board, req.predicted)
    native = generate_native(model, name=req.name, origin=req.origin, kernels="auto", core=board.core,
                             dsp=bool(board.dsp), kernel_budget=budget)
    predicted = req.predicted
    if "arena_bytes" in predicted and native.arena_bytes != predicted["arena_bytes"]:
        # generate_native plans with the very planner the analysis uses: this never happens
        raise WorkFailed(f"generated arena {native.arena_bytes} B differs from the predicted "
                         f"{predicted['arena_bytes']} B")
    predicted.setdefault("arena_bytes", native.arena_bytes)
    predicted["input_store_bytes"] = native.input_bytes
    space, subnet = req.space, req.subnet
    extra_context = {"readme_template": README_TEMPLATE, "native_readme": {
        "model_bytes": len(model), "sha256": native.sha256, "space": space.name if space else None,
        "subnet_hash": subnet.stable_hash() if subnet else None, "layers": len(native.layers),
        "macs": native.macs, "input_shape": native.input_shape, "input_scale": native.input_scale,
        "input_zero_point": native.input_zero_point, "input_bytes": native.input_bytes,
        "output_bytes": native.output_bytes, "output_scale": native.output_scale,
        "output_zero_point": native.output_zero_point, "accuracy": req.report.get("accuracy"),
        "arena_bytes": native.arena_bytes, "const_bytes": native.const_bytes,
        "flash_bytes": predicted.get("flash_bytes"), "kernels": native.kernels.get("note"),
    }}
    layers = [{"index": layer.index, "name": layer.name, "kind": layer.kind, "tflite_op": layer.opcode,
               "macs": layer.macs, "in_shape": layer.in_shape, "out_shape": layer.out_shape}
              for layer in native.layers]
    info = {"native": {k: v for k, v in native.to_dict().items() if k != "layers"}}
    return ModelSources(dict(native.sources), extra_context, layers, info, native)


def _modes(models: list[bytes], board: Any, reqs: list[ModelRequest], name: str) -> ModelSources:
    say = reqs[0].say if reqs else (lambda _m: None)
    say(f"generating {len(models)} native C models sharing one arena (identical int8 weights stored once)")
    made = generate_modes(models, name=name, names=[r.name for r in reqs])
    for req, m in zip(reqs, made.models):
        if "arena_bytes" in req.predicted and m.arena_bytes != req.predicted["arena_bytes"]:
            raise WorkFailed(f"mode {req.name}: generated arena {m.arena_bytes} B differs from the predicted "
                             f"{req.predicted['arena_bytes']} B")
        req.predicted.setdefault("arena_bytes", m.arena_bytes)
        req.predicted["input_store_bytes"] = m.input_bytes
    layers = [[{"index": layer.index, "name": layer.name, "kind": layer.kind, "tflite_op": layer.opcode,
                "macs": layer.macs, "in_shape": layer.in_shape, "out_shape": layer.out_shape} for layer in m.layers]
              for m in made.models]
    info = {"native": {"arena_bytes": made.arena_bytes, "input_store_bytes": made.context["input_max_bytes"],
                       "modes": [{k: v for k, v in m.to_dict().items() if k != "layers"} for m in made.models]},
            "flash_sharing": made.sharing(), "mode_layers": layers}
    return ModelSources(dict(made.sources), {}, layers[0], info, made)


def _library(model: bytes, board: Any, req: ModelRequest) -> LibrarySources:
    req.say("generating the native C model and picking the kernels it calls")
    files, api, native = library_files(model, name=req.name, origin=req.origin)
    info = {"arena_bytes": native.arena_bytes, "const_bytes": native.const_bytes, "kernels": api["kernels"]}
    return LibrarySources(dict(files), api, cxx=False, needs=(), info=info, model=native)


def _plan(graph: Any, kernels: str = "reference") -> Any:
    return plan_native(graph)  # our kernels need no scratch beyond what the plan places


@register_runtime
def native() -> Runtime:
    return Runtime(
        name=NAME,
        description="generated C with ofa-mcu's int8 kernels (bit-exact with TFLM), one static arena",
        plan=_plan,
        flash=FLASH,
        default_latency=DEFAULT_LATENCY,
        firmware_subdirs=("kernels",),
        fixed_kernels="native",
        source_trees=((), ()),
        model_sources=_sources,
        library_sources=_library,
        modes_sources=_modes,
        template_dir="native",
        default_on_emulated=True,
        measures_tflm_arena=False,
        compile_steps=7,
        persistent_label="runtime data",
        arena_note=" (planned by plan_native; the generated arena is exactly this)",
        rank=1,
        ops=frozenset(SUPPORTED_OPS),
        check_model=check_supported,
    )
