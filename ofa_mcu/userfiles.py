"""Reading files a user (or an earlier run) hands us: bounded, UTF-8, finite, one-line errors.

Every JSON file the tool reads (subnet files, search results, run files such as project.json,
compile.json, profile.json, sidecars, latency LUTs) goes through :func:`read_json`, and every
parsed document (JSON or YAML) can be checked by :func:`check_plain`. Whatever is wrong with a
file -- missing, a folder, too large, not UTF-8, invalid syntax, nested absurdly deep, ``NaN`` or
``Infinity``, the wrong type at the top -- becomes one :class:`UserError` line naming the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ofa_mcu.errors import UserError

MAX_FILE_BYTES = 64 << 20  # no text file the tool reads is anywhere near this
MAX_DEPTH = 64  # nesting depth of a JSON/YAML document (real files: under 10)

_TYPE_WORDS = {dict: "a JSON object", list: "a JSON array", str: "a string"}


def type_word(value: Any) -> str:
    """How an error names the type of a parsed value ("an array", "null", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return "a number"


def read_text(path: str | Path, source: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a file; missing, unreadable, too large or not UTF-8 is a UserError."""
    p = Path(path)
    source = source or str(p)
    try:
        if p.is_dir():
            raise UserError(f"{source}: is a folder, expected a file")
        with open(p, "rb") as f:
            raw = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise UserError(f"{source}: no such file") from None
    except OSError as e:
        raise UserError(f"{source}: cannot read: {e.strerror or e}") from None
    if len(raw) > max_bytes:
        raise UserError(f"{source}: larger than {max_bytes >> 20} MiB, not a file this tool wrote or reads")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{source}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def check_plain(data: Any, source: str, max_depth: int = MAX_DEPTH) -> Any:
    """``data`` unchanged if it nests at most ``max_depth`` deep and holds only finite numbers;
    otherwise a UserError naming ``source`` and the field path."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > max_depth:
            raise UserError(f"{source}: nested more than {max_depth} levels deep" + (f" at {path}" if path else ""))
        if isinstance(value, float) and not math.isfinite(value):
            where = f"{path}: " if path else ""
            raise UserError(f"{source}: {where}expected a finite number, got {value}")
        if isinstance(value, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
    return data


def parse_json(text: str, source: str) -> Any:
    """Parse JSON text strictly (no NaN/Infinity, bounded depth); errors name ``source``."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise UserError(f"{source}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except ValueError as e:  # NaN / Infinity
        raise UserError(f"{source}: invalid JSON: {e}") from None
    except RecursionError:
        raise UserError(f"{source}: nested more than {MAX_DEPTH} levels deep") from None
    return check_plain(data, source)


def read_json(path: str | Path, source: str | None = None, expect: type | None = dict) -> Any:
    """A JSON file, parsed and checked; ``expect``: the type required at the top level."""
    source = source or str(path)
    data = parse_json(read_text(path, source), source)
    if expect is not None and not isinstance(data, expect):
        want = _TYPE_WORDS.get(expect, expect.__name__)
        raise UserError(f"{source}: expected {want} at the top level, got {type_word(data)}")
    return data
