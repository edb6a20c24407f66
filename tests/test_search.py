"""Search: constraints hold (recomputed independently), infeasible budgets, families, determinism."""

from __future__ import annotations

import json

import numpy as np
from helpers import run_cli

from ofa_mcu.analysis import analyze
from ofa_mcu.boards import load_board
from ofa_mcu.checkpoint import load_checkpoint
from ofa_mcu.config import SubnetConfig
from ofa_mcu.search.evolution import Evolution, EvolutionSettings
from ofa_mcu.search.predictor import PREDICTORS, Encoder, fit_predictor, kendall_tau
from ofa_mcu.search.run import MIN_USEFUL_TAU, pareto_front, predictor_warning
from ofa_mcu.space import load_space

FAMILY = ["qemu-microbit", "qemu-netduinoplus2"]


def _search(ckpt, out, *extra):
    return run_cli("search", "--checkpoint", str(ckpt), *[a for t in FAMILY for a in ("--target", t)],
                   "--runtime", "native", "--predictor-samples", "20", "--out", str(out), "--json", *extra)


def test_family_search_respects_constraints(trained, tmp_path):
    ckpt = trained[0] / "checkpoint.pt"
    proc = _search(ckpt, tmp_path / "s1")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert json.loads((tmp_path / "s1" / "search.json").read_text()) == result
    space = load_checkpoint(ckpt).space
    for name in FAMILY:
        b = result["boards"][name]
        cfg = SubnetConfig.from_dict(b["subnet"]).validate(space)
        # recompute the constraints through the analysis path, not the search's cache
        a = analyze(space, cfg, load_board(name), "native")
        assert a.fits and a.peak_sram_bytes == b["peak_sram_bytes"] and a.flash_bytes == b["flash_bytes"]
        assert 0.0 <= b["measured_acc"] <= 1.0 and b["candidates"] and b["pareto"]
        assert b["measured_acc"] == max(c["measured_acc"] for c in b["candidates"])
        assert (tmp_path / "s1" / f"pareto-{name}.png").stat().st_size > 10_000
    pred = result["predictor"]
    assert pred["kendall_tau"] is None or -1.0 <= pred["kendall_tau"] <= 1.0
    weak = pred["kendall_tau"] is None or pred["kendall_tau"] < MIN_USEFUL_TAU
    # a predictor no better than chance is said, in one line, even with --json (on stderr)
    assert pred["no_better_than_chance"] is weak
    lines = [ln for ln in proc.stderr.splitlines() if "no better than chance" in ln]
    assert len(lines) == (1 if weak else 0), proc.stderr
    assert (pred["warning"] == lines[0]) if weak else pred["warning"] is None
    assert not [p for p in (tmp_path / "s1").iterdir() if p.name.startswith(".")]  # no temporary files left
    # same seed, same result (the second run reads the accuracy cache)
    proc = _search(ckpt, tmp_path / "s2")
    assert proc.returncode == 0, proc.stderr
    again = json.loads(proc.stdout)
    for name in FAMILY:
        assert again["boards"][name]["subnet"] == result["boards"][name]["subnet"]


