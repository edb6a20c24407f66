"""The MLPerf Tiny host runner's accuracy mode, as a small driver of our own, and its data set.

:func:`run_accuracy` drives a device the way the public runner (mlcommons/tiny,
``benchmark/runner``: ``main.py``, ``script.py``, ``device_under_test.py``, ``serial_device.py``,
``datasets.py``) does in accuracy mode, rule for rule, without its code:

* commands are written as ``CMD%`` (no newline); the device's output is read as lines split at
  ``\\n`` with ``\\r`` and NUL dropped (an empty line is skipped); a reply ends at the first line
  that contains ``m-ready``; each line must come within 5 s (30 s while ``infer`` runs), else the
  command fails ("No response to command ...");
* identification: ``name%`` (``^m-name-dut-\\[([^]]+)]$``), then ``profile%``
  (``^m-(model|profile)-\\[([^]]+)]$``), each tried up to 3 times; then the port is closed and
  opened again (on ``socket://`` that is a new TCP connection);
* the model name picks the data set folder ``DATASET/<model>``; its ``y_labels.csv`` lists
  ``file,classes,class`` rows; every file is sent with ``db load N%`` and ``db <hex>%`` chunks of
  31 bytes (26 behind an energy monitor), then ``infer 1 0%`` (the accuracy test script);
* ``^m-results-\\[([^]]+)\\]$`` is split at commas into floats; a result of more than one value is
  divided by its sum; a file's class is the argmax of the mean of its results (``np.argmax``: the
  lowest index among ties; one result per file in accuracy mode); Top-1 = 100 x correct files /
  files, printed ``Top 1% = {:2.1f}``.

:func:`write_dataset` writes such a data set from int8 inputs and labels, for this driver and the
real runner alike. :func:`boot` connects once, waits until the firmware answers and disconnects,
so a runner that connects later finds nothing queued (a QEMU guest only starts when its serial
port gets a client, and would otherwise greet the runner's first connection with its banner).
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ofa_mcu.errors import UserError, WorkFailed

END_OF_RESPONSE = "m-ready"
LINE_TIMEOUT_S = 5.0
INFER_LINE_TIMEOUT_S = 30.0
DB_CHUNK = 31  # bytes per `db` command (26 when an energy monitor sits in between)
RETRIES = 3
LABELS_FILE = "y_labels.csv"
ACCURACY_SCRIPT = ("download", "infer 1 0")  # tests_accuracy.yaml, per file

_NAME_RE = re.compile(r"^m-(name)-dut-\[([^]]+)]$")
_PROFILE_RE = re.compile(r"^m-(model|profile)-\[([^]]+)]$")
_RESULTS_RE = re.compile(r"^m-results-\[([^]]+)\]$")
_LAP_RE = re.compile(r"^m-lap-us-([0-9]+)$")


class RunnerPort:
    """A port as the runner's ``SerialDevice`` uses it: lines, ``m-ready``-terminated replies."""

    def __init__(self, url: str, baud: int = 115200) -> None:
        self.url, self.baud = url, baud
        self._ser: Any = None
        self._buf = bytearray()
        self.log: list[str] = []

    def open(self) -> RunnerPort:
        import serial

        try:
            self._ser = serial.serial_for_url(self.url, baudrate=self.baud, timeout=0.05)
        except (serial.SerialException, OSError, ValueError) as e:
            raise WorkFailed(f"cannot open {self.url}: {e}") from None
        self._buf.clear()
        return self

    def close(self) -> None:
        if self._ser is not None:
            self._ser.close()
            self._ser = None

    def __enter__(self) -> RunnerPort:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_line(self, timeout_s: float) -> str | None:
        deadline = time.monotonic() + timeout_s
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                raw = bytes(self._buf[:nl]).replace(b"\r", b"").replace(b"\0", b"")
                del self._buf[: nl + 1]
                return raw.decode("ascii", "replace")
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = self._ser.read(4096)
            except Exception as e:  # noqa: BLE001 - any port failure is one line
                raise WorkFailed(f"{self.url}: {e}") from None
            self._buf += chunk

    def command(self, cmd: str, timeout_s: float = LINE_TIMEOUT_S) -> list[str]:
        """Write ``cmd%``; the non-empty lines up to and including the one containing ``m-ready``."""
        self.log.append(f"> {cmd}%")
        try:
            self._ser.write(f"{cmd}%".encode())
        except Exception as e:  # noqa: BLE001
            raise WorkFailed(f"{self.url}: {e}") from None
        lines: list[str] = []
        while True:
            line = self.read_line(timeout_s)
            if line is None:
                raise WorkFailed(f"No response to command {cmd} from {self.url}")
            if line:
                lines.append(line)
                self.log.append(line)
            if END_OF_RESPONSE in line:
                return lines


def boot(url: str, timeout_s: float = 20.0) -> str:
    """Connect, make sure the firmware runs and has answered ``name%``, drain, disconnect; the
    ``m-name-dut-[...]`` line.

    A QEMU guest only starts when its serial port gets a client, and pyserial's ``socket://``
    open discards what arrives while it connects, so the start-up banner may or may not be seen:
    :meth:`~ofa_mcu.profiler.device.Device.sync` asks until the firmware answers and drains late
    replies. Afterwards the firmware sits idle and silent for the runner's first connection.
    """
    from ofa_mcu.profiler.device import Device

    with Device(url, timeout_s=timeout_s) as dev:
        return dev.sync()


@dataclass
class FileResult:
    file: str
    label: int
    raw: list[float]  # the m-results values as printed
    results: list[list[float]]  # as the runner keeps them: normalized, one vector per inference
    predicted: int
    elapsed_us: int | None


