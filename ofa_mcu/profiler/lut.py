"""Latency LUTs: per op kind, ``count = cycles_per_mac * MACs + cycles_per_op`` fitted on measured
layers. A sample's ``count`` is in the LUT's ``unit``: CPU cycles on a board, instructions in QEMU
(``-icount``; the coefficients keep the board YAML's names, whose "cycles" are instructions for
emulated boards). This module writes them (:func:`fit_latency_lut`, :func:`merge_latency_lut`,
:func:`update_lut`) and reads them (:func:`read_lut`: the typed run-file model, then the format
check; the search's latency model reads LUTs through it too).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ofa_mcu.artifacts import LutFile, read_run_file
from ofa_mcu.atomic import check_writable, write_json
from ofa_mcu.errors import UserError
from ofa_mcu.ir import OP_KINDS
from ofa_mcu.profiler.profile import ProfileResult

LUT_FORMAT = "ofa-mcu-latency-lut"
LUT_VERSION = 1



def lut_samples(results: ProfileResult | Iterable[ProfileResult], *, use_instructions: bool | None = None) -> list[dict[str, Any]]:
    """Per-layer samples ``{kind, macs, count}`` of profile results whose layers have MACs.

    Only layers of one IR op kind (``ofa_mcu.ir.OP_KINDS``) are samples: a fused call of the
    native runtime (kind ``pointwise+depthwise``) cannot be split between its kinds, and the
    latency model predicts per IR op. For emulated results the value is the instruction count
    (``use_instructions`` default), else the cycle count: the caller names the LUT's ``unit``.
    """
    items = [results] if isinstance(results, ProfileResult) else list(results)
    out: list[dict[str, Any]] = []
    for r in items:
        instr = r.emulated if use_instructions is None else use_instructions
        for layer in r.layers:
            if layer.macs is None or layer.kind not in OP_KINDS:
                continue
            value = layer.instructions if instr and layer.instructions is not None else layer.cycles
            out.append({"kind": layer.kind, "macs": int(layer.macs), "count": float(value)})
    return out


def _fit_one(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares y = a*x + b with a, b >= 0."""
    n = len(xs)
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx > 0:
        a = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
        b = my - a * mx
    else:
        a, b = (my / mx, 0.0) if mx > 0 else (0.0, my)
    if b < 0:  # no negative overhead: fit through the origin
        sxx0 = sum(x * x for x in xs)
        a, b = (sum(x * y for x, y in zip(xs, ys, strict=True)) / sxx0, 0.0) if sxx0 > 0 else (0.0, my)
    if a < 0:
        a, b = 0.0, my
    return a, b


