"""Render a gathered output folder as ``report.html`` (one self-contained file) and ``report.md``.

The HTML embeds its figures as ``data:`` URIs and its style inline: it can be mailed, attached to
a CI run or opened offline. Templates: ``templates/report/report.html.j2`` and ``report.md.j2``.
The family table (board, runtime, accuracy, SRAM, flash, latency, MACs) is the same in the
terminal, the Markdown and the HTML.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ofa_mcu import __version__
from ofa_mcu.atomic import write_text
from ofa_mcu.codegen import kb as _kb
from ofa_mcu.codegen import ms as _ms
from ofa_mcu.codegen import pct as _pct
from ofa_mcu.codegen import render as render_template
from ofa_mcu.energy import ENERGY_NOTE, energy_uj
from ofa_mcu.report import figures
from ofa_mcu.report.data import BoardReport, ReportData, gather
from ofa_mcu.runtimes import find_runtime
from ofa_mcu.table import render

HTML_NAME = "report.html"
MD_NAME = "report.md"
# "test accuracy": float, the whole test split (the search's figure, the one to compare boards by);
# "accuracy float / INT8": the export's check on a test subset (what quantization costs)
FAMILY_HEADERS = ("board", "runtime", "test accuracy", "accuracy float / INT8", "SRAM used / usable",
                  "flash used / usable", "latency", "energy / inference", "MACs")


def latency_label(br: BoardReport) -> str:
    value, how = br.latency
    if value is None:
        return "-"
    if how == "measured":
        return f"{_ms(value)} (QEMU)" if br.profile and br.profile.get("emulated") else f"{_ms(value)} (measured)"
    return f"{_ms(value)} (predicted)"


def energy_label(br: BoardReport) -> str:
    """Estimated energy of one inference from the shown latency and the board's datasheet figures."""
    value, _how = br.latency
    uj = energy_uj(br.board, value) if br.board is not None else None
    return "-" if uj is None else f"{uj:,.1f} uJ (estimate)"


def family_rows(data: ReportData) -> list[dict[str, Any]]:
    """One row per board: display strings and the raw numbers (for bars)."""
    rows = []
    for br in data.boards:
        used_s, lim_s = br.sram
        used_f, lim_f = br.flash
        if not br.deployed:
            rows.append({"board": br.name, "runtime": br.runtime or "-", "deployed": False,
                         "note": br.note or "no subnet chosen", "cells": [br.name, br.runtime or "-",
                                                                           "no feasible subnet", "-", "-", "-", "-", "-",
                                                                           "-"]})
            continue
        acc = f"{_pct(br.acc_float)} / {_pct(br.acc_int8)}"
        sram = f"{_kb(used_s)} / {_kb(lim_s)}"
        flash = f"{_kb(used_f)} / {_kb(lim_f)}"
        macs = f"{br.macs:,}" if br.macs is not None else "-"
        rows.append({"board": br.name, "runtime": br.runtime_label, "deployed": True, "note": br.note,
                     "cells": [br.name, br.runtime_label, _pct(br.acc_test), acc, sram, flash, latency_label(br),
                               energy_label(br), macs]})
    return rows


def family_table_text(data: ReportData) -> str:
    """The family table for the terminal."""
    return render(FAMILY_HEADERS, [r["cells"] for r in family_rows(data)], title="product family")


# ------------------------------------------------------------------------------------------


@dataclass
class Bar:
    label: str
    used: int
    limit: int
    detail: str = ""

    @property
    def pct(self) -> float:
        return 100.0 * self.used / self.limit if self.limit else 0.0

    @property
    def width(self) -> float:
        return max(0.5, min(100.0, self.pct))

    @property
    def level(self) -> str:
        return "over" if self.pct > 100 else "high" if self.pct > 85 else "ok"


