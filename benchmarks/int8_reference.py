"""TFLM's int8 arithmetic in numpy, the golden model of the kernel benchmarks and tests that run
without TensorFlow: requantization (MultiplyByQuantizedMultiplier with its two roundings), CONV_2D
and DEPTHWISE_CONV_2D (out-of-image taps skipped, which equals zero-point padding), and
FULLY_CONNECTED, on the parameter and array dicts of ``ofa_mcu.native.lowering`` (int8 NHWC).

Used by ``dw_qemu.py``, ``convfc_qemu.py`` and tests/test_kernels.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def requant(acc: Any, m: Any, s: Any) -> np.ndarray:
    """TFLM MultiplyByQuantizedMultiplier (double rounding) on int64 arrays, m >= 0."""
    acc, m, s = (np.asarray(v, dtype=np.int64) for v in (acc, m, s))
    xs = ((acc << np.maximum(s, 0)) + (1 << 31)) % (1 << 32) - (1 << 31)
    ab = xs * m
    t = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    y = np.where(t < 0, -((-t) >> 31), t >> 31)
    e = np.maximum(-s, 0)
    mask = (np.int64(1) << e) - 1
    return (y >> e) + ((y & mask) > (mask >> 1) + (y < 0)).astype(np.int64)


def _output(acc: np.ndarray, p: dict[str, int], a: dict[str, np.ndarray], bias: bool) -> np.ndarray:
    if bias:
        acc = acc + a["bias"].astype(np.int64)
    y = requant(acc, a["out_mult"], a["out_shift"])
    return np.clip(y + p["out_offset"], p["act_min"], p["act_max"]).astype(np.int8).ravel()


def conv(p: dict[str, int], a: dict[str, np.ndarray], x: np.ndarray, depthwise: bool = False,
         bias: bool = True) -> np.ndarray:
    """CONV_2D (weights [out_c][k_h][k_w][in_c]) or DEPTHWISE_CONV_2D (weights [k_h][k_w][c]) as
    TFLM's reference kernels compute them."""
    h, w, c = p["in_h"], p["in_w"], p["in_c"]
    kh, kw, sh, sw = p["k_h"], p["k_w"], p["stride_h"], p["stride_w"]
    oh, ow = p["out_h"], p["out_w"]
    zp = -p["in_offset"]
    big = np.full((p["pad_top"] + h + kh + sh * oh, p["pad_left"] + w + kw + sw * ow, c), zp, np.int64)
    big[p["pad_top"]:p["pad_top"] + h, p["pad_left"]:p["pad_left"] + w] = x.reshape(h, w, c)
    xo = big + p["in_offset"]
    win = np.stack([np.stack([xo[ky:ky + sh * oh:sh, kx:kx + sw * ow:sw] for kx in range(kw)], 2)
                    for ky in range(kh)], 2)  # [oh][ow][kh][kw][c]
    wts = a["weights"].astype(np.int64)
    if depthwise:
        acc = np.einsum("yxhwc,hwc->yxc", win, wts.reshape(kh, kw, c))
    else:
        acc = np.einsum("yxhwc,ohwc->yxo", win, wts.reshape(p["out_c"], kh, kw, c))
    return _output(acc, p, a, bias)


def fully_connected(p: dict[str, int], a: dict[str, np.ndarray], x: np.ndarray, bias: bool = True) -> np.ndarray:
    """FULLY_CONNECTED as TFLM computes it (per-tensor or per-channel multipliers)."""
    w = a["weights"].astype(np.int64).reshape(p["out_features"], p["in_features"])
    acc = (x.reshape(p["batches"], -1).astype(np.int64) + p["in_offset"]) @ w.T
    return _output(acc, p, a, bias)
