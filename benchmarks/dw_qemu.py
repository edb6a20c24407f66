"""Depthwise conv variants on emulated Cortex-M: bit-exactness against a numpy model of TFLM's
arithmetic, and instructions per output and per MAC, layer shape by layer shape.

Random depthwise layers (weights, bias, per-channel requantization with right, zero and left
shifts, offsets, activation range) of the given shapes are rendered into one bare-metal program
(``templates/benchmarks/dw_qemu.c.j2``) that calls variant entry points of ``firmware/kernels``
(``ofa_depthwise_s8[_inplace]_<variant>``), out of place and in place, checks the CRC32 of each
output against the numpy model (``reference``: TFLM's reference kernel, skipped out-of-image taps,
double rounding) and times each call with SysTick in QEMU ``-icount`` (virtual time counts
instructions: the counts are executed instructions, not cycles). ``--variants`` picks the cores
(``kernels_qemu.VARIANTS``), ``--all-variants`` runs every kernel variant that can run a shape, not
only the one the code generator chooses (``ofa_mcu.native.variants``).

MACs are counted as the rest of the project counts them, k_h * k_w per output (padded taps too);
``real`` counts only taps inside the image.

    .venv/bin/python benchmarks/dw_qemu.py [--shapes 8x8x32k3s1,...] [--variants m4-dsp] [--all-variants]
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

TEMPLATE = "benchmarks/dw_qemu.c.j2"
CONV_FIELDS = (
    "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h", "stride_w",
    "pad_top", "pad_left", "in_offset", "out_offset", "act_min", "act_max",
)  # fmt: skip
#: the shapes of the depthwise layers of random mcu-32 subnets and the MLPerf Tiny models (in_h x in_w
#: x channels, kernel, stride; SAME padding)
DEFAULT_SHAPES = (
    "2x2x96k3s1", "2x2x96k5s1", "2x2x96k7s1", "3x3x96k3s1", "4x4x64k3s1", "4x4x64k5s1", "4x4x64k7s1",
    "6x6x48k3s1", "7x7x48k3s1", "7x7x48k5s1", "7x7x48k7s1", "8x8x48k3s1", "8x8x48k5s1", "8x8x48k7s1",
    "12x12x32k3s1", "16x16x32k3s1", "8x8x64k3s2", "8x8x64k7s2", "16x16x48k3s2", "16x16x48k5s2",
    "16x16x48k7s2", "14x14x48k3s2",
)  # fmt: skip


class Layer:
    """A random depthwise layer: ``params`` (ofa_conv_params_t fields), ``arrays``, input, golden
    output, whether it has a bias, the MACs of its in-image taps and its calls (``cases``)."""

    def __init__(self, params: dict[str, int], arrays: dict[str, np.ndarray], x: np.ndarray, want: np.ndarray,
                 bias: bool = True) -> None:
        self.params, self.arrays, self.x, self.want, self.bias = params, arrays, x, want, bias
        self.real_macs = 0
        self.cases: list[dict[str, Any]] = []

    @property
    def macs(self) -> int:
        p = self.params
        return p["out_h"] * p["out_w"] * p["in_c"] * p["k_h"] * p["k_w"]

    def describe(self) -> str:
        p = self.params
        return (f"{p['in_h']}x{p['in_w']}x{p['in_c']} k{p['k_h']}x{p['k_w']} s{p['stride_h']} "
                f"-> {p['out_h']}x{p['out_w']}")


def reference(p: dict[str, int], a: dict[str, np.ndarray], x: np.ndarray, bias: bool = True) -> np.ndarray:
    """DEPTHWISE_CONV_2D as TFLM's reference kernel computes it (int8_reference.conv)."""
    return int8_reference.conv(p, a, x, depthwise=True, bias=bias)


def _real_taps(n_out: int, n_in: int, k: int, stride: int, pad: int) -> int:
    """Kernel taps inside the image, summed over the outputs along one axis."""
    return sum(min(n_in, o * stride - pad + k) - max(0, o * stride - pad) for o in range(n_out))


