"""The runtime registry: one :class:`Runtime` per deployment runtime, registered by name.

A runtime module (``ofa_mcu/runtimes/<name>.py``) defines a function that returns its
:class:`Runtime` and decorates it with :func:`register_runtime` (timm's ``register_model``
style). Everything that depends on the runtime (its arena planner, flash model, default latency
coefficients, firmware folders and CMake source trees, model sources, how many compile steps it
reports) is a field of that record; callers look a runtime up by name (:func:`get_runtime`) and
never switch on the name. Adding a runtime means adding one module and importing it in
``ofa_mcu/runtimes/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ofa_mcu.errors import UserError
from ofa_mcu.ir import Graph
from ofa_mcu.planner import Plan

#: latency table name (``cycles_per_mac``, ``cycles_per_op``) -> op kind -> coefficient; ``kernels``:
#: kernel set -> such a table
LatencyTable = Mapping[str, Any]
Say = Callable[[str], None]


def scaled_latency(table: Mapping[str, Mapping[str, float]], factor: float) -> dict[str, dict[str, float]]:
    """A latency table (``cycles_per_mac`` / ``cycles_per_op``) with every coefficient times
    ``factor``: one core's measured figures carried over to a faster or slower core."""
    return {name: {k: round(v * factor, 3) for k, v in row.items()} for name, row in table.items()}


@dataclass(frozen=True)
class FlashModel:
    """Bytes a model takes in flash beyond its int8 weights and int32 biases: per quantized
    channel, per tensor, per op and fixed (calibrated per runtime, see each runtime's module)."""

    per_channel: int
    per_tensor: int
    per_op: int
    fixed: int

    def model_bytes(self, graph: Graph) -> int:
        channels = sum(op.quant_channels for op in graph.ops)
        return (graph.weight_bytes + graph.bias_bytes + self.per_channel * channels
                + self.per_tensor * len(graph.tensors) + self.per_op * len(graph.ops) + self.fixed)


@dataclass
class ModelRequest:
    """What a runtime needs to render a model's sources besides the ``.tflite`` and the board.

    ``predicted``: the analysis' figures for the project's ``compile.json`` (a runtime may add
    to it, e.g. its exact arena); ``report``: the export report (accuracy, quantization).
    """

    name: str
    origin: str
    space: Any = None  # SearchSpace of the subnet, when known
    subnet: Any = None  # SubnetConfig, when known
    report: Mapping[str, Any] = field(default_factory=dict)
    predicted: dict[str, Any] = field(default_factory=dict)
    say: Say = lambda _m: None


@dataclass
class ModelSources:
    """A runtime's model sources (``model/`` files), the project template context they need, and
    what the runtime adds to ``compile.json`` (``layers`` when it knows them better than the IR,
    ``info``); ``model``: the runtime's own description of the model (e.g. a ``NativeModel``)."""

    sources: dict[str, str | bytes]
    extra_context: dict[str, Any]
    layers: list[dict[str, Any]] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    model: Any = None


@dataclass
class LibrarySources:
    """A runtime's sources for a library the user's own firmware compiles (``compile --format
    library|arduino|zephyr``): ``files`` (name -> content, all in one folder, ``ofa_model.h`` the
    public header), the API facts the packaging templates render (``api``: name, runtime, arena,
    input, output, layers, MACs), ``needs``: what the user's build must bring (e.g. a TFLM tree),
    ``info``: what ``library.json`` records, ``model``: the runtime's own model description."""

    files: dict[str, str | bytes]
    api: dict[str, Any]
    cxx: bool = False
    needs: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)
    model: Any = None


