"""`mediawatch run` as a real process: alerts arrive, new articles arrive within an interval,
SIGTERM exits 0, a restart repeats nothing, and kill -9 mid-crawl loses nothing."""

import signal
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

from tests.conftest import cli_json, create_database, wait_until, write_config
from tests.site import FILLER, article, build, outlets_config
from tests.smtp import SmtpServer

INTERVAL_S = 3


class Daemon:
    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log

    def start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "crawler", "--config", str(self.config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )


def urls(messages: list[EmailMessage]) -> list[str]:
    return [str(m["X-Mediawatch-Article-URL"]) for m in messages]


def test_daemon_end_to_end(tmp_path: Path) -> None:
    t = build()
    smtp = SmtpServer().start()
    outlets = outlets_config(t)
    for o in outlets:
        o["interval"] = f"{INTERVAL_S}s"
    config = write_config(
        tmp_path / "mediawatch.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path / 'mw.db'}"},
            "crawl": {
                "download_delay": 0,
                "max_page_mb": 2,
                "retries": 0,
                "timeout": "20s",
                "shutdown_grace": "10s",
            },
            "email": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port},
            "catalogue": {"include": []},
            "outlets": outlets,
        },
    )
    daemon = Daemon(config, tmp_path / "daemon.log")
    feed = t.paths["alpha_rss"]
    proc = daemon.start()
    try:
        # 1. the first alerts: cismoa (one for the syndicated pair), ttp x2, fatf x2
        wait_until("the first five alerts", lambda: len(smtp.messages) >= 5, 90)
        status = cli_json("--config", str(config), "status", "--format", "json")
        assert status["daemon_heartbeat"]

        # 2. a new article arrives as an alert within one interval plus a few seconds
        fresh = article(
            "/alpha/opinion/201/fresh-fatf",
            "A fresh FATF column",
            0.1,
            [
                "The FATF grey list is back in the news as the Financial Action Task Force meets. "
                + FILLER * 2
            ],
            t.now,
        )
        t.publish(fresh)
        wait_until(
            "the fresh article's alert, within one interval and a few seconds",
            lambda: t.site.url(fresh.path) in urls(smtp.messages),
            INTERVAL_S + 20,
        )

        # 3. SIGTERM: exit 0 within the grace period
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        sent = len(smtp.messages)
        assert sent == 6

        # 4. a restart sends nothing twice
        proc = daemon.start()
        before = t.site.fetch_count(feed)
        wait_until("two more crawls", lambda: t.site.fetch_count(feed) >= before + 2, 60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert len(smtp.messages) == sent

        # 5. kill -9 in the middle of a crawl, restart: nothing lost, nothing repeated
        slow = article(
            "/alpha/opinion/202/slow-ttp",
            "A slow TTP analysis",
            0.1,
            ["The TTP militant campaign in Khyber has changed shape this year. " + FILLER * 2],
            t.now,
        )
        t.publish(slow, delay=3.0)
        proc = daemon.start()
        wait_until("the slow page to be requested", lambda: t.site.fetch_count(slow.path) >= 1, 60)
        proc.kill()
        proc.wait(timeout=10)
        proc = daemon.start()
        wait_until(
            "the slow article's alert", lambda: t.site.url(slow.path) in urls(smtp.messages), 60
        )
        before = t.site.fetch_count(feed)
        wait_until("two more crawls", lambda: t.site.fetch_count(feed) >= before + 2, 60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        got = urls(smtp.messages)
        assert len(got) == sent + 1 and len(set(got)) == len(got)
    finally:
        if proc.poll() is None:
            proc.kill()
        smtp.stop()
        t.site.stop()
    log = (tmp_path / "daemon.log").read_text()
    assert "Traceback" not in log, log[-3000:]


def test_status_without_a_daemon(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "m.toml",
        {"database": {"url": f"sqlite:///{tmp_path / 'x.db'}"}, "catalogue": {"include": ["PK"]}},
    )
    create_database(f"sqlite:///{tmp_path / 'x.db'}")  # read-only commands never create one
    status = cli_json("--config", str(config), "status", "--format", "json")
    assert status["daemon_heartbeat"] is None
    assert {o["health"] for o in status["outlets"]} == {"never crawled"}
