"""First conv, pointwise and fully connected kernels on emulated Cortex-M: bit-exactness against a
numpy model of TFLM's arithmetic, and instructions per call / per MAC, layer by layer.

Random layers (weights, bias, per-channel or per-tensor requantization with right, zero and left
shifts, offsets, activation range) of the given shapes are rendered into one bare-metal program
(``templates/benchmarks/convfc_qemu.c.j2``) that calls the kernel entry points the code generator
chooses (``ofa_mcu.native.variants``: ``ofa_conv_s8_patch`` / ``_rows``, ``ofa_pointwise_s8[_pairs]``,
``ofa_fully_connected_s8[_x4|_x2]``), or with ``--all-variants`` every entry point that can run the
layer, checks the CRC32 of each output against the numpy model (``int8_reference``: TFLM's
reference kernels, skipped out-of-image taps, double rounding) and times
each call with SysTick in QEMU ``-icount`` (virtual time counts instructions: the counts are
executed instructions, not cycles).

    .venv/bin/python benchmarks/convfc_qemu.py [--grid] [--variants m4-dsp,m7-dsp,m0] [--all-variants]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import int8_reference  # noqa: E402
from kernels_qemu import VARIANTS  # noqa: E402

from ofa_mcu.codegen import c_int, render  # noqa: E402
from ofa_mcu.native import requant, variants  # noqa: E402
from ofa_mcu.padding import compute_padding  # noqa: E402

TEMPLATE = "benchmarks/convfc_qemu.c.j2"
_CTYPES = {"weights": "int8_t", "bias": "int32_t", "out_mult": "int32_t", "out_shift": "int8_t"}
#: the first convs, pointwise convs and classifier heads of random mcu-32 subnets and the MLPerf Tiny
#: models: conv HxWxC:kHxW:sS:oC (SAME padding), pw HxWxC:oC, fc IN:OUT
DEFAULT_SHAPES = (
    "conv32x32x3:k3x3:s1:o16", "conv96x96x3:k3x3:s2:o8", "conv49x10x1:k10x4:s2:o64", "conv24x24x3:k3x3:s2:o16",
    "conv28x28x3:k3x3:s2:o16", "pw8x8x12:o48", "pw8x8x20:o120", "fc640:128", "fc128:8", "fc48:10", "fc64:12",
    "fc256:2", "fc64:10", "fc8:128",
)  # fmt: skip


class Layer:
    """A random layer: ``kind`` (conv, pw, fc), ``params`` (ofa_conv_params_t / ofa_fc_params_t
    fields), ``arrays``, input, golden output, whether it has a bias, MACs and calls (``cases``)."""

    def __init__(self, kind: str, params: dict[str, int], arrays: dict[str, np.ndarray], x: np.ndarray,
                 want: np.ndarray, bias: bool, macs: int) -> None:
        self.kind, self.params, self.arrays, self.x, self.want, self.bias = kind, params, arrays, x, want, bias
        self.macs = macs
        self.cases: list[dict[str, Any]] = []

    @property
    def params_type(self) -> str:
        return "ofa_fc_params_t" if self.kind == "fc" else "ofa_conv_params_t"

    def describe(self) -> str:
        p = self.params
        if self.kind == "fc":
            return f"fc {p['in_features']}->{p['out_features']} b{p['batches']}" + (" pc" if p["per_channel"] else "")
        return (f"{self.kind} {p['in_h']}x{p['in_w']}x{p['in_c']} k{p['k_h']}x{p['k_w']} s{p['stride_h']} "
                f"-> {p['out_h']}x{p['out_w']}x{p['out_c']}")


def _quant(rng: np.random.Generator, n: int, shifts: str) -> tuple[np.ndarray, np.ndarray]:
    real = rng.uniform(1e-4, 2e-2, n)
    if shifts == "mixed":  # multipliers of 0.5..2 and more: shift 0 and left shifts
        real[rng.random(n) < 0.4] = rng.uniform(0.6, 3.0)
    mult, shift = requant.quantize_multipliers(real)
    return np.asarray(mult, np.int32), np.asarray(shift).astype(np.int8)


def _act(rng: np.random.Generator) -> dict[str, int]:
    return dict(in_offset=int(rng.integers(-127, 129)), out_offset=int(rng.integers(-128, 128)),
                act_min=int(rng.integers(-128, -100)), act_max=int(rng.integers(0, 128)))


def make_conv(rng: np.random.Generator, h: int, w: int, c: int, kh: int, kw: int, stride: int, out_c: int,
              padding: str = "SAME", shifts: str = "right", bias: bool = True) -> Layer:
    """A random CONV_2D layer (kh == kw == 1 with stride 1 and no padding: a pointwise one)."""
    oh, pt, _ = compute_padding(h, kh, stride, padding)
    ow, pl, _ = compute_padding(w, kw, stride, padding)
    p = dict(in_h=h, in_w=w, in_c=c, out_h=oh, out_w=ow, out_c=out_c, k_h=kh, k_w=kw, stride_h=stride,
             stride_w=stride, pad_top=pt, pad_left=pl, **_act(rng))
    mult, shift = _quant(rng, out_c, shifts)
    a = {"weights": rng.integers(-128, 128, out_c * kh * kw * c).astype(np.int8),
         "bias": rng.integers(-5000, 5000, out_c).astype(np.int32), "out_mult": mult, "out_shift": shift}
    x = rng.integers(-128, 128, h * w * c).astype(np.int8)
    kind = "pw" if kh == kw == stride == 1 else "conv"
    return Layer(kind, p, a, x, int8_reference.conv(p, a, x, bias=bias), bias, oh * ow * out_c * kh * kw * c)


def make_fc(rng: np.random.Generator, n_in: int, n_out: int, batches: int = 1, per_channel: bool = False,
            shifts: str = "right", bias: bool = True) -> Layer:
    """A random FULLY_CONNECTED layer (per-tensor multiplier unless ``per_channel``)."""
    p = dict(batches=batches, in_features=n_in, out_features=n_out, **_act(rng), per_channel=int(per_channel))
    mult, shift = _quant(rng, n_out if per_channel else 1, shifts)
    a = {"weights": rng.integers(-128, 128, n_out * n_in).astype(np.int8),
         "bias": rng.integers(-20000, 20000, n_out).astype(np.int32), "out_mult": mult, "out_shift": shift}
    x = rng.integers(-128, 128, batches * n_in).astype(np.int8)
    return Layer("fc", p, a, x, int8_reference.fully_connected(p, a, x, bias), bias, batches * n_in * n_out)


def parse_shape(rng: np.random.Generator, s: str) -> Layer:
    m = re.fullmatch(r"conv(\d+)x(\d+)x(\d+):k(\d+)x(\d+):s(\d+):o(\d+)", s)
    if m:
        h, w, c, kh, kw, st, oc = (int(v) for v in m.groups())
        return make_conv(rng, h, w, c, kh, kw, st, oc)
    m = re.fullmatch(r"pw(\d+)x(\d+)x(\d+):o(\d+)", s)
    if m:
        h, w, c, oc = (int(v) for v in m.groups())
        return make_conv(rng, h, w, c, 1, 1, 1, oc, padding="VALID")
    m = re.fullmatch(r"fc(\d+):(\d+)", s)
    if m:
        return make_fc(rng, int(m.group(1)), int(m.group(2)))
    raise SystemExit(f"bad shape {s!r}: want convHxWxC:kHxW:sS:oC, pwHxWxC:oC or fcIN:OUT")


def runnable(layer: Layer, dsp: bool) -> list[str]:
    """The entry points that can run ``layer`` (ofa_kernels.h)."""
    p = layer.params
    if layer.kind == "fc":
        out = ["ofa_fully_connected_s8", "ofa_fully_connected_s8_x2"]
        return out + (["ofa_fully_connected_s8_x4"] if p["out_features"] % 4 == 0 else [])
    if layer.kind == "pw":
        pairs = variants.pointwise_variant(p, layer.arrays["out_shift"], dsp) == "pairs"
        return ["ofa_pointwise_s8"] + (["ofa_pointwise_s8_pairs"] if pairs else [])
    limit = variants.CONV_PATCH_BYTES_DSP if dsp else variants.CONV_PATCH_BYTES
    n = p["k_h"] * p["k_w"] * p["in_c"]
    return ["ofa_conv_s8_rows"] + (["ofa_conv_s8_patch"] if n <= limit else [])


def chosen(layer: Layer, dsp: bool) -> str:
    """The entry point the code generator calls for ``layer``."""
    fn = {"fc": "ofa_fully_connected_s8", "pw": "ofa_pointwise_s8", "conv": "ofa_conv_s8"}[layer.kind]
    return variants.entry_point(fn, layer.params, dsp, layer.arrays)


def add_cases(layer: Layer, dsp: bool, every_variant: bool) -> None:
    pick = chosen(layer, dsp)
    for fn in runnable(layer, dsp) if every_variant else [pick]:
        layer.cases.append({"function": fn, "chosen": fn == pick})


def context(layers: list[Layer], reps: int) -> dict[str, Any]:
    ctx_layers, cases = [], []
    for i, L in enumerate(layers):
        fields = [f".{k} = {c_int(v)}" for k, v in L.params.items()]
        arrays = []
        for name, ctype in _CTYPES.items():
            if name == "bias" and not L.bias:
                fields.append(".bias = 0")
                continue
            arrays.append({"ctype": ctype, "name": f"l{i}_{name}", "data": [int(v) for v in L.arrays[name].ravel()]})
            fields.append(f".{name} = l{i}_{name}")
        ctx_layers.append({"index": i, "fields": fields, "arrays": arrays, "input": [int(v) for v in L.x],
                           "in_bytes": L.x.size, "params_type": L.params_type})
        for c in L.cases:
            cases.append({"layer": i, "function": c["function"], "out_bytes": L.want.size,
                          "crc": zlib.crc32(L.want.tobytes())})
    return {"layers": ctx_layers, "cases": cases, "reps": reps, "buf_bytes": max(L.want.size for L in layers)}


def run(layers: list[Layer], variant: str, work: Path, reps: int = 2, kernels: Path | None = None) -> dict[str, Any]:
    """Build the program for ``variant`` (a kernels_qemu core), run it in QEMU; each case gets
    ``instructions`` (per call) and ``ok``. Returns {all_ok, exit_code, log, elf}."""
    from mps2_harness import KERNELS, run_cases

    machine, flags = VARIANTS[variant]
    work.mkdir(parents=True, exist_ok=True)
    main_c = work / f"convfc_{variant}.c"
    main_c.write_text(render(TEMPLATE, context(layers, reps), "the conv / fc benchmark firmware"))
    return run_cases(layers, machine, flags, main_c, work / f"convfc-{variant}.elf", reps, kernels or KERNELS)

def grid(rng: np.random.Generator, dsp: bool, every_variant: bool = True) -> list[Layer]:
    """The test grid. First convs (1-3 input channels): window sizes 2-40 bytes (every remainder
    mod 4, the 4-tap tail read past the last weight row), odd and even output widths and channel
    counts, strides 1/2, padding, a window past the DSP patch limit, shift-0/left-shift channels, no
    bias. Pointwise: in_c with 4 left over after groups of 8 (the assembly's single 4-channel step)
    and without, odd pixel counts. Fully connected: 1-12 and 128 rows, inputs with every remainder mod
    8, per-tensor and per-channel, two batches."""
    layers = [
        make_conv(rng, 12, 12, 3, 3, 3, 1, 16), make_conv(rng, 13, 11, 3, 3, 3, 2, 8),
        make_conv(rng, 10, 9, 1, 3, 3, 1, 6), make_conv(rng, 21, 6, 1, 10, 4, 2, 12),
        make_conv(rng, 9, 9, 2, 3, 3, 1, 5), make_conv(rng, 7, 8, 3, 1, 1, 2, 4, padding="VALID"),
        make_conv(rng, 6, 7, 2, 1, 1, 1, 3, padding="VALID"), make_conv(rng, 8, 8, 3, 5, 5, 2, 4),
        make_conv(rng, 8, 8, 3, 3, 3, 1, 6, shifts="mixed", bias=False), make_conv(rng, 5, 5, 3, 5, 5, 1, 3),
        make_conv(rng, 11, 11, 3, 3, 3, 2, 8, padding="VALID"), make_conv(rng, 6, 6, 7, 3, 3, 1, 4),
    ]
    for h, w, c, oc in ((4, 4, 4, 8), (3, 5, 12, 6), (5, 5, 20, 2), (4, 4, 36, 10), (3, 3, 8, 4), (4, 4, 16, 6),
                        (2, 3, 28, 4), (3, 3, 6, 4), (3, 3, 12, 5)):
        layers.append(make_conv(rng, h, w, c, 1, 1, 1, oc, padding="VALID"))
    layers.append(make_conv(rng, 3, 3, 12, 1, 1, 1, 8, padding="VALID", shifts="mixed"))
    for n_in, n_out, b, pc in ((64, 12, 1, 0), (48, 10, 1, 0), (128, 8, 1, 0), (256, 2, 1, 0), (33, 1, 1, 0),
                               (7, 3, 2, 1), (20, 5, 1, 1), (12, 9, 2, 0), (8, 128, 1, 0), (37, 6, 1, 1),
                               (4, 4, 1, 0), (130, 7, 1, 0), (3, 11, 1, 0)):
        layers.append(make_fc(rng, n_in, n_out, b, bool(pc)))
    layers.append(make_fc(rng, 40, 10, 1, True, shifts="mixed"))
    layers.append(make_fc(rng, 24, 6, 1, False, bias=False))
    for L in layers:
        add_cases(L, dsp, every_variant)
    return layers


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default=",".join(DEFAULT_SHAPES),
                    help="comma-separated convHxWxC:kHxW:sS:oC (SAME), pwHxWxC:oC, fcIN:OUT")
    ap.add_argument("--variants", default="m4-dsp", help="comma-separated subset of " + ",".join(VARIANTS))
    ap.add_argument("--all-variants", action="store_true", help="every entry point that can run a layer")
    ap.add_argument("--grid", action="store_true", help="the test grid instead of --shapes")
    ap.add_argument("--reps", type=int, default=2, help="timed calls per case (SysTick counts 40 instructions)")
    ap.add_argument("--kernels", type=Path, default=None, help="another kernels folder (to compare)")
    ap.add_argument("--keep", type=Path, help="keep the generated program and ELF here")
    args = ap.parse_args()
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            print(f"{tool} not found", file=sys.stderr)
            return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="ofa-convfc-"))
    ok = True
    try:
        for variant in args.variants.split(","):
            dsp = "dsp" in variant
            rng = np.random.default_rng(1)
            if args.grid:
                layers = grid(rng, dsp, args.all_variants)
            else:
                layers = [parse_shape(rng, s) for s in args.shapes.split(",")]
                for L in layers:
                    add_cases(L, dsp, args.all_variants)
            res = run(layers, variant, work, args.reps, args.kernels)
            ok &= res["all_ok"]
            print(f"{variant}: {'bit-exact' if res['all_ok'] else 'MISMATCH'} (exit {res['exit_code']})")
            print(f"  {'layer':36} {'entry point':30} {'instr':>9} {'/output':>8} {'/MAC':>6}")
            for L in layers:
                for c in L.cases:
                    name = c["function"].removeprefix("ofa_") + ("" if c["chosen"] else " (alt)")
                    print(f"  {L.describe():36} {name:30} {c['instructions']:9.0f} "
                          f"{c['instructions'] / L.want.size:8.1f} {c['instructions'] / L.macs:6.2f}"
                          + ("" if c["ok"] else "  BAD"))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
