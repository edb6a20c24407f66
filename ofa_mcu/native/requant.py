"""TFLM's requantization arithmetic, reproduced exactly (pure numpy).

What TFLM's kernels compute in ``Prepare`` from the float32 scales of a model:
:func:`quantize_multiplier` (frexp, round half away from zero to Q31, the 2^31 and tiny cases),
:func:`conv_multipliers`, :func:`fc_multiplier` (float32 vs double scale product: TFLM's source
and the host package disagree), :func:`add_multipliers`, :func:`mean_multiplier` (TFLM's
run-time folding of 1/N), :func:`softmax_params` (int8 SOFTMAX's input scaling and radius) and
:func:`activation_range` (float32 division, as TFLM does). The
native lowering turns a model into kernel parameters with these; the kernel tests check them.
"""

from __future__ import annotations

import numpy as np

from ofa_mcu.errors import UserError


def round_half_away(x: np.ndarray | float) -> np.ndarray:
    """``std::round`` (ties away from zero), exactly, elementwise; keeps the float dtype."""
    a = np.asarray(x)
    t = np.trunc(a)
    frac = a - t  # exact for |a| < 2^52 (float64) / 2^23 (float32)
    return t + np.where(np.abs(frac) >= 0.5, np.sign(a), 0).astype(a.dtype)


def quantize_multipliers(real: np.ndarray | list[float] | float) -> tuple[np.ndarray, np.ndarray]:
    """TFLM ``QuantizeMultiplier`` elementwise: real = mult * 2^(shift - 31).

    Returns (int32 multipliers in [2^30, 2^31), int32 shifts; shift > 0 is a left shift).
    0 gives (0, 0); |real| < 2^-32 or so is flushed to (0, 0) as TFLM does.
    """
    r = np.atleast_1d(np.asarray(real, dtype=np.float64))
    mant, exp = np.frexp(r)
    q = round_half_away(mant * float(1 << 31)).astype(np.int64)
    exp = exp.astype(np.int64)
    full = q == (1 << 31)
    q[full] //= 2
    exp[full] += 1
    tiny = exp < -31
    q[tiny] = 0
    exp[tiny] = 0
    return q.astype(np.int32), exp.astype(np.int32)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Scalar :func:`quantize_multipliers`."""
    m, s = quantize_multipliers(real)
    return int(m[0]), int(s[0])


def conv_multipliers(
    input_scale: float, filter_scales: np.ndarray | list[float], output_scale: float, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mult, shift) of CONV_2D / DEPTHWISE_CONV_2D / per-channel FC.

    TFLM: double(input_scale) * double(filter_scale[c]) / double(output_scale), the float32
    scales widened first; a single filter scale is broadcast to all channels.
    """
    ws = np.asarray(filter_scales, dtype=np.float32).astype(np.float64).ravel()
    if ws.size == 1:
        ws = np.full(channels, ws[0])
    if ws.size != channels:
        raise UserError(f"{ws.size} filter scales for {channels} output channels")
    eff = np.float64(np.float32(input_scale)) * ws / np.float64(np.float32(output_scale))
    return quantize_multipliers(eff)


def fc_multiplier(
    input_scale: float, filter_scale: float, output_scale: float, product: str = "double"
) -> tuple[int, int]:
    """Per-tensor FULLY_CONNECTED (mult, shift): input_scale * filter_scale / output_scale.

    TFLM's source (GetQuantizedConvolutionMultipler, unchanged since 2021) forms the product of
    the two float32 scales in float32 and widens it afterwards, which is what a Cortex-M build
    of TFLM computes (``product="float32"``). The installed ``tflite-micro`` host package,
    however, multiplies in double (its x86 binary does cvtss2sd, mulsd), and that is the
    bit-exactness reference of the native runtime, hence the default ``"double"``. The two
    Q31 multipliers differ for most models; the outputs differ by one only for rare
    accumulator values (tests/test_kernels.py constructs one).
    """
    a, b, c = np.float32(input_scale), np.float32(filter_scale), np.float32(output_scale)
    if product == "double":
        prod = np.float64(a) * np.float64(b)
    elif product == "float32":
        prod = np.float64(a * b)
    else:
        raise ValueError(f"product must be 'double' or 'float32', not {product!r}")
    return quantize_multiplier(float(prod / np.float64(c)))


