"""Accuracy predictor: a model of a subnet's accuracy, trained on measured subnets.

Measuring a subnet means recalibrating BatchNorm on training images and evaluating on the
validation split (``ofa_mcu.train.bn.evaluate``); the measured set is cached beside the
checkpoint (``accuracy-cache.json``, keyed by the checkpoint's content hash), so a second search
of the same checkpoint does not measure again.

Features (``Encoder``): per stage and block slot a one-hot kernel and a one-hot expand ratio
(zeros for inactive blocks), per stage a one-hot depth, a one-hot resolution and, for the ridge
model, the subnet's capacity (log2 of its MACs and of its parameter count).

Models (``PREDICTORS``, chosen by name):

- ``mlp`` (default): a two-layer MLP on the one-hot features (full-batch Adam), the model of the
  OFA paper.
- ``ridge``: linear least squares on the standardized features with an L2 penalty whose strength
  is chosen by exact leave-one-out error over a fixed grid; closed-form, milliseconds.

``benchmarks/predictor_quality.py`` compares them against the noise of measuring. On the
Fashion-MNIST ``cpu-40min`` supernet (100 held-out subnets measured on all 12,000 validation
images) both rank equally well from 60 or 120 training subnets (Kendall tau 0.37-0.38 and
0.50-0.53); from 240 the MLP is ahead (0.62 against 0.52). The number of measured subnets and
the noise of each measurement matter more than the model.
"""

from __future__ import annotations

import copy
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


def capacity(space: SearchSpace, cfgs: Sequence[SubnetConfig]) -> np.ndarray:
    """Per subnet: log2 of its MACs and of its parameter count (the IR graph's own figures)."""
    from ofa_mcu.ir import build_graph

    out = np.zeros((len(cfgs), 2), dtype=np.float64)
    for n, c in enumerate(cfgs):
        g = build_graph(space, c)
        out[n] = (np.log2(max(g.macs, 1)), np.log2(max(g.params, 1)))
    return out


@dataclass
class Predictor:
    """A fitted accuracy model: ``predict`` maps subnets to predicted accuracies (fractions)."""

    kind: str
    model: Callable[[Sequence[SubnetConfig]], np.ndarray]
    detail: str = ""  # e.g. the ridge penalty chosen

    def predict(self, cfgs: Sequence[SubnetConfig]) -> np.ndarray:
        return np.asarray(self.model(cfgs), dtype=np.float64)


#: the ridge penalties tried (on standardized features; chosen by leave-one-out error)
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-2, 4, 25))


def _ridge_features(enc: Encoder, cfgs: Sequence[SubnetConfig]) -> np.ndarray:
    return np.hstack([enc.encode(cfgs).astype(np.float64), capacity(enc.space, cfgs)])


def fit_ridge(space: SearchSpace, cfgs: Sequence[SubnetConfig], accs: Sequence[float], seed: int = 0) -> Predictor:
    """Ridge regression, its penalty chosen by exact leave-one-out error (``seed`` is unused: the fit is closed-form)."""
    enc = Encoder(space)
    x = _ridge_features(enc, cfgs)
    y = np.asarray(accs, dtype=np.float64)
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale == 0] = 1.0  # a feature constant over the training set carries nothing
    xs = (x - mean) / scale
    base = float(y.mean())
    yc = y - base
    # with the SVD xs = U S V^T, the ridge hat matrix is U diag(s^2 / (s^2 + a)) U^T (the centring
    # of y adds 1/n to every diagonal entry); leave-one-out residuals are r_i / (1 - h_ii)
    u, sv, vt = np.linalg.svd(xs, full_matrices=False)
    uty = u.T @ yc
    n = len(y)
    best: tuple[float, float] | None = None
    for a in RIDGE_ALPHAS:
        f = sv**2 / (sv**2 + a)
        fitted = u @ (f * uty)
        h = (u**2) @ f + 1.0 / n
        loo = np.mean(((yc - fitted) / np.maximum(1.0 - h, 1e-9)) ** 2)
        if best is None or loo < best[1] - 1e-15:
            best = (a, float(loo))
    assert best is not None
    alpha = best[0]
    coef = vt.T @ ((sv / (sv**2 + alpha)) * uty)

    def model(new: Sequence[SubnetConfig]) -> np.ndarray:
        return ((_ridge_features(enc, new) - mean) / scale) @ coef + base

    return Predictor("ridge", model, f"alpha {alpha:.3g}, leave-one-out RMSE {100 * best[1] ** 0.5:.2f} points")


def fit_mlp(space: SearchSpace, cfgs: Sequence[SubnetConfig], accs: Sequence[float], seed: int = 0,
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

    def model(new: Sequence[SubnetConfig]) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(enc.encode(new))).squeeze(1).numpy().astype(np.float64) + base

    return Predictor("mlp", model)


#: accuracy models by name (``fit(space, cfgs, accs, seed) -> Predictor``)
PREDICTORS: dict[str, Callable[..., Predictor]] = {"mlp": fit_mlp, "ridge": fit_ridge}
DEFAULT_PREDICTOR = "mlp"


def fit_predictor(space: SearchSpace, cfgs: Sequence[SubnetConfig], accs: Sequence[float], seed: int = 0,
                  kind: str = DEFAULT_PREDICTOR) -> Predictor:
    """Fit the accuracy model ``kind`` (see ``PREDICTORS``) on measured subnets; deterministic per seed."""
    if kind not in PREDICTORS:
        raise ValueError(f"unknown predictor {kind!r} (known: {', '.join(PREDICTORS)})")
    return PREDICTORS[kind](space, cfgs, accs, seed)


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

    def for_split(self, split: str) -> AccuracyCache:
        """A cache of another split in the same file, sharing what is loaded (saving either keeps both)."""
        other = copy.copy(self)  # shallow: the splits dict (what save() writes) stays shared
        other.split, other.key = split, self.checkpoint + "/" + split
        other.entries = self.splits.setdefault(split, {})
        return other

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
