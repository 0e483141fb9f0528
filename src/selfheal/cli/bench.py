"""``selfheal bench ...``: the benchmark commands (NAB, RCA)."""

from __future__ import annotations

import click


@click.group()
def bench() -> None:
    """Run a benchmark on a public labelled dataset."""


COMMANDS: list[click.Command] = [bench]
