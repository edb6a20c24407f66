"""The `ofa-mcu` command: a click group whose verbs live in ``ofa_mcu/commands/``.

Verbs are imported only when used, so `ofa-mcu --help` and light verbs never pay for torch or
TensorFlow. Errors of the tool (``OfaMcuError``) become one line on stderr with exit code 2 for
bad input and 1 for failed work; click's usage errors keep click's exit code 2.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from ofa_mcu import __version__
from ofa_mcu.errors import OfaMcuError

# verb -> "module:attribute" of a click.Command; one line per verb keeps additions conflict-free.
COMMANDS: dict[str, str] = {
    "boards": "ofa_mcu.commands.boards:boards",
    "space": "ofa_mcu.commands.space:space",
    "analyze": "ofa_mcu.commands.analyze:analyze",
    "demo": "ofa_mcu.commands.demo:demo",
    "train": "ofa_mcu.commands.train:train",
    "search": "ofa_mcu.commands.search:search",
    "export": "ofa_mcu.commands.export:export",
    "inspect": "ofa_mcu.commands.inspect:inspect",
    "compile": "ofa_mcu.commands.compile:compile_cmd",
    "build": "ofa_mcu.commands.build:build",
    "flash": "ofa_mcu.commands.flash:flash",
    "emulate": "ofa_mcu.commands.emulate:emulate",
    "profile": "ofa_mcu.commands.profile:profile",
    "report": "ofa_mcu.commands.report:report",
}


class LazyGroup(click.Group):
    """A group that imports each verb's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ofa-mcu")
def cli() -> None:
    """Train one Once-for-All supernet, then deploy a fitted INT8 subnet to each MCU board.

    Typical flow: train -> search -> export -> compile -> build/flash or emulate -> profile.
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the group and map errors to exit codes."""
    # OpenMP threads that spin while they wait (libgomp's default) stall torch by 10x and more when
    # the cores are shared with other processes (measured: benchmarks/train_speed.py); sleeping
    # waiters cost little on an idle machine. Read when torch loads libgomp, so set before any
    # verb imports torch; a value the user set wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        rv = cli.main(args=argv, prog_name="ofa-mcu", standalone_mode=False)
    except click.exceptions.Abort as e:
        if isinstance(e.__cause__, EOFError):  # click turns an EOFError from our code into Abort
            click.echo(f"error: unexpected end of a file (truncated input?): {e.__cause__}", err=True)
            sys.exit(2)
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except OfaMcuError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
