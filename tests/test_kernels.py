"""Bit-exactness of the native int8 kernels (firmware/kernels) against the real TFLM kernels.

The kernels are compiled for the host twice (portable C, and the Cortex-M DSP code paths with
plain-C models of SMLAD & co., -DOFA_EMULATE_DSP) into shared libraries driven through ctypes
(tests/kernel_harness/harness.c). Models are built with Keras, converted to full-int8 TFLite,
parsed and lowered with ofa_mcu.tflite and ofa_mcu.native.lowering, run op by op on the native kernels (each op
fed by the previous native outputs) and every op's output is compared bit for bit with the same
tensor in ``tflite_micro.runtime.Interpreter`` (kPreserveAllTensors). Every depthwise op is also
run in place and must equal the normal kernel. Further tests: the requantization primitive
against a Python model of gemmlowp's arithmetic, TFLM's per-tensor FC multiplier (an input is
constructed whose output tells a float32 from a double scale product), cross-compilation with
arm-none-eabi-gcc for Cortex-M0/M4/M7 with -Werror, and a model run in QEMU on Cortex-M4 (real
SMLAD path) and as ARMv6-M code, each op's output compared with TFLM (benchmarks/kernels_qemu.py).
"""

from __future__ import annotations

import ctypes
import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import load_benchmark, require_tool

from ofa_mcu import tflite
from ofa_mcu.errors import UserError
from ofa_mcu.export.convert import set_int8_options
from ofa_mcu.native import lowering, requant, variants
from ofa_mcu.padding import compute_padding

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "firmware" / "kernels"
HARNESS = ROOT / "tests" / "kernel_harness" / "harness.c"
CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]

pytestmark = pytest.mark.filterwarnings("ignore:Statistics for quantized inputs:UserWarning")

N_INPUTS = 10
N_RANDOM_GRAPHS = 20

CONV_FIELDS = (
    "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h", "stride_w",
    "pad_top", "pad_left", "in_offset", "out_offset", "act_min", "act_max",
)  # fmt: skip
FC_FIELDS = ("batches", "in_features", "out_features", "in_offset", "out_offset", "act_min", "act_max", "per_channel")
ADD_FIELDS = (
    "size", "in1_offset", "in2_offset", "out_offset", "in1_mult", "in2_mult", "out_mult",
    "in1_shift", "in2_shift", "out_shift", "act_min", "act_max",
)  # fmt: skip
MEAN_FIELDS = ("h", "w", "c", "in_zero_point", "out_zero_point", "mult", "shift")
POOL_FIELDS = (
    "in_h", "in_w", "c", "out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w", "pad_top", "pad_left",
    "act_min", "act_max",
)  # fmt: skip
SOFTMAX_FIELDS = ("outer", "depth", "input_multiplier", "input_left_shift", "diff_min")
CONV_KIND = {"ofa_conv_s8": 0, "ofa_pointwise_s8": 1, "ofa_depthwise_s8": 2}


# ------------------------------------------------------------------------------------------
# Host build of the kernels and a ctypes runner
# ------------------------------------------------------------------------------------------


def _ptr(a: np.ndarray | None) -> ctypes.c_void_p | None:
    return None if a is None else ctypes.c_void_p(a.ctypes.data)


def _ints(params: dict[str, int], fields: tuple[str, ...]) -> np.ndarray:
    return np.array([int(params[f]) for f in fields], dtype=np.int32)


class NativeKernels:
    """The kernels in a host shared library; runs one :class:`lowering.KernelCall` at a time."""

    def __init__(self, path: Path) -> None:
        self.lib = ctypes.CDLL(str(path))
        vp, ci = ctypes.c_void_p, ctypes.c_int
        self.lib.h_conv.argtypes = [ci, vp, vp, vp, vp, vp, vp, vp, vp]
        self.lib.h_fc.argtypes = [vp] * 7
        self.lib.h_fc_variant.argtypes = [ci] + [vp] * 7
        self.lib.h_add.argtypes = [vp] * 4
        self.lib.h_mean.argtypes = [vp] * 3
        self.lib.h_avgpool.argtypes = [vp] * 3
        self.lib.h_softmax.argtypes = [vp] * 3
        self.lib.h_requant.argtypes = [ci, vp, vp, vp, vp, ctypes.c_int32]
        self.lib.h_expand_dw.argtypes = [vp] * 13 + [ci, ci]
        self.lib.h_pw_variant.argtypes = [vp, vp]
        self.lib.h_pw_entry.argtypes = [ci, ci] + [vp] * 8
        self.lib.h_variant.argtypes = [ci, vp]
        self.lib.h_conv_entry.argtypes = [ci, ci] + [vp] * 8
        self.lib.h_add_in.argtypes = [vp, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, vp]

    def requant(self, x: np.ndarray, mult: np.ndarray, shift: np.ndarray, which: int = 0) -> np.ndarray:
        """0: ofa_requant, 1: ofa_requant_ref, 2: ofa_srdhm(x, mult), 3: ofa_rdivpot(x, shift)."""
        x, mult, shift = (np.ascontiguousarray(a, dtype=np.int32) for a in (x, mult, shift))
        y = np.zeros_like(x)
        self.lib.h_requant(which, _ptr(x), _ptr(mult), _ptr(shift), _ptr(y), x.size)
        return y

    def conv(self, kind: int, call: lowering.KernelCall, x: np.ndarray, out_size: int) -> np.ndarray:
        ip = _ints(call.params, CONV_FIELDS)
        a = call.arrays
        bias = a.get("bias")
        scratch = np.zeros(max(call.scratch_bytes, 1), np.int8)
        if kind == 3:  # in place: the buffer holds the input on entry
            y = np.ascontiguousarray(x.ravel(), dtype=np.int8).copy()
        else:
            y = np.zeros(out_size, np.int8)
        rc = self.lib.h_conv(
            kind, _ptr(ip), _ptr(a["weights"]), _ptr(bias), _ptr(a["out_mult"]), _ptr(a["out_shift"]),
            _ptr(np.ascontiguousarray(x, dtype=np.int8)), _ptr(y), _ptr(scratch),
        )  # fmt: skip
        assert rc == 0
        return y[:out_size].copy()

    def conv_entry(self, kind: int, variant: int, call: lowering.KernelCall, x: np.ndarray,
                   out_size: int) -> np.ndarray | None:
        """A variant's own entry point (kind 0 conv, 2 depthwise, 3 depthwise in place); None when
        this build has no such variant."""
        ip = _ints(call.params, CONV_FIELDS)
        a = call.arrays
        scratch = np.zeros(max(call.scratch_bytes, 1), np.int8)
        y = np.ascontiguousarray(x.ravel(), dtype=np.int8).copy() if kind == 3 else np.zeros(out_size, np.int8)
        rc = self.lib.h_conv_entry(
            kind, variant, _ptr(ip), _ptr(a["weights"]), _ptr(a.get("bias")), _ptr(a["out_mult"]),
            _ptr(a["out_shift"]), _ptr(np.ascontiguousarray(x, dtype=np.int8)), _ptr(y), _ptr(scratch),
        )  # fmt: skip
        return None if rc != 0 else y[:out_size].copy()

    def run(self, call: lowering.KernelCall, ins: list[np.ndarray], out_size: int) -> np.ndarray:
        fn = call.function
        x = np.ascontiguousarray(ins[0], dtype=np.int8).ravel()
        if fn in CONV_KIND:
            y = self.conv(CONV_KIND[fn], call, x, out_size)
            if fn == "ofa_depthwise_s8":
                assert call.inplace_ok
                y2 = self.conv(3, call, x, out_size)
                assert np.array_equal(y, y2), f"in-place depthwise differs from the normal one (op {call.op_index})"
            return y
        y = np.zeros(out_size, np.int8)
        a = call.arrays
        if fn == "ofa_fully_connected_s8":
            ip = _ints(call.params, FC_FIELDS)
            self.lib.h_fc(
                _ptr(ip), _ptr(a["weights"]), _ptr(a.get("bias")), _ptr(a["out_mult"]), _ptr(a["out_shift"]),
                _ptr(x), _ptr(y),
            )  # fmt: skip
        elif fn == "ofa_add_s8":
            x2 = np.ascontiguousarray(ins[1], dtype=np.int8).ravel()
            self.lib.h_add(_ptr(_ints(call.params, ADD_FIELDS)), _ptr(x), _ptr(x2), _ptr(y))
        elif fn == "ofa_mean_hw_s8":
            self.lib.h_mean(_ptr(_ints(call.params, MEAN_FIELDS)), _ptr(x), _ptr(y))
        elif fn == "ofa_avgpool_s8":
            self.lib.h_avgpool(_ptr(_ints(call.params, POOL_FIELDS)), _ptr(x), _ptr(y))
        elif fn == "ofa_softmax_s8":
            self.lib.h_softmax(_ptr(_ints(call.params, SOFTMAX_FIELDS)), _ptr(x), _ptr(y))
        elif fn is None:  # RESHAPE
            y[:] = x
        else:
            raise AssertionError(f"no harness for {fn}")
        return y


def _build_lib(out: Path, extra: list[str]) -> Path:
    srcs = sorted(str(p) for p in KERNELS.glob("*.c")) + [str(HARNESS)]
    cmd = ["gcc", *CFLAGS, "-fPIC", "-shared", f"-I{KERNELS}", *extra, *srcs, "-o", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="session")
def kernel_libs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, NativeKernels]:
    require_tool("gcc")
    d = tmp_path_factory.mktemp("kernels")
    return {
        "portable": NativeKernels(_build_lib(d / "libofa_portable.so", [])),
        "dsp-emulated": NativeKernels(_build_lib(d / "libofa_dsp.so", ["-DOFA_EMULATE_DSP"])),
    }


