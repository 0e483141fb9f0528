"""``selfheal testbed ...`` and ``selfheal inject ...``: the demo shop."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
