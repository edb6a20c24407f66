"""Helpers for tests: run the CLI as a user would, and require external tools (strictly in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

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
