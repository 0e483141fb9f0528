"""``selfheal bench ...``: the benchmark commands (NAB, RCA)."""

from __future__ import annotations

import click

from selfheal.cli.bench_nab import nab


@click.group()
def bench() -> None:
    """Run a benchmark on a public labelled dataset."""


bench.add_command(nab)

COMMANDS: list[click.Command] = [bench]
