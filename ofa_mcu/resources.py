"""Where the package's data lives: board YAMLs, Jinja templates, firmware sources, search spaces.

In a source checkout (or an editable install) the folders sit at the repository root; a wheel
built by setup.py carries copies under ``ofa_mcu/_data/``. Everything else asks this module.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the folder ``targets``, ``templates`` or ``firmware`` for this installation."""
    for candidate in (_PKG / "_data" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"ofa-mcu installation is missing its '{name}' folder (looked in {_PKG})")


def targets_dir() -> Path:
    return data_dir("targets")


def templates_dir() -> Path:
    return data_dir("templates")


def firmware_dir() -> Path:
    return data_dir("firmware")


def spaces_dir() -> Path:
    return _PKG / "spaces"
