"""Data sources behind one interface: ``load_source(spec, seed) -> DataSplit``.

Specs: ``digits`` (scikit-learn's 8x8 handwritten digits), ``fashion-mnist`` (the Debian package
``dataset-fashion-mnist``: 60,000 + 10,000 28x28 grayscale images of 10 kinds of clothing),
``idx:DIR`` (any MNIST-format folder: ``*train-images*`` / ``*train-labels*`` IDX files, gzipped
or not, and ``*t10k-*`` or ``*test-*`` ones when the set has an official test split),
``npz:PATH`` (arrays ``x``: N,H,W[,C] uint8 or float in [0, 1], ``y``: N ints),
``imagefolder:PATH`` (one folder per class of PNG/JPEG images), ``cifar10:PATH`` (the python
pickle batches folder). Images are float32 N,C,H,W in [0, 1] at their stored size; ``resize``
brings a batch to a subnet's resolution and ``augment`` applies the source's light augmentation.

Three disjoint splits, fixed by the seed: TRAIN (training, BN recalibration, quantization
calibration), VALIDATION (carved from the training data, stratified; it guides choices: the
search, the predictor, the phase metrics) and TEST (the official test files where the source
has them -- fashion-mnist and idx t10k, cifar10 test_batch -- otherwise a stratified carve-out;
only ever used to report accuracy, never to choose).
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ofa_mcu.errors import UserError

VAL_FRACTION = 0.2  # of the training data (after the test split is set aside)
TEST_FRACTION = 0.2  # of all data, for sources without an official test split
# where the Debian package puts the files; OFA_MCU_FASHION_MNIST_DIR points elsewhere (a machine without
# the package, e.g. a lent GPU machine that gets the files copied with the working tree)
FASHION_MNIST_DIR = Path(os.environ.get("OFA_MCU_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist")
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
MAX_IDX_BYTES = 1 << 30  # an IDX file (decompressed) larger than this is refused, not read
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IMAGEFOLDER_SIZE = 64  # images of an image folder are stored at this size (square)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
MAX_SIDE = 4096  # images larger than this are not microcontroller inputs
MAX_IMAGE_PIXELS = 64 << 20  # PIL refuses a file claiming more (a decompression bomb)


@dataclass
class DataSplit:
    name: str
    train_x: np.ndarray  # float32 N,C,H,W in [0, 1]
    train_y: np.ndarray  # int64 N
    val_x: np.ndarray  # carved from the training data: guides choices (search, metrics)
    val_y: np.ndarray
    test_x: np.ndarray  # held out: reported accuracy only
    test_y: np.ndarray
    classes: int
    flip: bool  # horizontal flips keep the label (natural images, not digits)
    test_source: str = "carved"  # "official" (the source's own test files) or "carved" (seeded, stratified)

    @property
    def in_channels(self) -> int:
        return int(self.train_x.shape[1])

    def train_subset(self, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """A seeded, stratified subset of ``n`` TRAINING images (all of them when n is None or larger)."""
        return _subset(self.train_x, self.train_y, n, seed + 104_729)

    def val_subset(self, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """A seeded, stratified subset of ``n`` VALIDATION images (all of them when n is None or larger)."""
        return _subset(self.val_x, self.val_y, n, seed + 130_363)

    def test_subset(self, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """A seeded, stratified subset of ``n`` TEST images (all of them when n is None or larger)."""
        return _subset(self.test_x, self.test_y, n, seed + 155_921)

    def calibration_images(self, n: int, seed: int) -> np.ndarray:
        """A fixed subset of the TRAINING split (BN recalibration, quantization calibration)."""
        rng = np.random.default_rng(seed + 7919)
        idx = np.sort(rng.permutation(len(self.train_x))[: min(n, len(self.train_x))])
        return self.train_x[idx]


def _subset(x: np.ndarray, y: np.ndarray, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` of (x, y), stratified by label and fixed by ``seed``; all of them when n is None or larger."""
    if n is None or n >= len(x):
        return x, y
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(y):  # every class in proportion, at least one image
        idx = np.flatnonzero(y == c)
        k = max(1, int(round(n * len(idx) / len(y))))
        picked.append(rng.permutation(idx)[:k])
    idx = np.sort(np.concatenate(picked))
    return x[idx], y[idx]


