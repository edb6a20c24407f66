"""`ofa-mcu demo`: the main job end to end on the embedded default, in one command.

Train the supernet once on Fashion-MNIST (space mcu-28, native 28x28, the ``demo`` schedule: a
training subset sized to keep the whole demo within about 10 minutes on 2 CPU cores; ``--data
digits`` is the old embedded default: mcu-32, ``quick``), search one subnet per board for a
family of three boards of very different size (choosing on the validation split), export each to INT8, render its firmware
project, build and run the emulated boards in QEMU and profile them over the serial protocol,
then write the report, whose accuracies are on the held-out test split. Real boards get their
project and the commands to build and flash it.

Output folder (``--out``, default ``demo-out``)::

    train/           checkpoint.pt, metrics.json, accuracy-cache.json (the search's measurements)
    search/<runtime>/search.json, pareto-<board>.png (one search per runtime of the family)
    fw/<board>/      the firmware project (compile.json, export.json, model.tflite, ...), and for
                     emulated boards build/, build.json and profile.json
    demo.json        what each step did, what it reused, and the keys that decide reuse
    report.html, report.md

A rerun reuses every finished step whose inputs did not change (a finished checkpoint, an
unfinished one is resumed; the search results; compiled projects; profiles of an unchanged
firmware image); ``--fresh`` starts over.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ofa_mcu import __version__
from ofa_mcu.artifacts import (
    BUILD_INFO,
    COMPILE_INFO,
    DEMO_STATE,
    EXPORT_REPORT,
    PROFILE_FILE,
    read_compile_info,
    read_export_report,
    read_profile,
    read_search,
    search_entry,
    search_path,
    write_run_file,
)
from ofa_mcu.atomic import check_writable, write_json
from ofa_mcu.commands.options import seed_option
from ofa_mcu.errors import OfaMcuError, UserError, WorkFailed
from ofa_mcu.runtimes import default_runtime, get_runtime
from ofa_mcu.userfiles import read_json

DEMO_BOARDS = ("nucleo-f746zg", "qemu-netduinoplus2", "qemu-microbit")
DEMO_DATA = "fashion-mnist"
# per data set of the demo: the space and the schedule it trains with (data as config)
DEMO_DEFAULTS = {"fashion-mnist": {"space": "mcu-28", "schedule": "demo"},
                 "digits": {"space": "mcu-32", "schedule": "quick"}}
DEMO_SPACE = DEMO_DEFAULTS[DEMO_DATA]["space"]
PREDICTOR_SAMPLES = 50
VAL_IMAGES = 2000  # validation images the demo's search measures each subnet on (a stratified subset)
TEST_IMAGES = 1000  # test images of the INT8 export's float / INT8 accuracy (TFLM: ~30 ms per image here)
PROFILE_IMAGES = 4
PROFILE_RUNS = 2
STATE_FORMAT = "ofa-mcu-demo/1"
STEPS = ("train", "search", "compile", "build", "profile", "report")


def runtime_for(board: Any) -> str:
    """The runtime `ofa-mcu compile` picks for ``board`` (the registry's default: native on emulated
    boards, TFLM on real ones)."""
    return default_runtime(board)


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps([__version__, *parts], sort_keys=True, default=str).encode()).hexdigest()[:20]


class Progress:
    """A tqdm bar for one step (silent when stderr is not a terminal) fed by progress messages."""

    def __init__(self, desc: str, total: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="step", leave=False, disable=None, dynamic_ncols=True,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")

    def __call__(self, message: str) -> None:
        if self.bar.n < (self.bar.total or 0):
            self.bar.update(1)
        self.bar.set_postfix_str(message[:70], refresh=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


@dataclass
class Demo:
    """One run of the demo: the output folder, the saved state, and what each board reached."""

    out: Path
    schedule: str  # quick, default or a schedule YAML
    seed: int
    board_specs: list[str]  # board names or board YAML paths
    predictor_samples: int = PREDICTOR_SAMPLES
    space: str = DEMO_SPACE  # a shipped space or a space YAML
    data: str = DEMO_DATA
    val_images: int | None = VAL_IMAGES
    state: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    t0: float = field(default_factory=time.time)
    boards: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        from ofa_mcu.boards import load_board

        self.boards = [load_board(b) for b in dict.fromkeys(self.board_specs)]
        self.board_files = {b.name: spec for b, spec in zip(self.boards, dict.fromkeys(self.board_specs))
                            if spec != b.name}

    # ---- bookkeeping --------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.out / DEMO_STATE

    def load_state(self) -> None:
        try:
            data = read_json(self.state_path)
            self.state = data if data.get("format") == STATE_FORMAT else {}
        except UserError:  # missing or damaged: start the bookkeeping afresh
            self.state = {}
        self.state.update({"format": STATE_FORMAT, "boards": [b.name for b in self.boards], "seed": self.seed,
                           "schedule": self.schedule, "steps": []})
        self.state.setdefault("keys", {})
        self.state["status"] = {b.name: {"runtime": runtime_for(b), "status": "pending"} for b in self.boards}
        self.state["commands"] = {}
        self.state["board_files"] = {k: str(Path(v).absolute()) for k, v in self.board_files.items()}

    def save_state(self) -> None:
        self.state["wall_s"] = round(time.time() - self.t0, 1)
        write_json(self.state_path, self.state)

    def reusable(self, name: str, key: str, *paths: Path) -> bool:
        return self.state["keys"].get(name) == key and all(p.exists() for p in paths)

    def done(self, step: str, what: str, line: str, t_start: float, reused: bool = False) -> None:
        seconds = time.time() - t_start
        self.state["steps"].append({"step": step, "what": what, "seconds": round(seconds, 1), "reused": reused,
                                    "result": line})
        n = STEPS.index(step) + 1
        tag = "reused" if reused else f"{seconds:.0f}s"
        click.echo(f"[{n}/{len(STEPS)}] {step:<8} {what + ': ' if what else ''}{line}  ({tag})")
        self.save_state()

    def status(self, board: str, status: str, note: str | None = None) -> None:
        entry = self.state["status"][board]
        entry["status"] = status
        if note:
            entry["note"] = note

    def fail(self, step: str, board: str, err: Exception) -> None:
        msg = f"{step} failed for {board}: {err}"
        self.failures.append(msg)
        self.status(board, "failed", msg)
        click.echo(f"[{STEPS.index(step) + 1}/{len(STEPS)}] {step:<8} {board}: FAILED: {err}", err=True)
        self.save_state()

    # ---- 1. train -----------------------------------------------------------------------
    def train(self) -> Path:
        from ofa_mcu.checkpoint import FILENAME, read_state
        from ofa_mcu.space import load_space
        from ofa_mcu.train.schedule import load_schedule
        from ofa_mcu.train.trainer import Trainer, TrainOptions

        t = time.time()
        folder = self.out / "train"
        ckpt = folder / FILENAME
        resume = False
        sched, space = load_schedule(self.schedule), load_space(self.space)
        if ckpt.exists():
            st = read_state(ckpt)
            have = (st.get("data"), st["space"]["name"], (st.get("schedule") or {}).get("name"), st.get("seed"))
            want = (self.data, space.name, sched.name, self.seed)
            if have != want:
                raise UserError(f"{ckpt} was trained on {have[0]} / {have[1]} with schedule {have[2]} and seed {have[3]}, "
                                f"not {want[0]} / {want[1]} / {want[2]} / {want[3]}: pass --fresh to start over, or "
                                "choose another --out")
            same_schedule = st.get("schedule") == sched.model_dump(mode="json")
            if st.get("done"):
                note = "" if same_schedule else (f" (note: {sched.name}.yaml has changed since; --fresh retrains "
                                                 "with the current one)")
                self.done("train", "", f"{ckpt} is finished ({sched.name} schedule): {_accs(st.get('metrics'))}{note}",
                          t, reused=True)
                return ckpt
            if not same_schedule:
                raise UserError(f"{ckpt}: the unfinished run used another version of the {sched.name} schedule: "
                                "pass --fresh to start over")
            resume = True
            click.echo(f"train: resuming {ckpt} (phase {st['phase'] + 1}, epoch {st['epoch'] + 1})")
        click.echo(f"train: supernet {space.name} on {self.data}, {sched.name} schedule "
                   f"({sched.total_epochs} epochs in {len(sched.phases)} phases of progressive shrinking)")
        trainer = Trainer(TrainOptions(space=space, data=self.data, out=folder, schedule=sched, seed=self.seed,
                                       resume=resume))
        metrics = trainer.run()
        self.done("train", "", f"{ckpt}: {_accs(metrics)}", t)
        return ckpt

    # ---- 2. search ----------------------------------------------------------------------
    def search(self, ckpt: Path) -> dict[str, Path]:
        """Search per runtime of the family; returns board -> search folder (feasible boards only)."""
        from ofa_mcu.checkpoint import read_space
        from ofa_mcu.search import SearchOptions, run_search
        from ofa_mcu.search.predictor import file_hash
        from ofa_mcu.search.run import board_constraints

        space = read_space(ckpt)
        ckpt_hash = file_hash(ckpt)
        groups: dict[str, list[Any]] = {}
        for b in self.boards:
            rt = runtime_for(b)
            opts = SearchOptions(checkpoint=ckpt, targets=[b.name], out=self.out, runtime=rt)
            reason = board_constraints(b, space, opts).explain_infeasible()
            if reason:
                self.status(b.name, "no-fit", reason)
                self.done("search", b.name, f"SKIPPED: {reason}", time.time())
                continue
            groups.setdefault(rt, []).append(b)
        folders: dict[str, Path] = {}
        for rt, members in groups.items():
            t = time.time()
            folder = self.out / "search" / rt
            names = [b.name for b in members]
            key = _key(ckpt_hash, names, rt, self.predictor_samples, self.seed, self.val_images)
            result, reused = None, False
            if self.reusable(f"search:{rt}", key, search_path(folder)):
                cached = read_search(folder)
                if all(n in cached.get("boards", {}) for n in names):
                    result, reused = cached, True
            if result is None:
                click.echo(f"search: {', '.join(names)} ({rt} runtime): accuracy predictor on "
                           f"{self.predictor_samples} measured subnets, then evolution per board")
                result = run_search(SearchOptions(checkpoint=ckpt, targets=names, out=folder, runtime=rt,
                                                  seed=self.seed, predictor_samples=self.predictor_samples,
                                                  val_images=self.val_images),
                                    log=lambda m: click.echo(f"search: {m}"))
                self.state["keys"][f"search:{rt}"] = key
            for b in members:
                e = result["boards"][b.name]
                folders[b.name] = folder
                self.status(b.name, "searched")
                self.done("search", b.name,
                          f"subnet {e['subnet_hash']} (res {e['subnet']['resolution']}, {e['macs']:,} MACs): "
                          f"{100 * e['test_acc']:.1f}% test accuracy, SRAM {e['peak_sram_bytes'] / 1024:.1f} of "
                          f"{e['limits']['sram_bytes'] / 1024:.1f} KB, flash {e['flash_bytes'] / 1024:.1f} of "
                          f"{e['limits']['flash_bytes'] / 1024:.1f} KB ({rt})", t, reused=reused)
        return folders

    # ---- 3. compile ---------------------------------------------------------------------
    def compile(self, ckpt: Path, board: Any, search_dir: Path) -> Path | None:
        from ofa_mcu.firmware.compile import compile_project
        from ofa_mcu.search.predictor import file_hash

        t = time.time()
        rt = runtime_for(board)
        fw = self.out / "fw" / board.name
        entry = search_entry(search_dir, board.name)
        key = _key(file_hash(ckpt), entry["subnet"], rt, board.name, self.seed, TEST_IMAGES)
        reused = self.reusable(f"compile:{board.name}", key, fw / COMPILE_INFO, fw / EXPORT_REPORT)
        if reused:
            info = read_compile_info(fw) or {}
        else:
            try:
                with Progress(f"compile {board.name}", get_runtime(rt).compile_steps) as bar:
                    res = compile_project(ckpt, board, fw, rt, search_dir=search_dir, seed=self.seed,
                                          test_images=TEST_IMAGES, progress=bar)
            except OfaMcuError as e:
                self.fail("compile", board.name, e)
                return None
            info = res.info
            self.state["keys"][f"compile:{board.name}"] = key
        acc, p = info.get("accuracy") or {}, info.get("predicted") or {}
        self.status(board.name, "compiled")
        self.done("compile", board.name,
                  f"INT8 export {100 * acc.get('float', 0):.1f}% float / {100 * acc.get('int8', 0):.1f}% int8, "
                  f"arena {p.get('arena_bytes', 0):,} B, flash {p.get('flash_bytes', 0):,} B ({rt}) -> {fw}",
                  t, reused=reused)
        return fw

    # ---- 4. build + 5. profile (emulated boards) ----------------------------------------
    def build(self, board: Any, fw: Path) -> Any:
        from ofa_mcu.firmware.build import build_project, size_summary

        t = time.time()
        with Progress(f"build {board.name}", 1) as bar:
            bar("cmake + arm-none-eabi-gcc")
            try:
                res = build_project(fw, jobs=os.cpu_count() or 2)
            except OfaMcuError as e:
                self.fail("build", board.name, e)
                return None
        summary = size_summary(res, board, read_compile_info(fw))
        write_run_file(fw, BUILD_INFO, {**res.as_dict(), "size": summary})
        self.status(board.name, "built")
        self.done("build", board.name,
                  f"{res.elf}: flash {summary['flash_bytes']:,} of {summary.get('chip_flash_bytes', 0):,} B, RAM "
                  f"(arena + stack + data) {summary['ram_bytes']:,} of {summary.get('chip_ram_bytes', 0):,} B", t)
        return res

    def profile(self, board: Any, fw: Path, built: Any) -> None:
        t = time.time()
        xs, labels = _test_inputs(fw, PROFILE_IMAGES, self.seed)
        elf_hash = hashlib.sha256(Path(built.elf).read_bytes()).hexdigest()
        key = _key(elf_hash, hashlib.sha256(xs.tobytes()).hexdigest(), PROFILE_RUNS)
        reused = self.reusable(f"profile:{board.name}", key, fw / PROFILE_FILE)
        if reused:
            data = read_profile(fw)
        else:
            from ofa_mcu.emulation import profile_emulated

            try:
                with Progress(f"profile {board.name}", 2 * len(xs) + 1) as bar:
                    data = profile_emulated(board, fw, built.elf, xs, labels, runs=PROFILE_RUNS, progress=bar)
            except OfaMcuError as e:
                self.fail("profile", board.name, e)
                return
            write_run_file(fw, PROFILE_FILE, data)
            self.state["keys"][f"profile:{board.name}"] = key
        instr = (data.get("latency_instructions") or {}).get("mean") or 0.0
        ms = 1000.0 * instr / board.clock_hz  # one instruction per cycle: what the report shows
        mem, check = data.get("memory", {}), data["check"]
        verdict = (f"outputs equal host TFLM bit for bit on {check['inputs']}/{check['inputs']} images"
                   if check["match"] else f"OUTPUTS DIFFER from host TFLM on {check['mismatches']}/{check['inputs']}")
        self.status(board.name, "profiled" if check["match"] else "failed",
                    None if check["match"] else f"device outputs differ from host TFLM on {check['mismatches']} inputs")
        if not check["match"]:
            self.failures.append(f"{board.name}: device outputs differ from host TFLM")
        self.done("profile", board.name,
                  f"{instr:,.0f} instructions per inference in QEMU = {ms:.2f} ms at {board.clock_hz / 1e6:g} MHz "
                  f"(1 per cycle), "
                  f"arena {mem.get('arena_used', 0):,} of {mem.get('arena_bytes', 0):,} B, stack "
                  f"{mem.get('stack_used', 0):,} B; {verdict}, {check['correct']}/{check['inputs']} correct", t,
                  reused=reused)

    # ---- real boards --------------------------------------------------------------------
    def real_board_commands(self, board: Any, fw: Path) -> None:
        cmds = [f"ofa-mcu build {fw} --tflm-dir /path/to/tflm-tree",
                f"ofa-mcu flash {fw}",
                f"ofa-mcu profile --port /dev/ttyACM0 --project {fw}"]
        self.state["commands"][board.name] = cmds
        self.status(board.name, "compiled", f"real board: firmware project in {fw}; not built here (needs a TFLM "
                                            "source tree) and not flashed")
        click.echo(f"{board.name} is a real board ({board.description}): build, flash and profile it with")
        for c in cmds:
            click.echo(f"    {c}")

    # ---- the whole demo -------------------------------------------------------------------
    def run(self) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter (export step)
        self.out.mkdir(parents=True, exist_ok=True)
        self.load_state()
        self.save_state()
        click.echo(f"ofa-mcu demo: {self.space} on {self.data} for "
                   + ", ".join(f"{b.name} ({runtime_for(b)})" for b in self.boards) + f" -> {self.out}")
        ckpt = self.train()
        folders = self.search(ckpt)
        projects: dict[str, Path] = {}
        for b in self.boards:
            if b.name in folders:
                fw = self.compile(ckpt, b, folders[b.name])
                if fw is not None:
                    projects[b.name] = fw
        for b in self.boards:
            fw = projects.get(b.name)
            if fw is None:
                continue
            if b.emulated:
                self.state["commands"][b.name] = [f"ofa-mcu emulate {fw} --profile"]
                built = self.build(b, fw)
                if built is not None:
                    self.profile(b, fw, built)
            else:
                self.real_board_commands(b, fw)
        t = time.time()
        self.save_state()
        from ofa_mcu.report import family_table_text, write_report

        data, html, md = write_report(self.out)
        self.done("report", "", f"{html} and {md}", t)
        click.echo("")
        click.echo(family_table_text(data))
        for name, st in self.state["status"].items():
            if st.get("status") in ("no-fit", "failed"):
                click.echo(f"{name}: {st.get('note')}")
        click.echo(f"\ndemo finished in {time.time() - self.t0:.0f} s")
        click.echo(f"report: {html.absolute()}")
        if self.failures:
            raise WorkFailed(f"{len(self.failures)} step(s) failed: " + "; ".join(self.failures))


def _accs(metrics: Any) -> str:
    phases = (metrics or {}).get("phases") or []
    if not phases:
        return "no phase finished"
    last = phases[-1]
    return (f"validation accuracy after {last['phase']}: largest {100 * last['max_acc']:.1f}%, middle "
            f"{100 * last['mid_acc']:.1f}%, smallest {100 * last['min_acc']:.1f}%")


def _test_inputs(fw: Path, n: int, seed: int) -> tuple[Any, Any]:
    """``n`` test images in the model's int8 input quantization (N, H, W, C) and their labels."""
    import numpy as np
    import torch

    from ofa_mcu.data import load_source, resize

    export = read_export_report(fw) or {}
    q = export["input"]
    _, h, _, _ = q["shape"]
    data = load_source(export.get("data", DEMO_DATA), seed)  # the split the checkpoint was trained with
    img = resize(torch.from_numpy(data.test_x[:n]), h).numpy().transpose(0, 2, 3, 1)
    xq = np.clip(np.round(img.astype(np.float64) / q["scale"]) + q["zero_point"], -128, 127).astype(np.int8)
    return np.ascontiguousarray(xq), data.test_y[:n]


