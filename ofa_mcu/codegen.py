"""Code generation: the one Jinja environment and the one set of C-literal filters.

Every generated file (native and TFLM model sources, firmware projects, the report, the
benchmarks' firmware) is rendered from a template under ``templates/`` with :func:`environment`.
The C-literal helpers are plain functions too (:func:`c_int`, :func:`c_float`, :func:`c_string`,
:func:`c_rows`, :func:`hex_rows`, ...) for code that builds template context; none of them is
written a second time anywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import jinja2
import numpy as np

from ofa_mcu.errors import WorkFailed
from ofa_mcu.resources import templates_dir

INT32_MIN = -(1 << 31)


def c_int(v: Any) -> str:
    """A C integer literal (INT32_MIN written so that it stays an int)."""
    v = int(v)
    return "(-2147483647 - 1)" if v == INT32_MIN else str(v)


def c_unsigned(v: Any) -> str:
    """An unsigned C literal: ``123u``."""
    return f"{int(v)}u"


def c_hex32(v: Any) -> str:
    """A 32-bit unsigned hex C literal: ``0x20000000u``."""
    return f"0x{int(v):08X}u"


def c_float(v: Any, style: str = "e") -> str:
    """A float32 C literal that reads back to the same float32 (``style`` ``e``: ``1.000000000e-02f``,
    ``g``: ``0.01f``)."""
    f = float(np.float32(v))
    if style == "e":
        return f"{f:.9e}f"
    if style == "g":
        return f"{f:.9g}f"
    raise ValueError(f"c_float style must be 'e' or 'g', not {style!r}")


def c_string(s: Any) -> str:
    """The body of a C string literal: printable ASCII kept, quotes and backslashes escaped,
    anything else as octal escapes of its UTF-8 bytes."""
    out = []
    for ch in str(s):
        if ch in '"\\':
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.extend(f"\\{b:03o}" for b in ch.encode("utf-8"))
    return "".join(out)


def c_quoted(s: Any) -> str:
    """A complete C string literal (:func:`c_string` in double quotes)."""
    return f'"{c_string(s)}"'


def comment(s: Any) -> str:
    """Text safe inside a C block comment."""
    return str(s).replace("*/", "* /").replace("/*", "/ *")


def c_rows(values: Any, per_line: int) -> list[str]:
    """Integer array values as C initializer rows of ``per_line`` values (no trailing comma)."""
    flat = np.asarray(values).ravel().tolist()
    return [", ".join(c_int(v) if v == INT32_MIN else str(v) for v in flat[i:i + per_line])
            for i in range(0, len(flat), per_line)]


def hex_rows(data: bytes, per_line: int = 16) -> list[str]:
    """``data`` as rows of C hex byte literals (``0x1c, 0x00, ...``), each ending with a comma."""
    return [", ".join(f"0x{b:02x}" for b in data[i:i + per_line]) + "," for i in range(0, len(data), per_line)]


def kb(n: int | float | None) -> str:
    """Bytes as ``12.3 KB`` (``-`` for None)."""
    return "-" if n is None else f"{n / 1024:.1f} KB"


def pct(a: float | None) -> str:
    """A fraction as ``12.3%`` (``-`` for None)."""
    return "-" if a is None else f"{100 * a:.1f}%"


def ms(v: float | None) -> str:
    """Milliseconds with a precision that suits the magnitude (``-`` for None)."""
    if v is None:
        return "-"
    return f"{v:.3f} ms" if v < 1 else f"{v:.2f} ms" if v < 100 else f"{v:.0f} ms"


FILTERS = {
    "c_int": c_int, "c_unsigned": c_unsigned, "c_hex32": c_hex32, "c_float": c_float, "c_string": c_string,
    "cstr": c_quoted, "comment": comment, "c_rows": c_rows, "hex_rows": hex_rows, "kb": kb, "pct": pct, "ms": ms,
}  # fmt: skip


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja environment every generated file is rendered with: templates under
    ``templates/``, strict undefined, HTML autoescape for ``*.html.j2`` only, the filters above."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
    )
    env.filters.update(FILTERS)
    return env


def render(template: str, context: Mapping[str, Any], what: str = "") -> str:
    """Render ``template`` (a path under ``templates/``); a template error is ``WorkFailed``."""
    try:
        return environment().get_template(template).render(context)
    except jinja2.TemplateError as e:
        raise WorkFailed(f"rendering {what or template} failed: {type(e).__name__}: {e}") from None


def render_all(templates: Iterable[tuple[str, str]], context: Mapping[str, Any], what: str) -> dict[str, str]:
    """``{target: text}`` for ``(target, template)`` pairs rendered with one context."""
    return {target: render(template, context, what) for target, template in templates}
