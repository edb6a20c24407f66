"""Profiling over the serial runner protocol, and the latency LUTs fitted on the measurements.

- ``device``: the serial client (:class:`Device`, its parsed replies).
- ``profile``: one profiling run (:func:`profile` -> :class:`ProfileResult`, ``profile.json``).
- ``lut``: latency LUTs, written and read here (:func:`fit_latency_lut`, :func:`read_lut`, ...).
"""

from ofa_mcu.profiler.device import (
    DEFAULT_BAUD,
    DEFAULT_TIMEOUT_S,
    CyclesReply,
    Device,
    DeviceInfo,
    InferReply,
    LayerProfile,
)
from ofa_mcu.profiler.lut import (
    LUT_FORMAT,
    LUT_VERSION,
    check_lut,
    fit_latency_lut,
    lut_samples,
    merge_latency_lut,
    read_lut,
    update_lut,
    validate_lut,
)
from ofa_mcu.profiler.profile import (
    EMULATED_COUNT_NOTE,
    ProfileResult,
    attach_layers,
    attach_project,
    check_sizes,
    default_input,
    layer_table,
    model_sizes,
    profile,
    profile_json,
)

__all__ = [
    "DEFAULT_BAUD",
    "DEFAULT_TIMEOUT_S",
    "LUT_FORMAT",
    "LUT_VERSION",
    "CyclesReply",
    "Device",
    "DeviceInfo",
    "InferReply",
    "LayerProfile",
    "EMULATED_COUNT_NOTE",
    "ProfileResult",
    "attach_layers",
    "attach_project",
    "check_sizes",
    "check_lut",
    "default_input",
    "fit_latency_lut",
    "layer_table",
    "lut_samples",
    "merge_latency_lut",
    "model_sizes",
    "profile",
    "profile_json",
    "read_lut",
    "update_lut",
    "validate_lut",
]
