"""Database faults during a real `mediawatch crawl`: a SQLite write lock held by another process,
and a PostgreSQL server that goes away mid-crawl. Nothing is lost, nothing is remembered as
seen that was not stored, and the reactor keeps crawling meanwhile."""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from crawler.demo.site import FixtureSite, Page, rss
from tests.conftest import REPO, REQUIRE_SERVICES, skip_or_fail, wait_until, write_config
from tests.site import FILLER, article

LOCK_SECONDS = 10

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def outlet_site(
    site: FixtureSite, outlet: str, n: int, delay: float = 0.0, feed_delay: float = 0.0
) -> dict[str, Any]:
    """`n` articles on `site` under /<outlet>/, listed in its feed; the outlet's config."""
    now = datetime.now(UTC)
    items = [
        article(f"/{outlet}/opinion/{i}/piece", f"{outlet} piece {i}", 1, [FILLER * 3], now)
        for i in range(1, n + 1)
    ]
    for a in items:
        site.add_article(a, outlet)
        site.routes[a.path].delay = delay
    site.add_rss(f"/{outlet}/feed.xml", outlet, items)
    site.routes[f"/{outlet}/feed.xml"].delay = feed_delay
    return {
        "id": outlet,
        "name": outlet,
        "country": "PK",
        "feeds": [site.url(f"/{outlet}/feed.xml")],
    }


def crawl(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "crawler", "--config", str(config), "crawl", "--format", "json"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def finished(process: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    summary: dict[str, Any] = json.loads(out)
    return {o["id"]: o for o in summary["outlets"]}


def config_for(tmp: Path, url: str, outlets: list[dict[str, Any]]) -> Path:
    return write_config(
        tmp / "mediawatch.toml",
        {
            "database": {"url": url},
            "crawl": {"download_delay": 0, "retries": 0, "timeout": "20s"},
            "email": {"outbox_dir": str(tmp / "outbox")},
            "catalogue": {"include": []},
            "outlets": outlets,
        },
    )


def rows(url: str, query: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(query)).all())
    finally:
        engine.dispose()


def test_a_sqlite_write_lock_held_for_10s_stalls_no_crawl_and_loses_nothing(
    tmp_path: Path,
) -> None:
    site = FixtureSite().start()
    try:
        # held: its not-an-article page is dropped (a write) while the lock is held;
        # other: its feed answers after the lock is taken, its articles are fetched under it.
        held = outlet_site(site, "held", 1, delay=1.0)
        site.add("/held/opinion/9/short", Page(b"<html><body><p>Oops.</p></body></html>"))
        site.routes["/held/opinion/9/short"].delay = 1.0
        held_items = [site.url("/held/opinion/1/piece"), site.url("/held/opinion/9/short")]
        feed_items = [
            article(u.removeprefix(site.base), "held item", 1, [FILLER], datetime.now(UTC))
            for u in held_items
        ]
        site.add("/held/feed.xml", Page(rss("held", site.base, feed_items).encode()))
        other = outlet_site(site, "other", 3, feed_delay=2.0)
        db_file = tmp_path / "mw.db"
        url = f"sqlite:///{db_file}"
        config = config_for(tmp_path, url, [held, other])
        running = crawl(config)
        wait_until(
            "both feeds requested (runs started)",
            lambda: site.fetch_count("/held/feed.xml") and site.fetch_count("/other/feed.xml"),
            60,
        )
        locker = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(db_file), str(LOCK_SECONDS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        # Under the lock: "held"'s pages come back and wait to be written; the reactor goes
        # on, so "other"'s feed is read and its articles fetched before the lock is let go.
        wait_until(
            "other's articles fetched while the lock is held",
            lambda: all(site.fetch_count(f"/other/opinion/{i}/piece") for i in (1, 2, 3)),
            LOCK_SECONDS - 2,
        )
        assert locker.poll() is None, "the lock was released before the crawl progressed"
        assert site.fetch_count("/held/opinion/9/short") == 1
        outlets = finished(running)
        locker.wait(30)
        assert outlets["held"]["new_articles"] == 1 and outlets["other"]["new_articles"] == 3
        assert "database" not in outlets["held"]["error_kinds"]  # the writes waited
        assert rows(url, "SELECT outcome FROM seen_urls WHERE url_key LIKE '%/short'") == [
            ("not_article",)
        ]
        assert rows(url, "SELECT DISTINCT status FROM crawl_runs") == [("ok",)]
    finally:
        site.stop()


def seen_count(url: str) -> int:
    try:
        return len(rows(url, "SELECT 1 FROM seen_urls"))
    except ProgrammingError:  # the crawl has not created the tables yet
        return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayPostgres:
    """A PostgreSQL server of our own in a temporary directory, to stop and start at will."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            skip_or_fail(
                "PostgreSQL's server binaries (initdb, pg_ctl) are not in /usr/lib/postgresql",
                REQUIRE_SERVICES,
                "MEDIAWATCH_REQUIRE_SERVICES",
            )
        self.bin = Path(found[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="mediawatch-pg-"))
        self.port = free_port()
        # initdb refuses to run as root: run the server as the postgres user then.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [*self.as_user, str(self.bin / tool), *args], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"{tool}: {result.stdout}{result.stderr}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", f"{self.dir}/log", "-w", "start"
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(
            [
                *self.as_user,
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    server.start()
    yield server
    server.remove()


def test_postgresql_gone_mid_crawl_fails_the_run_and_the_next_run_stores_the_rest(
    tmp_path: Path, postgres: ThrowawayPostgres
) -> None:
    site = FixtureSite().start()
    try:
        # The first article comes back at once, the others after the server is gone: 10 s
        # later, time enough on a loaded machine (3 s once let all five be stored first).
        outlet = outlet_site(site, "pg", 5, delay=10.0)
        site.routes["/pg/opinion/1/piece"].delay = 0.0
        config = config_for(tmp_path, postgres.url, [outlet])
        running = crawl(config)
        wait_until("the first article stored", lambda: seen_count(postgres.url) > 0, 60)
        postgres.stop()
        first = finished(running)["pg"]
        assert first["error_kinds"].get("database", 0) >= 1
        postgres.start()
        stored = {r[0] for r in rows(postgres.url, "SELECT url FROM articles")}
        seen = rows(postgres.url, "SELECT url_key, outcome, article_id FROM seen_urls")
        # nothing is remembered that was not stored
        assert len(seen) == len(stored) == first["new_articles"] >= 1
        assert all(outcome == "stored" and article_id for _, outcome, article_id in seen)
        assert rows(postgres.url, "SELECT status FROM crawl_runs WHERE status = 'ok'") == []
        second = finished(crawl(config))["pg"]
        assert second["error_kinds"] == {}
        assert first["new_articles"] + second["new_articles"] == 5
        assert len(rows(postgres.url, "SELECT id FROM articles")) == 5
    finally:
        site.stop()
