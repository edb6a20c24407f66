"""The four MLPerf Tiny reference models through ofa-mcu: arena, flash, speed and board fit per runtime.

The models are read out of a checkout of mlcommons/tiny (``--repo``: a local git directory, bare
or not, or a URL to clone; ``git show HEAD:PATH`` into ``--work``; never into this repository):
``benchmark/training/*/trained_models/`` ``pretrainedResnet_quant.tflite`` (ic01),
``kws_ref_model.tflite`` (kws01), ``vww_96_int8.tflite`` (vww01), ``ad01_int8.tflite`` (ad01).
Per model it reports:

- arena: the native planner's arena (``ofa_mcu.planner.plan_native``, exactly what the generated
  firmware reserves) against the real TFLM allocator (``ofa_mcu.tflm.arena.measure_arena``: the
  smallest ``arena_size`` that allocates and runs, host 64-bit ``tflite-micro``; a 32-bit MCU
  needs 2-5% less, DESIGN.md), and the ratio (goal: native <= 0.6 x TFLM);
- flash: the native firmware image for qemu-mps2-an386 (``text + data`` of the ELF that
  arm-none-eabi-gcc links: model constants, kernels, board support and serial runner) and the
  model's constants alone; for TFLM the ``.tflite`` bytes plus the board YAML's figure for the
  TFLM runtime's code (the prediction ``analyze`` makes) and, with a TFLM tree, the ELF;
- speed: emulated instructions per MAC of the native firmware in QEMU mps2-an386 (Cortex-M4,
  ``-icount shift=0``; instructions, not cycles), with its outputs checked bit for bit against
  host TFLM on the same inputs;
- with a TFLM tree (``--tflm-dir``; ``--tflm-kernels cmsis_nn,reference``, a tree per kernel set
  with ``--tflm-dir-reference``): the tflm runtime's firmware of the same model (full model, SOFTMAX
  included) built against it for qemu-mps2-an386 and profiled in QEMU the same way
  (``benchmarks/tflm_qemu.py``: outputs against host TFLM, instructions per MAC, ELF size, the
  arena TFLM reports using on the device against the prediction for the kernels built); compiled
  TFLM libraries come from the shared cache (``--cache``, as ``ofa-mcu build``);
- fit: which shipped boards the model fits per runtime (``ofa-mcu analyze --tflite`` on every
  board: usable SRAM and flash).

A model with an op the native runtime lacks (SOFTMAX, until the native SOFTMAX kernel lands) is
measured natively without its trailing SOFTMAX ("cut before SOFTMAX", said in the output): the
arena and speed of everything before it.

    .venv/bin/python benchmarks/mlperf_tiny.py --repo PATH_OR_URL [--work /tmp/ofa-mlperf-tiny] \\
        [--inputs 2] [--tflm-dir TREE [--tflm-kernels cmsis_nn,reference] [--tflm-dir-reference TREE2]
        [--cache DIR]] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

MODELS = {
    "ic01": "benchmark/training/image_classification/trained_models/pretrainedResnet_quant.tflite",
    "kws01": "benchmark/training/keyword_spotting/trained_models/kws_ref_model.tflite",
    "vww01": "benchmark/training/visual_wake_words/trained_models/vww_96_int8.tflite",
    "ad01": "benchmark/training/anomaly_detection/trained_models/ad01_int8.tflite",
}
EMULATED = "qemu-mps2-an386"


def fetch_models(repo: str, work: Path) -> dict[str, Path]:
    """The four reference models, read out of ``repo`` with ``git show`` into ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    git_dir = Path(repo)
    if not git_dir.exists():  # a URL: a shallow clone under work
        git_dir = work / "tiny"
        if not git_dir.exists():
            subprocess.run(["git", "clone", "--depth", "1", "--bare", repo, str(git_dir)], check=True)
    out = {}
    for name, path in MODELS.items():
        data = subprocess.run(["git", "--git-dir", str(git_dir / ".git") if (git_dir / ".git").exists() else
                               str(git_dir), "show", f"HEAD:{path}"], check=True, capture_output=True).stdout
        dest = work / Path(path).name
        dest.write_bytes(data)
        out[name] = dest
    return out


