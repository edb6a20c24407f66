"""Loading YAML files into pydantic models with one-line errors that name the file and field.

Board targets, search spaces and training schedules all go through ``load_yaml_model`` so a
user sees the same kind of message for every bad file: ``FILE: FIELD.PATH: what was expected``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ofa_mcu.errors import UserError

M = TypeVar("M", bound=BaseModel)


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def format_validation_error(source: str, err: ValidationError) -> str:
    """The first problem of a pydantic error as ``source: field: message (got value)``."""
    errors = err.errors()
    # an unknown key usually explains the rest (a typo'd field is also "missing"): report it first
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "missing required field"
    got = first.get("input")
    got_txt = "" if first["type"] in ("missing", "extra_forbidden") or isinstance(got, dict) else f", got {got!r}"
    more = len(errors) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{source}: {_field_path(tuple(first['loc']))}: {msg}{got_txt}{tail}"


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a missing file or bad syntax is a one-line UserError."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise UserError(f"{path}: invalid YAML{where}: {problem}") from None


def validate_model(model: type[M], data: Any, source: str) -> M:
    """Validate ``data`` as ``model``; errors become one-line UserErrors naming ``source``."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise UserError(format_validation_error(source, e)) from None


def load_yaml_model(model: type[M], path: Path) -> M:
    return validate_model(model, read_yaml(path), str(path))
