"""Energy per inference: an ESTIMATE from a latency and the board YAML's datasheet figures.

energy (uJ) = latency (ms) x run-mode current (mA) x supply voltage (V). The current is the
datasheet's typical run-mode figure at the board's clock (``power.run_current_ma``) or per MHz
(``power.run_current_ua_per_mhz`` x clock); it ignores peripherals, I/O load and the difference
between a benchmark loop and int8 kernels, so the figure is an estimate, and everything that shows
it says so. A board without ``power`` figures simply has no energy figure; a limit on energy for
such a board is refused in one line (:func:`require_power`).
"""

from __future__ import annotations

from ofa_mcu.boards import Board
from ofa_mcu.errors import UserError

#: How every output labels the figure.
ENERGY_NOTE = "estimate: latency x datasheet run-mode current x supply voltage"


def run_current_ma(board: Board) -> float | None:
    """The board's run-mode current at its clock in mA (None: the YAML has no power figures)."""
    p = board.power
    if p is None:
        return None
    if p.run_current_ma is not None:
        return float(p.run_current_ma)
    return float(p.run_current_ua_per_mhz) * board.clock_hz / 1e9  # type: ignore[arg-type]


def run_power_mw(board: Board) -> float | None:
    """Run-mode power in mW (current x supply voltage), or None without power figures."""
    ma = run_current_ma(board)
    return None if ma is None or board.power is None else ma * board.power.supply_v


def energy_uj(board: Board, latency_ms: float | None) -> float | None:
    """Estimated energy of one inference in uJ (ms x mA x V = uJ); None when either is unknown."""
    mw = run_power_mw(board)
    if mw is None or latency_ms is None:
        return None
    return float(latency_ms) * mw


def require_power(board: Board, what: str = "--energy-uj") -> float:
    """The board's run power in mW, or a one-line ``UserError`` saying which figures are missing."""
    mw = run_power_mw(board)
    if mw is None:
        raise UserError(f"board {board.name}: {what} needs the datasheet figures power.supply_v and "
                        "power.run_current_ma (or power.run_current_ua_per_mhz) in its YAML; it has none")
    return mw


def power_summary(board: Board) -> dict[str, float | str] | None:
    """The figures behind the estimate, for run files (None without power figures)."""
    ma, mw = run_current_ma(board), run_power_mw(board)
    if ma is None or mw is None or board.power is None:
        return None
    return {"supply_v": board.power.supply_v, "run_current_ma": round(ma, 4), "run_power_mw": round(mw, 4),
            "note": ENERGY_NOTE}
