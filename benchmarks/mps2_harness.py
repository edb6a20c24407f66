"""Bare-metal kernel programs on an emulated MPS2 board: build with arm-none-eabi-gcc, run in QEMU.

The kernel benchmarks (``kernels_qemu.py``, ``requant_qemu.py``) and the tests that load them
share this: the startup code, linker script and semihosting support of
``tests/kernel_harness/arm``, the firmware kernels' include path, warnings as errors, and QEMU
with ``-icount`` (virtual time counts instructions; DESIGN.md, "Emulated boards").
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "firmware" / "kernels"
ARM = ROOT / "tests" / "kernel_harness" / "arm"


def build_elf(sources: list[Path], flags: list[str], elf: Path, kernels: Path = KERNELS) -> Path:
    """Compile and link ``sources`` (plus the harness's bench_support.c) into ``elf`` at -O2 (an -O
    option in ``flags`` replaces it); ``kernels``: the folder of kernel headers (another version's,
    to compare)."""
    cmd = [
        "arm-none-eabi-gcc", "-O2", *flags, "-std=c99", "-Wall", "-Wextra", "-Werror",
        "-ffunction-sections", "-fdata-sections", f"-I{kernels}", f"-I{ARM}",
        "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", f"-T{ARM / 'mps2.ld'}",
        *(str(s) for s in sources), str(ARM / "bench_support.c"), "-o", str(elf),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return elf


def run_elf(machine: str, elf: Path, timeout: float) -> tuple[int, str]:
    """Run ``elf`` on QEMU ``machine`` until it exits through semihosting; (exit status, output).

    Semihosting SYS_WRITE0 goes to QEMU's stderr, so the output is stdout and stderr together."""
    qemu = [
        "qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial", "none",
        "-semihosting-config", "enable=on,target=native", "-icount", "shift=0,align=off,sleep=off",
        "-kernel", str(elf),
    ]  # fmt: skip
    res = subprocess.run(qemu, capture_output=True, text=True, timeout=timeout)
    return res.returncode, res.stdout + res.stderr
