"""The `mediawatch` command line: the commands, their output formats and logging."""

from crawler.cli.commands import cli, main

__all__ = ["cli", "main"]
