"""Ctrl-C (SIGINT) or SIGTERM stops `mediawatch crawl` cleanly whenever it comes, the first
seconds included: exit 130 / 143, "stopped by SIGINT", nothing more fetched from a slow site
than was under way, every crawl run recorded as ended, and no traceback.

Scrapy can stop only an engine that runs; a signal while the database was being opened or a
spider was opening used to be lost (the crawl went on, and then never returned).
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crawler.demo.site import DemoArticle, FixtureSite
from tests.conftest import wait_until, write_config
from tests.site import FILLER
from tests.smtp import SmtpServer

SLOW = 3.0  # seconds the site takes for every page


def _site(delay: float) -> FixtureSite:
    """An outlet of eight CISMOA stories, every page `delay` seconds slow."""
    site = FixtureSite().start()
    now = datetime.now(UTC)
    stories = [
        DemoArticle(
            f"/slow/{i}",
            f"CISMOA talks, day {i}",
            "Staff",
            now - timedelta(hours=i + 1),
            [f"CISMOA talks went on for a day {i}. " + FILLER * 3],
        )
        for i in range(8)
    ]
    for story in stories:
        site.add_article(story, "Slow Times")
        site.routes[story.path].delay = delay
    site.add_rss("/slow/feed.xml", "Slow Times", stories)
    site.routes["/slow/feed.xml"].delay = delay
    return site


@pytest.fixture
def slow_site() -> Iterator[FixtureSite]:
    site = _site(SLOW)
    yield site
    site.stop()


def _config(tmp: Path, site: FixtureSite, smtp: SmtpServer | None = None) -> Path:
    email: dict[str, Any] = {"outbox_dir": str(tmp / "outbox")}
    alerted: list[dict[str, Any]] = []
    if smtp is not None:
        email |= {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "from": "mw@example.org"}
        alerted = [{"email": "desk@example.org", "topics": ["cismoa"], "digest": "off"}]
    return write_config(
        tmp / "mediawatch.toml",
        {
            "database": {"url": f"sqlite:///{tmp / 'mw.db'}"},
            "crawl": {"download_delay": 0, "obey_robots": False, "retries": 0, "timeout": "60s"},
            "email": email,
            "subscriptions": alerted,
            "catalogue": {"include": []},
            "outlets": [
                {
                    "id": "slow",
                    "name": "Slow Times",
                    "country": "PK",
                    "feeds": [site.url("/slow/feed.xml")],
                }
            ],
        },
    )


def _crawl(tmp: Path, site: FixtureSite, sig: signal.Signals, when: str) -> dict[str, Any]:
    """Start `mediawatch crawl --format json`, send `sig` at the moment `when` names, and
    return what the process said and left."""
    config = _config(tmp, site)
    db = tmp / "mw.db"
    err = tmp / "stderr.txt"
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler", "--config", str(config), "crawl", "--format", "json"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    try:
        if when == "database opened":
            # the crawl has begun (the database is created first): the reactor, the spider and
            # its engine are all still to come, the window a signal used to be lost in
            wait_until("the database file", db.exists, 120)
        else:
            wait_until("the feed request", lambda: site.fetch_count("/slow/feed.xml") > 0, 120)
        proc.send_signal(sig)
        try:
            out, _ = proc.communicate(timeout=SLOW + 60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{sig.name} did not stop the crawl: " + err.read_text()[-3000:])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT status FROM crawl_runs").fetchall()
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return {
        "code": proc.returncode,
        "summary": json.loads(out),
        "stderr": err.read_text(),
        "runs": [r[0] for r in runs],
        "integrity": integrity,
        "articles_fetched": sum(site.fetch_count(f"/slow/{i}") for i in range(8)),
    }


@pytest.mark.parametrize(
    ("sig", "when"),
    [
        (signal.SIGINT, "database opened"),
        (signal.SIGTERM, "database opened"),
        (signal.SIGINT, "feed requested"),
    ],
)
def test_the_first_signal_stops_the_crawl_cleanly(
    tmp_path: Path, slow_site: FixtureSite, sig: signal.Signals, when: str
) -> None:
    got = _crawl(tmp_path, slow_site, sig, when)
    assert got["code"] == 128 + sig, got["stderr"][-3000:]
    assert f"stopped by {sig.name}" in got["stderr"] and "Traceback" not in got["stderr"]
    assert got["summary"]["new_articles"] == 0 and got["summary"]["outlets"][0]["id"] == "slow"
    # stopped, not run to its end: the feed's eight slow articles were never asked for
    assert got["articles_fetched"] == 0
    # nothing half-written: the database is whole and no crawl run is left "running"
    assert got["integrity"] == "ok"
    assert "running" not in got["runs"], got["runs"]
    if when == "feed requested":
        assert got["runs"] == ["shutdown"]


def test_a_signal_after_the_crawl_says_what_it_waits_for(tmp_path: Path) -> None:
    """Ctrl-C while the crawl's alerts are being sent: each is sent, once, and the
    command says at once that it stops after them (it used to say nothing until they were
    done), then ends as stopped."""
    site, smtp = _site(0.0), SmtpServer().start()
    smtp.recorder.hold = released = threading.Event()
    err = tmp_path / "stderr.txt"
    command = [sys.executable, "-m", "crawler", "--config", str(_config(tmp_path, site, smtp))]
    try:
        with err.open("w") as stderr:
            proc = subprocess.Popen(
                [*command, "crawl", "--format", "json"],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
        try:
            wait_until("the first alert's SMTP session", lambda: bool(smtp.recorder.sessions), 120)
            proc.send_signal(signal.SIGINT)
            told = "mediawatch: SIGINT: stopping after the alerts' delivery"
            wait_until("the line saying so", lambda: told in err.read_text(), 60)
            assert not smtp.messages  # said while the alert was still being sent
            released.set()
            out, _ = proc.communicate(timeout=120)
        finally:
            released.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        said = err.read_text()
        assert proc.returncode == 128 + signal.SIGINT, said[-3000:]
        assert "stopped by SIGINT" in said and "Traceback" not in said
        summary = json.loads(out)
        assert summary["new_articles"] == 8
        # The stories are near copies of each other: one story, alerted once.
        urls = [str(m["X-Mediawatch-Article-URL"]) for m in smtp.messages]
        assert summary["alerts_queued"] == len(urls) == len(set(urls)) >= 1
    finally:
        smtp.stop()
        site.stop()


def _loaded(pid: int, library: str) -> bool:
    """Whether the process has loaded this extension module (or ended): how a test tells from
    outside which imports a starting program is in, with nothing printed yet."""
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return True


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    ("command", "library"),
    [
        ("search", "_pydantic_core"),  # the command line's modules load (pydantic: config)
        ("crawl", "_pydantic_core"),
        ("crawl", "_zope_interface_coptimizations"),  # `crawl` loads the crawl code (Twisted)
    ],
)
def test_a_ctrl_c_while_the_program_starts_is_one_line(
    tmp_path: Path, slow_site: FixtureSite, command: str, library: str
) -> None:
    """The seconds before a command does anything: exit 130 and one line, for every command
    (not a traceback, nor click's "Aborted!" and exit 1), and a crawl fetches nothing."""
    config = _config(tmp_path, slow_site)
    script = Path(sys.executable).with_name("mediawatch")  # the console script users run
    proc = subprocess.Popen(
        [str(script), "--config", str(config), command, "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        wait_until(f"{library} loaded", lambda: _loaded(proc.pid, library), 120)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = err.strip().splitlines()
    assert proc.returncode == 128 + signal.SIGINT, err[-3000:]
    assert len(lines) == 1 and lines[0].startswith("mediawatch: stopped by SIGINT"), err[-3000:]
    assert slow_site.fetch_count("/slow/feed.xml") == 0
    if out:  # a crawl stopped once its code was loaded still prints its summary
        assert json.loads(out)["new_articles"] == 0
