"""Deployment runtimes, registered by name (``registry``), one module each (``tflm``, ``native``).

Importing this package registers every runtime. Look one up with :func:`get_runtime`; list them
with :func:`runtime_names`.
"""

from ofa_mcu.runtimes import native, tflm  # noqa: F401  (registers the runtimes, TFLM first)
from ofa_mcu.runtimes.registry import (
    FlashModel,
    LibrarySources,
    ModelRequest,
    ModelSources,
    Runtime,
    default_runtime,
    find_runtime,
    get_runtime,
    register_runtime,
    runtime_names,
    runtimes,
)

__all__ = [
    "FlashModel",
    "ModelRequest",
    "LibrarySources",
    "ModelSources",
    "Runtime",
    "default_runtime",
    "find_runtime",
    "get_runtime",
    "register_runtime",
    "runtime_names",
    "runtimes",
]
