"""The `mediawatch` command line: the commands, their output formats and logging, and the two
diagnostics that only the command line runs (`rules explain`, `outlets check`).

`main`, the console script, loads the commands only once it runs: that takes a second or more
(pydantic, SQLAlchemy, Scrapy's pieces), and a Ctrl-C meanwhile must end as it does in any
command, in one line and exit 130, not in a traceback.
"""

import sys
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from crawler.cli.commands import cli

__all__ = ["EXIT_INTERRUPTED", "cli", "interrupted", "main"]

# 128 + SIGINT: what a shell reports for a program stopped by Ctrl-C.
EXIT_INTERRUPTED = 130


def interrupted() -> NoReturn:
    """End the program after a Ctrl-C that nothing else handled (a crawl handles its own)."""
    print("mediawatch: stopped by SIGINT", file=sys.stderr)
    sys.exit(EXIT_INTERRUPTED)


def main() -> None:
    """Console-script entry point."""
    try:
        from crawler.cli.commands import main as run
    except KeyboardInterrupt:
        interrupted()
    run()


def __getattr__(name: str) -> Any:
    # `from crawler.cli import cli` still works, without loading the commands for `main`.
    if name == "cli":
        from crawler.cli.commands import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
