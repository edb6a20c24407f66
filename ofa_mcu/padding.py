"""TensorFlow 'SAME' padding, shared by the supernet, static subnets and the IR.

TFLite pads a stride-2 convolution on an even input asymmetrically (less before than after);
torch's symmetric ``padding=k//2`` would shift the sampling grid by one pixel. The torch
models pad explicitly with these amounts so the exported graph needs no PAD op.
"""

from __future__ import annotations


def same_out(size: int, stride: int) -> int:
    """Output size of a SAME-padded convolution."""
    return -(-size // stride)


def same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of one spatial axis, as TensorFlow computes it."""
    total = max((same_out(size, stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2
