"""The command line as users meet it: help with examples, documented commands, exit codes."""

import re
from pathlib import Path

import click
import pytest

from crawler.cli import cli
from tests.conftest import REPO, run_cli


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        found.append((full, cmd))
        if isinstance(cmd, click.Group):
            found.extend(commands(cmd, full + " "))
    return found


ALL = commands(cli)


@pytest.mark.parametrize(("name", "command"), ALL, ids=[n for n, _ in ALL])
def test_every_command_help_ends_with_an_example(name: str, command: click.Command) -> None:
    assert command.epilog and "Example:" in command.epilog and "mediawatch" in command.epilog


@pytest.mark.parametrize("name", [n for n, _ in ALL])
def test_every_command_is_in_the_readme(name: str) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"mediawatch {re.escape(name)}\b", readme), (
        f"`mediawatch {name}` not in README"
    )


def test_help_runs() -> None:
    result = run_cli("search", "--help")
    assert result.returncode == 0 and "Example:" in result.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    (tmp_path / "m.toml").write_text(f'[database]\nurl = "{db}"\n')
    cfg = str(tmp_path / "m.toml")
    assert run_cli("--config", cfg, "search", "--since", "yesterday-ish").returncode == 2
    assert run_cli("--config", cfg, "search", "--format", "xml").returncode == 2
    missing = run_cli("--config", cfg, "show", "999")
    assert missing.returncode == 1 and "no article with id 999" in missing.stderr


def test_scrapy_sees_the_spider() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "list"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "outlet" in result.stdout.split()
