"""Kernel variant per layer, chosen at compile time from the layer's shape.

Several native kernels have more than one loop for the same op (``firmware/kernels``): a conv runs
its patch loop (few input channels: the first conv) or its row loop; a depthwise conv runs its
channels in lanes or one channel plane at a time through a padded band (3x3 on every core, up to
8x8 on DSP cores) or with its border taps skipped, in place or not. The run-time entry points
(``ofa_conv_s8``, ``ofa_depthwise_s8``, ...) choose from the shape each time they are called, so a
firmware calling them links every loop. The code generator knows every shape, so it calls the
chosen variant's own entry point (``ofa_depthwise_s8_plane3``, ...) and the linker drops the
variants the model never uses. A fully connected layer of a multiple of 4 outputs (on DSP builds: of 4
or more) runs ``ofa_fully_connected_s8_x4`` (no code for 1-3 rows left over), one of fewer than 4 outputs or a
tiny classifier head ``ofa_fully_connected_s8_x2`` (no 4-row passes). On DSP cores a 1x1 conv whose
every channel pair takes the assembly pair path (even out_c, in_c a multiple of 4, right shifts
only: ``ofa_pointwise_variant``) runs ``ofa_pointwise_s8_pairs``, which has no other loop. Where a model would call two entry
points holding the same loop (a plain conv and a conv + ADD of the same loop; both fully connected
entry points) it calls the more general one for both (:func:`shared_entries`): one copy of the loop.

This module is the one place the generator's choice is made. It mirrors the C functions that make
the run-time choice, ``ofa_conv_variant`` (conv.c) and ``ofa_depthwise_variant`` (depthwise.c),
constant for constant; ``tests/test_kernels.py`` checks, on the host builds of the kernels with
and without the DSP loops, that both choose the same variant over a grid of shapes. Some choices
depend on whether the kernels are built with the DSP-extension loops (``OFA_KERNELS_DSP`` in
``ofa_kernels.h``), so every choice is made for both builds (``dsp``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

#: ``OFA_DW_PAD_BYTES`` (depthwise.c): bytes of the padded band a channel plane goes through.
DW_PAD_BYTES = 256
#: ``OFA_DW_PAD_MAX_K``: the largest kernel (each axis) of the DSP padded-plane variant.
DW_PAD_MAX_K = 8
#: ``OFA_DW_SMALL_PIX``: planes of fewer outputs go in lanes.
DW_SMALL_PIX = 16
#: ``OFA_DW_LANE_PIX``: in place on DSP cores, strided planes and planes of kernels other than 3x3 up to
#: this many outputs go in lanes (the in-place lanes' stack buffer holds this many outputs of four channels).
DW_LANE_PIX = 64
#: ``OFA_DW_LANE3_PIX``: on DSP cores, 3x3 stride-1 planes up to this many outputs go in lanes.
DW_LANE3_PIX = 49
#: ``OFA_CONV_PATCH_BYTES`` / ``OFA_CONV_PATCH_MAX_C`` (conv.c): the patch loop's limits (DSP builds:
#: ``CONV_PATCH_BYTES_DSP``, their two widened windows take four times that on the stack).
CONV_PATCH_BYTES = 128
CONV_PATCH_BYTES_DSP = 64
CONV_PATCH_MAX_C = 8

#: Fully connected layers of at most this many MACs (and not a multiple of 4 outputs) run the code
#: of two rows at a time (``ofa_fully_connected_s8_x2``): about 500 B less code than the 4-row passes,
#: which would save a layer this small at most a few hundred instructions (ic01's 64 -> 10 head).
FC_SMALL_MACS = 4096

#: ``ofa_pointwise_variant_t`` values, in order (``pairs``: entry point ``ofa_pointwise_s8[_inplace]_pairs``).
PW_VARIANTS = ("any", "pairs")
#: ``ofa_conv_variant_t`` values, in order (the entry point is ``ofa_conv_s8_<name>``).
CONV_VARIANTS = ("patch", "rows")
#: ``ofa_depthwise_variant_t`` values, in order (entry point ``ofa_depthwise_s8[_inplace]_<name>``).
DW_VARIANTS = ("lanes", "plane3", "plane_k", "plane_any")


def conv_variant(p: Mapping[str, int], dsp: bool) -> str:
    """``ofa_conv_variant``: ``patch`` or ``rows`` for a conv with the parameters ``p`` (the
    fields of ``ofa_conv_params_t``), by kernels built with (``dsp``) or without the DSP loops."""
    n = p["k_h"] * p["k_w"] * p["in_c"]
    limit = CONV_PATCH_BYTES_DSP if dsp else CONV_PATCH_BYTES
    return "patch" if p["in_c"] < CONV_PATCH_MAX_C and n <= limit else "rows"


def dw_band_rows(p: Mapping[str, int]) -> int:
    """``dw_band_rows``: output rows per padded band of a 3x3 depthwise conv (0: none fits)."""
    pw = (p["out_w"] - 1) * p["stride_w"] + 3
    rows = DW_PAD_BYTES // pw
    if p["k_h"] != 3 or p["k_w"] != 3 or rows < 3:
        return 0
    return (rows - 3) // p["stride_h"] + 1


def dw_band_rows_k(p: Mapping[str, int]) -> int:
    """``dw_band_rows_k`` (DSP cores): output rows per padded band of a kernel up to 8x8."""
    pw = (p["out_w"] - 1) * p["stride_w"] + p["k_w"]
    rows = DW_PAD_BYTES // pw
    if p["k_h"] > DW_PAD_MAX_K or p["k_w"] > DW_PAD_MAX_K or rows < p["k_h"]:
        return 0
    return (rows - p["k_h"]) // p["stride_h"] + 1


def depthwise_variant(p: Mapping[str, int], inplace: bool, dsp: bool) -> str:
    """``ofa_depthwise_variant``: the variant of a depthwise conv with the parameters ``p``, run in
    place or not, by kernels built with (``dsp``) or without the DSP-extension loops."""
    npix = p["out_h"] * p["out_w"]
    k3s1 = p["stride_h"] == 1 and p["stride_w"] == 1 and p["k_h"] == 3 and p["k_w"] == 3
    if inplace:
        if npix < DW_SMALL_PIX or (dsp and npix <= (DW_LANE3_PIX if k3s1 else DW_LANE_PIX)):
            return "lanes"
    elif dsp:
        if not k3s1 or npix <= DW_LANE3_PIX or (dw_band_rows(p) == 0 and dw_band_rows_k(p) == 0):
            return "lanes"
    elif npix < DW_SMALL_PIX:
        return "lanes"
    if dw_band_rows(p) > 0:
        return "plane3"
    if dsp and dw_band_rows_k(p) > 0:
        return "plane_k"
    return "plane_any"


def fc_variant(p: Mapping[str, int], dsp: bool = False) -> str:
    """The fully connected entry point a layer needs: ``x2`` (rows two and one at a time) for fewer
    than 4 outputs, and for a classifier head of at most :data:`FC_SMALL_MACS` MACs (the 4-row passes
    would save it a few hundred instructions for about 500 B more code); otherwise ``x4`` (4-row
    passes only) for a multiple of 4 outputs and, on DSP builds, for any count (their last pass takes
    the last four rows); ``any`` (both loops) otherwise."""
    n = p["out_features"]
    if n < 4 or p["batches"] * p["in_features"] * n <= FC_SMALL_MACS:
        return "x2" if n % 4 or n < 4 else "x4"
    if n % 4 == 0 or dsp:
        return "x4"
    return "any"


def pointwise_variant(p: Mapping[str, int], out_shift: Any, dsp: bool) -> str:
    """``ofa_pointwise_variant``: ``pairs`` when on DSP builds every channel pair of the 1x1 conv
    takes the assembly pair path (an even out_c, in_c a multiple of 4, every shift a right shift:
    ``out_shift`` < 0), else ``any``."""
    if not dsp or p["out_c"] % 2 or p["in_c"] % 4:
        return "any"
    return "pairs" if bool(np.all(np.asarray(out_shift) < 0)) else "any"


def entry_point(function: str, p: Mapping[str, int], dsp: bool, arrays: Mapping[str, Any] | None = None) -> str:
    """The C function a generated call of the run-time entry point ``function`` calls instead:
    its variant for the parameters ``p`` and the constant ``arrays`` (``out_shift``: pointwise
    convs) of the layer (``function`` itself when it has no variants)."""
    if function in ("ofa_pointwise_s8", "ofa_pointwise_s8_inplace"):
        pairs = arrays is not None and pointwise_variant(p, arrays["out_shift"], dsp) == "pairs"
        return f"{function}_pairs" if pairs else function
    if function in ("ofa_conv_s8", "ofa_conv_add_s8"):
        return f"{function}_{conv_variant(p, dsp)}"
    if function in ("ofa_depthwise_s8", "ofa_depthwise_s8_inplace"):
        return f"{function}_{depthwise_variant(p, function.endswith('_inplace'), dsp)}"
    if function == "ofa_fully_connected_s8":
        v = fc_variant(p, dsp)
        return f"{function}_{v}" if v != "any" else function
    return function


def expand_depthwise_kernel(dw: Mapping[str, int], dsp: bool) -> str:
    """The depthwise kernel ``ofa_expand_depthwise_s8_with`` runs for the depthwise conv ``dw``:
    the variant of one output row (out_h 1; the window's height and padding do not matter)."""
    return entry_point("ofa_depthwise_s8", {**dw, "out_h": 1}, dsp)


def shared_entries(functions: set[str]) -> dict[str, tuple[str, list[str]]]:
    """Entry points a model should not call although a layer's shape chose them, because another
    entry point the model calls anyway runs that layer too (each entry point has its own copy of its
    loop): {entry point: (the one to call instead, C arguments inserted after the parameters)}.

    - a plain conv whose loop the model also runs as a conv + ADD: the conv + ADD entry point with
      ``add`` NULL (``ofa_conv_s8_rows`` -> ``ofa_conv_add_s8_rows(&p, NULL, ...)``);
    - the pointwise ``_pairs`` entry points when the model also calls ``ofa_pointwise_s8`` (or
      its in-place form), which holds the pair path as well;
    - the fully connected ``_x4`` / ``_x2`` entry points when the model needs more than one
      fully connected entry point: ``ofa_fully_connected_s8`` (both loops) for every layer.
    """
    out: dict[str, tuple[str, list[str]]] = {}
    for v in CONV_VARIANTS:
        plain, twin = f"ofa_conv_s8_{v}", f"ofa_conv_add_s8_{v}"
        if plain in functions and twin in functions:
            out[plain] = (twin, ["NULL"])
    if functions & {"ofa_pointwise_s8", "ofa_pointwise_s8_inplace"}:  # the pair path is in those too
        out.update({f"{f}_pairs": (f, []) for f in ("ofa_pointwise_s8", "ofa_pointwise_s8_inplace")
                    if f"{f}_pairs" in functions})
    fcs = {f for f in functions if f.startswith("ofa_fully_connected_s8")}
    if len(fcs) > 1:
        out.update({f: ("ofa_fully_connected_s8", []) for f in fcs - {"ofa_fully_connected_s8"}})
    return out


# ------------------------------------------------------------------------------------------
# fast or compact loops: the kernels' flash per entry point and the compact choice

#: The kernel choices: ``fast``, each layer the variant its shape selects (above); ``compact``, per op
#: family (conv, depthwise, pointwise, fully connected) the set of entry points of fewest bytes of
#: code that runs every layer of the family (one general loop instead of several fast ones).
KERNEL_CHOICES = ("fast", "compact", "auto")
#: Op families whose layers may take other entry points than their shape's choice.
FAMILIES = {
    "ofa_conv_s8": "conv", "ofa_conv_add_s8": "conv",
    "ofa_depthwise_s8": "depthwise", "ofa_depthwise_s8_inplace": "depthwise",
    "ofa_pointwise_s8": "pointwise", "ofa_pointwise_s8_inplace": "pointwise",
    "ofa_fully_connected_s8": "fc",
}
#: Preference among the entry points that can run a layer when its own choice is not linked
#: (about fastest first; any of them gives the same results).
_ORDER = {"patch": 0, "rows": 1, "plane3": 0, "plane_k": 1, "lanes": 2, "plane_any": 3, "lanes_plain": 4,
          "plane_any_plain": 5,
          "pairs": 0, "any": 1, "plain": 2, "x4": 0, "x2": 1}


def candidates(function: str, p: Mapping[str, int], dsp: bool, arrays: Mapping[str, Any] | None = None) -> list[str]:
    """Every entry point that runs a layer of the run-time entry point ``function`` with the
    parameters ``p`` (same results): the shape's choice (:func:`entry_point`) first, then the others
    that can run it (``ofa_kernels.h``: the row loop, depthwise lanes out of place and plane_any for any
    shape; the patch loop for windows of up to 128 bytes (64 on DSP builds); plane3 / plane_k where their padded band
    fits; in place, lanes up to DW_LANE_PIX outputs; depthwise lanes and plane_any without the ARMv6-M
    band path, ``_plain``; on DSP cores the pointwise C loop without the pair path, ``_plain``; the
    fully connected two-row loop for any layer, the 4-row one for a multiple of 4 rows, on DSP builds
    for 4 or more), about fastest first."""
    first = entry_point(function, p, dsp, arrays)
    out: list[str] = []
    if function in ("ofa_conv_s8", "ofa_conv_add_s8"):
        window = p["k_h"] * p["k_w"] * p["in_c"]
        ok = ["rows"] + (["patch"] if window <= (CONV_PATCH_BYTES_DSP if dsp else CONV_PATCH_BYTES) else [])
        out = [f"{function}_{v}" for v in ok]
    elif function in ("ofa_depthwise_s8", "ofa_depthwise_s8_inplace"):
        inplace = function.endswith("_inplace")
        ok = ["plane_any", "plane_any_plain"]  # _plain: without the ARMv6-M band path (less code on M0)
        if not inplace:
            ok.append("lanes_plain")
        if not inplace or p["out_h"] * p["out_w"] <= DW_LANE_PIX:
            ok.append("lanes")
        if dw_band_rows(p) > 0:
            ok.append("plane3")
        if dsp and dw_band_rows_k(p) > 0:
            ok.append("plane_k")
        out = [f"{function}_{v}" for v in ok]
    elif function in ("ofa_pointwise_s8", "ofa_pointwise_s8_inplace"):
        out = [function] + ([f"{function}_plain"] if dsp else [])
        if first != function:
            out.append(first)  # the pair path only
    elif function == "ofa_fully_connected_s8":
        x4 = p["out_features"] % 4 == 0 or (dsp and p["out_features"] >= 4)  # DSP: a last pass over the last 4
        out = [function, f"{function}_x2"] + ([f"{function}_x4"] if x4 else [])
    rest = sorted((f for f in out if f != first), key=lambda f: _ORDER.get(_variant_name(f), 9))
    return [first, *rest]


def _base(entry: str) -> str | None:
    """The run-time entry point of :data:`FAMILIES` that ``entry`` is a variant of (the longest
    name that is ``entry`` or a prefix of it followed by ``_``), None for other kernels."""
    for base in sorted(FAMILIES, key=len, reverse=True):
        if entry == base or entry.startswith(base + "_"):
            return base
    return None


def _variant_name(entry: str) -> str:
    base = _base(entry)
    if base is None:
        return entry
    return "any" if entry == base else entry[len(base) + 1:]


def family(entry: str) -> str | None:
    """The op family (:data:`FAMILIES`) of an entry point or run-time entry point, None for kernels
    without variants."""
    base = _base(entry)
    return None if base is None else FAMILIES[base]


def kernel_build(core: str | None, dsp: bool) -> str:
    """The table (:data:`ofa_mcu.native.kernel_code.KERNEL_CODE`) of a core's DSP or portable build:
    ``m7`` for Cortex-M7, ``m4`` for the other DSP cores; ``m0`` for ARMv6-M (and by default),
    ``m3`` for the other cores without DSP loops."""
    if dsp:
        return "m7" if core == "cortex-m7" else "m4"
    return "m3" if core in ("cortex-m3", "cortex-m33", "cortex-m4", "cortex-m7", "cortex-m55") else "m0"


def kernel_bytes(entries: set[str] | list[str], build: str) -> int:
    """Flash bytes of the kernel code a firmware calling ``entries`` links on ``build`` (the union of
    their closures: shared loops and tables once; C library calls not counted). Unknown names (not
    kernels) count 0."""
    from ofa_mcu.native.kernel_code import KERNEL_CODE

    table = KERNEL_CODE[build]
    secs: set[str] = set()
    for e in entries:
        secs.update(table["entries"].get(e, ()))
    return sum(table["sections"][s] for s in secs)


def with_sharing(entries: set[str]) -> set[str]:
    """The entry points a firmware calling ``entries`` links once :func:`shared_entries` applies."""
    share = shared_entries(entries)
    return {share[e][0] if e in share else e for e in entries}


def choose_entries(slots: list[list[str]], build: str, compact: Collection[str] = ()
                   ) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The entry point each of ``slots`` calls (each slot: the :func:`candidates` of one kernel call
    or kernel argument, its shape's choice first). Per family (:data:`FAMILIES`) the fast set is every
    slot's first candidate; the compact set is the set of entry points that runs every slot of the
    family with the fewest bytes of code on ``build`` (ties: the one keeping most fast entry points).
    The families in ``compact`` (``"*"``: all) take their compact set, each slot its first candidate
    in it (its own choice when the set has it). Returns (the entry points, {family: {"choice",
    "fast_bytes", "compact_bytes", "fast_entries", "compact_entries"}}), bytes of each family's code
    alone after :func:`shared_entries`."""
    picked = [s[0] for s in slots]
    fams: dict[str, list[int]] = {}
    for i, s in enumerate(slots):
        f = family(s[0])
        if f is not None:
            fams.setdefault(f, []).append(i)
    report: dict[str, dict[str, Any]] = {}
    for fam, idx in sorted(fams.items()):
        fast = {slots[i][0] for i in idx}
        fast_bytes = kernel_bytes(with_sharing(fast), build)
        best, best_bytes = fast, fast_bytes
        universe = sorted({c for i in idx for c in slots[i]})
        if len(universe) <= 12:  # every covering subset (a family has at most 8 entry points)
            for mask in range(1, 1 << len(universe)):
                cand = {universe[k] for k in range(len(universe)) if mask >> k & 1}
                if not all(cand.intersection(slots[i]) for i in idx):
                    continue
                b = kernel_bytes(with_sharing(cand), build)
                if b < best_bytes or (b == best_bytes and len(cand & fast) > len(best & fast)):
                    best, best_bytes = cand, b
        use = best if (compact == "*" or fam in compact) else fast
        for i in idx:
            picked[i] = next(c for c in slots[i] if c in use)
        report[fam] = {"choice": "compact" if use is best and best_bytes < fast_bytes else "fast",
                       "fast_bytes": fast_bytes, "compact_bytes": best_bytes,
                       "fast_entries": sorted(with_sharing(fast)), "compact_entries": sorted(with_sharing(best))}
    return picked, report
