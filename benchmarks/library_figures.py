"""Library output figures: the boards `search` accepts, the subnet found for the RP2040, and the
size of the library (flash: text + data, RAM: data + bss, arena included) against the standalone
firmware for the same model, per runtime.

The model is the subnet the search chose for rpi-pico (``--search DIR`` with a search.json that
has it; otherwise the search runs into OUT/search). Sizes are arm-none-eabi-size of linked ELFs
(-O2, -ffunction-sections -fdata-sections, --gc-sections, newlib-nano):

- standalone firmware: the ``compile`` project for qemu-mps2-an386 (Cortex-M4F: board support,
  serial runner and profiler, model), built with its CMake project;
- library: the foreign application of the tests (``tests/foreign_app``: its own main.c and
  start-up, semihosting prints, nothing else) linked with the library, for the same Cortex-M4F,
  and for the RP2040's Cortex-M0+ (no standalone firmware exists for it).

tflm only with a TFLM tree (``--tflm-dir`` or $TFLM_DIR; the Arduino library's tree brings
CMSIS-NN kernels): both builds compile TFLM from it.

Run: .venv/bin/python benchmarks/library_figures.py --checkpoint runs/fm --search runs/fm-search \\
         --out runs/library-figures [--tflm-dir /tmp/tflm-arduino/src]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import textwrap
from pathlib import Path

from ofa_mcu.boards import list_boards, load_board
from ofa_mcu.firmware.build import build_project
from ofa_mcu.firmware.compile import compile_project, render_model_project
from ofa_mcu.firmware.library import render_library
from ofa_mcu.table import fmt_bytes, render

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "tests" / "foreign_app"
LINKER = ROOT / "tests" / "kernel_harness" / "arm" / "mps2.ld"
FLAGS = ["-O2", "-ffunction-sections", "-fdata-sections", "-DNDEBUG"]
LINK = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections", f"-T{LINKER}"]
TFLM_PLATFORM = """\
#include <stdint.h>
extern "C" void DebugLog(const char *s) { (void)s; }
namespace tflite {
uint32_t ticks_per_second() { return 0u; }
uint32_t GetCurrentTimeTicks() { return 0u; }
void InitializeTarget() {}
}
"""


def size(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sec = {p[0]: int(p[1]) for p in (line.split() for line in out.splitlines()) if len(p) >= 3 and p[1].isdigit()}
    text = sum(v for k, v in sec.items() if k in (".text", ".rodata", ".ARM.exidx", ".isr_vector", ".vectors"))
    data = sec.get(".data", 0)
    bss = sum(v for k, v in sec.items() if k in (".bss", ".arena", ".noinit"))
    return {"text": text, "data": data, "bss": bss, "flash": text + data, "ram": data + bss}


def build_library_app(lib: Path, cpu: list[str], work: Path, tflm_dir: Path | None) -> Path:
    """The foreign application linked with the library in ``lib`` (C sources; TFLM through CMake)."""
    work.mkdir(parents=True, exist_ok=True)
    if tflm_dir is None:
        srcs = sorted((lib / "src").glob("*.c"))
        elf = work / "app.elf"
        subprocess.run(["arm-none-eabi-gcc", *cpu, "-std=c99", *FLAGS, "-Wall", "-Wextra", "-Werror",
                        f"-I{lib / 'src'}", *LINK, str(APP / "main.c"), str(APP / "startup.c"), *map(str, srcs),
                        "-o", str(elf)], check=True, capture_output=True, text=True)
        return elf
    (work / "platform.cc").write_text(TFLM_PLATFORM)
    flags = " ".join([*cpu, *FLAGS])
    (work / "CMakeLists.txt").write_text(textwrap.dedent(f"""
        cmake_minimum_required(VERSION 3.13)
        set(CMAKE_SYSTEM_NAME Generic)
        set(CMAKE_C_COMPILER arm-none-eabi-gcc)
        set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
        set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
        project(foreign C CXX)
        set(CMAKE_C_FLAGS "{flags}")
        set(CMAKE_CXX_FLAGS "{flags} -fno-rtti -fno-exceptions -fno-threadsafe-statics")
        add_subdirectory("{lib}" ofa_model)
        add_executable(app.elf "{APP / 'main.c'}" "{APP / 'startup.c'}" "{work / 'platform.cc'}")
        target_link_libraries(app.elf PRIVATE ofa_model)
        target_link_options(app.elf PRIVATE {' '.join(cpu)} {' '.join(LINK)} -Wl,--defsym,end=_ebss)
    """))
    subprocess.run(["cmake", "-S", str(work), "-B", str(work / "build"), f"-DTFLM_DIR={tflm_dir}"], check=True,
                   capture_output=True)
    subprocess.run(["cmake", "--build", str(work / "build"), "-j2"], check=True, capture_output=True)
    return work / "build" / "app.elf"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--search", default=None, help="a search folder whose search.json has rpi-pico")
    ap.add_argument("--out", default="runs/library-figures")
    ap.add_argument("--tflm-dir", default=os.environ.get("TFLM_DIR"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 1. every shipped board goes through the search's constraints (core, clock, memories, budgets)
    rows = []
    for b in list_boards():
        rows.append([b.name, b.core, f"{b.clock_hz / 1e6:.0f} MHz", fmt_bytes(b.usable_sram("native")),
                     fmt_bytes(b.usable_flash("native")), "yes" if b.firmware_problem() is None else "library only"])
    print(render(["board", "core", "clock", "usable SRAM (native)", "usable flash (native)", "standalone firmware"],
                 rows))

    # 2. the RP2040's subnet, exported once into a native library (the search runs when needed)
    search = Path(args.search) if args.search else out / "search"
    pico = load_board("rpi-pico")
    res = compile_project(args.checkpoint, pico, out / "lib-native-m0plus", "native", search_dir=search,
                          output_format="library", progress=print)
    entry = json.loads((search / "search.json").read_text())["boards"]["rpi-pico"]
    sub = entry["subnet"]
    print(f"\nrpi-pico: subnet {res.subnet.stable_hash()} resolution {sub['resolution']}, "
          f"depths {[len(s) for s in sub['stages']]}, {res.info['macs']:,} MACs, "
          f"predicted {entry.get('predicted_acc')}, measured (validation) {entry.get('measured_acc')}, "
          f"test {res.info['accuracy']}, peak SRAM {entry['peak_sram_bytes']:,} B, flash {entry['flash_bytes']:,} B, "
          f"latency {entry['latency_ms']:.1f} ms (predicted)")
    model = res.model

    # 3. sizes: library vs standalone firmware, same model
    m4 = load_board("qemu-mps2-an386")
    tflm = Path(args.tflm_dir) if args.tflm_dir else None
    table = []
    for runtime in ("native", "tflm"):
        if runtime == "tflm" and tflm is None:
            print("tflm: no TFLM tree (--tflm-dir / TFLM_DIR): skipped")
            continue
        tree = tflm if runtime == "tflm" else None
        proj, info, _ = render_model_project(model, m4, out / f"fw-{runtime}", runtime)
        defines = {"TFLM_DIR": str(tflm), "OFA_TFLM_KERNELS": "auto"} if tree else None
        fw = size(build_project(proj, defines=defines, timeout_s=7200).elf)
        lib = out / f"lib-{runtime}"
        _, linfo, _ = render_library(model, m4, lib, runtime, "library", name=res.info["model"])
        ll = size(build_library_app(lib, m4.gcc_cpu_flags(), out / f"app-{runtime}-m4", tree))
        table.append([runtime, "standalone firmware", "cortex-m4f", fw["flash"], fw["ram"], info["predicted"].get("arena_bytes")])
        table.append([runtime, "library + foreign app", "cortex-m4f", ll["flash"], ll["ram"], linfo["arena_bytes"]])
        if tree is None:
            m0 = size(build_library_app(out / "lib-native-m0plus", pico.gcc_cpu_flags(), out / "app-native-m0", None))
            table.append([runtime, "library + foreign app", "cortex-m0plus", m0["flash"], m0["ram"],
                          res.info["arena_bytes"]])
    print()
    print(render(["runtime", "build", "core", "flash (text+data) B", "RAM (data+bss) B", "arena B"],
                 [[str(c) if not isinstance(c, int) else f"{c:,}" for c in r] for r in table]))
    (out / "library_figures.json").write_text(json.dumps({"rows": table, "rpi_pico": entry}, indent=2) + "\n")


if __name__ == "__main__":
    main()
