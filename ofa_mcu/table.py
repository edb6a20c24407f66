"""Plain-text tables for the terminal (right-aligned numbers, left-aligned text)."""

from __future__ import annotations

from collections.abc import Sequence


def fmt_bytes(n: int | float) -> str:
    """Bytes as KB with one decimal (1 KB = 1024 B), the unit MCU datasheets use."""
    return f"{n / 1024:.1f} KB"


def fmt_int(n: int) -> str:
    return f"{n:,}"


def render(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str | None = None) -> str:
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_is_number(r[i]) for r in cells[1:]) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric)).rstrip()

    out = [title] if title else []
    out.append(line(cells[0]))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in cells[1:])
    return "\n".join(out)


def _is_number(s: str) -> bool:
    s = s.replace(",", "").replace(" KB", "").replace("%", "").replace("x", "")
    try:
        float(s)
        return True
    except ValueError:
        return s in ("", "-")
