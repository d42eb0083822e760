"""The `mediawatch` command line: the commands, their output formats and logging, and the two
diagnostics that only the command line runs (`rules explain`, `outlets check`)."""

from crawler.cli.commands import cli, main

__all__ = ["cli", "main"]
