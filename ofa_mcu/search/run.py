"""`run_search`: one subnet per board from one checkpoint, under SRAM, flash and latency limits.

Steps: load the checkpoint and its data; per board, the constraints (the runtime's planner for
peak SRAM, the flash model plus runtime code, the latency model) and an early, clear error when
even the smallest subnet does not fit; an accuracy predictor trained on measured subnets (cached
beside the checkpoint, shared by all boards); evolutionary search per board; the best predicted
candidates measured for real; the Pareto front; ``search.json``, ``pareto-<board>.png`` and a
summary table. Every choice is made on the VALIDATION split (``measured_acc``); the chosen
subnet's accuracy on the held-out TEST split (``test_acc``) is what gets reported.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ofa_mcu.analysis import sram_bytes
from ofa_mcu.artifacts import SEARCH_FILE, write_run_file
from ofa_mcu.boards import Board, load_board
from ofa_mcu.config import SubnetConfig
from ofa_mcu.energy import power_summary, require_power, run_power_mw
from ofa_mcu.errors import UserError
from ofa_mcu.ir import build_graph
from ofa_mcu.profiler.lut import read_lut
from ofa_mcu.runtimes import get_runtime
from ofa_mcu.search.evolution import Evolution, EvolutionSettings
from ofa_mcu.search.latency import LatencyModel, board_latency
from ofa_mcu.search.modes import Candidate, select_modes
from ofa_mcu.search.predictor import (
    DEFAULT_PREDICTOR,
    AccuracyCache,
    fit_predictor,
    kendall_tau,
    measure,
    training_set,
)
from ofa_mcu.space import SearchSpace


@dataclass
class SearchOptions:
    checkpoint: Path
    targets: list[str]
    out: Path
    runtime: str = "tflm"
    sram_kb: float | None = None
    flash_kb: float | None = None
    latency_ms: float | None = None
    energy_uj: float | None = None  # limit on the estimated energy per inference (ofa_mcu.energy)
    latency_luts: list[Path] = field(default_factory=list)
    seed: int = 0
    predictor_samples: int = 240  # Kendall tau 0.62 on Fashion-MNIST, 0.53 from 120 (benchmarks/predictor_quality.py)
    predictor: str = DEFAULT_PREDICTOR  # accuracy model (ofa_mcu.search.predictor.PREDICTORS)
    val_images: int | None = None  # measure subnets on a stratified subset of the validation split (None: all)
    top_k: int = 5
    modes: int = 1  # K > 1: also choose K operating modes per board (ofa_mcu.search.modes)
    mode_latency_ms: list[float] | None = None  # latency tiers of the modes (default: spread)
    evolution: EvolutionSettings = field(default_factory=EvolutionSettings)
    quiet: bool = False


@dataclass(frozen=True)
class Cost:
    peak_sram: int
    flash: int
    macs: int
    latency_ms: float
    energy_uj: float | None = None  # estimate (ofa_mcu.energy); None: the board has no power figures

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"peak_sram_bytes": self.peak_sram, "flash_bytes": self.flash, "macs": self.macs,
                               "latency_ms": round(self.latency_ms, 4)}
        if self.energy_uj is not None:
            out["energy_uj"] = round(self.energy_uj, 4)
        return out


@dataclass
class Constraints:
    """One board's limits and the cost model that checks a subnet against them."""

    board: Board
    space: SearchSpace
    runtime: str
    sram_limit: int
    flash_limit: int
    latency_limit_ms: float | None
    latency: LatencyModel
    energy_limit_uj: float | None = None
    _cache: dict[SubnetConfig, Cost] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rt = get_runtime(self.runtime)
        self._plan, self._flash = rt.plan, rt.flash_bytes
        self._kernels = self.board.runtime[self.runtime].kernels
        self._code = self.board.runtime[self.runtime].code_bytes
        self._power_mw = run_power_mw(self.board)
        if self.energy_limit_uj is not None:
            self._power_mw = require_power(self.board)

    def cost(self, cfg: SubnetConfig) -> Cost:
        c = self._cache.get(cfg)
        if c is None:
            g = build_graph(self.space, cfg)
            ms = self.latency.ms(g)
            c = Cost(sram_bytes(g, self._plan(g, self._kernels)), self._flash(g) + self._code, g.macs, ms,
                     None if self._power_mw is None else ms * self._power_mw)
            self._cache[cfg] = c
        return c

    def feasible(self, cfg: SubnetConfig) -> bool:
        c = self.cost(cfg)
        return (c.peak_sram <= self.sram_limit and c.flash <= self.flash_limit
                and (self.latency_limit_ms is None or c.latency_ms <= self.latency_limit_ms)
                and (self.energy_limit_uj is None or (c.energy_uj or 0.0) <= self.energy_limit_uj))

    def margins(self, c: Cost) -> dict[str, Any]:
        out = {"sram_margin_bytes": self.sram_limit - c.peak_sram,
               "sram_used_pct": round(100.0 * c.peak_sram / self.sram_limit, 2),
               "flash_margin_bytes": self.flash_limit - c.flash,
               "flash_used_pct": round(100.0 * c.flash / self.flash_limit, 2)}
        if self.latency_limit_ms is not None:
            out["latency_margin_ms"] = round(self.latency_limit_ms - c.latency_ms, 4)
        if self.energy_limit_uj is not None and c.energy_uj is not None:
            out["energy_margin_uj"] = round(self.energy_limit_uj - c.energy_uj, 4)
        return out

    def limits(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sram_bytes": self.sram_limit, "flash_bytes": self.flash_limit,
                               "latency_ms": self.latency_limit_ms, "latency_model": self.latency.source,
                               "energy_uj": self.energy_limit_uj}
        power = power_summary(self.board)
        if power is not None:
            out["energy_model"] = power
        return out

    def explain_infeasible(self) -> str | None:
        """None when the smallest subnet fits; otherwise the one-line reason."""
        smallest = SubnetConfig.min(self.space)
        c = self.cost(smallest)
        kb = 1024.0
        problems = []
        if c.peak_sram > self.sram_limit:
            problems.append(f"smallest needs {c.peak_sram / kb:.1f} KB SRAM, {self.sram_limit / kb:.1f} KB usable")
        if c.flash > self.flash_limit:
            problems.append(f"smallest needs {c.flash / kb:.1f} KB flash, {self.flash_limit / kb:.1f} KB usable")
        if self.latency_limit_ms is not None and c.latency_ms > self.latency_limit_ms:
            problems.append(f"smallest takes {c.latency_ms:.2f} ms, limit {self.latency_limit_ms:.2f} ms")
        if self.energy_limit_uj is not None and c.energy_uj is not None and c.energy_uj > self.energy_limit_uj:
            problems.append(f"smallest takes an estimated {c.energy_uj:.2f} uJ, limit {self.energy_limit_uj:.2f} uJ")
        if not problems:
            return None
        return f"no subnet fits {self.board.name} ({self.runtime}): " + "; ".join(problems)


