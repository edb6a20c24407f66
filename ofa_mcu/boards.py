"""Board targets: the validated model of a board YAML in ``targets/`` and the budgets derived from it.

A board YAML states the chip's real figures (core, FPU, clock, flash and SRAM regions, optional
QEMU machine) plus the deployment figures the tool needs: where the arena and the stack go,
reserves, runtime code/static sizes per runtime, and latency coefficients (default: the core's).
That is all analysis, search and export read, so any Cortex-M board can be described. The
firmware-only fields (family, UART, cycle counter, flash tool) are optional; a standalone firmware
project needs them and a family with board support (``Board.require_firmware``).
``load_board`` turns any problem in such a file into a one-line ``UserError`` that names the file,
the field path and what was expected.
"""

from __future__ import annotations

import functools
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from ofa_mcu.errors import UserError
from ofa_mcu.resources import targets_dir
from ofa_mcu.runtimes import runtime_names, runtimes
from ofa_mcu.userfiles import check_plain
from ofa_mcu.validation import format_validation_error, in_range, read_yaml, show

Core = Literal[
    "cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"
]
Fpu = Literal["none", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16"]
RuntimeName = Literal[runtime_names()]  # type: ignore[valid-type]  # the registered runtimes
OpKind = Literal["conv", "depthwise", "pointwise", "add", "avgpool", "fc", "softmax", "mean"]
CycleCounter = Literal["dwt", "systick"]
FlashToolName = Literal["openocd", "pyocd", "st-flash", "nrfjprog", "none"]

OP_KINDS: tuple[str, ...] = typing.get_args(OpKind)
#: The kinds every latency table must list (a subnet's ops; ``avgpool`` is its global pooling); the
#: others default to the core's figures (``mean``, for a user's model with MEAN, to ``avgpool``'s).
REQUIRED_OP_KINDS: tuple[str, ...] = ("conv", "depthwise", "pointwise", "add", "avgpool", "fc")
RUNTIMES: tuple[str, ...] = typing.get_args(RuntimeName)

# Which cores each family with board support (``firmware/bsp``) may carry, which FPUs each core may carry, and whether a core always,
# never or optionally has the DSP (SIMD) extension.
_FAMILY_CORES: dict[str, tuple[str, ...]] = {
    "stm32f4": ("cortex-m4",),
    "stm32f7": ("cortex-m7",),
    "stm32l4": ("cortex-m4",),
    "stm32h7": ("cortex-m7",),
    "nrf51": ("cortex-m0",),
    "nrf52": ("cortex-m4",),
    "nrf53": ("cortex-m33",),
    "mps2": typing.get_args(Core),
}
_CORE_FPUS: dict[str, tuple[str, ...]] = {
    "cortex-m0": ("none",),
    "cortex-m0plus": ("none",),
    "cortex-m3": ("none",),
    "cortex-m4": ("none", "fpv4-sp-d16"),
    "cortex-m7": ("none", "fpv5-sp-d16", "fpv5-d16"),
    "cortex-m33": ("none", "fpv5-sp-d16"),
    "cortex-m55": ("none", "fpv5-sp-d16", "fpv5-d16"),
}
_CORE_DSP: dict[str, bool | None] = {
    "cortex-m0": False,
    "cortex-m0plus": False,
    "cortex-m3": False,
    "cortex-m4": True,
    "cortex-m7": True,
    "cortex-m33": None,
    "cortex-m55": True,
}
_NO_DWT_CORES = ("cortex-m0", "cortex-m0plus")
#: The families that have board support for a standalone firmware project (``firmware/bsp``).
SUPPORTED_FAMILIES: tuple[str, ...] = tuple(_FAMILY_CORES)
#: The fields only a standalone firmware project reads (analysis, search and export do not).
FIRMWARE_FIELDS: tuple[str, ...] = ("family", "uart", "cycle_counter", "flash_tool")
#: What a timestamp pin looks like per family prefix (STM32: port letter and pin; nRF: port.pin).
_TIMESTAMP_PIN: dict[str, tuple[str, str]] = {
    "stm32": (r"P[A-K](?:[0-9]|1[0-5])", "'PF13'"),
    "nrf51": (r"P0\.(?:[0-2]?[0-9]|3[01])", "'P0.03'"),
    "nrf52": (r"P[01]\.(?:[0-2]?[0-9]|3[01])", "'P1.08'"),
    "nrf53": (r"P[01]\.(?:[0-2]?[0-9]|3[01])", "'P1.08'"),
}
_FAMILY_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")

# Latency coefficients used when a board YAML leaves `latency` (or one runtime of it) out: each
# runtime's defaults for the core (``Runtime.default_latency``), keyed as there: the core, or
# "<core>+nodsp" for a core built without its optional DSP extension (_latency_key).
_DEFAULT_LATENCY: dict[str, dict[str, Any]] = {
    key: {rt.name: rt.default_latency[key] for rt in runtimes() if key in rt.default_latency}
    for key in (*typing.get_args(Core), *(f"{c}+nodsp" for c in typing.get_args(Core)))
}


def _latency_key(data: dict[str, Any]) -> str | None:
    """The _DEFAULT_LATENCY key of a board YAML's mapping: "<core>+nodsp" when the core's DSP
    extension is optional and the YAML says ``dsp: false`` and such defaults exist, else the core."""
    core = data.get("core")
    if not isinstance(core, str):
        return None
    nodsp = f"{core}+nodsp"
    if data.get("dsp") is False and _DEFAULT_LATENCY.get(nodsp):
        return nodsp
    return core if core in _DEFAULT_LATENCY else None

_SIZE_RE = re.compile(r"(\d+)\s*([KkMm]?)(?:i?B)?")
_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024}


