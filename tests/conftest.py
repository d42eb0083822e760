"""Shared fixtures: a temporary world per test (config, database, fixture site, services)."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import pytest

from crawler.demo.command import to_toml
from tests.golden import REALWORLD

REPO = Path(__file__).resolve().parent.parent
# The demo's op-ed (CISMOA, with TTP and FATF mentions), shipped in the package.
CISMOA_OPED = (
    resources.files("crawler.demo").joinpath("content", "cismoa-oped.txt").read_text("utf-8")
)
BASE_PG_URL = os.environ.get(
    "MEDIAWATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# pytest-xdist runs the suite in several processes ("gw0", "gw1", ...): each gets a PostgreSQL
# database of its own beside the configured one (test_gw0, ...), since every PostgreSQL test
# drops and recreates its schema.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def _worker_pg_url(base: str, worker: str) -> str:
    if not worker:
        return base
    from sqlalchemy.engine import make_url

    url = make_url(base)
    return url.set(database=f"{url.database}_{worker}").render_as_string(hide_password=False)


PG_URL = _worker_pg_url(BASE_PG_URL, XDIST_WORKER)
REQUIRE_SERVICES = os.environ.get("MEDIAWATCH_REQUIRE_SERVICES") == "1"
REQUIRE_GOLDEN = os.environ.get("MEDIAWATCH_REQUIRE_GOLDEN") == "1"


def skip_or_fail(message: str, required: bool, variable: str) -> NoReturn:
    """Skip with the reason; when `variable`=1 says it must be there (as in CI), fail instead."""
    if required:
        pytest.fail(f"{message}, and {variable}=1 makes that a failure", pytrace=False)
    pytest.skip(message)


def service_up(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need_service(name: str, port: int) -> None:
    """Skip (or, under MEDIAWATCH_REQUIRE_SERVICES=1, fail) when a local service is absent."""
    if not service_up("127.0.0.1", port):
        message = f"{name} is not running on 127.0.0.1:{port}"
        skip_or_fail(message, REQUIRE_SERVICES, "MEDIAWATCH_REQUIRE_SERVICES")


GOLDEN_FILES = ("htmldate/expected.json", "aeb/ground-truth.json", "fundus/expected.json")


def need_golden(folder: Path = REALWORLD, required: bool = REQUIRE_GOLDEN) -> Path:
    """The extraction golden set (../shared/realworld); skip without it, or fail under
    MEDIAWATCH_REQUIRE_GOLDEN=1 (as in CI), where a missing set would hide a regression."""
    missing = [name for name in GOLDEN_FILES if not (folder / name).is_file()]
    if missing:
        message = (
            f"the extraction golden set is not at {folder} (missing {', '.join(missing)}); "
            "put a copy of the shared folder beside the clone"
        )
        skip_or_fail(message, required, "MEDIAWATCH_REQUIRE_GOLDEN")
    return folder


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> None:
    """Poll `check` until it holds; fail naming `what` after `timeout` seconds.

    The one way tests wait for another process (a daemon, a worker, a web server): the
    deadline is the assertion, so no test sleeps for a fixed time and hopes.
    """
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


# Why this process's PostgreSQL database could not be made (pytest_configure), for pg_url.
WORKER_DB_ERROR: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Create this xdist worker's PostgreSQL database if it is missing. Any error is kept for
    the PostgreSQL tests to report (pg_url), not raised here, where it would stop every test."""
    if PG_URL == BASE_PG_URL:
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(BASE_PG_URL)
    if not service_up(base.host or "127.0.0.1", base.port or 5432):
        return
    name = make_url(PG_URL).database
    admin = create_engine(BASE_PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server's own words, for the tests that need it
        WORKER_DB_ERROR.append(
            f"could not create this test process's PostgreSQL database {name!r} through "
            f"{base.render_as_string(hide_password=True)} (MEDIAWATCH_TEST_PG_URL): "
            f"{' '.join(str(exc).split())[:300]}"
        )
    finally:
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A clean PostgreSQL schema for one test."""
    need_service("PostgreSQL", 5432)
    if WORKER_DB_ERROR:
        skip_or_fail(WORKER_DB_ERROR[0], REQUIRE_SERVICES, "MEDIAWATCH_REQUIRE_SERVICES")
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield PG_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs on SQLite and on the local PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("pg_url"))


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(to_toml(data), encoding="utf-8")
    return path


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 240,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `mediawatch ARGS` as a user would, in its own process."""
    full_env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    full_env.pop(
        "MEDIAWATCH_CONFIG", None
    ) if env is None or "MEDIAWATCH_CONFIG" not in env else None
    return subprocess.run(
        [sys.executable, "-m", "crawler", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


def cli_json(*args: str, **kwargs: Any) -> Any:
    result = run_cli(*args, **kwargs)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def create_database(url: str) -> None:
    """An empty, migrated archive at `url`: the read-only commands (search, show, status, web)
    never create one, so their tests start from this."""
    from storage.db import open_database

    with open_database(url):
        pass


@contextmanager
def fresh_redis(url: str) -> Iterator[str]:
    """The Redis database at `url`, flushed before and after. Each test file owns one db
    (9, 10, 11), and `--dist loadscope` (pyproject.toml) runs a file in one process, so no
    other test process flushes it meanwhile; another --dist would need a db per process."""
    need_service("Redis", 6379)
    from redis import Redis

    client = Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()


CHROMIUM = "/usr/bin/chromium"  # Debian's: Playwright drives it and downloads no browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium for the web UI's browser tests, one per test module."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} missing (apt-get install chromium)"
        skip_or_fail(message, REQUIRE_SERVICES, "MEDIAWATCH_REQUIRE_SERVICES")
    from playwright.sync_api import sync_playwright

    # No sandbox (tests may run as root in a container); nothing that reaches the internet.
    quiet = ["--disable-quic", "--disable-background-networking", "--disable-component-update"]
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync", *quiet],
        )
        yield b
        b.close()
