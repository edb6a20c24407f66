"""Accuracy predictor: a small MLP on a one-hot encoding of a subnet, trained on measured subnets.

Measuring a subnet means recalibrating BatchNorm on training images and evaluating on the
validation split (``ofa_mcu.train.bn.evaluate``); the measured set is cached beside the
checkpoint (``accuracy-cache.json``, keyed by the checkpoint's content hash), so a second search
of the same checkpoint does not measure again. The encoding: per stage and block slot a one-hot
kernel and a one-hot expand ratio (zeros for inactive blocks), per stage a one-hot depth, and a
one-hot resolution.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ofa_mcu.atomic import write_json
from ofa_mcu.config import SubnetConfig
from ofa_mcu.space import SearchSpace

CACHE_NAME = "accuracy-cache.json"


class Encoder:
    """Subnet -> fixed-length 0/1 feature vector."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.k_index = {k: i for i, k in enumerate(space.kernels)}
        self.e_index = {e: i for i, e in enumerate(space.expands)}
        self.r_index = {r: i for i, r in enumerate(space.resolutions)}
        nk, ne = len(space.kernels), len(space.expands)
        self.block_width = nk + ne
        self.slot_offsets, self.depth_offsets = [], []
        off = 0
        for st in space.stages:
            self.slot_offsets.append(off)
            off += st.max_depth * self.block_width
        for st in space.stages:
            self.depth_offsets.append(off)
            off += len(st.depths)
        self.res_offset = off
        self.size = off + len(space.resolutions)
        self.nk = nk

    def encode(self, cfgs: Sequence[SubnetConfig]) -> np.ndarray:
        x = np.zeros((len(cfgs), self.size), dtype=np.float32)
        for n, c in enumerate(cfgs):
            for i, stage in enumerate(c.stages):
                base = self.slot_offsets[i]
                for j, b in enumerate(stage):
                    o = base + j * self.block_width
                    x[n, o + self.k_index[b.kernel]] = 1.0
                    x[n, o + self.nk + self.e_index[b.expand]] = 1.0
                x[n, self.depth_offsets[i] + self.space.stages[i].depths.index(len(stage))] = 1.0
            x[n, self.res_offset + self.r_index[c.resolution]] = 1.0
        return x


@dataclass
class Predictor:
    encoder: Encoder
    net: object  # torch.nn.Sequential
    base: float

    def predict(self, cfgs: Sequence[SubnetConfig]) -> np.ndarray:
        import torch

        with torch.no_grad():
            out = self.net(torch.from_numpy(self.encoder.encode(cfgs))).squeeze(1).numpy()
        return out + self.base


def fit_predictor(space: SearchSpace, cfgs: Sequence[SubnetConfig], accs: Sequence[float], seed: int = 0,
                  hidden: int = 128, epochs: int = 600) -> Predictor:
    """Train the MLP (full batch Adam, MSE on accuracy minus its mean); deterministic per seed."""
    import torch

    torch.manual_seed(seed)
    enc = Encoder(space)
    x = torch.from_numpy(enc.encode(cfgs))
    base = float(np.mean(accs))
    y = torch.tensor(np.asarray(accs, dtype=np.float32) - base)
    net = torch.nn.Sequential(torch.nn.Linear(enc.size, hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x).squeeze(1), y)
        loss.backward()
        opt.step()
    net.eval()
    return Predictor(enc, net, base)


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


class AccuracyCache:
    """Measured accuracies of subnets of one checkpoint, stored beside it, per split measured on.

    The file keeps every split's entries (``{"checkpoint": HASH, "splits": {SPLIT: entries}}``), so
    a search on another split (``--val-images``) never throws away what an earlier one measured;
    the single-split format of earlier versions is read as its one split. Entries of another
    checkpoint are dropped, never trusted.
    """

    def __init__(self, checkpoint: Path, split: str = "validation") -> None:
        self.path = checkpoint.parent / CACHE_NAME
        self.checkpoint = file_hash(checkpoint)
        self.split = split
        self.key = self.checkpoint + "/" + split  # what was measured on: never mixed
        self.splits: dict[str, dict[str, dict]] = {}
        if self.path.exists():
            from ofa_mcu.errors import UserError
            from ofa_mcu.userfiles import read_json

            try:
                data = read_json(self.path)
                if "splits" in data and data.get("checkpoint") == self.checkpoint:
                    self.splits = {str(k): dict(v) for k, v in dict(data["splits"]).items()}
                elif str(data.get("checkpoint", "")).startswith(self.checkpoint + "/"):  # the one-split format
                    self.splits = {str(data["checkpoint"]).split("/", 1)[1]: dict(data["entries"])}
            except (UserError, KeyError, TypeError, ValueError, AttributeError):
                self.splits = {}  # a damaged cache is rebuilt, never trusted
        self.entries: dict[str, dict] = self.splits.setdefault(split, {})

    def other_splits(self) -> dict[str, int]:
        """Splits other than this one with entries in the file, and how many subnets each holds."""
        return {k: len(v) for k, v in sorted(self.splits.items()) if k != self.split and v}

    def get(self, cfg: SubnetConfig) -> float | None:
        e = self.entries.get(cfg.stable_hash())
        return None if e is None else float(e["acc"])

    def put(self, cfg: SubnetConfig, acc: float) -> None:
        self.entries[cfg.stable_hash()] = {"subnet": cfg.to_dict(), "acc": acc}

    def save(self) -> None:
        write_json(self.path, {"checkpoint": self.checkpoint, "splits": self.splits})


def measure(cfgs: Sequence[SubnetConfig], evaluate: Callable[[SubnetConfig], float], cache: AccuracyCache,
            progress: Callable[[int], None] | None = None) -> list[float]:
    """Accuracy of each config, from the cache or measured (and then cached; saved as it goes)."""
    out = []
    for i, c in enumerate(cfgs):
        acc = cache.get(c)
        if acc is None:
            acc = evaluate(c)
            cache.put(c, acc)
            if i % 10 == 9:
                cache.save()
        out.append(acc)
        if progress:
            progress(1)
    cache.save()
    return out


def training_set(space: SearchSpace, n: int, seed: int) -> list[SubnetConfig]:
    """``n`` distinct random subnets plus the min and max (they anchor the predictor's range)."""
    rng = random.Random(seed)
    out = [SubnetConfig.min(space), SubnetConfig.max(space)]
    seen = set(out)
    while len(out) < n:
        c = SubnetConfig.sample(space, rng)
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out
