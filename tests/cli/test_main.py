"""The ``selfheal`` entry point: every command resolves, and light commands stay light."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from selfheal.cli.main import _COMMANDS, cli


def test_every_listed_command_resolves_to_its_module() -> None:
    ctx = cli.make_context("selfheal", [], resilient_parsing=True)
    for name in _COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_pause_does_not_import_the_benchmark_readers() -> None:
    code = (
        "import sys\n"
        "from selfheal.cli.main import cli\n"
        "try:\n"
        "    cli(['pause', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('pandas' in sys.modules, 'selfheal.cli.bench' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False False"
