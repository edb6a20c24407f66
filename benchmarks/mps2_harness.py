"""Bare-metal kernel programs on an emulated MPS2 board: build with arm-none-eabi-gcc, run in QEMU.

The kernel benchmarks (``kernels_qemu.py``, ``requant_qemu.py``, ``dw_qemu.py``,
``convfc_qemu.py``) and the tests that load them share this: the startup code, linker script and
semihosting support of
``tests/kernel_harness/arm``, the firmware kernels' include path, warnings as errors, and QEMU
with ``-icount`` (virtual time counts instructions; DESIGN.md, "Emulated boards"), and the
per-case program protocol of the shape benchmarks (``run_cases``).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

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


def run_cases(layers: list[Any], machine: str, flags: list[str], main_c: Path, elf: Path, reps: int,
              kernels: Path = KERNELS) -> dict[str, Any]:
    """Build ``main_c`` (a per-case benchmark program: ``CALIB`` instructions per SysTick tick, then
    ``CASE k ticks ok|BAD`` per case and ``RESULT OK``) with the kernels and run it on QEMU
    ``machine``; each case of each layer (``layer.cases``, in program order) gets ``instructions``
    (per call, ``reps`` calls timed) and ``ok``. Returns {all_ok, exit_code, log, elf}."""
    build_elf([main_c, *sorted(kernels.glob("*.c"))], flags, elf, kernels)
    code, text = run_elf(machine, elf, timeout=600)
    calib = re.search(r"CALIB (\d+) (\d+)", text)
    if calib is None:
        raise RuntimeError(f"{elf.name}: no output from QEMU (rc {code}): {text[-500:]}")
    ipt = int(calib.group(1)) / int(calib.group(2))
    got = {int(m[0]): (int(m[1]), m[2] == "ok") for m in re.findall(r"^CASE (\d+) (\d+) (ok|BAD)$", text, re.M)}
    k = 0
    for layer in layers:
        for c in layer.cases:
            ticks, ok = got.get(k, (0, False))
            c["ok"] = ok
            c["instructions"] = ticks * ipt / reps
            k += 1
    return {"all_ok": code == 0 and "RESULT OK" in text and len(got) == k and all(v[1] for v in got.values()),
            "exit_code": code, "log": text[-2000:], "elf": elf}
