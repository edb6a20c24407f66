"""Emulated boards: run a firmware ELF in qemu-system-arm with its UART on a local TCP port.

Owns the QEMU command line (deterministic ``-icount``, semihosting exit, UART on
``tcp:127.0.0.1:PORT`` with ``nodelay``), free-port selection, waiting until QEMU listens, and
reaping: :func:`run_qemu` is a context manager that always kills QEMU's whole process group on
the way out (normal exit, exception, timeout, KeyboardInterrupt) and, on Linux, asks the kernel to
kill QEMU if this Python process dies.

Typical use (the profiler connects with ``serial.serial_for_url(session.url)``)::

    with run_qemu(elf, board) as session:
        result = profiler.profile(session.url)

Under ``-icount shift=N`` every guest instruction advances virtual time by 2**N ns, so timer
ticks (SysTick) count instructions: ``instructions = ticks * 1e9 / clock_hz / 2**N``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ofa_mcu.errors import UserError, WorkFailed

QEMU_BINARY = "qemu-system-arm"
QEMU_PACKAGE = "qemu-system-arm"  # Debian/Ubuntu package providing it
DEFAULT_ICOUNT_SHIFT = 0
# Machines this tool knows how to feed an ELF with -kernel (armv7m_load_kernel: vector table at
# the ELF's load address; QEMU reads the initial SP and PC from it).
KNOWN_MACHINES = ("mps2-an385", "mps2-an386", "mps2-an500", "mps2-an511", "netduinoplus2", "netduino2",
                  "microbit", "lm3s6965evb", "stm32vldiscovery", "olimex-stm32-h405")

_WAITING_RE = re.compile(r"QEMU waiting for connection on")


def find_qemu() -> str:
    """Path of qemu-system-arm; ``WorkFailed`` naming the Debian package when it is missing."""
    path = shutil.which(QEMU_BINARY)
    if path is None:
        raise WorkFailed(
            f"{QEMU_BINARY} not found: install it (Debian/Ubuntu: apt-get install {QEMU_PACKAGE})"
        )
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine_of(board: Any) -> str:
    """The QEMU machine of a board (a ``Board`` or a machine name)."""
    if isinstance(board, str):
        return board
    machine = getattr(getattr(board, "qemu", None), "machine", None)
    if not machine:
        raise UserError(f"board {getattr(board, 'name', board)} has no QEMU machine (qemu: in its YAML)")
    return str(machine)


def qemu_command(
    machine: str,
    elf: str | os.PathLike,
    port: int,
    *,
    icount_shift: int = DEFAULT_ICOUNT_SHIFT,
    semihosting: bool = True,
    extra_args: Sequence[str] = (),
    qemu: str | None = None,
) -> list[str]:
    """The qemu-system-arm command line for ``elf`` on ``machine`` with its UART on ``port``."""
    cmd = [
        qemu or QEMU_BINARY,
        "-machine", machine,
        "-nographic",
        "-monitor", "none",
        "-icount", f"shift={int(icount_shift)},align=off,sleep=off",
        "-serial", f"tcp:127.0.0.1:{int(port)},server=on,wait=on,nodelay=on",
        "-kernel", str(elf),
    ]
    if semihosting:
        cmd += ["-semihosting-config", "enable=on,target=native"]
    return [*cmd, *extra_args]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort, Linux only
        pass


try:
    _LIBC: Any = ctypes.CDLL(None, use_errno=True) if os.uname().sysname == "Linux" else None
except OSError:  # pragma: no cover
    _LIBC = None


@dataclass
class QemuSession:
    """A running QEMU: its serial URL for pyserial, port, command line and process."""

    url: str
    port: int
    command: list[str]
    process: subprocess.Popen
    timed_out: bool = False
    _output: list[bytes] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """QEMU's exit status once it has ended (semihosting exit status), else None."""
        return self.process.poll()

    def output(self) -> str:
        """What QEMU printed on stdout/stderr so far (semihosting console output included)."""
        with self._lock:
            return b"".join(self._output).decode("utf-8", "replace")

    def wait(self, timeout_s: float) -> int:
        """Wait for QEMU to end by itself (e.g. semihosting exit); return its exit status."""
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise WorkFailed(f"QEMU did not exit within {timeout_s:g} s") from None


def _kill_group(proc: subprocess.Popen, grace_s: float = 2.0) -> None:
    """SIGTERM then SIGKILL QEMU's process group; always reaps the child."""
    if proc.poll() is None:
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(proc.pid, sig)  # QEMU leads its own session/process group
            except (ProcessLookupError, PermissionError):
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
            try:
                proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
    with contextlib.suppress(Exception):
        proc.wait(timeout=5)
    if proc.stdout is not None:
        with contextlib.suppress(Exception):
            proc.stdout.close()


