"""A new user's first day (issue 14, points 2 and 3): relative paths follow the configuration
file, read-only commands never create a database, and expected failures are one plain line."""

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from sqlalchemy.engine import make_url

from crawler.cli.commands import cli
from tests.conftest import PG_URL, REPO, need_service, run_cli, write_config
from tests.smtp import refused_port

READ_ONLY = [
    ["status"],
    ["search"],
    ["show", "1"],
    ["alerts", "list"],
    ["digest", "--preview"],
    ["web", "--port", "1"],
]


def one_line_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The stderr of a failed command: one line, our prefix, no traceback, not 'a bug'."""
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("mediawatch: error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "a bug" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def no_outlets(path: Path, url: str) -> Path:
    return write_config(path, {"database": {"url": url}, "catalogue": {"include": []}})


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a))
def test_read_only_commands_never_create_a_database(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "elsewhere").mkdir()
    config = no_outlets(tmp_path / "etc" / "mediawatch.toml", "sqlite:///mw.db")
    result = run_cli("--config", str(config), *args, cwd=tmp_path / "elsewhere")
    one_line_error(result, 1, "no database at", "mw.db", "mediawatch crawl")
    assert not list(tmp_path.rglob("*.db")), "a read-only command created a database"


def test_relative_paths_follow_the_configuration_file(tmp_path: Path) -> None:
    etc, elsewhere = tmp_path / "etc", tmp_path / "elsewhere"
    etc.mkdir()
    elsewhere.mkdir()
    config = no_outlets(etc / "mediawatch.toml", "sqlite:///mw.db")
    crawl = run_cli("--config", str(config), "crawl", cwd=elsewhere)
    assert crawl.returncode == 0, crawl.stderr
    assert (etc / "mw.db").is_file()
    assert not list(elsewhere.iterdir())
    status = run_cli("--config", "../etc/mediawatch.toml", "status", cwd=elsewhere)
    assert status.returncode == 0, status.stderr
    assert not list(elsewhere.iterdir())


def test_missing_database_directory_is_named_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    config = no_outlets(tmp_path / "m.toml", f"sqlite:///{missing}/x.db")
    result = run_cli("--config", str(config), "crawl", cwd=tmp_path)
    one_line_error(result, 1, str(missing), "does not exist")
    assert not missing.parent.exists()


def test_init_into_a_missing_directory_names_it(tmp_path: Path) -> None:
    result = run_cli("init", "sub/dir/x.toml", cwd=tmp_path)
    one_line_error(result, 1, "sub/dir", "does not exist")
    assert not (tmp_path / "sub").exists()


def _pg(user: str, port: int, database: str) -> str:
    return f"postgresql+psycopg://{user}@127.0.0.1:{port}/{database}"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (_pg("postgres", 5432, "mw_no_such_db"), ['database "mw_no_such_db"', "createdb"]),
        (_pg("mw_no_such_role", 5432, "postgres"), ['role "mw_no_such_role"', "createuser"]),
        # libpq's plain form is accepted and means psycopg, as the message proves.
        ("postgresql://postgres@127.0.0.1:5432/mw_no_such_db", ['database "mw_no_such_db"']),
    ],
    ids=["missing database", "missing role", "plain postgresql://"],
)
def test_postgresql_failures_are_one_line(tmp_path: Path, url: str, words: list[str]) -> None:
    need_service("PostgreSQL", 5432)
    config = no_outlets(tmp_path / "m.toml", url)
    one_line_error(run_cli("--config", str(config), "status"), 1, *words, "[database] url")


def test_postgresql_not_listening_is_one_line(tmp_path: Path) -> None:
    with refused_port() as port:
        config = no_outlets(tmp_path / "m.toml", _pg("postgres", port, "mediawatch"))
        result = run_cli("--config", str(config), "crawl")
    one_line_error(result, 1, f"cannot reach PostgreSQL on 127.0.0.1:{port}", "start the server")


def test_unsupported_postgresql_driver_is_a_configuration_error(tmp_path: Path) -> None:
    config = no_outlets(tmp_path / "m.toml", "postgresql+psycopg2://a@localhost/mw")
    result = run_cli("--config", str(config), "status")
    assert result.returncode == 2, result.stderr
    assert "database.url" in result.stderr and "postgresql+psycopg://" in result.stderr
    assert "Traceback" not in result.stderr


def test_password_never_shown_for_an_unknown_failure(tmp_path: Path) -> None:
    need_service("PostgreSQL", 5432)
    url = make_url(PG_URL).set(password="s3cret-pw", query={"sslmode": "require"})
    config = no_outlets(tmp_path / "m.toml", url.render_as_string(hide_password=False))
    result = run_cli("--config", str(config), "status")
    one_line_error(result, 1)
    assert "s3cret-pw" not in result.stderr


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive with articles and alerts, from the offline demo."""
    folder = tmp_path_factory.mktemp("demo")
    result = run_cli("demo", "--dir", str(folder / "d"), cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder / "d" / "mediawatch.toml"


# How the closed-pipe test runs each command against the demo's archive. A command added later
# and not named here runs with no arguments; one that never ends by itself (a daemon, a server)
# runs with --help only, as every command also does.
COMMAND_ARGS: dict[str, list[str] | None] = {
    "alerts retry": ["--failed"],
    "digest": ["--preview"],
    "init": ["new.toml"],
    "rules explain": [str(REPO / "crawler" / "demo" / "content" / "cismoa-oped.txt")],
    "show": ["1"],
    "topics suggest": ["1"],
    "demo": ["--dir", "another-demo"],
    "run": None,
    "web": None,
    "worker": None,
}
# Commands whose output has another shape in JSON: run that way too.
JSON_TOO = ["search", "show", "status", "alerts list", "outlets list", "trends", "spikes"]


def every_command() -> list[tuple[str, ...]]:
    """Each command of `mediawatch` (the click group as it is now), by its words."""
    found: list[tuple[str, ...]] = []

    def walk(group: click.Group, path: tuple[str, ...]) -> None:
        for name, command in sorted(group.commands.items()):
            if isinstance(command, click.Group):
                walk(command, (*path, name))
            else:
                found.append((*path, name))

    walk(cli, ())
    return found


def invocations() -> list[list[str]]:
    runs = []
    for words in every_command():
        name = " ".join(words)
        runs.append([*words, "--help"])
        args = COMMAND_ARGS.get(name, [])
        if args is not None:
            runs.append([*words, *args])
            if name in JSON_TOO:
                runs.append([*words, *args, "--format", "json"])
    return runs


def test_the_closed_pipe_test_knows_the_commands() -> None:
    names = {" ".join(w) for w in every_command()}
    assert {"search", "alerts list", "rules explain", "demo"} <= names
    assert set(COMMAND_ARGS) <= names, set(COMMAND_ARGS) - names


@pytest.mark.parametrize("args", invocations(), ids=lambda a: " ".join(a))
def test_closed_stdout_is_quiet(demo_config: Path, tmp_path: Path, args: list[str]) -> None:
    """Every command, its output going into a pipe whose reader has gone: no traceback, no
    'a bug', nothing about the pipe; exit 141 as a shell reports SIGPIPE (or the command's own
    status when it had nothing to write)."""
    config = ["--config", str(demo_config)]
    # The reading end is closed before the command starts: every write meets a closed pipe.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            # `init` writes the file --config names: here, a new one of its own.
            [sys.executable, "-m", "crawler", *([] if args[0] == "init" else config), *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=tmp_path,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
            timeout=180,
        )
    finally:
        os.close(write_end)
    stderr = result.stderr.decode()
    for sign in ("Traceback", "a bug", "BrokenPipe", "Exception ignored", "Errno 32"):
        assert sign not in stderr, stderr
    if args[-1] == "--help":
        assert stderr == "" and result.returncode == 141, (result.returncode, stderr)
    else:
        assert result.returncode in (0, 1, 141), (result.returncode, stderr)
