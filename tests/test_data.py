"""Data sources: splits, formats and the errors a user gets for bad data."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from ofa_mcu.data import augment, load_source, resize
from ofa_mcu.errors import UserError


def test_digits_split_is_deterministic_and_disjoint():
    a, b, c = load_source("digits", 0), load_source("digits", 0), load_source("digits", 1)
    assert a.train_x.shape[1:] == (1, 8, 8) and a.classes == 10 and a.in_channels == 1
    assert np.array_equal(a.val_y, b.val_y) and np.array_equal(a.train_x, b.train_x)
    assert not np.array_equal(a.val_x, c.val_x)
    assert len(a.train_x) + len(a.val_x) == 1797
    train_rows = {r.tobytes() for r in a.train_x}
    assert sum(r.tobytes() in train_rows for r in a.val_x) < 5  # digits has a few duplicate images
    assert set(np.unique(a.val_y)) == set(range(10))
    assert 0.0 <= a.train_x.min() and a.train_x.max() <= 1.0
    calib = a.calibration_images(100, seed=0)
    assert len(calib) == 100 and np.array_equal(calib, a.calibration_images(100, seed=0))


def test_npz_source(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 12, 12, 3), dtype=np.uint8)
    y = np.repeat(np.arange(4), 10)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    d = load_source(f"npz:{tmp_path / 'd.npz'}", 0)
    assert d.train_x.shape[1:] == (3, 12, 12) and d.classes == 4 and d.train_x.dtype == np.float32


@pytest.mark.parametrize("arrays, needle", [
    ({"x": np.zeros((10, 8, 8)), "y": np.zeros(10, dtype=int)}, "at least 2 classes"),
    ({"x": np.zeros((10, 8)), "y": np.arange(10) % 2}, "shape N,H,W"),
    ({"x": np.zeros((10, 8, 8)), "y": np.arange(9) % 2}, "y must have shape (10,)"),
    ({"x": np.zeros((10, 8, 8)) + 3.0, "y": np.arange(10) % 2}, "float images must be in [0, 1]"),
    ({"images": np.zeros((10, 8, 8))}, "expected arrays 'x' and 'y'"),
])
def test_npz_errors(tmp_path, arrays, needle):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(UserError) as e:
        load_source(f"npz:{tmp_path / 'bad.npz'}", 0)
    assert needle in str(e.value) and "bad.npz" in str(e.value)


def test_missing_and_unknown_sources(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_source(f"npz:{tmp_path / 'nope.npz'}")
    with pytest.raises(UserError, match="unknown data source"):
        load_source("mnist")
    with pytest.raises(UserError, match="no such folder"):
        load_source(f"imagefolder:{tmp_path / 'nope'}")
    with pytest.raises(UserError, match="missing data_batch_1"):
        load_source(f"cifar10:{tmp_path}")


def test_imagefolder(tmp_path):
    from PIL import Image

    for c, colour in (("cat", 40), ("dog", 200)):
        (tmp_path / c).mkdir()
        for i in range(5):
            Image.fromarray(np.full((20, 30), colour + i, dtype=np.uint8)).save(tmp_path / c / f"{i}.png")
    d = load_source(f"imagefolder:{tmp_path}", 0)
    assert d.classes == 2 and d.in_channels == 1 and d.flip
    assert d.train_x.shape[2:] == (64, 64)
    (tmp_path / "dog" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match=r"broken\.png: unreadable image"):
        load_source(f"imagefolder:{tmp_path}", 0)


def test_cifar10_batches(tmp_path):
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), b"labels": list(range(10)) * 2}
        with open(tmp_path / name, "wb") as f:
            pickle.dump(batch, f)
    d = load_source(f"cifar10:{tmp_path}", 0)
    assert d.train_x.shape == (100, 3, 32, 32) and d.val_x.shape == (20, 3, 32, 32) and d.flip


def test_resize_and_augment():
    x = torch.rand(3, 1, 8, 8)
    assert resize(x, 32).shape == (3, 1, 32, 32)
    assert resize(x, 8) is x
    g = torch.Generator().manual_seed(0)
    same = augment(x, g, flip=False, max_shift=0.0)
    assert torch.equal(same, x)
    shifted = augment(x, torch.Generator().manual_seed(1), flip=False, max_shift=0.25)
    assert shifted.shape == x.shape and not torch.equal(shifted, x)
    # a shift moves pixels, never invents values: every output value is an input value or zero
    assert set(shifted.flatten().tolist()) <= set(x.flatten().tolist()) | {0.0}
