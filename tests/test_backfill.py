"""Backfill (`mediawatch crawl --since DATE`): older articles through date-partitioned child
sitemaps and listing pages, stopped midway by a signal and resumed, no alerts queued."""

import io
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from crawler.config.errors import ConfigError
from crawler.config.model import config_from_dict
from spiders.backfill import listing_page_url, period_in_name, reaches_back_to
from tests.conftest import cli_json, run_cli, write_config
from tests.site import FILLER, ConditionalSite, DemoArticle, article

NOW = datetime.now(UTC).replace(microsecond=0)
SINCE = NOW - timedelta(days=100)


def test_child_sitemaps_are_chosen_by_lastmod_or_the_date_in_their_name() -> None:
    since = datetime(2025, 5, 20, tzinfo=UTC)
    assert period_in_name("https://e.org/sitemap-2025-05.xml") == (
        datetime(2025, 5, 1, tzinfo=UTC),
        datetime(2025, 6, 1, tzinfo=UTC),
    )
    assert period_in_name("https://e.org/2024/03/07/sitemap.xml")[1] == datetime(
        2024, 3, 8, tzinfo=UTC
    )
    assert period_in_name("https://e.org/sitemap.xml?yyyy=2023&mm=02")[0].month == 2
    assert period_in_name("https://e.org/post-sitemap12.xml") is None
    assert reaches_back_to("https://e.org/sitemap-2025-05.xml", None, since)
    assert not reaches_back_to("https://e.org/sitemap-2025-04.xml", None, since)
    assert not reaches_back_to("https://e.org/sitemap-2024.xml", None, since)
    assert not reaches_back_to("https://e.org/posts-3.xml", since - timedelta(days=1), since)
    assert reaches_back_to("https://e.org/posts-3.xml", None, since)


@pytest.mark.parametrize(
    ("listing", "template", "n", "page"),
    [
        ("https://e.org/opinion", "?page={n}", 3, "https://e.org/opinion?page=3"),
        ("https://e.org/opinion?s=1", "?page={n}", 2, "https://e.org/opinion?s=1&page=2"),
        ("https://e.org/opinion?s=1", "&page={n}", 2, "https://e.org/opinion?s=1&page=2"),
        ("https://e.org/opinion?s=1#top", "?page={n}", 2, "https://e.org/opinion?s=1&page=2"),
        ("https://e.org/opinion", "page/{n}/", 4, "https://e.org/opinion/page/4/"),
        ("https://e.org/opinion/", "page/{n}", 2, "https://e.org/opinion/page/2"),
        ("https://e.org", "page/{n}/", 2, "https://e.org/page/2/"),
        # a path template goes under the listing's path, and the listing's filter stays
        ("https://e.org/opinion?cat=3", "page/{n}/", 2, "https://e.org/opinion/page/2/?cat=3"),
        ("https://e.org/opinion#top", "page/{n}/", 2, "https://e.org/opinion/page/2/"),
        (
            "https://e.org/opinion?cat=3",
            "page/{n}/?sort=new",
            2,
            "https://e.org/opinion/page/2/?cat=3&sort=new",
        ),
        ("https://e.org/a/b?c=1", "../all/{n}", 3, "https://e.org/a/all/3?c=1"),
        ("https://e.org/opinion?cat=3", "/archive/{n}", 5, "https://e.org/archive/5?cat=3"),
    ],
)
def test_listing_page_templates(listing: str, template: str, n: int, page: str) -> None:
    assert listing_page_url(listing, template, n) == page


@pytest.mark.parametrize("template", ["?page=", "?p={n}&q={n}", "https://x.org/{n}"])
def test_listing_pages_must_be_a_template(template: str) -> None:
    outlet = {"id": "x", "name": "X", "listings": ["https://x.org/a"], "listing_pages": template}
    with pytest.raises(ConfigError, match="listing_pages"):
        config_from_dict({"outlets": [outlet]}, "m.toml")
    with pytest.raises(ConfigError, match="listing_pages_max"):
        config_from_dict(
            {"outlets": [{**outlet, "listing_pages": "?page={n}", "listing_pages_max": 1}]},
            "m.toml",
        )


