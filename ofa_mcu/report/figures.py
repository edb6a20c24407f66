"""The report's figures: matplotlib (Agg) drawn to PNG and embedded as ``data:`` URIs.

Every figure has a fixed size (it is shown at its natural width in the page, so text stays
readable) and every axis names its unit. Functions return ``None`` when there is nothing to draw.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ofa_mcu.report.data import BoardReport
from ofa_mcu.runtimes import find_runtime


def _persistent_label(runtime: str | None) -> str:
    """How ``runtime`` names the arena bytes besides the activations."""
    rt = find_runtime(runtime)
    return rt.persistent_label if rt is not None else "runtime data"

KB = 1024.0
DPI = 100
#: colours used throughout (colour-blind friendly, print well in grey)
BLUE, ORANGE, RED, GREY, GREEN, PURPLE = "#3566b8", "#e69b22", "#c0392b", "#a7b0bf", "#2e8b57", "#7b4fa0"
LIGHT_RED = "#eba59d"
PHASE_COLOURS = ["#3566b8", "#e69b22", "#2e8b57", "#7b4fa0", "#c0392b", "#1f9aa8", "#8c6d31", "#555555"]


@contextmanager
def _figure(width: float, height: float, ncols: int = 1) -> Iterator[tuple[Any, Any]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9,
             "xtick.labelsize": 9, "ytick.labelsize": 9, "axes.spines.top": False, "axes.spines.right": False}
    with plt.rc_context(style):
        fig, axes = plt.subplots(1, ncols, figsize=(width, height), dpi=DPI, layout="constrained")
        try:
            yield fig, axes
        finally:
            plt.close(fig)


def _data_uri(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# ------------------------------------------------------------------------------------------


def training_curves(metrics: dict[str, Any] | None) -> str | None:
    """Loss per epoch coloured by phase, and min / mid / max validation accuracy after each phase."""
    if not metrics or not metrics.get("epochs"):
        return None
    epochs = metrics["epochs"]
    phases = metrics.get("phases", [])
    order: list[str] = []
    for e in epochs:
        if e["phase"] not in order:
            order.append(e["phase"])
    with _figure(11.6, 4.3, ncols=2) as (fig, (ax1, ax2)):
        ax1.plot([e["global_epoch"] + 1 for e in epochs], [e["loss"] for e in epochs], "-", lw=1, color=GREY, zorder=1)
        for i, kind in enumerate(order):
            pts = [(e["global_epoch"] + 1, e["loss"]) for e in epochs if e["phase"] == kind]
            ax1.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=6, lw=2,
                     color=PHASE_COLOURS[i % len(PHASE_COLOURS)], label=kind, zorder=2)
        ax1.set_xlabel("epoch (counted over all phases)")
        ax1.set_ylabel("training loss (CE + distillation), nats")
        ax1.set_title("training loss per epoch, by phase")
        ax1.grid(alpha=0.3)
        ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=min(6, len(order)), frameon=False,
                   handletextpad=0.3, columnspacing=1.0)
        ax1.xaxis.get_major_locator().set_params(integer=True)
        if phases:
            xs = list(range(len(phases)))
            for key, label, colour, marker in (("max_acc", "largest subnet", BLUE, "o"),
                                               ("mid_acc", "middle subnet", ORANGE, "s"),
                                               ("min_acc", "smallest subnet", GREEN, "^")):
                ax2.plot(xs, [100 * p[key] for p in phases], marker=marker, lw=1.6, ms=6, color=colour, label=label)
            ax2.set_xticks(xs, [f"{p['phase']}\n({p['epochs']} ep.)" for p in phases])
            ax2.set_ylabel("validation accuracy, %")
            ax2.set_xlabel("phase of progressive shrinking (its epochs)")
            ax2.set_title("accuracy after each phase (BN recalibrated)")
            lo = min(100 * min(p["min_acc"], p["mid_acc"], p["max_acc"]) for p in phases)
            ax2.set_ylim(max(0.0, lo - 8), 101)
            ax2.grid(alpha=0.3)
            ax2.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3, frameon=False)
        else:
            ax2.axis("off")
            ax2.text(0.5, 0.5, "no finished phase yet", ha="center", va="center")
        return _data_uri(fig)


def _short(name: str) -> str:
    return name if len(name) <= 18 else name[:17] + "…"


def _layer_axis(ax: Any, names: Sequence[str]) -> None:
    n = len(names)
    ax.set_xticks(range(n), [_short(s) for s in names], rotation=90, fontsize=8 if n <= 40 else 7)
    ax.set_xlim(-0.7, n - 0.3)
    ax.set_xlabel("layer (int8 op, in execution order)")


def sram_per_layer(br: BoardReport) -> str | None:
    """SRAM in use during each op (stacked: live activations, the rest), the peak layer marked."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows = br.sram_layers
    if not rows:
        return None
    with _figure(11.6, 4.8) as (fig, ax):
        xs = range(len(rows))
        live = [r.live_bytes / KB for r in rows]
        rest = [(r.sram_bytes - r.live_bytes) / KB for r in rows]
        ax.bar(xs, live, color=[RED if r.peak else BLUE for r in rows], width=0.75)
        ax.bar(xs, rest, bottom=live, color=[LIGHT_RED if r.peak else GREY for r in rows], width=0.75)
        handles = [Patch(color=BLUE, label="activation tensors alive during the op"),
                   Patch(color=GREY, label=_persistent_label(br.runtime)
                         + " + the runner's input copy")]
        top = max(r.sram_bytes for r in rows) / KB
        peak = next((i for i, r in enumerate(rows) if r.peak), None)
        if peak is not None:
            r = rows[peak]
            ax.text(peak, r.sram_bytes / KB + top * 0.02, "peak", ha="center", va="bottom", fontsize=9, color=RED,
                    fontweight="bold")
            handles.append(Patch(facecolor=RED, edgecolor=LIGHT_RED, lw=3,
                                 label=f"peak: {r.name}, {r.sram_bytes / KB:.1f} KB"))
        limit = br.sram[1]
        if limit and limit / KB <= top * 1.6:
            ax.axhline(limit / KB, color=RED, ls="--", lw=1.2)
            handles.append(Line2D([], [], color=RED, ls="--", label=f"usable SRAM {limit / KB:.1f} KB"))
            top = max(top, limit / KB)
        elif limit:
            handles.append(Line2D([], [], color="none", label=f"usable SRAM: {limit / KB:.1f} KB (far above)"))
        ax.set_ylim(0, top * 1.12)
        ax.set_ylabel("SRAM in use, KB")
        _layer_axis(ax, [r.name for r in rows])
        ax.set_title(f"{br.name}: SRAM during each layer ({br.runtime} runtime, predicted by the planner)", pad=24)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(handles),
                  frameon=False, fontsize=8.5, handlelength=1.4, columnspacing=1.2)
        return _data_uri(fig)


