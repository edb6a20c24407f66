"""TensorFlow / TFLite padding arithmetic: the one place it is written.

TFLite pads a stride-2 convolution on an even input asymmetrically (less before than after);
torch's symmetric ``padding=k//2`` would shift the sampling grid by one pixel. The torch
models pad explicitly with these amounts so the exported graph needs no PAD op; the layer IR
and the native lowering of a ``.tflite`` use the same functions.
"""

from __future__ import annotations

from ofa_mcu.errors import UserError


def same_out(size: int, stride: int) -> int:
    """Output size of a SAME-padded convolution."""
    return -(-size // stride)


def compute_padding(in_size: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> tuple[int, int, int]:
    """TFLite output size and (before, after) padding of one spatial dimension.

    SAME: out = ceil(in / stride); VALID: out = (in - k_eff) // stride + 1. Total padding
    max((out - 1) * stride + k_eff - in, 0); before = total // 2, after gets the odd one.
    """
    k_eff = (kernel - 1) * dilation + 1
    if padding == "SAME":
        out = same_out(in_size, stride)
    elif padding == "VALID":
        out = (in_size - k_eff + stride) // stride
    else:
        raise UserError(f"padding {padding} is not supported")
    total = max((out - 1) * stride + k_eff - in_size, 0)
    return out, total // 2, total - total // 2


def same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of one spatial axis, as TensorFlow computes it."""
    _, before, after = compute_padding(size, kernel, stride, "SAME")
    return before, after