class Echo:
    """An outlet with a year of monthly child sitemaps and five pages of its section."""

    def __init__(self, tmp: Path, db_url: str, **crawl: Any) -> None:
        self.site = ConditionalSite().start()
        self.db_url = db_url
        self.wanted: list[DemoArticle] = []  # published since SINCE
        self.unwanted: list[DemoArticle] = []
        children = []
        for months_back in range(12):
            day = (NOW.replace(day=15) - timedelta(days=30 * months_back)).replace(day=15)
            path = f"/echo/sitemap-{day:%Y-%m}.xml"
            pieces = [self.piece(f"s{months_back}-{i}", day - timedelta(days=i)) for i in range(2)]
            self.site.add_sitemap(path, pieces)
            children.append(path)
        self.children = children
        self.site.add_sitemap_index("/echo/sitemap_index.xml", children)
        # the section: page 1 recent, each next page older (20 days a page)
        self.pages = []
        for n in range(1, 11):
            pieces = [
                self.piece(f"l{n}-{i}", NOW - timedelta(days=20 * (n - 1) + i + 1))
                for i in range(2)
            ]
            path = "/echo/opinion" + (f"?page={n}" if n > 1 else "")
            self.site.add_listing(path, "Echo", pieces)
            self.pages.append(path)
        self.config = write_config(
            tmp / "mediawatch.toml",
            {
                "database": {"url": db_url},
                "crawl": {"download_delay": 0, "retries": 0, "max_age_days": 7, **crawl},
                "email": {"outbox_dir": str(tmp / "outbox")},
                "catalogue": {"include": []},
                "outlets": [
                    {
                        "id": "echo",
                        "name": "Echo",
                        "sitemaps": [self.site.url("/echo/sitemap_index.xml")],
                        "listings": [self.site.url("/echo/opinion")],
                        "article_url_pattern": r"/echo/opinion/[a-z0-9-]+/",
                        "listing_pages": "?page={n}",
                        "listing_pages_max": 10,
                    }
                ],
            },
        )

    def piece(self, slug: str, published: datetime) -> DemoArticle:
        hours = (NOW - published).total_seconds() / 3600
        a = article(
            f"/echo/opinion/{slug}/x",
            f"The FATF grey list, part {slug}",
            hours,
            ["Pakistan and the FATF grey list. " + FILLER * 3],
            NOW,
        )
        self.site.add_article(a, "Echo")
        (self.wanted if a.published >= SINCE else self.unwanted).append(a)
        return a

    def backfill(self, *extra: str) -> list[str]:
        return ["--config", str(self.config), "crawl", "--since", SINCE.isoformat(), *extra]

    def query(self, sql: str) -> list[Any]:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql)).all())
        finally:
            engine.dispose()


def test_backfill_stops_on_a_signal_resumes_and_queues_no_alert(
    tmp_path: Path, db_url: str
) -> None:
    echo = Echo(tmp_path, db_url)
    try:
        # Run 1 is stopped by SIGINT when it asks for page 3 of the section.
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler", *echo.backfill("--format", "json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        echo.site.hooks["/echo/opinion?page=3"] = lambda: os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 128 + signal.SIGINT, err[-3000:]
        assert "stopped by SIGINT" in err and "run the same command again" in err
        first = json.loads(out)
        assert first["alerts_queued"] == 0 and set(first) == {
            "outlets",
            "new_articles",
            "alerts_queued",
        }
        assert 0 < first["new_articles"] < len(echo.wanted)
        finished = {
            row[0]
            for row in echo.query("SELECT source FROM backfill_progress WHERE kind = 'sitemap'")
        }
        assert finished, "run 1 recorded no finished child sitemap"
        asked_in_run_1 = dict(echo.site.requests)

        # Run 2 continues: finished children are not read again; every article once.
        second = cli_json(*echo.backfill("--format", "json"))
        assert second["alerts_queued"] == 0
        assert first["new_articles"] + second["new_articles"] == len(echo.wanted)
        for url in finished:
            path = url.removeprefix(echo.site.base)
            assert echo.site.requests[path] == asked_in_run_1[path] == 1, path
        stored = [r[0] for r in echo.query("SELECT url FROM articles")]
        assert sorted(stored) == sorted(echo.site.url(a.path) for a in echo.wanted)
        # Child sitemaps entirely before --since are never asked for; listing pages stop
        # once a page gives only articles older than --since.
        for path in echo.children:
            if not reaches_back_to(echo.site.url(path), None, SINCE):
                assert echo.site.requests[path] == 0, path
        # page 6 is the first with only older articles: page 7 is never asked for
        assert echo.site.requests["/echo/opinion?page=6"] >= 1
        assert echo.site.requests["/echo/opinion?page=7"] == 0
        # No alert was queued, though every piece matches the FATF topic.
        assert echo.query("SELECT count(*) FROM alerts") == [(0,)]
        # old pages are not re-checked for edits: no re-check is ever scheduled for them
        assert echo.query("SELECT count(*) FROM articles WHERE next_recheck_at IS NOT NULL") == [
            (0,)
        ]
        assert not list((tmp_path / "outbox").glob("*.eml"))
        # Digests and trends still see them: they are stored like any other article.
        hits = cli_json(
            "--config", str(echo.config), "search", "FATF", "--format", "json", "--limit", "100"
        )
        assert len(hits) == len(echo.wanted)

        # A third run has nothing left to do.
        third = cli_json(*echo.backfill("--format", "json"))
        assert third["new_articles"] == 0
    finally:
        echo.site.stop()


