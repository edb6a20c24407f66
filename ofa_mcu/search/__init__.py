"""Memory-aware search: the most accurate subnet that fits each board (see run.py)."""

from ofa_mcu.search.run import SearchOptions, run_search

__all__ = ["SearchOptions", "run_search"]
