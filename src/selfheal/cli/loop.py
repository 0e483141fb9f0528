"""``selfheal demo|run|incidents|audit|pause|resume|approve|deny``."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
