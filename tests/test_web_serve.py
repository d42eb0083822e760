"""`mediawatch web` as a process: it says it serves only once it does (the database opened and
the port bound), a port in use or a missing database is one line and exit 1, and SIGTERM
stops it as cleanly as Ctrl-C, as `mediawatch run` does."""

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import BASE_PG_URL, create_database, need_service, run_cli, wait_until
from tests.smtp import free_port
from tests.web import answers

BANNER = "mediawatch web UI on"


def archive_config(tmp_path: Path, url: str | None = None) -> Path:
    """A configuration with no outlets over `url` (default: a migrated SQLite archive)."""
    if url is None:
        url = f"sqlite:///{tmp_path / 'mw.db'}"
        create_database(url)
    path = tmp_path / "mediawatch.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n\n[catalogue]\ninclude = []\n\n[web]\ntoken = ""\n',
        encoding="utf-8",
    )
    return path


def one_error_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The whole of stderr of a failed `mediawatch web`: one line, no banner, no traceback."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mediawatch: error:"), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_port_in_use_is_one_line_and_exit_1_without_the_banner(tmp_path: Path) -> None:
    config = archive_config(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--config", str(config), "web", "--port", str(port), timeout=60)
    line = one_error_line(result, f"port {port} on 127.0.0.1 is in use", "--port")
    assert BANNER not in result.stderr and "Errno" not in line


def test_missing_postgresql_database_is_said_before_any_banner(tmp_path: Path) -> None:
    need_service("PostgreSQL", 5432)
    url = make_url(BASE_PG_URL).set(database="mediawatch_web_no_such_db")
    config = archive_config(tmp_path, url.render_as_string(hide_password=False))
    result = run_cli("--config", str(config), "web", "--port", str(free_port()), timeout=60)
    one_error_line(result, '"mediawatch_web_no_such_db" does not exist', "createdb")
    assert BANNER not in result.stderr


def start_web(config: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`mediawatch web` in its own process, once it answers; the process and its base URL."""
    port = free_port()
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler", "--config", str(config), "web", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until("the web UI to answer", lambda: answers(base + "/healthz"), 30)
    except AssertionError:
        proc.kill()
        raise
    return proc, base


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_stops_it_cleanly_with_exit_0(tmp_path: Path, sig: signal.Signals) -> None:
    proc, base = start_web(archive_config(tmp_path), tmp_path / "web.log")
    proc.send_signal(sig)
    assert proc.wait(30) == 0, (tmp_path / "web.log").read_text()
    said = (tmp_path / "web.log").read_text()
    assert BANNER in said and "Traceback" not in said
    assert not answers(base + "/healthz")