def _check_labels(y: np.ndarray, source: str) -> np.ndarray:
    classes = np.unique(y)
    if len(classes) < 2:
        raise UserError(f"{source}: needs at least 2 classes, found {len(classes)}")
    if classes[0] != 0 or classes[-1] != len(classes) - 1:
        raise UserError(f"{source}: labels must be 0..K-1, found {classes[:10].tolist()}")
    return classes


def _stratified(y: np.ndarray, fraction: float, rng: np.random.Generator, source: str,
                what: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, carved): ``fraction`` of every class carved out, at least one per class."""
    kept, carved = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        if len(idx) < 2:
            raise UserError(f"{source}: class {c} has {len(idx)} example(s) left for the {what} split; need at least 2")
        n = max(1, int(round(len(idx) * fraction)))
        carved.append(idx[:n])
        kept.append(idx[n:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(carved))


def _split(name: str, x: np.ndarray, y: np.ndarray, seed: int, flip: bool, source: str,
           test: tuple[np.ndarray, np.ndarray] | None = None) -> DataSplit:
    """Train / validation / test: ``test`` is the source's official test set, else a carve-out."""
    classes = _check_labels(y, source)
    rng = np.random.default_rng(seed)
    test_source = "official"
    if test is None:
        rest, te = _stratified(y, TEST_FRACTION, rng, source, "test")
        test, test_source = (x[te], y[te]), "carved"
        x, y = x[rest], y[rest]
    elif test[1].size and (test[1].min() < 0 or test[1].max() >= len(classes)):
        raise UserError(f"{source}: test labels must be 0..{len(classes) - 1}, found {np.unique(test[1])[:10].tolist()}")
    tr, va = _stratified(y, VAL_FRACTION, rng, source, "validation")
    return DataSplit(name, x[tr], y[tr], x[va], y[va], test[0], test[1], len(classes), flip, test_source)