# ------------------------------------------------------------------------------------------
# Requantization primitive and multiplier helpers (no TensorFlow needed)
# ------------------------------------------------------------------------------------------


def _wrap32(v: int) -> int:
    return (v + (1 << 31)) % (1 << 32) - (1 << 31)


def _ref_srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul, with Python integers."""
    if a == b == -(1 << 31):
        return (1 << 31) - 1
    ab = a * b
    t = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    return -(abs(t) >> 31) if t < 0 else t >> 31


def _ref_rdivpot(x: int, e: int) -> int:
    """gemmlowp RoundingDivideByPOT (ties away from zero)."""
    mask = (1 << e) - 1
    return (x >> e) + (1 if (x & mask) > (mask >> 1) + (1 if x < 0 else 0) else 0)


def _ref_requant(x: int, m: int, s: int) -> int:
    """TFLM MultiplyByQuantizedMultiplier, double rounding."""
    return _ref_rdivpot(_ref_srdhm(_wrap32(x << max(s, 0)), m), max(-s, 0))


def test_requant_matches_reference(kernel_libs: dict[str, NativeKernels]) -> None:
    rng = np.random.default_rng(0)
    n = 40000
    x = rng.integers(-(1 << 31), 1 << 31, n, dtype=np.int64)
    x[: n // 2] = rng.integers(-(1 << 20), 1 << 20, n // 2)
    x[n // 2 : n // 2 + 2000] = rng.integers(-300, 300, 2000)
    mult = rng.integers(1 << 30, 1 << 31, n, dtype=np.int64)
    mult[::5] = rng.integers(1 << 29, 1 << 30, len(mult[::5]))  # folded MEAN multipliers
    mult[::97] = 0
    shift = rng.integers(-31, 8, n)
    shift[::3] = rng.integers(-12, 1, len(shift[::3]))
    # exact ties of the second rounding, both signs, and extremes
    x[:10] = [1 << 20, -(1 << 20), 3, -3, (1 << 31) - 1, -(1 << 31), 1, -1, -2, 12345]
    mult[:10] = [1 << 30, 1 << 30, 1 << 30, 1 << 30, (1 << 31) - 1, (1 << 31) - 1, 1 << 30, 1 << 30, 1 << 30, 0]
    shift[:10] = [-21, -21, -1, -1, -31, 0, 0, -1, -1, -5]
    want = np.array([_ref_requant(int(a), int(b), int(c)) for a, b, c in zip(x, mult, shift, strict=True)])
    for lib in kernel_libs.values():
        for which in (0, 1):
            got = lib.requant(x.astype(np.int32), mult.astype(np.int32), shift.astype(np.int32), which)
            assert np.array_equal(got, want), which
    # the two primitives alone, including negative multipliers and the saturating case
    lib = kernel_libs["portable"]
    a = rng.integers(-(1 << 31), 1 << 31, 5000, dtype=np.int64)
    b = rng.integers(-(1 << 31), 1 << 31, 5000, dtype=np.int64)
    a[:3], b[:3] = [-(1 << 31), -(1 << 31), 5], [-(1 << 31), 1 << 30, -(1 << 31)]
    got = lib.requant(a.astype(np.int32), b.astype(np.int32), np.zeros(a.size), 2)
    assert np.array_equal(got, [_ref_srdhm(int(p), int(q)) for p, q in zip(a, b, strict=True)])
    e = rng.integers(0, 32, a.size)
    got = lib.requant(a.astype(np.int32), np.zeros(a.size), e.astype(np.int32), 3)
    assert np.array_equal(got, [_ref_rdivpot(int(p), int(q)) for p, q in zip(a, e, strict=True)])


def test_quantize_multiplier_edges() -> None:
    assert requant.quantize_multiplier(0.0) == (0, 0)
    assert requant.quantize_multiplier(0.5) == (1 << 30, 0)
    assert requant.quantize_multiplier(1.0) == (1 << 30, 1)
    assert requant.quantize_multiplier(0.75) == (3 << 29, 0)
    # rounds up to 2^31: halved, shift + 1
    assert requant.quantize_multiplier(1.0 - 2.0**-40) == (1 << 30, 1)
    # an exact tie in Q31 rounds away from zero (std::round), not to even
    assert requant.quantize_multiplier(0.5 + 2.0**-32) == ((1 << 30) + 1, 0)
    assert requant.quantize_multiplier(0.5 + 3 * 2.0**-32) == ((1 << 30) + 2, 0)
    assert requant.quantize_multiplier(2.0**-40) == (0, 0)  # flushed like TFLM (shift < -31)
    assert requant.quantize_multiplier(3.0e-3) == (1649267442, -8)
    m, s = requant.quantize_multipliers([0.25, 2.0, 1e-3])
    assert m.dtype == np.int32 and list(s) == [-1, 2, -9]


def test_mean_multiplier_folding() -> None:
    m, s = requant.quantize_multiplier(float(np.float32(0.8)))
    assert requant.mean_multiplier(0.8, 1.0, 1) == (m, s)
    # N = 49: k = 5, m' = (m << 5) // 49
    assert requant.mean_multiplier(0.8, 1.0, 49) == ((m << 5) // 49, s - 5)
    # k is clamped to 31 + shift for very small ratios
    m2, s2 = requant.quantize_multiplier(2.0**-29)
    assert s2 == -28
    assert requant.mean_multiplier(2.0**-29, 1.0, 1 << 10) == ((m2 << 3) // 1024, s2 - 3)


def test_fc_multiplier_products() -> None:
    a, b, c = 0.0123456789, 0.00345678912, 0.0456789123
    f32 = np.float64(np.float32(a) * np.float32(b)) / np.float64(np.float32(c))
    f64 = np.float64(np.float32(a)) * np.float64(np.float32(b)) / np.float64(np.float32(c))
    assert requant.fc_multiplier(a, b, c, product="float32") == requant.quantize_multiplier(float(f32))
    assert requant.fc_multiplier(a, b, c) == requant.quantize_multiplier(float(f64))
    with pytest.raises(ValueError):
        requant.fc_multiplier(a, b, c, product="half")


def test_padding_and_activation() -> None:
    assert compute_padding(16, 3, 2, "SAME") == (8, 0, 1)
    assert compute_padding(15, 5, 2, "SAME") == (8, 2, 2)
    assert compute_padding(16, 5, 2, "SAME") == (8, 1, 2)
    assert compute_padding(15, 7, 2, "VALID") == (5, 0, 0)
    assert compute_padding(7, 3, 1, "SAME") == (7, 1, 1)
    assert requant.activation_range("NONE", 0.1, 3) == (-128, 127)
    assert requant.activation_range("RELU", 0.1, -5) == (-5, 127)
    assert requant.activation_range("RELU6", 6.0 / 255, -128) == (-128, 127)
    assert requant.activation_range("RELU6", 0.05, -10) == (-10, 110)
    with pytest.raises(UserError):
        requant.activation_range("TANH", 0.1, 0)


def _random_conv(rng: np.random.Generator, function: str, h: int, w: int, c_in: int, c_out: int, k: int,
                 stride: int, padding: str) -> lowering.KernelCall:
    """A conv-like kernel call with random offsets, activation range, weights and requantization."""
    oh, pt, _ = compute_padding(h, k, stride, padding)
    ow, pl, _ = compute_padding(w, k, stride, padding)
    params = dict(
        in_h=h, in_w=w, in_c=c_in, out_h=oh, out_w=ow, out_c=c_out, k_h=k, k_w=k, stride_h=stride,
        stride_w=stride, pad_top=pt, pad_left=pl, in_offset=int(rng.integers(-127, 129)),
        out_offset=int(rng.integers(-128, 128)), act_min=-128, act_max=int(rng.integers(0, 128)),
    )  # fmt: skip
    n_weights = k * k * c_in if function == "ofa_depthwise_s8" else c_out * c_in * k * k
    mult, shift = requant.quantize_multipliers(rng.uniform(1e-4, 2e-2, c_out))
    arrays = {"weights": rng.integers(-128, 128, n_weights).astype(np.int8),
              "bias": rng.integers(-5000, 5000, c_out).astype(np.int32), "out_mult": mult,
              "out_shift": shift.astype(np.int8)}
    if function == "ofa_depthwise_s8":  # runnable in place with a one-plane scratch
        return lowering.KernelCall(0, "DEPTHWISE_CONV_2D", function, "ofa_conv_params_t", (0,), (1,), params, arrays, 0,
                             True, oh * ow)  # fmt: skip
    return lowering.KernelCall(0, "CONV_2D", function, "ofa_conv_params_t", (0,), (1,), params, arrays, 0, False, 0)


@pytest.mark.parametrize("seed", range(6))
def test_inplace_depthwise_equals_normal(kernel_libs: dict[str, NativeKernels], seed: int) -> None:
    """Random shapes, kernels, strides and paddings; no TensorFlow involved."""
    rng = np.random.default_rng(100 + seed)
    for _ in range(8):
        k = int(rng.choice([1, 3, 5, 7]))
        stride = int(rng.choice([1, 2, 3]))
        c = int(rng.choice([1, 2, 3, 4, 5, 8, 13, 16]))
        h, w = (int(v) for v in rng.integers(1, 20, 2))
        padding = str(rng.choice(["SAME", "VALID"]))
        if padding == "VALID" and (h < k or w < k):
            padding = "SAME"
        call = _random_conv(rng, "ofa_depthwise_s8", h, w, c, c, k, stride, padding)
        oh, ow = call.params["out_h"], call.params["out_w"]
        x = rng.integers(-128, 128, h * w * c).astype(np.int8)
        for lib in kernel_libs.values():
            normal = lib.conv(2, call, x, oh * ow * c)
            inplace = lib.conv(3, call, x, oh * ow * c)
            assert np.array_equal(normal, inplace), call.params
        # and all three implementations agree with each other
        outs = [lib.conv(2, call, x, oh * ow * c) for lib in kernel_libs.values()]
        assert all(np.array_equal(outs[0], o) for o in outs[1:])


@pytest.mark.parametrize("seed", range(4))
def test_fused_expand_depthwise_equals_the_two_kernels(kernel_libs: dict[str, NativeKernels], seed: int) -> None:
    """ofa_expand_depthwise_s8 == ofa_pointwise_s8 then ofa_depthwise_s8, for random shapes (images
    shorter than the kernel included), and it writes nothing past its min(k, H)-row window."""
    rng = np.random.default_rng(200 + seed)
    guard = 64
    for _ in range(8):
        k = int(rng.choice([1, 3, 5, 7]))
        stride = int(rng.choice([1, 2, 3]))
        c_in, c = int(rng.choice([1, 3, 8, 16])), int(rng.choice([1, 4, 5, 24]))
        h, w = (int(v) for v in rng.integers(1, 16, 2))
        padding = "VALID" if h >= k and w >= k and rng.random() < 0.3 else "SAME"
        expand = _random_conv(rng, "ofa_pointwise_s8", h, w, c_in, c, 1, 1, "VALID")
        dw = _random_conv(rng, "ofa_depthwise_s8", h, w, c, c, k, stride, padding)
        out_size = dw.params["out_h"] * dw.params["out_w"] * c
        x = rng.integers(-128, 128, h * w * c_in).astype(np.int8)
        for lib in kernel_libs.values():
            want = lib.conv(2, dw, lib.conv(1, expand, x, h * w * c), out_size)
            window = np.full(min(k, h) * w * c + guard, 77, np.int8)
            got = np.zeros(out_size, np.int8)
            e, d = expand.arrays, dw.arrays
            ip1, ip2 = _ints(expand.params, CONV_FIELDS), _ints(dw.params, CONV_FIELDS)  # alive during the call
            lib.lib.h_expand_dw(
                _ptr(ip1), _ptr(e["weights"]), _ptr(e["bias"]), _ptr(e["out_mult"]), _ptr(e["out_shift"]),
                _ptr(ip2), _ptr(d["weights"]), _ptr(d["bias"]), _ptr(d["out_mult"]), _ptr(d["out_shift"]),
                _ptr(x), _ptr(window), _ptr(got), -1, -1)  # fmt: skip
            assert np.array_equal(got, want), (h, w, c_in, c, k, stride, padding)
            assert (window[-guard:] == 77).all(), "the fused kernel wrote past its window"
            # the generated call: ofa_expand_depthwise_s8_with the variant the code generator picks
            dsp = lib is kernel_libs["dsp-emulated"]
            kernel = variants.expand_depthwise_kernel(dw.params, dsp)
            pw = variants.pointwise_variant(expand.params, expand.arrays["out_shift"], dsp)
            got2 = np.zeros(out_size, np.int8)
            window[:] = 77
            rc = lib.lib.h_expand_dw(
                _ptr(ip1), _ptr(e["weights"]), _ptr(e["bias"]), _ptr(e["out_mult"]), _ptr(e["out_shift"]),
                _ptr(ip2), _ptr(d["weights"]), _ptr(d["bias"]), _ptr(d["out_mult"]), _ptr(d["out_shift"]),
                _ptr(x), _ptr(window), _ptr(got2), variants.PW_VARIANTS.index(pw),
                variants.DW_VARIANTS.index(kernel.removeprefix("ofa_depthwise_s8_")))  # fmt: skip
            assert rc == 0 and np.array_equal(got2, want), (kernel, h, w, c_in, c, k, stride, padding)
            assert (window[-guard:] == 77).all(), "the fused kernel wrote past its window"


def _variant_grid() -> Iterator[dict[str, int]]:
    """Conv-like parameters over the shapes where the variant choices change (band widths around
    the 256-byte padded band, 16-output planes, kernels up to and past 8, strides, channels)."""
    for out_w in (1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 40, 41, 63, 64, 82, 83, 84, 85, 86, 120, 128, 250):
        for out_h in (1, 2, 3, 4, 8, 15, 16, 17):
            for k_h, k_w in ((1, 1), (3, 3), (5, 5), (7, 7), (8, 8), (9, 9), (3, 5), (5, 3), (10, 4), (1, 3)):
                for s_h, s_w in ((1, 1), (2, 2), (1, 2), (2, 1), (3, 3)):
                    for in_c in (1, 3, 7, 8, 16):
                        yield dict(
                            in_h=(out_h - 1) * s_h + k_h, in_w=(out_w - 1) * s_w + k_w, in_c=in_c, out_h=out_h,
                            out_w=out_w, out_c=in_c, k_h=k_h, k_w=k_w, stride_h=s_h, stride_w=s_w, pad_top=0,
                            pad_left=0, in_offset=0, out_offset=0, act_min=-128, act_max=127,
                        )  # fmt: skip


def test_variant_choice_matches_the_c_dispatch(kernel_libs: dict[str, NativeKernels]) -> None:
    """ofa_mcu.native.variants (the code generator's compile-time choice) picks exactly the variant
    the kernels' run-time dispatch picks (ofa_conv_variant, ofa_depthwise_variant), on the portable
    and the DSP builds, for every shape of the grid."""
    seen: set[tuple[str, str]] = set()
    for build, lib in kernel_libs.items():
        dsp = build == "dsp-emulated"
        for p in _variant_grid():
            ip = _ints(p, CONV_FIELDS)
            assert variants.CONV_VARIANTS[lib.lib.h_variant(0, _ptr(ip))] == \
                variants.conv_variant(p, build == "dsp-emulated"), (build, p)
            for inplace in (False, True):
                c_choice = variants.DW_VARIANTS[lib.lib.h_variant(2 if inplace else 1, _ptr(ip))]
                assert c_choice == variants.depthwise_variant(p, inplace, dsp), (build, inplace, p)
                seen.add((build, c_choice))
    # the grid reaches every variant each build has (plane_k only on DSP cores)
    assert seen == {(b, v) for b in kernel_libs for v in variants.DW_VARIANTS
                    if v != "plane_k" or b == "dsp-emulated"}
    # pointwise: from the shape and the shifts
    rng = np.random.default_rng(11)
    for build, lib in kernel_libs.items():
        got = set()
        for in_c in (1, 3, 4, 6, 8, 16):
            for out_c in (1, 2, 3, 8, 9):
                for shifts in ("right", "zero", "left"):
                    shift = rng.integers(-12, 0, out_c).astype(np.int8)
                    if shifts != "right":
                        shift[rng.integers(0, out_c)] = 0 if shifts == "zero" else 2
                    p = dict(in_h=4, in_w=4, in_c=in_c, out_h=4, out_w=4, out_c=out_c, k_h=1, k_w=1, stride_h=1,
                             stride_w=1, pad_top=0, pad_left=0, in_offset=0, out_offset=0, act_min=-128, act_max=127)
                    c_choice = variants.PW_VARIANTS[lib.lib.h_pw_variant(_ptr(_ints(p, CONV_FIELDS)), _ptr(shift))]
                    assert c_choice == variants.pointwise_variant(p, shift, build == "dsp-emulated"), (build, p, shift)
                    got.add(c_choice)
        assert got == ({"any", "pairs"} if build == "dsp-emulated" else {"any"})


@pytest.mark.parametrize("seed", range(4))
def test_variant_entry_points_equal_the_dispatch(kernel_libs: dict[str, NativeKernels], seed: int) -> None:
    """Every variant's own entry point gives what the run-time entry point gives, on every shape it
    can run (lanes, plane_any and the row loop: any; in place, lanes: planes of up to DW_LANE_PIX outputs;
    plane3 / plane_k: where their padded band fits; the patch loop: windows of up to 128 bytes, 64 on
    DSP builds), out
    of place and in place."""
    rng = np.random.default_rng(300 + seed)
    for _ in range(8):
        k = int(rng.choice([1, 3, 5, 7]))
        stride = int(rng.choice([1, 2, 3]))
        c = int(rng.choice([1, 3, 4, 5, 8, 13]))
        h, w = (int(v) for v in rng.integers(1, 20, 2))
        padding = "VALID" if h >= k and w >= k and rng.random() < 0.3 else "SAME"
        dw = _random_conv(rng, "ofa_depthwise_s8", h, w, c, c, k, stride, padding)
        conv = _random_conv(rng, "ofa_conv_s8", h, w, c, int(rng.choice([1, 2, 5, 8])), k, stride, padding)
        p = dw.params
        n_dw = p["out_h"] * p["out_w"] * c
        n_conv = conv.params["out_h"] * conv.params["out_w"] * conv.params["out_c"]
        x = rng.integers(-128, 128, h * w * c).astype(np.int8)
        for build, lib in kernel_libs.items():
            want = lib.conv(2, dw, x, n_dw)
            runnable = {"lanes", "plane_any"}
            if variants.dw_band_rows(p) > 0:
                runnable.add("plane3")
            if build == "dsp-emulated" and variants.dw_band_rows_k(p) > 0:
                runnable.add("plane_k")
            for v in runnable:
                # in place, lanes go through a stack buffer of DW_LANE_PIX outputs per channel
                for kind in (2, 3) if v != "lanes" or p["out_h"] * p["out_w"] <= variants.DW_LANE_PIX else (2,):
                    got = lib.conv_entry(kind, variants.DW_VARIANTS.index(v), dw, x, n_dw)
                    assert got is not None and np.array_equal(got, want), (build, v, kind, p)
            # the compact choice's entry points without the ARMv6-M band path (harness indices 4, 5)
            for kind, index in ((2, 4), (3, 4), (2, 5)):
                got = lib.conv_entry(kind, index, dw, x, n_dw)
                assert got is not None and np.array_equal(got, want), (build, "plain", kind, index, p)
            want = lib.conv(0, conv, x, n_conv)
            limit = variants.CONV_PATCH_BYTES_DSP if build == "dsp-emulated" else variants.CONV_PATCH_BYTES
            for v in ("patch", "rows") if k * k * c <= limit else ("rows",):
                got = lib.conv_entry(0, variants.CONV_VARIANTS.index(v), conv, x, n_conv)
                assert got is not None and np.array_equal(got, want), (build, v, conv.params)


@pytest.mark.parametrize("seed", range(3))
def test_pointwise_pairs_entry_points_equal_the_general_one(kernel_libs: dict[str, NativeKernels], seed: int) -> None:
    """ofa_pointwise_s8_pairs and ofa_pointwise_s8_inplace_pairs (DSP builds) give what
    ofa_pointwise_s8 gives on the layers the code generator sends to them (right shifts only)."""
    rng = np.random.default_rng(400 + seed)
    lib = kernel_libs["dsp-emulated"]
    for _ in range(8):
        c_in, c_out = 4 * int(rng.integers(1, 12)), 2 * int(rng.integers(1, 12))
        h, w = (int(v) for v in rng.integers(1, 9, 2))
        call = _random_conv(rng, "ofa_pointwise_s8", h, w, c_in, c_out, 1, 1, "VALID")
        a = call.arrays
        if np.any(a["out_shift"] >= 0):  # the pair path takes right shifts only
            a["out_shift"] = np.minimum(a["out_shift"], -1).astype(np.int8)
        assert variants.pointwise_variant(call.params, a["out_shift"], True) == "pairs"
        x = rng.integers(-128, 128, h * w * c_in).astype(np.int8)
        n = h * w * c_out
        want = lib.conv(1, call, x, n)
        ip = _ints(call.params, CONV_FIELDS)
        for inplace in (0, 1):
            if inplace and c_in != c_out:
                continue
            y = x.copy() if inplace else np.zeros(n, np.int8)
            scratch = np.zeros(8 * c_out, np.int8)
            assert lib.lib.h_pw_entry(1, inplace, _ptr(ip), _ptr(a["weights"]), _ptr(a["bias"]), _ptr(a["out_mult"]),
                                      _ptr(a["out_shift"]), _ptr(x), _ptr(y), _ptr(scratch)) == 0
            assert np.array_equal(y[:n], want), (inplace, call.params)
        # in place: a square layer
        sq = _random_conv(rng, "ofa_pointwise_s8", h, w, c_in, c_in, 1, 1, "VALID")
        sq.arrays["out_shift"] = np.minimum(sq.arrays["out_shift"], -1).astype(np.int8)
        want = lib.conv(1, sq, x, h * w * c_in)
        y = x.copy()
        scratch = np.zeros(8 * c_in, np.int8)
        b = sq.arrays
        assert lib.lib.h_pw_entry(1, 1, _ptr(_ints(sq.params, CONV_FIELDS)), _ptr(b["weights"]), _ptr(b["bias"]),
                                  _ptr(b["out_mult"]), _ptr(b["out_shift"]), _ptr(x), _ptr(y), _ptr(scratch)) == 0
        assert np.array_equal(y, want), sq.params


@pytest.mark.parametrize("seed", range(3))
def test_pointwise_plain_entry_points_equal_the_general_one(kernel_libs: dict[str, NativeKernels], seed: int) -> None:
    """ofa_pointwise_s8_plain and ofa_pointwise_s8_inplace_plain (DSP builds: the C loop without the
    assembly pair path, the code generator's compact choice) give what ofa_pointwise_s8 gives on any
    1x1 conv: odd out_c, in_c not a multiple of 4, left and zero shifts included."""
    rng = np.random.default_rng(500 + seed)
    lib = kernel_libs["dsp-emulated"]
    for _ in range(8):
        c_in, c_out = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        h, w = (int(v) for v in rng.integers(1, 9, 2))
        for square in (False, True):
            call = _random_conv(rng, "ofa_pointwise_s8", h, w, c_in, c_in if square else c_out, 1, 1, "VALID")
            a = call.arrays
            a["out_shift"][rng.integers(0, call.params["out_c"])] = rng.choice([0, 1])  # not the pair path's
            n = h * w * call.params["out_c"]
            x = rng.integers(-128, 128, h * w * c_in).astype(np.int8)
            want = lib.conv(1, call, x, n)
            for inplace in (0, 1) if square else (0,):
                y = x.copy() if inplace else np.zeros(n, np.int8)
                scratch = np.zeros(8 * call.params["out_c"], np.int8)
                assert lib.lib.h_pw_entry(2, inplace, _ptr(_ints(call.params, CONV_FIELDS)), _ptr(a["weights"]),
                                          _ptr(a["bias"]), _ptr(a["out_mult"]), _ptr(a["out_shift"]), _ptr(x), _ptr(y),
                                          _ptr(scratch)) == 0
                assert np.array_equal(y[:n], want), (inplace, call.params)


# ------------------------------------------------------------------------------------------
# Models: Keras -> full-int8 TFLite
# ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Converted:
    name: str
    data: bytes
    input_shape: tuple[int, ...]


def _convert(tf: Any, model: Any, shape: tuple[int, ...], seed: int, per_tensor_dense: bool = True) -> bytes:
    """Full-integer int8 conversion with int8 input/output (frozen graph: ~4x faster than Keras)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(tf.TensorSpec(shape, tf.float32))
    conv = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
    rng = np.random.default_rng(seed)
    lo, hi = sorted(rng.uniform(-3, 4, 2))
    hi = max(hi, lo + 1.0)

    def rep() -> Iterator[list[np.ndarray]]:
        for _ in range(8):
            yield [rng.uniform(lo, hi, shape).astype(np.float32)]

    set_int8_options(conv, rep, per_tensor_dense=per_tensor_dense)
    return conv.convert()


def _bn(keras: Any) -> Any:
    init = keras.initializers
    return keras.layers.BatchNormalization(
        gamma_initializer=init.RandomUniform(0.5, 1.5),
        beta_initializer=init.RandomNormal(0.0, 0.3),
        moving_mean_initializer=init.RandomNormal(0.0, 0.3),
        moving_variance_initializer=init.RandomUniform(0.3, 1.5),
    )


def _random_bias(keras: Any) -> Any:
    return keras.initializers.RandomNormal(0.0, 0.2)


def _zoo(keras: Any, name: str) -> tuple[Any, tuple[int, ...], bool]:
    """Single-op models (several independent branches each, to save conversions)."""
    L = keras.layers
    init = keras.initializers
    rb = _random_bias(keras)

    def conv(f: int, k: int, s: int, pad: str, act: str | None) -> Any:
        return L.Conv2D(f, k, strides=s, padding=pad, activation=act, bias_initializer=rb)

    def dw(k: int, s: int, pad: str, act: str | None) -> Any:
        return L.DepthwiseConv2D(k, strides=s, padding=pad, activation=act, bias_initializer=rb)

    def relu6(x: Any) -> Any:
        return L.ReLU(6.0)(x)

    per_tensor = True
    if name == "conv_c3":
        shape = (1, 15, 17, 3)
        x = keras.Input(shape[1:], batch_size=1)
        outs = [
            relu6(conv(8, 3, 2, "same", None)(x)),
            conv(7, 5, 1, "same", None)(x),
            conv(6, 7, 2, "valid", "relu")(x),
            conv(5, 1, 2, "same", None)(x),
            relu6(conv(9, 3, 1, "valid", None)(x)),
            conv(4, 7, 3, "same", None)(x),
        ]
    elif name == "conv_c8":
        shape = (1, 12, 12, 8)
        x = keras.Input(shape[1:], batch_size=1)
        outs = [
            relu6(conv(16, 3, 1, "same", None)(x)),
            conv(5, 5, 2, "same", None)(x),
            relu6(conv(24, 1, 1, "same", None)(x)),
            conv(7, 1, 1, "valid", None)(x),
            conv(3, 7, 1, "same", "relu")(x),
        ]
    elif name == "pointwise":
        shape = (1, 9, 7, 13)
        x = keras.Input(shape[1:], batch_size=1)
        outs = [relu6(conv(c, 1, 1, "same", None)(x)) for c in (1, 6, 17)] + [conv(32, 1, 1, "same", None)(x)]
    elif name == "pw_pairs":
        # the DSP pair path of 1x1 convs (in_c a multiple of 4): in_c 4 (one four-channel step),
        # 12 and 20 (eight-channel passes entered at their second half), 24; 35 pixels (the odd one
        # takes the tail)
        shape = (1, 5, 7, 12)
        x = keras.Input(shape[1:], batch_size=1)
        a = relu6(conv(4, 1, 1, "same", None)(x))
        b = relu6(conv(24, 1, 1, "same", None)(x))
        outs = [conv(6, 1, 1, "same", None)(a), relu6(conv(10, 1, 1, "same", None)(b)),
                conv(8, 1, 1, "same", None)(relu6(conv(20, 1, 1, "same", None)(x)))]
    elif name == "dw_c8":
        shape = (1, 14, 13, 8)
        x = keras.Input(shape[1:], batch_size=1)
        outs = [
            relu6(dw(3, 1, "same", None)(x)),
            dw(3, 2, "same", None)(x),
            relu6(dw(5, 1, "same", None)(x)),
            dw(5, 2, "same", "relu")(x),
            relu6(dw(7, 1, "same", None)(x)),
            dw(7, 2, "valid", None)(x),
            dw(3, 1, "valid", None)(x),
        ]
    elif name == "dw_c5":
        shape = (1, 9, 11, 5)
        x = keras.Input(shape[1:], batch_size=1)
        outs = [relu6(dw(k, s, "same", None)(x)) for k in (3, 5, 7) for s in (1, 2)]
    elif name == "add":
        shape = (1, 8, 9, 8)
        x = keras.Input(shape[1:], batch_size=1)
        a = relu6(conv(8, 1, 1, "same", None)(x))
        b = conv(8, 3, 1, "same", None)(x)
        outs = [
            L.Add()([a, b]),
            L.ReLU()(L.Add()([b, x])),
            relu6(L.Add()([a, x])),
        ]
    elif name == "pool":
        shape = (1, 13, 11, 6)
        x = keras.Input(shape[1:], batch_size=1)
        outs = [
            L.AveragePooling2D(2, 2, "valid")(x),
            L.AveragePooling2D(3, 1, "same")(x),
            L.AveragePooling2D(3, 2, "same")(x),
            L.AveragePooling2D(5, 3, "same")(x),
            L.GlobalAveragePooling2D()(x),
            L.GlobalAveragePooling2D(keepdims=True)(relu6(conv(8, 3, 1, "same", None)(x))),
        ]
    elif name == "mean_big":
        shape = (1, 40, 40, 4)
        x = keras.Input(shape[1:], batch_size=1)
        outs = [L.GlobalAveragePooling2D()(x), L.GlobalAveragePooling2D()(relu6(conv(6, 3, 2, "same", None)(x)))]
    elif name in ("fc_tensor", "fc_channel"):
        per_tensor = name == "fc_tensor"
        shape = (1, 40)
        x = keras.Input(shape[1:], batch_size=1)
        outs = [
            L.Dense(10, bias_initializer=rb)(x),
            L.Dense(7, activation="relu", bias_initializer=rb)(x),
            L.Dense(1, bias_initializer=rb)(x),
        ]
    elif name == "softmax":
        shape = (1, 4, 5, 12)
        x = keras.Input(shape[1:], batch_size=1)
        flat = L.Flatten()(x)
        big = L.Dense(10, kernel_initializer=init.RandomNormal(0.0, 2.0), bias_initializer=rb)(flat)
        outs = [
            L.Softmax()(x),  # over the channels of every pixel (20 rows)
            L.Softmax()(L.Dense(10, bias_initializer=rb)(flat)),
            L.Softmax()(big),  # logits spread wide: most outputs -128
            L.Softmax()(L.Dense(2, bias_initializer=rb)(flat)),
        ]
    elif name == "flatten_fc":
        shape = (1, 3, 3, 8)
        x = keras.Input(shape[1:], batch_size=1)
        outs = [L.Dense(5, bias_initializer=rb)(L.Flatten()(relu6(conv(8, 3, 1, "same", None)(x))))]
    else:
        raise KeyError(name)
    return keras.Model(x, outs), shape, per_tensor


ZOO = ("conv_c3", "conv_c8", "pointwise", "dw_c8", "dw_c5", "add", "pool", "mean_big", "fc_tensor",
       "fc_channel", "flatten_fc", "softmax", "pw_pairs")  # fmt: skip


def _random_mbv2(keras: Any, seed: int) -> tuple[Any, tuple[int, ...]]:
    """A small MobileNetV2-like subnet: stem, inverted residual blocks, GAP, dense."""
    rng = np.random.default_rng(seed)
    L = keras.layers
    res = int(rng.choice([16, 19, 24, 28, 31, 32, 40]))
    shape = (1, res, res, 3)
    inp = keras.Input(shape[1:], batch_size=1)
    c = int(rng.choice([8, 12, 16]))
    x = L.Conv2D(c, int(rng.choice([3, 5])), strides=2, padding="same", use_bias=False)(inp)
    x = L.ReLU(6.0)(_bn(keras)(x))
    size = (res + 1) // 2
    for _ in range(int(rng.integers(2, 6))):
        e = int(rng.choice([1, 3, 4, 6]))
        k = int(rng.choice([3, 5, 7]))
        s = int(rng.choice([1, 2])) if size >= 4 else 1
        out_c = int(rng.choice([c, c, 8, 12, 16, 24]))
        block_in = x
        if e != 1:
            x = L.ReLU(6.0)(_bn(keras)(L.Conv2D(c * e, 1, use_bias=False)(x)))
        x = L.ReLU(6.0)(_bn(keras)(L.DepthwiseConv2D(k, strides=s, padding="same", use_bias=False)(x)))
        x = _bn(keras)(L.Conv2D(out_c, 1, use_bias=False)(x))
        if s == 1 and out_c == c:
            x = L.Add()([block_in, x])
        c = out_c
        size = (size + s - 1) // s
    if rng.random() < 0.5:
        x = L.ReLU(6.0)(_bn(keras)(L.Conv2D(int(rng.choice([32, 48])), 1, use_bias=False)(x)))
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(int(rng.choice([2, 10])), bias_initializer=_random_bias(keras))(x)
    return keras.Model(inp, x), shape


class ModelCache:
    """Converts each test model once per session, on first use."""

    def __init__(self, tf: Any) -> None:
        self.tf = tf
        self.keras = tf.keras
        self.models: dict[str, Converted] = {}

    def get(self, name: str) -> Converted:
        if name not in self.models:
            if name.startswith("mbv2_"):
                seed = int(name.split("_")[1])
                self.keras.utils.set_random_seed(seed)
                model, shape = _random_mbv2(self.keras, seed)
                data = _convert(self.tf, model, shape, seed)
            else:
                self.keras.utils.set_random_seed(ZOO.index(name) + 1000)
                model, shape, per_tensor = _zoo(self.keras, name)
                data = _convert(self.tf, model, shape, ZOO.index(name), per_tensor_dense=per_tensor)
            self.models[name] = Converted(name, data, shape)
        return self.models[name]


@pytest.fixture(scope="session")
def models() -> ModelCache:
    tf = pytest.importorskip("tensorflow")
    tf.get_logger().setLevel("ERROR")
    return ModelCache(tf)


@pytest.fixture(scope="session")
def tflm() -> Any:
    return pytest.importorskip("tflite_micro").runtime


# ------------------------------------------------------------------------------------------
# Comparison against TFLM
# ------------------------------------------------------------------------------------------


def _inputs(graph: tflite.Graph, shape: tuple[int, ...], n: int, seed: int) -> list[np.ndarray]:
    """Half uniformly random int8, half quantized smooth-ish float data."""
    rng = np.random.default_rng(seed)
    t = graph.tensors[graph.inputs[0]]
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append(rng.integers(-128, 128, shape).astype(np.int8))
        else:
            f = rng.normal(0.5, 1.5, shape)
            q = np.round(f / float(t.qscale)) + t.qzero
            out.append(np.clip(q, -128, 127).astype(np.int8))
    return out


def _compare_with_tflm(conv: Converted, libs: dict[str, NativeKernels], tflm: Any) -> dict[str, int]:
    graph = tflite.parse_tflite(conv.data, origin=conv.name)
    calls = lowering.lower_graph(graph, origin=conv.name)
    acts = graph.activation_tensors()
    arena = 2 * sum(graph.tensors[i].nbytes for i in acts) + (1 << 20)
    interp = tflm.Interpreter.from_bytes(
        conv.data, arena_size=arena, intrepreter_config=tflm.InterpreterConfig.kPreserveAllTensors
    )
    n_ops = 0
    for k, x in enumerate(_inputs(graph, conv.input_shape, N_INPUTS, seed=len(conv.name) + 17)):
        interp.set_input(x, 0)
        interp.invoke()
        golden = {i: np.asarray(interp.GetTensor(i, 0)["tensor_data"]).ravel() for i in acts}
        assert np.array_equal(golden[graph.inputs[0]], x.ravel())
        for lib_name, lib in libs.items():
            values: dict[int, np.ndarray] = {graph.inputs[0]: x.ravel()}
            for call in calls:
                out_t = graph.tensors[call.outputs[0]]
                y = lib.run(call, [values[i] for i in call.inputs], out_t.size)
                want = golden[call.outputs[0]]
                if not np.array_equal(y, want):
                    diff = np.abs(y.astype(np.int32) - want.astype(np.int32))
                    raise AssertionError(
                        f"{conv.name} input {k} [{lib_name}]: op {call.op_index} {call.opcode} "
                        f"({call.function}) differs from TFLM in {int((diff > 0).sum())}/{y.size} values, "
                        f"max |diff| {int(diff.max())}; params {call.params}"
                    )
                values[call.outputs[0]] = y
                n_ops += 1
    return {"ops": len(calls), "checked": n_ops}


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_single_op_models_bit_exact(name: str, models: ModelCache, kernel_libs: dict[str, NativeKernels],
                                    tflm: Any) -> None:  # fmt: skip
    conv = models.get(name)
    graph = tflite.parse_tflite(conv.data)
    kinds = {op.opcode for op in graph.ops}
    expected = {
        "conv_c3": {"CONV_2D"}, "conv_c8": {"CONV_2D"}, "pointwise": {"CONV_2D"},
        "dw_c8": {"DEPTHWISE_CONV_2D"}, "dw_c5": {"DEPTHWISE_CONV_2D"}, "add": {"ADD"},
        "pool": {"AVERAGE_POOL_2D", "MEAN"}, "mean_big": {"MEAN"}, "fc_tensor": {"FULLY_CONNECTED"},
        "fc_channel": {"FULLY_CONNECTED"}, "flatten_fc": {"RESHAPE", "FULLY_CONNECTED"},
        "softmax": {"SOFTMAX", "FULLY_CONNECTED"}, "pw_pairs": {"CONV_2D"},
    }[name]  # fmt: skip
    assert expected <= kinds, kinds
    if name == "fc_channel":
        fc = next(op for op in graph.ops if op.opcode == "FULLY_CONNECTED")
        assert graph.tensors[fc.inputs[1]].per_channel
    if name == "fc_tensor":
        fc = next(op for op in graph.ops if op.opcode == "FULLY_CONNECTED")
        assert not graph.tensors[fc.inputs[1]].per_channel
    stats = _compare_with_tflm(conv, kernel_libs, tflm)
    assert stats["checked"] == stats["ops"] * N_INPUTS * len(kernel_libs)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(N_RANDOM_GRAPHS))
def test_random_mbv2_graphs_bit_exact(seed: int, models: ModelCache, kernel_libs: dict[str, NativeKernels],
                                      tflm: Any) -> None:  # fmt: skip
    conv = models.get(f"mbv2_{seed}")
    graph = tflite.parse_tflite(conv.data)
    kinds = [op.opcode for op in graph.ops]
    assert kinds[-2:] == ["MEAN", "FULLY_CONNECTED"] and "DEPTHWISE_CONV_2D" in kinds
    _compare_with_tflm(conv, kernel_libs, tflm)


def _softmax_rows(rng: np.random.Generator, rows: int, depth: int) -> np.ndarray:
    """Edge rows first (all equal at -128, 0 and 127; one maximum, the rest -128; two maxima; a
    ramp over every int8 value; values just inside and outside any diff_min), then random rows."""
    edge = [
        np.full(depth, -128), np.zeros(depth, int), np.full(depth, 127),
        np.where(np.arange(depth) == 3, 127, -128), np.where(np.arange(depth) % 97 == 5, 40, -100),
        np.arange(depth) % 256 - 128, 127 - np.arange(depth) % 256,
        np.where(np.arange(depth) % 2 == 0, 127, 127 - np.arange(depth) % 64),
    ]
    out = np.empty((rows, depth), np.int8)
    for r in range(rows):
        if r < len(edge):
            out[r] = edge[r]
        elif r % 2:
            out[r] = rng.integers(-128, 128, depth)
        else:  # a few large values on a low floor
            row = rng.integers(-128, -60, depth)
            row[rng.integers(0, depth, 4)] = rng.integers(60, 128, 4)
            out[r] = row
    return out


@pytest.mark.slow
@pytest.mark.parametrize("data_range", [0.02, 0.5, 4.0, 60.0, 6000.0])
def test_softmax_edge_inputs_bit_exact(data_range: float, kernel_libs: dict[str, NativeKernels], tflm: Any) -> None:
    """SOFTMAX straight on the int8 input, for input scales from 1.6e-4 to 47 (the largest caps
    TFLM's input multiplier at 2^31 - 1, diff_min 0): edge and random rows, bit for bit."""
    tf = pytest.importorskip("tensorflow")
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    shape = (1, 24, 256)
    fn = tf.function(lambda t: tf.nn.softmax(t, axis=-1)).get_concrete_function(tf.TensorSpec(shape, tf.float32))
    conv = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
    rng = np.random.default_rng(int(data_range * 100))

    def rep() -> Iterator[list[np.ndarray]]:
        for _ in range(4):
            yield [rng.uniform(-data_range, data_range, shape).astype(np.float32)]

    set_int8_options(conv, rep)
    data = conv.convert()
    graph = tflite.parse_tflite(data)
    assert [op.opcode for op in graph.ops] == ["SOFTMAX"]
    (call,) = lowering.lower_graph(graph)
    x_t = graph.tensors[graph.inputs[0]]
    mult, shift, diff_min = requant.softmax_params(x_t.qscale)
    assert (call.params["input_multiplier"], call.params["input_left_shift"], call.params["diff_min"]) == (
        mult, shift, diff_min)
    if data_range > 1000:
        assert (mult, shift, diff_min) == ((1 << 31) - 1, 31, 0)
    interp = tflm.Interpreter.from_bytes(data, arena_size=1 << 20)
    for seed in range(3):
        x = _softmax_rows(np.random.default_rng(seed), shape[1], shape[2]).reshape(shape)
        interp.set_input(x, 0)
        interp.invoke()
        want = np.asarray(interp.get_output(0)).ravel()
        for lib_name, lib in kernel_libs.items():
            y = lib.run(call, [x.ravel()], x.size)
            bad = np.flatnonzero(y != want)
            assert bad.size == 0, (f"{lib_name}: {bad.size} of {y.size} softmax outputs differ from TFLM "
                                   f"(scale {float(x_t.qscale):g}, first at row {bad[0] // shape[2]})")


@pytest.mark.slow
def test_softmax_1000_classes(kernel_libs: dict[str, NativeKernels], tflm: Any) -> None:
    """A 1000-class softmax (mcu-imagenet) is bit-exact with TFLM on rows TFLM can run; a row with
    hundreds of maxima (sum of exponentials >= 2^28), where the host TFLM aborts on gemmlowp's
    exponent assertion, gives -128 everywhere but in range, never garbage."""
    tf = pytest.importorskip("tensorflow")
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    shape = (1, 6, 1000)
    fn = tf.function(lambda t: tf.nn.softmax(t, axis=-1)).get_concrete_function(tf.TensorSpec(shape, tf.float32))
    conv = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
    rng = np.random.default_rng(4)

    def rep() -> Iterator[list[np.ndarray]]:
        for _ in range(4):
            yield [rng.uniform(-6, 6, shape).astype(np.float32)]

    set_int8_options(conv, rep)
    data = conv.convert()
    graph = tflite.parse_tflite(data)
    (call,) = lowering.lower_graph(graph)
    interp = tflm.Interpreter.from_bytes(data, arena_size=1 << 20)
    x = rng.integers(-128, 128, shape).astype(np.int8)
    x[0, 1, :] = np.where(np.arange(1000) % 100 == 7, 127, -128)  # ten maxima, the rest far below
    x[0, 2, :] = np.where(np.arange(1000) < 500, 100, -128)  # 500 maxima: sum 500 * 2^19, just below 2^28
    interp.set_input(x, 0)
    interp.invoke()
    want = np.asarray(interp.get_output(0)).ravel()
    for lib in kernel_libs.values():
        assert np.array_equal(lib.run(call, [x.ravel()], x.size), want)
        flat = np.zeros(shape, np.int8)  # 1000 equal maxima: no TFLM reference (it aborts)
        assert np.array_equal(lib.run(call, [flat.ravel()], flat.size), np.full(flat.size, -128, np.int8))


def _solve_dot(w: np.ndarray, target: int, off: int, rng: np.random.Generator) -> np.ndarray | None:
    """An int8 vector x with sum(w * (x + off)) == target, or None."""
    w = w.astype(np.int64)
    x = np.full(w.size, int(np.clip(-off, -128, 127)), dtype=np.int64)
    r = target - int((w * (x + off)).sum())
    for i in np.argsort(-np.abs(w)):  # greedy, largest weights first
        if w[i] != 0 and r != 0:
            nx = int(np.clip(x[i] + round(r / int(w[i])), -128, 127))
            r -= int(w[i]) * (nx - int(x[i]))
            x[i] = nx
    for _ in range(50000):  # then single steps that shrink the residual
        if r == 0:
            return x
        i = int(rng.integers(w.size))
        wi = int(w[i])
        if wi == 0:
            continue
        step = 1 if (r > 0) == (wi > 0) else -1
        if abs(r - wi * step) < abs(r) and -128 <= x[i] + step <= 127:
            x[i] += step
            r -= wi * step
    return x if r == 0 else None


@pytest.mark.slow
def test_fc_multiplier_matches_host_tflm(models: ModelCache, kernel_libs: dict[str, NativeKernels],
                                         tflm: Any) -> None:  # fmt: skip
    """Per-tensor FC: find an accumulator that rounds differently with the float32-product and
    the double-product multiplier, build an input that produces it, and check which one the
    installed TFLM uses (the lowering's default must agree)."""
    tf, keras = models.tf, models.keras
    lib = kernel_libs["portable"]
    rng = np.random.default_rng(0)
    for seed in range(7, 12):
        keras.utils.set_random_seed(seed)
        x_in = keras.Input((512,), batch_size=1)
        dense = keras.layers.Dense(16, bias_initializer=_random_bias(keras))
        data = _convert(tf, keras.Model(x_in, [dense(x_in)]), (1, 512), 3)
        graph = tflite.parse_tflite(data)
        call = lowering.lower_graph(graph)[0]
        op = graph.ops[0]
        xt, wt, yt = (graph.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        mf, sf = requant.fc_multiplier(xt.qscale, wt.qscale, yt.qscale, product="float32")
        md, sd = requant.fc_multiplier(xt.qscale, wt.qscale, yt.qscale)
        assert (int(call.arrays["out_mult"][0]), int(call.arrays["out_shift"][0])) == (md, sd)
        if (mf, sf) == (md, sd):
            continue
        real = md * 2.0 ** (sd - 31)
        span = int(300 / real)
        acc = np.arange(-span, span, dtype=np.int64)
        out_f = lib.requant(acc, np.full(acc.size, mf), np.full(acc.size, sf)) + yt.qzero
        out_d = lib.requant(acc, np.full(acc.size, md), np.full(acc.size, sd)) + yt.qzero
        cand = acc[(out_f != out_d) & (np.abs(out_d) < 127)]
        assert wt.data is not None
        bias = graph.tensors[op.inputs[2]].data
        assert bias is not None
        interp = tflm.Interpreter.from_bytes(data, arena_size=1 << 20)
        for a in cand[:4]:
            for o in range(16):
                x = _solve_dot(wt.data[o], int(a) - int(bias[o]), -xt.qzero, rng)
                if x is None:
                    continue
                x8 = x.astype(np.int8)
                interp.set_input(x8.reshape(1, 512), 0)
                interp.invoke()
                got = np.asarray(interp.get_output(0)).ravel()
                i = int(np.searchsorted(acc, a))
                assert got[o] == out_d[i] != out_f[i], "host TFLM no longer uses the double product"
                assert np.array_equal(lib.run(call, [x8], 16), got)
                return
    pytest.skip("no distinguishing accumulator found for these seeds")


# ------------------------------------------------------------------------------------------
# Parser errors
# ------------------------------------------------------------------------------------------


def test_not_a_tflite_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"hello world, certainly not a flatbuffer")
    with pytest.raises(UserError, match="not a TFLite model"):
        tflite.load_tflite(bad)
    with pytest.raises(UserError, match="cannot read"):
        tflite.load_tflite(tmp_path / "missing.tflite")
    with pytest.raises(UserError):
        tflite.parse_tflite(b"")


@pytest.mark.slow
def test_corrupt_and_unsupported(models: ModelCache, tmp_path: Path) -> None:
    data = models.get("dw_c5").data
    with pytest.raises(UserError):
        tflite.parse_tflite(data[: len(data) // 3])
    graph = tflite.parse_tflite(data)
    lowering.check_supported(graph)
    ops = list(graph.ops)
    ops[0] = dataclasses.replace(ops[0], opcode="LOGISTIC")
    with pytest.raises(UserError, match="LOGISTIC"):
        lowering.check_supported(dataclasses.replace(graph, ops=tuple(ops)))
    ops[0] = dataclasses.replace(graph.ops[0], options={**graph.ops[0].options, "dilation_h_factor": 2})
    with pytest.raises(UserError, match="dilation"):
        lowering.check_supported(dataclasses.replace(graph, ops=tuple(ops)))
    with pytest.raises(UserError, match="DEPTHWISE_CONV_2D"):
        lowering.lower_op(graph, ops[0])


# ------------------------------------------------------------------------------------------
# Cross-compilation for Cortex-M
# ------------------------------------------------------------------------------------------

ARM_CPUS: dict[str, list[str]] = {
    "cortex-m0": ["-mcpu=cortex-m0", "-mthumb", "-masm-syntax-unified"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m7": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"],
}


@pytest.mark.parametrize("cpu", sorted(ARM_CPUS))
def test_arm_cross_compile(cpu: str, tmp_path: Path) -> None:
    gcc = require_tool("arm-none-eabi-gcc")
    objdump = require_tool("arm-none-eabi-objdump")
    dsp_seen = False
    for src in sorted(KERNELS.glob("*.c")):
        obj = tmp_path / (src.stem + ".o")
        for opt in ("-O2", "-Os"):
            cmd = [gcc, *ARM_CPUS[cpu], *CFLAGS, opt, "-ffunction-sections", "-c", str(src), "-o", str(obj)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stderr}"
        dis = subprocess.run([objdump, "-d", str(obj)], capture_output=True, text=True, check=True).stdout
        dsp_seen |= "smlad" in dis or "smlabb" in dis
    assert dsp_seen == (cpu != "cortex-m0"), "DSP path should be compiled exactly on cores that have it"


@pytest.mark.parametrize("variant", ["m4", "m0"])
def test_qemu_requant_matches_reference(variant: str, tmp_path: Path) -> None:
    """ofa_requant as the kernels run it (ARMv7-M: the SMULL/ADC assembly; ARMv6-M: the C form)
    equals ofa_requant_ref in QEMU on 200 k random and edge values (the same check runs on tens
    of millions with benchmarks/requant_qemu.py --n 30000000)."""
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-objdump", "qemu-system-arm"):
        require_tool(tool)
    bench = load_benchmark("requant_qemu")
    res = bench.run(variant, 200_000, tmp_path)
    assert res["checked"] > 200_000
    assert res["ok"], res["log"]
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(tmp_path / f"requant-{variant}.elf")],
                         capture_output=True, text=True, check=True).stdout
    # the assembly form is what ARMv7-M code runs (its rounding shift sets the carry)
    assert ("smull" in dis and "asrs.w" in dis) == (variant == "m4")


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["m4-dsp", "m0", "m4-dsp-O0"])
@pytest.mark.parametrize("model", ["mbv2_3", "add", "pw_pairs"])
def test_qemu_cortex_m_bit_exact(variant: str, model: str, models: ModelCache, tflm: Any, tmp_path: Path) -> None:
    """The real DSP instructions (Cortex-M4) and ARMv6-M code, run in QEMU, give TFLM's bytes: a
    MobileNetV2-like graph, ADDs without and with fused ReLU / ReLU6 (the DSP ADD loop's SSAT
    and clamp forms; fails with the rounding carry's ADC of its output stage made an ADD), and 1x1
    convs of the pointwise pair path with in_c 4, 12, 20 and 24 (fails when the loop is always
    entered at its first half). m4-dsp-O0: an unoptimized build compiles (no assembly blocks, which
    gcc cannot allocate at -O0) and its C loops give the same bytes."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        require_tool(tool)
    bench = load_benchmark("kernels_qemu")
    conv = models.get(model)
    graph = tflite.parse_tflite(conv.data)
    calls = lowering.lower_graph(graph)
    x = np.random.default_rng(5).integers(-128, 128, conv.input_shape).astype(np.int8)
    golden = bench.tflm_tensors(conv.data, graph, x)
    main_c = tmp_path / "bench_model.c"
    main_c.write_text(bench.generate(graph, calls, x, golden))
    run = bench.build_and_run(variant, tmp_path, main_c)
    assert run["all_ok"], [o for o in run["ops"] if not o["ok"]]
    assert len(run["ops"]) == len(calls)
    assert run["instructions_per_tick"] > 0


def _run_grid_bit_exact(bench: Any, layers: list[Any], variant: str, tmp_path: Path) -> None:
    """Run a shape benchmark's layers (dw_qemu / convfc_qemu) in QEMU: every case equals the numpy
    model of TFLM's arithmetic and was timed."""
    res = bench.run(layers, variant, tmp_path, reps=1)
    bad = [(L.describe(), c["function"]) for L in layers for c in L.cases if not c["ok"]]
    assert res["all_ok"] and not bad, (bad[:10], res["log"][-500:])
    assert all(c["instructions"] > 0 for L in layers for c in L.cases)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["m4-dsp", "m0"])
