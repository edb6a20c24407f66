"""The command line as a user meets it: help texts, JSON output, exit codes, one-line errors."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli


def test_help_lists_verbs():
    out = run_cli("--help", check=True).stdout
    for verb in ("analyze", "boards", "space", "demo", "train"):
        assert verb in out


@pytest.mark.parametrize("verb", ["analyze", "boards", "space", "demo", "train"])
def test_every_verb_has_help(verb):
    proc = run_cli(verb, "--help", check=True)
    assert "Usage:" in proc.stdout and len(proc.stdout.splitlines()) > 3


def test_analyze_json_fields():
    proc = run_cli("analyze", "--space", "mcu-32", "--preset", "max", "--target", "qemu-netduinoplus2",
                   "--json", check=True)
    d = json.loads(proc.stdout)
    for key in ("peak_sram_bytes", "flash_bytes", "macs", "params", "fits", "layers"):
        assert key in d
    assert d["fits"] is True and sum(r["macs"] for r in d["layers"]) == d["macs"]
    assert sum(r["peak"] for r in d["layers"]) == 1
    assert max(r["sram_bytes"] for r in d["layers"]) == d["peak_sram_bytes"]


def test_analyze_does_not_fit_and_override():
    d = json.loads(run_cli("analyze", "--space", "mcu-32", "--preset", "max", "--target", "qemu-microbit",
                           "--json", check=True).stdout)
    assert d["fits"] is False and d["sram_budget"]["margin_bytes"] < 0
    d = json.loads(run_cli("analyze", "--space", "mcu-32", "--preset", "min", "--target", "qemu-microbit",
                           "--runtime", "native", "--sram-kb", "2", "--json", check=True).stdout)
    assert d["sram_budget"]["limit"] == 2048 and d["fits"] is False


def test_analyze_text_table():
    out = run_cli("analyze", "--space", "mcu-imagenet", "--preset", "min", "--target", "nucleo-f746zg",
                  check=True).stdout
    assert "<- peak" in out and "fits nucleo-f746zg" in out and "classifier" in out


@pytest.mark.parametrize("args, needle", [
    (["analyze", "--space", "nope", "--preset", "min"], "unknown search space 'nope'"),
    (["analyze", "--space", "mcu-32", "--preset", "min", "--target", "no-such-board"], "no-such-board"),
    (["analyze", "--space", "mcu-32", "--subnet", "/nonexistent.json"], "no such subnet file"),
    (["analyze", "--space", "mcu-32"], "exactly one of --subnet"),
    (["analyze", "--preset", "min"], "--space"),
])
def test_user_errors_exit_2_one_line(args, needle):
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len([ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith(("Usage", "Try"))]) == 1


def test_subnet_from_other_space(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(run_cli("space", "sample", "mcu-imagenet", "--json", check=True).stdout)
    proc = run_cli("analyze", "--space", "mcu-32", "--subnet", str(p))
    assert proc.returncode == 2 and "belongs to space 'mcu-imagenet'" in proc.stderr
    ok = run_cli("analyze", "--space", "mcu-imagenet", "--subnet", str(p), "--json", check=True)
    assert json.loads(ok.stdout)["subnet"] == json.loads(p.read_text())


def test_space_show_and_sample():
    assert "stage" in run_cli("space", "show", "mcu-32", check=True).stdout
    many = json.loads(run_cli("space", "sample", "mcu-32", "--n", "3", "--seed", "5", "--json", check=True).stdout)
    again = json.loads(run_cli("space", "sample", "mcu-32", "--n", "3", "--seed", "5", "--json", check=True).stdout)
    assert len(many) == 3 and many == again


def test_analysis_imports_neither_torch_nor_tensorflow():
    import subprocess
    import sys

    code = ("import sys, ofa_mcu.analysis, ofa_mcu.commands.analyze; "
            "print(sorted(m for m in ('torch', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
