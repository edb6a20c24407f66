"""The serial client of the runner protocol (MLPerf Tiny / EEMBC runner, performance mode, plus the
ofa-mcu extensions): :class:`Device` talks to a device over any pyserial URL, one command at a
time, and parses its replies (:class:`DeviceInfo`, :class:`InferReply`, :class:`CyclesReply`,
:class:`LayerProfile`).

Ports: a serial device (``/dev/ttyACM0``), ``socket://127.0.0.1:PORT`` (QEMU, see
:mod:`ofa_mcu.qemu`), ``rfc2217://...``, or anything else ``serial.serial_for_url`` opens.

Every read has a deadline; garbage bytes, silence, a device reset in the middle of a command
(its start-up banner again), oversized or malformed replies and a port that disappears all end
in a one-line ``WorkFailed`` within the timeout. A plain MLPerf Tiny device (no ``ofa-*``
commands) answers the standard replies only (lap timestamps and ``m-results``).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Any

from ofa_mcu.errors import UserError, WorkFailed

DEFAULT_BAUD = 115200
DEFAULT_TIMEOUT_S = 10.0
# Hex bytes per `db` command: 31, what the MLPerf Tiny host runner sends to a device connected
# directly (26 behind its energy monitor), fits the 80-character command buffer of the reference
# firmware; ofa-mcu firmware takes 256-character commands.
DB_CHUNK_STANDARD = 31
DB_CHUNK_OFA = 120
_MAX_LINE = 1 << 20
# No microcontroller model takes or produces more than this; a device claiming more is broken
# (and the profiler would build and send that input). A known model bounds the sizes exactly.
MAX_DEVICE_BYTES = 4 << 20
_COUNTER_WRAP = 1 << 32  # lap timestamps: a 32-bit microsecond counter
_TEXT = bytes(range(0x20, 0x7F)) + b"\t\r\n"
_BANNER = ("m-timestamp-mode-", "m-init-done")

_LIST_RE = re.compile(r"^m-([a-z0-9-]+?)-\[(.*)\]$")


# ------------------------------------------------------------------------------------------
# replies


@dataclass(frozen=True)
class DeviceInfo:
    """``ofa-info`` of an ofa-mcu firmware (None fields for a plain MLPerf Tiny device)."""

    name: str
    board: str | None = None
    core: str | None = None
    counter: str | None = None
    clock_hz: int | None = None
    emulated: bool | None = None
    model: str | None = None
    runtime: str | None = None
    input_bytes: int | None = None
    output_bytes: int | None = None
    arena_bytes: int | None = None
    max_runs: int | None = None
    extensions: bool = False
    db_input: str = "int8"  # "uint8": the firmware shifts `db` bytes by -128 into its int8 input


@dataclass(frozen=True)
class InferReply:
    """What ``infer N W`` printed: the two lap timestamps (µs) and ``m-results`` values."""

    runs: int
    warmup: int
    t0_us: int
    t1_us: int
    results: list[float]

    @property
    def us_per_run(self) -> float:
        """Microseconds per run; a 32-bit counter that wrapped once between the laps is undone."""
        return ((self.t1_us - self.t0_us) % _COUNTER_WRAP) / self.runs


@dataclass(frozen=True)
class CyclesReply:
    """``ofa-cycles``: per-inference counts of the last ``infer`` (first ``recorded`` kept)."""

    runs: int
    warmup: int
    sum: int
    min: int
    max: int
    recorded: list[int]


@dataclass
class LayerProfile:
    """One layer of the last inference: its index, op kind, counter ticks, optional name."""

    index: int
    kind: str
    cycles: int
    name: str | None = None
    macs: int | None = None
    instructions: float | None = None


def _kv(body: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in body.split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _int(v: str | None) -> int | None:
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def _numbers(body: str, what: str, port: str, kind: type = int) -> list:
    """The comma-separated numbers of a reply; anything else (a bad digit, nan, inf) is WorkFailed."""
    try:
        values = [kind(v) for v in body.split(",") if v.strip()]
    except ValueError:
        raise WorkFailed(f"unreadable {what} from {port}: {body[:80]!r}") from None
    if kind is float and not all(math.isfinite(v) for v in values):
        raise WorkFailed(f"non-finite value in {what} from {port}: {body[:80]!r}")
    return values


# ------------------------------------------------------------------------------------------
# the device connection


def _open_keeping_input(ser: Any) -> None:
    """Open ``ser`` without discarding what has already arrived.

    pyserial's ``socket://`` handler drains its input right after connecting. QEMU (``wait=on``)
    starts the guest when we connect, so under load the firmware's start-up banner can arrive in
    that window and be thrown away. The drain is skipped here; ``Device.sync`` still clears stale
    input when it means to.
    """
    drain = ser.reset_input_buffer
    ser.reset_input_buffer = lambda: None  # an instance attribute shadows the method during open()
    try:
        ser.open()
    finally:
        ser.reset_input_buffer = drain


class Device:
    """One serial connection to an MLPerf Tiny / ofa-mcu device; one command at a time.

    Each command waits for its ``m-ready`` at most ``timeout_s`` seconds (``infer`` takes its own
    timeout). Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, port: str, *, baud: int = DEFAULT_BAUD, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        try:
            import serial  # pyserial
        except ImportError as e:  # pragma: no cover - pyserial is a dependency
            raise WorkFailed("pyserial is not installed (pip install pyserial)") from e
        self._serial_mod = serial
        self.port = port
        self.timeout_s = float(timeout_s)
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf already checked for a line end and garbage
        self._tail = bytearray()  # last bytes received, for error messages
        self.info_cache: DeviceInfo | None = None
        try:
            self._ser = serial.serial_for_url(
                port, baudrate=baud, timeout=min(0.25, self.timeout_s), write_timeout=self.timeout_s,
                do_not_open=True,
            )
            _open_keeping_input(self._ser)
        except (serial.SerialException, OSError, ValueError) as e:
            raise WorkFailed(f"cannot open serial port {port}: {e}") from None

    # -- low level ------------------------------------------------------------------------

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._ser.close()
        except Exception:  # noqa: BLE001 - closing a dead port must not hide the first error
            pass

    def _lost(self, e: BaseException) -> WorkFailed:
        return WorkFailed(f"serial port {self.port} closed or disappeared: {e}")

    def _recent(self) -> str:
        return repr(bytes(self._tail[-120:]))

    def write(self, text: str) -> None:
        try:
            self._ser.write(text.encode("ascii"))
            self._ser.flush()
        except self._serial_mod.SerialTimeoutException:
            raise WorkFailed(f"writing to {self.port} timed out after {self.timeout_s:g} s") from None
        except (self._serial_mod.SerialException, OSError) as e:
            raise self._lost(e) from None

    def _fill(self, deadline: float) -> bool:
        """Read what is available (waiting at most until ``deadline``); False on timeout."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            wanted = min(0.25, remaining)
            if self._ser.timeout != wanted:
                self._ser.timeout = wanted
            waiting = self._ser.in_waiting
            data = self._ser.read(waiting or 1)
            if data and waiting <= 1:  # socket:// reports at most 1 waiting: take the rest without waiting
                self._ser.timeout = 0
                data += self._ser.read(1 << 16)
        except (self._serial_mod.SerialException, OSError) as e:
            raise self._lost(e) from None
        if data:
            self._buf += data
            self._tail = (self._tail + data)[-256:]
        return True

    def read_line(self, deadline: float) -> str | None:
        """Next line (without line end), or None at ``deadline``. Garbage -> ``WorkFailed``."""
        while True:
            nl = self._buf.find(b"\n", self._scanned)  # only new bytes are scanned (a flood is linear)
            if nl >= 0:
                raw = bytes(self._buf[:nl]).rstrip(b"\r")
                del self._buf[: nl + 1]
                self._scanned = 0
                bad = [b for b in raw if (b < 0x20 and b != 0x09) or b > 0x7E]
                if bad:
                    raise WorkFailed(
                        f"garbage from {self.port}: {raw[:80]!r} (wrong baud rate, or not an MLPerf Tiny / "
                        "ofa-mcu firmware?)"
                    )
                return raw.decode("ascii")
            # Non-printable bytes are garbage even before a line end arrives.
            if bytes(self._buf[self._scanned:]).translate(None, _TEXT):
                raise WorkFailed(
                    f"garbage from {self.port}: {bytes(self._buf[:80])!r} (wrong baud rate, or not an "
                    "MLPerf Tiny / ofa-mcu firmware?)"
                )
            self._scanned = len(self._buf)
            if len(self._buf) > _MAX_LINE:
                raise WorkFailed(f"garbage from {self.port}: {_MAX_LINE} bytes without a line end: {self._recent()}")
            if not self._fill(deadline):
                return None

    def command(self, cmd: str, *, timeout_s: float | None = None, check: bool = True) -> list[str]:
        """Send ``cmd`` (``%`` appended if missing) and return the reply lines before ``m-ready``.

        ``check``: an ``e-[...]`` line raises ``WorkFailed``. A start-up banner in the reply means
        the device reset: ``WorkFailed``.
        """
        if not cmd.endswith("%"):
            cmd += "%"
        timeout = self.timeout_s if timeout_s is None else timeout_s
        self.write(cmd)
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        shown = cmd if len(cmd) <= 40 else cmd[:37] + "..."
        while True:
            line = self.read_line(deadline)
            if line is None:
                got = f"; received: {self._recent()}" if self._tail else "; nothing received"
                raise WorkFailed(f"no reply from {self.port} to '{shown}' within {timeout:g} s{got}")
            if line == "m-ready":
                break
            if line.startswith(_BANNER):
                raise WorkFailed(
                    f"device on {self.port} reset while running '{shown}' (it printed its start-up banner again)"
                )
            if line:
                lines.append(line)
        if check:
            errors = [ln for ln in lines if ln.startswith("e-")]
            if errors:
                raise WorkFailed(f"device error on '{shown}': {errors[0]}")
        return lines

    def sync(self) -> str:
        """Wait for the device to answer ``name%``; returns the name line. Skips a boot banner."""
        try:
            self._ser.reset_input_buffer()
        except Exception:  # noqa: BLE001 - not every URL handler supports it
            pass
        self._buf.clear()
        self._scanned = 0
        deadline = time.monotonic() + self.timeout_s
        interval = max(0.5, min(2.0, self.timeout_s / 4))
        sent = 0
        while time.monotonic() < deadline:
            self.write("name%")
            sent += 1
            attempt_end = min(deadline, time.monotonic() + interval)
            name: str | None = None
            while True:
                line = self.read_line(attempt_end)
                if line is None:
                    break
                if line.startswith("m-name-"):
                    name = line
                elif line == "m-ready" and name is not None:
                    if sent > 1:  # a late reply to an earlier name% may still come: drop it
                        drain_end = time.monotonic() + interval
                        while self.read_line(drain_end) is not None:
                            pass
                    return name
        got = f"; received: {self._recent()}" if self._tail else "; nothing received"
        raise WorkFailed(f"no answer from {self.port} to 'name%' within {self.timeout_s:g} s{got}")

    # -- commands --------------------------------------------------------------------------

    def info(self) -> DeviceInfo:
        """``name`` plus ``ofa-info`` (a plain MLPerf Tiny device answers only ``name``)."""
        name_lines = self.command("name")
        name_line = next((ln for ln in name_lines if ln.startswith("m-name-")), "")
        m_name = re.fullmatch(r"m-name-[^\[]*-\[(.*)\]", name_line)
        name = m_name.group(1) if m_name else name_line
        lines = self.command("ofa-info", check=False)
        kv: dict[str, str] = {}
        for ln in lines:
            m = _LIST_RE.match(ln)
            if m and m.group(1) == "ofa-info":
                kv = _kv(m.group(2))
        if not kv:
            self.info_cache = DeviceInfo(name=name)
            return self.info_cache
        self.info_cache = DeviceInfo(
            name=name,
            board=kv.get("board"),
            core=kv.get("core"),
            counter=kv.get("counter"),
            clock_hz=_int(kv.get("clock_hz")),
            emulated=kv.get("emulated") == "1",
            model=kv.get("model"),
            runtime=kv.get("runtime"),
            input_bytes=_int(kv.get("input_bytes")),
            output_bytes=_int(kv.get("output_bytes")),
            arena_bytes=_int(kv.get("arena_bytes")),
            max_runs=_int(kv.get("max_runs")),
            extensions=True,
            db_input="uint8" if kv.get("db_input") == "uint8" else "int8",
        )
        return self.info_cache

    def load(self, data: bytes, *, chunk: int | None = None, raw: bool = False) -> None:
        """``db load N`` then ``db <hex>`` chunks until ``m-load-done``. ``data`` is the int8 input:
        for a firmware that reads uint8 (``ofa-info`` ``db_input=uint8``, known after :meth:`info`)
        it is sent shifted by +128, which the firmware shifts back; ``raw``: send the bytes as given."""
        if not data:
            raise UserError("an input must have at least one byte")
        if not raw and self.info_cache is not None and self.info_cache.db_input == "uint8":
            data = bytes(b ^ 0x80 for b in data)
        if chunk is None:
            chunk = DB_CHUNK_OFA if self.info_cache and self.info_cache.extensions else DB_CHUNK_STANDARD
        lines = self.command(f"db load {len(data)}")
        if not any(ln.startswith("m-[Expecting") for ln in lines):
            raise WorkFailed(f"device did not accept 'db load {len(data)}': {lines}")
        done = False
        for off in range(0, len(data), chunk):
            lines = self.command("db " + data[off : off + chunk].hex())
            done = "m-load-done" in lines
        if not done:
            raise WorkFailed(f"device did not confirm the {len(data)}-byte input with m-load-done")

    def infer(self, runs: int, warmup: int, *, timeout_s: float) -> InferReply:
        """``infer N W``: the lap timestamps and ``m-results``."""
        start = time.monotonic()
        lines = self.command(f"infer {runs} {warmup}", timeout_s=timeout_s)
        host_us = (time.monotonic() - start) * 1e6
        laps = [int(ln[len("m-lap-us-"):]) for ln in lines if re.fullmatch(r"m-lap-us-\d{1,10}", ln)]
        results: list[float] = []
        for ln in lines:
            m = _LIST_RE.match(ln)
            if m and m.group(1) == "results":
                results = _numbers(m.group(2).strip(), "m-results line", self.port, float)
        if not laps and "m-infer-done" in lines:
            raise WorkFailed(f"no m-lap-us timestamps in the reply to 'infer {runs} {warmup}' from {self.port}: a "
                             "firmware built with --energy-mode times with GPIO pulses; profile a performance-mode build")
        if len(laps) != 2 or "m-infer-done" not in lines:
            raise WorkFailed(f"unexpected reply to 'infer {runs} {warmup}' from {self.port}: {lines[:8]}")
        reply = InferReply(runs=runs, warmup=warmup, t0_us=laps[0], t1_us=laps[1], results=results)
        if max(laps) >= _COUNTER_WRAP:
            raise WorkFailed(f"lap timestamps {laps} from {self.port} do not fit the 32-bit microsecond counter")
        # a wrap of the counter is undone; "backwards" by more than the command took is no wrap
        if laps[1] < laps[0] and reply.us_per_run * runs > 10 * host_us + 1e6:
            raise WorkFailed(f"lap timestamps from {self.port} go backwards ({laps[0]} then {laps[1]} us) by more "
                             f"than a counter wrap explains")
        return reply

    def _one_list(self, cmd: str, key: str) -> str:
        for ln in self.command(cmd):
            m = _LIST_RE.match(ln)
            if m and m.group(1) == key:
                return m.group(2)
        raise WorkFailed(f"no m-{key}-[...] line in the reply to '{cmd}' from {self.port}")

    def cycles(self) -> CyclesReply:
        """``ofa-cycles``."""
        lines = self.command("ofa-cycles")
        kv: dict[str, str] = {}
        recorded: list[int] = []
        for ln in lines:
            m = _LIST_RE.match(ln)
            if m and m.group(1) == "ofa-cycles":
                kv = _kv(m.group(2))
            elif m and m.group(1) == "ofa-cycles-list":
                recorded = _numbers(m.group(2), "ofa-cycles-list", self.port)
        try:
            reply = CyclesReply(
                runs=int(kv["runs"]), warmup=int(kv["warmup"]), sum=int(kv["sum"]), min=int(kv["min"]),
                max=int(kv["max"]), recorded=recorded,
            )
        except (KeyError, ValueError):
            raise WorkFailed(f"unreadable reply to 'ofa-cycles' from {self.port}: {lines[:3]}") from None
        if min(reply.runs, reply.warmup, reply.sum, reply.min, reply.max, *recorded) < 0:
            raise WorkFailed(f"negative count in the reply to 'ofa-cycles' from {self.port}: {lines[:3]}")
        return reply

    def layers(self) -> tuple[list[LayerProfile], int]:
        """``ofa-layers``: the layers of the last inference and how many did not fit."""
        lines = self.command("ofa-layers")
        out: list[LayerProfile] = []
        dropped = 0
        for ln in lines:
            m = _LIST_RE.match(ln)
            if not m:
                continue
            if m.group(1) == "ofa-layers":
                dropped = _int(_kv(m.group(2)).get("dropped")) or 0
            elif m.group(1) == "ofa-layer":
                parts = m.group(2).split(",")
                try:
                    out.append(LayerProfile(index=int(parts[0]), kind=parts[1], cycles=int(parts[2]),
                                            name=parts[3] if len(parts) == 4 else None))
                except (IndexError, ValueError):
                    raise WorkFailed(f"unreadable layer line from {self.port}: {ln[:120]!r}") from None
                if len(parts) > 4 or out[-1].cycles < 0 or out[-1].index < 0:
                    raise WorkFailed(f"unreadable layer line from {self.port}: {ln[:120]!r}")
        return out, dropped

    def outputs(self) -> list[int]:
        """``ofa-out``: the raw int8 output of the last inference."""
        values = _numbers(self._one_list("ofa-out", "ofa-out"), "ofa-out reply", self.port)
        if any(not -128 <= v <= 127 for v in values):
            raise WorkFailed(f"ofa-out reply from {self.port} holds values outside int8")
        return values

    def mode(self, index: int | None = None) -> dict[str, Any]:
        """``ofa-mode [N]``: switch to operating mode N first if given; the selected mode's
        description (index, count, name, input_shape, input_bytes, output_bytes, arena_bytes).
        A firmware without modes (older than the command) is a ``WorkFailed`` naming it."""
        cmd = "ofa-mode" if index is None else f"ofa-mode {int(index)}"
        lines = self.command(cmd, check=False)
        errors = [ln for ln in lines if ln.startswith("e-")]
        if errors:
            raise WorkFailed(f"device on {self.port} refused '{cmd}': {errors[0]}")
        for ln in lines:
            m = _LIST_RE.match(ln)
            if m and m.group(1) == "ofa-mode":
                kv = _kv(m.group(2))
                out: dict[str, Any] = {k: (int(v) if v.isdigit() else v) for k, v in kv.items()}
                if not isinstance(out.get("index"), int) or not isinstance(out.get("count"), int):
                    break
                return out
        raise WorkFailed(f"unreadable reply to '{cmd}' from {self.port}: {lines[:3]}")

    def memory(self) -> dict[str, int]:
        """``ofa-mem``: arena_used, arena_bytes, stack_used, stack_bytes, static_ram."""
        kv = _kv(self._one_list("ofa-mem", "ofa-mem"))
        return {k: int(v) for k, v in kv.items() if v.isdigit()}
