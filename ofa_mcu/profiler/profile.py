"""One profiling run over the runner protocol: load inputs, run timed inferences, collect outputs,
latency statistics, per-layer cycles and memory into a :class:`ProfileResult`.

:func:`profile` drives a :class:`~ofa_mcu.profiler.device.Device`; :func:`layer_table` /
:func:`attach_layers` give the measured layers the MACs and op kinds of the compiled project
(``compile.json``), and :func:`profile_json` is the JSON a profile run writes (``profile.json``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ofa_mcu.artifacts import MODEL_FILE
from ofa_mcu.errors import UserError, WorkFailed
from ofa_mcu.profiler.device import (
    DEFAULT_BAUD,
    DEFAULT_TIMEOUT_S,
    MAX_DEVICE_BYTES,
    Device,
    DeviceInfo,
    LayerProfile,
)
from ofa_mcu.tflite import parse_tflite, read_tflite_bytes


def _stats(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "mean": float(statistics.fmean(values)),
        "median": float(statistics.median(values)),
        "min": float(min(values)),
        "max": float(max(values)),
        "std": float(statistics.pstdev(values)) if len(values) > 1 else 0.0,
    }


@dataclass
class ProfileResult:
    """Everything one :func:`profile` run measured (``to_json()`` for the ``--json`` output).

    ``latency_cycles`` and ``layers[i].cycles`` hold the counter's ticks at ``clock_hz``: core
    cycles on hardware (DWT). On an emulated board (QEMU ``-icount``) the counter is SysTick in
    virtual time, neither cycles nor instructions: ``count_unit`` is then ``"instructions"``, the
    ``*instructions`` figures give executed instructions, and :meth:`to_json` names the ticks
    ``ticks`` so that nothing there is called cycles. ``kernels``: the kernels the firmware was
    built with (``native``, or TFLM's ``reference`` / ``cmsis-nn`` from the project's
    compile.json), None when unknown.
    """

    port: str
    name: str
    board: str | None
    core: str | None
    model: str | None
    runtime: str | None
    counter: str | None
    clock_hz: int | None
    emulated: bool
    count_unit: str
    runs: int
    warmup: int
    outputs: list[list[int]] | None
    results: list[list[float]]
    latency_ms: dict[str, float]
    latency_cycles: dict[str, float]
    latency_instructions: dict[str, float] | None
    lap_ms_per_run: list[float]
    layers: list[LayerProfile] = field(default_factory=list)
    layers_dropped: int = 0
    memory: dict[str, int] = field(default_factory=dict)
    kernels: str | None = None
    #: the operating mode profiled (``ofa-mode`` reply: index, count, name, input_shape, ...) of a
    #: multi-mode firmware; None when no mode was asked for
    mode: dict[str, Any] | None = None

    @property
    def layer_cycles_sum(self) -> int:
        return sum(layer.cycles for layer in self.layers)

    def attach_macs(self, macs: Mapping[int, int] | Sequence[int]) -> None:
        """Set ``layers[i].macs`` from a mapping layer index -> MACs, or a sequence by position."""
        if isinstance(macs, Mapping):
            for layer in self.layers:
                if layer.index in macs:
                    layer.macs = int(macs[layer.index])
        else:
            if len(macs) != len(self.layers):
                raise UserError(f"{len(macs)} MAC counts for {len(self.layers)} profiled layers")
            for layer, m in zip(self.layers, macs, strict=True):
                layer.macs = int(m)

    def to_json(self) -> dict[str, Any]:
        """The JSON of the result. On an emulated board the counts are instructions (and it says
        so in ``count_note``): ``latency_instructions``, per layer ``instructions`` and
        ``layer_instructions_sum``; the raw SysTick counts are ``latency_ticks`` and per layer
        ``ticks``, and no field is called cycles. On hardware: ``latency_cycles``, per layer
        ``cycles`` and ``layer_cycles_sum``."""
        data = asdict(self)
        layers = [{k: v for k, v in asdict(layer).items() if v is not None} for layer in self.layers]
        if self.emulated and self.latency_instructions is not None:
            data["count_note"] = EMULATED_COUNT_NOTE
            data["latency_ticks"] = data.pop("latency_cycles")
            for layer in layers:
                layer["ticks"] = layer.pop("cycles")
            data["layer_instructions_sum"] = round(sum(layer.instructions or 0.0 for layer in self.layers))
        else:
            data["layer_cycles_sum"] = self.layer_cycles_sum
        data["layers"] = layers
        if self.latency_instructions is None:
            data.pop("latency_instructions")
        if self.mode is None:
            data.pop("mode")
        return data


#: What an emulated profile's counts are (``count_note`` of its JSON).
EMULATED_COUNT_NOTE = ("emulated board (QEMU -icount): counts are executed instructions, not cycles; ticks are the "
                       "SysTick counter in QEMU's virtual time (1 ns per instruction) at clock_hz")


def default_input(nbytes: int) -> bytes:
    """The fixed deterministic input used when none is given: int8 values cycling -128..127
    with a stride of 37 (every value appears, neighbours differ)."""
    return bytes((i * 37 + 11) % 256 for i in range(nbytes))


def _as_inputs(inputs: Any) -> list[bytes]:
    if inputs is None:
        return []
    if isinstance(inputs, (bytes, bytearray, memoryview)):
        return [bytes(inputs)]
    if hasattr(inputs, "dtype") and hasattr(inputs, "shape"):  # numpy array: one input per row
        arr = inputs
        if str(arr.dtype) not in ("int8", "uint8"):
            raise UserError(f"inputs must be int8 (already quantized), got dtype {arr.dtype}")
        if len(arr.shape) == 0:
            raise UserError("inputs: expected an array of shape (N, ...), got a scalar")
        return [arr[i].tobytes() for i in range(arr.shape[0])]
    out = []
    for x in inputs:
        if hasattr(x, "tobytes"):
            out.append(x.tobytes())
        else:
            out.append(bytes(x))
    return out


def profile(
    port: str,
    inputs: Any = None,
    *,
    runs: int = 10,
    warmup: int = 1,
    baud: int = DEFAULT_BAUD,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    infer_timeout_s: float | None = None,
    icount_shift: int = 0,
    layer_macs: Mapping[int, int] | Sequence[int] | None = None,
    progress: Callable[[str], None] | None = None,
    expect_sizes: Mapping[str, int] | None = None,
    mode: int | None = None,
) -> ProfileResult:
    """Measure a device on ``port``: for each input, ``db load``, ``infer runs warmup`` and the
    extension replies; return outputs, latency statistics, per-layer ticks and memory figures.

    ``inputs``: None (one :func:`default_input`), bytes, a sequence of bytes-like, or an int8
    numpy array of shape (N, ...) already in the model's input quantization. ``timeout_s``
    bounds every command; ``infer`` is bounded by ``infer_timeout_s`` or, by default, by a
    calibration run (one inference, at most 12 x ``timeout_s``) scaled to runs + warmup.
    ``mode``: switch a multi-mode firmware to this operating mode first (``ofa-mode N``).
    """
    if runs <= 0 or warmup < 0:
        raise UserError(f"runs must be > 0 and warmup >= 0, got runs={runs} warmup={warmup}")
    say = progress or (lambda _msg: None)
    data = _as_inputs(inputs)
    with Device(port, baud=baud, timeout_s=timeout_s) as dev:
        dev.sync()
        mode_info = dev.mode(mode) if mode is not None else None
        info = dev.info()
        check_sizes(info, port, expect_sizes)
        if not data:
            if info.input_bytes is None:
                raise UserError(f"the device on {port} does not report its input size: give the inputs")
            data = [default_input(info.input_bytes)]
        for i, x in enumerate(data):
            if info.input_bytes is not None and len(x) != info.input_bytes:
                raise UserError(f"input {i} has {len(x)} bytes, the model on {port} takes {info.input_bytes}")
        outputs: list[list[int]] | None = [] if info.extensions else None
        results: list[list[float]] = []
        laps: list[float] = []
        recorded: list[int] = []
        total_sum = total_runs = 0
        cmin: int | None = None
        cmax: int | None = None
        layer_sets: list[list[LayerProfile]] = []
        dropped = 0
        per_run_s: float | None = None
        for i, x in enumerate(data):
            say(f"input {i + 1}/{len(data)}: loading {len(x)} bytes")
            dev.load(x)
            if infer_timeout_s is not None:
                limit = infer_timeout_s
            else:
                if per_run_s is None:
                    t = time.monotonic()
                    dev.infer(1, 0, timeout_s=12 * timeout_s)
                    per_run_s = time.monotonic() - t
                limit = timeout_s + 3.0 * per_run_s * (runs + warmup)
            say(f"input {i + 1}/{len(data)}: infer {runs} {warmup}")
            reply = dev.infer(runs, warmup, timeout_s=limit)
            laps.append(reply.us_per_run / 1000.0)
            results.append(reply.results)
            if info.extensions:
                cyc = dev.cycles()
                total_sum += cyc.sum
                total_runs += cyc.runs
                cmin = cyc.min if cmin is None else min(cmin, cyc.min)
                cmax = cyc.max if cmax is None else max(cmax, cyc.max)
                recorded += cyc.recorded
                layers, d = dev.layers()
                layer_sets.append(layers)
                dropped = max(dropped, d)
                assert outputs is not None
                outputs.append(dev.outputs())
        memory = dev.memory() if info.extensions else {}

    clock = info.clock_hz
    emulated = bool(info.emulated)
    cycles_stats: dict[str, float] = {}
    if total_runs:
        cycles_stats = _stats(recorded) if recorded else {}
        cycles_stats.update({"mean": total_sum / total_runs, "min": float(cmin or 0), "max": float(cmax or 0)})
    if cycles_stats and clock:
        ms_stats = {k: v * 1000.0 / clock for k, v in cycles_stats.items()}
    else:
        ms_stats = _stats(laps)
    instr_stats = None
    ns_per_tick = 1e9 / clock if clock else None
    if emulated and ns_per_tick and cycles_stats:
        scale = ns_per_tick / (2 ** icount_shift)
        instr_stats = {k: v * scale for k, v in cycles_stats.items()}
    layers = _merge_layers(layer_sets)
    if emulated and ns_per_tick:
        for layer in layers:
            layer.instructions = layer.cycles * ns_per_tick / (2 ** icount_shift)
    result = ProfileResult(
        port=port, name=info.name, board=info.board, core=info.core, model=info.model, runtime=info.runtime,
        counter=info.counter, clock_hz=clock, emulated=emulated,
        count_unit="instructions" if emulated else "cycles", runs=runs, warmup=warmup, outputs=outputs,
        results=results, latency_ms=ms_stats, latency_cycles=cycles_stats, latency_instructions=instr_stats,
        lap_ms_per_run=laps, layers=layers, layers_dropped=dropped, memory=memory,
        kernels=_fixed_kernels(info.runtime), mode=mode_info,
    )
    if layer_macs is not None:
        result.attach_macs(layer_macs)
    return result


def check_sizes(info: DeviceInfo, port: str, expect: Mapping[str, int] | None = None) -> None:
    """Refuse sizes a device reports that no model can have: over :data:`MAX_DEVICE_BYTES`, or
    other than ``expect`` (``{"input_bytes": n, "output_bytes": m}`` of the model it should run)."""
    if info.clock_hz is not None and not 1_000 <= info.clock_hz <= 2_000_000_000:
        raise WorkFailed(f"the device on {port} reports clock_hz={info.clock_hz}, not a plausible clock")
    for key in ("input_bytes", "output_bytes", "arena_bytes"):
        value = getattr(info, key)
        if value is None:
            continue
        if not 0 < value <= MAX_DEVICE_BYTES:
            raise WorkFailed(f"the device on {port} reports {key}={value}, not a plausible size "
                             f"(1..{MAX_DEVICE_BYTES} bytes)")
        if expect and key in expect and value != expect[key]:
            raise WorkFailed(f"the device on {port} reports {key}={value}, the model of the project has "
                             f"{expect[key]}: is it running another model?")


def _merge_layers(sets: list[list[LayerProfile]]) -> list[LayerProfile]:
    """Per-layer ticks averaged over the inputs (the last inference of each)."""
    if not sets:
        return []
    shape = [(layer.index, layer.kind, layer.name) for layer in sets[-1]]
    same = [s for s in sets if [(layer.index, layer.kind, layer.name) for layer in s] == shape]
    return [
        LayerProfile(index=idx, kind=kind, name=name, cycles=round(statistics.fmean(s[j].cycles for s in same)))
        for j, (idx, kind, name) in enumerate(shape)
    ]


_DTYPE_BYTES = {"INT8": 1, "UINT8": 1, "INT16": 2, "INT32": 4, "FLOAT32": 4}


def model_sizes(project: str | Path | None) -> dict[str, int] | None:
    """Input and output bytes of a project's model.tflite: what its device must report
    (:func:`check_sizes`); None without a project or model."""
    if project is None or not (Path(project) / MODEL_FILE).is_file():
        return None
    path = Path(project) / MODEL_FILE
    graph = parse_tflite(read_tflite_bytes(path), origin=str(path))
    sizes: dict[str, int] = {}
    for key, index in (("input_bytes", graph.inputs), ("output_bytes", graph.outputs)):
        dtype = graph.tensor(index[0]).dtype.upper() if len(index) == 1 else ""
        if dtype in _DTYPE_BYTES:
            sizes[key] = _DTYPE_BYTES[dtype] * graph.tensor(index[0]).size
    return sizes


def layer_table(info: Mapping[str, Any] | None) -> dict[int, dict[str, Any]]:
    """compile.json's layers by index (empty without a compiled project)."""
    if not info:
        return {}
    return {int(layer["index"]): layer for layer in info.get("layers", [])}