def _bytes_value(value: Any, *, positive: bool) -> int:
    """Parse an int or a string like ``320K``/``1M`` (binary units) into a byte count."""
    n: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str):
        m = _SIZE_RE.fullmatch(value.strip())
        if m:
            n = int(m.group(1)) * _UNITS[m.group(2).lower()]
    if n is None or n < 0 or (positive and n == 0):
        what = "a positive size in bytes" if positive else "a size in bytes >= 0"
        raise PydanticCustomError(
            "size",
            "expected {what} (int, or string like '320K'/'1M'), got {got}",
            {"what": what, "got": show(value)},
        )
    return n


def _positive_size(value: Any) -> int:
    return _bytes_value(value, positive=True)


def _nonneg_size(value: Any) -> int:
    return _bytes_value(value, positive=False)


def _address(value: Any) -> int:
    """An address: an int (YAML hex like 0x20000000 is an int) or a hex/decimal string, 32-bit."""
    n: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str):
        try:
            n = int(value.strip(), 0)
        except ValueError:
            n = None
    if n is None or not 0 <= n <= 0xFFFFFFFF:
        raise PydanticCustomError(
            "address",
            "expected a 32-bit address (int or hex like 0x20000000), got {got}",
            {"got": show(value)},
        )
    return n


def _family_name(value: Any) -> str:
    """A chip family: a short lower-case name (``stm32f7``, ``rp2040``); board support is checked
    only when a firmware project is generated."""
    if isinstance(value, str) and _FAMILY_RE.fullmatch(value):
        return value
    raise PydanticCustomError(
        "family",
        "expected a lower-case family name like 'stm32f7' or 'rp2040' (board support exists for {known}), got {got}",
        {"known": ", ".join(SUPPORTED_FAMILIES), "got": show(value)},
    )


def _positive_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise PydanticCustomError("positive_int", "expected a positive integer, got {got}", {"got": show(value)})