def test_backfill_with_alert_queues_alerts(tmp_path: Path) -> None:
    echo = Echo(tmp_path, f"sqlite:///{tmp_path / 'mw.db'}")
    try:
        summary = cli_json(*echo.backfill("--alert", "--format", "json"))
        assert summary["new_articles"] == len(echo.wanted)
        # every piece is one syndicated story (the same text): alerted once, to the one
        # default subscription
        assert summary["alerts_queued"] == 1
        assert echo.query("SELECT count(*) FROM alerts") == [(1,)]
    finally:
        echo.site.stop()


def test_a_backfill_says_whether_another_run_has_work_left(tmp_path: Path) -> None:
    """Each run says "run the same command again" only while its caps left work for another
    run (it used to say so every time, also once there was nothing left), then that the
    archive is complete back to the date."""
    echo = Echo(tmp_path, f"sqlite:///{tmp_path / 'mw.db'}", max_child_sitemaps=2)
    try:
        said = []
        for _ in range(5):
            result = run_cli(*echo.backfill())
            assert result.returncode == 0, result.stderr[-3000:]
            said.append(result.stdout)
            if "backfill: complete" in result.stdout:
                break
        assert "run the same command again" in said[0] and len(said) > 1
        assert f"backfill: complete back to {SINCE.date().isoformat()}" in said[-1]
        assert all("run the same command again" not in out for out in said[-1:])
        stored = [r[0] for r in echo.query("SELECT url FROM articles")]
        assert sorted(stored) == sorted(echo.site.url(a.path) for a in echo.wanted)
    finally:
        echo.site.stop()


def test_alert_needs_since_and_since_must_be_past(tmp_path: Path) -> None:
    config = write_config(tmp_path / "m.toml", {"catalogue": {"include": []}})
    result = run_cli("--config", str(config), "crawl", "--alert")
    assert result.returncode == 2 and "--alert goes with --since" in result.stderr
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()  # the CLI's clock
    result = run_cli("--config", str(config), "crawl", "--since", future)
    assert result.returncode == 2 and "in the past" in result.stderr
    help_text = run_cli("crawl", "--help").stdout
    assert "--since" in help_text and "mediawatch crawl --since" in help_text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_otherwise() -> None:
    from crawler.service.runner import BackfillProgress

    bar = _Terminal()
    BackfillProgress("2025-01-01", bar).show([])
    assert bar.getvalue().startswith("\r\033[Kbackfill since 2025-01-01 [")
    assert "0/0 sitemaps and listing pages" in bar.getvalue()
    plain = io.StringIO()
    progress = BackfillProgress("2025-01-01", plain)
    progress.show([])
    progress.show([])  # nothing changed: no second line
    assert plain.getvalue() == (
        "backfill since 2025-01-01: 0/0 sitemaps and listing pages · 0 pages · "
        "0 new articles · 0 errors\n"
    )


def test_outlets_not_started_yet_are_not_counted_done() -> None:
    from scrapy.crawler import Crawler

    from crawler.service.runner import Progress
    from spiders.outlet import OutletSpider
    from spiders.outlets import Outlet

    shown = _Terminal()
    feed = ["https://a.example/feed"]
    waiting = [(Outlet(id=n, name=n, feeds=feed), Crawler(OutletSpider)) for n in ("a", "b")]
    Progress(shown).show(waiting)
    assert "crawling: 0/2 outlets done · 0 pages" in shown.getvalue()


def test_a_second_signal_stops_a_stuck_backfill_at_once(tmp_path: Path) -> None:
    """The first SIGINT waits for the request in flight; the second ends the process now
    (it used to hang for good in interpreter shutdown, deaf to SIGTERM)."""
    import socket
    import threading

    from tests.conftest import wait_until

    silent = socket.create_server(("127.0.0.1", 0))  # takes the request, never answers
    asked = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        try:
            conn, _ = silent.accept()
        except OSError:
            return
        held.append(conn)
        asked.set()

    threading.Thread(target=accept, daemon=True).start()
    port = silent.getsockname()[1]
    config = write_config(
        tmp_path / "mediawatch.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path / 'mw.db'}"},
            "crawl": {"download_delay": 0, "obey_robots": False, "timeout": "120s"},
            "catalogue": {"include": []},
            "outlets": [
                {
                    "id": "stuck",
                    "name": "Stuck",
                    "country": "PK",
                    "feeds": [f"http://127.0.0.1:{port}/feed.xml"],
                }
            ],
        },
    )
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler", "--config", str(config), "crawl", "--since", "30d"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        wait_until("the feed request", asked.is_set, 120)
        proc.send_signal(signal.SIGINT)
        wait_until("the first signal noticed", lambda: "SIGINT: stopping" in log.read_text(), 30)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("a second SIGINT did not stop the backfill: " + log.read_text()[-2000:])
        err = log.read_text()
        assert proc.returncode == 128 + signal.SIGINT, err[-2000:]
        assert "SIGINT again: stopping at once" in err and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        silent.close()
        for conn in held:
            conn.close()