def board_constraints(board: Board, space: SearchSpace, opts: SearchOptions) -> Constraints:
    luts = [p for p in opts.latency_luts if _lut_board(p) in (None, board.name)]
    latency = board_latency(board, opts.runtime, luts[-1] if luts else None)
    code = board.runtime[opts.runtime].code_bytes
    return Constraints(
        board, space, opts.runtime,
        sram_limit=int(opts.sram_kb * 1024) if opts.sram_kb else board.usable_sram(opts.runtime),
        flash_limit=int(opts.flash_kb * 1024) if opts.flash_kb else board.usable_flash(opts.runtime) + code,
        latency_limit_ms=opts.latency_ms, latency=latency, energy_limit_uj=opts.energy_uj)


def _lut_board(path: Path) -> str | None:
    try:
        return read_lut(path).get("board")
    except UserError:
        return None  # board_latency reports the problem with the file


def pareto_front(points: list[tuple[SubnetConfig, float, Cost]]) -> list[tuple[SubnetConfig, float, Cost]]:
    """Non-dominated points: higher accuracy, lower SRAM, flash and latency."""
    if not points:
        return []
    m = np.array([[-a, c.peak_sram, c.flash, c.latency_ms] for _, a, c in points])
    keep = []
    for i in range(len(points)):
        dominated = np.any(np.all(m <= m[i], axis=1) & np.any(m < m[i], axis=1))
        if not dominated:
            keep.append(points[i])
    return sorted(keep, key=lambda p: p[2].peak_sram)


