"""The code generator's per-layer kernel variants (ofa_mcu/native/variants.py) without a compiler:
fully connected row loops, entry points shared within a firmware, pass-through of kernels without
variants. That the conv and depthwise choices equal the kernels' run-time dispatch is checked
against the C code in tests/test_kernels.py (test_variant_choice_matches_the_c_dispatch)."""

from __future__ import annotations

from ofa_mcu.native import variants


def _fc(batches: int, n_in: int, n_out: int, dsp: bool = True) -> str:
    return variants.entry_point("ofa_fully_connected_s8", dict(batches=batches, in_features=n_in, out_features=n_out),
                                dsp)


def test_fully_connected_row_loops() -> None:
    assert _fc(1, 64, 12) == "ofa_fully_connected_s8_x4"  # kws01's head: 4-row passes, no tail
    assert _fc(1, 640, 128) == "ofa_fully_connected_s8_x4"
    assert _fc(1, 256, 2) == "ofa_fully_connected_s8_x2"  # vww01's head: the 4-row passes never run
    assert _fc(1, 64, 10) == "ofa_fully_connected_s8_x2"  # ic01's head: 640 MACs
    assert _fc(1, 1024, 10, dsp=False) == "ofa_fully_connected_s8"  # large enough for the 4-row passes to pay
    assert _fc(1, 1024, 10) == "ofa_fully_connected_s8_x4"  # DSP: the last pass takes the last four rows
    assert _fc(8, 1024, 3) == "ofa_fully_connected_s8_x2"


def test_shared_entries_keep_one_copy_of_each_loop() -> None:
    share = variants.shared_entries({"ofa_conv_s8_rows", "ofa_conv_add_s8_rows", "ofa_conv_s8_patch"})
    assert share == {"ofa_conv_s8_rows": ("ofa_conv_add_s8_rows", ["NULL"])}
    share = variants.shared_entries({"ofa_fully_connected_s8_x4", "ofa_fully_connected_s8_x2"})
    assert share == {f: ("ofa_fully_connected_s8", []) for f in ("ofa_fully_connected_s8_x4",
                                                                  "ofa_fully_connected_s8_x2")}
    assert variants.shared_entries({"ofa_fully_connected_s8_x4", "ofa_conv_s8_patch", "ofa_depthwise_s8_lanes"}) == {}


def test_kernels_without_variants_pass_through() -> None:
    for fn in ("ofa_pointwise_s8", "ofa_pointwise_s8_inplace", "ofa_add_s8", "ofa_softmax_s8"):
        assert variants.entry_point(fn, {}, True) == fn
    dw = dict(in_h=9, in_w=9, in_c=8, out_h=5, out_w=5, out_c=8, k_h=3, k_w=3, stride_h=2, stride_w=2)
    # a fused expand + strided depthwise: one output row of 5 pixels goes in lanes on every core
    assert variants.expand_depthwise_kernel(dw, True) == variants.expand_depthwise_kernel(dw, False) == \
        "ofa_depthwise_s8_lanes"
