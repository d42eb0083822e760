"""A crawl worker killed mid-job (kill -9, the OOM killer, a lost machine) blocks nothing."""

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import fresh_redis, wait_until, write_config
from tests.site import build, outlets_config
from tests.smtp import SmtpServer

# db 9 belongs to tests/test_queue.py (it flushes it); this file flushes only db 10.
REDIS_URL = "redis://127.0.0.1:6379/10"


@pytest.fixture
def redis_url() -> Iterator[str]:
    with fresh_redis(REDIS_URL) as url:
        yield url


def _gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_worker_killed_mid_crawl_is_replaced_and_nothing_happens_twice(
    tmp_path: Path, redis_url: str
) -> None:
    site = build()
    slow = site.site.routes[site.paths["a2"]]
    slow.delay = 600  # the first crawl hangs on this article until its worker is killed
    smtp = SmtpServer().start()
    alpha = outlets_config(site)[0]
    alpha["interval"] = "2s"
    db = tmp_path / "mw.db"
    config = write_config(
        tmp_path / "mediawatch.toml",
        {
            "database": {"url": f"sqlite:///{db}"},
            "crawl": {"download_delay": 0, "max_page_mb": 2, "retries": 0, "shutdown_grace": "10s"},
            "email": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port},
            "catalogue": {"include": []},
            "outlets": [alpha],
            "queue": {"url": redis_url},
        },
    )
    base = [sys.executable, "-m", "crawler", "--config", str(config)]
    log = (tmp_path / "log.txt").open("ab")

    def worker() -> subprocess.Popen[bytes]:
        # Its own process group: killing it kills its job process and extraction workers
        # too, as a lost machine would.
        return subprocess.Popen(
            [*base, "worker"], stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
        )

    def stored() -> list[tuple[str, str]]:
        if not db.exists():
            return []
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT url_key, url FROM articles").fetchall()

    def alerts() -> list[tuple[int, str, str]]:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT story_id, subscription, status FROM alerts").fetchall()

    def all_sent() -> bool:
        queued = alerts()
        return bool(queued) and {a[2] for a in queued} == {"sent"}

    daemon = subprocess.Popen([*base, "run"], stdout=subprocess.DEVNULL, stderr=log)
    first = worker()
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_until(
            "the first worker's crawl fetching the slow article",
            lambda: site.fetches("a2") >= 1,
            90,
        )
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        wait_until("every process of the killed worker gone", lambda: _gone(first.pid), 20)
        slow.delay = 0  # the site recovers; the dead job is still marked started in Redis
        second = worker()
        wait_until(
            "the outlet crawled again, its slow article stored",
            lambda: any(key.endswith(site.paths["a2"]) for key, _ in stored()),
            90,
        )
        wait_until("every queued alert sent", lambda: all_sent(), 60)
        # One more full crawl after that: it must neither store nor send anything again.
        feed = site.paths["alpha_rss"]
        before = site.site.fetch_count(feed)
        wait_until("a later crawl", lambda: site.site.fetch_count(feed) >= before + 2, 60)
        assert daemon.poll() is None, "the daemon stopped"
    finally:
        for proc in (daemon, second):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(60) for proc in (daemon, second) if proc is not None]
        smtp.stop()
        site.site.stop()
        log.close()
    assert codes == [0, 0], (tmp_path / "log.txt").read_text()[-3000:]
    rows = stored()
    assert len(rows) == 5 and len({key for key, _ in rows}) == 5
    queued = alerts()
    assert len({(story, to) for story, to, _ in queued}) == len(queued) and all_sent()
    urls = [str(m["X-Mediawatch-Article-URL"]) for m in smtp.messages]
    assert (len(urls), len(set(urls))) == (len(queued), len(queued)), urls
    assert set(urls) <= {url for _, url in rows}
