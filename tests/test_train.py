"""Training: progressive shrinking on a small digits subset, checkpoints, resume, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from helpers import run_cli
from helpers import train_args as _train_args

from ofa_mcu.checkpoint import load_checkpoint, read_state, save_state
from ofa_mcu.errors import UserError


def test_train_writes_checkpoint_and_metrics(trained):
    out, proc = trained
    metrics = json.loads((out / "metrics.json").read_text())
    kinds = [p["phase"] for p in metrics["phases"]]
    assert kinds == ["full", "kernel", "depth-1", "depth-2", "expand-1", "expand-2"]
    for p in metrics["phases"]:
        assert {"min_acc", "mid_acc", "max_acc", "loss", "time_s"} <= set(p)
        assert 0.0 <= p["min_acc"] <= 1.0
    assert len(metrics["epochs"]) == 7
    last = metrics["phases"][-1]
    assert last["max_acc"] > 0.3  # ten classes: well above chance after 7 tiny epochs
    ck = load_checkpoint(out)
    assert ck.done and ck.space.classes == 10 and ck.space.in_channels == 1 and ck.data.startswith("npz:")
    assert "phase expand-2" in proc.stdout and "checkpoint:" in proc.stdout


def test_checkpoint_feeds_analyze(trained):
    out, _ = trained
    d = json.loads(run_cli("analyze", "--checkpoint", str(out / "checkpoint.pt"), "--preset", "max",
                           "--target", "qemu-microbit", "--runtime", "native", "--json", check=True).stdout)
    assert d["space"] == "tiny" and d["layers"][-1]["out_shape"] == [10]


def test_bad_checkpoints(tmp_path, trained):
    out, _ = trained
    good = (out / "checkpoint.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(UserError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "trunc.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(UserError, match="not an ofa-mcu checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(UserError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    proc = run_cli("analyze", "--checkpoint", str(tmp_path / "trunc.pt"), "--preset", "min")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "truncated" in proc.stderr


def test_existing_run_needs_resume(files, trained):
    out, _ = trained
    proc = run_cli(*_train_args(files, out))
    assert proc.returncode == 2 and "--resume" in proc.stderr


def test_resume_after_sigkill_reproduces_uninterrupted_run(files, trained):
    """Kill a run (SIGKILL) after its second epoch checkpoint, resume it, compare with the
    uninterrupted run: the same weights bit for bit, and at most one epoch was lost."""
    out = files / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "ofa_mcu", *_train_args(files, out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = out / "checkpoint.pt"
    deadline = time.time() + 300
    while time.time() < deadline:
        if ckpt.exists():
            try:
                if len(read_state(ckpt)["metrics"]["epochs"]) >= 2:
                    break
            except UserError:
                pass  # being replaced right now
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(read_state(ckpt)["metrics"]["epochs"])
    assert 2 <= done_before < 7
    run_cli(*_train_args(files, out, "--resume"), check=True)
    resumed, reference = read_state(ckpt), read_state(trained[0] / "checkpoint.pt")
    assert len(resumed["metrics"]["epochs"]) == 7 and resumed["done"]
    for k, v in reference["model"].items():
        assert torch.equal(v, resumed["model"][k]), k


def _ddp_worker(rank: int, world: int, port: int, files, result_dir) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from ofa_mcu.space import load_space
    from ofa_mcu.train.schedule import Phase, Schedule
    from ofa_mcu.train.trainer import Trainer, TrainOptions

    sched = Schedule(name="ddp", batch_size=16, subnets_per_step=3, kd_ratio=1.0, bn_calib_samples=32,
                     phases=(Phase(kind="full", epochs=1, lr=0.05), Phase(kind="kernel", epochs=1, lr=0.02)))
    t = Trainer(TrainOptions(load_space(str(files / "space.yaml")), f"npz:{files / 'digits300.npz'}",
                             result_dir / "run", sched, seed=3, quiet=True))
    t.run()
    torch.save(t.net.state_dict(), result_dir / f"rank{rank}.pt")


def test_two_process_ddp_ranks_end_identical(files, tmp_path):
    from ofa_mcu.qemu import free_port

    torch.multiprocessing.start_processes(_ddp_worker, args=(2, free_port(), files, tmp_path), nprocs=2,
                                          start_method="spawn")
    a, b = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert (tmp_path / "run" / "checkpoint.pt").exists()


def test_save_state_is_atomic(tmp_path):
    save_state(tmp_path / "c.pt", {"x": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


@pytest.mark.parametrize("name", ["quick", "default", "demo", "cpu-40min", "gpu"])
def test_shipped_schedules_load(name):
    from ofa_mcu.train.schedule import load_schedule

    sched = load_schedule(name)
    assert sched.name == name and sched.phases[0].kind == "full"


def test_training_subset_and_one_teacher_pass_per_resolution(files, tmp_path):
    """``train_images`` / ``val_images`` pick stratified subsets; a step queries the frozen teacher
    once per resolution it trains at, not once per subnet."""
    import random

    from ofa_mcu.space import load_space
    from ofa_mcu.train.schedule import Phase, load_schedule
    from ofa_mcu.train.trainer import Trainer, TrainOptions, _step_subnets

    sched = load_schedule(str(files / "schedule.yaml")).model_copy(update={"train_images": 96, "val_images": 30})
    t = Trainer(TrainOptions(space=load_space(str(files / "space.yaml")), data=f"npz:{files / 'digits300.npz'}",
                             out=tmp_path, schedule=sched, quiet=True))
    assert len(t.train_x) == 96 and set(t.train_y.tolist()) == set(range(10)) and len(t.val_x) == 30
    assert len(t.data.train_x) > 96  # BN recalibration and quantization still draw from the whole split
    t.teacher = t._frozen_copy()
    calls: list[int] = []
    forward = t.teacher.forward
    t.teacher.forward = lambda x: (calls.append(x.shape[-1]), forward(x))[1]
    phase = Phase(kind="expand-2", epochs=1, lr=0.01)
    t._epoch(t.net, t._optimizer(phase), phase, torch.from_numpy(t.train_x), torch.from_numpy(t.train_y))
    expected = []
    for step in range(96 // sched.batch_size):
        cfgs = _step_subnets(phase, t.space, sched.subnets_per_step, random.Random(f"0/0/{step}"))
        expected += list(dict.fromkeys(c.resolution for c in cfgs))
    assert calls == expected and len(calls) < 3 * (96 // sched.batch_size)
