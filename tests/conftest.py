"""Shared fixtures: the shipped search spaces, and a tiny space trained once per test session."""

from __future__ import annotations

import os

# pytest runs two workers on two cores: one thread each (and in the CLI subprocesses they start)
# avoids oversubscription, which slows torch's small convolutions several times over.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from helpers import TINY_SCHEDULE, TINY_SPACE, run_cli, train_args

from ofa_mcu.space import load_space  # noqa: E402


@pytest.fixture(params=["mcu-32", "mcu-28", "mcu-imagenet"])
def space(request):
    return load_space(request.param)


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """A 300-image digits subset as an npz source, a tiny space and a tiny schedule."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("train")
    d = load_digits()
    np.savez(root / "digits300.npz", x=(d.images[:300] * 255 / 16).astype(np.uint8), y=d.target[:300])
    (root / "space.yaml").write_text(TINY_SPACE)
    (root / "schedule.yaml").write_text(TINY_SCHEDULE)
    return root


@pytest.fixture(scope="session")
def trained(files):
    out = files / "run"
    proc = run_cli(*train_args(files, out), check=True)
    return out, proc