@dataclass(frozen=True)
class Runtime:
    """One deployment runtime: everything the library needs to know about it."""

    name: str
    description: str
    #: (IR graph, kernels) -> the arena plan (kernels: a board's ``runtime.<name>.kernels``)
    plan: Callable[[Graph, str], Plan]
    flash: FlashModel
    #: core -> the latency coefficients a board YAML without ``latency.<name>`` gets
    default_latency: Mapping[str, LatencyTable]
    #: folders of ``firmware/`` copied into and compiled with every project of this runtime
    firmware_subdirs: tuple[str, ...]
    #: source trees the project's CMake needs (required, optional): var, check, what, hint
    source_trees: tuple[tuple[Mapping[str, str], ...], tuple[Mapping[str, str], ...]]
    #: (.tflite bytes, board, request) -> the project's model sources
    model_sources: Callable[[bytes, Any, ModelRequest], ModelSources]
    #: the folder of ``templates/`` with this runtime's model templates
    template_dir: str
    #: the runtime ``compile`` picks when none is given: on emulated boards or on real ones
    default_on_emulated: bool
    #: whether the export measures the real TFLM arena for this runtime (the host allocator)
    measures_tflm_arena: bool
    #: progress messages ``compile`` reports (search, export steps, sources, rendering)
    compile_steps: int
    #: how the report names the arena bytes besides the activations
    persistent_label: str
    #: what ``compile`` says about the predicted arena ("" when nothing)
    arena_note: str = ""
    #: position in listings (CLI choices, board tables, a board's default latency tables)
    rank: int = 0
    #: the kernels this runtime always builds (native: its own); None: the board YAML's
    #: ``runtime.<name>.kernels`` chooses (TFLM: reference or cmsis-nn)
    fixed_kernels: str | None = None
    #: the TFLite builtin ops this runtime runs (None: any)
    ops: frozenset[str] | None = None
    #: (parsed .tflite graph, origin) -> None, or a one-line ``UserError`` naming what this
    #: runtime cannot run (an op's options, tensor types); the op list is checked first (``ops``)
    check_model: Callable[[Any, str], None] | None = None
    #: (.tflite bytes, board, request) -> the sources of a library for the user's own firmware
    #: (:class:`LibrarySources`); None: no library output for this runtime
    library_sources: Callable[[bytes, Any, ModelRequest], LibrarySources] | None = None
    #: the kernel sets ``--kernels`` may choose (empty: only ``fixed_kernels``)
    kernel_sets: tuple[str, ...] = ()
    #: (the modes' .tflite bytes, board, one request per mode, firmware name) -> the model sources of
    #: ONE firmware running them as operating modes (one shared arena, ``ofa_model_select``);
    #: None: this runtime has no multi-mode firmware
    modes_sources: Callable[[list[bytes], Any, list[ModelRequest], str], ModelSources] | None = None
    #: (kernels, shared library cache folder or None) -> the CMake definitions ``build`` passes to
    #: this runtime's projects (TFLM: the kernels to compile and where compiled TFLM is cached)
    build_defines: Callable[[str, Path | None], dict[str, str]] | None = None

    def kernels(self, board: Any) -> str:
        """The kernels a project of this runtime for ``board`` is built with (``compile.json``)."""
        if self.fixed_kernels is not None:
            return self.fixed_kernels
        cost = board.runtime.get(self.name)
        return str(cost.kernels) if cost is not None else "reference"

    def check_kernels(self, kernels: str | None, board: Any = None) -> str:
        """``kernels`` (``--kernels``) checked against this runtime's choices; None: the board's
        (or the only set). A set this runtime cannot build is a one-line ``UserError``."""
        if kernels is None:
            return self.kernels(board) if board is not None else (self.fixed_kernels or self.kernel_sets[0])
        allowed = self.kernel_sets or ((self.fixed_kernels,) if self.fixed_kernels else ())
        if kernels not in allowed:
            raise UserError(f"--kernels {kernels}: the {self.name} runtime builds "
                            f"{' or '.join(allowed) or 'no kernel choice'}")
        return kernels

    def flash_bytes(self, graph: Graph) -> int:
        """The model's bytes in flash (:class:`FlashModel`), without the runtime's code."""
        return self.flash.model_bytes(graph)


_REGISTRY: dict[str, Runtime] = {}


def register_runtime(fn: Callable[[], Runtime]) -> Callable[[], Runtime]:
    """Decorator: register the :class:`Runtime` that ``fn`` returns under its name."""
    rt = fn()
    if rt.name in _REGISTRY:
        raise ValueError(f"runtime {rt.name!r} registered twice")
    _REGISTRY[rt.name] = rt
    for name, other in sorted(_REGISTRY.items(), key=lambda kv: kv[1].rank):
        del _REGISTRY[name]
        _REGISTRY[name] = other
    return fn


def runtime_names() -> tuple[str, ...]:
    """The registered runtime names, in registration order."""
    return tuple(_REGISTRY)


def runtimes() -> Iterator[Runtime]:
    return iter(_REGISTRY.values())


def find_runtime(name: str | None) -> Runtime | None:
    """The runtime called ``name``, or None."""
    return _REGISTRY.get(name) if name is not None else None


def get_runtime(name: str) -> Runtime:
    """The runtime called ``name``; an unknown name is a one-line ``UserError``."""
    rt = _REGISTRY.get(name)
    if rt is None:
        raise UserError(f"unknown runtime '{name}': expected one of {', '.join(_REGISTRY)}")
    return rt


def default_runtime(board: Any) -> str:
    """The runtime ``compile`` uses for ``board`` when none is given."""
    emulated = bool(board.emulated)
    return next(rt.name for rt in _REGISTRY.values() if rt.default_on_emulated == emulated)