@dataclass
class AccuracyRun:
    """What :func:`run_accuracy` measured: the device's identity, per-file results and Top-1."""

    name: str | None
    model: str | None
    profile: str | None
    files: list[FileResult] = field(default_factory=list)

    @property
    def correct(self) -> int:
        return sum(f.predicted == f.label for f in self.files)

    @property
    def top1_percent(self) -> float:
        return 100.0 * self.correct / len(self.files) if self.files else 0.0

    def summary_line(self) -> str:
        """The runner's result line."""
        return f"ulp-mlperf: Top 1% = {self.top1_percent:2.1f}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "profile": self.profile, "files": len(self.files),
                "correct": self.correct, "top1_percent": self.top1_percent,
                "predicted": [f.predicted for f in self.files]}


def normalize(scores: Sequence[float]) -> list[float]:
    """The runner's normalize_probabilities: each score divided by the sum (numpy float division:
    a zero sum gives inf/nan, as the runner's would)."""
    arr = np.asarray(scores, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return list(arr / arr.sum())


def file_class(results: list[list[float]]) -> int:
    """The class of a file: argmax of the mean of its (normalized) results, as the runner's
    calculate_accuracy takes it (its majority vote is only counted, not reported)."""
    return int(np.argmax(np.mean(np.asarray(results, dtype=np.float64), axis=0)))


def _identify(port: RunnerPort) -> tuple[str | None, str | None, str | None]:
    name = model = profile = None
    for _ in range(RETRIES):
        for line in port.command("name"):
            m = _NAME_RE.match(line)
            if m:
                name = m.group(2)
        if name is not None:
            break
    for _ in range(RETRIES):
        found = False
        for line in port.command("profile"):
            m = _PROFILE_RE.match(line)
            if m:
                found = True
                if m.group(1) == "model":
                    model = m.group(2)
                else:
                    profile = m.group(2)
        if found:
            break
    return name, model, profile


def read_dataset(folder: Path) -> list[dict[str, str]]:
    """``y_labels.csv`` of a data set folder as the runner reads it (file, classes, class)."""
    path = folder / LABELS_FILE
    if not path.is_file():
        raise UserError(f"{path}: no such file (a data set folder holds {LABELS_FILE} and the input files)")
    with path.open(newline="") as f:
        return list(csv.DictReader(f, fieldnames=["file", "classes", "class", "bytes_to_send", "stride"]))


def run_accuracy(url: str, dataset: str | Path, *, baud: int = 115200, chunk: int = DB_CHUNK,
                 limit: int | None = None, progress: Callable[[str], None] | None = None) -> AccuracyRun:
    """Accuracy mode against the device on ``url`` with the data set folder ``dataset`` (holding
    one folder per model name, as the runner's ``--dataset_path``)."""
    port = RunnerPort(url, baud)
    with port:
        name, model, profile = _identify(port)
    if model is None:
        raise WorkFailed(f"{url} did not report its model (m-model-[...]) to 'profile%'")
    folder = Path(dataset) / model
    rows = read_dataset(folder)
    if limit is not None:
        rows = rows[:limit]
    run = AccuracyRun(name, model, profile)
    with port:  # the runner closes the port after identification and opens it again
        for k, row in enumerate(rows):
            data = (folder / row["file"]).read_bytes()
            port.command(f"db load {len(data)}")
            for i in range(0, len(data), chunk):
                port.command("db " + "".join(f"{b:02x}" for b in data[i:i + chunk]))
            lines = port.command(ACCURACY_SCRIPT[1], timeout_s=INFER_LINE_TIMEOUT_S)
            results: list[float] = []
            laps: list[int] = []
            for line in lines:
                m = _RESULTS_RE.match(line)
                if m:
                    results = [float(x) for x in m.group(1).split(",") if x.strip()]
                    continue
                m = _LAP_RE.match(line)
                if m:
                    laps.append(int(m.group(1)))
            if not results:
                raise WorkFailed(f"no m-results in the reply to '{ACCURACY_SCRIPT[1]}' for {row['file']}: {lines}")
            scores = results if len(results) == 1 else normalize(results)
            elapsed = laps[1] - laps[0] if len(laps) >= 2 else None
            run.files.append(FileResult(row["file"], int(row["class"]), results, [scores], file_class([scores]),
                                        elapsed))
            if progress is not None and (k + 1) % 10 == 0:
                progress(f"{k + 1}/{len(rows)} files, {run.correct} correct")
    return run


def write_dataset(root: str | Path, model: str, inputs: Sequence[np.ndarray], labels: Sequence[int],
                  classes: int, db_input: str = "int8") -> Path:
    """``root/model/y_labels.csv`` and one ``.bin`` file per int8 input; returns the model's folder.

    ``db_input`` is the firmware's (``compile.json``): ``int8`` files hold the input tensor's
    bytes; ``uint8`` files hold each value + 128, as the official ic01 / vww01 data sets hold their
    uint8 images (the firmware shifts them back by -128, as the reference submissions do)."""
    if db_input not in ("int8", "uint8"):
        raise ValueError(f"db_input {db_input!r}: expected int8 or uint8")
    if len(inputs) != len(labels):
        raise ValueError(f"{len(inputs)} inputs but {len(labels)} labels")
    folder = Path(root) / model
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (x, y) in enumerate(zip(inputs, labels, strict=True)):
        name = f"{model}_{i:05d}_{int(y)}.bin"
        data = np.ascontiguousarray(x, dtype=np.int8)
        (folder / name).write_bytes((data.view(np.uint8) ^ 0x80).tobytes() if db_input == "uint8" else data.tobytes())
        rows.append(f"{name},{classes},{int(y)}\n")
    (folder / LABELS_FILE).write_text("".join(rows))
    return folder