def _positive_number(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    raise PydanticCustomError(
        "positive_number", "expected a positive number, got {got}", {"got": show(value)}
    )


Size = Annotated[int, BeforeValidator(_positive_size)]
ByteCount = Annotated[int, BeforeValidator(_nonneg_size)]
Address = Annotated[int, BeforeValidator(_address)]
FamilyName = Annotated[str, BeforeValidator(_family_name)]
PositiveInt = Annotated[int, BeforeValidator(_positive_int)]
PositiveFloat = Annotated[float, BeforeValidator(_positive_number)]
# physically plausible ranges: a value outside them is a typo, and would reach generated C
Baud = Annotated[int, BeforeValidator(_positive_int), AfterValidator(in_range(300, 20_000_000, " baud"))]
ClockHz = Annotated[int, BeforeValidator(_positive_int), AfterValidator(in_range(1_000, 2_000_000_000, " Hz"))]
CyclesPerMac = Annotated[float, BeforeValidator(_positive_number), AfterValidator(in_range(0.01, 10_000))]
CyclesPerOp = Annotated[float, BeforeValidator(_positive_number), AfterValidator(in_range(0.01, 1e9))]
SupplyVolts = Annotated[float, BeforeValidator(_positive_number), AfterValidator(in_range(0.5, 5.5, " V"))]
RunMilliamps = Annotated[float, BeforeValidator(_positive_number), AfterValidator(in_range(0.01, 2000, " mA"))]
MicroampsPerMhz = Annotated[float, BeforeValidator(_positive_number), AfterValidator(in_range(1, 5000, " uA/MHz"))]


def _field_error(field: str, message: str) -> PydanticCustomError:
    """An error raised by a model validator about one of the model's fields (``field`` is a path)."""
    return PydanticCustomError("board_field", "{message}", {"field": field, "message": message})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Region(_Model):
    """A contiguous memory region: name, start address, size in bytes."""

    name: str
    origin: Address
    size: Size

    @property
    def end(self) -> int:
        """First address past the region."""
        return self.origin + self.size

    @model_validator(mode="after")
    def _fits_32_bits(self) -> Region:
        if self.end > 1 << 32:
            raise _field_error("size", f"region '{self.name}' runs past the 4 GB address space")
        return self


class Memory(_Model):
    """Flash, SRAM regions, where the arena and stack go, and the reserves."""

    flash: Region
    ram: list[Region]
    arena_region: str
    stack_region: str
    stack_bytes: Size
    reserve_sram_bytes: ByteCount
    reserve_flash_bytes: ByteCount

    @model_validator(mode="after")
    def _check_regions(self) -> Memory:
        if not self.ram:
            raise _field_error("ram", "expected at least one SRAM region")
        names = [r.name for r in self.ram]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise _field_error(f"ram[{i}].name", f"duplicate region name '{name}'")
        known = ", ".join(repr(n) for n in names)
        for key in ("arena_region", "stack_region"):
            if getattr(self, key) not in names:
                raise _field_error(
                    key, f"expected the name of a region in memory.ram ({known}), got {getattr(self, key)!r}"
                )
        regions = [("flash", self.flash), *((f"ram[{i}]", r) for i, r in enumerate(self.ram))]
        for i, (_, a) in enumerate(regions):
            for path_b, b in regions[i + 1 :]:
                if a.origin < b.end and b.origin < a.end:
                    raise _field_error(f"{path_b}.origin", f"region '{b.name}' overlaps region '{a.name}'")
        stack = self.region(self.stack_region)
        if self.stack_bytes >= stack.size:
            raise _field_error(
                "stack_bytes",
                f"expected less than region '{stack.name}' ({stack.size} B), got {self.stack_bytes}",
            )
        return self

    def region(self, name: str) -> Region:
        """The SRAM region called ``name``."""
        for r in self.ram:
            if r.name == name:
                return r
        raise KeyError(name)


#: The kernel sets a TFLM build can use (``runtime.tflm.kernels``, ``--kernels``).
KernelSet = Literal["reference", "cmsis-nn"]
KERNEL_SETS: tuple[str, ...] = typing.get_args(KernelSet)


class RuntimeCost(_Model):
    """What a runtime costs besides the model: flash for code, SRAM for static data outside the arena."""

    code_bytes: ByteCount
    static_bytes: ByteCount
    # TFLM only: which kernels the firmware is built with; CMSIS-NN asks for per-op scratch
    # buffers (see planner.TflmCost), so the arena prediction must include them
    kernels: KernelSet = "reference"


class Uart(_Model):
    """The serial port the profiler talks to."""

    instance: str
    base: Address
    baud: Baud
    tx_pin: str | None = None
    rx_pin: str | None = None


class FlashTool(_Model):
    """The command that writes firmware to the board, with its board-specific arguments."""

    tool: FlashToolName
    args: list[str] = []


class Qemu(_Model):
    """The QEMU machine that emulates the board."""

    machine: str


class Power(_Model):
    """Datasheet figures for an energy-per-inference estimate (:mod:`ofa_mcu.energy`): the supply
    voltage and the typical run-mode current, either at the board's clock or per MHz."""

    supply_v: SupplyVolts
    run_current_ma: RunMilliamps | None = None
    run_current_ua_per_mhz: MicroampsPerMhz | None = None

    @model_validator(mode="after")
    def _one_current(self) -> Power:
        given = [f for f in ("run_current_ma", "run_current_ua_per_mhz") if getattr(self, f) is not None]
        if len(given) != 1:
            raise _field_error("run_current_ma", "expected exactly one of run_current_ma (at the board's clock) "
                               f"or run_current_ua_per_mhz, got {' and '.join(given) or 'neither'}")
        return self


class Latency(_Model):
    """Latency model: cycles per MAC and fixed cycles per op, per op kind. ``kernels``: tables for
    other kernel sets of the runtime (TFLM: ``cmsis-nn`` beside the reference kernels the main
    table describes); the search and the analysis use the table of the kernels the board builds."""

    cycles_per_mac: dict[OpKind, CyclesPerMac]
    cycles_per_op: dict[OpKind, CyclesPerOp]
    kernels: dict[KernelSet, Latency] = {}

    def for_kernels(self, kernels: str | None) -> Latency:
        """The table of ``kernels`` when this one has it, else this one."""
        return self.kernels.get(kernels, self) if kernels else self  # type: ignore[call-overload]

    @model_validator(mode="after")
    def _all_kinds(self) -> Latency:
        for table in ("cycles_per_mac", "cycles_per_op"):
            missing = [k for k in REQUIRED_OP_KINDS if k not in getattr(self, table)]
            if missing:
                hint = ("; the global pooling is AVERAGE_POOL_2D since ofa-mcu exports it so: rename mean to avgpool"
                        if "avgpool" in missing and "mean" in getattr(self, table) else "")
                raise _field_error(
                    table,
                    f"missing op kind(s) {', '.join(missing)} (all of {', '.join(REQUIRED_OP_KINDS)} are required{hint})",
                )
        return self


class Board(_Model):
    """One board target, as read from ``targets/<name>.yaml``."""

    name: str
    description: str
    vendor: str
    mcu: str
    # firmware-only (a standalone firmware project needs them; analysis, search and export do not)
    family: FamilyName | None = None
    core: Core
    fpu: Fpu
    dsp: bool
    clock_hz: ClockHz
    memory: Memory
    runtime: dict[RuntimeName, RuntimeCost]
    uart: Uart | None = None
    cycle_counter: CycleCounter | None = None
    flash_tool: FlashTool | None = None
    qemu: Qemu | None = None
    latency: dict[RuntimeName, Latency]
    # optional: datasheet figures for the energy estimate, and the GPIO the MLPerf Tiny energy
    # mode pulses as its timestamp (firmware --energy-mode)
    power: Power | None = None
    timestamp_pin: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_latency(cls, data: Any) -> Any:
        """Fill the latency coefficients of runtimes the YAML does not give from the core's defaults,
        and the optional op kinds (not in ``REQUIRED_OP_KINDS``) a given table leaves out."""
        if isinstance(data, dict) and _latency_key(data) is not None:
            given = data.get("latency")
            if given is None or isinstance(given, dict):
                defaults = _DEFAULT_LATENCY[_latency_key(data)]
                merged = {**defaults, **(given or {})}
                for rt, table in (given or {}).items():
                    if rt in defaults and isinstance(table, dict):
                        merged[rt] = {**table, **{
                            key: {**{k: v for k, v in defaults[rt][key].items() if k not in REQUIRED_OP_KINDS},
                                  **table[key]}
                            for key in ("cycles_per_mac", "cycles_per_op")
                            if isinstance(table.get(key), dict) and key in defaults[rt]}}
                data = {**data, "latency": merged}
        return data

    @model_validator(mode="before")
    @classmethod
    def _default_kernel_latency(cls, data: Any) -> Any:
        """A runtime's table given without per-kernel tables gets the core's defaults for them
        (a YAML's main TFLM table describes the reference kernels)."""
        if not isinstance(data, dict) or _latency_key(data) is None:
            return data
        given, defaults = data.get("latency"), _DEFAULT_LATENCY[_latency_key(data)]
        if not isinstance(given, dict):
            return data
        filled = dict(given)
        for rt, table in given.items():
            extra = defaults.get(rt, {}).get("kernels") if isinstance(defaults.get(rt), dict) else None
            if extra and isinstance(table, dict) and "kernels" not in table:
                filled[rt] = {**table, "kernels": extra}
        return {**data, "latency": filled}

    @model_validator(mode="after")
    def _check_consistency(self) -> Board:
        if self.family in _FAMILY_CORES and self.core not in _FAMILY_CORES[self.family]:
            allowed = " or ".join(_FAMILY_CORES[self.family])
            raise _field_error("core", f"family {self.family} has a {allowed} core, got {self.core!r}")
        if self.fpu not in _CORE_FPUS[self.core]:
            allowed = ", ".join(repr(f) for f in _CORE_FPUS[self.core])
            raise _field_error("fpu", f"a {self.core} can have fpu {allowed}, got {self.fpu!r}")
        dsp = _CORE_DSP[self.core]
        if dsp is not None and self.dsp != dsp:
            raise _field_error(
                "dsp",
                f"a {self.core} {'always' if dsp else 'never'} has the DSP extension, expected {str(dsp).lower()}",
            )
        if self.cycle_counter == "dwt" and self.core in _NO_DWT_CORES:
            raise _field_error("cycle_counter", f"a {self.core} has no DWT cycle counter, expected 'systick'")
        if self.cycle_counter == "dwt" and self.qemu is not None:
            raise _field_error(
                "cycle_counter", "QEMU's DWT cycle counter reads 0, expected 'systick' for an emulated board"
            )
        if not self.runtime:
            raise _field_error(
                "runtime", f"expected figures for at least one runtime ({', '.join(RUNTIMES)})"
            )
        if self.timestamp_pin is not None:
            pattern, example = _TIMESTAMP_PIN.get((self.family or "")[:5], (r"[A-Za-z0-9_.]{1,16}", "'PA5'"))
            if not re.fullmatch(pattern, self.timestamp_pin):
                raise _field_error("timestamp_pin", f"expected a {self.family or 'board'} GPIO like {example}, "
                                   f"got {self.timestamp_pin!r}")
        if self.power is not None and self.power.run_current_ua_per_mhz is not None:
            ma = self.power.run_current_ua_per_mhz * self.clock_hz / 1e9
            if not 0.01 <= ma <= 2000:
                raise _field_error("power.run_current_ua_per_mhz",
                                   f"gives {ma:g} mA at clock_hz {self.clock_hz}, expected 0.01 .. 2,000 mA")
        mem = self.memory
        for rt in self.runtime:
            if self.usable_sram(rt) <= 0:
                raise _field_error(
                    "memory.reserve_sram_bytes",
                    f"stack, reserve and {rt} static data leave no SRAM in region '{mem.arena_region}' "
                    f"({self.arena.size} B) for the arena",
                )
            if self.usable_flash(rt) <= 0:
                raise _field_error(
                    "memory.reserve_flash_bytes",
                    f"{rt} code and reserve leave no flash ({mem.flash.size} B) for the model",
                )
        return self

    # derived figures -------------------------------------------------------------------------

    @property
    def arena(self) -> Region:
        """The SRAM region that holds the tensor arena."""
        return self.memory.region(self.memory.arena_region)

    def firmware_problem(self) -> str | None:
        """Why no standalone firmware project can be generated for this board (None: it can)."""
        if self.family is None:
            return "its YAML has no family"
        if self.family not in SUPPORTED_FAMILIES:
            return f"family {self.family!r} has no board support"
        missing = [f for f in FIRMWARE_FIELDS if getattr(self, f) is None]
        if missing:
            return f"its YAML has no {' and no '.join(missing)} (family {self.family})"
        return None

    def require_firmware(self) -> None:
        """Refuse (one ``UserError`` line) a standalone firmware project for a board without board support."""
        problem = self.firmware_problem()
        if problem is not None:
            raise UserError(
                f"board {self.name}: {problem}: the standalone firmware project needs board support "
                f"(families {', '.join(SUPPORTED_FAMILIES)} with family, uart, cycle_counter and flash_tool "
                "in the YAML); analyze, search and export work; `ofa-mcu compile --format "
                "library` (or arduino, zephyr) makes a library for your own firmware"
            )

    def with_kernels(self, runtime: str, kernels: str | None) -> Board:
        """This board with ``runtime``'s kernels set to ``kernels`` (``--kernels``): the arena
        plan, the compile record and the project's CMake default then follow them. ``None`` or
        the YAML's own choice: the board itself."""
        cost = self._cost(runtime)
        if kernels is None or kernels == cost.kernels:
            return self
        if kernels not in KERNEL_SETS:
            raise UserError(f"--kernels {kernels}: expected one of {', '.join(KERNEL_SETS)}")
        runtimes = {**self.runtime, runtime: cost.model_copy(update={"kernels": kernels})}
        return self.model_copy(update={"runtime": runtimes})

    @property
    def sram_total(self) -> int:
        """Sum of all SRAM regions, in bytes."""
        return sum(r.size for r in self.memory.ram)

    @property
    def emulated(self) -> bool:
        """True for boards that run under QEMU."""
        return self.qemu is not None

    def _cost(self, runtime: str) -> RuntimeCost:
        try:
            return self.runtime[runtime]  # type: ignore[index]
        except KeyError:
            have = ", ".join(self.runtime) or "none"
            raise UserError(f"board {self.name}: no runtime figures for '{runtime}' (has: {have})") from None

    def usable_sram(self, runtime: str = "tflm") -> int:
        """Bytes the arena may use: arena region − stack (if there) − runtime static − reserve."""
        mem = self.memory
        stack = mem.stack_bytes if mem.stack_region == mem.arena_region else 0
        return self.arena.size - stack - self._cost(runtime).static_bytes - mem.reserve_sram_bytes

    def usable_flash(self, runtime: str = "tflm") -> int:
        """Bytes the model may use in flash: flash − runtime code − reserve."""
        return self.memory.flash.size - self._cost(runtime).code_bytes - self.memory.reserve_flash_bytes

    def gcc_cpu_flags(self) -> list[str]:
        """arm-none-eabi-gcc flags selecting this board's core, instruction set and float ABI."""
        mcpu = self.core
        if self.core == "cortex-m33" and not self.dsp:
            mcpu += "+nodsp"
        flags = [f"-mcpu={mcpu}", "-mthumb"]
        if self.fpu == "none":
            flags.append("-mfloat-abi=soft")
        else:
            flags += ["-mfloat-abi=hard", f"-mfpu={self.fpu}"]
        return flags

    def summary(self) -> dict[str, Any]:
        """All fields (JSON types) plus the derived figures, for ``ofa-mcu boards --json``."""
        data = self.model_dump(mode="json")
        data["sram_total"] = self.sram_total
        data["emulated"] = self.emulated
        data["firmware_problem"] = self.firmware_problem()
        data["usable_sram"] = {rt: self.usable_sram(rt) for rt in self.runtime}
        data["usable_flash"] = {rt: self.usable_flash(rt) for rt in self.runtime}
        return data


# loading ---------------------------------------------------------------------------------------


def _display(path: Path) -> str:
    """How an error names a board file: ``targets/x.yaml`` for shipped boards, else the path."""
    try:
        rel = path.resolve().relative_to(targets_dir().resolve())
        return f"targets/{rel.as_posix()}"
    except (ValueError, FileNotFoundError):
        return str(path)


def board_from_dict(data: Any, source: str = "<board>") -> Board:
    """Validate a parsed board mapping; any problem becomes a one-line ``UserError`` naming ``source``."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a mapping of board fields at the top level, got {show(data)}")
    check_plain(data, source)
    try:
        return Board.model_validate(data)
    except ValidationError as e:
        raise UserError(format_validation_error(source, e, Board)) from None


@functools.lru_cache(maxsize=128)
def _load_file(path_str: str, display: str, _mtime_ns: int, _size: int) -> Board:
    path = Path(path_str)
    data = read_yaml(path, display)
    if data is None:
        raise UserError(f"{display}: empty file, expected a mapping of board fields")
    board = board_from_dict(data, display)
    stem = path.stem
    if board.name != stem:
        raise UserError(
            f"{display}: name: expected {stem!r} (the file name without .yaml), got {board.name!r}"
        )
    return board


def _looks_like_path(name_or_path: str) -> bool:
    return "/" in name_or_path or "\\" in name_or_path or name_or_path.endswith((".yaml", ".yml"))


def board_path(name_or_path: str) -> Path:
    """The YAML file for a board name (from ``targets/``) or a path; ``UserError`` if there is none."""
    if _looks_like_path(name_or_path):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise UserError(f"{name_or_path}: no such board file")
        return path
    path = targets_dir() / f"{name_or_path}.yaml"
    if path.is_file():
        return path
    raise UserError(
        f"unknown board {name_or_path!r} (known: {', '.join(board_names())}; or give a path to a board YAML)"
    )


def load_board(name_or_path: str) -> Board:
    """Load and validate a board by name (file stem in ``targets/``) or by path to a YAML file."""
    path = board_path(name_or_path)
    stat = path.stat()
    return _load_file(str(path.resolve()), _display(path), stat.st_mtime_ns, stat.st_size)


def board_names() -> list[str]:
    """Names of the shipped boards (stems of ``targets/*.yaml``), sorted."""
    return sorted(p.stem for p in targets_dir().glob("*.yaml"))


def list_boards() -> list[Board]:
    """All shipped boards, validated, sorted by name."""
    return [load_board(name) for name in board_names()]
