"""`ofa-mcu train`: train the supernet once by progressive shrinking (resumable, torchrun-aware)."""

from __future__ import annotations

from pathlib import Path

import click

from ofa_mcu.commands.options import seed_option


@click.command()
@click.option("--space", "space_name", default="mcu-32", show_default=True,
              help="Search space name (mcu-32, mcu-imagenet) or YAML path.")
@click.option("--data", "data", default="digits", show_default=True,
              help="Data source: digits, fashion-mnist, idx:DIR, npz:PATH, imagefolder:PATH or cifar10:PATH.")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True,
              help="Output folder: checkpoint.pt (every epoch) and metrics.json.")
@click.option("--schedule", default="quick", show_default=True,
              help="Schedule: quick or demo (minutes), default, cpu-40min (Fashion-MNIST on 2 CPU cores), gpu "
                   "(Fashion-MNIST on a GPU), or a schedule YAML path.")
@seed_option
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True, help="Training device.")
@click.option("--quiet", is_flag=True, help="No progress bars; one line per phase.")
def train(space_name: str, data: str, out: str, schedule: str, seed: int, resume: bool, device: str,
          quiet: bool) -> None:
    """Train the supernet on DATA so that every subnet is accurate without retraining.

    Phases: full network -> elastic kernel -> elastic depth -> elastic expand, with distillation
    from the full network. Run under `torchrun --nproc_per_node N -m ofa_mcu train ...` for
    distributed data-parallel training (gloo on CPU, nccl on GPU).
    """
    from ofa_mcu.atomic import check_writable
    from ofa_mcu.space import load_space

    check_writable(out, folder=True)
    from ofa_mcu.train.schedule import load_schedule
    from ofa_mcu.train.trainer import Trainer, TrainOptions

    opts = TrainOptions(space=load_space(space_name), data=data, out=Path(out), schedule=load_schedule(schedule),
                        seed=seed, device=device, resume=resume, quiet=quiet)
    trainer = Trainer(opts)
    metrics = trainer.run()
    if trainer.dist.main:
        last = metrics["phases"][-1] if metrics["phases"] else {}
        click.echo(f"checkpoint: {trainer.ckpt_path}  (max {last.get('max_acc', 0):.3f}, "
                   f"mid {last.get('mid_acc', 0):.3f}, min {last.get('min_acc', 0):.3f} validation accuracy)")
