"""One firmware, several subnets switchable at run time (native runtime), end to end in QEMU.

Three subnets of the e2e test's tiny checkpoint (the smallest at resolution 12; the largest and
the largest with a narrower last block, both at 16) are compiled with `ofa-mcu compile --subnet
x3` for qemu-mps2-an386, built with -Wall -Wextra -Werror and run in QEMU. Checked:

- switched back and forth over serial (`ofa-mode N%`), every mode's raw int8 outputs for digits
  images and random inputs of ITS resolution equal host TFLM (`tflite_micro`) running that mode's
  own .tflite; a mode revisited gives the same outputs; the MLPerf Tiny replies are unchanged;
- one arena of the largest mode's need, and each mode's measured arena within its own plan;
- identical int8 weights are stored once (model_shared.c), each shared array is read by two modes,
  and the flash figure counts it; generation is deterministic;
- `ofa-mcu emulate --profile` gives per-mode latency, SRAM, flash and accuracy and its check;
- refusals are one line with exit code 2.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import run_cli
from test_e2e import _host_tflm, _locked, work  # noqa: F401 - work: the shared checkpoint fixture

from ofa_mcu.config import SubnetConfig

pytestmark = pytest.mark.slow
BOARD = "qemu-mps2-an386"


def _subnets(space) -> list[SubnetConfig]:
    big = SubnetConfig.max(space)
    d = big.to_dict()
    d["stages"][-1][-1]["expand"] = min(space.expands)  # narrower last block: its expand conv is a prefix
    return [SubnetConfig.min(space), SubnetConfig.from_dict(d).validate(space), big]


@pytest.fixture(scope="session")
def modes_fw(work: dict[str, Any]) -> Path:  # noqa: F811
    root = work["root"]
    fw = root / "fw-modes"
    with _locked(fw):
        if not (root / "modes.done").is_file():
            files = []
            for k, cfg in enumerate(_subnets(work["space"])):
                files += ["--subnet", str(root / f"mode{k}.json")]
                (root / f"mode{k}.json").write_text(cfg.to_json())
            proc = run_cli("compile", "--checkpoint", str(work["ckpt"]), "--target", BOARD, *files,
                           "--test-images", "100", "--out", str(fw), check=True)
            assert "3 modes in one firmware" in proc.stdout and "int8 weight bytes stored once" in proc.stdout
            run_cli("build", str(fw), check=True)
            (root / "modes.done").write_text("ok\n")
    return fw


def test_project_has_every_mode_one_arena_and_shared_weights(work: dict[str, Any], modes_fw: Path) -> None:  # noqa: F811
    from ofa_mcu.analysis import analyze
    from ofa_mcu.boards import load_board

    info = json.loads((modes_fw / "compile.json").read_text())
    modes = info["modes"]
    cfgs = _subnets(work["space"])
    assert [m["subnet_hash"] for m in modes] == [c.stable_hash() for c in cfgs]
    assert [m["resolution"] for m in modes] == [12, 16, 16] and [m["name"] for m in modes] == ["mode0", "mode1", "mode2"]
    board = load_board(BOARD)
    arenas = [analyze(work["space"], c, board, "native").plan.peak_bytes for c in cfgs]
    assert [m["predicted"]["arena_bytes"] for m in modes] == arenas
    assert info["predicted"]["arena_bytes"] == max(arenas)
    header = (modes_fw / "model" / "model.h").read_text()
    assert f"#define OFA_MODEL_ARENA_BYTES {max(arenas)}u" in header and "#define OFA_MODEL_MODES 3u" in header
    for k in range(3):
        assert (modes_fw / f"mode{k}.tflite").read_bytes() == (modes_fw / "model" / ".." / f"mode{k}.tflite").read_bytes()
        assert f"int ofa_mode{k}_invoke(void)" in (modes_fw / "model" / f"mode{k}.c").read_text()
    assert (modes_fw / "model.tflite").read_bytes() == (modes_fw / "mode0.tflite").read_bytes()

    # weights stored once: every shared array is read by at least two modes, and flash counts it
    sh = info["flash_sharing"]
    assert 0 < sh["saved_bytes"] < sh["weight_bytes_separate"]
    assert sh["weight_bytes_stored"] == sh["weight_bytes_separate"] - sh["saved_bytes"]
    shared_c = (modes_fw / "model" / "model_shared.c").read_text()
    names = re.findall(r"^const int8_t (ofa_shared_\d+)\[(\d+)\]", shared_c, re.M)
    assert len(names) == sh["shared_arrays"] > 0
    for name, _ in names:
        users = [k for k in range(3) if re.search(rf"\b{name}\b", (modes_fw / "model" / f"mode{k}.c").read_text())]
        assert len(users) >= 2, (name, users)
    p = info["predicted"]
    assert p["flash_bytes"] == p["code_bytes"] + p["model_flash_bytes_separate"] - sh["saved_bytes"]
    assert p["flash_bytes"] < p["flash_bytes_as_separate_firmwares"]


def test_generation_is_deterministic_and_sharing_keeps_every_byte(modes_fw: Path) -> None:
    from ofa_mcu.native.modes import generate_modes

    models = [(modes_fw / f"mode{k}.tflite").read_bytes() for k in range(3)]
    a = generate_modes(models, name="m")
    b = generate_modes(models, name="m")
    assert a.sources == b.sources
    # every layer's weights, as the generated C points to them, are the model's own bytes
    shared = {s.name: s.data for s in a.shared}
    unshared = generate_modes(models, name="m", share=False)
    assert not unshared.shared and unshared.weight_bytes_stored == unshared.weight_bytes_separate
    for ma, mu in zip(a.models, unshared.models):
        own = {x["name"]: x["data"] for x in mu.context["arrays"]}
        for pa in ma.context["params"]:
            for field, value in pa["fields"]:
                if isinstance(value, str) and value.startswith("ofa_shared_"):
                    base, _, off = value.partition(" + ")
                    ref = own[f"{pa['var']}_{field}"]
                    got = shared[base][int(off or 0): int(off or 0) + ref.size]
                    assert np.array_equal(got, np.asarray(ref, np.int8).ravel()), (pa["var"], field)


def test_modes_switch_back_and_forth_bit_exact_in_qemu(modes_fw: Path) -> None:
    from ofa_mcu.boards import load_board
    from ofa_mcu.profiler.device import Device
    from ofa_mcu.qemu import run_qemu

    info = json.loads((modes_fw / "compile.json").read_text())
    models = [(modes_fw / m["model_file"]).read_bytes() for m in info["modes"]]
    xs = {k: _inputs_for(modes_fw, m) for k, m in enumerate(info["modes"])}
    seen: dict[int, list[list[int]]] = {}
    with _locked(modes_fw), run_qemu(modes_fw / "build" / "firmware.elf", load_board(BOARD), timeout_s=300) as s, \
            Device(s.url) as dev:
        dev.sync()
        assert dev.mode()["index"] == 0 and dev.mode()["count"] == 3  # starts in mode 0
        assert "modes=3,mode=0" in dev.command("ofa-info")[0]
        for k in (2, 0, 1, 2, 1, 0):
            m = dev.mode(k)
            shape = info["modes"][k]["input"]["shape"]
            assert (m["index"], m["name"], m["input_shape"], m["input_bytes"]) == \
                (k, f"mode{k}", "x".join(map(str, shape)), int(np.prod(shape)))
            assert any(ln.startswith("e-[No inference") for ln in dev.command("ofa-out", check=False))
            outs = []
            for x in xs[k]:
                dev.load(x.tobytes())
                reply = dev.infer(1, 0, timeout_s=60)
                assert len(reply.results) == 10  # m-results-[...] as before: the MLPerf Tiny replies
                outs.append(dev.outputs())
            assert outs == _host_tflm(models[k], xs[k]), f"mode {k}"
            assert seen.setdefault(k, outs) == outs
            mem = dev.memory()
            assert mem["arena_bytes"] == info["predicted"]["arena_bytes"]
            assert 0 < mem["arena_used"] <= info["modes"][k]["predicted"]["arena_bytes"]
        # another resolution: the old mode's input size is refused after a switch
        dev.mode(0)
        assert any("exceeds maximum of 144" in ln
                   for ln in dev.command(f"db load {xs[2][0].size}", check=False))
        assert "does not exist" in dev.command("ofa-mode 3", check=False)[0]
        assert dev.command("name")[0] == f"m-name-dut-[{info['model']}]"


def _inputs_for(fw: Path, mode: dict[str, Any]) -> np.ndarray:
    """Two digits images in the mode's own input quantization and resolution, and one random input."""
    import torch

    from ofa_mcu.data import load_source, resize

    q = json.loads((fw / f"export-mode{mode['index']}.json").read_text())["input"]
    _, h, w, c = q["shape"]
    img = resize(torch.from_numpy(load_source("digits", 0).val_x[:2]), h).numpy().transpose(0, 2, 3, 1)
    xq = np.clip(np.round(img / q["scale"]) + q["zero_point"], -128, 127).astype(np.int8)
    rnd = np.random.default_rng(mode["index"]).integers(-128, 128, (1, h, w, c)).astype(np.int8)
    return np.concatenate([xq, rnd])