def test_qemu_depthwise_variants_bit_exact(variant: str, tmp_path: Path) -> None:
    """Every depthwise variant that can run a layer, on real Cortex-M4 DSP code (SMLAD, the
    four-output steps of the 3x3 and k x k planes, the assembly output stage) and ARMv6-M code in
    QEMU, out of place and in place, equals the numpy model of TFLM's arithmetic: kernels 3/5/7,
    strides 1/2, planes 2x2 to 16x16, channel counts that leave 0, 2 or 4 channels after groups of
    4 and 8, shift-0 and left-shift channels, no bias, and single output rows of a fused expand +
    depthwise conv (benchmarks/dw_qemu.py --grid --all-variants)."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        require_tool(tool)
    bench = load_benchmark("dw_qemu")
    dsp = variant.endswith("dsp")
    layers = bench.grid(np.random.default_rng(13), dsp)
    cases = [(L.describe(), c["function"]) for L in layers for c in L.cases]
    # the grid reaches every variant, in place and not, and the shapes the brief names
    assert {fn for _, fn in cases} == {f"ofa_depthwise_s8{ip}_{v}" for ip in ("", "_inplace") for v in variants.DW_VARIANTS
                                       if v != "plane_k" or dsp}
    _run_grid_bit_exact(bench, layers, variant, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["m4-dsp", "m0"])
def test_qemu_conv_pointwise_fc_bit_exact(variant: str, tmp_path: Path) -> None:
    """The first conv's patch loop (DSP: the widened-window assembly step and its 1-3 taps past the
    last weight row), the pointwise pair path (DSP: the assembly loop's 8-channel passes and its single
    4-channel step, in_c % 8 == 4) and the fully connected loops (DSP: the 4-row assembly loop, the
    last pass over the last four rows, two rows at a time) on real Cortex-M4 DSP code and ARMv6-M code
    in QEMU, every entry point that can run each layer, equal the numpy model of TFLM's arithmetic
    (benchmarks/convfc_qemu.py --grid --all-variants; about 10 s each)."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        require_tool(tool)
    bench = load_benchmark("convfc_qemu")
    dsp = variant.endswith("dsp")
    layers = bench.grid(np.random.default_rng(17), dsp)
    fns = {c["function"] for L in layers for c in L.cases}
    assert {"ofa_conv_s8_patch", "ofa_conv_s8_rows", "ofa_pointwise_s8", "ofa_fully_connected_s8",
            "ofa_fully_connected_s8_x4", "ofa_fully_connected_s8_x2"} <= fns
    pw_pairs = [L for L in layers for c in L.cases if c["function"] == "ofa_pointwise_s8_pairs"]
    if dsp:  # the pair path with and without its single 4-channel step
        assert {L.params["in_c"] % 8 for L in pw_pairs} == {0, 4}
    patch = [L for L in layers for c in L.cases if c["function"] == "ofa_conv_s8_patch"]
    assert {L.params["k_h"] * L.params["k_w"] * L.params["in_c"] % 4 for L in patch} == {0, 1, 2, 3}
    _run_grid_bit_exact(bench, layers, variant, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["m4-dsp", "m0"])