def _start(cmd: list[str], port: int, start_timeout_s: float) -> QemuSession:
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent if _LIBC is not None else None,  # noqa: PLW1509
    )
    session = QemuSession(url=f"socket://127.0.0.1:{port}", port=port, command=cmd, process=proc)
    listening = threading.Event()
    output_closed = threading.Event()

    def pump() -> None:
        stream = proc.stdout
        assert stream is not None
        seen = b""
        while True:
            try:
                chunk = stream.read1(4096) if hasattr(stream, "read1") else stream.read(1)
            except (OSError, ValueError):  # the pipe was closed when QEMU was killed
                break
            if not chunk:
                break
            with session._lock:
                session._output.append(chunk)
            if not listening.is_set():
                seen = (seen + chunk)[-4096:]
                if _WAITING_RE.search(seen.decode("utf-8", "replace")):
                    listening.set()
        output_closed.set()
        listening.set()  # QEMU ended: stop waiting

    threading.Thread(target=pump, name=f"qemu-{proc.pid}-output", daemon=True).start()
    deadline = time.monotonic() + start_timeout_s
    while time.monotonic() < deadline:
        if listening.wait(0.05) or _port_listening(port):
            break
    if output_closed.is_set():
        # QEMU closed its output: it is exiting. Its exit status can lag the EOF by a moment, so
        # wait for it instead of racing poll() (a QEMU that failed must not look started).
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is not None:
        return session  # the caller reports the failure with QEMU's output
    if not (listening.is_set() or _port_listening(port)):
        _kill_group(proc)
        raise WorkFailed(
            f"QEMU did not open its serial port {port} within {start_timeout_s:g} s: {session.output().strip()[-300:]}"
        )
    return session


def _port_listening(port: int) -> bool:
    """True when something listens on 127.0.0.1:port (read from /proc, no connection made)."""
    try:
        text = Path("/proc/net/tcp").read_text()
    except OSError:
        return False
    needle = f":{port:04X} "
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) > 3 and parts[1].endswith(needle.strip()) and parts[3] == "0A":  # TCP_LISTEN
            return True
    return False


@contextlib.contextmanager
def run_qemu(
    elf: str | os.PathLike,
    board: Any,
    *,
    timeout_s: float | None = 600.0,
    start_timeout_s: float = 20.0,
    icount_shift: int = DEFAULT_ICOUNT_SHIFT,
    semihosting: bool = True,
    port: int | None = None,
    extra_args: Sequence[str] = (),
) -> Iterator[QemuSession]:
    """Start QEMU for ``board`` (a ``Board`` with ``qemu.machine``, or a machine name) on ``elf``.

    Yields a :class:`QemuSession` whose ``url`` (``socket://127.0.0.1:PORT``) pyserial opens; the
    guest starts running when that connection is made (``wait=on``). QEMU is killed (process
    group) and reaped when the block ends for any reason; after ``timeout_s`` seconds it is killed
    even while the block still runs (``session.timed_out`` is then True, and reads from the port
    fail). Missing qemu-system-arm, a missing ELF, or a QEMU that fails to start -> ``WorkFailed``.
    """
    machine = machine_of(board)
    qemu = find_qemu()
    elf_path = Path(elf)
    if not elf_path.is_file():
        raise WorkFailed(f"{elf}: no such firmware ELF (build the project first)")
    session: QemuSession | None = None
    last_error = ""
    for attempt in range(3):
        p = port if port is not None else free_port()
        cmd = qemu_command(machine, elf_path, p, icount_shift=icount_shift, semihosting=semihosting,
                           extra_args=extra_args, qemu=qemu)
        candidate = _start(cmd, p, start_timeout_s)
        if candidate.process.poll() is None:
            session = candidate
            break
        _kill_group(candidate.process)
        last_error = candidate.output().strip()
        if "in use" not in last_error or port is not None or attempt == 2:
            break
    if session is None:
        raise WorkFailed(f"QEMU ({machine}) failed to start: {last_error[-400:] or 'no output'}")

    timer: threading.Timer | None = None
    if timeout_s is not None:
        def on_timeout() -> None:
            assert session is not None
            session.timed_out = True
            _kill_group(session.process, grace_s=0.5)

        timer = threading.Timer(timeout_s, on_timeout)
        timer.daemon = True
        timer.start()
    try:
        yield session
    except WorkFailed:
        if session.timed_out:  # the port closed because we killed QEMU: say so, not "connection reset"
            raise WorkFailed(f"QEMU was stopped after its time limit of {timeout_s:g} s (--qemu-timeout) "
                             "before the work on it finished") from None
        raise
    finally:
        if timer is not None:
            timer.cancel()
        _kill_group(session.process)


QEMU_PORT_PREFIX = "qemu:"


@contextlib.contextmanager
def open_port(
    port: str,
    *,
    timeout_s: float | None = 3600.0,
    build: bool = True,
    build_defines: dict[str, str] | None = None,
) -> Iterator[str]:
    """Resolve a profiler port for the duration of a ``with`` block.

    ``qemu:FWDIR`` (a project rendered for an emulated board): build it (incremental; skipped
    with ``build=False`` when the ELF exists), run it in QEMU, yield the ``socket://`` URL, and
    reap QEMU afterwards. Any other port (``/dev/ttyACM0``, ``socket://...``, ``rfc2217://...``)
    is yielded unchanged.
    """
    if not port.startswith(QEMU_PORT_PREFIX):
        yield port
        return
    from ofa_mcu.artifacts import read_project_info
    from ofa_mcu.firmware.build import build_project

    fwdir = Path(port[len(QEMU_PORT_PREFIX):]).expanduser()
    info = read_project_info(fwdir)
    machine = info.get("qemu_machine")
    if not machine:
        raise UserError(
            f"{fwdir}: rendered for board {info.get('board')}, which has no QEMU machine "
            "(render it for a qemu-* board to emulate it)"
        )
    elf = fwdir / "build" / "firmware.elf"
    if build or not elf.is_file():
        elf = build_project(fwdir, defines=build_defines).elf
    with run_qemu(elf, machine, timeout_s=timeout_s, semihosting=bool(info.get("semihosting", True))) as session:
        yield session.url
