"""`ofa-mcu report`: a self-contained report.html and a report.md from a real (tiny) output folder.

The folder is what the pipeline writes for a tiny trained checkpoint: the training metrics and a
family search (no firmware: compiling needs TensorFlow and minutes). One test adds a firmware
project's compile.json and a QEMU profile.json by hand, to check that measured latency replaces
the prediction. The report is also rendered in headless chromium (a real browser).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers import require_tool, run_cli

from ofa_mcu.boards import load_board

FAMILY = ["qemu-netduinoplus2", "qemu-microbit"]


@pytest.fixture(scope="module")
def folder(trained, tmp_path_factory) -> Path:
    """DIR/train/metrics.json + DIR/search/search.json (+ pareto PNGs) for the tiny checkpoint."""
    run_dir = trained[0]
    root = tmp_path_factory.mktemp("report")
    (root / "train").mkdir()
    shutil.copy(run_dir / "metrics.json", root / "train" / "metrics.json")
    targets = [a for t in FAMILY for a in ("--target", t)]
    run_cli("search", "--checkpoint", str(run_dir / "checkpoint.pt"), *targets, "--runtime", "native",
            "--predictor-samples", "12", "--out", str(root / "search"), "--quiet", check=True)
    return root


def _external(html: str) -> list[str]:
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html, flags=re.I)
    refs += re.findall(r"url\(\s*['\"]?([^'\")]+)", html)
    return [r for r in refs if not r.startswith(("data:", "#"))]


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_report_html_and_markdown(folder: Path) -> None:
    proc = run_cli("report", str(folder))
    assert proc.returncode == 0, proc.stderr
    # the family table in the terminal, then where the files are
    assert "accuracy float / INT8" in proc.stdout and all(b in proc.stdout for b in FAMILY)
    assert f"report: {folder / 'report.html'}" in proc.stdout

    html = (folder / "report.html").read_text()
    assert not _external(html), _external(html)
    assert "<script" not in html
    # the family table: headers and one row per board, predicted latency clearly labelled
    for h in ("board", "runtime", "test accuracy", "accuracy float / INT8", "SRAM used / usable", "flash used / usable", "latency",
              "MACs"):
        assert f"<th>{h}</th>" in html
    search = json.loads((folder / "search" / "search.json").read_text())
    for b in FAMILY:
        e = search["boards"][b]
        assert f'id="board-{b}"' in html
        assert f"{e['peak_sram_bytes'] / 1024:.1f} KB / {e['limits']['sram_bytes'] / 1024:.1f} KB" in html
        assert f"{e['macs']:,}" in html and e["subnet_hash"] in html
        assert f"<td class=\"num\">{100 * e['test_acc']:.1f}%</td>" in html  # the whole test split's figure
    assert html.count("(predicted)</td>") == len(FAMILY) and "PREDICTED" in html
    # energy per inference: the predicted latency x the board's datasheet power, labelled an estimate
    from ofa_mcu.energy import run_power_mw

    shown = [float(v.replace(",", "")) for v in re.findall(r"<td class=\"num\">([\d,]+\.\d) uJ \(estimate\)</td>", html)]
    expected = [search["boards"][b]["latency_ms"] * mw for b in FAMILY
                if (mw := run_power_mw(load_board(b))) is not None]
    assert len(shown) == len(expected) == 2
    assert all(abs(s - e) <= 0.05 + 1e-4 * e for s, e in zip(shown, expected))
    # figures: training curves, and per board SRAM per layer, latency per layer, Pareto front
    images = _images(html)
    assert len(images) == 1 + 3 * len(FAMILY)
    assert all(img.startswith(b"\x89PNG\r\n\x1a\n") and len(img) > 5000 for img in images)
    assert "Training the supernet" in html and "peak SRAM at layer" in html

    md = (folder / "report.md").read_text()
    assert ("| board | runtime | test accuracy | accuracy float / INT8 | SRAM used / usable | flash used / usable | latency | "
            "energy / inference | MACs |") in md
    assert "Energy per inference: an estimate: latency x datasheet run-mode current x supply voltage" in md
    for b in FAMILY:
        row = next(line for line in md.splitlines() if line.startswith(f"| {b} |"))
        assert "| native |" in row and "(predicted)" in row
    assert "data:image" not in md


def test_measured_latency_replaces_the_prediction(folder: Path, tmp_path: Path) -> None:
    """A compiled project with a QEMU profile: latency from the measured instruction counts."""
    from ofa_mcu.boards import load_board
    from ofa_mcu.checkpoint import read_space
    from ofa_mcu.config import SubnetConfig
    from ofa_mcu.ir import build_graph
    from ofa_mcu.planner import plan_native
    from ofa_mcu.report import gather

    root = tmp_path / "dir"
    shutil.copytree(folder / "search", root / "search")
    search = json.loads((root / "search" / "search.json").read_text())
    entry = search["boards"]["qemu-microbit"]
    space = read_space(search["checkpoint"])
    graph = build_graph(space, SubnetConfig.from_dict(entry["subnet"]))
    fw = root / "fw" / "qemu-microbit"
    fw.mkdir(parents=True)
    (fw / "compile.json").write_text(json.dumps({
        "board": "qemu-microbit", "runtime": "native", "emulated": True, "space": space.name,
        "subnet": entry["subnet"], "checkpoint": search["checkpoint"],
        "accuracy": {"float": 0.5, "int8": 0.25, "test_samples": 60}, "predicted": {}}))
    clock = load_board("qemu-microbit").clock_hz
    per_op = [1000 + 20 * op.macs for op in graph.ops]
    # as the native firmware reports it: a fused expand + strided depthwise call is one layer
    fused = plan_native(graph).fused
    assert fused
    layers = []
    for op, n in zip(graph.ops, per_op):
        if op.index in fused.values():
            n += per_op[op.index - 1]
        if op.index not in fused:
            layers.append({"index": op.index, "kind": op.kind, "cycles": n * clock // 10**9, "instructions": float(n)})
    per_layer = [x["instructions"] for x in layers]
    (fw / "profile.json").write_text(json.dumps({
        "emulated": True, "clock_hz": clock, "count_unit": "instructions",
        "latency_ms": {"mean": sum(per_layer) / 1e6}, "latency_instructions": {"mean": float(sum(per_layer))},
        "layers": layers,
        "memory": {"arena_used": 1000, "arena_bytes": 1200, "stack_used": 300, "stack_bytes": 2048},
        "check": {"inputs": 4, "match": True, "mismatches": 0, "correct": 3}}))
    data = gather(root)
    mb = next(b for b in data.boards if b.name == "qemu-microbit")
    assert mb.latency == (pytest.approx(1000 * sum(per_layer) / clock), "measured")
    assert mb.acc_int8 == 0.25 and [r.measured_ms is not None for r in mb.latency_layers] == [True] * len(layers)
    assert [r.index for r in mb.latency_layers] == [x["index"] for x in layers]
    assert sum("+" in r.kind for r in mb.latency_layers) == len(fused)
    nd = next(b for b in data.boards if b.name == "qemu-netduinoplus2")
    assert nd.latency[1] == "predicted"
    proc = run_cli("report", str(root))
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith("qemu-microbit"))
    assert "(QEMU)" in row and "50.0% / 25.0%" in row
    html = (root / "report.html").read_text()
    assert "bit for bit, on 4 test images; 3 of 4 classified correctly" in html
    assert "arena 1,000 B used of 1,200 B reserved" in html


def test_report_of_a_folder_without_results(tmp_path: Path) -> None:
    proc = run_cli("report", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "no search results or compiled projects found" in proc.stderr
    assert (tmp_path / "report.html").is_file() and (tmp_path / "report.md").is_file()
    assert run_cli("report", str(tmp_path / "missing")).returncode == 2


def test_report_renders_in_chromium(folder: Path, tmp_path: Path) -> None:
    """Headless Debian chromium renders the page: a tall, mostly non-blank screenshot."""
    exe = require_tool("chromium")
    html = folder / "report.html"
    if not html.is_file():
        run_cli("report", str(folder), check=True)
    png = tmp_path / "report.png"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        proc = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                               "--disable-background-networking", "--disable-component-update", "--disable-sync",
                               f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1280,4000",
                               html.absolute().as_uri()], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and png.is_file(), proc.stderr[-500:]
    from PIL import Image, ImageStat

    with Image.open(png) as im:
        assert im.size == (1280, 4000)
        grey = im.convert("L")
        # content all the way down the first 4000 px (figures, tables), not a blank or error page
        for top in range(0, 4000, 1000):
            assert ImageStat.Stat(grey.crop((0, top, 1280, top + 1000))).stddev[0] > 20, top


def test_runtime_shows_the_kernels_built() -> None:
    from ofa_mcu.report.data import BoardReport

    tflm = BoardReport(name="nucleo-f746zg", runtime="tflm", compile={"kernels": "cmsis-nn"})
    assert tflm.runtime_label == "tflm (cmsis-nn kernels)"
    tflm.profile = {"kernels": "reference"}  # what the profiled firmware was built with wins
    assert tflm.runtime_label == "tflm (reference kernels)"
    assert BoardReport(name="a", runtime="native", compile={"kernels": "native"}).runtime_label == "native"
    assert BoardReport(name="a", runtime="tflm", compile={}).runtime_label == "tflm"  # files before kernels


def test_search_json_from_before_the_predictor_warning_still_renders(folder: Path, tmp_path: Path) -> None:
    """A search.json written before `no_better_than_chance`/`min_useful_tau` existed (a demo
    folder reused across versions) renders, with no warning sentence."""
    root = tmp_path / "old"
    shutil.copytree(folder, root)
    path = root / "search" / "search.json"
    search = json.loads(path.read_text())
    for key in ("no_better_than_chance", "min_useful_tau", "warning"):
        search["predictor"].pop(key, None)
    path.write_text(json.dumps(search))
    proc = run_cli("report", str(root))
    assert proc.returncode == 0, proc.stderr
    html = (root / "report.html").read_text()
    assert "Kendall" in html and "no\nbetter than chance" not in html
