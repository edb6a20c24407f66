"""The native runtime: our own int8 C kernels (``firmware/kernels``) driven by generated code.

``tflite_graph`` reads an exported ``.tflite`` into plain dataclasses and lowers each op to the
parameters of one kernel call, with TFLM's exact requantization constants. It never imports
TensorFlow (the flatbuffers schema comes from an installed package, imported lazily).
"""

from __future__ import annotations

from ofa_mcu.native.tflite_graph import (
    Graph,
    KernelCall,
    Op,
    Tensor,
    check_supported,
    load_tflite,
    lower_graph,
    lower_op,
    parse_tflite,
)

__all__ = [
    "Graph",
    "KernelCall",
    "Op",
    "Tensor",
    "check_supported",
    "load_tflite",
    "lower_graph",
    "lower_op",
    "parse_tflite",
]
