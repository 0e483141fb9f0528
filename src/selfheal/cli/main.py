"""Entry point of the ``selfheal`` command; gathers the command families."""

from __future__ import annotations

import click

from selfheal import __version__
from selfheal.cli import bench, loop, testbed


@click.group()
@click.version_option(__version__, prog_name="selfheal")
def cli() -> None:
    """selfheal: detect, diagnose, decide, act, verify, roll back, audit."""


for _family in (testbed, bench, loop):
    for _command in _family.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
