"""Entry point of the ``selfheal`` command; gathers the command families.

Each family lives in its own module (``testbed``, ``bench``, ``loop``). They are
imported only when one of their commands runs, so ``selfheal pause`` does not
pay for the benchmark readers' imports (pandas, networkx, ...).
"""

from __future__ import annotations

import importlib

import click

from selfheal import __version__

# command name -> module that defines it (the module's attribute has the same name)
_COMMANDS: dict[str, str] = {
    "testbed": "selfheal.cli.testbed",
    "inject": "selfheal.cli.testbed",
    "bench": "selfheal.cli.bench",
    "detector": "selfheal.cli.detector",
    "demo": "selfheal.cli.loop",
    "scenario": "selfheal.cli.scenario",
    "run": "selfheal.cli.loop",
    "incidents": "selfheal.cli.loop",
    "audit": "selfheal.cli.loop",
    "pause": "selfheal.cli.loop",
    "resume": "selfheal.cli.loop",
    "approve": "selfheal.cli.loop",
    "deny": "selfheal.cli.loop",
}


class _LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = _COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(module_name)
        for command in module.COMMANDS:
            if command.name == cmd_name:
                return command  # type: ignore[no-any-return]
        raise RuntimeError(f"{module_name} does not define the command {cmd_name!r}")


@click.group(cls=_LazyGroup)
@click.version_option(__version__, prog_name="selfheal")
def cli() -> None:
    """selfheal: detect, diagnose, decide, act, verify, roll back, audit."""


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
