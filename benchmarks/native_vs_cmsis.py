"""Native kernels before/after against TFLM + CMSIS-NN, side by side, per op kind, in one run.

For each model (``--tflite``, the four MLPerf Tiny reference models out of ``--mlperf-repo``,
``--random-subnets N`` random mcu-32 subnets exported as ``native_qemu.py`` does, and with
``--builtin`` or no other model the MobileNetV2-like model of ``kernels_qemu.py``) this script:

- builds the bare-metal kernel firmware of ``benchmarks/kernels_qemu.py`` (every op lowered with
  ``ofa_mcu.native.lowering``, weights in flash, each op's output checked against TFLM's CRC)
  twice: with this tree's ``firmware/kernels`` ("after") and with the kernels of git revision
  ``--before`` ("before"; default b1b9f36, the last commit before issue #13's kernel work), for
  each ``--variants`` core (default: Cortex-M4 with DSP and Cortex-M0 code), and runs them in QEMU
  with ``-icount`` (instructions, not cycles);
- with ``--tflm-dir`` and ``--tflm-library`` (a ``libofa_tflm.a`` compiled with CMSIS-NN for the
  emulated Cortex-M4 by an earlier ``ofa-mcu build``, with its ``libofa_tflm.config`` beside it:
  a library built with other settings is refused at configure time, TFLM is never compiled
  here), builds the TFLM-runtime firmware of ``benchmarks/tflm_qemu.py`` for qemu-mps2-an386,
  profiles it over serial in QEMU and checks its outputs against host TFLM. Without them the
  CMSIS-NN column is skipped with a message.

Op kinds are taken from the graph, the same for both runtimes: ``first conv`` (CONV_2D with
fewer than 8 input channels), ``conv`` (other CONV_2D but 1x1), ``pointwise`` (1x1 CONV_2D),
``depthwise``, ``fc``, ``add`` (per output element), ``pool`` (AVERAGE_POOL_2D / MEAN, per input
element), ``softmax`` (per element) and ``other``. Whole-model figures are instructions per MAC
over all ops. The TFLM figures include the interpreter's per-op cost.

    .venv/bin/python benchmarks/native_vs_cmsis.py [--mlperf-repo /path/to/mlcommons+tiny] \\
        [--tflite M.tflite ...] [--random-subnets 2] [--builtin] [--before REV] [--variants m4-dsp,m0] \\
        [--tflm-dir /tmp/tflm-arduino/src --tflm-library CACHE/tflm/KEY/libofa_tflm.a] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import kernels_qemu  # noqa: E402

from ofa_mcu import tflite  # noqa: E402
from ofa_mcu.native import lowering  # noqa: E402

#: The 'before' kernels by default: the last commit before issue #13's kernel work.
BEFORE = "b1b9f36"
KINDS = ("first conv", "conv", "pointwise", "depthwise", "fc", "add", "pool", "softmax", "other")
PER_ELEMENT = ("add", "pool", "softmax")


def op_kinds(graph: tflite.Graph) -> dict[int, tuple[str, int]]:
    """Graph op index -> (kind, work): MACs, or elements for the per-element kinds."""
    out: dict[int, tuple[str, int]] = {}
    calls = {c.op_index: c for c in lowering.lower_graph(graph)}
    for i, op in enumerate(graph.ops):
        x = graph.tensors[op.inputs[0]] if op.inputs and op.inputs[0] >= 0 else None
        y = graph.tensors[op.outputs[0]]
        macs = calls[i].macs if i in calls else 0
        if op.opcode == "CONV_2D":
            w = graph.tensors[op.inputs[1]]
            _, kh, kw, c_in = w.shape
            kind = "first conv" if c_in < 8 else "pointwise" if kh == kw == 1 else "conv"
            out[i] = (kind, macs)
        elif op.opcode == "DEPTHWISE_CONV_2D":
            out[i] = ("depthwise", macs)
        elif op.opcode == "FULLY_CONNECTED":
            out[i] = ("fc", macs)
        elif op.opcode == "ADD":
            out[i] = ("add", y.size)
        elif op.opcode in ("AVERAGE_POOL_2D", "MEAN"):
            out[i] = ("pool", x.size if x is not None else 0)
        elif op.opcode == "SOFTMAX":
            out[i] = ("softmax", y.size)
        else:
            out[i] = ("other", 0)
    return out


def table(kinds: dict[int, tuple[str, int]], instr: dict[int, float], macs: int) -> dict[str, float]:
    """Instructions per MAC (per element for PER_ELEMENT kinds) per kind, and ``model`` overall."""
    row: dict[str, float] = {}
    for kind in KINDS:
        ops = [i for i, (k, _) in kinds.items() if k == kind and i in instr]
        work = sum(kinds[i][1] for i in ops)
        if ops and work:
            row[kind] = sum(instr[i] for i in ops) / work
    row["model"] = sum(instr.values()) / macs
    return row


def kernel_sources(rev: str, dest: Path) -> Path:
    """``firmware/kernels`` of git revision ``rev``, extracted under ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "firmware/kernels"], check=True,
                         capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    return dest / "firmware" / "kernels"


def native_runs(model: bytes, work: Path, variants: list[str], kernel_dirs: dict[str, Path]) -> dict[str, Any]:
    graph = tflite.parse_tflite(model)
    calls = lowering.lower_graph(graph)
    x = np.random.default_rng(123).integers(-128, 128, graph.tensors[graph.inputs[0]].shape).astype(np.int8)
    golden = kernels_qemu.tflm_tensors(model, graph, x)
    work.mkdir(parents=True, exist_ok=True)
    main_c = work / "bench_model.c"
    main_c.write_text(kernels_qemu.generate(graph, calls, x, golden))
    out: dict[str, Any] = {}
    for version, kdir in kernel_dirs.items():
        for v in variants:
            run = kernels_qemu.build_and_run(v, work, main_c, kernels=kdir, tag=f"-{version}")
            out[f"{v} {version}"] = {"all_ok": run["all_ok"], "text_bytes": run["text_bytes"],
                                    "instr": {o["op"]: float(o["instructions"]) for o in run["ops"]}}
    return out


