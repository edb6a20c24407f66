"""The host side of the serial protocol against scripted fake devices on a local socket (a
thread with a listening socket, reached as socket://127.0.0.1:PORT): normal replies, a plain
MLPerf Tiny device, and every failure mode (garbage, silence, reset mid-run, disconnect, flood,
device errors) ending in a clear WorkFailed within the timeout. Also the latency LUT fit."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

import pytest
from fake_device import BANNER, CLOSE, FakeDevice, ofa_device

from ofa_mcu.errors import UserError, WorkFailed
from ofa_mcu.profiler import (
    EMULATED_COUNT_NOTE,
    Device,
    LayerProfile,
    ProfileResult,
    attach_project,
    default_input,
    fit_latency_lut,
    lut_samples,
    merge_latency_lut,
    profile,
)


def test_profile_parses_standard_replies_and_extensions():
    inputs = [bytes([1, 2, 3, 4, 5, 6, 7, 8]), bytes([0x80, 0xFF, 10, 20, 0, 0, 0, 0])]
    with FakeDevice(ofa_device, on_connect=BANNER) as fake:
        res = profile(fake.url, inputs, runs=4, warmup=2, timeout_s=5)
    assert res.name == "fake" and res.board == "fake-board" and res.counter == "dwt"
    assert res.clock_hz == 100_000_000 and res.emulated is False and res.count_unit == "cycles"
    assert res.outputs == [[3, 7], [-128, 30]]
    assert res.results == [[0.3, 0.7], [-12.8, 3.0]]
    assert res.latency_cycles == pytest.approx(
        {"mean": 200015.0, "median": 200015.0, "min": 200000.0, "max": 200030.0, "std": 11.1803398875})
    assert res.latency_ms["mean"] == pytest.approx(2.00015)
    assert res.latency_instructions is None
    assert res.lap_ms_per_run == [2.0, 2.0]
    assert [(layer.index, layer.kind, layer.cycles, layer.name) for layer in res.layers] == [
        (0, "conv", 150000, None), (1, "fc", 49000, "head")]
    assert res.memory == {"arena_used": 900, "arena_bytes": 1000, "stack_used": 700, "stack_bytes": 8192,
                          "static_ram": 3000}
    data = res.to_json()
    assert data["layer_cycles_sum"] == 199000 and "latency_instructions" not in data
    assert fake.commands.count("infer 4 2") == 2 and fake.commands.count("infer 1 0") == 1  # calibration once


def _result(emulated: bool) -> ProfileResult:
    ticks = {"mean": 250.0, "min": 240.0, "max": 260.0}
    return ProfileResult(
        port="p", name="n", board="b", core="cortex-m4", model="m", runtime="tflm", counter="systick" if emulated
        else "dwt", clock_hz=25_000_000, emulated=emulated, count_unit="instructions" if emulated else "cycles",
        runs=2, warmup=1, outputs=[[1, 2]], results=[[0.1, 0.2]], latency_ms={"mean": 0.01}, latency_cycles=ticks,
        latency_instructions={k: v * 40 for k, v in ticks.items()} if emulated else None, lap_ms_per_run=[0.01],
        layers=[LayerProfile(0, "conv", 150, instructions=6000.0 if emulated else None),
                LayerProfile(1, "fc", 90, instructions=3600.0 if emulated else None)])


def test_emulated_profile_json_says_instructions_and_never_cycles():
    compiled = {"runtime": "tflm", "kernels": "cmsis-nn", "layers": [
        {"index": 0, "kind": "conv", "macs": 100}, {"index": 1, "kind": "fc", "macs": 10}]}
    res = _result(emulated=True)
    attach_project(res, compiled)
    data = res.to_json()
    assert "cycles" not in json.dumps({k: v for k, v in data.items() if k != "count_note"})
    assert data["count_unit"] == "instructions" and data["count_note"] == EMULATED_COUNT_NOTE
    assert data["latency_instructions"]["mean"] == 10_000 and data["latency_ticks"]["mean"] == 250
    assert data["layers"] == [{"index": 0, "kind": "conv", "ticks": 150, "macs": 100, "instructions": 6000.0},
                              {"index": 1, "kind": "fc", "ticks": 90, "macs": 10, "instructions": 3600.0}]
    assert data["layer_instructions_sum"] == 9600 and data["kernels"] == "cmsis-nn"
    # the LUT is fitted on the unit it names: instructions, not ticks
    assert [s["count"] for s in lut_samples(res)] == [6000.0, 3600.0]
    # hardware keeps cycles; a native project's older compile.json still gives its kernels
    real = _result(emulated=False)
    attach_project(real, {"runtime": "native", "layers": []})
    data = real.to_json()
    assert data["latency_cycles"]["mean"] == 250 and data["layer_cycles_sum"] == 240
    assert "count_note" not in data and "latency_ticks" not in data and data["kernels"] == "native"
    assert [layer["cycles"] for layer in data["layers"]] == [150, 90]


def test_default_input_and_chunked_load():
    assert default_input(4) == bytes([11, 48, 85, 122])
    assert default_input(300) == default_input(300) and len(set(default_input(256))) == 256
    with FakeDevice(lambda c, d: ofa_device(c, d, nbytes=300)) as fake:
        res = profile(fake.url, runs=1, warmup=0, timeout_s=5)
    assert fake.state["buf"] == default_input(300)
    assert max(fake.state["chunks"]) == 120  # ofa firmware: long db commands
    assert res.outputs and len(res.outputs) == 1


def test_plain_mlperf_device_is_profiled_from_standard_replies():
    with FakeDevice(lambda c, d: ofa_device(c, d, extensions=False)) as fake:
        with pytest.raises(UserError, match="does not report its input size"):
            profile(fake.url, timeout_s=5)
    with FakeDevice(lambda c, d: ofa_device(c, d, extensions=False)) as fake:
        res = profile(fake.url, [bytes(range(8))], runs=3, warmup=0, timeout_s=5)
        assert max(fake.state["chunks"]) <= 32  # reference firmware: 80-character command buffer
    assert res.outputs is None and res.board is None and res.layers == []
    assert res.latency_ms["mean"] == pytest.approx(2.0) and res.latency_cycles == {}
    assert res.results == [[0.1, 0.5]]


def test_garbage_bytes_are_a_clear_error():
    with FakeDevice(lambda c, d: b"\x8f\xa3\x00\xfe\xff\r\n") as fake:
        with pytest.raises(WorkFailed, match="garbage from socket://.*wrong baud rate"):
            profile(fake.url, timeout_s=3)


def test_silent_device_fails_within_the_timeout():
    with FakeDevice(lambda c, d: None) as fake:
        t = time.monotonic()
        with pytest.raises(WorkFailed, match=r"no answer from .* to 'name%' within 1 s; nothing received"):
            profile(fake.url, timeout_s=1)
        assert time.monotonic() - t < 2.5


def test_flood_without_line_end_fails_within_the_timeout():
    def flood(cmd: str, dev: FakeDevice) -> bytes:
        return b"A" * 20000

    with FakeDevice(flood) as fake:
        t = time.monotonic()
        with pytest.raises(WorkFailed, match="no answer .* received: b'AAAA"):
            profile(fake.url, timeout_s=1.5)
        assert time.monotonic() - t < 4


def _breaks_on(what: str, action: object) -> Callable[[str, FakeDevice], object]:
    def handler(cmd: str, dev: FakeDevice) -> object:
        if cmd.startswith(what) and cmd != "infer 1 0":
            return action
        return ofa_device(cmd, dev)

    return handler


def test_reset_mid_run_is_detected():
    with FakeDevice(_breaks_on("infer", b"m-warmup-start-1\r\n" + BANNER)) as fake:
        with pytest.raises(WorkFailed, match=r"reset while running 'infer 5 1%' \(it printed its start-up banner"):
            profile(fake.url, [bytes(8)], runs=5, warmup=1, timeout_s=3)


def test_disconnect_mid_run_is_detected():
    with FakeDevice(_breaks_on("infer", CLOSE)) as fake:
        t = time.monotonic()
        with pytest.raises(WorkFailed, match="closed or disappeared"):
            profile(fake.url, [bytes(8)], runs=5, warmup=1, timeout_s=3)
        assert time.monotonic() - t < 3


def test_hanging_inference_times_out():
    with FakeDevice(_breaks_on("infer", b"m-warmup-start-0\r\n")) as fake:
        t = time.monotonic()
        with pytest.raises(WorkFailed, match=r"no reply from .* to 'infer 2 0%' within 1 s; received: .*warmup-start"):
            profile(fake.url, [bytes(8)], runs=2, warmup=0, timeout_s=3, infer_timeout_s=1)
        assert time.monotonic() - t < 3


def test_device_errors_and_bad_inputs():
    with FakeDevice(_breaks_on("db load", b"e-[Command 'db load' must be >0 bytes]\r\nm-ready\r\n")) as fake:
        with pytest.raises(WorkFailed, match=r"device error on 'db load 8%': e-\[Command 'db load'"):
            profile(fake.url, [bytes(8)], timeout_s=3)
    with FakeDevice(ofa_device) as fake:
        with pytest.raises(UserError, match="input 0 has 5 bytes, the model .* takes 8"):
            profile(fake.url, [bytes(5)], timeout_s=3)
    with pytest.raises(UserError, match="runs must be > 0"):
        profile("socket://127.0.0.1:1", runs=0)


def test_port_that_cannot_be_opened():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    with pytest.raises(WorkFailed, match=f"cannot open serial port socket://127.0.0.1:{port}"):
        Device(f"socket://127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(WorkFailed, match="cannot open serial port /dev/ttyNOSUCH0"):
        profile("/dev/ttyNOSUCH0", timeout_s=1)


def test_numpy_inputs_and_attach_macs():
    np = pytest.importorskip("numpy")
    arr = np.arange(16, dtype=np.int8).reshape(2, 2, 2, 2)
    with FakeDevice(ofa_device) as fake:
        res = profile(fake.url, arr, runs=1, warmup=0, timeout_s=5, layer_macs={0: 1000, 1: 100})
    assert res.outputs == [[1, 5], [17, 21]]
    assert [layer.macs for layer in res.layers] == [1000, 100]
    assert lut_samples(res) == [{"kind": "conv", "macs": 1000, "count": 150000.0},
                                {"kind": "fc", "macs": 100, "count": 49000.0}]
    with pytest.raises(UserError, match="dtype float32"):
        profile("socket://127.0.0.1:1", np.zeros((1, 4), dtype=np.float32))
    with pytest.raises(UserError, match="3 MAC counts for 2 profiled layers"):
        res.attach_macs([1, 2, 3])
    assert isinstance(res, ProfileResult)


# ------------------------------------------------------------------------------------------
# latency LUT


def test_fit_recovers_a_linear_latency_model():
    samples = [{"kind": "conv", "macs": m, "count": 3.5 * m + 200} for m in (1000, 5000, 20000, 80000)]
    samples += [{"kind": "depthwise", "macs": m, "count": 9.0 * m + 1000 + (50 if i % 2 else -50)}
                for i, m in enumerate((500, 1500, 4000, 9000))]
    lut = fit_latency_lut(samples, board="qemu-mps2-an386", unit="instructions", clock_hz=25_000_000)
    conv = lut["kinds"]["conv"]
    assert conv["cycles_per_mac"] == pytest.approx(3.5) and conv["cycles_per_op"] == pytest.approx(200)
    assert conv["rmse"] == pytest.approx(0, abs=1e-6) and conv["r2"] == pytest.approx(1.0) and conv["n"] == 4
    dw = lut["kinds"]["depthwise"]
    assert dw["cycles_per_mac"] == pytest.approx(9.0, rel=0.01) and dw["max_abs_error"] > 0
    assert 0 < dw["mean_rel_error"] < 0.02
    assert lut["format"] == "ofa-mcu-latency-lut" and lut["unit"] == "instructions" and len(lut["samples"]) == 8


def test_fit_edge_cases_and_merge():
    one = fit_latency_lut([{"kind": "fc", "macs": 100, "cycles": 500}])  # the name LUTs used before
    assert one["kinds"]["fc"]["cycles_per_mac"] == pytest.approx(5.0) and one["kinds"]["fc"]["cycles_per_op"] == 0
    zero = fit_latency_lut([{"kind": "add", "macs": 0, "cycles": 300}, {"kind": "add", "macs": 0, "cycles": 500}])
    assert zero["kinds"]["add"]["cycles_per_mac"] == 0 and zero["kinds"]["add"]["cycles_per_op"] == 400
    # A fit that would need a negative overhead goes through the origin instead.
    neg = fit_latency_lut([{"kind": "conv", "macs": 100, "cycles": 100}, {"kind": "conv", "macs": 200, "cycles": 400}])
    assert neg["kinds"]["conv"]["cycles_per_op"] == 0 and neg["kinds"]["conv"]["cycles_per_mac"] > 0
    with pytest.raises(UserError, match="expected kind, macs and count"):
        fit_latency_lut([{"kind": "conv", "cycles": 1}])
    first = fit_latency_lut([{"kind": "conv", "macs": 1000, "cycles": 4000}], board="b1", unit="cycles")
    merged = merge_latency_lut(first, [{"kind": "conv", "macs": 3000, "count": 10000}])
    assert all("count" in x and "cycles" not in x for x in merged["samples"])
    assert merged["board"] == "b1" and merged["kinds"]["conv"]["n"] == 2
    assert merged["kinds"]["conv"]["cycles_per_mac"] == pytest.approx(3.0)
    with pytest.raises(UserError, match="LUT is for board='b1'"):
        merge_latency_lut(first, [], board="b2")
    with pytest.raises(UserError, match="not an ofa-mcu latency LUT"):
        merge_latency_lut({"format": "other"}, [])