def fit_latency_lut(
    samples: Iterable[Mapping[str, Any]],
    *,
    board: str | None = None,
    unit: str = "cycles",
    clock_hz: int | None = None,
) -> dict[str, Any]:
    """Fit ``count = cycles_per_mac * MACs + cycles_per_op`` per op kind (least squares).

    ``samples``: mappings with ``kind``, ``macs``, ``count`` in ``unit`` (e.g. from
    :func:`lut_samples`; ``cycles``, the name LUTs written before used, is read as ``count``).
    Returns the LUT JSON: per kind the two coefficients (the names of the board YAML's
    ``latency`` table), the sample count and the fit error (RMSE, largest absolute error, mean
    relative error, R^2); the samples are kept so that later measurements can be merged.
    """
    by_kind: dict[str, list[tuple[float, float]]] = {}
    kept: list[dict[str, Any]] = []
    for s in samples:
        try:
            kind, macs, cyc = str(s["kind"]), float(s["macs"]), float(s["count"] if "count" in s else s["cycles"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"latency sample {dict(s)!r}: expected kind, macs and count") from None
        if macs < 0 or cyc < 0 or math.isnan(macs) or math.isnan(cyc):
            raise UserError(f"latency sample {dict(s)!r}: macs and count must be >= 0")
        by_kind.setdefault(kind, []).append((macs, cyc))
        kept.append({"kind": kind, "macs": int(macs), "count": cyc})
    kinds: dict[str, dict[str, float | int]] = {}
    for kind in sorted(by_kind):
        xs = [x for x, _ in by_kind[kind]]
        ys = [y for _, y in by_kind[kind]]
        a, b = _fit_one(xs, ys)
        pred = [a * x + b for x in xs]
        err = [p - y for p, y in zip(pred, ys, strict=True)]
        my = sum(ys) / len(ys)
        ss_tot = sum((y - my) ** 2 for y in ys)
        ss_res = sum(e * e for e in err)
        rel = [abs(e) / y for e, y in zip(err, ys, strict=True) if y > 0]
        kinds[kind] = {
            "cycles_per_mac": a,
            "cycles_per_op": b,
            "n": len(xs),
            "rmse": math.sqrt(ss_res / len(xs)),
            "max_abs_error": max(abs(e) for e in err),
            "mean_rel_error": sum(rel) / len(rel) if rel else 0.0,
            "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0,
        }
    return {
        "format": LUT_FORMAT,
        "version": LUT_VERSION,
        "board": board,
        "unit": unit,
        "clock_hz": clock_hz,
        "kinds": kinds,
        "samples": kept,
    }


def merge_latency_lut(previous: Mapping[str, Any] | None, samples: Iterable[Mapping[str, Any]], **meta: Any) -> dict[str, Any]:
    """Refit a LUT over its stored samples plus new ones (``meta``: board, unit, clock_hz)."""
    old: list[Mapping[str, Any]] = []
    if previous:
        if previous.get("format") != LUT_FORMAT:
            raise UserError(f"not an ofa-mcu latency LUT (format {previous.get('format')!r})")
        old = list(previous.get("samples", []))
        for key in ("board", "unit", "clock_hz"):
            if meta.get(key) is None and previous.get(key) is not None:
                meta[key] = previous[key]
            elif meta.get(key) is not None and previous.get(key) not in (None, meta[key]):
                raise UserError(f"latency LUT is for {key}={previous[key]!r}, new samples for {meta[key]!r}")
    return fit_latency_lut([*old, *samples], **meta)


def validate_lut(data: dict[str, Any], origin: str) -> dict[str, Any]:
    """``data`` if it is an ofa-mcu latency LUT: the format tag, and per op kind of the IR two finite,
    non-negative coefficients; else a one-line ``UserError`` naming ``origin``."""
    if data.get("format") != LUT_FORMAT:
        raise UserError(f"{origin}: not an ofa-mcu latency LUT (format {data.get('format')!r}, expected "
                        f"{LUT_FORMAT!r})")
    for kind, coef in data["kinds"].items():
        if kind not in OP_KINDS:
            raise UserError(f"{origin}: latency LUT kind {kind!r}: expected one of {', '.join(OP_KINDS)}")
        for key in ("cycles_per_mac", "cycles_per_op"):
            v = coef[key]
            if not math.isfinite(v):
                raise UserError(f"{origin}: latency LUT kinds.{kind}.{key}: expected a finite number, got {v!r}")
    return data


def read_lut(path: str | Path) -> dict[str, Any]:
    """The latency LUT at ``path``: read as a typed run file (:class:`ofa_mcu.artifacts.LutFile`),
    then :func:`validate_lut`; every problem is a one-line ``UserError``."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such latency LUT")
    return validate_lut(read_run_file(LutFile, p), str(p))


def check_lut(path: str | Path | None) -> None:
    """Before measuring: ``--lut`` must be writable, and a LUT already there must be readable."""
    if path and check_writable(path).exists():
        read_lut(path)


def update_lut(path: str | Path, result: ProfileResult) -> dict[str, Any]:
    """Merge the result's per-layer samples into the LUT at ``path`` (created if missing); return it."""
    samples = lut_samples(result)
    if not samples:
        raise UserError("--lut needs per-layer MACs: profile a compiled project (qemu:FWDIR, or --project FWDIR "
                        "for a serial port) whose compile.json lists its layers")
    p = Path(path)
    previous = read_lut(p) if p.is_file() else None
    lut = merge_latency_lut(previous, samples, board=result.board, unit=result.count_unit, clock_hz=result.clock_hz)
    write_json(p, lut)
    return lut
