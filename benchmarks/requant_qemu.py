"""The requantization primitive on emulated Cortex-M cores: bit-exactness and instructions per call.

Builds tests/kernel_harness/arm/requant_check.c (ofa_requant, on ARMv7-M the SMULL/ADC assembly
form, against ofa_requant_ref, TFLM's double rounding written literally, on ``--n`` pseudo-random
values plus an edge-value table) with arm-none-eabi-gcc for Cortex-M4, Cortex-M7 and Cortex-M0
code, runs each in QEMU with -icount and prints the number of values checked, mismatches, and
the executed instructions per ofa_output_s8 call (requantize + offset + clamp + store, including
the timing loop's own add/branch). Exit status 1 if any value differs.

    .venv/bin/python benchmarks/requant_qemu.py [--n 30000000] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mps2_harness import ARM, build_elf, run_elf  # noqa: E402

TIMED_CALLS = 100_000  # REQ_TIMED in requant_check.c
INSTRUCTIONS_PER_TICK = 40  # SysTick reload on mps2 with -icount shift=0 (see DESIGN.md)

VARIANTS: dict[str, tuple[str, list[str]]] = {
    "m4": ("mps2-an386", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft"]),
    "m7": ("mps2-an500", ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=soft"]),
    "m0": ("mps2-an386", ["-mcpu=cortex-m0", "-mthumb", "-masm-syntax-unified"]),
}


def run(variant: str, n: int, folder: Path) -> dict[str, Any]:
    """Build and run the check for one core; {checked, bad, instructions_per_call, ok, log}."""
    machine, flags = VARIANTS[variant]
    elf = build_elf([ARM / "requant_check.c"], [*flags, f"-DREQ_N={n}u"], folder / f"requant-{variant}.elf")
    returncode, text = run_elf(machine, elf, timeout=3600)
    checked = re.search(r"CHECKED (\d+) BAD (\d+)", text)
    ticks = re.search(r"TICKS (\d+)", text)
    if checked is None or ticks is None:
        raise RuntimeError(f"{variant}: no result from QEMU (rc {returncode}): {text[-500:]}")
    return {
        "checked": int(checked.group(1)),
        "bad": int(checked.group(2)),
        "instructions_per_call": int(ticks.group(1)) * INSTRUCTIONS_PER_TICK / TIMED_CALLS,
        "ok": returncode == 0 and checked.group(2) == "0",
        "log": [line for line in text.splitlines() if line.startswith("MISMATCH")],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=30_000_000, help="random values per core")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: " + ", ".join(VARIANTS))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="requant-qemu-") as tmp:
        for variant in args.variants.split(","):
            r = run(variant, args.n, Path(tmp))
            out[variant] = r
            print(f"{variant}: {r['checked']:,} values, {r['bad']} mismatches, "
                  f"{r['instructions_per_call']:.1f} instructions per ofa_output_s8 call (timing loop included)",
                  flush=True)
            for line in r["log"]:
                print("  " + line)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0 if all(r["ok"] for r in out.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
