"""Kernel variant per layer, chosen at compile time from the layer's shape.

Several native kernels have more than one loop for the same op (``firmware/kernels``): a conv runs
its patch loop (few input channels: the first conv) or its row loop; a depthwise conv runs its
channels in lanes or one channel plane at a time through a padded band (3x3 on every core, up to
8x8 on DSP cores) or with its border taps skipped, in place or not. The run-time entry points
(``ofa_conv_s8``, ``ofa_depthwise_s8``, ...) choose from the shape each time they are called, so a
firmware calling them links every loop. The code generator knows every shape, so it calls the
chosen variant's own entry point (``ofa_depthwise_s8_plane3``, ...) and the linker drops the
variants the model never uses. A fully connected layer of a multiple of 4 outputs runs
``ofa_fully_connected_s8_x4`` (no code for 1-3 rows left over), one of fewer than 4 outputs or a
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

from collections.abc import Mapping
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


def fc_variant(p: Mapping[str, int]) -> str:
    """The fully connected entry point a layer needs: ``x4`` (4-row passes only) for a multiple of 4
    outputs; ``x2`` (rows two and one at a time) for fewer than 4, and for a classifier head of at
    most :data:`FC_SMALL_MACS` MACs (the 4-row passes would save it a few hundred instructions for
    about 500 B more code); ``any`` (both) otherwise."""
    n = p["out_features"]
    if n % 4 == 0:
        return "x4"
    if n < 4 or p["batches"] * p["in_features"] * n <= FC_SMALL_MACS:
        return "x2"
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
        return f"{function}_{fc_variant(p)}" if fc_variant(p) != "any" else function
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