def _bars(br: BoardReport) -> list[Bar]:
    out = []
    rt = find_runtime(br.runtime)
    used, limit = br.sram
    if used is not None and limit:
        detail = ""
        mem = (br.profile or {}).get("memory") or {}
        arena = (br.export or {}).get("arena") or {}
        if mem.get("arena_used"):
            detail = (f"measured on the device: arena {mem['arena_used']:,} B used of {mem.get('arena_bytes', 0):,} B "
                      f"reserved, stack {mem.get('stack_used', 0):,} of {mem.get('stack_bytes', 0):,} B")
        elif rt is not None and rt.measures_tflm_arena and arena.get("measured_bytes"):
            detail = (f"TFLM arena measured on the host allocator: {arena['measured_bytes']:,} B (planner: "
                      f"{arena.get('predicted_bytes', 0):,} B); a 32-bit MCU needs slightly less")
        out.append(Bar("SRAM (arena + input copy, predicted)", used, limit, detail))
    used, limit = br.flash
    if used is not None and limit:
        detail = ""
        size = (br.build or {}).get("size") or br.build or {}
        if size.get("flash_bytes"):
            detail = f"built image: text + data {size['flash_bytes']:,} B (whole firmware, model included)"
        out.append(Bar("flash (model + runtime code, predicted)", used, limit, detail))
    return out


def _blocks(br: BoardReport) -> dict[str, Any] | None:
    """The subnet as a table: one row per stage, one cell per block slot."""
    if br.subnet is None:
        return None
    cfg, sp = br.subnet, br.space
    max_depth = max((st.max_depth for st in sp.stages), default=0) if sp else max(len(s) for s in cfg.stages)
    rows = []
    for i, st in enumerate(cfg.stages):
        spec = sp.stages[i] if sp is not None and i < len(sp.stages) else None
        cells = [f"k{b.kernel} e{b.expand}" for b in st]
        slots = spec.max_depth if spec else len(st)
        cells += ["–"] * (slots - len(st)) + [""] * (max_depth - slots)
        rows.append({"stage": i, "channels": spec.channels if spec else "-", "stride": spec.stride if spec else "-",
                     "depth": f"{len(st)} / {spec.max_depth}" if spec else len(st), "cells": cells})
    return {"resolution": cfg.resolution, "depths": ", ".join(str(len(s)) for s in cfg.stages),
            "hash": cfg.stable_hash(), "max_depth": max_depth, "rows": rows,
            "in_channels": sp.in_channels if sp else None}


def _finalists(br: BoardReport) -> list[dict[str, Any]]:
    s = br.search or {}
    out = []
    for c in s.get("candidates", []):
        meas = c.get("measured_acc")
        out.append({"hash": c.get("subnet_hash", "?"), "res": (c.get("subnet") or {}).get("resolution", "-"),
                    "acc": f"{'-' if meas is None else f'{100 * meas:.1f}'} / {100 * c.get('predicted_acc', 0):.1f}",
                    "sram": f"{c['peak_sram_bytes'] / 1024:.1f}", "flash": f"{c['flash_bytes'] / 1024:.1f}",
                    "latency": f"{c['latency_ms']:.2f}", "chosen": c.get("subnet_hash") == s.get("subnet_hash")})
    return out


def _modes(br: BoardReport) -> list[dict[str, Any]]:
    """The operating modes as table cells (``BoardReport.modes``)."""
    out = []
    for m in br.modes():
        acc = m.get("acc_int8") if m.get("acc_int8") is not None else m.get("acc_test")
        out.append({"index": m["index"], "name": m.get("name") or "-", "hash": m.get("subnet_hash") or "?",
                    "res": m.get("resolution") or "-", "acc": _pct(acc), "val": _pct(m.get("acc_val")),
                    "latency": _ms(m.get("latency_ms")), "latency_source": m["latency_source"],
                    "sram": "-" if m.get("sram_bytes") is None else f"{m['sram_bytes'] / 1024:.1f}",
                    "sram_source": m["sram_source"],
                    "flash": "-" if m.get("model_flash_bytes") is None else f"{m['model_flash_bytes'] / 1024:.1f}",
                    "energy": "-" if m.get("energy_uj") is None else f"{m['energy_uj']:.1f}",
                    "match": m.get("match")})
    return out