def test_qemu_softmax_bit_exact(variant: str, models: ModelCache, tflm: Any, tmp_path: Path) -> None:
    """ofa_softmax_s8 (and the FC layers before it) built for Cortex-M4 and ARMv6-M, run in QEMU:
    every op's output equals TFLM's, on a random and an all-equal input."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        require_tool(tool)
    bench = load_benchmark("kernels_qemu")
    conv = models.get("softmax")
    graph = tflite.parse_tflite(conv.data)
    calls = lowering.lower_graph(graph)
    assert sum(c.function == "ofa_softmax_s8" for c in calls) == 4
    for k, x in enumerate((np.random.default_rng(9).integers(-128, 128, conv.input_shape).astype(np.int8),
                           np.full(conv.input_shape, 7, np.int8))):
        golden = bench.tflm_tensors(conv.data, graph, x)
        main_c = tmp_path / f"bench_model{k}.c"
        main_c.write_text(bench.generate(graph, calls, x, golden))
        run = bench.build_and_run(variant, tmp_path, main_c)
        assert run["all_ok"], [o for o in run["ops"] if not o["ok"]]
        assert len(run["ops"]) == len(calls)


# ------------------------------------------------------------------------------------------
# Kernels against a numpy model of TFLM's arithmetic, on random shapes (no TensorFlow needed)
# ------------------------------------------------------------------------------------------


# benchmarks/int8_reference.py: TFLM's arithmetic in numpy (requantization, conv, depthwise conv)
_REF = load_benchmark("int8_reference")
_np_requant = _REF.requant


def _np_conv(call: lowering.KernelCall, x: np.ndarray, depthwise: bool) -> np.ndarray:
    """Conv / depthwise conv as TFLM computes it: skipped out-of-image taps == zero-point padding."""
    return _REF.conv(call.params, call.arrays, x, depthwise=depthwise)


def _conv_call(rng: np.random.Generator, function: str, h: int, w: int, c_in: int, c_out: int, kh: int, kw: int,
               sh: int, sw: int, padding: str) -> lowering.KernelCall:
    call = _random_conv(rng, function, h, w, c_in, c_out, 1, 1, "VALID")
    oh, pt, _ = compute_padding(h, kh, sh, padding)
    ow, pl, _ = compute_padding(w, kw, sw, padding)
    call.params.update(out_h=oh, out_w=ow, k_h=kh, k_w=kw, stride_h=sh, stride_w=sw, pad_top=pt, pad_left=pl,
                       act_min=int(rng.integers(-128, -100)))
    n = kh * kw * c_in if function == "ofa_depthwise_s8" else c_out * c_in * kh * kw
    call.arrays["weights"] = rng.integers(-128, 128, n).astype(np.int8)
    if function == "ofa_depthwise_s8":
        call = dataclasses.replace(call, scratch_bytes=oh * ow)
    return call


@pytest.mark.parametrize("seed", range(8))
def test_conv_kernels_match_numpy_reference(kernel_libs: dict[str, NativeKernels], seed: int) -> None:
    """CONV_2D (first-conv patch loop: 1-7 input channels; row loop: more) and DEPTHWISE_CONV_2D on
    random shapes, kernels (non-square too), strides, paddings and offsets, portable and DSP code,
    against a numpy model of TFLM's arithmetic."""
    rng = np.random.default_rng(300 + seed)
    for _ in range(10):
        kh, kw = (int(v) for v in rng.choice([1, 2, 3, 4, 5, 7, 10], 2))
        sh, sw = (int(v) for v in rng.integers(1, 4, 2))
        c_in = int(rng.choice([1, 2, 3, 4, 5, 7, 8, 12, 16, 19]))
        c_out = int(rng.choice([1, 2, 3, 5, 8, 16]))
        h, w = int(rng.integers(1, 24)), int(rng.integers(1, 24))
        padding = "VALID" if h >= kh and w >= kw and rng.random() < 0.3 else "SAME"
        conv = _conv_call(rng, "ofa_conv_s8", h, w, c_in, c_out, kh, kw, sh, sw, padding)
        dw = _conv_call(rng, "ofa_depthwise_s8", h, w, c_in, c_in, kh, kw, sh, sw, padding)
        x = rng.integers(-128, 128, h * w * c_in).astype(np.int8)
        want_conv, want_dw = _np_conv(conv, x, False), _np_conv(dw, x, True)
        for name, lib in kernel_libs.items():
            got = lib.conv(0, conv, x, want_conv.size)
            assert np.array_equal(got, want_conv), (name, conv.params)
            assert np.array_equal(lib.conv(2, dw, x, want_dw.size), want_dw), (name, dw.params)
            assert np.array_equal(lib.conv(3, dw, x, want_dw.size), want_dw), (name, "in place", dw.params)


