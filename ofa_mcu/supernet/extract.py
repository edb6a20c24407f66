"""Extraction: a standalone static torch model of one subnet, made of ordinary layers.

The result uses only ``Conv2d``, ``BatchNorm2d``, ``ReLU6``, ``ZeroPad2d`` (TensorFlow SAME
padding for stride-2 convs on even inputs), ``Linear``; it holds copies of the active weights
(depthwise kernels with the kernel transforms already applied) and computes exactly what the
supernet computes with that config active. Export reads these modules layer by layer.
"""

from __future__ import annotations

import torch
from torch import nn

from ofa_mcu.config import SubnetConfig
from ofa_mcu.padding import same_out, same_pad
from ofa_mcu.space import SearchSpace
from ofa_mcu.supernet.elastic import ElasticInvertedResidual
from ofa_mcu.supernet.model import Supernet


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int, size: int, groups: int = 1) -> nn.Sequential:
    """Conv (SAME padding) without bias; the padding module only where it is asymmetric."""
    before, after = same_pad(size, kernel, stride)
    layers: list[nn.Module] = []
    padding = before
    if before != after:
        layers.append(nn.ZeroPad2d((before, after, before, after)))
        padding = 0
    layers.append(nn.Conv2d(in_ch, out_ch, kernel, stride, padding, groups=groups, bias=False))
    return nn.Sequential(*layers)


def conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int, size: int,
            groups: int = 1, relu: bool = True) -> nn.Sequential:
    seq = _conv(in_ch, out_ch, kernel, stride, size, groups)
    seq.append(nn.BatchNorm2d(out_ch))
    if relu:
        seq.append(nn.ReLU6())
    return seq


class StaticBlock(nn.Module):
    """An inverted residual (or the first block, without expansion) with an optional skip."""

    def __init__(self, body: nn.Sequential, residual: bool) -> None:
        super().__init__()
        self.body = body
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class StaticSubnet(nn.Module):
    def __init__(self, stem: nn.Sequential, blocks: list[StaticBlock], classifier: nn.Linear,
                 cfg: SubnetConfig) -> None:
        super().__init__()
        self.stem = stem
        self.blocks = nn.Sequential(*blocks)
        self.classifier = classifier
        self.config = cfg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def build_static(space: SearchSpace, cfg: SubnetConfig) -> StaticSubnet:
    """An untrained static subnet of ``cfg`` (the shape ``extract`` fills with weights)."""
    size = cfg.resolution
    stem = conv_bn(space.in_channels, space.stem.channels, space.stem.kernel, space.stem.stride, size)
    size = same_out(size, space.stem.stride)
    c0, c1 = space.stem.channels, space.first_block.channels
    blocks = [StaticBlock(nn.Sequential(conv_bn(c0, c0, 3, 1, size, groups=c0),
                                        conv_bn(c0, c1, 1, 1, size, relu=False)), residual=c0 == c1)]
    for (i, j, choice), in_ch in zip(cfg.blocks(), _block_inputs(space, cfg)):
        spec = space.stages[i]
        stride = spec.stride if j == 0 else 1
        mid = in_ch * choice.expand
        body = nn.Sequential(
            conv_bn(in_ch, mid, 1, 1, size),
            conv_bn(mid, mid, choice.kernel, stride, size, groups=mid),
            conv_bn(mid, spec.channels, 1, 1, same_out(size, stride), relu=False),
        )
        blocks.append(StaticBlock(body, residual=stride == 1 and in_ch == spec.channels))
        size = same_out(size, stride)
    return StaticSubnet(stem, blocks, nn.Linear(space.last_channels, space.classes), cfg)


def _block_inputs(space: SearchSpace, cfg: SubnetConfig) -> list[int]:
    return [space.stage_in_channels[i] if j == 0 else space.stages[i].channels for i, j, _ in cfg.blocks()]


@torch.no_grad()
def _copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d) -> None:
    c = dst.num_features
    dst.weight.copy_(src.weight[:c])
    dst.bias.copy_(src.bias[:c])
    dst.running_mean.copy_(src.running_mean[:c])
    dst.running_var.copy_(src.running_var[:c])
    dst.eps = src.eps
    dst.num_batches_tracked.copy_(src.num_batches_tracked)


def _conv_of(seq: nn.Sequential) -> nn.Conv2d:
    return next(m for m in seq if isinstance(m, nn.Conv2d))


def _bn_of(seq: nn.Sequential) -> nn.BatchNorm2d:
    return next(m for m in seq if isinstance(m, nn.BatchNorm2d))


@torch.no_grad()
def extract(supernet: Supernet, cfg: SubnetConfig | None = None) -> StaticSubnet:
    """A static copy of the subnet ``cfg`` (default: the active one), in eval mode."""
    cfg = (cfg or supernet.active).validate(supernet.space)
    net = build_static(supernet.space, cfg)
    stem, first = net.stem, net.blocks[0].body
    _conv_of(stem).weight.copy_(supernet.stem_conv.weight)
    _copy_bn(_bn_of(stem), supernet.stem_bn)
    _conv_of(first[0]).weight.copy_(supernet.first_dw.weight)
    _copy_bn(_bn_of(first[0]), supernet.first_dw_bn)
    _conv_of(first[1]).weight.copy_(supernet.first_pw.weight)
    _copy_bn(_bn_of(first[1]), supernet.first_pw_bn)
    for static_block, (i, j, choice) in zip(list(net.blocks)[1:], cfg.blocks()):
        src: ElasticInvertedResidual = supernet.stages[i][j]
        expand, dw, project = static_block.body
        mid = src.in_channels * choice.expand
        _conv_of(expand).weight.copy_(src.expand.weight[:mid])
        _copy_bn(_bn_of(expand), src.expand_bn)
        _conv_of(dw).weight.copy_(src.depthwise.kernel_weight(choice.kernel, mid))
        _copy_bn(_bn_of(dw), src.depthwise_bn)
        _conv_of(project).weight.copy_(src.project.weight[:, :mid])
        _copy_bn(_bn_of(project), src.project_bn)
    net.classifier.weight.copy_(supernet.classifier.weight)
    net.classifier.bias.copy_(supernet.classifier.bias)
    return net.eval()

