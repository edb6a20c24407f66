"""BatchNorm recalibration: re-estimate running statistics for one subnet before evaluating it.

Shared weights leave the supernet's running statistics a blend over many subnets, so (as in
Once-for-All) every evaluation first resets the statistics of the layers the subnet uses and
accumulates exact averages over a fixed subset of TRAINING images. The search reuses this.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ofa_mcu.config import SubnetConfig
from ofa_mcu.data import resize
from ofa_mcu.supernet import Supernet


@torch.no_grad()
def recalibrate(net: Supernet, cfg: SubnetConfig, images: np.ndarray, batch_size: int = 256) -> None:
    """Set the running mean/var of every BatchNorm to the exact average over ``images`` for ``cfg``.

    ``images``: float32 N,C,H,W from the training split (any size; resized to cfg.resolution).
    """
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [(m.momentum, m.training) for m in bns]
    was_training = net.training
    net.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average = exact mean over the batches
        m.train()
    device = next(net.parameters()).device
    try:
        with net.activate(cfg):
            for i in range(0, len(images), batch_size):
                net(resize(torch.from_numpy(images[i : i + batch_size]).to(device), cfg.resolution))
    finally:
        for m, (momentum, training) in zip(bns, saved):
            m.momentum = momentum
            m.train(training)
        net.train(was_training)


@torch.no_grad()
def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, resolution: int, batch_size: int = 256) -> float:
    """Top-1 accuracy (fraction) of ``model`` (eval mode) on images resized to ``resolution``."""
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, len(x), batch_size):
        logits = model(resize(torch.from_numpy(x[i : i + batch_size]).to(device), resolution))
        correct += int((logits.argmax(1).cpu().numpy() == y[i : i + batch_size]).sum())
    return correct / max(1, len(x))


def evaluate(net: Supernet, cfg: SubnetConfig, calib: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Recalibrate BN for ``cfg`` on ``calib`` then measure its accuracy on (x, y)."""
    recalibrate(net, cfg, calib)
    with net.activate(cfg):
        return accuracy(net, x, y, cfg.resolution)
