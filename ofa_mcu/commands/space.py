"""`ofa-mcu space show|sample`: inspect search spaces and sample subnets from them."""

from __future__ import annotations

import click

from ofa_mcu.commands.options import echo_json, json_option
from ofa_mcu.config import SubnetConfig
from ofa_mcu.ir import build_graph
from ofa_mcu.space import load_space, space_names
from ofa_mcu.table import fmt_int, render


@click.group()
def space() -> None:
    """Inspect search spaces (shipped: mcu-32, mcu-imagenet) and sample subnets."""


@space.command("list")
@json_option
def list_spaces(as_json: bool) -> None:
    """List the shipped search spaces."""
    names = space_names()
    if as_json:
        echo_json(names)
    else:
        click.echo("\n".join(names))


@space.command("show")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """Show the stages, elastic choices and the min/max subnet figures of space NAME."""
    sp = load_space(name)
    if as_json:
        echo_json(sp.to_dict())
        return
    click.echo(f"{sp.name}: {sp.description}")
    click.echo(f"  input: {sp.in_channels} channels, resolutions {list(sp.resolutions)}; classes {sp.classes}")
    click.echo(f"  stem: {sp.stem.channels} ch, {sp.stem.kernel}x{sp.stem.kernel} stride {sp.stem.stride}; "
               f"first block: {sp.first_block.channels} ch")
    click.echo(f"  kernels {list(sp.kernels)}, expand ratios {list(sp.expands)}")
    rows = [(i, st.channels, st.stride, ",".join(map(str, st.depths))) for i, st in enumerate(sp.stages)]
    click.echo(render(["stage", "channels", "stride", "depths"], rows))
    for label, cfg in (("min", SubnetConfig.min(sp)), ("max", SubnetConfig.max(sp))):
        g = build_graph(sp, cfg)
        click.echo(f"  {label}: resolution {cfg.resolution}, {fmt_int(g.macs)} MACs, {fmt_int(g.params)} params")


@space.command("sample")
@click.argument("name")
@click.option("--n", "count", type=click.IntRange(1), default=1, show_default=True, help="How many subnets.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@json_option
def sample(name: str, count: int, seed: int, as_json: bool) -> None:
    """Sample N random subnets of space NAME (JSON with --json, usable as --subnet files)."""
    sp = load_space(name)
    cfgs = [SubnetConfig.sample(sp, seed + i) for i in range(count)]
    if as_json:
        echo_json(cfgs[0].to_dict() if count == 1 else [c.to_dict() for c in cfgs])
        return
    rows = []
    for c in cfgs:
        g = build_graph(sp, c)
        ks = "".join(str(b.kernel) for _, _, b in c.blocks())
        es = "".join(str(b.expand) for _, _, b in c.blocks())
        rows.append((c.stable_hash(), c.resolution, ",".join(map(str, c.depths)), ks, es, fmt_int(g.macs)))
    click.echo(render(["hash", "res", "depths", "kernels", "expands", "MACs"], rows))
