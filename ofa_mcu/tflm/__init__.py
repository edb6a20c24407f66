"""The TFLM runtime: firmware projects that run an int8 ``.tflite`` on TensorFlow Lite for
Microcontrollers (the interpreter compiled from a TFLM tree given at build time, ``TFLM_DIR``),
and TFLM on the host as the reference.

- ``codegen``: :func:`model_sources` renders the model files of a project (``templates/tflm/``)
  and the ``extra_context`` for :func:`ofa_mcu.firmware.render_project`; the C++ glue it relies on
  (profiler, platform functions, arena measurement) is in ``firmware/tflm/``.
- ``host``: int8 inference on the host ``tflite_micro`` package (the golden reference).
- ``arena``: the real TFLM arena of a model, measured on the host allocator.

The runtime's registry entry is :mod:`ofa_mcu.runtimes.tflm`.
"""

from ofa_mcu.tflm.codegen import (
    RESOLVER_METHODS,
    ArenaSize,
    TflmModel,
    arena_size,
    describe_model,
    model_sources,
)

__all__ = ["RESOLVER_METHODS", "ArenaSize", "TflmModel", "arena_size", "describe_model", "model_sources"]
