"""Atomic file output: write to a temporary file in the same folder, fsync, then rename.

Every file the tool produces goes through here, so an interrupted run never leaves a
half-written file behind under the final name. :func:`check_writable` is what every verb calls on
its output paths before long work starts; an OS error while writing is one ``UserError`` line
naming the path. JSON is written strictly: a ``NaN`` or ``Infinity`` is a bug, never output.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ofa_mcu.errors import UserError, WorkFailed


def _os_error(path: Path, e: OSError) -> UserError:
    return UserError(f"{path}: cannot write: {e.strerror or e}")


def check_writable(path: str | os.PathLike, *, folder: bool = False) -> Path:
    """Refuse (one UserError line) an output path that cannot be written, before any work.

    ``folder``: the path is an output folder (created later), else a file. Probes by creating
    and removing a temporary file in the nearest existing folder, so read-only folders and
    file systems are caught too; creates nothing that stays.
    """
    p = Path(path)
    if p.exists():
        if folder and not p.is_dir():
            raise UserError(f"{p}: exists and is not a folder")
        if not folder and p.is_dir():
            raise UserError(f"{p}: is a folder, expected a file path")
    probe = p if folder and p.is_dir() else p.parent
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UserError(f"{p}: cannot write: {probe} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=probe, prefix=".ofa-mcu-probe."):
            pass
    except OSError as e:
        raise UserError(f"{p}: cannot write in {probe}: {e.strerror or e}") from None
    return p


def atomic_write(path: str | os.PathLike, writer: Callable[[Any], None], mode: str = "wb") -> Path:
    """Call ``writer(fileobj)`` on a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _os_error(path, e) from None
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        with os.fdopen(fd, mode) as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):
            raise _os_error(path, e) from None
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data), "wb")


def write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text), "w")


def dumps_json(obj: Any, **kwargs: Any) -> str:
    """JSON text of ``obj``; a non-finite number is refused (JSON has none), never written."""
    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError as e:
        raise WorkFailed(f"refusing to write a non-finite number as JSON ({e})") from None


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, dumps_json(obj, indent=2, sort_keys=False) + "\n")


def remove_stale_temps(folder: str | os.PathLike, name: str) -> None:
    """Remove temporary files a killed writer of ``folder/name`` left behind."""
    for tmp in Path(folder).glob(f".{name}.*.tmp"):
        try:
            tmp.unlink()
        except OSError:
            pass
