"""Operating modes: K subnets of one board that fit on it TOGETHER, for one firmware that switches
between them at run time (``ofa-mcu search --modes K``).

The candidates are the search's feasible subnets; the modes come from their accuracy / latency
Pareto front (no other candidate is at least as accurate and at least as fast). Targets: the
latency tiers given (``--mode-latency-ms 50,100,200``: per tier the most accurate front point at
or under it), or K tiers spread evenly from the fastest to the slowest front point. Together the
modes must fit the board: flash holds every mode's model plus the runtime code once; SRAM holds
one arena shared by all modes, the largest of their needs (each mode already fits alone). When
the models do not fit together, the mode with the most model flash is replaced by the most
accurate front point of its tier with less flash, until they fit or no smaller one is left (then
one line says so).

Pure selection on numbers (:func:`select_modes`); :func:`ofa_mcu.search.run.run_search` measures
the chosen modes' accuracy and writes them to ``search.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ofa_mcu.errors import UserError

T = TypeVar("T")


@dataclass(frozen=True)
class Candidate(Generic[T]):
    """One feasible subnet: its key, (predicted) accuracy, latency, model flash and peak SRAM."""

    key: T
    accuracy: float
    latency_ms: float
    model_flash: int
    peak_sram: int


def latency_front(cands: Sequence[Candidate[T]]) -> list[Candidate[T]]:
    """The accuracy / latency Pareto front, fastest first (ties: the smaller model)."""
    ordered = sorted(cands, key=lambda c: (c.latency_ms, -c.accuracy, c.model_flash))
    front: list[Candidate[T]] = []
    for c in ordered:
        if not front or c.accuracy > front[-1].accuracy:
            front.append(c)
    return front


def spread_tiers(front: Sequence[Candidate[T]], k: int) -> list[float]:
    """K latency targets evenly spaced from the fastest to the slowest front point."""
    lo, hi = front[0].latency_ms, front[-1].latency_ms
    if k == 1:
        return [hi]
    return [lo + (hi - lo) * i / (k - 1) for i in range(k)]


def select_modes(cands: Sequence[Candidate[T]], k: int, *, flash_limit: int, code_bytes: int,
                 tiers_ms: Sequence[float] | None = None, board: str = "board") -> list[Candidate[T]]:
    """K distinct modes, fastest first, that fit together (see the module doc); ``UserError`` when
    the front has fewer than K points, a tier is below the fastest subnet, or no K fit together."""
    if k < 1:
        raise UserError(f"--modes: expected at least 1, got {k}")
    front = latency_front(cands)
    if not front:
        raise UserError(f"{board}: no feasible subnet to choose modes from")
    if tiers_ms is not None:
        tiers = sorted(float(t) for t in tiers_ms)
        if len(tiers) != k:
            raise UserError(f"--mode-latency-ms: expected {k} tiers (one per mode), got {len(tiers)}")
        if tiers[0] < front[0].latency_ms:
            raise UserError(f"{board}: --mode-latency-ms {tiers[0]:g} is below the fastest feasible subnet "
                            f"({front[0].latency_ms:.2f} ms predicted)")
    else:
        if len(front) < k:
            raise UserError(f"{board}: the accuracy/latency Pareto front of the feasible subnets has only {len(front)} "
                            f"point(s), fewer than --modes {k}")
        tiers = spread_tiers(front, k)

    def options(tier: float, taken: set[int]) -> list[int]:
        """Front indices at or under ``tier`` not yet taken, most accurate first."""
        return [i for i in range(len(front) - 1, -1, -1) if front[i].latency_ms <= tier + 1e-9 and i not in taken]

    chosen: list[int] = []
    for tier in tiers:  # fastest tier first: each takes the best point left under it
        opts = options(tier, set(chosen))
        if not opts:
            raise UserError(f"{board}: no distinct Pareto-front subnet left at or under {tier:.2f} ms for mode "
                            f"{len(chosen)} (the front has {len(front)} points)")
        chosen.append(opts[0])

    def total(idx: list[int]) -> int:
        return code_bytes + sum(front[i].model_flash for i in idx)

    while total(chosen) > flash_limit:
        # replace the mode with the most model flash by a smaller one in its tier, if any
        for slot in sorted(range(k), key=lambda s: -front[chosen[s]].model_flash):
            taken = set(chosen) - {chosen[slot]}
            smaller = [i for i in options(tiers[slot], taken) if front[i].model_flash < front[chosen[slot]].model_flash]
            if smaller:
                chosen[slot] = smaller[0]
                break
        else:
            raise UserError(f"{board}: no {k} modes fit its flash together: the smallest choice needs "
                            f"{total(chosen) / 1024:.1f} KB (models + code), {flash_limit / 1024:.1f} KB usable")
    return sorted((front[i] for i in chosen), key=lambda c: c.latency_ms)
