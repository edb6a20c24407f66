"""Operating modes (`search --modes K`): the choice on the accuracy/latency front, the joint flash
budget and the shared arena, the CLI and search.json, and the weight-sharing measurement on real
INT8 exports."""

from __future__ import annotations

import importlib.util
import json

import pytest
from helpers import run_cli

from ofa_mcu.errors import UserError
from ofa_mcu.search.modes import Candidate, latency_front, select_modes


def _c(key, acc, ms, flash, sram=1000):
    return Candidate(key, acc, ms, flash, sram)


CANDS = [_c("a", 0.60, 10, 100), _c("b", 0.70, 20, 200), _c("c", 0.65, 25, 150),  # c: dominated by b
         _c("d", 0.80, 40, 400), _c("e", 0.85, 80, 800), _c("f", 0.84, 90, 50)]  # f dominated by e


def test_front_and_spread_choice():
    assert [c.key for c in latency_front(CANDS)] == ["a", "b", "d", "e"]
    # 3 tiers over 10..80 ms: 10, 45, 80 -> a, d, e
    modes = select_modes(CANDS, 3, flash_limit=10_000, code_bytes=0)
    assert [m.key for m in modes] == ["a", "d", "e"]
    # given tiers: the most accurate front point at or under each
    assert [m.key for m in select_modes(CANDS, 3, flash_limit=10_000, code_bytes=0, tiers_ms=[25, 15, 50])] == \
        ["a", "b", "d"]


def test_joint_flash_budget_replaces_the_largest_mode():
    # a + d + e = 1300 B of models + 100 code; limit 1000: e (800) gives way to d's tier? no: e's
    # tier (80 ms) offers d (taken) and b (200): b replaces e -> a, b, d = 700 + 100
    modes = select_modes(CANDS, 3, flash_limit=1000, code_bytes=100)
    assert [m.key for m in modes] == ["a", "b", "d"]
    assert 100 + sum(m.model_flash for m in modes) <= 1000
    with pytest.raises(UserError, match=r"^b1: no 3 modes fit its flash together: the smallest choice needs"):
        select_modes(CANDS, 3, flash_limit=500, code_bytes=100, board="b1")


def test_mode_refusals_are_one_line():
    with pytest.raises(UserError, match=r"front of the feasible subnets has only 4 point\(s\), fewer than --modes 5"):
        select_modes(CANDS, 5, flash_limit=10_000, code_bytes=0)
    with pytest.raises(UserError, match=r"--mode-latency-ms 5 is below the fastest feasible subnet \(10\.00 ms"):
        select_modes(CANDS, 2, flash_limit=10_000, code_bytes=0, tiers_ms=[5, 50])
    with pytest.raises(UserError, match=r"expected 2 tiers \(one per mode\), got 3"):
        select_modes(CANDS, 2, flash_limit=10_000, code_bytes=0, tiers_ms=[10, 20, 30])
    with pytest.raises(UserError, match=r"no distinct Pareto-front subnet left at or under 15\.00 ms for mode 1"):
        select_modes(CANDS, 2, flash_limit=10_000, code_bytes=0, tiers_ms=[12, 15])


def test_search_modes_end_to_end(trained, tmp_path):
    proc = run_cli("search", "--checkpoint", str(trained[0]), "--target", "qemu-netduinoplus2", "--runtime", "native",
                   "--modes", "3", "--predictor-samples", "20", "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    b = json.loads(proc.stdout)["boards"]["qemu-netduinoplus2"]
    modes = b["modes"]
    entries = modes["entries"]
    assert modes["count"] == len(entries) == 3 and modes["policy"] == "spread"
    lat = [e["latency_ms"] for e in entries]
    assert lat == sorted(lat) and len({e["subnet_hash"] for e in entries}) == 3
    assert modes["shared_arena_bytes"] == max(e["peak_sram_bytes"] for e in entries) <= b["limits"]["sram_bytes"]
    code = modes["code_bytes"]
    assert modes["flash_bytes"] == code + sum(e["model_flash_bytes"] for e in entries) <= modes["flash_limit_bytes"]
    for e in entries:
        assert e["model_flash_bytes"] == e["flash_bytes"] - code
        assert 0 <= e["measured_acc"] <= 1 and 0 <= e["test_acc"] <= 1
        assert e["energy_uj"] == pytest.approx(e["latency_ms"] * 40 * 3.3, rel=1e-3)
    assert [e["name"] for e in entries] == ["mode0", "mode1", "mode2"]
    # the human table lists the modes
    proc = run_cli("search", "--checkpoint", str(trained[0]), "--target", "qemu-netduinoplus2", "--runtime", "native",
                   "--mode-latency-ms", f"{lat[0] + 0.001:.4f},{lat[2] + 0.001:.4f}", "--predictor-samples", "20",
                   "--out", str(tmp_path / "t"))
    assert proc.returncode == 0, proc.stderr
    assert "qemu-netduinoplus2: 2 modes" in proc.stdout and "mode1" in proc.stdout
    proc = run_cli("search", "--checkpoint", str(trained[0]), "--target", "qemu-netduinoplus2",
                   "--modes", "3", "--mode-latency-ms", "1,2", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "2 tiers given, --modes 3: give one tier per mode" in proc.stderr


@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("tensorflow", "tflite_micro")),
                    reason="needs the [export] extras")