def add_multipliers(scale1: float, scale2: float, output_scale: float) -> dict[str, int]:
    """TFLM int8 ADD Prepare: input and output multipliers for left shift 20.

    twice_max = 2 * double(max(s1, s2)); in_i = double(s_i) / twice_max;
    out = twice_max / (2^20 * double(s_out)).
    """
    s1, s2, so = np.float32(scale1), np.float32(scale2), np.float32(output_scale)
    twice_max = 2.0 * np.float64(max(s1, s2))
    m1, sh1 = quantize_multiplier(float(np.float64(s1) / twice_max))
    m2, sh2 = quantize_multiplier(float(np.float64(s2) / twice_max))
    mo, sho = quantize_multiplier(float(twice_max / (float(1 << 20) * np.float64(so))))
    return {
        "in1_mult": m1,
        "in1_shift": sh1,
        "in2_mult": m2,
        "in2_shift": sh2,
        "out_mult": mo,
        "out_shift": sho,
    }


def mean_multiplier(input_scale: float, output_scale: float, num_elements: int) -> tuple[int, int]:
    """(mult, shift) of int8 MEAN over ``num_elements`` values, 1/N folded in as TFLM folds it.

    TFLM: (m, s) = QuantizeMultiplier(double(in_scale) / double(out_scale)); then at run time
    k = min(floor(log2 N), 32, 31 + s), m' = int32((int64(m) << k) / N), s' = s - k; the
    output is MultiplyByQuantizedMultiplier(sum - in_zp * N, m', s') + out_zp.
    """
    n = int(num_elements)
    if n <= 0:
        raise UserError("MEAN over an empty axis")
    m, s = quantize_multiplier(
        float(np.float64(np.float32(input_scale)) / np.float64(np.float32(output_scale)))
    )
    k = min(n.bit_length() - 1, 32, 31 + s)
    # int64 arithmetic; m >= 0 so floor division equals C's truncation
    m2 = (m << k) // n
    return int(np.int32(m2)), s - k


#: Integer bits of the Q5.26 input TFLM's int8 softmax feeds to exp().
SOFTMAX_DIFF_INTEGER_BITS = 5
#: The int8 softmax output TFLM requires: scale 1/256, zero point -128.
SOFTMAX_OUTPUT_SCALE = np.float32(1.0 / 256.0)
SOFTMAX_OUTPUT_ZERO_POINT = -128


def softmax_params(input_scale: float, beta: float = 1.0) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) of TFLM's int8 SOFTMAX.

    TFLM CalculateSoftmaxParams: PreprocessSoftmaxScaling(double(beta), double(input_scale), 5)
    = QuantizeMultiplierGreaterThanOne(min(beta * scale * 2^26, 2^31 - 1)) (left shift >= 0), and
    diff_min = -floor(31 * 2^26 / 2^left_shift) (CalculateInputRadius). ``UserError`` when
    beta * scale * 2^26 <= 1 (TFLM's check fails there too).
    """
    real = float(np.float64(np.float32(beta)) * np.float64(np.float32(input_scale)))
    real = min(real * float(1 << (31 - SOFTMAX_DIFF_INTEGER_BITS)), float((1 << 31) - 1))
    if not real > 1.0:
        raise UserError(f"softmax input scale {float(input_scale):g} x beta {float(beta):g} is too small "
                        "(TFLM needs beta * scale * 2^26 > 1)")
    mult, shift = quantize_multiplier(real)
    radius = ((1 << SOFTMAX_DIFF_INTEGER_BITS) - 1) * float(1 << (31 - SOFTMAX_DIFF_INTEGER_BITS)) / float(1 << shift)
    return mult, shift, -int(np.floor(radius))


def activation_range(
    activation: str, scale: float, zero_point: int, qmin: int = -128, qmax: int = 127
) -> tuple[int, int]:
    """TFLM CalculateActivationRangeQuantized: zp + round(f / scale) in float32, clipped."""

    def q(f: float) -> int:
        return int(zero_point) + int(round_half_away(np.float32(f) / np.float32(scale)))

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, q(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise UserError(f"fused activation {activation} is not supported by the native kernels")

