"""Flash bytes of each native kernel entry point, per core: the table the code generator chooses
kernel loops with (``ofa_mcu/native/kernel_code.py``).

Every ``firmware/kernels/*.c`` is compiled as a firmware compiles it (arm-none-eabi-gcc ``-O2
-ffunction-sections -fdata-sections``, the core's flags) and read back with ``arm-none-eabi-readelf``:
each function and constant is its own section, and a section's relocations name what it uses. An
entry point's code is the closure of its section over those references (its own loop, the static
loops it calls, their constant tables); C library and libgcc calls are left out (the runner links
``memcpy`` and friends anyway). The linker keeps exactly these sections (``--gc-sections``), so the
kernels' flash in a linked firmware is the size of the union of the closures of the entry points it
calls (``tests/test_native_flash.py`` checks that against real firmware).

    .venv/bin/python benchmarks/kernel_bytes.py            # print the table
    .venv/bin/python benchmarks/kernel_bytes.py --write    # rewrite ofa_mcu/native/kernel_code.py

Rerun with ``--write`` after changing a kernel (the test says when the table is stale).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "firmware" / "kernels"
OUT = ROOT / "ofa_mcu" / "native" / "kernel_code.py"
#: build name -> gcc core flags (the boards' gcc_cpu_flags for these cores)
BUILDS: dict[str, list[str]] = {
    "m0": ["-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft", "-masm-syntax-unified"],
    "m3": ["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"],
    "m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "m7": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"],
}
FLAGS = ["-O2", "-DNDEBUG", "-ffunction-sections", "-fdata-sections", "-fno-common", "-std=c99"]
_FLASH_SECTION = re.compile(r"^\.(text|rodata|data)(\.|$)")


def _readelf(obj: Path, what: str) -> str:
    return subprocess.run(["arm-none-eabi-readelf", "-W", what, str(obj)], check=True, capture_output=True,
                          text=True).stdout


def object_graph(obj: Path, tag: str) -> tuple[dict[str, int], dict[str, set[str]], dict[str, str]]:
    """(flash sections -> bytes, section -> sections or undefined symbols it references,
    global function -> its section) of one object; sections are named ``<tag>:<section>``."""
    sizes: dict[str, int] = {}
    index: dict[int, str] = {}
    for m in re.finditer(r"^\s*\[\s*(\d+)\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)",
                         _readelf(obj, "-S"), re.M):
        index[int(m.group(1))] = m.group(2)
        if _FLASH_SECTION.match(m.group(2)) and int(m.group(3), 16):
            sizes[f"{tag}:{m.group(2)}"] = int(m.group(3), 16)
    sym_section: dict[str, str] = {}
    globals_: dict[str, str] = {}
    for line in _readelf(obj, "-s").splitlines():
        f = line.split()
        if len(f) < 8 or not f[0].endswith(":") or not f[6].isdigit():
            continue
        sec = index.get(int(f[6]))
        if sec is None:
            continue
        name = f[7] if len(f) > 7 else sec
        if f[3] == "SECTION":
            name = sec
        sym_section.setdefault(name, f"{tag}:{sec}")
        if f[3] == "FUNC" and f[4] == "GLOBAL":
            globals_[name] = f"{tag}:{sec}"
    refs: dict[str, set[str]] = {s: set() for s in sizes}
    current: str | None = None
    for line in _readelf(obj, "-r").splitlines():
        m = re.match(r"Relocation section '\.rel(?:a)?(\S+)'", line)
        if m:
            current = f"{tag}:{m.group(1)}"
            continue
        f = line.split()
        if current in refs and len(f) >= 5 and re.fullmatch(r"[0-9a-f]{8}", f[0]):
            sym = f[4]
            refs[current].add(sym_section.get(sym, sym))
    return sizes, refs, globals_


def build_table(build: str, work: Path) -> dict[str, object]:
    """{"sections": {section: bytes}, "entries": {entry point: [sections of its closure]}} of ``build``."""
    sizes: dict[str, int] = {}
    refs: dict[str, set[str]] = {}
    globals_: dict[str, str] = {}
    for src in sorted(KERNELS.glob("*.c")):
        obj = work / f"{build}-{src.stem}.o"
        subprocess.run(["arm-none-eabi-gcc", *BUILDS[build], *FLAGS, f"-I{KERNELS}", "-c", str(src), "-o", str(obj)],
                       check=True)
        s, r, g = object_graph(obj, src.stem)
        sizes.update(s)
        refs.update(r)
        globals_.update(g)
    entries: dict[str, list[str]] = {}
    for fn, sec in sorted(globals_.items()):
        seen: set[str] = set()
        todo = [sec]
        while todo:
            s = todo.pop()
            if s in seen:
                continue
            seen.add(s)
            for t in refs.get(s, ()):
                t = globals_.get(t, t)  # a call into another object: its section
                if t in sizes and t not in seen:
                    todo.append(t)
        entries[fn] = sorted(x for x in seen if x in sizes)
    used = {s for secs in entries.values() for s in secs}
    return {"sections": {s: sizes[s] for s in sorted(used)}, "entries": entries}


def render(tables: dict[str, dict[str, object]]) -> str:
    lines = ['"""Flash bytes of the native kernels\' entry points per core: generated by',
             "``benchmarks/kernel_bytes.py --write`` from the kernels compiled as a firmware compiles them",
             "(do not edit; rerun it after changing a kernel). ``KERNEL_CODE[build]``: ``sections`` (every",
             "function and constant table of the kernels, ``file:section`` -> bytes) and ``entries`` (each",
             "public function -> the sections it needs: itself, the loops it calls, their tables).",
             '"""', "", "# fmt: off", "KERNEL_CODE: dict[str, dict[str, dict]] = {"]
    for build, t in tables.items():
        lines.append(f"    {build!r}: {{")
        lines.append('        "sections": {')
        for s, n in t["sections"].items():  # type: ignore[union-attr]
            lines.append(f"            {s!r}: {n},")
        lines.append("        },")
        lines.append('        "entries": {')
        for e, secs in t["entries"].items():  # type: ignore[union-attr]
            lines.append(f"            {e!r}: {secs!r},")
        lines.append("        },")
        lines.append("    },")
    lines.append("}")
    lines.append("# fmt: on")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help=f"rewrite {OUT.relative_to(ROOT)}")
    ap.add_argument("--builds", default=",".join(BUILDS))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ofa-kernel-bytes-") as tmp:
        tables = {b: build_table(b, Path(tmp)) for b in args.builds.split(",")}
    if args.write:
        OUT.write_text(render(tables))
        print(f"wrote {OUT}")
    for b, t in tables.items():
        secs = t["sections"]
        print(f"\n### {b}\n")
        for e, closure in t["entries"].items():  # type: ignore[union-attr]
            print(f"{e:45s} {sum(secs[s] for s in closure):6d}")  # type: ignore[index]
    return 0


if __name__ == "__main__":
    sys.exit(main())