def latency_per_layer(br: BoardReport) -> str | None:
    """Per-layer latency: measured bars with the model's prediction as dots, or predicted bars."""
    rows = br.latency_layers
    if not rows:
        return None
    measured = all(r.measured_ms is not None for r in rows)
    with _figure(11.6, 4.6) as (fig, ax):
        xs = list(range(len(rows)))
        if measured:
            ax.bar(xs, [r.measured_ms for r in rows], color=ORANGE, width=0.75,
                   label=f"measured ({br.measurement})")
            ax.plot(xs, [r.predicted_ms for r in rows], "o", ms=4, color=BLUE,
                    label="predicted (board latency model)")
            title = f"{br.name}: latency per layer, measured"
        else:
            ax.bar(xs, [r.predicted_ms for r in rows], color=BLUE, width=0.75,
                   label="PREDICTED (board latency model; not profiled)")
            title = f"{br.name}: latency per layer, PREDICTED, not profiled"
        ax.set_ylabel("time per inference, ms")
        _layer_axis(ax, [r.name for r in rows])
        ax.set_title(f"{title} ({br.runtime} runtime)", pad=24)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False, fontsize=8.5)
        ax.set_ylim(0, max(max(r.predicted_ms for r in rows),
                           max((r.measured_ms or 0.0) for r in rows)) * 1.2)
        return _data_uri(fig)