def test_emulate_profile_gives_every_mode(modes_fw: Path) -> None:
    with _locked(modes_fw):
        proc = run_cli("emulate", str(modes_fw), "--profile", "--runs", "1", "--warmup", "0", "--json")
        text = run_cli("emulate", str(modes_fw), "--profile", "--runs", "1", "--warmup", "0")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    info = json.loads((modes_fw / "compile.json").read_text())
    assert d["match"] is True and d["order"] == [0, 1, 2, 0] and len(d["modes"]) == 3
    for k, m in enumerate(d["modes"]):
        assert m["mode"]["index"] == k and m["check"]["match"]
        assert m["latency_instructions"]["mean"] > 0 and m["memory"]["arena_used"] > 0
        assert m["predicted"]["model_flash_bytes"] == info["modes"][k]["predicted"]["model_flash_bytes"]
        assert m["accuracy"]["int8"] == info["modes"][k]["accuracy"]["int8"]
        assert [x["index"] for x in m["layers"]] == [x["index"] for x in info["modes"][k]["layers"]]
    assert d["modes"][0]["check"]["revisits"] == 1 and d["modes"][0]["check"]["revisits_same"] is True
    lat = [m["latency_instructions"]["mean"] for m in d["modes"]]
    assert lat[0] < lat[1] < lat[2]  # the smallest subnet at the lower resolution is the fastest
    assert text.returncode == 0 and "mode2" in text.stdout and "0 -> 1 -> 2 -> 0" in text.stdout


