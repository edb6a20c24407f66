"""A corpus of bad inputs a hostile but realistic user gives every verb: broken board, space,
schedule and subnet files, run files of the wrong shape, data sets, checkpoints, `.tflite` files,
unwritable outputs and broken devices (a fake device on a loopback socket, tests/fake_device.py).

Every case runs the real CLI entry point in-process (``ofa_mcu.cli.main``, so the exit code and
stderr are what a user sees) under a time bound, and asserts: the exit code (2 for bad input, 1
for a broken device), exactly one error line naming the file or field, no traceback, and no file
left behind in the case's folder. The checkpoint cases share the session's tiny trained run.
"""

from __future__ import annotations

import io
import json
import pickle
import signal
import struct
import time
import zlib
from collections.abc import Callable
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fake_device import FAULTS, FakeDevice, faulty
from helpers import TINY_SCHEDULE, TINY_SPACE

from ofa_mcu.cli import main
from ofa_mcu.resources import targets_dir

CASE_LIMIT_S = 60  # every case ends well within this (most in well under a second)


# ---- the harness --------------------------------------------------------------------------------


@dataclass
class Ctx:
    """What a case's argv and setup see: its own empty folder, and the shared trained run."""

    tmp: Path
    run: Path  # a training folder with checkpoint.pt (tiny space, digits subset)
    files: Path  # the session's digits300.npz, space.yaml, schedule.yaml


@dataclass
class Case:
    id: str
    argv: Callable[[Ctx], list[str]]
    setup: Callable[[Ctx], None] | None = None
    code: int = 2
    says: Callable[[Ctx], str] | str = ""  # text the error line must contain (the file or field)
    needs_run: bool = False
    device: Callable | None = None  # a fake-device handler; its URL is ctx.tmp / "url"


class _Timeout(Exception):
    pass