def _fresh(out: Path) -> None:
    for name in ("train", "search", "fw"):
        shutil.rmtree(out / name, ignore_errors=True)
    for name in (DEMO_STATE, "report.html", "report.md"):
        (out / name).unlink(missing_ok=True)


@click.command()
@click.option("--out", "out", type=click.Path(file_okay=False), default="demo-out", show_default=True,
              help="Output folder (reused by a rerun: finished steps are not repeated).")
@click.option("--data", "data", type=click.Choice(sorted(DEMO_DEFAULTS)), default=DEMO_DATA, show_default=True,
              help="Data set: fashion-mnist (space mcu-28) or digits (space mcu-32, the old default).")
@click.option("--schedule", default=None,
              help="Training schedule: demo (fashion-mnist's default: a training subset, minutes on 2 CPU cores), "
                   "quick (digits' default), default (longer, more accurate), cpu-40min, or a schedule YAML.")
@click.option("--fresh", is_flag=True, help="Start over: delete the previous run's training, search and projects.")
@seed_option
@click.option("--board", "boards", multiple=True, default=DEMO_BOARDS, show_default=True,
              help="Boards of the family (repeatable): emulated ones are built, run in QEMU and profiled.")
@click.option("--predictor-samples", type=click.IntRange(min=10), default=PREDICTOR_SAMPLES, show_default=True,
              help="Subnets measured to train the search's accuracy predictor.")
