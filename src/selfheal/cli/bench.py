"""``selfheal bench ...``: the benchmark commands (NAB, RCA)."""

from __future__ import annotations

import click

from selfheal.cli.bench_nab import nab
from selfheal.cli.bench_rca import rca


@click.group()
def bench() -> None:
    """Run a benchmark on a public labelled dataset."""


bench.add_command(nab)
bench.add_command(rca)

COMMANDS: list[click.Command] = [bench]