def test_sram_override_and_latency_limit(trained, tmp_path):
    """Limits halfway between the smallest and the largest subnet's needs bind the search."""
    from ofa_mcu.ir import build_graph
    from ofa_mcu.search.latency import board_latency

    ckpt = trained[0] / "checkpoint.pt"
    space, board = load_checkpoint(ckpt).space, load_board("qemu-mps2-an386")
    lo, hi = SubnetConfig.min(space), SubnetConfig.max(space)
    sram_kb = (analyze(space, lo, board).peak_sram_bytes + analyze(space, hi, board).peak_sram_bytes) / 2048
    lat = board_latency(board, "tflm")
    latency_ms = (lat.ms(build_graph(space, lo)) + lat.ms(build_graph(space, hi))) / 2
    proc = run_cli("search", "--checkpoint", str(ckpt), "--target", "qemu-mps2-an386", "--runtime", "tflm",
                   "--sram-kb", f"{sram_kb:.3f}", "--latency-ms", f"{latency_ms:.3f}", "--predictor-samples", "12",
                   "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    b = json.loads(proc.stdout)["boards"]["qemu-mps2-an386"]
    assert b["peak_sram_bytes"] <= sram_kb * 1024 and b["latency_ms"] <= latency_ms
    assert b["limits"]["sram_bytes"] == int(float(f"{sram_kb:.3f}") * 1024)


def test_infeasible_budget_is_one_line_exit_2(trained, tmp_path):
    proc = run_cli("search", "--checkpoint", str(trained[0]), "--target", "qemu-microbit", "--runtime", "tflm",
                   "--sram-kb", "2", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "no subnet fits qemu-microbit (tflm): smallest needs" in proc.stderr and "2.0 KB usable" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "search.json").exists()


def test_evolution_only_admits_feasible_and_is_seeded():
    space = load_space("mcu-32")
    budget = 30 * 1024

    def feasible(c):
        return analyze(space, c, runtime="native").peak_sram_bytes <= budget

    def fitness(cfgs):  # a stand-in objective: bigger is better
        return np.array([analyze(space, c).graph.macs for c in cfgs], dtype=float)

    settings = EvolutionSettings(population=20, generations=4)
    r1, arch1 = Evolution(space, feasible, fitness, 5, settings).run([SubnetConfig.min(space)])
    r2, _ = Evolution(space, feasible, fitness, 5, settings).run([SubnetConfig.min(space)])
    assert r1 == r2 and all(feasible(c) for c in arch1)
    assert fitness(r1[:1])[0] >= max(fitness([SubnetConfig.min(space)]))


def test_predictor_learns_a_ranking():
    space = load_space("mcu-32")
    cfgs = [SubnetConfig.sample(space, i) for i in range(120)]
    enc = Encoder(space)
    assert enc.encode(cfgs).shape == (120, enc.size) and enc.encode(cfgs).sum(1).min() > 0
    # a synthetic accuracy that grows with resolution and kernel sizes
    target = [c.resolution / 40 + sum(b.kernel for _, _, b in c.blocks()) / 200 for c in cfgs]
    for kind in PREDICTORS:
        p = fit_predictor(space, cfgs[:100], target[:100], seed=0, kind=kind)
        assert p.kind == kind
        assert kendall_tau(p.predict(cfgs[100:]), target[100:]) > 0.6, kind


def test_ridge_predictor_does_not_fit_noise():
    """Leave-one-out picks a strong penalty when the accuracies carry no signal: the predictions
    stay near the mean instead of reproducing the noise (what a flexible model does with few subnets)."""
    space = load_space("mcu-32")
    cfgs = [SubnetConfig.sample(space, i) for i in range(80)]
    noise = np.random.default_rng(0).normal(0.85, 0.01, size=80)
    p = fit_predictor(space, cfgs, noise.tolist(), kind="ridge")
    spread = np.std(p.predict(cfgs))
    assert spread < 0.25 * np.std(noise), spread
    # while a real signal of the same size is kept
    signal = np.array([0.8 + 0.002 * c.resolution for c in cfgs])
    q = fit_predictor(space, cfgs, signal.tolist(), kind="ridge")
    assert np.corrcoef(q.predict(cfgs), signal)[0, 1] > 0.95
    assert np.array_equal(q.predict(cfgs), fit_predictor(space, cfgs, signal.tolist(), kind="ridge").predict(cfgs))


def test_pareto_front_is_non_dominated():
    from ofa_mcu.search.run import Cost

    space = load_space("mcu-32")
    c = [SubnetConfig.sample(space, i) for i in range(4)]
    pts = [(c[0], 0.9, Cost(100, 100, 1, 1.0)), (c[1], 0.8, Cost(200, 100, 1, 1.0)),
           (c[2], 0.95, Cost(150, 100, 1, 1.0)), (c[3], 0.7, Cost(90, 100, 1, 1.0))]
    front = pareto_front(pts)
    assert [p[0] for p in front] == [c[3], c[0], c[2]]


def test_board_without_board_support_searched_and_compile_refused(trained, tmp_path):
    """rpi-pico has no firmware fields (no BSP for the RP2040): the search takes it with the YAML's
    figures and the core's default latency; a standalone firmware project is one line, exit 2."""
    ckpt = trained[0] / "checkpoint.pt"
    proc = run_cli("search", "--checkpoint", str(ckpt), "--target", "rpi-pico", "--runtime", "tflm",
                   "--predictor-samples", "12", "--out", str(tmp_path / "s"), "--json")
    assert proc.returncode == 0, proc.stderr
    b = json.loads(proc.stdout)["boards"]["rpi-pico"]
    space, board = load_checkpoint(ckpt).space, load_board("rpi-pico")
    cfg = SubnetConfig.from_dict(b["subnet"]).validate(space)
    a = analyze(space, cfg, board, "tflm")
    assert a.fits and a.peak_sram_bytes == b["peak_sram_bytes"] <= board.usable_sram("tflm")
    assert a.flash_bytes == b["flash_bytes"] and 0.0 <= b["measured_acc"] <= 1.0 and b["latency_ms"] > 0

    out = tmp_path / "fw"
    for verb in (["compile", "--checkpoint", str(ckpt), "--target", "rpi-pico", "--search", str(tmp_path / "s"),
                  "--out", str(out)],
                 ["compile", "--checkpoint", str(ckpt), "--target", "rpi-pico", "--out", str(out), "--json"]):
        proc = run_cli(*verb)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr and proc.stdout == ""
        assert "board rpi-pico: family 'rp2040' has no board support" in lines[0]
        assert "standalone firmware project needs board support" in lines[0] and "--format library" in lines[0]
        assert not out.exists()


def test_predictor_warning_says_what_the_search_does_instead():
    assert predictor_warning(MIN_USEFUL_TAU, 24, 120) is None and predictor_warning(0.8, 24, 120) is None
    for tau, shown in ((-0.055, "-0.055"), (0.0, "0.000"), (MIN_USEFUL_TAU - 1e-3, "0.299"), (float("nan"), "undefined")):
        line = predictor_warning(tau, 24, 120)
        assert line is not None and "\n" not in line
        assert f"Kendall tau {shown} on 24" in line and "no better than chance" in line
        assert "every feasible one of the 120 measured subnets is a final candidate" in line


def test_accuracy_cache_splits_share_one_file(tmp_path):
    """``for_split`` gives a cache of another split in the same file: saving either keeps both."""
    from ofa_mcu.search.predictor import AccuracyCache

    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(b"weights")
    c = SubnetConfig.min(load_space("mcu-28"))
    a = AccuracyCache(ckpt, "validation-half-a:6")
    b = a.for_split("validation-half-b:6")
    a.put(c, 0.5)
    b.put(c, 0.7)
    b.save()
    again = AccuracyCache(ckpt, "validation-half-a:6")
    assert again.get(c) == 0.5 and again.for_split("validation-half-b:6").get(c) == 0.7
    assert again.other_splits() == {"validation-half-b:6": 1}
