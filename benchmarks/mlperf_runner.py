"""Score a firmware project in QEMU with the MLPerf Tiny host runner (accuracy mode) and host TFLM;
or run the real runner's performance mode on it.

    python benchmarks/mlperf_runner.py FWDIR [--n 200] [--driver ours|mlcommons|both]
        [--runner-dir DIR] [--data SOURCE] [--json OUT]
    python benchmarks/mlperf_runner.py FWDIR --mode performance --runner-dir DIR [--n 5]

FWDIR is a project compiled for an emulated board (``ofa-mcu compile ... --model-name ic01``: the
runner picks its test script and data set folder by the model name). The script builds it, writes
a data set folder in the runner's format (``MODEL/y_labels.csv`` and one ``.bin`` per input: N
held-out test images of the checkpoint's data, resized and quantized as the export does, with
their labels), starts the firmware in QEMU (``boot``: start-up banner read, port closed), and runs

* ``ours``: :func:`ofa_mcu.profiler.mlperf.run_accuracy`, our driver of the runner's rules;
* ``mlcommons``: the real runner (mlcommons/tiny ``benchmark/runner``, fetched, never copied into
  this repository) from ``--runner-dir`` or ``$OFA_MLPERF_RUNNER_DIR``. Its modules run
  unmodified in a subprocess; only two things around them differ from ``main.py``: its USB device
  discovery (``DeviceManager.scan``, which cannot see a TCP port) is replaced by constructing its
  ``DUT`` on the ``socket://`` URL, and pyserial's ``serial.Serial`` is pointed at
  ``serial.serial_for_url`` so that its ``SerialDevice`` can open that URL. It needs PyYAML,
  scikit-learn, matplotlib and pyusb importable (``PYTHONPATH`` may add them).

and host TFLM (``tflite_micro``) on the same inputs. Prints each Top-1; exit 1 if a driver's Top-1
differs from host TFLM's.

``--mode performance`` runs the real runner's performance test script (``tests_performance.yaml``:
five windows of ``download`` + ``infer N W``, e.g. ``infer 20 5`` for ic01 and vww01) and reports
its per-window runtime and throughput (from the firmware's ``m-lap-us`` timestamps: under QEMU
``-icount`` virtual time, not a board's) and its median throughput, or its ERROR line (ERROR 2:
the five windows took under 10 s of host time; a fast model on a real board needs a larger N in
the script, which the rules allow), beside the latency ``ofa-mcu profile`` measures on the same
firmware (``m-lap-us`` of ``infer 1 0`` runs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ofa_mcu.profiler.mlperf import boot, run_accuracy, write_dataset  # noqa: E402

RUNNER_ENV = "OFA_MLPERF_RUNNER_DIR"

# Runs in a subprocess whose working directory receives the runner's sessions/ folder.
_SHIM = r'''
import json, os, sys
runner_dir, url, dataset, out, mode = sys.argv[1:6]
sys.path.insert(0, runner_dir)
import serial
_for_url = serial.serial_for_url
serial.Serial = lambda port, baudrate=9600, timeout=None, **kw: _for_url(port, baudrate=baudrate, timeout=timeout, **kw)
import main as runner  # the runner's main.py and everything it imports, unmodified
from datasets import DataSet
from device_under_test import DUT
from script import Script
tests = runner.parse_test_script(os.path.join(runner_dir, "tests_accuracy.yaml" if mode == "a" else
                                              "tests_performance.yaml"))
dut = DUT(url, baud_rate=115200)
runner.init_dut(dut)  # name%, profile%, then the port is closed
model = dut.get_model()
script = Script(tests.get(model))
result = script.run(None, dut, DataSet(os.path.join(dataset, script.model), script.truth), mode)
if isinstance(result, dict):
    result = [result]
if result and isinstance(result[0], list):  # the performance script's loop returns its windows
    result = [r for part in result for r in (part if isinstance(part, list) else [part])]
runner.summarize_result(result, None, mode=mode, results_file="results.txt")
import numpy as np
preds = [int(np.argmax(runner.normalize_probabilities(r["infer"]["results"]))) for r in result if "infer" in r]
windows = [{"iterations": r["infer"]["iterations"], "elapsed_us": r["infer"].get("elapsed_time"),
            "throughput": r["infer"].get("throughput")} for r in result if "infer" in r]
with open(out, "w") as f:
    json.dump({"name": dut.get_name(), "model": model, "files": len(preds), "predicted": preds,
               "windows": windows, "errors": [r["error"] for r in result if "error" in r]}, f)
'''


def run_mlcommons(runner_dir: str | Path, url: str, dataset: Path, work: Path, timeout_s: float = 1800,
                  mode: str = "a") -> dict[str, Any]:
    """Run the real runner against ``url`` in accuracy (``mode`` "a": its Top-1, from its
    results.txt) or performance mode ("p": its windows and median throughput, or its ERROR line)."""
    runner_dir = Path(runner_dir)
    if not (runner_dir / "main.py").is_file() or not (runner_dir / "script.py").is_file():
        raise SystemExit(f"{runner_dir}: not the MLPerf Tiny runner folder (benchmark/runner of mlcommons/tiny)")
    work.mkdir(parents=True, exist_ok=True)
    out = work / "mlcommons.json"
    proc = subprocess.run([sys.executable, "-c", _SHIM, str(runner_dir), url, str(dataset), str(out), mode],
                          cwd=work, capture_output=True, text=True, timeout=timeout_s)
    text = (work / "results.txt").read_text() if (work / "results.txt").is_file() else ""
    m = re.search(r"Top 1% = ([0-9.]+)" if mode == "a" else r"Median throughput is +([0-9.]+)|(ERROR [12])", text)
    if proc.returncode != 0 or m is None or not out.is_file():
        logs = sorted(work.glob("sessions/*/log.txt"))
        tail = logs[-1].read_text()[-1500:] if logs else proc.stdout[-1500:]
        raise RuntimeError(f"the MLPerf Tiny runner failed (rc {proc.returncode}): {proc.stderr[-1500:]}\n{tail}")
    res = json.loads(out.read_text())
    res["results_txt"] = text.strip()
    if mode == "a":
        res["top1_percent"] = float(m.group(1))
    else:
        res["median_throughput"] = float(m.group(1)) if m.group(1) else None
        res["runner_error"] = m.group(2)
    return res


def test_inputs(project: Path, n: int, data_spec: str | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray, Any]:
    """N held-out test images of the project's data, quantized with its model's input parameters."""
    import torch

    from ofa_mcu.data import load_source, resize
    from ofa_mcu.export.pipeline import to_nhwc
    from ofa_mcu.tflm.host import TflmRunner

    info = json.loads((project / "compile.json").read_text())
    spec = data_spec or info.get("data") or json.loads((project / "export.json").read_text()).get("data")
    if not spec:
        raise SystemExit(f"{project}: no data source recorded; give --data")
    runner = TflmRunner((project / "model.tflite").read_bytes())
    res = int(runner.input.shape[1])
    data = load_source(spec, seed)
    x, y = data.test_subset(n, seed)
    x_q = runner.input.quantize(to_nhwc(resize(torch.from_numpy(x), res)))
    return x_q, np.asarray(y, dtype=np.int64), runner


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("project", type=Path)
    ap.add_argument("--n", type=int, default=200, help="test images (default 200)")
    ap.add_argument("--data", default=None, help="data source (default: the checkpoint's)")
    ap.add_argument("--driver", choices=("ours", "mlcommons", "both"), default="both")
    ap.add_argument("--runner-dir", default=os.environ.get(RUNNER_ENV), help=f"default: ${RUNNER_ENV}")
    ap.add_argument("--mode", choices=("accuracy", "performance"), default="accuracy")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.mode == "performance":
        return performance(args)
    from ofa_mcu.artifacts import read_project_info
    from ofa_mcu.firmware.build import build_project
    from ofa_mcu.qemu import run_qemu

    info = json.loads((args.project / "compile.json").read_text())
    model_name = info["model"]
    x_q, y, runner = test_inputs(args.project, args.n, args.data)
    host = runner.run_int8(x_q)
    host_pred = host.argmax(axis=1)
    report: dict[str, Any] = {"project": str(args.project), "model": model_name, "inputs": len(y),
                              "host_tflm_top1_percent": 100.0 * float((host_pred == y).mean())}
    elf = build_project(args.project).elf
    machine = read_project_info(args.project)["qemu_machine"]
    with tempfile.TemporaryDirectory(prefix="ofa-mlperf-") as tmp:
        dataset = Path(tmp) / "datasets"
        write_dataset(dataset, model_name, list(x_q), list(y), int(host.shape[1]), info.get("db_input", "int8"))
        drivers = ("ours", "mlcommons") if args.driver == "both" else (args.driver,)
        for driver in drivers:
            with run_qemu(elf, machine, timeout_s=3600) as session:
                boot(session.url)
                if driver == "ours":
                    run = run_accuracy(session.url, dataset)
                    res = run.to_dict()
                else:
                    if not args.runner_dir:
                        raise SystemExit(f"--runner-dir or ${RUNNER_ENV} is needed for the real runner")
                    res = run_mlcommons(args.runner_dir, session.url, dataset, Path(tmp) / "mlcommons")
            res["agrees_with_host"] = res["predicted"] == [int(p) for p in host_pred]
            report[driver] = res
            print(f"{driver:9s} Top-1 {res['top1_percent']:.1f}% on {res['files']} files (model {res['model']}); "
                  f"predictions {'equal' if res['agrees_with_host'] else 'DIFFER from'} host TFLM's")
    print(f"host TFLM Top-1 {report['host_tflm_top1_percent']:.1f}% on {len(y)} inputs")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(report[d]["agrees_with_host"] for d in drivers) else 1


def performance(args: argparse.Namespace) -> int:
    """The real runner's performance mode on the firmware in QEMU, beside ``ofa-mcu profile``'s latency."""
    from ofa_mcu.artifacts import read_project_info
    from ofa_mcu.firmware.build import build_project
    from ofa_mcu.profiler import profile
    from ofa_mcu.qemu import run_qemu

    if not args.runner_dir:
        raise SystemExit(f"--runner-dir or ${RUNNER_ENV} is needed for the real runner")
    info = json.loads((args.project / "compile.json").read_text())
    x_q, y, runner = test_inputs(args.project, args.n, args.data)
    elf = build_project(args.project).elf
    machine = read_project_info(args.project)["qemu_machine"]
    with tempfile.TemporaryDirectory(prefix="ofa-mlperf-") as tmp:
        dataset = Path(tmp) / "datasets"
        write_dataset(dataset, info["model"], list(x_q), list(y), int(runner.output.shape[-1]),
                      info.get("db_input", "int8"))
        with run_qemu(elf, machine, timeout_s=3600) as session:
            boot(session.url)
            res = run_mlcommons(args.runner_dir, session.url, dataset, Path(tmp) / "mlcommons", mode="p")
        with run_qemu(elf, machine, timeout_s=3600) as session:
            prof = profile(session.url, [x_q[0].tobytes()], runs=5, warmup=1, timeout_s=60)
    ms = prof.latency_ms["mean"]
    report = {"project": str(args.project), "model": info["model"], "runner": res,
              "profile_latency_ms": ms, "profile_throughput": 1000.0 / ms if ms else None}
    for i, w in enumerate(res["windows"]):
        print(f"window {i + 1}: {w['iterations']} inferences in {w['elapsed_us'] / 1e6:.3f} s (m-lap-us), "
              f"{w['throughput']:.3f} inf./s")
    verdict = (f"median throughput {res['median_throughput']:.3f} inf./s" if res["median_throughput"] is not None
               else f"{res['runner_error']} ({'loop count not 5' if res['runner_error'] == 'ERROR 1' else 'under 10 s'})")
    print(f"MLPerf Tiny runner, performance mode, model {res['model']}: {verdict}; ofa-mcu profile: "
          f"{ms:.3f} ms per inference ({report['profile_throughput']:.3f} inf./s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