def test_mode_refusals_are_one_line(work: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    root = work["root"]
    a = root / "mode0.json"
    a.write_text(SubnetConfig.min(work["space"]).to_json())
    b = tmp_path / "b.json"
    b.write_text(SubnetConfig.max(work["space"]).to_json())
    base = ["compile", "--checkpoint", str(work["ckpt"]), "--target", BOARD]
    for extra, needle in (
        (["--subnet", str(a), "--subnet", str(a)], "the modes must be distinct subnets"),
        (["--subnet", str(a), "--subnet", str(b), "--search", str(tmp_path)], "give at most one of --subnet"),
        (["--subnet", str(a), "--subnet", str(b), "--format", "library"], "several modes go into a firmware project"),
    ):
        proc = run_cli(*base, *extra, "--out", str(tmp_path / "fw"))
        assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and not (tmp_path / "fw").exists()


def test_report_shows_the_modes(modes_fw: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "out"
    shutil.copytree(modes_fw, root / "fw", ignore=shutil.ignore_patterns("build", "emulate"))
    with _locked(modes_fw):
        proc = run_cli("emulate", str(modes_fw), "--profile", "--runs", "1", "--warmup", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    (root / "fw" / "profile.json").write_text(proc.stdout)
    # a search result with the same modes: the report's Pareto plot marks them
    info = json.loads((modes_fw / "compile.json").read_text())
    entries = [{"name": m["name"], "mode": m["index"], "subnet": m["subnet"], "subnet_hash": m["subnet_hash"],
                "measured_acc": 0.5 + 0.1 * m["index"], "predicted_acc": 0.5, "peak_sram_bytes": m["predicted"]["sram_bytes"],
                "flash_bytes": m["predicted"]["flash_bytes"], "model_flash_bytes": m["predicted"]["model_flash_bytes"],
                "latency_ms": m["predicted"]["latency_ms"]} for m in info["modes"]]
    best = {k: entries[-1][k] for k in ("subnet", "subnet_hash", "measured_acc", "predicted_acc", "peak_sram_bytes",
                                         "flash_bytes", "latency_ms")}
    (root / "search").mkdir()
    (root / "search" / "search.json").write_text(json.dumps({"space": "tiny", "boards": {BOARD: {
        **best, "runtime": "native", "evaluations": 3, "limits": {"sram_bytes": 4_000_000, "flash_bytes": 4_000_000},
        "pareto": entries, "candidates": entries, "modes": {"count": 3, "entries": entries}}}}))
    proc = run_cli("report", str(root))
    assert proc.returncode == 0, proc.stderr
    html = (root / "report.html").read_text()
    table = html[html.index("Operating modes: 3 subnets in one firmware"):]
    table = table[:table.index("</table>")]
    assert table.count("measured</span>") == 3 and table.count("<td>yes</td>") == 3
    for m in info["modes"]:
        assert m["subnet_hash"] in table
    from ofa_mcu.report.data import gather
    from ofa_mcu.report.figures import pareto

    br = next(b for b in gather(root).boards if b.name == BOARD)
    assert [m["acc_val"] for m in br.modes()] == [0.5, 0.6, 0.7] and pareto(br) is not None


@pytest.mark.tflm_tree
def test_tflm_modes_firmware_in_qemu(work: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    """The same three modes on the tflm runtime (TFLM from $TFLM_DIR): one interpreter rebuilt in one
    arena at every switch; each mode's outputs equal host TFLM on its own .tflite, switched back and
    forth (bit for bit: the global pooling is AVERAGE_POOL_2D, the same arithmetic in every tree)."""
    import os

    from ofa_mcu.boards import load_board
    from ofa_mcu.profiler.device import Device
    from ofa_mcu.qemu import run_qemu

    tflm = os.environ.get("TFLM_DIR")
    if not tflm:
        pytest.skip("needs a TFLM source tree in $TFLM_DIR")
    files = []
    for k, cfg in enumerate(_subnets(work["space"])):
        (tmp_path / f"m{k}.json").write_text(cfg.to_json())
        files += ["--subnet", str(tmp_path / f"m{k}.json")]
    fw = tmp_path / "fw"
    run_cli("compile", "--checkpoint", str(work["ckpt"]), "--target", BOARD, "--runtime", "tflm", *files,
            "--test-images", "20", "--out", str(fw), check=True)
    assert "int ofa_model_select(uint32_t index);" in (fw / "model" / "model.h").read_text()
    assert "#define OFA_MODEL_MODES 3u" in (fw / "model" / "model_config.h").read_text()
    run_cli("build", str(fw), "--tflm-dir", tflm, check=True, timeout=3600)
    info = json.loads((fw / "compile.json").read_text())
    models = [(fw / m["model_file"]).read_bytes() for m in info["modes"]]
    xs = {k: _inputs_for(fw, m) for k, m in enumerate(info["modes"])}
    with run_qemu(fw / "build" / "firmware.elf", load_board(BOARD), timeout_s=600) as s, Device(s.url) as dev:
        dev.sync()
        for k in (0, 2, 1, 0, 2):
            m = dev.mode(k)
            assert (m["index"], m["input_bytes"]) == (k, xs[k][0].size)
            for x in xs[k]:
                dev.load(x.tobytes())
                dev.infer(1, 0, timeout_s=60)
                got, want = dev.outputs(), _host_tflm(models[k], x[None])[0]
                assert list(got) == list(want), (k, got, want)
            mem = dev.memory()
            assert 0 < mem["arena_used"] <= mem["arena_bytes"] == info["firmware_arena_bytes"]["cmsis-nn"] or \
                mem["arena_bytes"] == info["firmware_arena_bytes"]["reference"]


def test_profile_one_mode_or_all(modes_fw: Path) -> None:
    info = json.loads((modes_fw / "compile.json").read_text())
    with _locked(modes_fw):
        one = run_cli("profile", "--port", f"qemu:{modes_fw}", "--mode", "2", "--runs", "1", "--warmup", "0", "--json")
        every = run_cli("profile", "--port", f"qemu:{modes_fw}", "--runs", "1", "--warmup", "0", "--json")
        bad = run_cli("profile", "--port", f"qemu:{modes_fw}", "--mode", "7")
    assert one.returncode == 0, one.stderr
    d = json.loads(one.stdout)
    shape = info["modes"][2]["input"]["shape"]
    x = np.frombuffer(bytes((i * 37 + 11) % 256 for i in range(int(np.prod(shape)))), np.int8).reshape(1, *shape[1:])
    assert d["mode"]["index"] == 2 and d["outputs"] == _host_tflm((modes_fw / "mode2.tflite").read_bytes(), x)
    assert [x["index"] for x in d["layers"]] == [x["index"] for x in info["modes"][2]["layers"]]
    assert every.returncode == 0, every.stderr
    assert [m["mode"]["index"] for m in json.loads(every.stdout)["modes"]] == [0, 1, 2]
    assert bad.returncode == 2 and "--mode 7" in bad.stderr and "has 3 modes" in bad.stderr