def _to_nchw01(x: np.ndarray, source: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[:, :, :, None]
    if x.ndim != 4:
        raise UserError(f"{source}: x must have shape N,H,W or N,H,W,C, got {x.shape}")
    if x.shape[3] not in (1, 3):
        raise UserError(f"{source}: x must have 1 or 3 channels (N,H,W,C), got shape {x.shape}")
    if x.shape[0] == 0 or not (1 <= x.shape[1] <= MAX_SIDE and 1 <= x.shape[2] <= MAX_SIDE):
        raise UserError(f"{source}: x must hold images of 1..{MAX_SIDE} pixels a side, got shape {x.shape}")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    elif np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise UserError(f"{source}: x holds NaN or infinite pixel values")
        if x.size and (x.min() < -1e-6 or x.max() > 1 + 1e-6):
            raise UserError(f"{source}: float images must be in [0, 1], found [{x.min():.3g}, {x.max():.3g}]")
    else:
        raise UserError(f"{source}: x must be uint8 or float, got {x.dtype}")
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _labels(y: np.ndarray, n: int, source: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise UserError(f"{source}: y must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise UserError(f"{source}: y must be integers, got {y.dtype}")
    return y.astype(np.int64)


def _digits(seed: int) -> DataSplit:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]
    return _split("digits", x, d.target.astype(np.int64), seed, flip=False, source="digits")


def _npz(path: Path, seed: int) -> DataSplit:
    src = f"npz:{path}"
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f or "y" not in f:
                raise UserError(f"{src}: expected arrays 'x' and 'y', found {sorted(f.files)}")
            x, y = f["x"], f["y"]
    except FileNotFoundError:
        raise UserError(f"{src}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(f"{src}: not a readable .npz file ({e.__class__.__name__}: {str(e)[:80]})") from None
    x = _to_nchw01(x, src)
    return _split(path.stem, x, _labels(y, len(x), src), seed, flip=False, source=src)


def _imagefolder(path: Path, seed: int) -> DataSplit:
    from PIL import Image, UnidentifiedImageError

    src = f"imagefolder:{path}"
    if not path.is_dir():
        raise UserError(f"{src}: no such folder")
    # hidden folders (.git, .ipynb_checkpoints) are not classes
    class_dirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise UserError(f"{src}: expected one sub-folder per class, found {len(class_dirs)}")
    files = [(f, c) for c, d in enumerate(class_dirs) for f in sorted(d.iterdir())
             if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")]
    if not files:
        raise UserError(f"{src}: no PNG/JPEG images in the class folders")
    have = {c for _, c in files}
    empty = [d.name for c, d in enumerate(class_dirs) if c not in have]
    if empty:
        raise UserError(f"{src}: class folder '{empty[0]}' has no PNG/JPEG images")
    modes = set()
    images = []
    for f, _ in files:
        try:
            with Image.open(f) as im:
                w, h = im.size
                if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
                    raise UserError(f"{f}: image of {w}x{h} pixels, expected 1..{MAX_SIDE} a side")
                modes.add("L" if im.mode in ("L", "1", "I;16") else "RGB")
                images.append(im.convert("RGB").resize((IMAGEFOLDER_SIZE, IMAGEFOLDER_SIZE), Image.BILINEAR))
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError, SyntaxError) as e:
            raise UserError(f"{f}: unreadable image ({e.__class__.__name__})") from None
    x = np.stack([np.asarray(im) for im in images])
    if modes == {"L"}:
        x = x[:, :, :, :1]
    y = np.array([c for _, c in files], dtype=np.int64)
    return _split(path.name, _to_nchw01(x, src), y, seed, flip=True, source=src)


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR-10 batch holds (dicts, lists, bytes, numpy arrays): a hostile
    pickle cannot name any other callable."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
                ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's signature
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _cifar10(path: Path, seed: int) -> DataSplit:
    src = f"cifar10:{path}"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (path / n).is_file()]
    if missing:
        raise UserError(f"{src}: missing {', '.join(missing)} (expected the 'cifar-10-batches-py' folder)")
    xs, ys = [], []
    for n in names:
        try:
            with open(path / n, "rb") as f:
                d = _CifarUnpickler(f, encoding="bytes").load()
            if not isinstance(d, dict):
                raise TypeError(f"a pickled {type(d).__name__}, expected a dict")
            x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            y = np.asarray(d[b"labels"], dtype=np.int64).reshape(-1)
        except (pickle.UnpicklingError, KeyError, EOFError, ValueError, TypeError, AttributeError,
                IndexError, OSError) as e:
            raise UserError(f"{path / n}: not a CIFAR-10 batch ({e.__class__.__name__}: {str(e)[:80]})") from None
        if len(y) != len(x) or len(x) == 0:
            raise UserError(f"{path / n}: {len(x)} images but {len(y)} labels")
        if y.min() < 0 or y.max() > 9:
            raise UserError(f"{path / n}: labels must be 0..9, found {int(y.min())}..{int(y.max())}")
        xs.append(x)
        ys.append(y)
    x = np.concatenate(xs[:5]).astype(np.float32) / 255.0
    y = np.concatenate(ys[:5])
    # the official test batch is the test split; validation is carved from the training batches
    return _split("cifar10", x, y, seed, flip=True, source=src, test=(xs[5].astype(np.float32) / 255.0, ys[5]))


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (the MNIST format; gzipped when the name ends in .gz) as a numpy array."""
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            raw = f.read(MAX_IDX_BYTES + 1)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"{path}: not a readable IDX file ({e.__class__.__name__}: {e})") from None
    if len(raw) > MAX_IDX_BYTES:
        raise UserError(f"{path}: more than {MAX_IDX_BYTES >> 20} MB of IDX data: not a data set this tool reads")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise UserError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    ndim = raw[3]
    if ndim < 1 or len(raw) < 4 + 4 * ndim:
        raise UserError(f"{path}: not an IDX file (header of {ndim} dimensions is truncated)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    size = math.prod(shape) * dtype.itemsize
    body = raw[4 + 4 * ndim :]
    if len(body) != size:
        raise UserError(f"{path}: IDX header says shape {shape} ({size} bytes of data), the file has {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def _idx_file(folder: Path, patterns: tuple[str, ...], src: str, required: bool) -> Path | None:
    found = sorted({f for p in patterns for f in folder.glob(f"*{p}*") if f.is_file()})
    if len(found) > 1:
        raise UserError(f"{src}: several files match {' or '.join(patterns)}: {', '.join(f.name for f in found)}")
    if not found and required:
        raise UserError(f"{src}: no file matching *{patterns[0]}* (expected MNIST-format IDX files)")
    return found[0] if found else None


def _idx_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_idx(images), read_idx(labels)
    if x.ndim not in (3, 4):
        raise UserError(f"{images}: expected images of shape N,H,W[,C], got {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise UserError(f"{labels}: expected {len(x)} labels (one per image of {images.name}), got shape {y.shape}")
    return _to_nchw01(np.asarray(x), str(images)), _labels(y, len(x), str(labels))


def _idx(path: Path, seed: int, name: str | None = None, flip: bool = False) -> DataSplit:
    src = f"idx:{path}"
    if not path.is_dir():
        raise UserError(f"{src}: no such folder")
    train = _idx_pair(_idx_file(path, ("train-images",), src, True), _idx_file(path, ("train-labels",), src, True))
    test_images = _idx_file(path, ("t10k-images", "test-images"), src, False)
    test_labels = _idx_file(path, ("t10k-labels", "test-labels"), src, False)
    if (test_images is None) != (test_labels is None):
        raise UserError(f"{src}: found {(test_images or test_labels).name} without its "
                        f"{'labels' if test_labels is None else 'images'} file")
    test = None
    if test_images is not None:
        test = _idx_pair(test_images, test_labels)
        if test[0].shape[1:] != train[0].shape[1:]:
            raise UserError(f"{src}: test images are {test[0].shape[1:]}, training images {train[0].shape[1:]}")
    return _split(name or path.name, *train, seed, flip=flip, source=src, test=test)


def _fashion_mnist(seed: int) -> DataSplit:
    names = [f"{p}-{k}-idx{d}-ubyte.gz" for p in ("train", "t10k") for k, d in (("images", 3), ("labels", 1))]
    if not all((FASHION_MNIST_DIR / n).is_file() for n in names):
        raise UserError(f"fashion-mnist: {FASHION_MNIST_DIR} not found or incomplete: install the Debian package "
                        f"{FASHION_MNIST_PACKAGE} (apt-get install {FASHION_MNIST_PACKAGE}, or `make` as root)")
    return _idx(FASHION_MNIST_DIR, seed, name="fashion-mnist")


SOURCES_HELP = "digits, fashion-mnist, idx:DIR, npz:PATH, imagefolder:PATH or cifar10:PATH"


def load_source(spec: str, seed: int = 0) -> DataSplit:
    """Load a data source by spec (see the module docstring)."""
    kind, _, arg = spec.partition(":")
    if kind == "digits" and not arg:
        return _digits(seed)
    if kind == "fashion-mnist" and not arg:
        return _fashion_mnist(seed)
    loaders = {"idx": _idx, "npz": _npz, "imagefolder": _imagefolder, "cifar10": _cifar10}
    if kind not in loaders or not arg:
        raise UserError(f"unknown data source '{spec}': expected {SOURCES_HELP}")
    return loaders[kind](Path(arg).expanduser(), seed)


# ---- batches (torch) -------------------------------------------------------------------------

def resize(x, resolution: int):
    """Bilinear resize of an N,C,H,W torch batch to resolution x resolution (antialiased when shrinking)."""
    import torch.nn.functional as F

    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x
    shrink = x.shape[-1] > resolution
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=shrink)


def augment(x, generator, flip: bool, max_shift: float = 0.125):
    """Random translation by up to ``max_shift`` of the size (zero fill), and flips when valid."""
    import torch

    n, _, h, w = x.shape
    dy = torch.randint(-int(h * max_shift), int(h * max_shift) + 1, (n,), generator=generator)
    dx = torch.randint(-int(w * max_shift), int(w * max_shift) + 1, (n,), generator=generator)
    ys = (torch.arange(h).view(1, h) - dy.view(n, 1)).clamp(-1, h)  # -1/h index the zero padding
    xs = (torch.arange(w).view(1, w) - dx.view(n, 1)).clamp(-1, w)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    out = padded[torch.arange(n)[:, None, None], :, (ys + 1)[:, :, None], (xs + 1)[:, None, :]]
    out = out.permute(0, 3, 1, 2)
    if flip:
        mask = torch.rand(n, generator=generator) < 0.5
        out[mask] = out[mask].flip(-1)
    return out
