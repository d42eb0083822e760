"""What every `mediawatch` command shares: the --config option, loading the configuration it
names, the `Example:` epilog and JSON output.

Kept apart from commands.py so that the modules commands.py registers (trends.py) or calls
(ruletools.py) can use them without importing it back.
"""

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from crawler.config import Config, load_config

F = TypeVar("F", bound=Callable[..., Any])


def config_option(f: F) -> F:
    """--config works before or after the command name."""
    return click.option(
        "--config",
        "config_path",
        metavar="PATH",
        default=None,
        help="Configuration file (default: $MEDIAWATCH_CONFIG, else ./mediawatch.toml).",
    )(f)


def config_path_given(config_path: str | None) -> str | None:
    """The innermost --config given: this command's, else its group's, else the root's."""
    ctx: click.Context | None = click.get_current_context()
    while config_path is None and ctx is not None:
        ctx = ctx.parent
        if ctx is not None:
            config_path = ctx.params.get("config_path")
    return config_path


def load(config_path: str | None) -> Config:
    """The configuration named by the innermost --config (command, its group, or the root)."""
    return load_config(config_path_given(config_path))


def example(text: str) -> str:
    """The `Example:` epilog every command's --help ends with."""
    return "\b\nExample:\n  " + text


def emit_json(data: Any) -> None:
    """JSON on stdout, UTF-8 kept readable."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))