def cut_trailing(data: bytes, opcode: str) -> bytes:
    """The model without its last op when that op is ``opcode`` (its input becomes the output)."""
    import flatbuffers

    from ofa_mcu.tflite import parse_tflite, tflite_schema

    g = parse_tflite(data)
    if not g.ops or g.ops[-1].opcode != opcode:
        return data
    schema = tflite_schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    sg = model.subgraphs[0]
    sg.outputs = [int(sg.operators[-1].inputs[0])]
    sg.operators = sg.operators[:-1]
    model.signatureDefs = []
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def native_model(path: Path, work: Path) -> tuple[Path, str | None]:
    """The model the native runtime runs: the file itself, or (unsupported SOFTMAX) a copy cut before it."""
    from ofa_mcu.errors import UserError
    from ofa_mcu.usermodel import load_user_model

    try:
        load_user_model(str(path), "native")
        return path, None
    except UserError as e:
        if "SOFTMAX" not in str(e):
            raise
        cut = work / f"{path.stem}-cut.tflite"
        cut.write_bytes(cut_trailing(path.read_bytes(), "SOFTMAX"))
        load_user_model(str(cut), "native")
        return cut, "cut before SOFTMAX (the native runtime has no SOFTMAX kernel yet)"


def inputs_for(model: bytes, n: int, seed: int) -> np.ndarray:
    from ofa_mcu.tflite import parse_tflite

    g = parse_tflite(model)
    shape = g.tensors[g.inputs[0]].shape
    return np.random.default_rng(seed).integers(-128, 128, (n, *shape[1:])).astype(np.int8)


def run_native(name: str, path: Path, work: Path, n_inputs: int) -> dict[str, Any]:
    """Compile, build and profile the native firmware on qemu-mps2-an386; check against host TFLM."""
    from ofa_mcu.boards import load_board
    from ofa_mcu.emulation import profile_emulated
    from ofa_mcu.firmware.build import build_project
    from ofa_mcu.firmware.compile import compile_tflite

    board = load_board(EMULATED)
    out = work / f"fw-{name}-native"
    res = compile_tflite(str(path), board, out, "native")
    built = build_project(out)
    model = path.read_bytes()
    xs = inputs_for(model, n_inputs, 1)
    prof = profile_emulated(board, out, built.elf, xs, np.zeros(len(xs), dtype=np.int64), runs=1)
    macs = res.native.macs
    instr = float(prof["latency_instructions"]["mean"])
    return {"arena": res.native.arena_bytes, "const_bytes": res.native.const_bytes, "macs": macs,
            "elf_text": built.size.text, "elf_data": built.size.data, "elf_bss": built.size.bss,
            "flash": built.size.text + built.size.data, "instructions": instr, "instructions_per_mac": instr / macs,
            "match_tflm": prof["check"]["match"], "inputs": len(xs), "arena_used": prof["memory"]["arena_used"]}


def run_tflm(name: str, path: Path, work: Path, tflm_dir: Path, kernels: str, n_inputs: int,
             cache: Path | None) -> dict[str, Any]:
    """The tflm runtime's firmware of the model (QUANTIZE/DEQUANTIZE at the edges left off, as
    ``compile --tflite`` does) built against ``tflm_dir`` with ``kernels`` and profiled in QEMU."""
    import tflm_qemu

    from ofa_mcu.usermodel import load_user_model

    data = load_user_model(str(path), "tflm").model
    builder = tflm_qemu.Builder(work / f"tflm-{name}", data, {"model_name": name}, cache)
    r = tflm_qemu.run_emulated(builder, tflm_dir, kernels, n_inputs, runs=1)
    a = r["arena"]
    r["arena"]["predicted_for_kernels"] = a["predicted"] + (a["cmsis_nn_scratch"] if kernels == "cmsis_nn" else 0)
    r["flash"] = r["size"]["text"] + r["size"]["data"]
    return r


