"""The supernet: one torch module holding every subnet of a search space.

The active subnet is explicit state of the instance (``set_active`` / ``activate``), read only
by ``forward``; there are no class-level switches, so two supernets (say a student and its
frozen teacher) never interfere.

Weights and activations are kept channels-last (NHWC in memory): on CPU, oneDNN's convolutions
run a training step of these small inverted-residual networks 1.5-3x faster that way than in
PyTorch's default NCHW layout; the values computed are the same convolutions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ofa_mcu.config import SubnetConfig
from ofa_mcu.space import SearchSpace
from ofa_mcu.supernet.elastic import ElasticInvertedResidual, pad_same


class Supernet(nn.Module):
    """Stem conv, fixed first block, elastic inverted-residual stages, global pool, classifier."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        stem, first = space.stem, space.first_block
        self.stem_conv = nn.Conv2d(space.in_channels, stem.channels, stem.kernel, stem.stride, bias=False)
        self.stem_bn = nn.BatchNorm2d(stem.channels)
        self.first_dw = nn.Conv2d(stem.channels, stem.channels, 3, 1, 1, groups=stem.channels, bias=False)
        self.first_dw_bn = nn.BatchNorm2d(stem.channels)
        self.first_pw = nn.Conv2d(stem.channels, first.channels, 1, bias=False)
        self.first_pw_bn = nn.BatchNorm2d(first.channels)
        self.stages = nn.ModuleList()
        for in_ch, spec in zip(space.stage_in_channels, space.stages):
            blocks = nn.ModuleList(
                ElasticInvertedResidual(in_ch if j == 0 else spec.channels, spec.channels,
                                        spec.stride if j == 0 else 1, space.kernels, space.expands)
                for j in range(spec.max_depth)
            )
            self.stages.append(blocks)
        self.classifier = nn.Linear(space.last_channels, space.classes)
        self.active: SubnetConfig = SubnetConfig.max(space)
        self.to(memory_format=torch.channels_last)

    # ---- the active subnet -----------------------------------------------------------------
    def set_active(self, cfg: SubnetConfig) -> None:
        self.active = cfg.validate(self.space)

    @contextmanager
    def activate(self, cfg: SubnetConfig) -> Iterator[Supernet]:
        """Temporarily make ``cfg`` the active subnet."""
        previous = self.active
        self.set_active(cfg)
        try:
            yield self
        finally:
            self.active = previous

    # ---- forward ---------------------------------------------------------------------------
    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        x = pad_same(x, self.space.stem.kernel, self.space.stem.stride)
        x = F.relu6(self.stem_bn(self.stem_conv(x)))
        h = F.relu6(self.first_dw_bn(self.first_dw(x)))
        h = self.first_pw_bn(self.first_pw(h))
        x = x + h if self.first_residual else h
        for stage, choices in zip(self.stages, self.active.stages):
            for block, choice in zip(stage, choices):
                x = block(x, choice.kernel, choice.expand)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))

    @property
    def first_residual(self) -> bool:
        return self.space.stem.channels == self.space.first_block.channels

    # ---- elastic expand --------------------------------------------------------------------
    def sort_channels(self) -> None:
        """Re-order every block's hidden channels by importance (function unchanged)."""
        for stage in self.stages:
            for block in stage:
                block.sort_channels()

    def blocks(self) -> Iterator[tuple[int, int, ElasticInvertedResidual]]:
        for i, stage in enumerate(self.stages):
            for j, block in enumerate(stage):
                yield i, j, block