def test_weight_sharing_on_real_exports(trained):
    """Two exports of subnets that differ in one block's expand ratio share every other layer's
    int8 channels byte for byte (BatchNorm recalibration differs, the int8 channels do not)."""
    from ofa_mcu.checkpoint import load_checkpoint
    from ofa_mcu.config import SubnetConfig
    from ofa_mcu.data import load_source
    from ofa_mcu.export.pipeline import export_subnet
    from ofa_mcu.tflite import parse_tflite
    from ofa_mcu.tflite.sharing import weight_channels, weight_sharing

    ck = load_checkpoint(trained[0])
    data = load_source(ck.data, ck.seed)
    big = SubnetConfig.max(ck.space)
    d = big.to_dict()
    d["stages"][-1][-1]["expand"] = min(ck.space.expands)  # only the last block's expand ratio changes
    small = SubnetConfig.from_dict(d).validate(ck.space)
    graphs = [parse_tflite(export_subnet(ck.supernet, c, data, measure=False, test_images=20,
                                         bn_samples=ck.bn_calib_samples).model) for c in (big, small)]
    share = weight_sharing(graphs, ["big", "small"])
    small_bytes = sum(len(ch) for _, _, ch in weight_channels(graphs[1]))
    assert share["weight_bytes_separate"] == share["models"][0]["weight_bytes"] + small_bytes
    # all layers but the changed block's (and the classifier head's input side) are identical
    assert share["models"][1]["bytes_already_stored"] >= 0.5 * small_bytes
    assert share["saved_bytes"] == share["models"][1]["bytes_already_stored"] + share["models"][0]["bytes_already_stored"]
    # the same model twice: the second copy is entirely shared
    twice = weight_sharing([graphs[1], graphs[1]])
    assert twice["models"][1]["bytes_already_stored"] == twice["models"][1]["weight_bytes"] == small_bytes


def test_family_search_skips_a_board_that_cannot_hold_the_modes(trained, tmp_path):
    """A board whose flash holds one subnet but never three: the family search goes on, that board
    keeps its single subnet and says in one line why it has no modes."""
    import yaml

    from ofa_mcu.analysis import analyze
    from ofa_mcu.boards import load_board
    from ofa_mcu.checkpoint import load_checkpoint
    from ofa_mcu.config import SubnetConfig
    from ofa_mcu.resources import targets_dir

    space = load_checkpoint(trained[0]).space
    board = load_board("qemu-netduinoplus2")
    smallest = analyze(space, SubnetConfig.min(space), board, "native").model_flash_bytes
    doc = yaml.safe_load((targets_dir() / "qemu-netduinoplus2.yaml").read_text())
    doc["name"] = "tight-netduino"
    doc["runtime"]["tflm"]["code_bytes"] = board.runtime["native"].code_bytes  # the YAML checks every runtime fits
    usable = int(2.2 * smallest)  # one model fits, three distinct ones never do
    doc["memory"]["reserve_flash_bytes"] = board.memory.flash.size - board.runtime["native"].code_bytes - usable
    tight = tmp_path / "tight-netduino.yaml"
    tight.write_text(yaml.safe_dump(doc))
    proc = run_cli("search", "--checkpoint", str(trained[0]), "--target", "qemu-netduinoplus2", "--target", str(tight),
                   "--runtime", "native", "--modes", "3", "--predictor-samples", "20", "--out", str(tmp_path / "s"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "s" / "search.json").read_text())
    t = result["boards"]["tight-netduino"]
    assert "modes" not in t and t["subnet_hash"] and t["flash_bytes"] <= t["limits"]["flash_bytes"]
    assert result["boards"]["qemu-netduinoplus2"]["modes"]["count"] == 3
    assert "tight-netduino: no modes (tight-netduino: " in proc.stdout
    note = [ln for ln in proc.stderr.splitlines() + proc.stdout.splitlines() if ln.startswith("note: tight-netduino")]
    assert len(note) == 1 and "gets no modes" in note[0]
    # a single board that cannot hold them is still a one-line refusal
    proc = run_cli("search", "--checkpoint", str(trained[0]), "--target", str(tight), "--runtime", "native",
                   "--modes", "3", "--predictor-samples", "20", "--out", str(tmp_path / "s1"))
    assert proc.returncode == 2 and "tight-netduino: " in proc.stderr and "Traceback" not in proc.stderr


def test_accuracy_cache_keeps_every_split(tmp_path):
    """A search on another split no longer throws away what an earlier one measured (the modes
    search re-measured everything after a demo search on a validation subset)."""
    from ofa_mcu.config import SubnetConfig
    from ofa_mcu.search.predictor import CACHE_NAME, AccuracyCache, file_hash
    from ofa_mcu.space import load_space

    ck = tmp_path / "checkpoint.pt"
    ck.write_bytes(b"a checkpoint")
    space = load_space("mcu-28")
    a, b = SubnetConfig.min(space), SubnetConfig.max(space)
    sub = AccuracyCache(ck, "validation:500")
    sub.put(a, 0.5)
    sub.save()
    full = AccuracyCache(ck, "validation")
    assert full.get(a) is None and full.other_splits() == {"validation:500": 1}
    full.put(b, 0.75)
    full.save()
    assert AccuracyCache(ck, "validation:500").get(a) == 0.5 and AccuracyCache(ck, "validation").get(b) == 0.75
    # the one-split file of earlier versions is read; another checkpoint's entries are not
    (tmp_path / CACHE_NAME).write_text(json.dumps({"checkpoint": file_hash(ck) + "/validation:500",
                                                   "entries": {a.stable_hash(): {"subnet": a.to_dict(), "acc": 0.25}}}))
    assert AccuracyCache(ck, "validation:500").get(a) == 0.25
    ck.write_bytes(b"another checkpoint")
    assert AccuracyCache(ck, "validation:500").get(a) is None