def _entry(cfg: SubnetConfig, predicted: float, measured: float | None, cost: Cost, con: Constraints) -> dict:
    return {"subnet": cfg.to_dict(), "subnet_hash": cfg.stable_hash(), "predicted_acc": round(float(predicted), 5),
            "measured_acc": None if measured is None else round(float(measured), 5),
            **cost.to_dict(), **con.margins(cost)}


#: Below this Kendall tau on the held-out subnets the predictor's accuracy ranking is treated as no
#: better than chance (tau 0 is a random order; the held-out set is small, so its noise is large).
MIN_USEFUL_TAU = 0.3


def predictor_warning(tau: float, held_out: int, measured: int) -> str | None:
    """One line when the accuracy predictor ranks the held-out subnets no better than chance
    (Kendall ``tau`` below :data:`MIN_USEFUL_TAU`, or undefined), saying what the search does
    instead; None when its ranking is useful."""
    if math.isfinite(tau) and tau >= MIN_USEFUL_TAU:
        return None
    shown = f"{tau:.3f}" if math.isfinite(tau) else "undefined"
    return (f"warning: the accuracy predictor ranks held-out subnets no better than chance (Kendall tau {shown} "
            f"on {held_out}, below {MIN_USEFUL_TAU}); the choice rests on real validation accuracy: every "
            f"feasible one of the {measured} measured subnets is a final candidate next to the predictor's top "
            f"picks (more --predictor-samples make the predictor, and the choice, better)")


