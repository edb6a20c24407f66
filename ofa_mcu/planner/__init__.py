"""Memory planners: where each activation tensor lives in the arena, per runtime.

- ``core``: the greedy placement and :class:`Plan` (per-op live bytes, extent, peak op).
- ``tflm``: TFLM's planner and persistent allocations (:class:`TflmCost`), CMSIS-NN's scratch.
- ``native``: our static plan with in-place depthwise / ADD and fused expand + depthwise.

Which planner a runtime uses is the runtime's business (``ofa_mcu.runtimes``); nothing here
switches on a runtime's name.
"""

from ofa_mcu.planner.core import OpMemory, Plan, align_up, greedy_offsets, live_peak
from ofa_mcu.planner.native import (
    INPLACE_POINTWISE_PIXELS,
    NativeCost,
    conv_add_fusable,
    depthwise_fits_in_place,
    fused_window_bytes,
    inplace_depthwise_scratch_bytes,
    inplace_pointwise_scratch_bytes,
    plan_native,
    pointwise_in_place,
)
from ofa_mcu.planner.tflm import (
    KERNELS,
    TflmCost,
    cmsis_nn_request_bytes,
    cmsis_nn_scratch_bytes,
    plan_tflm,
    plan_tflm_kernels,
    tflm_persistent_bytes,
    tflm_planning_bytes,
)

__all__ = [
    "INPLACE_POINTWISE_PIXELS",
    "KERNELS",
    "NativeCost",
    "OpMemory",
    "Plan",
    "TflmCost",
    "align_up",
    "cmsis_nn_request_bytes",
    "cmsis_nn_scratch_bytes",
    "conv_add_fusable",
    "depthwise_fits_in_place",
    "fused_window_bytes",
    "greedy_offsets",
    "inplace_depthwise_scratch_bytes",
    "inplace_pointwise_scratch_bytes",
    "live_peak",
    "plan_native",
    "plan_tflm",
    "plan_tflm_kernels",
    "pointwise_in_place",
    "tflm_persistent_bytes",
    "tflm_planning_bytes",
]