def attach_project(result: ProfileResult, info: Mapping[str, Any] | None, built_kernels: str | None = None) -> None:
    """Give a result what the project's ``compile.json`` says: the layers' MACs and kinds
    (:func:`attach_layers`) and the kernels the firmware was built with: ``built_kernels`` (what
    the build recorded, :attr:`ofa_mcu.firmware.BuildResult.kernels`) when known, else the
    kernels it was compiled for."""
    if not info:
        if built_kernels:
            result.kernels = built_kernels
        return
    attach_layers(result, layer_table(info))
    if built_kernels:
        result.kernels = built_kernels
    elif info.get("kernels"):
        result.kernels = str(info["kernels"])
    else:  # compile.json before it recorded the kernels: known only for a runtime without a choice
        result.kernels = _fixed_kernels(info.get("runtime")) or result.kernels


def _fixed_kernels(runtime: str | None) -> str | None:
    """The kernels of a runtime that has only one set (native), None for the others."""
    from ofa_mcu.runtimes import find_runtime

    rt = find_runtime(runtime)
    return rt.fixed_kernels if rt is not None else None


def attach_layers(result: ProfileResult, layers: Mapping[int, Mapping[str, Any]]) -> None:
    """Give the profiled layers their MACs and IR op kind (the latency model's kinds) by index."""
    if not layers:
        return
    result.attach_macs({i: int(layer["macs"]) for i, layer in layers.items()})
    for layer in result.layers:
        entry = layers.get(layer.index)
        if entry is not None:
            layer.kind = str(entry["kind"])
            if layer.name is None and entry.get("name"):
                layer.name = str(entry["name"])


def profile_json(result: ProfileResult, lut_path: str | None = None, lut: Mapping[str, Any] | None = None
                 ) -> dict[str, Any]:
    """What a profile run writes (``profile.json``): the result, and the LUT it updated if any."""
    data = result.to_json()
    if lut is not None:
        data["lut"] = {"path": lut_path, "kinds": lut["kinds"], "unit": lut["unit"], "samples": len(lut["samples"])}
    return data
