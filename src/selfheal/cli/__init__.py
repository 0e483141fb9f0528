"""Command line: ``selfheal``. Each submodule owns one family of commands."""
