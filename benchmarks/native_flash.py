"""Native firmware flash, arena and instructions per MAC of the same models, per git revision, side by side.

For each model (the four MLPerf Tiny reference models out of ``--mlperf-repo``, ``--random-subnets
N`` random mcu-32 subnets exported by this tree as ``native_qemu.py`` does, ``--tflite`` files) and
each core (``--variants``: ``m4-dsp``, Cortex-M4 with the DSP kernels; ``m0``, ARMv6-M code, run on
the same mps2-an386 machine as in ``native_qemu.py``; ``m7``, Cortex-M7 code, the same ARMv7E-M
instruction set; ``m3``, Cortex-M3 code, ARMv7-M without the DSP loops) the real native firmware is generated, built
with arm-none-eabi-gcc for qemu-mps2-an386 (``-ffunction-sections -fdata-sections
-Wl,--gc-sections``, as every ofa-mcu firmware) and run in QEMU with ``-icount`` (instructions, not
cycles), once by this tree ("after") and once by each revision of ``--revs`` (default b1b9f36, the
last commit before issue #13's kernel work, and 25bbaa9, main before per-layer kernel variants),
each exported with ``git archive`` under ``--work`` and run in a subprocess that imports that
tree's ``ofa_mcu`` (its code generator, kernels, runner and board support).

Reported per model, core and revision:

- flash: ``text + data`` of the ELF (arm-none-eabi-size: .text + .rodata + .data, what the chip's
  flash holds);
- code: flash minus the model's constants (weights, biases, requantization: ``const_bytes``), i.e.
  kernels, runner, board support, C library, the parameter structs and the generated calls;
- kernels: the part of flash that comes from ``firmware/kernels`` (the linker map's .text, .rodata
  and .data input sections of the kernel objects), and the rest split into runner + board support,
  the model (``model/``: constants, parameters, calls) and the C library (newlib, libgcc); with
  ``--kernels fast,compact`` this tree's firmware is built with both kernel choices (columns
  ``after`` and ``after/compact``), and the generator's prediction of the kernels' bytes is printed
  beside the linked figure;
- runtime code: flash minus what ``analyze`` counts as the model's flash
  (``ofa_mcu.analysis.model_flash_bytes``), the figure a board YAML's ``native.code_bytes`` must
  cover (printed for this tree);
- arena: the planned arena (``ofa_mcu.planner.plan_native``, what the firmware reserves);
- instructions per MAC of one inference (the serial profiler's count over the MACs of the model),
  and whether the firmware's output for a random input equals host TFLM's (``ofa-out``).

    .venv/bin/python benchmarks/native_flash.py --mlperf-repo /path/to/mlcommons+tiny \\
        [--random-subnets 2] [--tflite M.tflite ...] [--revs b1b9f36,25bbaa9] [--after REV] \\
        [--variants m4-dsp,m0] [--kernels fast,compact] [--no-run] [--work DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BOARD = "qemu-mps2-an386"
VARIANTS: dict[str, dict[str, Any]] = {
    "m4-dsp": {},  # the board's own flags (Cortex-M4 with FPU)
    "m0": {"cpu_flags": ["-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft", "-masm-syntax-unified"]},
    "m7": {"cpu_flags": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=soft"]},
    "m3": {"cpu_flags": ["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"]},
}
DEFAULT_REVS = "b1b9f36,25bbaa9"
#: the core each variant builds for (the code generator's kernel-size table and DSP path)
CORES = {"m4-dsp": ("cortex-m4", True), "m0": ("cortex-m0", False), "m7": ("cortex-m7", True),
         "m3": ("cortex-m3", False)}


_SECTION = re.compile(r"^ (\.(?:text|rodata|data)\S*)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)", re.M)


def flash_parts(map_file: Path) -> dict[str, int]:
    """Flash bytes (.text, .rodata, .data input sections the linker kept) per origin: ``kernels``
    (firmware/kernels), ``runner`` (firmware/runner and firmware/bsp), ``model_part`` (model/) and
    ``libc`` (newlib, libgcc); alignment fill and sections of other names are not counted."""
    text = map_file.read_text(errors="replace")
    text = text[text.find("Linker script and memory map"):]
    text = re.sub(r"^ (\.\S+)\n\s+", r" \1 ", text, flags=re.M)  # long names put the rest on the next line
    parts = {"kernels": 0, "runner": 0, "model_part": 0, "libc": 0}
    for m in _SECTION.finditer(text):
        size, path = int(m.group(3), 16), m.group(4)
        key = ("kernels" if "firmware/kernels/" in path else
               "runner" if "firmware/runner/" in path or "firmware/bsp/" in path else
               "model_part" if "model/" in path else "libc")
        parts[key] += size
    return parts


def worker(tree: Path, model: Path, variant: str, out: Path, run: bool, kernels: str = "fast") -> dict[str, Any]:
    """Build (and run) the native firmware of ``model`` with the ofa_mcu of ``tree`` (``kernels``:
    the fast or compact loops, trees that have the choice)."""
    sys.path.insert(0, str(tree))
    from ofa_mcu.boards import load_board
    from ofa_mcu.firmware import build_project, render_project
    from ofa_mcu.native.codegen import generate_native

    board = load_board(BOARD)
    data = model.read_bytes()
    from ofa_mcu.errors import WorkFailed

    core, dsp = CORES[variant]
    choice = {"kernels": kernels, "core": core, "dsp": dsp} if kernels != "fast" or _has_choice() else {}
    try:
        nm = generate_native(data, name=model.stem.replace("-", "_"), origin=str(model), **choice)
    except WorkFailed:  # an older tree whose IR of the subnet differs (MEAN before AVERAGE_POOL_2D): the graph alone
        nm = generate_native(data, name=model.stem.replace("-", "_"), origin=str(model), use_metadata=False, **choice)
    proj = render_project(board, out, nm.sources, runtime="native", model_name=nm.name,
                          extra_context=VARIANTS[variant])
    built = build_project(proj, jobs=2)
    flash = built.size.text + built.size.data
    row: dict[str, Any] = {"flash": flash, "text": built.size.text, "data": built.size.data,
                           "const_bytes": nm.const_bytes, "code": flash - nm.const_bytes,
                           "arena": nm.arena_bytes, "macs": nm.macs,
                           **flash_parts(built.elf.with_suffix(".map"))}
    g = nm.ir  # what the flash model counts (FlashModel.model_bytes)
    row.update(ir_ops=len(g.ops), ir_tensors=len(g.tensors), ir_channels=sum(op.quant_channels for op in g.ops),
               ir_weight_bias=g.weight_bytes + g.bias_bytes)
    if getattr(nm, "kernels", None):  # the generator's choice and its prediction of the kernels' bytes
        row["kernels_predicted"] = nm.kernels["kernel_bytes"]
        row["kernels_fast_predicted"] = nm.kernels["fast_bytes"]
        row["kernels_compact_predicted"] = nm.kernels["compact_bytes"]
        row["kernel_choice"] = nm.kernels["choice"]
    try:  # what `analyze` counts for the model; the rest is what the board YAML's native code_bytes must cover
        from ofa_mcu.analysis import model_flash_bytes

        row["model_flash_predicted"] = model_flash_bytes(nm.ir, "native")
        row["runtime_code"] = flash - row["model_flash_predicted"]
    except (ImportError, TypeError, KeyError, AttributeError):
        pass
    if run:
        from ofa_mcu.profiler import profile
        from ofa_mcu.qemu import run_qemu

        with run_qemu(built.elf, board, timeout_s=900) as session:
            res = profile(session.url, runs=1, warmup=0, timeout_s=120)
            row["bit_exact"] = output_matches_tflm(session.url, data)
        instr = float((res.latency_instructions or {}).get("mean", 0.0))
        row["instructions"] = instr
        row["instr_per_mac"] = instr / nm.macs
    return row


def fit_flash_model(rows: list[dict[str, Any]]) -> None:
    """Least squares of the model's flash (the linker map's ``model/`` part minus int8 weights and
    int32 biases) on quantized channels, ops and a constant, over every build of this tree: the
    native ``FlashModel`` (per_channel, per_op, fixed); and the runner + board support + C library
    bytes per core (the generator's ``RUNTIME_BASE_BYTES``)."""
    import numpy as np

    sel = [r for r in rows if r["rev"].startswith("after") and "ir_ops" in r]
    if len(sel) < 3:
        return
    a = np.array([[r["ir_channels"], r["ir_ops"], 1.0] for r in sel])
    y = np.array([r["model_part"] - r["ir_weight_bias"] for r in sel], float)
    coef = np.linalg.lstsq(a, y, rcond=None)[0]
    res = y - a @ coef
    print(f"flash model fit over {len(sel)} builds: per_channel {coef[0]:.2f}, per_op {coef[1]:.1f}, "
          f"fixed {coef[2]:.0f}; residual {res.min():+.0f} .. {res.max():+.0f} B")
    for variant in sorted({r["variant"] for r in sel}):
        base = [r["runner"] + r["libc"] for r in sel if r["variant"] == variant]
        print(f"{variant}: runner + board support + C library {min(base):,} .. {max(base):,} B")


def output_matches_tflm(url: str, model: bytes) -> bool:
    """One random input through the firmware (``db``, ``infer 1 0``, ``ofa-out``) and through host
    TFLM (``tflite_micro``): the same int8 output?"""
    import numpy as np
    from tflite_micro import runtime

    from ofa_mcu.profiler.device import Device
    from ofa_mcu.tflite import parse_tflite

    graph = parse_tflite(model)
    t = graph.tensors[graph.inputs[0]]
    x = np.random.default_rng(7).integers(-128, 128, t.shape).astype(np.int8)
    interp = runtime.Interpreter.from_bytes(model, arena_size=8 * len(model) + (4 << 20))
    interp.set_input(x, 0)
    interp.invoke()
    want = [int(v) for v in np.asarray(interp.get_output(0)).ravel()]
    with Device(url) as dev:
        dev.sync()
        dev.info()
        dev.load(x.tobytes())
        dev.infer(1, 0, timeout_s=300)
        return dev.outputs() == want


def _has_choice() -> bool:
    import inspect

    from ofa_mcu.native.codegen import generate_native

    return "kernels" in inspect.signature(generate_native).parameters


def export_tree(rev: str, work: Path) -> Path:
    """``git archive`` of ``rev`` (this repository) under ``work``."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], check=True, capture_output=True,
                         text=True).stdout.strip()
    dest = work / f"tree-{sha}"
    if not (dest / "ofa_mcu").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", sha], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def models(args: argparse.Namespace, work: Path) -> dict[str, Path]:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from mlperf_tiny import MODELS as MLPERF  # the four reference models' paths in mlcommons/tiny

    out: dict[str, Path] = {}
    if args.mlperf_repo:
        for name, path in MLPERF.items():
            dest = work / f"{name}.tflite"
            dest.write_bytes(subprocess.run(["git", f"--git-dir={args.mlperf_repo}", "show", f"HEAD:{path}"],
                                            check=True, capture_output=True).stdout)
            out[name] = dest
    if args.random_subnets:
        from native_arena import export_random

        for i in range(args.random_subnets):
            _, cfg, data = export_random("mcu-32", 100 + i, (24, 28, 32))
            name = f"mcu32-{cfg.stable_hash()[:8]}"
            (work / f"{name}.tflite").write_bytes(data)
            out[name] = work / f"{name}.tflite"
    for t in args.tflite:
        out[Path(t).stem] = Path(t).resolve()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mlperf-repo", help="a git directory of mlcommons/tiny (its four reference models)")
    ap.add_argument("--random-subnets", type=int, default=0, help="random mcu-32 subnets (seeds 100, 101, ...)")
    ap.add_argument("--tflite", nargs="*", default=[], help="more int8 .tflite models")
    ap.add_argument("--revs", default=DEFAULT_REVS,
                    help=f"comma-separated git revisions to compare with this tree (default {DEFAULT_REVS}: "
                         "before issue #13's kernels, and main before per-layer kernel variants)")
    ap.add_argument("--after", default=None,
                    help="a git revision for the 'after' column instead of this tree (exported like --revs)")
    ap.add_argument("--variants", default="m4-dsp,m0", help=f"cores: {', '.join(VARIANTS)}")
    ap.add_argument("--kernels", default="fast",
                    help="comma-separated kernel choices of this tree (fast, compact), each its own column "
                         "('after' and 'after/compact'); the other revisions build their only choice")
    ap.add_argument("--no-run", action="store_true", help="build only (no QEMU, no instructions per MAC)")
    ap.add_argument("--work", type=Path, default=None, help="trees, models and projects go here")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--worker", nargs=4, metavar=("TREE", "MODEL", "VARIANT", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        tree, model, variant, out = args.worker
        print(json.dumps(worker(Path(tree), Path(model), variant, Path(out), not args.no_run, args.kernels)))
        return 0

    work = args.work or Path(tempfile.mkdtemp(prefix="ofa-native-flash-"))
    work.mkdir(parents=True, exist_ok=True)
    variants = args.variants.split(",")
    trees = {rev: export_tree(rev, work) for rev in args.revs.split(",") if rev}
    trees["after"] = export_tree(args.after, work) if args.after else ROOT
    runs = [(rev, tree, "fast") for rev, tree in trees.items()]
    runs += [(f"after/{k}", trees["after"], k) for k in args.kernels.split(",") if k != "fast"]
    if "fast" not in args.kernels.split(","):
        runs = [r for r in runs if r[0] != "after"]
    found = models(args, work)
    if not found:
        ap.error("no model: give --mlperf-repo, --random-subnets or --tflite")
    rows: list[dict[str, Any]] = []
    t0 = time.time()
    for name, path in found.items():
        for variant in variants:
            for rev, tree, kernels in runs:
                out = work / f"fw-{name}-{variant}-{rev.replace('/', '-')}"
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(tree), str(path), variant,
                       str(out), "--kernels", kernels] + (["--no-run"] if args.no_run else [])
                res = subprocess.run(cmd, capture_output=True, text=True, cwd=tree)
                if res.returncode != 0:
                    print(f"{name} {variant} {rev}: failed\n{res.stderr[-2000:]}", file=sys.stderr)
                    continue
                row = {**json.loads(res.stdout.strip().splitlines()[-1]), "model": name, "variant": variant, "rev": rev}
                rows.append(row)
                pred = (f" (predicted {row['kernels_predicted']:,d})" if "kernels_predicted" in row else "")
                print(f"{name:16s} {variant:7s} {rev:13s} flash {row['flash']:8,d} code {row['code']:7,d} "
                      f"kernels {row['kernels']:6,d}{pred} runner {row['runner']:6,d} libc {row['libc']:5,d} "
                      f"model {row['model_part']:7,d} arena {row['arena']:8,d}"
                      + (f" instr/MAC {row['instr_per_mac']:.3f}" if "instr_per_mac" in row else "")
                      + ("" if "bit_exact" not in row else " bit-exact with TFLM" if row["bit_exact"]
                         else " OUTPUT DIFFERS FROM TFLM"), flush=True)
    revs = [rev for rev, _, _ in runs]
    print(f"\n{len(rows)} builds in {time.time() - t0:.0f} s. Flash = ELF text + data (B); code = flash - model "
          "constants; instructions per MAC in QEMU -icount.\n")
    for variant in variants:
        codes = [r["runtime_code"] for r in rows if r["variant"] == variant and r["rev"] == "after" and "runtime_code" in r]
        if codes:
            print(f"{variant}: runtime code (flash - analyze's model flash) of this tree: {min(codes):,} to "
                  f"{max(codes):,} B\n")
        print(f"### {variant}\n")
        print("| model | " + " | ".join(f"flash {r}" for r in revs) + " | " + " | ".join(f"code {r}" for r in revs)
              + " | " + " | ".join(f"kernels {r}" for r in revs) + " | runner " + " / ".join(revs)
              + " | libc " + " / ".join(revs) + " | model " + " / ".join(revs)
              + " | arena " + " / ".join(revs) + " | " + " | ".join(f"instr/MAC {r}" for r in revs) + " |")
        print("|---" * (4 * len(revs) + 5) + "|")
        for name in found:
            by = {r["rev"]: r for r in rows if r["model"] == name and r["variant"] == variant}
            if not by:
                continue

            def cell(rev: str, key: str, fmt: str, by: dict[str, dict[str, Any]] = by) -> str:
                return format(by[rev][key], fmt) if rev in by and key in by[rev] else "-"

            arenas = " / ".join(cell(r, "arena", ",d") for r in revs)
            runners = " / ".join(cell(r, "runner", ",d") for r in revs)
            libcs = " / ".join(cell(r, "libc", ",d") for r in revs)
            parts = " / ".join(cell(r, "model_part", ",d") for r in revs)
            print(f"| {name} | " + " | ".join(cell(r, "flash", ",d") for r in revs) + " | "
                  + " | ".join(cell(r, "code", ",d") for r in revs) + " | "
                  + " | ".join(cell(r, "kernels", ",d") for r in revs) + f" | {runners} | {libcs} | {parts} | {arenas} | "
                  + " | ".join(cell(r, "instr_per_mac", ".3f") for r in revs) + " |")
        print()
    fit_flash_model(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