def run_search(opts: SearchOptions, log: Callable[[str], None] = print) -> dict[str, Any]:
    from ofa_mcu.checkpoint import load_checkpoint
    from ofa_mcu.data import load_source
    from ofa_mcu.train.bn import evaluate

    t_start = time.time()
    ckpt = load_checkpoint(opts.checkpoint)
    space = ckpt.space
    get_runtime(opts.runtime)  # an unknown name: one line naming the registered ones
    boards = [load_board(t) for t in opts.targets]
    cons = [board_constraints(b, space, opts) for b in boards]
    for c in cons:
        reason = c.explain_infeasible()
        if reason:
            raise UserError(reason)

    data = load_source(ckpt.data, ckpt.seed)
    calib = data.calibration_images(ckpt.bn_calib_samples, ckpt.seed)

    val_x, val_y = data.val_subset(opts.val_images, ckpt.seed)

    def evaluate_cfg(cfg: SubnetConfig) -> float:
        return evaluate(ckpt.supernet, cfg, calib, val_x, val_y)

    def test_accuracy(cfg: SubnetConfig) -> float:  # reported only; never feeds a choice
        return evaluate(ckpt.supernet, cfg, calib, data.test_x, data.test_y)

    cache = AccuracyCache(ckpt.path, split="validation" if opts.val_images is None else f"validation:{len(val_y)}")
    train_cfgs = training_set(space, opts.predictor_samples, opts.seed)
    missing = sum(cache.get(c) is None for c in train_cfgs)
    others = cache.other_splits()
    if missing and others:
        log(f"note: {missing} of {len(train_cfgs)} subnets are not measured yet on {cache.split}; the accuracy "
            "cache holds measurements on " + ", ".join(f"{k} ({n} subnets)" for k, n in others.items())
            + " (--val-images N reuses validation:N)")
    t0 = time.time()
    bar = _bar(len(train_cfgs), "measuring subnets", opts.quiet)
    accs = measure(train_cfgs, evaluate_cfg, cache, progress=bar.update if bar else None)
    if bar:
        bar.close()
    measure_s = time.time() - t0
    n_hold = max(5, len(train_cfgs) // 5)
    held_pred = fit_predictor(space, train_cfgs[:-n_hold], accs[:-n_hold], seed=opts.seed,
                              kind=opts.predictor).predict(train_cfgs[-n_hold:])
    tau = kendall_tau(held_pred, accs[-n_hold:])
    predictor = fit_predictor(space, train_cfgs, accs, seed=opts.seed, kind=opts.predictor)
    log(f"predictor: {len(train_cfgs)} measured subnets ({measure_s:.0f}s, cached in {cache.path.name}), "
        f"{predictor.kind} predictor, Kendall tau {tau:.3f} on {n_hold} held out"
        + (f" ({predictor.detail})" if predictor.detail else ""))
    weak = predictor_warning(tau, n_hold, len(train_cfgs))
    if weak:
        log(weak)

    result: dict[str, Any] = {"checkpoint": str(ckpt.path), "space": space.name, "data": ckpt.data,
                              "runtime": opts.runtime, "seed": opts.seed,
                              "accuracy_splits": {"measured_acc": f"validation ({len(val_y)} images)",
                                                  "test_acc": f"test ({len(data.test_y)} images, {data.test_source})"},
                              "predictor": {"kind": predictor.kind, "samples": len(train_cfgs), "held_out": n_hold,
                                            "kendall_tau": round(tau, 4) if math.isfinite(tau) else None,
                                            "min_useful_tau": MIN_USEFUL_TAU, "no_better_than_chance": bool(weak),
                                            "warning": weak},
                              "boards": {}}
    opts.out.mkdir(parents=True, exist_ok=True)
    for con in cons:
        t_board = time.time()
        evo = Evolution(space, con.feasible, predictor.predict, opts.seed, opts.evolution)
        ranked, archive = evo.run([SubnetConfig.min(space)])
        # final candidates, all measured for real: the predictor's top k, plus every subnet already
        # measured for the predictor that fits this board (free, and a guard against a weak predictor)
        top = ranked[: opts.top_k]
        top += [c for c in train_cfgs if c not in top and con.feasible(c)]
        measured = measure(top, evaluate_cfg, cache)
        best_i = int(np.argmax(measured))
        best = top[best_i]
        preds = predictor.predict(archive)
        points = [(c, float(p), con.cost(c)) for c, p in zip(archive, preds)]
        front = pareto_front(points)
        chosen = _entry(best, predictor.predict([best])[0], measured[best_i], con.cost(best), con)
        chosen["measured_macs"] = con.cost(best).macs
        chosen["test_acc"] = round(test_accuracy(best), 5)
        result["boards"][con.board.name] = {
            "board": con.board.name, "runtime": opts.runtime, "limits": con.limits(), **chosen,
            "candidates": [_entry(c, predictor.predict([c])[0], a, con.cost(c), con) for c, a in zip(top, measured)],
            "pareto": [_entry(c, p, cache.get(c), cost, con) for c, p, cost in front],
            "evaluations": evo.evaluated, "search_s": round(time.time() - t_board, 2),
        }
        if opts.modes > 1 or opts.mode_latency_ms:
            try:
                result["boards"][con.board.name]["modes"] = choose_modes(
                    con, points, opts, lambda cs: measure(cs, evaluate_cfg, cache), test_accuracy, cache.get,
                    [(c, a, con.cost(c)) for c, a in zip(top, measured)], bool(weak))
            except UserError as e:
                if len(cons) == 1:
                    raise
                # one board of a family cannot hold the modes: it keeps its single subnet, the others go on
                result["boards"][con.board.name]["modes_skipped"] = str(e)
                log(f"note: {e}; {con.board.name} gets no modes (its single subnet stands)")
        plot_pareto(opts.out / f"pareto-{con.board.name}.png", con, points, front, best, measured[best_i])
        log(f"{con.board.name}: {100 * chosen['test_acc']:.1f}% test accuracy (chosen on validation: "
            f"{100 * measured[best_i]:.1f}%), {con.cost(best).peak_sram / 1024:.1f} of "
            f"{con.sram_limit / 1024:.1f} KB SRAM{_energy_text(con.cost(best).energy_uj)}, {evo.evaluated} candidates checked in {time.time() - t_board:.1f}s")
    result["wall_s"] = round(time.time() - t_start, 1)
    write_run_file(opts.out, SEARCH_FILE, result)
    return result


def choose_modes(con: Constraints, points: list[tuple[SubnetConfig, float, Cost]], opts: SearchOptions,
                 measure_val: Callable[[list[SubnetConfig]], list[float]],
                 test_accuracy: Callable[[SubnetConfig], float],
                 known: Callable[[SubnetConfig], float | None] = lambda _c: None,
                 measured_points: list[tuple[SubnetConfig, float, Cost]] | None = None,
                 weak_predictor: bool = False) -> dict[str, Any]:
    """K operating modes that fit ``con``'s board together (:func:`ofa_mcu.search.modes.select_modes`
    on the accuracy of the feasible candidates: the validation accuracy where measured (``known``),
    else the predictor's), reported with their test accuracy; one shared arena, flash for every
    mode's model plus the code. The picks are measured and the choice made again until every
    pick's accuracy is a measured one. When the predictor ranks no better than chance
    (``weak_predictor``), or the choice does not settle, the modes come from the subnets the search
    measured (``measured_points``) only, as the single choice does: a weak predictor cannot put a
    dominated subnet in a mode."""
    code = con.board.runtime[con.runtime].code_bytes
    k = len(opts.mode_latency_ms) if opts.mode_latency_ms and opts.modes <= 1 else opts.modes
    measured: dict[SubnetConfig, float] = {}

    def acc_of(cfg: SubnetConfig, predicted: float) -> float:
        if cfg in measured:
            return measured[cfg]
        got = known(cfg)
        return predicted if got is None else got

    def pick(pool: list[tuple[SubnetConfig, float, Cost]]) -> list[Candidate[SubnetConfig]]:
        cands = [Candidate(cfg, acc_of(cfg, acc), cost.latency_ms, cost.flash - code, cost.peak_sram)
                 for cfg, acc, cost in pool]
        return select_modes(cands, k, flash_limit=con.flash_limit, code_bytes=code, tiers_ms=opts.mode_latency_ms,
                            board=con.board.name)

    source = "measured"
    settled = False
    if not weak_predictor or not measured_points:
        for _ in range(2 * k + 2):
            picked = pick(points)
            fresh = [m.key for m in picked if m.key not in measured]
            if not fresh:
                settled = True
                source = "predicted, every pick measured"
                break
            measured.update(zip(fresh, measure_val(fresh)))
    if not settled and measured_points:
        picked = pick(measured_points)
        source = "measured subnets only" + (" (the predictor ranks no better than chance)" if weak_predictor
                                            else " (the choice on predictions did not settle)")
    elif not settled:
        picked = pick(points)
    val = measure_val([m.key for m in picked])
    preds = {cfg: acc for cfg, acc, _ in points}
    entries = []
    for i, (m, acc) in enumerate(zip(picked, val)):
        e = _entry(m.key, preds.get(m.key, m.accuracy), acc, con.cost(m.key), con)
        e.update({"mode": i, "name": f"mode{i}", "model_flash_bytes": m.model_flash,
                  "test_acc": round(test_accuracy(m.key), 5)})
        entries.append(e)
    return {"count": len(entries), "policy": "tiers" if opts.mode_latency_ms else "spread", "candidates": source,
            "tiers_ms": sorted(opts.mode_latency_ms) if opts.mode_latency_ms else None,
            "entries": entries, "shared_arena_bytes": max(m.peak_sram for m in picked),
            "code_bytes": code, "flash_bytes": code + sum(m.model_flash for m in picked),
            "flash_limit_bytes": con.flash_limit,
            "note": "accuracy/latency Pareto front of the feasible candidates (validation accuracy where measured, "
                    "else predicted; every mode measured), fastest first; "
                    "flash: every mode's model + the runtime code once; SRAM: one arena, the largest mode's"}


def _energy_text(uj: float | None) -> str:
    return "" if uj is None else f", {uj:.1f} uJ per inference (estimate)"


def _bar(total: int, desc: str, quiet: bool):
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="subnet", leave=False, disable=None)


def plot_pareto(path: Path, con: Constraints, points, front, best: SubnetConfig, best_acc: float) -> None:
    """Accuracy vs peak SRAM: all feasible candidates, the front, the budget line, the choice."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ofa_mcu.atomic import atomic_write

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    kb = 1024.0
    ax.scatter([c.peak_sram / kb for _, _, c in points], [100 * a for _, a, _ in points], s=8, c="#b0b8c8",
               label="feasible candidates (predicted)")
    ax.plot([c.peak_sram / kb for _, _, c in front], [100 * a for _, a, _ in front], "o-", ms=4, c="#3060c0",
            label="Pareto front (predicted)")
    ax.axvline(con.sram_limit / kb, color="#c03030", ls="--", label=f"usable SRAM {con.sram_limit / kb:.1f} KB")
    ax.scatter([con.cost(best).peak_sram / kb], [100 * best_acc], marker="*", s=220, c="#f0a020",
               edgecolors="black", zorder=5, label=f"chosen (measured {100 * best_acc:.1f}%)")
    ax.set_xlabel(f"peak SRAM ({con.runtime} runtime), KB")
    ax.set_ylabel("top-1 accuracy, %")
    ax.set_title(f"{con.board.name}: accuracy vs peak SRAM")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
