"""Elastic layers: weights stored at the largest size, sliced or transformed per forward call.

Each layer takes the active choice as a forward argument; no layer keeps a mode flag.
- ``ElasticDepthwise``: 7x7 weights; 5x5 and 3x3 kernels are centre crops followed by a learned
  per-layer linear transform (identity at init), chained 7 -> 5 -> 3 as in Once-for-All.
- ``ElasticPointwise``: 1x1 conv using the first ``in``/``out`` channels.
- ``ElasticBatchNorm``: batch norm over the first C channels (running statistics updated in place).
- ``ElasticInvertedResidual``: expand 1x1 -> depthwise kxk -> project 1x1, elastic kernel and
  expand ratio, with a channel re-ordering by importance that keeps the function unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ofa_mcu.padding import same_pad


def pad_same(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero-pad ``x`` (NCHW) so a valid conv gives TensorFlow's SAME result."""
    top, bottom = same_pad(x.shape[2], kernel, stride)
    left, right = same_pad(x.shape[3], kernel, stride)
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom))


class ElasticDepthwise(nn.Module):
    """Depthwise conv with elastic kernel size and channel count (no bias; BN follows)."""

    def __init__(self, channels: int, kernels: tuple[int, ...], stride: int) -> None:
        super().__init__()
        self.kernels = tuple(sorted(kernels))
        self.max_kernel = self.kernels[-1]
        self.stride = stride
        self.weight = nn.Parameter(torch.empty(channels, 1, self.max_kernel, self.max_kernel))
        nn.init.kaiming_normal_(self.weight, mode="fan_out")
        # transform_k maps the centre crop of the next larger kernel to a k x k kernel
        self.transforms = nn.ParameterDict(
            {str(k): nn.Parameter(torch.eye(k * k)) for k in self.kernels[:-1]}
        )

    def kernel_weight(self, kernel: int, channels: int) -> torch.Tensor:
        """The (channels, 1, kernel, kernel) weight for this choice."""
        w = self.weight[:channels]
        size = self.max_kernel
        for k in reversed(self.kernels[:-1]):
            if k < kernel:
                break
            start = (size - k) // 2
            crop = w[:, :, start : start + k, start : start + k].reshape(channels, k * k)
            w = F.linear(crop, self.transforms[str(k)]).reshape(channels, 1, k, k)
            size = k
        return w

    def forward(self, x: torch.Tensor, kernel: int) -> torch.Tensor:
        channels = x.shape[1]
        w = self.kernel_weight(kernel, channels)
        if self.stride == 1:
            return depthwise_same_s1(x, w)
        return F.conv2d(pad_same(x, kernel, self.stride), w, stride=self.stride, groups=channels)


def depthwise_same_s1(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Stride-1 SAME depthwise conv without a padded copy of ``x``, exactly TensorFlow's result.

    Stride-1 SAME padding is symmetric (k // 2 each side), so the conv's own padding does it. On
    a map smaller than the kernel (a 7x7 kernel on 2x2 at the end of the network) the outer taps
    only ever meet padding zeros: they are cropped, which changes neither the output nor any
    gradient (theirs is exactly zero either way) but skips most of the work.
    """
    k = w.shape[-1]
    kh, kw = min(k, 2 * x.shape[2] - 1), min(k, 2 * x.shape[3] - 1)
    if kh < k or kw < k:
        w = w[:, :, (k - kh) // 2 : (k + kh) // 2, (k - kw) // 2 : (k + kw) // 2]
    return F.conv2d(x, w, padding=(kh // 2, kw // 2), groups=x.shape[1])


class ElasticPointwise(nn.Module):
    """1x1 conv (no bias) whose active input/output widths are the first channels."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 1, 1))
        nn.init.kaiming_normal_(self.weight, mode="fan_out")

    def forward(self, x: torch.Tensor, out_channels: int) -> torch.Tensor:
        return F.conv2d(x, self.weight[:out_channels, : x.shape[1]])


class ElasticBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d over the first C channels of its parameters and statistics."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if c == self.num_features:
            return super().forward(x)
        use_batch = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
        momentum = self.momentum
        if momentum is None:  # cumulative average, used for BN recalibration
            momentum = 1.0 / float(self.num_batches_tracked)
        return F.batch_norm(
            x,
            self.running_mean[:c] if self.track_running_stats else None,
            self.running_var[:c] if self.track_running_stats else None,
            self.weight[:c],
            self.bias[:c],
            use_batch,
            momentum if self.training else 0.0,
            self.eps,
        )


class ElasticInvertedResidual(nn.Module):
    """MobileNetV2 block with elastic kernel and expand ratio; residual when shapes allow."""

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 kernels: tuple[int, ...], expands: tuple[int, ...]) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        mid = in_channels * max(expands)
        self.expand = ElasticPointwise(in_channels, mid)
        self.expand_bn = ElasticBatchNorm(mid)
        self.depthwise = ElasticDepthwise(mid, kernels, stride)
        self.depthwise_bn = ElasticBatchNorm(mid)
        self.project = ElasticPointwise(mid, out_channels)
        self.project_bn = ElasticBatchNorm(out_channels)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor, kernel: int, expand: int) -> torch.Tensor:
        h = F.relu6(self.expand_bn(self.expand(x, self.in_channels * expand)))
        h = F.relu6(self.depthwise_bn(self.depthwise(h, kernel)))
        h = self.project_bn(self.project(h, self.out_channels))
        return x + h if self.residual else h

    @torch.no_grad()
    def sort_channels(self) -> torch.Tensor:
        """Reorder the hidden channels by importance (L1 of the projecting weights), descending.

        All weights and BN statistics that index the hidden channels are permuted together, so
        the block's function is unchanged; afterwards slicing the first channels keeps the most
        important ones. Returns the permutation.
        """
        importance = self.project.weight.abs().sum(dim=(0, 2, 3))
        order = torch.argsort(importance, descending=True, stable=True)
        self.expand.weight.copy_(self.expand.weight[order])
        self.depthwise.weight.copy_(self.depthwise.weight[order])
        self.project.weight.copy_(self.project.weight[:, order])
        for bn in (self.expand_bn, self.depthwise_bn):
            for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
                t.copy_(t[order])
        return order
