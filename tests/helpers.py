"""Helpers for tests: run the CLI as a user would, and require external tools (strictly in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def run_cli(*args: str, check: bool = False, timeout: float = 600, cwd: str | None = None) -> subprocess.CompletedProcess:
    """Run `ofa-mcu ARGS` in a subprocess (exit codes and stderr exactly as a user sees them)."""
    proc = subprocess.run([sys.executable, "-m", "ofa_mcu", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"ofa-mcu {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def require_tool(name: str) -> str:
    """Path of an external tool; skip when absent, except in CI where it must be installed."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required in CI (the Makefile installs it)")
        pytest.skip(f"{name} not installed")
    return path


# ---- a tiny space and schedule: a supernet trained in well under a minute ----

TINY_SPACE = """\
name: tiny
in_channels: 1
classes: 10
resolutions: [12, 16]
stem: {channels: 8, kernel: 3, stride: 2}
first_block: {channels: 8}
kernels: [3, 5]
expands: [2, 3]
stages:
  - {channels: 8, stride: 1, depths: [1, 2]}
  - {channels: 16, stride: 2, depths: [1, 2]}
"""

TINY_SCHEDULE = """\
name: tiny
batch_size: 32
subnets_per_step: 3
kd_ratio: 1.0
bn_calib_samples: 64
phases:
  - {kind: full, epochs: 2, lr: 0.1, warmup_epochs: 1}
  - {kind: kernel, epochs: 1, lr: 0.03}
  - {kind: depth-1, epochs: 1, lr: 0.02}
  - {kind: depth-2, epochs: 1, lr: 0.02}
  - {kind: expand-1, epochs: 1, lr: 0.02}
  - {kind: expand-2, epochs: 1, lr: 0.02}
"""


def train_args(files, out, *extra):
    return ["train", "--space", str(files / "space.yaml"), "--data", f"npz:{files / 'digits300.npz'}",
            "--schedule", str(files / "schedule.yaml"), "--out", str(out), "--quiet", *extra]


def touch_files(root: Path, *rels: str) -> Path:
    """Create placeholder files ``rels`` under ``root`` (folder layouts for path-handling tests)."""
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("/* placeholder */\n")
    return root


def load_benchmark(name: str):
    """The script benchmarks/<name>.py as a module (tests reuse its build-and-run code)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