def make_layer(rng: np.random.Generator, h: int, w: int, c: int, k: int, stride: int, padding: str = "SAME",
               shifts: str = "right", bias: bool = True, out_h: int | None = None, pad_top: int | None = None,
               kw: int | None = None) -> Layer:
    """A random depthwise layer. ``shifts``: ``right`` (every channel a right shift, as exported
    models have), or ``mixed`` (some channels shift 0 or left). ``out_h`` / ``pad_top``: override
    the output height and top padding (one output row of a fused expand + depthwise conv reads a
    window of input rows with its own top padding). ``kw``: a kernel width other than ``k``."""
    kw = k if kw is None else kw
    oh, pt, _ = compute_padding(h, k, stride, padding)
    ow, pl, _ = compute_padding(w, kw, stride, padding)
    if out_h is not None:
        oh = out_h
    if pad_top is not None:
        pt = pad_top
    p = dict(in_h=h, in_w=w, in_c=c, out_h=oh, out_w=ow, out_c=c, k_h=k, k_w=kw, stride_h=stride,
             stride_w=stride, pad_top=pt, pad_left=pl, in_offset=int(rng.integers(-127, 129)),
             out_offset=int(rng.integers(-128, 128)), act_min=int(rng.integers(-128, -100)),
             act_max=int(rng.integers(0, 128)))
    real = rng.uniform(1e-4, 2e-2, c)
    if shifts == "mixed":  # multipliers of 0.5..2 and more: shift 0 and left shifts
        real[rng.random(c) < 0.4] = rng.uniform(0.6, 3.0)
    mult, shift = requant.quantize_multipliers(real)
    a = {"weights": rng.integers(-128, 128, k * kw * c).astype(np.int8),
         "bias": rng.integers(-5000, 5000, c).astype(np.int32), "out_mult": np.asarray(mult, np.int32),
         "out_shift": np.asarray(shift).astype(np.int8)}
    x = rng.integers(-128, 128, h * w * c).astype(np.int8)
    layer = Layer(p, a, x, reference(p, a, x, bias), bias)
    layer.real_macs = (_real_taps(oh, h, k, stride, pt) * _real_taps(ow, w, kw, stride, pl)) * c
    return layer


def parse_shape(s: str) -> tuple[int, int, int, int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)x(\d+)k(\d+)s(\d+)", s)
    if m is None:
        raise SystemExit(f"bad shape {s!r}: want HxWxCkKsS, e.g. 8x8x32k3s1")
    return tuple(int(v) for v in m.groups())  # type: ignore[return-value]


def runnable(p: dict[str, int], inplace: bool, dsp: bool) -> list[str]:
    """The depthwise variants that can run a layer (ofa_kernels.h), in place or not."""
    out = ["lanes"] if not inplace or p["out_h"] * p["out_w"] <= variants.DW_LANE_PIX else []
    if variants.dw_band_rows(p) > 0:
        out.append("plane3")
    if dsp and variants.dw_band_rows_k(p) > 0:
        out.append("plane_k")
    return [*out, "plane_any"]


def add_cases(layer: Layer, dsp: bool, every_variant: bool, inplace: tuple[bool, ...] = (False, True)) -> None:
    """The calls of ``layer``: the variant the generator chooses (or every one that can run it),
    out of place and in place."""
    for ip in inplace:
        chosen = variants.depthwise_variant(layer.params, ip, dsp)
        for v in runnable(layer.params, ip, dsp) if every_variant else [chosen]:
            fn = f"ofa_depthwise_s8{'_inplace' if ip else ''}_{v}"
            layer.cases.append({"function": fn, "variant": v, "inplace": ip, "chosen": v == chosen})


def context(layers: list[Layer], reps: int) -> dict[str, Any]:
    ctx_layers, cases = [], []
    for i, L in enumerate(layers):
        fields = [f".{k} = {c_int(v)}" for k, v in L.params.items()]
        arrays = []
        for name, ctype in (("weights", "int8_t"), ("bias", "int32_t"), ("out_mult", "int32_t"),
                            ("out_shift", "int8_t")):
            if name == "bias" and not L.bias:
                fields.append(".bias = 0")
                continue
            arrays.append({"ctype": ctype, "name": f"l{i}_{name}", "data": [int(v) for v in L.arrays[name].ravel()]})
            fields.append(f".{name} = l{i}_{name}")
        ctx_layers.append({"index": i, "fields": fields, "arrays": arrays, "input": [int(v) for v in L.x],
                           "in_bytes": L.x.size})
        for c in L.cases:
            cases.append({"layer": i, "function": c["function"], "inplace": c["inplace"],
                          "out_bytes": L.want.size, "crc": zlib.crc32(L.want.tobytes())})
    return {
        "layers": ctx_layers, "cases": cases, "reps": reps,
        "buf_bytes": max(max(L.x.size, L.want.size) for L in layers),
        "scratch_bytes": max(L.params["out_h"] * L.params["out_w"] for L in layers),
    }


def run(layers: list[Layer], variant: str, work: Path, reps: int = 4, kernels: Path | None = None) -> dict[str, Any]:
    """Build the program for ``variant`` (a kernels_qemu core), run it in QEMU; each case gets
    ``instructions`` (per call) and ``ok``. Returns {all_ok, exit_code, log}."""
    from mps2_harness import KERNELS, run_cases

    machine, flags = VARIANTS[variant]
    work.mkdir(parents=True, exist_ok=True)
    main_c = work / f"dw_{variant}.c"
    main_c.write_text(render(TEMPLATE, context(layers, reps), "the depthwise benchmark firmware"))
    return run_cases(layers, machine, flags, main_c, work / f"dw-{variant}.elf", reps, kernels or KERNELS)

