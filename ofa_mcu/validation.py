"""Loading YAML files into pydantic models with one-line errors that name the file and field.

Board targets, search spaces and training schedules all go through this module so a user sees
the same kind of message for every bad file: ``FILE: FIELD.PATH: what was expected, got VALUE``.
YAML is read with a safe loader that also rejects a key given twice in one mapping and any
alias (``*name``: a "billion laughs" file expands exponentially), and every document is checked
for finite numbers and a bounded depth before a model sees it (:func:`ofa_mcu.userfiles.check_plain`),
so no model accepts ``.inf`` or ``.nan``.
"""

from __future__ import annotations

import reprlib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml
from pydantic import BaseModel, ValidationError

from ofa_mcu.errors import UserError
from ofa_mcu.userfiles import check_plain, read_text

M = TypeVar("M", bound=BaseModel)

# pydantic error types -> what was expected, in words
_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
# custom error types whose message already says everything (raised by validators of this package)
_SELF_EXPLAINED = ("size", "address", "positive_int", "positive_number", "range", "family")

_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 2, 4, 4, 50, 50


def show(value: Any) -> str:
    """A value as an error message quotes it (a bounded repr, cut at 60 characters)."""
    text = _SHORT.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def one_line(text: str) -> str:
    return " ".join(text.split())


def _loc_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _unwrap_optional(ann: Any) -> Any:
    if typing.get_origin(ann) in (Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return ann


def _model_at(root: type[BaseModel] | None, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class found at ``loc`` inside ``root`` (None if the path leads elsewhere)."""
    ann: Any = root
    for part in loc:
        ann = _unwrap_optional(ann)
        origin = typing.get_origin(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel) and isinstance(part, str):
            field = ann.model_fields.get(part)
            if field is None:
                return None
            ann = field.annotation
        elif origin is list:
            ann = typing.get_args(ann)[0]
        elif origin is dict:
            ann = typing.get_args(ann)[1]
        else:
            return None
    ann = _unwrap_optional(ann)
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _describe(err: Any, root: type[BaseModel] | None) -> tuple[str, str]:
    """(field path, what was expected) for one pydantic error."""
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    got = show(err.get("input"))
    if "field" in ctx and "message" in ctx:  # a validator's error about one of the fields it checks
        path = ".".join(p for p in (_loc_path(loc), str(ctx["field"])) if p)
        return path.replace(".[", "["), str(ctx["message"])
    path = _loc_path(loc)
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        keys = ", ".join(model.model_fields) if model else ""
        return path, f"unknown key (expected one of: {keys})" if keys else "unknown key"
    if kind == "missing":
        return path, "missing required field"
    if kind == "literal_error":
        return path, f"expected one of {ctx.get('expected', '?')}, got {got}"
    if kind in _EXPECTED:
        return path, f"expected {_EXPECTED[kind]}, got {got}"
    msg = str(err.get("msg", kind))
    if kind in _SELF_EXPLAINED:
        return path, msg
    return path, f"{msg}, got {got}"


def format_validation_error(source: str, err: ValidationError, root: type[BaseModel] | None = None) -> str:
    """The first problem of a pydantic error as ``source: field: what was expected, got value``.

    ``root``: the model that was validated (lets an unknown key list the allowed ones).
    """
    # an unknown key usually is a misspelt one: report it before the "missing field" it causes
    errors = sorted(err.errors(), key=lambda e: e.get("type") != "extra_forbidden")
    path, what = _describe(errors[0], root)
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    where = f"{source}: {path}: " if path else f"{source}: "
    return one_line(f"{where}{what}{more}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that rejects a key given twice in one mapping (PyYAML keeps the last) and
    any alias: a few lines of anchors and aliases can expand to gigabytes ("billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.events.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed, write the value out", mark)
        return super().compose_node(parent, index)


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text; bad syntax or a duplicate key is a one-line UserError naming ``source``."""
    try:
        return check_plain(yaml.load(text, Loader=_UniqueKeyLoader), source)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise UserError(f"{source}: nested too deep") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or "invalid YAML"
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise UserError(one_line(f"{source}: invalid YAML{at}: {problem}")) from None


def read_yaml(path: Path, source: str | None = None) -> Any:
    """Parse a YAML file; a missing or unreadable file or bad syntax is a one-line UserError
    naming ``source`` (default: the path)."""
    source = source or str(path)
    return parse_yaml(read_text(path, source), source)


def validate_model(model: type[M], data: Any, source: str) -> M:
    """Validate ``data`` as ``model``; errors become one-line UserErrors naming ``source``."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    check_plain(data, source)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise UserError(format_validation_error(source, e, model)) from None


def load_yaml_model(model: type[M], path: Path) -> M:
    return validate_model(model, read_yaml(path), str(path))


def in_range(lo: float, hi: float, unit: str = "") -> Any:
    """An after-validator refusing a number outside the physically plausible [lo, hi]."""
    from pydantic_core import PydanticCustomError

    def check(value: Any) -> Any:
        if not lo <= value <= hi:
            raise PydanticCustomError("range", "expected a value in {lo} .. {hi}{unit}, got {got}",
                                      {"lo": _num(lo), "hi": _num(hi), "unit": unit, "got": show(value)})
        return value

    return check


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"
