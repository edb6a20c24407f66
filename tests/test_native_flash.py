"""The code generator's table of kernel code bytes (ofa_mcu/native/kernel_code.py, what the fast /
compact choice weighs) is the kernels as they compile now, and the compact choice is the smallest
set of entry points that runs every layer. The prediction against real linked firmware is in
tests/test_native_codegen.py (test_flash_prediction_matches_the_linked_firmware)."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest
from helpers import load_benchmark, require_tool

from ofa_mcu.native import variants
from ofa_mcu.native.kernel_code import KERNEL_CODE


@pytest.mark.parametrize("build", sorted(KERNEL_CODE))
def test_kernel_code_table_is_current(build: str, tmp_path: Path) -> None:
    """Every entry point's bytes in the table equal those of the kernels compiled now; after a kernel
    change run `benchmarks/kernel_bytes.py --write`."""
    require_tool("arm-none-eabi-gcc")
    fresh = load_benchmark("kernel_bytes").build_table(build, tmp_path)
    old = KERNEL_CODE[build]

    def closure(table: dict, entry: str) -> int:
        return sum(table["sections"][s] for s in table["entries"][entry])

    got = {e: closure(fresh, e) for e in fresh["entries"]}
    want = {e: closure(old, e) for e in old["entries"]}
    assert got == want, ("ofa_mcu/native/kernel_code.py is stale: run `benchmarks/kernel_bytes.py --write` "
                         f"(differs: {sorted(e for e in got.keys() | want.keys() if got.get(e) != want.get(e))})")


def _dw(h: int, w: int, c: int, k: int = 3, s: int = 1) -> dict[str, int]:
    out = (h + s - 1) // s, (w + s - 1) // s
    return dict(in_h=h, in_w=w, in_c=c, out_h=out[0], out_w=out[1], out_c=c, k_h=k, k_w=k, stride_h=s, stride_w=s,
                pad_top=k // 2, pad_left=k // 2)


def test_compact_choice_is_the_smallest_covering_set() -> None:
    """Per family, the compact set runs every layer (each call goes to one of its candidates) and no
    other covering set of candidates links fewer bytes; the fast set is each layer's own variant."""
    layers = [("ofa_depthwise_s8", _dw(24, 24, 16)), ("ofa_depthwise_s8_inplace", _dw(12, 12, 32)),
              ("ofa_depthwise_s8", _dw(6, 6, 64, 5, 2)), ("ofa_depthwise_s8_inplace", _dw(3, 3, 96, 7))]
    fc = ("ofa_fully_connected_s8", dict(batches=1, in_features=256, out_features=12))
    for build, dsp in (("m4", True), ("m0", False)):
        slots = [variants.candidates(f, p, dsp) for f, p in [*layers, fc]]
        assert all(len(set(s)) == len(s) for s in slots)
        fast, report = variants.choose_entries(slots, build)
        assert fast == [s[0] for s in slots]
        compact, report_c = variants.choose_entries(slots, build, "*")
        assert all(c in s for c, s in zip(compact, slots, strict=True))
        dw_bytes = variants.kernel_bytes(set(compact[:4]), build)
        assert dw_bytes == report_c["depthwise"]["compact_bytes"] <= report["depthwise"]["fast_bytes"]
        universe = sorted({c for s in slots[:4] for c in s})
        for n in range(1, len(universe) + 1):
            for subset in combinations(universe, n):
                if all(set(subset) & set(s) for s in slots[:4]):
                    assert variants.kernel_bytes(set(subset), build) >= dw_bytes, (build, subset)
        # the 12-output head: the two-row loop alone is smaller than the 4-row passes (DSP builds)
        assert compact[4] == ("ofa_fully_connected_s8_x2" if dsp else fast[4])


def test_auto_choice_goes_compact_only_where_the_budget_needs_it() -> None:
    """``auto`` keeps the fast loops when they fit the kernel budget and turns the families that
    save most compact, one at a time, when they do not."""
    from ofa_mcu.native.codegen import choose_kernels

    def op(function: str, p: dict[str, int]) -> dict:
        return {"reshape": False, "index": 0, "slots": {b: [variants.candidates(function, p, b == "dsp")]
                                                         for b in ("dsp", "portable")}}

    def run(budget: int | None) -> dict:
        ops = [op("ofa_depthwise_s8", _dw(24, 24, 16)), op("ofa_depthwise_s8", _dw(6, 6, 64, 5, 2)),
               op("ofa_fully_connected_s8", dict(batches=1, in_features=256, out_features=12))]
        for i, o in enumerate(ops):
            o["index"] = i
        from ofa_mcu.native.codegen import NativeLayer

        layers = [NativeLayer(i, i, f"l{i}", "k", "OP", "f", False, [], 0, 0, None, [], [], 0, 0) for i in range(3)]
        return choose_kernels([ops], [layers], "auto", core="cortex-m4", dsp=True, kernel_budget=budget)

    free = run(None)
    assert free["choice"] == "fast" and free["kernel_bytes"] == free["fast_bytes"] > free["compact_bytes"]
    assert run(free["fast_bytes"])["choice"] == "fast"
    tight = run(free["compact_bytes"])
    assert tight["choice"] == "compact" and tight["kernel_bytes"] == tight["compact_bytes"]
    assert "board's flash leaves" in tight["note"]
    fams = free["families"]
    saving = {f: r["fast_bytes"] - r["compact_bytes"] for f, r in fams.items()}
    biggest = max(saving, key=saving.__getitem__)
    one = run(free["fast_bytes"] - saving[biggest])
    assert one["compact_families"] == [biggest] and one["choice"] == "mixed"
    assert run(1)["note"].endswith("(still more than that)")