def demo(out: str, data: str, schedule: str | None, fresh: bool, seed: int, boards: tuple[str, ...],
         predictor_samples: int) -> None:
    """Train once, then deploy a fitted INT8 subnet to a family of boards, end to end.

    Steps: train the supernet (Fashion-MNIST on mcu-28, or --data digits on mcu-32) -> search one
    subnet per board on the validation split (native runtime on emulated boards, TFLM on real
    ones) -> INT8 export + firmware project per board -> build, run in QEMU and profile the
    emulated boards over the serial protocol -> OUT/report.html and OUT/report.md. Real boards get
    their project and the commands to build and flash it. Ends with the family table (test-set
    accuracy).
    """
    from ofa_mcu.data import load_source
    from ofa_mcu.train.schedule import load_schedule

    out_path = Path(out)
    check_writable(out_path, folder=True)
    defaults = DEMO_DEFAULTS[data]
    schedule = schedule or defaults["schedule"]
    load_schedule(schedule)  # a bad name is a one-line error before any work
    load_source(data, seed)  # so is a missing data set (fashion-mnist: the Debian package)
    run = Demo(out_path, schedule, seed, list(boards), predictor_samples=predictor_samples, space=defaults["space"],
               data=data)  # boards checked first
    if fresh and out_path.exists():
        _fresh(out_path)
    run.run()
    sys.stdout.flush()