@pytest.mark.parametrize("seed", range(4))
def test_add_and_fc_match_numpy_reference(kernel_libs: dict[str, NativeKernels], seed: int) -> None:
    """ADD (TFLM's multipliers from random scales, every int8 pair) and FULLY_CONNECTED (1-9 rows:
    the 4-row passes and their remainders) against a numpy model of TFLM's arithmetic."""
    rng = np.random.default_rng(400 + seed)
    x1, x2 = (a.ravel().astype(np.int8) for a in np.meshgrid(np.arange(-128, 128), np.arange(-128, 128)))
    for k in range(6):
        s1, s2, so = np.exp(rng.uniform(-6, 1, 3))
        s2 = s1 if k == 0 else s2  # equal scales: input shifts 0
        m = requant.add_multipliers(float(s1), float(s2), float(so))
        params = dict(size=x1.size, in1_offset=int(rng.integers(-127, 129)), in2_offset=int(rng.integers(-127, 129)),
                      out_offset=int(rng.integers(-128, 128)), act_min=int(rng.integers(-128, -60)),
                      act_max=int(rng.integers(60, 128)), **m)
        sa = _np_requant((x1.astype(np.int64) + params["in1_offset"]) << 20, m["in1_mult"], m["in1_shift"])
        sb = _np_requant((x2.astype(np.int64) + params["in2_offset"]) << 20, m["in2_mult"], m["in2_shift"])
        want = np.clip(_np_requant(sa + sb, m["out_mult"], m["out_shift"]) + params["out_offset"],
                       params["act_min"], params["act_max"]).astype(np.int8)
        for name, lib in kernel_libs.items():
            y = np.zeros(x1.size, np.int8)
            lib.lib.h_add(_ptr(_ints(params, ADD_FIELDS)), _ptr(x1), _ptr(x2), _ptr(y))
            assert np.array_equal(y, want), (name, params)
    for i in range(10):
        n_in, n_out, per_channel = int(rng.integers(1, 70)), int(rng.integers(1, 10)), int(rng.integers(0, 2))
        if i >= 6:
            n_out = 4 * int(rng.integers(1, 4))  # ofa_fully_connected_s8_x4 too
        mult, shift = requant.quantize_multipliers(rng.uniform(1e-4, 2e-2, n_out if per_channel else 1))
        params = dict(batches=2, in_features=n_in, out_features=n_out, in_offset=int(rng.integers(-127, 129)),
                      out_offset=int(rng.integers(-128, 128)), act_min=-128, act_max=int(rng.integers(0, 128)),
                      per_channel=per_channel)
        w = rng.integers(-128, 128, (n_out, n_in)).astype(np.int8)
        bias = rng.integers(-5000, 5000, n_out).astype(np.int32)
        x = rng.integers(-128, 128, (2, n_in)).astype(np.int8)
        acc = (x.astype(np.int64) + params["in_offset"]) @ w.T.astype(np.int64) + bias
        want = np.clip(_np_requant(acc, mult, shift.astype(np.int64)) + params["out_offset"], -128,
                       params["act_max"]).astype(np.int8).ravel()
        shift8 = shift.astype(np.int8)
        for name, lib in kernel_libs.items():
            y = np.zeros(2 * n_out, np.int8)
            lib.lib.h_fc(_ptr(_ints(params, FC_FIELDS)), _ptr(w), _ptr(bias), _ptr(mult), _ptr(shift8), _ptr(x), _ptr(y))
            assert np.array_equal(y, want), (name, params)
            for x4 in (1, 0) if n_out % 4 == 0 else (0,):  # the _x4 and _x2 entry points
                y[:] = 0
                assert lib.lib.h_fc_variant(x4, _ptr(_ints(params, FC_FIELDS)), _ptr(w), _ptr(bias), _ptr(mult),
                                            _ptr(shift8), _ptr(x), _ptr(y)) == 0
                assert np.array_equal(y, want), (name, x4, params)


def test_add_input_rescaling_matches_reference(kernel_libs: dict[str, NativeKernels]) -> None:
    """ADD's 32-bit input rescaling (ofa_add.h, no 64-bit multiply) equals TFLM's
    requant((x + offset) * 2^20, m, s) for every |v| <= 255, at every shift 0..-31, random and edge
    multipliers (the whole ADD's output hides a 1-LSB error here, so this is checked on its own)."""
    rng = np.random.default_rng(7)
    v = np.arange(-255, 256, dtype=np.int32)
    mults = [0, 1, 2047, 2048, (1 << 30), (1 << 31) - 1, *(int(m) for m in rng.integers(1 << 30, 1 << 31, 40))]
    for lib in kernel_libs.values():
        for shift in range(0, -32, -1):
            for m in mults:
                out = np.zeros_like(v)
                assert lib.lib.h_add_in(_ptr(v), v.size, m, shift, _ptr(out)) == 0
                want = _np_requant(v.astype(np.int64) << 20, m, shift)
                assert np.array_equal(out, want), (m, shift)