def fits(path: Path, runtime: str) -> list[str]:
    """Shipped boards the model fits with ``runtime`` (usable SRAM and flash)."""
    from ofa_mcu.analysis import analyze_graph
    from ofa_mcu.boards import board_names, load_board
    from ofa_mcu.usermodel import load_user_model

    ir = load_user_model(str(path), runtime).ir
    ok = []
    for b in board_names():
        board = load_board(b)
        if runtime in board.runtime and analyze_graph(ir, board, runtime).fits:
            ok.append(b)
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", required=True, help="mlcommons/tiny: a local git directory or a URL to clone")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ofa-mlperf-tiny"), help="models and projects go here")
    ap.add_argument("--inputs", type=int, default=2, help="random int8 inputs per model in QEMU")
    ap.add_argument("--tflm-dir", type=Path, default=None, help="a TFLM tree: also build and run the tflm runtime")
    ap.add_argument("--tflm-dir-reference", type=Path, default=None,
                    help="the TFLM tree for --tflm-kernels reference (default: --tflm-dir)")
    ap.add_argument("--tflm-kernels", default="cmsis_nn", help="comma-separated: cmsis_nn, reference")
    ap.add_argument("--cache", type=Path, default=None,
                    help="cached TFLM libraries (default: the folder ofa-mcu build uses)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from ofa_mcu.boards import load_board
    from ofa_mcu.firmware.trees import cache_root
    from ofa_mcu.tflm.arena import measure_arena

    t0 = time.time()
    cache = args.cache.absolute() if args.cache else cache_root() / "tflm"
    kernel_sets = [k for k in args.tflm_kernels.split(",") if k] if args.tflm_dir else []
    models = fetch_models(args.repo, args.work)
    tflm_code = load_board(EMULATED).runtime["tflm"].code_bytes
    rows: dict[str, Any] = {}
    for name, path in models.items():
        data = path.read_bytes()
        tflm_arena = measure_arena(data).min_arena_bytes
        npath, note = native_model(path, args.work)
        nat = run_native(name, npath, args.work, args.inputs)
        row = {
            "model": path.name, "model_bytes": len(data), "native_note": note,
            "tflm_arena": tflm_arena, "native_arena": nat["arena"], "ratio": nat["arena"] / tflm_arena,
            "native": nat, "tflm_flash_predicted": len(data) + tflm_code,
            "fits": {"tflm": fits(path, "tflm"), "native": fits(npath, "native")},
            "tflm": {},
        }
        for kernels in kernel_sets:
            tree = args.tflm_dir_reference if kernels == "reference" and args.tflm_dir_reference else args.tflm_dir
            row["tflm"][kernels] = run_tflm(name, path, args.work, tree.resolve(), kernels, args.inputs, cache)
        rows[name] = row
        cut = f" ({note})" if note else ""
        print(f"\n### {name}: {path.name} ({len(data):,} B, {nat['macs']:,} MACs natively{cut})\n")
        print("| figure | native | TFLM |")
        print("|---|---|---|")
        print(f"| arena (B) | {nat['arena']:,} | {tflm_arena:,} (real allocator, host) |")
        print(f"| arena ratio native / TFLM | {row['ratio']:.3f} | goal <= 0.6 |")
        print(f"| flash: model (B) | {nat['const_bytes']:,} (constants) | {len(data):,} (.tflite) |")
        print(f"| flash: model + runtime code (B) | {nat['flash']:,} (ELF text+data, {EMULATED}) | "
              f"{row['tflm_flash_predicted']:,} (.tflite + {tflm_code:,} board YAML code figure, predicted) |")
        print(f"| instructions / MAC ({EMULATED}, QEMU) | {nat['instructions_per_mac']:.2f} "
              f"({nat['instructions']:,.0f} instr.; outputs == host TFLM: {nat['match_tflm']}) | "
              f"{'below, per kernel set' if row['tflm'] else 'needs a TFLM tree (--tflm-dir)'} |")
        print(f"| boards it fits | {', '.join(row['fits']['native']) or 'none'} | "
              f"{', '.join(row['fits']['tflm']) or 'none'} |")
        for kernels, t in row["tflm"].items():
            a = t["arena"]
            same = "yes" if t["outputs_equal_host_tflm"] else f"no (up to {t['max_output_diff']})"
            print(f"| TFLM {kernels} on {EMULATED} (QEMU) | | {t['instructions_per_mac']} instructions / MAC "
                  f"({t['instructions_per_inference']:,}); outputs == host TFLM: {same}; flash {t['flash']:,} B "
                  f"(ELF text+data); arena used on the device {a['used']:,} B, predicted {a['predicted_for_kernels']:,} B, "
                  f"reserved {a['reserved']:,} B |")
    print(f"\n({time.time() - t0:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
