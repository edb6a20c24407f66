"""Supernet: extraction equivalence, parameter agreement with the IR, elastic ops."""

from __future__ import annotations

import pytest
import torch

from ofa_mcu.config import SubnetConfig
from ofa_mcu.ir import build_graph
from ofa_mcu.supernet import Supernet, extract
from ofa_mcu.supernet.elastic import ElasticDepthwise


def _perturbed(space) -> Supernet:
    """A supernet with non-trivial BN statistics and kernel transforms (not the init identity)."""
    torch.manual_seed(0)
    net = Supernet(space)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1, 0.2)
                m.bias.normal_(0, 0.2)
        for _, _, block in net.blocks():
            for t in block.depthwise.transforms.values():
                t.add_(0.05 * torch.randn_like(t))
    return net.eval()


@pytest.fixture(scope="module", params=["mcu-32", "mcu-imagenet"])
def net(request):
    from ofa_mcu.space import load_space

    return _perturbed(load_space(request.param).for_task(classes=10))


def _configs(space):
    return [SubnetConfig.min(space), SubnetConfig.max(space)] + [SubnetConfig.sample(space, s) for s in range(20)]


def test_extraction_equals_supernet(net):
    torch.manual_seed(1)
    for cfg in _configs(net.space):
        x = torch.randn(2, net.space.in_channels, cfg.resolution, cfg.resolution)
        with torch.no_grad(), net.activate(cfg):
            expected = net(x)
        static = extract(net, cfg)
        got = static(x)
        assert (got - expected).abs().max().item() <= 1e-5, cfg.to_json()
        kinds = {type(m).__name__ for m in static.modules() if not list(m.children())}
        assert kinds <= {"Conv2d", "BatchNorm2d", "ReLU6", "ZeroPad2d", "Linear"}
        # parameter count of the static model equals the IR's
        assert sum(p.numel() for p in static.parameters()) == build_graph(net.space, cfg).params


def test_channel_sorting_keeps_function(net):
    cfg = SubnetConfig.max(net.space)
    x = torch.randn(2, net.space.in_channels, cfg.resolution, cfg.resolution)
    with torch.no_grad(), net.activate(cfg):
        before = net(x)
        net.sort_channels()
        after = net(x)
    assert (before - after).abs().max().item() <= 1e-4
    block = net.stages[0][0]
    imp = block.project.weight.abs().sum(dim=(0, 2, 3))
    assert torch.all(imp[:-1] >= imp[1:])


def test_kernel_transform_is_centre_crop_at_init():
    dw = ElasticDepthwise(4, (3, 5, 7), stride=1)
    w7 = dw.weight.detach()
    assert torch.equal(dw.kernel_weight(5, 4).detach(), w7[:, :, 1:6, 1:6])
    assert torch.equal(dw.kernel_weight(3, 4).detach(), w7[:, :, 2:5, 2:5])
    with torch.no_grad():
        dw.transforms["3"].mul_(2.0)
    assert torch.allclose(dw.kernel_weight(3, 4).detach(), 2 * w7[:, :, 2:5, 2:5])


def test_active_state_is_per_instance():
    from ofa_mcu.space import load_space

    sp = load_space("mcu-32")
    a, b = Supernet(sp), Supernet(sp)
    a.set_active(SubnetConfig.min(sp))
    assert b.active == SubnetConfig.max(sp) and a.active == SubnetConfig.min(sp)


def test_stride2_even_input_matches_tensorflow_same_padding():
    """A stride-2 conv on an even input pads 0 before / 1 after, as TFLite does."""
    from ofa_mcu.padding import same_pad

    assert same_pad(32, 3, 2) == (0, 1)
    assert same_pad(32, 5, 2) == (1, 2)
    assert same_pad(33, 3, 2) == (1, 1)
    assert same_pad(32, 7, 1) == (3, 3)


@pytest.mark.parametrize("size, kernel", [(2, 7), (3, 7), (4, 5), (9, 7), (1, 3), (6, 3)])
def test_stride1_depthwise_equals_padded_reference(size, kernel):
    """The padding-free, kernel-cropping stride-1 depthwise conv: same output and gradients."""
    import torch.nn.functional as F

    from ofa_mcu.supernet.elastic import depthwise_same_s1, pad_same

    g = torch.Generator().manual_seed(size * 10 + kernel)
    x = torch.randn(3, 5, size, size + 1, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 1, kernel, kernel, generator=g, dtype=torch.float64, requires_grad=True)
    ref = F.conv2d(pad_same(x, kernel, 1), w, groups=5)
    out = depthwise_same_s1(x, w)
    assert out.shape == ref.shape and torch.allclose(out, ref, atol=1e-12)
    up = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    gx_ref, gw_ref = torch.autograd.grad(ref, (x, w), up)
    gx, gw = torch.autograd.grad(out, (x, w), up)
    assert torch.allclose(gx, gx_ref, atol=1e-12) and torch.allclose(gw, gw_ref, atol=1e-12)
