"""`ofa-mcu demo`: the main job end to end on the embedded default (digits, emulated boards)."""

from __future__ import annotations

import click

from ofa_mcu.analysis import analyze
from ofa_mcu.boards import load_board
from ofa_mcu.commands.analyze import format_analysis
from ofa_mcu.config import SubnetConfig
from ofa_mcu.space import load_space
from ofa_mcu.table import fmt_bytes, fmt_int, render

DEMO_BOARDS = ("qemu-netduinoplus2", "qemu-microbit")


@click.command()
@click.option("--space", "space_name", default="mcu-32", show_default=True, help="Search space.")
@click.option("--board", "boards", multiple=True, default=DEMO_BOARDS, show_default=True,
              help="Boards to analyse against (repeatable).")
@click.option("--samples", type=click.IntRange(0), default=4, show_default=True, help="Random subnets besides min/max.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
def demo(space_name: str, boards: tuple[str, ...], samples: int, seed: int) -> None:
    """Build the supernet, sample subnets and analyse them against boards (per-layer memory)."""
    from ofa_mcu.supernet import Supernet, extract

    sp = load_space(space_name).for_task(classes=10, in_channels=1)
    net = Supernet(sp)
    n_params = sum(p.numel() for p in net.parameters())
    click.echo(f"supernet {sp.name}: {fmt_int(n_params)} parameters, {len(sp.stages)} elastic stages")
    boards_ = [load_board(b) for b in boards]
    cfgs = [("min", SubnetConfig.min(sp)), ("max", SubnetConfig.max(sp))]
    cfgs += [(f"sample {i}", SubnetConfig.sample(sp, seed + i)) for i in range(samples)]
    for label, cfg in cfgs[:2]:
        static = extract(net, cfg)
        click.echo(f"\n{label} subnet extracted: {fmt_int(sum(p.numel() for p in static.parameters()))} parameters")
        for board in boards_:
            click.echo("")
            click.echo(format_analysis(analyze(sp, cfg, board, "tflm")))
    rows = []
    for label, cfg in cfgs:
        for board in boards_:
            for runtime in ("tflm", "native"):
                a = analyze(sp, cfg, board, runtime)
                rows.append((label, cfg.stable_hash(), board.name, runtime, fmt_int(a.graph.macs),
                             fmt_bytes(a.peak_sram_bytes), fmt_bytes(a.sram.limit),
                             fmt_bytes(a.flash_bytes), fmt_bytes(a.flash.limit), "yes" if a.fits else "no"))
    click.echo("")
    click.echo(render(["subnet", "hash", "board", "runtime", "MACs", "peak SRAM", "usable SRAM", "flash",
                       "usable flash", "fits"], rows, title="summary"))
