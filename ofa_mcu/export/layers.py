"""A static torch subnet as a flat list of BatchNorm-folded layers, ready for any NHWC builder.

``fold_subnet(net)`` walks a :class:`~ofa_mcu.supernet.extract.StaticSubnet` and returns a
:class:`FoldedNet`: convolutions (BatchNorm folded in float64, then cast to float32, weights in
TensorFlow's layouts), residual ADDs, the global mean and the classifier, in execution order.
Padding is checked to be exactly TensorFlow's SAME (``ZeroPad2d`` before a stride-2 conv on an
even input, torch's symmetric padding otherwise), so an NHWC builder uses ``padding="SAME"`` and
the converted graph needs no PAD op. No TensorFlow here: torch and numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ofa_mcu.padding import same_out, same_pad
from ofa_mcu.supernet.extract import StaticBlock, StaticSubnet


@dataclass
class FoldedConv:
    """A conv with BatchNorm folded in; ``weight`` is HWIO (conv) or HW C 1 (depthwise)."""

    name: str
    weight: np.ndarray
    bias: np.ndarray
    stride: int
    depthwise: bool
    relu6: bool

    @property
    def kernel(self) -> int:
        return int(self.weight.shape[0])


@dataclass
class FoldedNet:
    """The layers of one subnet in execution order.

    ``program`` holds ``("conv", FoldedConv)``, ``("save", None)`` (remember the current tensor as
    a residual input) and ``("add", None)`` (add the saved tensor to the current one) steps; then
    the global mean and the classifier (``fc_weight`` is in × out).
    """

    resolution: int
    in_channels: int
    program: list[tuple[str, FoldedConv | None]] = field(default_factory=list)
    fc_weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    fc_bias: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))

    @property
    def convs(self) -> list[FoldedConv]:
        return [c for kind, c in self.program if kind == "conv" and c is not None]


def _fold_conv(name: str, seq: nn.Sequential, size: int) -> tuple[FoldedConv, int]:
    """Fold one ``[ZeroPad2d] Conv2d BatchNorm2d [ReLU6]`` sequence; return it and the output size."""
    pad: tuple[int, int, int, int] | None = None
    conv: nn.Conv2d | None = None
    bn: nn.BatchNorm2d | None = None
    relu6 = False
    for m in seq:
        if isinstance(m, nn.ZeroPad2d):
            pad = tuple(int(p) for p in m.padding)  # (left, right, top, bottom)
        elif isinstance(m, nn.Conv2d):
            conv = m
        elif isinstance(m, nn.BatchNorm2d):
            bn = m
        elif isinstance(m, nn.ReLU6):
            relu6 = True
        else:
            raise ValueError(f"{name}: unexpected module {type(m).__name__} in a static subnet")
    if conv is None or bn is None:
        raise ValueError(f"{name}: expected a Conv2d followed by a BatchNorm2d")
    k, stride = conv.kernel_size[0], conv.stride[0]
    if conv.kernel_size != (k, k) or conv.stride != (stride, stride) or conv.dilation != (1, 1):
        raise ValueError(f"{name}: only square kernels and strides without dilation are supported")
    before, after = same_pad(size, k, stride)
    got = pad if pad is not None else (conv.padding[1], conv.padding[1], conv.padding[0], conv.padding[0])
    if pad is not None and conv.padding != (0, 0):
        raise ValueError(f"{name}: padding given twice")
    if tuple(got) != (before, after, before, after):
        raise ValueError(f"{name}: padding {got} is not TensorFlow SAME {(before, after)} for input {size}")
    with torch.no_grad():
        w = conv.weight.detach().double()
        scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.detach().double() + bn.eps)
        bias = bn.bias.detach().double() - bn.running_mean.detach().double() * scale
        if conv.bias is not None:
            bias = bias + conv.bias.detach().double() * scale
        w = w * scale.view(-1, 1, 1, 1)
    depthwise = conv.groups > 1
    if depthwise:
        if conv.groups != conv.in_channels or conv.out_channels != conv.in_channels:
            raise ValueError(f"{name}: only depthwise convs with multiplier 1 are supported")
        hwio = w.permute(2, 3, 0, 1)  # (C,1,kh,kw) -> (kh,kw,C,1)
    else:
        hwio = w.permute(2, 3, 1, 0)  # (O,I,kh,kw) -> (kh,kw,I,O)
    folded = FoldedConv(name, np.ascontiguousarray(hwio.numpy().astype(np.float32)),
                        bias.numpy().astype(np.float32), stride, depthwise, relu6)
    return folded, same_out(size, stride)


def fold_subnet(net: StaticSubnet) -> FoldedNet:
    """The BatchNorm-folded layers of ``net`` (eval-mode BatchNorm statistics)."""
    cfg = net.config
    size = cfg.resolution
    first_conv = next(m for m in net.stem if isinstance(m, nn.Conv2d))
    out = FoldedNet(resolution=size, in_channels=first_conv.in_channels)
    conv, size = _fold_conv("stem", net.stem, size)
    out.program.append(("conv", conv))
    names = ["first"] + [f"s{i}.b{j}" for i, j, _ in cfg.blocks()]
    blocks = list(net.blocks)
    if len(blocks) != len(names):
        raise ValueError(f"static subnet has {len(blocks)} blocks, its config {len(names)}")
    for prefix, block in zip(names, blocks):
        assert isinstance(block, StaticBlock)
        if block.residual:
            out.program.append(("save", None))
        parts = list(block.body)
        suffixes = ("dw", "pw") if len(parts) == 2 else ("expand", "dw", "project")
        for suffix, seq in zip(suffixes, parts):
            conv, size = _fold_conv(f"{prefix}.{suffix}", seq, size)
            out.program.append(("conv", conv))
        if block.residual:
            out.program.append(("add", None))
    with torch.no_grad():
        out.fc_weight = np.ascontiguousarray(net.classifier.weight.detach().double().T.numpy().astype(np.float32))
        out.fc_bias = net.classifier.bias.detach().double().numpy().astype(np.float32)
    return out