def grid(rng: np.random.Generator, dsp: bool, every_variant: bool = True) -> list[Layer]:
    """The test grid: kernels 3/5/7, strides 1/2, planes 2x2..16x16 (square, wider and taller), channel counts
    with 0, 2 and 4 left over after groups of 4 and 8, in place and not; a layer with shift-0 and
    left-shift channels and no bias; one output row of a fused expand + depthwise conv (a window of
    input rows at the top and at the bottom of the image)."""
    layers = []
    sizes = ((2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7), (8, 8), (5, 9), (9, 5), (12, 12), (16, 16))
    chans = (12, 8, 6, 20)
    for k in (3, 5, 7):
        for s in (1, 2):
            for j, (h, w) in enumerate(sizes):
                c = chans[(j + k + s) % len(chans)]
                layers.append(make_layer(rng, h, w, c, k, s))
    layers.append(make_layer(rng, 7, 7, 12, 3, 1, shifts="mixed", bias=False))
    layers.append(make_layer(rng, 4, 4, 8, 5, 1, shifts="mixed"))
    layers.append(make_layer(rng, 8, 8, 12, 3, 1, padding="VALID"))
    layers.append(make_layer(rng, 9, 9, 8, 5, 2, padding="VALID"))
    layers.append(make_layer(rng, 6, 6, 4, 3, 1, kw=5))
    # planes taller than wide (the 3x3 band transposed): kws01's 25 x 5, strided, in place and not
    layers.append(make_layer(rng, 25, 5, 8, 3, 1))
    layers.append(make_layer(rng, 25, 5, 12, 3, 1, shifts="mixed"))
    layers.append(make_layer(rng, 31, 10, 4, 3, 2))
    # fused expand + depthwise: one output row from a window of rows (top: pad_top > 0; bottom: fewer
    # rows than the kernel)
    for k, s, h, pt in ((3, 2, 2, 0), (5, 2, 3, 2), (7, 2, 4, 3), (3, 1, 2, 0), (7, 2, 5, 1)):
        layers.append(make_layer(rng, h, 14, 16, k, s, out_h=1, pad_top=pt))
    for L in layers:
        add_cases(L, dsp, every_variant)
    return layers


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default=",".join(DEFAULT_SHAPES), help="comma-separated HxWxCkKsS (SAME padding)")
    ap.add_argument("--variants", default="m4-dsp", help="comma-separated subset of " + ",".join(VARIANTS))
    ap.add_argument("--all-variants", action="store_true", help="every kernel variant that can run a shape")
    ap.add_argument("--inplace", default="both", choices=("both", "yes", "no"))
    ap.add_argument("--grid", action="store_true", help="the test grid instead of --shapes")
    ap.add_argument("--reps", type=int, default=4, help="timed calls per case (SysTick counts 40 instructions)")
    ap.add_argument("--kernels", type=Path, default=None, help="another kernels folder (to compare)")
    ap.add_argument("--keep", type=Path, help="keep the generated program and ELF here")
    args = ap.parse_args()
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            print(f"{tool} not found", file=sys.stderr)
            return 2
    inplace = {"both": (False, True), "yes": (True,), "no": (False,)}[args.inplace]
    work = args.keep or Path(tempfile.mkdtemp(prefix="ofa-dwbench-"))
    ok = True
    try:
        for variant in args.variants.split(","):
            dsp = "dsp" in variant
            rng = np.random.default_rng(1)
            if args.grid:
                layers = grid(rng, dsp, args.all_variants)
            else:
                layers = []
                for s in args.shapes.split(","):
                    h, w, c, k, st = parse_shape(s)
                    L = make_layer(rng, h, w, c, k, st)
                    add_cases(L, dsp, args.all_variants, inplace)
                    layers.append(L)
            res = run(layers, variant, work, args.reps, args.kernels)
            ok &= res["all_ok"]
            print(f"{variant}: {'bit-exact' if res['all_ok'] else 'MISMATCH'} (exit {res['exit_code']})")
            print(f"  {'layer':26} {'variant':20} {'instr':>9} {'/output':>8} {'/MAC':>6} {'/real MAC':>9}")
            for L in layers:
                n_out = L.want.size
                for c in L.cases:
                    name = ("ip " if c["inplace"] else "   ") + c["variant"] + ("" if c["chosen"] else " (alt)")
                    print(f"  {L.describe():26} {name:20} {c['instructions']:9.0f} {c['instructions'] / n_out:8.1f} "
                          f"{c['instructions'] / L.macs:6.2f} {c['instructions'] / L.real_macs:9.2f}"
                          + ("" if c["ok"] else "  BAD"))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
