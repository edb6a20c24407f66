"""Data sources: splits, formats and the errors a user gets for bad data."""

from __future__ import annotations

import gzip
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ofa_mcu.data import FASHION_MNIST_DIR, augment, load_source, read_idx, resize
from ofa_mcu.errors import UserError


def test_digits_split_is_deterministic_and_disjoint():
    a, b, c = load_source("digits", 0), load_source("digits", 0), load_source("digits", 1)
    assert a.train_x.shape[1:] == (1, 8, 8) and a.classes == 10 and a.in_channels == 1
    assert np.array_equal(a.val_y, b.val_y) and np.array_equal(a.train_x, b.train_x)
    assert np.array_equal(a.test_x, b.test_x) and not np.array_equal(a.test_x, c.test_x)
    assert not np.array_equal(a.val_x, c.val_x)
    assert len(a.train_x) + len(a.val_x) + len(a.test_x) == 1797
    assert a.test_source == "carved" and abs(len(a.test_x) - 0.2 * 1797) < 10
    train_rows = {r.tobytes() for r in a.train_x}
    val_rows = {r.tobytes() for r in a.val_x}
    assert sum(r.tobytes() in train_rows for r in a.val_x) < 5  # digits has a few duplicate images
    assert sum(r.tobytes() in train_rows | val_rows for r in a.test_x) < 5
    assert set(np.unique(a.val_y)) == set(range(10)) and set(np.unique(a.test_y)) == set(range(10))
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
    assert d.test_x.shape == (20, 3, 32, 32) and d.test_source == "official" and d.flip
    assert d.train_x.shape == (80, 3, 32, 32) and d.val_x.shape == (20, 3, 32, 32)


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """An IDX file as the MNIST distribution writes them (uint8, big-endian dimensions)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    raw = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw, mtime=0))
    else:
        path.write_bytes(raw)
    return path


def _mnist_folder(folder: Path, n_train: int, n_test: int | None, compress: bool = True) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    x = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    y = (np.arange(n_train) % 10).astype(np.uint8)
    write_idx(folder / "train-images-idx3-ubyte", x, compress)
    write_idx(folder / "train-labels-idx1-ubyte", y, compress)
    if n_test is None:
        return x, y
    tx = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    ty = (np.arange(n_test) % 10).astype(np.uint8)
    write_idx(folder / "t10k-images-idx3-ubyte", tx, compress)
    write_idx(folder / "t10k-labels-idx1-ubyte", ty, compress)
    return x, y, tx, ty


@pytest.mark.parametrize("compress", [True, False])
def test_idx_folder_with_official_test_files(tmp_path, compress):
    x, y, tx, ty = _mnist_folder(tmp_path / "mnist", 100, 30, compress)
    d = load_source(f"idx:{tmp_path / 'mnist'}", 0)
    assert d.test_source == "official" and d.classes == 10 and d.in_channels == 1 and not d.flip
    # the official test files, in order, untouched by the seed
    assert np.array_equal(d.test_y, ty) and np.array_equal(d.test_x[:, 0], tx.astype(np.float32) / 255.0)
    assert len(d.train_x) == 80 and len(d.val_x) == 20  # validation carved from training, stratified
    assert set(np.unique(d.val_y)) == set(range(10))
    rows = {r.tobytes() for r in x.astype(np.float32) / 255.0}
    assert all(r[0].tobytes() in rows for r in d.val_x)
    assert np.array_equal(read_idx(next((tmp_path / "mnist").glob("train-labels*"))), y)


def test_idx_folder_without_test_files_carves_one(tmp_path):
    _mnist_folder(tmp_path / "kmnist", 200, None)
    a, b = load_source(f"idx:{tmp_path / 'kmnist'}", 3), load_source(f"idx:{tmp_path / 'kmnist'}", 3)
    assert a.test_source == "carved" and len(a.test_x) == 40 and len(a.val_x) == 30 and len(a.train_x) == 130
    assert np.array_equal(a.test_x, b.test_x) and set(np.unique(a.test_y)) == set(range(10))


@pytest.mark.parametrize("damage, needle", [
    ("truncate", "IDX header says shape (100, 28, 28)"),
    ("magic", "bad magic number"),
    ("gzip", "not a readable IDX file"),
    ("labels", "expected 100 labels"),
    ("missing", "no file matching *train-labels*"),
])
def test_idx_errors(tmp_path, damage, needle):
    folder = tmp_path / "bad"
    _mnist_folder(folder, 100, None)
    images, labels = folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
    if damage == "truncate":
        images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:-50]))
    elif damage == "magic":
        images.write_bytes(gzip.compress(b"\x01\x02" + gzip.decompress(images.read_bytes())[2:]))
    elif damage == "gzip":
        images.write_bytes(images.read_bytes()[:40])
    elif damage == "labels":
        write_idx(folder / "train-labels-idx1-ubyte", np.zeros(99, dtype=np.uint8))
    else:
        labels.unlink()
    with pytest.raises(UserError) as e:
        load_source(f"idx:{folder}", 0)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_fashion_mnist_missing_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr("ofa_mcu.data.FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(UserError, match="install the Debian package dataset-fashion-mnist"):
        load_source("fashion-mnist", 0)


def test_fashion_mnist_folder_from_the_environment(tmp_path):
    """OFA_MCU_FASHION_MNIST_DIR replaces the Debian package's folder (a machine with a copy of the
    files only); read when ofa_mcu.data is imported, so a fresh interpreter checks it."""
    _mnist_folder(tmp_path / "fm", 200, 50)
    code = ("from ofa_mcu.data import load_source; d = load_source('fashion-mnist', 0); "
            "print(d.name, len(d.train_y) + len(d.val_y), len(d.test_y), d.test_source)")
    env = {**os.environ, "OFA_MCU_FASHION_MNIST_DIR": str(tmp_path / "fm")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["fashion-mnist", "200", "50", "official"]


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir() and os.environ.get("CI") != "true",
                    reason="dataset-fashion-mnist is not installed (`make` installs it as root; required in CI)")
def test_fashion_mnist_package_files():
    d = load_source("fashion-mnist", 0)
    assert d.name == "fashion-mnist" and d.classes == 10 and d.in_channels == 1 and d.test_source == "official"
    assert d.train_x.shape == (48_000, 1, 28, 28) and d.val_x.shape == (12_000, 1, 28, 28)
    assert d.test_x.shape == (10_000, 1, 28, 28) and d.train_x.dtype == np.float32
    assert np.bincount(d.test_y).tolist() == [1000] * 10  # the official test set is balanced
    assert np.bincount(d.val_y).tolist() == [1200] * 10
    sub_x, sub_y = d.train_subset(3000, 0)
    assert len(sub_x) == 3000 and np.bincount(sub_y).tolist() == [300] * 10


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
