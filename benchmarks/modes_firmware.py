"""Operating modes in ONE firmware: per mode accuracy, latency, energy estimate, SRAM and flash, and
the flash of the K modes against K separate firmwares, with and without identical weights stored once.

For one board of a ``search --modes K`` result this compiles the modes into one native firmware
(``ofa-mcu compile --search``: each mode exported to INT8, test accuracy on TFLM), builds it with
arm-none-eabi-gcc and, on an emulated board, profiles every mode in QEMU (switched with
``ofa-mode N``, each checked bit for bit against host TFLM on its own ``.tflite``). For the flash
comparison it builds, from the very same ``.tflite`` files, the multi-mode firmware without
weight sharing and one single-model firmware per mode. Flash figures are the linked images'
text + data (arm-none-eabi-size), not predictions. Latency on an emulated board is QEMU's
executed instructions (-icount), shown as ms at the board's clock at one instruction per cycle:
an estimate, like the energy (latency x the YAML's datasheet run power).

Run:
    .venv/bin/ofa-mcu search --checkpoint demo-out/train --target qemu-netduinoplus2 --target qemu-microbit \\
        --runtime native --modes 3 --val-images 2000 --predictor-samples 50 --out runs/modes
    .venv/bin/python benchmarks/modes_firmware.py --checkpoint demo-out/train --search runs/modes \\
        --board qemu-netduinoplus2 --out runs/modes-fw [--test-images N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ofa_mcu.artifacts import read_compile_info
from ofa_mcu.boards import load_board
from ofa_mcu.checkpoint import load_checkpoint, resolve_path
from ofa_mcu.energy import energy_uj
from ofa_mcu.firmware.build import build_project
from ofa_mcu.firmware.compile import render_model_project
from ofa_mcu.firmware.modes import compile_modes, modes_from_search
from ofa_mcu.firmware.project import render_project
from ofa_mcu.native.modes import generate_modes
from ofa_mcu.table import render


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--search", type=Path, required=True, help="a search folder written with --modes K")
    ap.add_argument("--board", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--test-images", type=int, default=None)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    t0 = time.time()
    board = load_board(args.board)
    ckpt = load_checkpoint(resolve_path(args.checkpoint))
    found = modes_from_search(args.search, board.name, ckpt.space)
    if found is None:
        raise SystemExit(f"{args.search}: no modes for {board.name} (search with --modes K)")
    choices, text = found
    fw = args.out / "modes"
    res = compile_modes(args.checkpoint, board, fw, "native", choices=choices, search_text=text,
                        test_images=args.test_images, progress=print)
    info = res.info
    built = build_project(fw, jobs=2)
    models = [(fw / m["model_file"]).read_bytes() for m in info["modes"]]
    profiled: dict[int, dict[str, Any]] = {}
    if board.qemu is not None:
        from ofa_mcu.emulation import profile_modes
        from ofa_mcu.qemu import run_qemu

        with run_qemu(built.elf, board, timeout_s=1800) as session:
            prof = profile_modes(session.url, fw, read_compile_info(fw) or {}, None, runs=args.runs, warmup=1,
                                 timeout_s=30)
        profiled = {d["mode"]["index"]: d for d in prof["modes"]}
        (fw / "profile.json").write_text(json.dumps({**prof, "project": str(fw)}, indent=1) + "\n")

    # the same .tflite files: one firmware without sharing, and one firmware per mode
    unshared = generate_modes(models, name=info["model"], names=[m["name"] for m in info["modes"]], share=False)
    render_project(board, args.out / "modes-unshared", unshared.sources, runtime="native", model_name=info["model"])
    size_unshared = build_project(args.out / "modes-unshared", jobs=2).size
    singles = []
    for k, c in enumerate(choices):
        report = json.loads((fw / f"export-mode{k}.json").read_text())
        path, _, _ = render_model_project(models[k], board, args.out / f"single{k}", "native", space=ckpt.space,
                                          subnet=c.subnet, report=report)
        singles.append(build_project(path, jobs=2).size)

    rows = []
    for k, m in enumerate(info["modes"]):
        p, d = m["predicted"], profiled.get(k) or {}
        instr = (d.get("latency_instructions") or {}).get("mean")
        ms = 1000.0 * instr / board.clock_hz if instr else None
        uj = energy_uj(board, ms if ms is not None else p.get("latency_ms"))
        mem = d.get("memory") or {}
        rows.append((m["name"], m["subnet_hash"], m["resolution"], f"{100 * m['accuracy']['float']:.2f}%",
                     f"{100 * m['accuracy']['int8']:.2f}%", f"{instr:,.0f}" if instr else "-",
                     f"{ms:.2f}" if ms is not None else f"{p['latency_ms']:.2f} (predicted)",
                     "-" if uj is None else f"{uj:.1f}", f"{mem.get('arena_used', 0):,}" if mem else "-",
                     f"{p['arena_bytes']:,}", f"{p['model_flash_bytes']:,}", f"{singles[k].flash_bytes:,}",
                     "-" if not d else ("yes" if d["check"]["match"] else "NO")))
    print(render(["mode", "subnet", "res", "float test", "INT8 test", "instructions (QEMU)", "ms at clock",
                  "uJ (estimate)", "arena used B", "arena planned B", "model flash B (pred.)", "alone: image B",
                  "== host TFLM"], rows,
                 title=f"{board.name}: {len(models)} modes in one native firmware ({info['model']})"))
    sh = info["flash_sharing"]
    sep = sum(s.flash_bytes for s in singles)
    print(f"int8 weights: {sh['weight_bytes_separate']:,} B as separate models, {sh['weight_bytes_stored']:,} B stored "
          f"({sh['saved_bytes']:,} B = {sh['saved_pct']:.1f}% stored once)")
    print(f"linked image text+data: one firmware, K modes, sharing: {built.size.flash_bytes:,} B; without sharing: "
          f"{size_unshared.flash_bytes:,} B; K separate firmwares: {sep:,} B in total "
          f"({' + '.join(f'{s.flash_bytes:,}' for s in singles)})")
    print(f"shared arena: {info['predicted']['arena_bytes']:,} B reserved (largest mode); "
          f"RAM data+bss of the image {built.size.ram_bytes:,} B")
    print(f"total {time.time() - t0:.0f} s (whole process, this machine)")
    if args.json:
        args.json.write_text(json.dumps({
            "board": board.name, "modes": info["modes"], "flash_sharing": sh, "profile": profiled,
            "image_flash_bytes": {"modes_shared": built.size.flash_bytes, "modes_unshared": size_unshared.flash_bytes,
                                  "separate": [s.flash_bytes for s in singles]},
        }, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
