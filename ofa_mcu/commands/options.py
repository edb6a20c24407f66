"""Options shared by several verbs and the code that resolves them into objects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ofa_mcu.config import SubnetConfig
from ofa_mcu.runtimes import runtime_names, runtimes
from ofa_mcu.space import SearchSpace, load_space

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of tables.")
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Random seed (reproducible results).")
runtime_option = click.option("--runtime", type=click.Choice(runtime_names()), default=runtime_names()[0],
                              show_default=True, help="Runtime on the device: " + "; ".join(
                                  f"{rt.name}: {rt.description}" for rt in runtimes()) + ".")


def space_options(f: Callable) -> Callable:
    """--space NAME or --checkpoint CKPT (the space is then read from the checkpoint)."""
    f = click.option("--checkpoint", type=click.Path(), default=None,
                     help="Supernet checkpoint (a file or a training folder); its search space (with its classes) "
                          "is used.")(f)
    f = click.option("--space", "space_name", default=None,
                     help="Search space name (mcu-32, mcu-imagenet) or YAML path.")(f)
    return f


def resolve_space(space_name: str | None, checkpoint: str | None) -> SearchSpace:
    if space_name and checkpoint:
        raise click.UsageError("give either --space or --checkpoint, not both")
    if checkpoint:
        from ofa_mcu.checkpoint import read_space

        return read_space(checkpoint)
    if not space_name:
        raise click.UsageError("missing --space NAME (or --checkpoint CKPT)")
    return load_space(space_name)


def subnet_options(f: Callable) -> Callable:
    f = click.option("--preset", type=click.Choice(["min", "max"]), default=None,
                     help="Use the smallest or largest subnet of the space.")(f)
    f = click.option("--subnet", "subnet_file", type=click.Path(dir_okay=False), default=None,
                     help="Subnet JSON file (from `space sample` or a search result).")(f)
    return f


def resolve_subnet(space: SearchSpace, subnet_file: str | None, preset: str | None) -> SubnetConfig:
    if bool(subnet_file) == bool(preset):
        raise click.UsageError("give exactly one of --subnet FILE or --preset min|max")
    if preset:
        return SubnetConfig.min(space) if preset == "min" else SubnetConfig.max(space)
    return SubnetConfig.load(subnet_file).validate(space, source=subnet_file)


def echo_json(obj: Any) -> None:
    from ofa_mcu.atomic import dumps_json

    click.echo(dumps_json(obj, indent=2))
