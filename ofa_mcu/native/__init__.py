"""The native runtime: our own int8 C kernels (``firmware/kernels``) driven by generated code.

- ``requant``: TFLM's requantization arithmetic (multipliers, shifts, activation ranges).
- ``lowering``: a parsed ``.tflite`` -> one kernel call per op (:class:`KernelCall`).
- ``codegen``: plan the generated model (plain data), then render ``model.c`` / ``model.h`` /
  ``main.c`` from ``templates/native/``.

Models are read with :mod:`ofa_mcu.tflite`, the arena is planned by
:func:`ofa_mcu.planner.plan_native`. TensorFlow is never imported.
"""

from ofa_mcu.native.lowering import SUPPORTED_OPS, KernelCall, check_supported, lower_graph, lower_op

__all__ = ["SUPPORTED_OPS", "KernelCall", "check_supported", "lower_graph", "lower_op"]
