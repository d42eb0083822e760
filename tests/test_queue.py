"""Crawl jobs over the local Redis: `mediawatch run` queues them, `mediawatch worker` runs them."""

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.config import load_config
from tests.conftest import (
    cli_json,
    create_database,
    fresh_redis,
    run_cli,
    wait_until,
    write_config,
)
from tests.site import build, outlets_config
from tests.smtp import SmtpServer

REDIS_URL = "redis://127.0.0.1:6379/9"


@pytest.fixture
def redis_url() -> Iterator[str]:
    with fresh_redis(REDIS_URL) as url:
        yield url


def test_one_job_per_outlet_at_a_time(tmp_path: Path, redis_url: str) -> None:
    from crawler.service.jobs import CrawlQueue

    path = write_config(
        tmp_path / "mediawatch.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path / 'mw.db'}"},
            "catalogue": {"include": ["dawn", "jang"]},
            "queue": {"url": redis_url},
        },
    )
    queue = CrawlQueue(load_config(str(path)))
    config = queue.config
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
        (seen,) = status["queue"]["worker_details"]
        assert seen["pid"] == worker.pid and seen["jobs_done"] >= 1 and seen["last_seen"]
        text = run_cli("--config", str(config), "status").stdout
        assert re.search(rf"pid {worker.pid}: .*, \d+ jobs? done, \d+ failed", text), text
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


def _queue_at(tmp_path: Path, queue_url: str) -> Path:
    """A configuration whose queue is at `queue_url`, and its (empty) archive: the read-only
    commands never create one."""
    config = write_config(
        tmp_path / "m.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path / 'x.db'}"},
            "catalogue": {"include": []},
            "queue": {"url": queue_url},
        },
    )
    create_database(f"sqlite:///{tmp_path / 'x.db'}")
    return config


def test_status_says_when_redis_cannot_be_reached(tmp_path: Path) -> None:
    from tests.smtp import refused_port

    with refused_port() as port:
        config = _queue_at(tmp_path, f"redis://127.0.0.1:{port}/0")
        status = cli_json("--config", str(config), "status", "--format", "json")
    assert "Connection" in status["queue"]["error"]


def test_a_job_holds_no_secret_and_fails_clearly_without_its_config(
    tmp_path: Path, redis_url: str
) -> None:
    """The job in Redis names the outlet and the file, never the token or the password; a
    worker that can no longer load that file fails the job saying so."""
    import zlib

    from redis import Redis
    from rq.job import Job, JobStatus

    from crawler.service.jobs import CrawlQueue

    secrets = {"token": "web-token-9f2c", "db": "db-password-7e1a"}
    daemon_config = write_config(
        tmp_path / "daemon.toml",
        {
            "database": {"url": f"postgresql+psycopg://mw:{secrets['db']}@127.0.0.1:1/mw"},
            "catalogue": {"include": ["dawn"]},
            "web": {"token": secrets["token"]},
            "queue": {"url": redis_url},
        },
    )
    queue = CrawlQueue(load_config(str(daemon_config)))
    assert queue.submit(queue.config.active_outlets()[0])
    raw = Redis.from_url(redis_url).hgetall("rq:job:crawl-dawn")
    stored = b"".join(raw.values()) + zlib.decompress(raw[b"data"])
    assert str(daemon_config.resolve()).encode() in stored and b"dawn" in stored
    for secret in secrets.values():
        assert secret.encode() not in stored

    daemon_config.write_text("[crawl]\ninterval = 'soon'\n")  # broken since it was queued
    worker_config = write_config(
        tmp_path / "worker.toml",
        {"database": {"url": f"sqlite:///{tmp_path / 'w.db'}"}, "queue": {"url": redis_url}},
    )
    result = run_cli("--config", str(worker_config), "worker", "--burst", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    job = Job.fetch("crawl-dawn", connection=Redis.from_url(redis_url))
    assert job.get_status() == JobStatus.FAILED
    error = job.latest_result().exc_string  # type: ignore[union-attr]
    assert "can no longer be loaded" in error and str(daemon_config.resolve()) in error
    assert "crawl.interval" in error


def test_status_and_worker_hide_the_redis_password(tmp_path: Path) -> None:
    from tests.smtp import refused_port

    with refused_port() as port:
        config = _queue_at(tmp_path, f"redis://user:hunter2-redis@127.0.0.1:{port}/0")
        status = cli_json("--config", str(config), "status", "--format", "json")
        text = run_cli("--config", str(config), "status")
        worker = run_cli("--config", str(config), "worker", "--burst")
    assert status["queue"]["url"] == f"redis://user:***@127.0.0.1:{port}/0"
    assert "hunter2" not in json.dumps(status)
    assert text.returncode == 0 and f"queue redis://user:***@127.0.0.1:{port}/0" in text.stdout
    assert "hunter2" not in text.stdout + text.stderr
    assert worker.returncode == 1 and "redis://user:***@" in worker.stderr
    assert "hunter2" not in worker.stdout + worker.stderr


def test_status_text_counts_one_worker_and_one_job_in_the_singular() -> None:
    from crawler.service.status import _queue_lines

    worker = {"host": "crawl-01", "pid": 41, "last_seen": "2026-11-26T09:14:02+00:00"}
    worker |= {"current_job": "dawn", "jobs_done": 1, "jobs_failed": 0}
    one = {"url": "redis://h:6379/0", "queued": 1, "workers": 1, "worker_details": [worker]}
    assert _queue_lines(one) == [
        "queue redis://h:6379/0: 1 job waiting, 1 worker",
        "  worker crawl-01 pid 41: crawling dawn, last seen 2026-11-26 09:14:02 UTC, "
        "1 job done, 0 failed",
    ]
    many = {"url": "redis://h:6379/0", "queued": 3, "workers": 2, "worker_details": []}
    assert _queue_lines(many) == ["queue redis://h:6379/0: 3 jobs waiting, 2 workers"]