@contextmanager
def _bounded(seconds: float):
    def on_alarm(signum, frame):  # noqa: ARG001
        raise _Timeout(f"case ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(seconds))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_main(argv: list[str], limit_s: float = CASE_LIMIT_S) -> tuple[int, str, str]:
    """Run `ofa-mcu ARGV` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = None
    with _bounded(limit_s), redirect_stdout(out), redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    assert code is not None, "main() returned without exiting"
    return code, out.getvalue(), err.getvalue()


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


# ---- bad documents ------------------------------------------------------------------------------

BAD_JSON: dict[str, tuple[bytes, str]] = {  # name -> (content, what the error says)
    "not-utf8": (b'\xff\xfe{"boards": {}}', "not UTF-8"),
    "deep": (b"[" * 200_000 + b"]" * 200_000, "nested"),
    "nan": (b'{"boards": {}, "x": NaN}', "NaN"),
    "infinity": (b'{"boards": {}, "x": -Infinity}', "Infinity"),
    "syntax": (b'{"boards": ', "invalid JSON"),
    "empty": (b"", "invalid JSON"),
    "array": (b"[1, 2]", "top level"),
    "null": (b"null", "top level"),
}

# every top-level type check names the file; run files also validate fields
RUN_FILE_FIELDS = {
    "project.json": [({"board": "qemu-microbit", "runtime": None}, "runtime"), ({"board": 7, "runtime": "native"}, "board")],
    "compile.json": [({"board": "qemu-microbit", "runtime": "native", "layers": None}, "layers"),
                     ({"board": "qemu-microbit", "runtime": "native", "layers": [{"index": -1, "kind": "conv",
                                                                                    "macs": 3}]}, "layers[0].index")],
    "profile.json": [({"layers": None}, "layers"), ({"latency_ms": {"mean": "fast"}}, "latency_ms.mean")],
}


def _board_yaml(**changes: str) -> str:
    text = (targets_dir() / "qemu-microbit.yaml").read_text()
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


BAD_BOARD: dict[str, tuple[bytes | str, str]] = {
    "alias-bomb": ("a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                   "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n", "aliases"),
    "latency-inf": (_board_yaml(**{"conv: 21.0": "conv: .inf"}), "cycles_per_mac.conv"),
    "latency-nan": (_board_yaml(**{"fc: 18.0": "fc: .nan"}), "cycles_per_mac.fc"),
    "latency-absurd": (_board_yaml(**{"add: 15.0": "add: 1.0e+30"}), "cycles_per_mac.add"),
    "latency-string": (_board_yaml(**{"add: 15.0": "add: 1e30"}), "cycles_per_mac.add"),
    "op-cost-absurd": (_board_yaml(**{"cycles_per_op: {conv: 3000": "cycles_per_op: {conv: 3.0e+15"}), "cycles_per_op.conv"),
    "baud-absurd": (_board_yaml(**{"baud: 115200": "baud: 115000000000000000000000"}), "uart.baud"),
    "baud-float": (_board_yaml(**{"baud: 115200": "baud: 1.15e+23"}), "uart.baud"),
    "clock-absurd": (_board_yaml(**{"clock_hz: 16000000": "clock_hz: 216000000000000000000000000000"}), "clock_hz"),
    "clock-inf": (_board_yaml(**{"clock_hz: 16000000": "clock_hz: .inf"}), "clock_hz"),
    "not-utf8": (b"name: qemu-microbit\ndescription: \xff\xfe\n", "not UTF-8"),
    "deep": ("x: " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
    "top-list": ("- 1\n- 2\n", "top level"),
    "empty": ("", "empty"),
    "duplicate-key": (_board_yaml(**{"dsp: false": "dsp: false\ndsp: true"}), "duplicate key"),
    "syntax": ("name: [qemu-microbit\n", "invalid YAML"),
}


def _space_yaml(**changes: str) -> str:
    text = TINY_SPACE
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


BAD_SPACE: dict[str, tuple[str | bytes, str]] = {
    "alias": ("name: &n tiny\ndescription: *n\n", "aliases"),
    "channels-absurd": (_space_yaml(**{"channels: 16, stride: 2": "channels: 1000000000, stride: 2"}), "stages[1].channels"),
    "resolution-absurd": (_space_yaml(**{"resolutions: [12, 16]": "resolutions: [12, 100000]"}), "resolutions"),
    "classes-inf": (_space_yaml(**{"classes: 10": "classes: .inf"}), "classes"),
    "kernel-absurd": (_space_yaml(**{"kernels: [3, 5]": "kernels: [3, 99]"}), "kernels"),
    "not-utf8": (b"name: tiny\xff\n", "not UTF-8"),
    "top-string": ("just a string\n", "top level"),
}


def _schedule_yaml(**changes: str) -> str:
    text = TINY_SCHEDULE
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


BAD_SCHEDULE: dict[str, tuple[str | bytes, str]] = {
    "lr-inf": (_schedule_yaml(**{"lr: 0.1": "lr: .inf"}), "phases[0].lr"),
    "lr-nan": (_schedule_yaml(**{"lr: 0.03": "lr: .nan"}), "phases[1].lr"),
    "lr-absurd": (_schedule_yaml(**{"lr: 0.1": "lr: 1e9"}), "phases[0].lr"),
    "kd-inf": (_schedule_yaml(**{"kd_ratio: 1.0": "kd_ratio: .inf"}), "kd_ratio"),
    "epochs-absurd": (_schedule_yaml(**{"epochs: 2": "epochs: 100000000000"}), "phases[0].epochs"),
    "batch-absurd": (_schedule_yaml(**{"batch_size: 32": "batch_size: 1e12"}), "batch_size"),
    "alias": (_schedule_yaml(**{"name: tiny": "name: &n tiny\nx: *n"}), "aliases"),
    "not-utf8": (b"name: tiny\nbatch_size: \xfe\n", "not UTF-8"),
}


# ---- data sets ----------------------------------------------------------------------------------


def _npz(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, y=y)
    return path


def _digits_like(n: int = 40, side: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (n, side, side), dtype=np.uint8), np.arange(n) % 2


def _png(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` (the data is a single row: a bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    return write(path, body)


def _good_png(path: Path, side: int = 8) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((side, side), 128, dtype=np.uint8)).save(path)
    return path


def _cifar(folder: Path, batch: object, bad: str = "data_batch_1") -> Path:
    good = {b"data": np.zeros((4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}
    for n in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write(folder / n, pickle.dumps(batch if n == bad else good))
    return folder


class _Evil:
    def __reduce__(self):
        return (print, ("this ran from a data set",))


def _truncated_npz(ctx: Ctx) -> None:
    x, y = _digits_like()
    _npz(ctx.tmp / "full.npz", x, y)
    raw = (ctx.tmp / "full.npz").read_bytes()
    write(ctx.tmp / "d.npz", raw[: len(raw) // 2])
    (ctx.tmp / "full.npz").unlink()


def _train(ctx: Ctx, data: str) -> list[str]:
    return ["train", "--space", str(ctx.files / "space.yaml"), "--schedule", str(ctx.files / "schedule.yaml"),
            "--data", data, "--out", str(ctx.tmp / "run"), "--quiet"]


DATA_CASES = [
    Case("data-npz-truncated", lambda c: _train(c, f"npz:{c.tmp / 'd.npz'}"), _truncated_npz, says="d.npz"),
    Case("data-npz-empty-file", lambda c: _train(c, f"npz:{c.tmp / 'd.npz'}"),
         lambda c: write(c.tmp / "d.npz", b""), says="d.npz"),
    Case("data-npz-not-zip", lambda c: _train(c, f"npz:{c.tmp / 'd.npz'}"),
         lambda c: write(c.tmp / "d.npz", b"PK\x03\x04 definitely not a zip"), says="d.npz"),
    Case("data-npz-0x0-images", lambda c: _train(c, f"npz:{c.tmp / 'd.npz'}"),
         lambda c: _npz(c.tmp / "d.npz", np.zeros((40, 0, 0), np.uint8), np.arange(40) % 2), says="shape"),
    Case("data-npz-no-images", lambda c: _train(c, f"npz:{c.tmp / 'd.npz'}"),
         lambda c: _npz(c.tmp / "d.npz", np.zeros((0, 8, 8), np.uint8), np.zeros(0, np.int64)), says="d.npz"),
    Case("data-npz-nan-pixels", lambda c: _train(c, f"npz:{c.tmp / 'd.npz'}"),
         lambda c: _npz(c.tmp / "d.npz", np.where(np.eye(8)[None].repeat(40, 0) > 0, np.nan, 0.5).astype(np.float32),
                        np.arange(40) % 2), says="NaN"),
    Case("data-npz-inf-pixels", lambda c: _train(c, f"npz:{c.tmp / 'd.npz'}"),
         lambda c: _npz(c.tmp / "d.npz", np.full((40, 8, 8), np.inf, np.float32), np.arange(40) % 2), says="NaN or infinite"),
    Case("data-npz-float-labels", lambda c: _train(c, f"npz:{c.tmp / 'd.npz'}"),
         lambda c: _npz(c.tmp / "d.npz", _digits_like()[0], np.arange(40) * 0.5), says="y must be integers"),
    Case("data-npz-pickled-object", lambda c: _train(c, f"npz:{c.tmp / 'd.npz'}"),
         lambda c: _npz(c.tmp / "d.npz", np.array([_Evil()] * 3, dtype=object), np.arange(3)), says="d.npz"),
    Case("data-png-bomb", lambda c: _train(c, f"imagefolder:{c.tmp / 'imgs'}"),
         lambda c: (_good_png(c.tmp / "imgs/a/1.png"), _good_png(c.tmp / "imgs/a/2.png"), _good_png(c.tmp / "imgs/b/1.png"),
                    _png(c.tmp / "imgs/b/2.png", 30000, 30000)), says="2.png"),
    Case("data-png-truncated", lambda c: _train(c, f"imagefolder:{c.tmp / 'imgs'}"),
         lambda c: (_good_png(c.tmp / "imgs/a/1.png"), _good_png(c.tmp / "imgs/a/2.png"), _good_png(c.tmp / "imgs/b/1.png"),
                    write(c.tmp / "imgs/b/2.png", b"\x89PNG\r\n\x1a\n")), says="2.png"),
    Case("data-empty-class-folder", lambda c: _train(c, f"imagefolder:{c.tmp / 'imgs'}"),
         lambda c: (_good_png(c.tmp / "imgs/a/1.png"), _good_png(c.tmp / "imgs/b/1.png"),
                    (c.tmp / "imgs/c").mkdir()), says="class folder 'c' has no"),
    Case("data-no-class-folders", lambda c: _train(c, f"imagefolder:{c.tmp / 'imgs'}"),
         lambda c: (_good_png(c.tmp / "imgs/a/1.png"), (c.tmp / "imgs/.ipynb_checkpoints").mkdir()),
         says="one sub-folder per class"),
    Case("data-cifar-list-pickle", lambda c: _train(c, f"cifar10:{c.tmp / 'cifar'}"),
         lambda c: _cifar(c.tmp / "cifar", [1, 2, 3]), says="data_batch_1"),
    Case("data-cifar-label-12", lambda c: _train(c, f"cifar10:{c.tmp / 'cifar'}"),
         lambda c: _cifar(c.tmp / "cifar", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 12]}, "data_batch_3"),
         says="labels must be 0..9"),
    Case("data-cifar-code-in-pickle", lambda c: _train(c, f"cifar10:{c.tmp / 'cifar'}"),
         lambda c: _cifar(c.tmp / "cifar", {b"data": _Evil(), b"labels": [0]}), says="refusing to load builtins.print"),
    Case("data-cifar-empty-batch", lambda c: _train(c, f"cifar10:{c.tmp / 'cifar'}"),
         lambda c: (_cifar(c.tmp / "cifar", {}), write(c.tmp / "cifar/test_batch", b"")), says="data_batch_1"),
    Case("data-cifar-truncated-batch", lambda c: _train(c, f"cifar10:{c.tmp / 'cifar'}"),
         lambda c: (_cifar(c.tmp / "cifar", {}, "none"), write(c.tmp / "cifar/test_batch", b"")), says="test_batch"),
    Case("data-cifar-wrong-size", lambda c: _train(c, f"cifar10:{c.tmp / 'cifar'}"),
         lambda c: _cifar(c.tmp / "cifar", {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}),
         says="data_batch_1"),
    Case("data-unknown-source", lambda c: _train(c, "mnist:/x"), says="unknown data source"),
]


# ---- checkpoints --------------------------------------------------------------------------------


def _edited_checkpoint(edit: Callable[[dict], None]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        import torch

        state = torch.load(ctx.run / "checkpoint.pt", map_location="cpu", weights_only=True)
        edit(state)
        (ctx.tmp / "ck").mkdir()
        torch.save(state, ctx.tmp / "ck" / "checkpoint.pt")

    return setup


def _other_space_weights(state: dict) -> None:
    from ofa_mcu.space import load_space
    from ofa_mcu.supernet import Supernet

    state["model"] = Supernet(load_space("mcu-32").for_task(classes=10, in_channels=1)).state_dict()


def _analyze_ck(ctx: Ctx) -> list[str]:
    return ["analyze", "--checkpoint", str(ctx.tmp / "ck"), "--preset", "min", "--target", "qemu-microbit"]


def _export_ck(ctx: Ctx) -> list[str]:
    return ["export", "--checkpoint", str(ctx.tmp / "ck"), "--preset", "min", "--out", str(ctx.tmp / "m.tflite")]


CHECKPOINT_CASES = [
    Case("ckpt-no-data-entry", _export_ck, _edited_checkpoint(lambda s: s.pop("data")), says="'data'", needs_run=True),
    Case("ckpt-no-space-entry", _analyze_ck, _edited_checkpoint(lambda s: s.pop("space")), says="'space'", needs_run=True),
    Case("ckpt-space-wrong-type", _analyze_ck, _edited_checkpoint(lambda s: s.update(space=[1, 2])), says="'space'",
         needs_run=True),
    Case("ckpt-weights-of-another-space", _export_ck, _edited_checkpoint(_other_space_weights), says="space 'tiny'",
         needs_run=True),
    Case("ckpt-space-nan", _analyze_ck, _edited_checkpoint(lambda s: s["space"].update(classes=float("nan"))),
         says="classes", needs_run=True),
    Case("ckpt-truncated", _export_ck,
         lambda c: write(c.tmp / "ck/checkpoint.pt", (c.run / "checkpoint.pt").read_bytes()[:5000]), says="checkpoint.pt",
         needs_run=True),
    Case("ckpt-empty-file", _analyze_ck, lambda c: write(c.tmp / "ck/checkpoint.pt", b""), says="checkpoint.pt"),
    Case("ckpt-folder-without-one", _analyze_ck, lambda c: (c.tmp / "ck").mkdir(), says="no such checkpoint"),
    Case("ckpt-pickle-with-code", _analyze_ck, lambda c: write(c.tmp / "ck/checkpoint.pt", pickle.dumps(_Evil(), protocol=2)),
         says="checkpoint.pt"),
    Case("resume-changed-schedule", lambda c: ["train", "--space", str(c.files / "space.yaml"), "--data",
                                               f"npz:{c.files / 'digits300.npz'}", "--schedule", str(c.tmp / "s.yaml"),
                                               "--out", str(c.tmp / "ck"), "--resume", "--quiet"],
         lambda c: (_edited_checkpoint(lambda s: s.update(phase=0, epoch=1, done=False))(c),
                    write(c.tmp / "s.yaml", _schedule_yaml(**{"epochs: 2": "epochs: 1"}))),
         says="schedule", needs_run=True),
    Case("resume-phase-out-of-schedule", lambda c: ["train", "--space", str(c.files / "space.yaml"), "--data",
                                                    f"npz:{c.files / 'digits300.npz'}", "--schedule",
                                                    str(c.files / "schedule.yaml"), "--out", str(c.tmp / "ck"),
                                                    "--resume", "--quiet"],
         _edited_checkpoint(lambda s: s.update(phase=0, epoch=7, done=False)), says="phase 0 epoch 7", needs_run=True),
]


# ---- .tflite files ------------------------------------------------------------------------------


def _tiny_tflite(metadata: bytes | None = b'{"space": {}, "pad": "' + b"x" * 200 + b'"}',
                 io_shape: tuple[int, ...] | None = None) -> bytes:
    """A valid flatbuffer with one subgraph and no ops (and an ofa_mcu metadata entry); with
    ``io_shape`` one int8 tensor of that shape is its input and output."""
    import flatbuffers

    from ofa_mcu.tflite import add_metadata, tflite_schema

    s = tflite_schema()
    m = s.ModelT()
    m.version = 3
    sg = s.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators = [], [], [], []
    if io_shape is not None:
        t = s.TensorT()
        t.shape, t.type, t.buffer, t.name = list(io_shape), s.TensorType.INT8, 0, "x"
        sg.tensors, sg.inputs, sg.outputs = [t], [0], [0]
    m.subgraphs, m.buffers, m.operatorCodes = [sg], [s.BufferT()], []
    b = flatbuffers.Builder(256)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    data = bytes(b.Output())
    return add_metadata(data, "ofa_mcu", metadata) if metadata is not None else data


def _inspect(ctx: Ctx) -> list[str]:
    return ["inspect", str(ctx.tmp / "m.tflite"), "--no-measure"]


TFLITE_CASES = [
    Case("tflite-truncated-metadata", _inspect, lambda c: write(c.tmp / "m.tflite", _tiny_tflite()[:150]), says="m.tflite"),
    Case("tflite-metadata-not-json", _inspect, lambda c: write(c.tmp / "m.tflite", _tiny_tflite(b"\xff\x00")),
         says="metadata"),
    Case("tflite-metadata-deep", _inspect, lambda c: write(c.tmp / "m.tflite", _tiny_tflite(b"[" * 100_000 + b"]" * 100_000)),
         says="nested"),
    Case("tflite-metadata-array", _inspect, lambda c: write(c.tmp / "m.tflite", _tiny_tflite(b"[1]")), says="metadata"),
    Case("tflite-empty-file", _inspect, lambda c: write(c.tmp / "m.tflite", b""), says="m.tflite"),
    Case("tflite-not-a-model", _inspect, lambda c: write(c.tmp / "m.tflite", b"TFL3" * 40), says="m.tflite"),
    Case("tflite-is-a-folder", _inspect, lambda c: (c.tmp / "m.tflite").mkdir(), says="m.tflite"),
    Case("emulate-other-board-truncated-model", lambda c: ["emulate", str(c.tmp / "fw"), "--board", "qemu-mps2-an386"],
         lambda c: (write(c.tmp / "fw/project.json", json.dumps({"board": "nucleo-f746zg", "runtime": "native"})),
                    write(c.tmp / "fw/model.tflite", _tiny_tflite()[:150])), says="model.tflite"),
]


# ---- JSON inputs and run files ------------------------------------------------------------------


def _json_cases() -> list[Case]:
    cases: list[Case] = []

    def add(kind: str, name: str, argv: Callable[[Ctx], list[str]], rel: str, content: bytes, says: str,
            needs_run: bool = False, extra: Callable[[Ctx], None] | None = None) -> None:
        def setup(ctx: Ctx, rel: str = rel, content: bytes = content) -> None:
            if extra:
                extra(ctx)
            write(ctx.tmp / rel, content)

        cases.append(Case(f"{kind}-{name}", argv, setup, says=says, needs_run=needs_run))

    project = json.dumps({"board": "qemu-microbit", "runtime": "native", "emulated": True}).encode()
    for name, (content, says) in BAD_JSON.items():
        add("subnet-analyze", name, lambda c: ["analyze", "--space", "mcu-32", "--subnet", str(c.tmp / "s.json"),
                                               "--target", "qemu-microbit"], "s.json", content, says)
        add("project-json-emulate", name, lambda c: ["emulate", str(c.tmp / "fw")], "fw/project.json", content, says)
        add("project-json-flash", name, lambda c: ["flash", str(c.tmp / "fw"), "--dry-run"], "fw/project.json", content, says)
        add("compile-json-profile", name, lambda c: ["profile", "--port", "socket://127.0.0.1:1", "--project",
                                                     str(c.tmp / "fw")], "fw/compile.json", content, says)
        add("profile-json-report", name, lambda c: ["report", str(c.tmp / "out")], "out/fw/profile.json", content, says,
            extra=lambda c: write(c.tmp / "out/fw/compile.json", json.dumps({"board": "qemu-microbit", "runtime": "native"})))
        add("lut-profile", name, lambda c: ["profile", "--port", "socket://127.0.0.1:1", "--lut", str(c.tmp / "lut.json")],
            "lut.json", content, says)
    # a representative subset where a checkpoint is loaded first
    for name in ("not-utf8", "deep", "nan", "array"):
        content, says = BAD_JSON[name]
        add("subnet-compile", name, lambda c: ["compile", "--checkpoint", str(c.run), "--target", "qemu-microbit",
                                               "--subnet", str(c.tmp / "s.json"), "--out", str(c.tmp / "fw")],
            "s.json", content, says, needs_run=True)
        add("search-json-export", name, lambda c: ["export", "--checkpoint", str(c.run), "--search", str(c.tmp / "se"),
                                                   "--board", "qemu-microbit", "--out", str(c.tmp / "m.tflite")],
            "se/search.json", content, says, needs_run=True)
        add("search-json-compile", name, lambda c: ["compile", "--checkpoint", str(c.run), "--target", "qemu-microbit",
                                                    "--search", str(c.tmp / "se"), "--out", str(c.tmp / "fw")],
            "se/search.json", content, says, needs_run=True)
        add("lut-search", name, lambda c: ["search", "--checkpoint", str(c.run), "--target", "qemu-microbit",
                                           "--latency-lut", str(c.tmp / "lut.json"), "--out", str(c.tmp / "se")],
            "lut.json", content, says, needs_run=True)
        add("sidecar-inspect", name, _inspect, "m.json", content, says,
            extra=lambda c: write(c.tmp / "m.tflite", _tiny_tflite(None)))
    # run files of the wrong shape (issue: project.json = [], compile.json = [1,2], "layers": null)
    for name, (content, says) in (("array", (b"[]", "top level")), ("number", (b"12", "top level"))):
        add("project-json-build", name, lambda c: ["build", str(c.tmp / "fw")], "fw/project.json", content, says)
        add("compile-json-report", name, lambda c: ["report", str(c.tmp / "out")], "out/fw/compile.json", content, says)
        add("search-json-report", name, lambda c: ["report", str(c.tmp / "out")], "out/se/search.json", content, says)
    for fname, variants in RUN_FILE_FIELDS.items():
        for i, (doc, says) in enumerate(variants):
            content = json.dumps(doc).encode()
            if fname == "project.json":
                add("run-file-fields", f"project-{i}", lambda c: ["emulate", str(c.tmp / "fw")], "fw/project.json",
                    content, says)
            elif fname == "compile.json":
                add("run-file-fields", f"compile-{i}", lambda c: ["profile", "--port", "socket://127.0.0.1:1",
                                                                   "--project", str(c.tmp / "fw")],
                    "fw/compile.json", content, says)
                add("run-file-fields", f"compile-report-{i}", lambda c: ["report", str(c.tmp / "out")],
                    "out/fw/compile.json", content, says)
            else:
                add("run-file-fields", f"profile-{i}", lambda c: ["report", str(c.tmp / "out")], "out/fw/profile.json",
                    content, says, extra=lambda c: write(c.tmp / "out/fw/compile.json",
                                                         json.dumps({"board": "qemu-microbit", "runtime": "native"})))
    add("search-json", "boards-null", lambda c: ["report", str(c.tmp / "out")], "out/se/search.json",
        b'{"boards": null}', "boards")
    add("project-json", "ok-but-compile-array", lambda c: ["profile", "--port", "socket://127.0.0.1:1", "--project",
                                                           str(c.tmp / "fw")], "fw/compile.json", b"[1, 2]", "top level",
        extra=lambda c: write(c.tmp / "fw/project.json", project))
    return cases


# ---- YAML inputs --------------------------------------------------------------------------------


def _yaml_cases() -> list[Case]:
    cases: list[Case] = []
    for name, (content, says) in BAD_BOARD.items():
        def setup(ctx: Ctx, content: bytes | str = content) -> None:
            write(ctx.tmp / "b" / "qemu-microbit.yaml", content)

        cases.append(Case(f"board-boards-{name}", lambda c: ["boards", str(c.tmp / "b" / "qemu-microbit.yaml"), "--json"],
                          setup, says=says))
        cases.append(Case(f"board-analyze-{name}", lambda c: ["analyze", "--space", "mcu-32", "--preset", "min", "--target",
                                                              str(c.tmp / "b" / "qemu-microbit.yaml")], setup, says=says))
    for name, (content, says) in BAD_SPACE.items():
        def setup(ctx: Ctx, content: bytes | str = content) -> None:
            write(ctx.tmp / "space.yaml", content)

        cases.append(Case(f"space-show-{name}", lambda c: ["space", "show", str(c.tmp / "space.yaml")], setup, says=says))
        cases.append(Case(f"space-analyze-{name}", lambda c: ["analyze", "--space", str(c.tmp / "space.yaml"), "--preset",
                                                              "max", "--target", "qemu-microbit"], setup, says=says))
    for name, (content, says) in BAD_SCHEDULE.items():
        def setup(ctx: Ctx, content: bytes | str = content) -> None:
            write(ctx.tmp / "schedule.yaml", content)

        cases.append(Case(f"schedule-train-{name}", lambda c: ["train", "--space", str(c.files / "space.yaml"), "--data",
                                                               f"npz:{c.files / 'digits300.npz'}", "--schedule",
                                                               str(c.tmp / "schedule.yaml"), "--out", str(c.tmp / "run")],
                          setup, says=says))
    return cases


# ---- outputs that cannot be written -------------------------------------------------------------


def _a_file(ctx: Ctx) -> None:
    write(ctx.tmp / "file", "I am a file\n")


OUTPUT_CASES = [
    Case("out-export-parent-is-file", lambda c: ["export", "--checkpoint", str(c.run), "--preset", "min", "--out",
                                                 str(c.tmp / "file" / "m.tflite")], _a_file, says="file", needs_run=True),
    Case("out-export-proc", lambda c: ["export", "--checkpoint", str(c.run), "--preset", "min", "--out",
                                       "/proc/ofa-mcu-test/m.tflite"], says="/proc", needs_run=True),
    Case("out-compile-parent-is-file", lambda c: ["compile", "--checkpoint", str(c.run), "--target", "qemu-microbit",
                                                  "--subnet", str(c.tmp / "file"), "--out", str(c.tmp / "file" / "fw")],
         _a_file, says="file", needs_run=True),
    Case("out-compile-is-file", lambda c: ["compile", "--checkpoint", str(c.run), "--target", "qemu-microbit",
                                           "--subnet", str(c.tmp / "file"), "--out", str(c.tmp / "file")],
         _a_file, says="is a file", needs_run=True),
    Case("out-train-parent-is-file", lambda c: _train(c, f"npz:{c.files / 'digits300.npz'}")[:-3]
         + ["--out", str(c.tmp / "file" / "run")], _a_file, says="file"),
    Case("out-train-proc", lambda c: _train(c, f"npz:{c.files / 'digits300.npz'}")[:-3] + ["--out", "/proc/ofa-run"],
         says="/proc"),
    Case("out-search-parent-is-file", lambda c: ["search", "--checkpoint", str(c.run), "--target", "qemu-microbit",
                                                 "--out", str(c.tmp / "file" / "se")], _a_file, says="file",
         needs_run=True),
    Case("out-report-html-parent-is-file", lambda c: ["report", str(c.tmp), "--html", str(c.tmp / "file" / "r.html")],
         _a_file, says="file"),
    Case("out-report-md-proc", lambda c: ["report", str(c.tmp), "--md", "/proc/ofa-report.md"], _a_file, says="/proc"),
    Case("out-profile-lut-parent-is-file", lambda c: ["profile", "--port", "socket://127.0.0.1:1", "--lut",
                                                      str(c.tmp / "file" / "lut.json")], _a_file, says="file"),
    Case("out-profile-lut-is-folder", lambda c: ["profile", "--port", "socket://127.0.0.1:1", "--lut", str(c.tmp)],
         says="directory"),
    Case("out-demo-parent-is-file", lambda c: ["demo", "--out", str(c.tmp / "file" / "d")], _a_file, says="file"),
]


# ---- a broken device on the serial port ---------------------------------------------------------


def _profile_fake(ctx: Ctx) -> list[str]:
    return ["profile", "--port", (ctx.tmp / "url").read_text(), "--timeout", "1", "--runs", "2", "--json"]


DEVICE_SAYS = {
    "silence": "no answer", "flood": "without a line end", "absurd-input-size": "input_bytes=1000000000000",
    "absurd-clock": "clock_hz=-5", "lap-backwards": "go backwards", "lap-too-large": "32-bit",
    "nan-results": "non-finite", "inf-results": "non-finite", "bad-results": "unreadable m-results",
    "bad-digit": "ofa-cycles-list", "bad-out": "ofa-out", "out-of-int8": "int8", "negative-cycles": "layer line",
}
DEVICE_CASES = [Case(f"device-{f}", _profile_fake, code=1, says=DEVICE_SAYS[f], device=faulty(f))
                for f in FAULTS if f in DEVICE_SAYS]


DEVICE_CASES.append(Case("device-size-other-than-model", lambda c: _profile_fake(c) + ["--project", str(c.tmp / "fw")],
                         lambda c: write(c.tmp / "fw/model.tflite", _tiny_tflite(None, (1, 4, 4, 1))),
                         code=1, says="input_bytes=8", device=faulty("lap-wrap")))


# ---- command-line values ------------------------------------------------------------------------

ARG_CASES = [
    Case("inputs-npy-empty", lambda c: ["profile", "--port", "socket://127.0.0.1:1", "--inputs", str(c.tmp / "x.npy")],
         lambda c: write(c.tmp / "x.npy", b""), says="x.npy"),
    Case("inputs-npy-float", lambda c: ["profile", "--port", "socket://127.0.0.1:1", "--inputs", str(c.tmp / "x.npy")],
         lambda c: np.save(c.tmp / "x.npy", np.zeros((1, 4, 4, 1), np.float32)), says="int8"),
    Case("inputs-npy-pickle", lambda c: ["profile", "--port", "socket://127.0.0.1:1", "--inputs", str(c.tmp / "x.npy")],
         lambda c: np.save(c.tmp / "x.npy", np.array([_Evil()], dtype=object), allow_pickle=True), says="x.npy"),
    Case("board-unknown", lambda c: ["analyze", "--space", "mcu-32", "--preset", "min", "--target", "no-such-board"],
         says="no-such-board"),
    Case("space-unknown", lambda c: ["space", "show", "no-such-space"], says="no-such-space"),
    # a board without board support (no BSP for its family, or no family at all): analysis and
    # search take it, a standalone firmware project is refused before any work, nothing written
    Case("compile-board-without-bsp", lambda c: ["compile", "--checkpoint", str(c.run), "--target", "rpi-pico",
                                                 "--out", str(c.tmp / "fw")],
         says="board rpi-pico: family 'rp2040' has no board support", needs_run=True),
    Case("compile-board-without-family", lambda c: ["compile", "--checkpoint", str(c.run), "--target",
                                                    str(c.tmp / "b" / "nofamily.yaml"), "--out", str(c.tmp / "fw")],
         lambda c: write(c.tmp / "b" / "nofamily.yaml",
                         (targets_dir() / "rpi-pico.yaml").read_text().replace("name: rpi-pico", "name: nofamily")
                         .replace("family: rp2040\n", "")),
         says="board nofamily: its YAML has no family"),
    # the MLPerf Tiny model name goes into m-model-[...] and the runner's data set path: one line
    Case("compile-model-name-bracket", lambda c: ["compile", "--checkpoint", str(c.run), "--target", "qemu-microbit",
                                                  "--out", str(c.tmp / "fw"), "--model-name", "ic01]"],
         says="--model-name 'ic01]'"),
    Case("compile-model-name-newline", lambda c: ["compile", "--checkpoint", str(c.run), "--target", "qemu-microbit",
                                                  "--out", str(c.tmp / "fw"), "--model-name", "ic\n01"],
         says="--model-name"),
    Case("compile-model-name-empty", lambda c: ["compile", "--checkpoint", str(c.run), "--target", "qemu-microbit",
                                                "--out", str(c.tmp / "fw"), "--model-name", ""],
         says="--model-name ''"),
    Case("compile-model-name-too-long", lambda c: ["compile", "--checkpoint", str(c.run), "--target", "qemu-microbit",
                                                   "--out", str(c.tmp / "fw"), "--model-name", "x" * 33],
         says="expected 1-32 letters"),
]

CASES: list[Case] = (DATA_CASES + CHECKPOINT_CASES + TFLITE_CASES + _json_cases() + _yaml_cases() + OUTPUT_CASES
                     + DEVICE_CASES + ARG_CASES)


def test_corpus_is_large_and_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    assert len(CASES) >= 100


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, request, files, tmp_path):
    # the trained run is made (once per session) only when a selected case needs it
    run = request.getfixturevalue("trained")[0] if case.needs_run else files / "no-run"
    ctx = Ctx(tmp=tmp_path, run=run, files=files)
    if case.setup:
        case.setup(ctx)
    fake = None
    if case.device is not None:
        fake = FakeDevice(case.device)
        (tmp_path / "url").write_text(fake.url)
    before = _tree(tmp_path)
    t0 = time.monotonic()
    try:
        code, out, err = run_main(case.argv(ctx))
    finally:
        if fake is not None:
            fake.close()
    seconds = time.monotonic() - t0
    says = case.says(ctx) if callable(case.says) else case.says
    errors = [ln for ln in err.splitlines() if ln.startswith(("error:", "Error:"))]
    assert "Traceback" not in err + out, err
    assert code == case.code, f"exit {code}, expected {case.code}; stderr:\n{err}"
    assert len(errors) == 1, f"expected one error line, got:\n{err}"
    assert says in errors[0], f"{says!r} not in {errors[0]!r}"
    assert len(errors[0]) < 400, errors[0]
    for bad in ("NaN", "Infinity"):
        assert bad not in out, out
    assert _tree(tmp_path) == before, f"left behind: {sorted(_tree(tmp_path) - before)}"
    assert seconds < CASE_LIMIT_S


def test_nothing_executes_from_a_data_set(files, tmp_path, capfd):
    """A pickle in a CIFAR batch naming a callable is refused before anything runs."""
    _cifar(tmp_path / "cifar", {b"data": _Evil(), b"labels": [0]})
    code, _, err = run_main(_train(Ctx(tmp_path, files / "no-run", files), f"cifar10:{tmp_path / 'cifar'}"))
    assert code == 2 and "refusing" in err
    assert "this ran from a data set" not in capfd.readouterr().out


def test_hidden_and_stray_entries_of_an_image_folder_are_not_classes(tmp_path):
    from ofa_mcu.data import load_source

    for cls in ("a", "b"):
        for i in range(3):
            _good_png(tmp_path / cls / f"{i}.png")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    write(tmp_path / "a" / ".DS_Store", b"\x00\x01")
    split = load_source(f"imagefolder:{tmp_path}")
    assert split.classes == 2 and len(split.train_y) + len(split.val_y) + len(split.test_y) == 6


def test_a_profiler_device_whose_counter_wrapped_is_measured(tmp_path):
    """A 32-bit microsecond counter that wraps between the two laps still gives the right time."""
    from ofa_mcu.profiler import profile

    with FakeDevice(faulty("lap-wrap")) as fake:
        res = profile(fake.url, runs=3, warmup=0, timeout_s=3)
    assert res.lap_ms_per_run == [pytest.approx(2.0)]


def test_stale_temporary_checkpoint_is_removed_on_resume(trained, files, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained[0], run)
    write(run / ".checkpoint.pt.k1ll3d.tmp", b"")
    code, _, err = run_main(["train", "--space", str(files / "space.yaml"), "--data", f"npz:{files / 'digits300.npz'}",
                             "--schedule", str(files / "schedule.yaml"), "--out", str(run), "--resume", "--quiet"])
    assert code == 0, err
    assert not list(run.glob(".*.tmp"))


def test_analyze_accepts_a_training_folder(trained):
    code, out, err = run_main(["analyze", "--checkpoint", str(trained[0]), "--preset", "min", "--target",
                               "qemu-microbit", "--json"])
    assert code == 0, err
    assert json.loads(out)["space"] == "tiny"


def test_json_output_never_holds_non_finite_numbers(tmp_path):
    from ofa_mcu.atomic import write_json
    from ofa_mcu.errors import WorkFailed

    with pytest.raises(WorkFailed, match="non-finite"):
        write_json(tmp_path / "x.json", {"a": float("nan")})
    assert list(tmp_path.iterdir()) == []