def pareto(br: BoardReport) -> str | None:
    """Accuracy vs peak SRAM: the search's Pareto front, the measured finalists, the choice."""
    s = br.search
    if not s or not s.get("pareto"):
        return None
    front = s["pareto"]
    cands = s.get("candidates", [])
    limit = (s.get("limits") or {}).get("sram_bytes")
    with _figure(5.6, 4.6) as (fig, ax):
        ax.scatter([p["peak_sram_bytes"] / KB for p in front], [100 * p["predicted_acc"] for p in front], s=22,
                   color=GREY, edgecolors="none", label="Pareto front, predicted (SRAM, flash, latency)", zorder=2)
        stair = _front_2d([(p["peak_sram_bytes"] / KB, 100 * p["predicted_acc"]) for p in front])
        if len(stair) > 1:
            ax.step([x for x, _ in stair], [y for _, y in stair], where="post", color=BLUE, lw=1.4,
                    label="best predicted accuracy for the SRAM", zorder=3)
        ax.scatter([c["peak_sram_bytes"] / KB for c in cands],
                   [100 * (c["measured_acc"] if c.get("measured_acc") is not None else c["predicted_acc"])
                    for c in cands], marker="D", s=30, color=PURPLE, label="finalists, measured", zorder=4)
        right = max([p["peak_sram_bytes"] for p in front] + [c["peak_sram_bytes"] for c in cands]) / KB
        if limit and limit / KB <= right * 1.6:
            ax.axvline(limit / KB, color=RED, ls="--", lw=1.2, label=f"usable SRAM {limit / KB:.1f} KB")
        elif limit:
            ax.plot([], [], " ", label=f"usable SRAM: {limit / KB:.1f} KB (far right)")
        acc = s.get("measured_acc") if s.get("measured_acc") is not None else s.get("predicted_acc")
        ax.scatter([s["peak_sram_bytes"] / KB], [100 * acc], marker="*", s=260, color=ORANGE, edgecolors="black",
                   zorder=5, label=f"chosen: {100 * acc:.1f}% at {s['peak_sram_bytes'] / KB:.1f} KB")
        modes = [m for m in br.modes() if m.get("peak_sram_bytes") is not None]
        key = "acc_val" if modes and all(m.get("acc_val") is not None for m in modes) else "acc_int8"
        modes = [m for m in modes if m.get(key) is not None]
        if modes:
            xs = [m["peak_sram_bytes"] / KB for m in modes]
            ys = [100 * m[key] for m in modes]
            what = "validation, measured" if key == "acc_val" else "INT8 test accuracy"
            ax.plot(xs, ys, "s--", ms=9, color=GREEN, mfc="white", mew=2, lw=1, zorder=6,
                    label=f"{len(modes)} operating modes of one firmware ({what})")
            for m, x, y in zip(modes, xs, ys):
                ax.annotate(str(m.get("name") or m["index"]), (x, y), textcoords="offset points", xytext=(6, -12),
                            fontsize=8, color=GREEN)
        ax.set_xlabel(f"peak SRAM ({s.get('runtime') or br.runtime} runtime), KB")
        ax.set_ylabel("top-1 validation accuracy, %")
        ax.set_title(f"{br.name}: accuracy vs SRAM")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=1, frameon=False, fontsize=8.5)
        return _data_uri(fig)


def _front_2d(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both smaller x and higher y, by x."""
    out: list[tuple[float, float]] = []
    best = float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            out.append((x, y))
            best = y
    return out
