"""The native planner's rules for models read from a user's .tflite (conv + ADD fusion, in-place
square 1x1 convs, a second placement order when the first fragments) leave the shipped search
spaces' plans alone, and the kernels agree with the planner on their scratch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ofa_mcu.config import SubnetConfig
from ofa_mcu.ir import build_graph
from ofa_mcu.planner import INPLACE_POINTWISE_PIXELS, NativeCost, plan_native, plan_tflm
from ofa_mcu.space import load_space

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["mcu-28", "mcu-32", "mcu-imagenet"])
def test_new_rules_never_touch_the_shipped_spaces(name: str) -> None:
    space = load_space(name)
    old = NativeCost(fuse_conv_add=False, inplace_pointwise=False)
    for seed in range(12):
        g = build_graph(space, SubnetConfig.sample(space, seed))
        p, q = plan_native(g), plan_native(g, old)
        assert p.fused_add == {} and (p.groups, p.scratch, p.fused) == (q.groups, q.scratch, q.fused)
        assert p.activation_bytes <= q.activation_bytes  # only a better placement may differ


def test_fragmented_placement_is_retried() -> None:
    """mcu-28 seed 1: largest-first fragments (3,508 B where 3,080 B are alive at once); the
    largest-lifetime-area order is kept because it is smaller, below TFLM's activations."""
    space = load_space("mcu-28")
    g = build_graph(space, SubnetConfig.sample(space, 1))
    assert plan_native(g).activation_bytes < 3508
    assert plan_native(g).activation_bytes <= plan_tflm(g).activation_bytes


def test_kernel_header_agrees_with_the_planner() -> None:
    header = (ROOT / "firmware" / "kernels" / "ofa_kernels.h").read_text()
    m = re.search(r"#define OFA_PW_INPLACE_PIXELS (\d+)", header)
    assert m and int(m.group(1)) == INPLACE_POINTWISE_PIXELS