def cmsis_run(model: bytes, work: Path, tflm_dir: Path, library: Path) -> dict[str, Any]:
    import tflm_qemu

    class LibraryBuilder(tflm_qemu.Builder):
        def defines(self, tflm_dir: Path, kernels: str) -> dict[str, str]:
            return {"TFLM_DIR": str(tflm_dir), "OFA_TFLM_KERNELS": kernels, "OFA_TFLM_LIBRARY": str(library),
                    "OFA_TFLM_CACHE_DIR": ""}

    builder = LibraryBuilder(work, model, {"model_name": "bench"}, None)
    r = tflm_qemu.run_emulated(builder, tflm_dir, "cmsis_nn", n_inputs=2, runs=1)
    return {"all_ok": r["outputs_equal_host_tflm"], "max_output_diff": r["max_output_diff"],
            "text_bytes": r["size"]["text"], "instr": {x["index"]: float(x["instructions"]) for x in r["layers"]},
            "arena_used": r["arena"]["used"]}


def models(args: argparse.Namespace, work: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if args.mlperf_repo:
        from mlperf_tiny import fetch_models

        for name, path in fetch_models(args.mlperf_repo, work).items():
            out[name] = path.read_bytes()
    for p in args.tflite or []:
        out[Path(p).stem] = Path(p).read_bytes()
    if args.random_subnets:
        from native_arena import export_random  # the subnets native_qemu.py measures (same seeds)

        for i in range(args.random_subnets):
            _, cfg, model = export_random("mcu-32", 100 + i, (24, 28, 32))
            out[f"mcu32-{cfg.stable_hash()}-r{cfg.resolution}"] = model
    if args.builtin or not out:
        out["mbv2-48"] = kernels_qemu.default_model()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tflite", nargs="*", help="int8 models")
    ap.add_argument("--mlperf-repo", help="mlcommons/tiny checkout: its four reference models")
    ap.add_argument("--random-subnets", type=int, default=0,
                    help="also N random mcu-32 subnets (random weights, native_qemu.py's seeds)")
    ap.add_argument("--builtin", action="store_true",
                    help="also the built-in MobileNetV2-like model (the default when no model is given)")
    ap.add_argument("--before", default=BEFORE,
                    help=f"git revision of the 'before' kernels (default {BEFORE}: the last commit before issue "
                         "#13's kernel work; main would now compare the new kernels with themselves)")
    ap.add_argument("--kernels", type=Path, default=kernels_qemu.KERNELS,
                    help="the 'after' kernel folder (default: this tree's firmware/kernels)")
    ap.add_argument("--variants", default="m4-dsp,m0", help="comma-separated: " + ",".join(kernels_qemu.VARIANTS))
    ap.add_argument("--tflm-dir", help="TFLM tree the library was built from (CMSIS-NN column)")
    ap.add_argument("--tflm-library", help="prebuilt CMSIS-NN libofa_tflm.a for qemu-mps2-an386")
    ap.add_argument("--work", type=Path, default=None, help="build folder (default: a temporary one)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    t0 = time.time()
    work = args.work or Path(tempfile.mkdtemp(prefix="ofa-nvc-"))
    work.mkdir(parents=True, exist_ok=True)
    variants = [v for v in args.variants.split(",") if v]
    kernel_dirs = {"before": kernel_sources(args.before, work / "before"), "after": args.kernels.resolve()}
    if not (args.tflm_dir and args.tflm_library):
        print("CMSIS-NN column skipped: give --tflm-dir and --tflm-library (a compiled TFLM + CMSIS-NN library)")
    results: dict[str, Any] = {}
    for name, data in models(args, work).items():
        graph = tflite.parse_tflite(data, origin=name)
        kinds = op_kinds(graph)
        macs = sum(m for k, m in kinds.values() if k not in PER_ELEMENT)
        runs = native_runs(data, work / name, variants, kernel_dirs)
        if args.tflm_dir and args.tflm_library:
            runs["m4 CMSIS-NN"] = cmsis_run(data, work / f"{name}-tflm", Path(args.tflm_dir), Path(args.tflm_library))
        rows = {label: table(kinds, r["instr"], macs) for label, r in runs.items()}
        results[name] = {"macs": macs, "runs": runs, "per_kind": rows}
        print(f"\n### {name} ({macs:,} MACs; instructions per MAC, per element for {', '.join(PER_ELEMENT)})\n")
        cols = [k for k in (*KINDS, "model") if any(k in r for r in rows.values())]
        print("| build | " + " | ".join(cols) + " | bit-exact | .text (B) |")
        print("|---|" + "---|" * (len(cols) + 2))
        for label, row in rows.items():
            r = runs[label]
            cells = [f"{row[k]:.2f}" if k in row else "-" for k in cols]
            print(f"| {label} | " + " | ".join(cells) + f" | {'yes' if r['all_ok'] else 'NO'} | {r['text_bytes']:,} |")
        if "m4 CMSIS-NN" in rows and "m4-dsp after" in rows:
            ratio = rows["m4-dsp after"]["model"] / rows["m4 CMSIS-NN"]["model"]
            print(f"\nnative (after) / CMSIS-NN, whole model: {ratio:.2f}")
    print(f"\n({time.time() - t0:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    ok = all(r["all_ok"] for m in results.values() for label, r in m["runs"].items() if "CMSIS" not in label)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
