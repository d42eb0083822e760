"""Crawl jobs over the local Redis: `mediawatch run` queues them, `mediawatch worker` runs them."""

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.config import config_from_dict
from tests.conftest import cli_json, need_service, wait_until, write_config
from tests.site import build, outlets_config
from tests.smtp import SmtpServer

REDIS_URL = "redis://127.0.0.1:6379/9"


@pytest.fixture
def redis_url() -> Iterator[str]:
    need_service("Redis", 6379)
    from redis import Redis

    client = Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


def test_one_job_per_outlet_at_a_time(tmp_path: Path, redis_url: str) -> None:
    from crawler.service.jobs import CrawlQueue

    config = config_from_dict(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'mw.db'}"},
            "catalogue": {"include": ["dawn", "jang"]},
            "queue": {"url": redis_url},
        },
        "(test)",
    )
    queue = CrawlQueue(config)
    dawn, jang = config.active_outlets()
    assert queue.submit(dawn) and queue.submit(jang)
    assert not queue.submit(dawn)  # still queued: no second job for the same outlet
    assert queue.queue.count == 2


def test_daemon_and_worker_over_redis(tmp_path: Path, redis_url: str) -> None:
    site = build()
    smtp = SmtpServer().start()
    outlets = outlets_config(site)
    for o in outlets:
        o["interval"] = "3s"
    config = write_config(
        tmp_path / "mediawatch.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path / 'mw.db'}"},
            "crawl": {"download_delay": 0, "max_page_mb": 2, "retries": 0, "shutdown_grace": "10s"},
            "email": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port},
            "catalogue": {"include": []},
            "outlets": outlets,
            "queue": {"url": redis_url},
        },
    )
    base = [sys.executable, "-m", "crawler", "--config", str(config)]
    log = (tmp_path / "log.txt").open("ab")
    daemon = subprocess.Popen([*base, "run"], stdout=subprocess.DEVNULL, stderr=log)
    worker = subprocess.Popen([*base, "worker"], stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until("the first alerts, crawled by the worker", lambda: len(smtp.messages) >= 5, 120)
        feed = site.paths["alpha_rss"]
        before = site.site.fetch_count(feed)
        wait_until("two more queued crawls", lambda: site.site.fetch_count(feed) >= before + 2, 60)
        status = cli_json("--config", str(config), "status", "--format", "json")
        assert status["queue"]["workers"] == 1 and status["queue"]["queued"] >= 0
        assert {o["id"]: o["articles"] for o in status["outlets"]} == {
            "alpha": 5,
            "beta": 3,
            "gamma": 0,
        }
    finally:
        for proc in (daemon, worker):
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(60) for proc in (daemon, worker)]
        smtp.stop()
        site.site.stop()
    assert codes == [0, 0]
    urls = [str(m["X-Mediawatch-Article-URL"]) for m in smtp.messages]
    assert len(urls) == 5 and len(set(urls)) == 5


def test_status_says_when_redis_cannot_be_reached(tmp_path: Path) -> None:
    from tests.smtp import free_port

    config = write_config(
        tmp_path / "m.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path / 'x.db'}"},
            "catalogue": {"include": []},
            "queue": {"url": f"redis://127.0.0.1:{free_port()}/0"},
        },
    )
    status = cli_json("--config", str(config), "status", "--format", "json")
    assert "Connection" in status["queue"]["error"]