def _board_context(br: BoardReport) -> dict[str, Any]:
    b = br.board
    s = br.search or {}
    check = ((br.profile or {}).get("check") or {})
    return {
        "r": br,
        "id": "board-" + "".join(c if c.isalnum() else "-" for c in br.name),
        "description": b.description if b else "",
        "kind": ("emulated (QEMU " + b.qemu.machine + ")") if b and b.qemu else "real board",
        "blocks": _blocks(br),
        "bars": _bars(br),
        "acc": {"float": _pct(br.acc_float), "int8": _pct(br.acc_int8),
                "search": _pct(s.get("measured_acc")), "predicted": _pct(s.get("predicted_acc")),
                "test": ((br.export or {}).get("accuracy") or {}).get("test_samples")},
        "latency": latency_label(br),
        "energy": energy_label(br),
        "latency_predicted": _ms(br.predicted_latency_ms),
        "latency_source": s.get("limits", {}).get("latency_model") if s else None,
        "peak_layer": br.predicted.get("peak_layer"),
        "macs": f"{br.macs:,}" if br.macs is not None else "-",
        "fig_sram": figures.sram_per_layer(br),
        "fig_latency": figures.latency_per_layer(br),
        "fig_pareto": figures.pareto(br),
        "finalists": _finalists(br),
        "modes": _modes(br),
        "measured": br.measured_latency_ms is not None,
        "check": check,
        "project": str(br.project_dir) if br.project_dir else None,
    }


def context(data: ReportData) -> dict[str, Any]:
    meta = next((b.search_meta for b in data.boards if b.search_meta), None) or {}
    demo = data.demo or {}
    return {
        "title": data.title,
        "version": __version__,
        "generated": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "root": str(data.root),
        "headers": FAMILY_HEADERS,
        "family": family_rows(data),
        "boards": [_board_context(b) for b in data.boards if b.deployed],
        "skipped": [b for b in data.boards if not b.deployed],
        "metrics": data.metrics,
        "metrics_path": str(data.metrics_path) if data.metrics_path else None,
        "fig_training": figures.training_curves(data.metrics),
        "predictor": meta.get("predictor"),
        "search_meta": meta,
        "notes": data.notes,
        "demo": demo,
        "demo_reused": any(step.get("reused") for step in demo.get("steps", [])),
        "any_predicted": any(b.deployed and b.latency[1] == "predicted" for b in data.boards),
        "energy_note": ENERGY_NOTE,
    }


def render_html(data: ReportData) -> str:
    return render_template("report/report.html.j2", context(data), "the HTML report")


def render_markdown(data: ReportData) -> str:
    ctx = {
        "title": data.title, "headers": FAMILY_HEADERS, "family": family_rows(data), "notes": data.notes,
        "any_predicted": any(b.deployed and b.latency[1] == "predicted" for b in data.boards),
        "any_qemu": any(b.profile and b.profile.get("emulated") for b in data.boards),
        "version": __version__, "demo": data.demo or {},
        "demo_reused": any(step.get("reused") for step in (data.demo or {}).get("steps", [])),
        "energy_note": ENERGY_NOTE,
    }
    return render_template("report/report.md.j2", ctx, "the Markdown report")


def write_report(root: str | Path, html_path: str | Path | None = None,
                 md_path: str | Path | None = None) -> tuple[ReportData, Path, Path]:
    """Gather ``root`` and write its HTML and Markdown reports (default: inside ``root``)."""
    data = gather(root)
    html_out = Path(html_path) if html_path else data.root / HTML_NAME
    md_out = Path(md_path) if md_path else data.root / MD_NAME
    write_text(html_out, render_html(data))
    write_text(md_out, render_markdown(data))
    return data, html_out, md_out
