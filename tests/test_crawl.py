"""End to end: real crawls (`mediawatch crawl`) against the fixture outlets on 127.0.0.1."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, cli_json, run_cli, write_config
from tests.site import SiteMap, build, outlets_config


class World:
    """A temporary archive of the fixture outlets, and what its crawls reported."""

    first: dict[str, Any]  # `crawl --format json` of the first crawl
    fetches_after_first: dict[str, int]  # requests per fixture page after the first crawl
    second: dict[str, Any]  # and of the second

    def __init__(self, tmp: Path) -> None:
        self.site: SiteMap = build()
        self.tmp = tmp
        self.outbox = tmp / "outbox"
        self.config = write_config(
            tmp / "mediawatch.toml",
            {
                "database": {"url": f"sqlite:///{tmp / 'mw.db'}"},
                "crawl": {
                    "download_delay": 0,
                    "max_page_mb": 2,
                    "retries": 1,
                    "timeout": "10s",
                    "max_age_days": 7,
                },
                "email": {"outbox_dir": str(self.outbox)},
                "catalogue": {"include": []},
                "outlets": outlets_config(self.site),
            },
        )

    def cli(self, *args: str) -> Any:
        return cli_json("--config", str(self.config), *args)

    def articles(self) -> list[dict[str, Any]]:
        return self.cli("search", "--format", "json", "--limit", "100")

    def by_path(self, key: str) -> dict[str, Any]:
        url = self.site.url(key)
        found = [a for a in self.articles() if a["url"].rstrip("/") == url.rstrip("/")]
        assert found, f"{key} not stored"
        return self.cli("show", str(found[0]["id"]), "--format", "json")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The fixture outlets crawled twice, the second crawl straight after the first.

    Both crawls happen here, before any test, so every test sees the same finished world
    whichever of them runs, in whatever order; the tests only read it.
    """
    w = World(tmp_path_factory.mktemp("crawl"))
    w.first = w.cli("crawl", "--format", "json")
    w.fetches_after_first = {key: w.site.fetches(key) for key in w.site.paths}
    w.second = w.cli("crawl", "--format", "json")
    yield w
    w.site.site.stop()


def outlet(summary: dict[str, Any], outlet_id: str) -> dict[str, Any]:
    return next(o for o in summary["outlets"] if o["id"] == outlet_id)


def test_summary_json_has_the_contract_shape(world: World) -> None:
    s = world.first
    assert set(s) >= {"outlets", "new_articles", "alerts_queued"}
    for o in s["outlets"]:
        assert set(o) >= {"id", "pages_fetched", "new_articles", "errors"}
    assert [o["id"] for o in s["outlets"]] == ["alpha", "beta", "gamma"]


def test_new_articles_from_feeds_listings_and_sitemaps(world: World) -> None:
    s = world.first
    # alpha: cismoa, ttp, redirected, windows-1252, monsoon. beta: copy, urdu, fatf.
    assert outlet(s, "alpha")["new_articles"] == 5
    assert outlet(s, "beta")["new_articles"] == 3
    assert s["new_articles"] == 8
    assert len(world.articles()) == 8


def test_failures_are_counted_per_item_and_the_rest_goes_on(world: World) -> None:
    alpha = outlet(world.first, "alpha")
    # 404, 500, robots-disallowed, over the size limit
    assert alpha["errors"] == 4
    assert alpha["error_kinds"] == {"gone": 1, "http_5xx": 1, "robots": 1, "too_large": 1}
    gamma = outlet(world.first, "gamma")
    assert gamma["new_articles"] == 0
    assert gamma["error_kinds"] == {"http_5xx": 1, "challenge": 1, "empty": 1}


def test_titles_are_clean_and_dates_kept(world: World) -> None:
    a1 = world.by_path("a1")
    assert a1["title"] == "Renewing CISMOA: what it means for Pakistan-US ties"
    assert a1["author"] == "Nauman Jalil"
    published = datetime.fromisoformat(a1["published"])
    assert published == world.site.now - timedelta(hours=2)  # to the second, from the page
    b3 = world.by_path("b3")
    assert b3["title"] == "After the grey list"
    assert b3["date_source"] == "sitemap-news"


def test_comments_and_sidebars_are_not_article_text(world: World) -> None:
    monsoon = world.by_path("a11")
    assert monsoon["topics"] == [] and monsoon["score"] == 0
    assert "CISMOA" not in monsoon["text"] and "Most read" not in monsoon["text"]
    a1 = world.by_path("a1")
    assert "will win" not in a1["text"]


def test_legacy_encodings_are_decoded(world: World) -> None:
    cafe = world.by_path("a9")
    assert "“café diplomacy”" in cafe["text"] and "résumé" in cafe["text"]
    assert cafe["topics"] == ["fatf"]
    urdu = world.by_path("b2")
    assert "ttp" in urdu["topics"]


def test_tracking_parameters_and_redirects_do_not_duplicate(world: World) -> None:
    urls = [a["url"] for a in world.articles()]
    assert not any("utm_" in u or "#" in u for u in urls)
    assert world.site.fetches("a1") == 1  # in RSS, Atom (utm + fragment) and the listing
    moved = world.by_path("a7")
    assert moved["url"] == world.site.url("a7")


def test_old_and_forbidden_articles_are_not_fetched(world: World) -> None:
    assert world.site.fetches("a3") == 0  # feed date too old
    assert world.site.fetches("b4") == 0  # news sitemap date too old
    assert world.site.fetches("beta_stale") == 0  # index lastmod too old
    assert world.site.fetches("a6") == 0  # robots.txt
    assert world.site.fetches("a10") == 1  # no date before fetching; the page's own is too old
    assert all(world.site.url("a10") != a["url"] for a in world.articles())


def test_syndicated_copy_is_stored_linked_and_alerted_once(world: World) -> None:
    a1, b1 = world.by_path("a1"), world.by_path("b1")
    first, copy = (a1, b1) if a1["id"] < b1["id"] else (b1, a1)  # outlets crawl in parallel
    assert copy["duplicate_of"] == first["id"] and first["duplicate_of"] is None
    assert [d["id"] for d in first["duplicates"]] == [copy["id"]]
    urls = [
        message_from_bytes(p.read_bytes(), policy=policy.default)["X-Mediawatch-Article-URL"]
        for p in world.outbox.glob("*.eml")
    ]
    cismoa = [u for u in urls if u in (world.site.url("a1"), world.site.url("b1"))]
    assert len(cismoa) == 1


def test_second_crawl_fetches_no_article_again(world: World) -> None:
    assert world.second["new_articles"] == 0
    first = world.fetches_after_first
    for key in ("a1", "a2", "a4", "a7", "a8", "a9", "a10", "a11", "b1", "b2", "b3"):
        assert world.site.fetches(key) == first[key] == 1, f"{key} fetched again"
    assert world.site.fetches("a5") > first["a5"]  # a 500 is tried again next time
    assert len(world.articles()) == 8


def test_status_shows_outlet_health(world: World) -> None:
    status = world.cli("status", "--format", "json")
    health = {o["id"]: o for o in status["outlets"]}
    assert health["alpha"]["health"] == "ok" and health["alpha"]["articles"] == 5
    assert health["gamma"]["health"] == "blocked"
    assert health["gamma"]["error_kinds"]["challenge"] == 1


def test_text_output_of_crawl_is_readable(tmp_path: Path) -> None:
    site = build()
    try:
        config = write_config(
            tmp_path / "m.toml",
            {
                "database": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
                "crawl": {"download_delay": 0, "max_page_mb": 2},
                "email": {"outbox_dir": str(tmp_path / "out")},
                "catalogue": {"include": []},
                "outlets": outlets_config(site)[2:],
            },
        )
        result = run_cli("--config", str(config), "crawl", "gamma")
        assert result.returncode == 0, result.stderr
        assert "gamma" in result.stdout and "challenge 1" in result.stdout
        assert "0 new articles" in result.stdout
        assert "challenge" in result.stderr  # the warning names the problem
        unknown = run_cli("--config", str(config), "crawl", "nope")
        assert unknown.returncode == 2 and "unknown outlet" in unknown.stderr
    finally:
        site.site.stop()


def test_json_is_clean_on_stdout(world: World) -> None:
    result = run_cli("--config", str(world.config), "search", "CISMOA", "--format", "json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data[0]["topics"] and "CISMOA" in data[0]["snippet"]


def test_progress_on_a_terminal_and_json_logs(tmp_path: Path) -> None:
    """On a terminal, crawl shows a live progress line; --log-format json logs JSON lines."""
    import os
    import pty
    import subprocess
    import sys

    site = build()
    try:
        config = write_config(
            tmp_path / "m.toml",
            {
                "database": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
                "crawl": {"download_delay": 0, "max_page_mb": 2, "retries": 0},
                "email": {"outbox_dir": str(tmp_path / "out")},
                "catalogue": {"include": []},
                "outlets": outlets_config(site),
            },
        )
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "crawler",
                "--config",
                str(config),
                "--log-format",
                "json",
                "crawl",
                "beta",
                "gamma",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        out, _ = proc.communicate(timeout=120)
        os.close(leader)
        assert proc.returncode == 0
        screen = b"".join(chunks).decode("utf-8", "replace")
        assert "crawling: 2/2 outlets done" in screen and "3 new articles" in screen
        log_lines = [
            line for line in screen.replace("\r", "\n").splitlines() if line.startswith("{")
        ]
        assert log_lines and all(json.loads(line)["level"] for line in log_lines)
        assert "3 new articles" in out.decode()
    finally:
        site.site.stop()


def test_slow_pages_time_out_and_inline_extraction_works(tmp_path: Path) -> None:
    """A page slower than [crawl] timeout is one counted error; the rest is stored (with
    extraction in the crawler process, extract_workers = 0)."""
    from crawler.demo.site import FixtureSite, Page
    from tests.site import FILLER, article

    site = FixtureSite().start()
    try:
        now = datetime.now(UTC)
        quick = article(
            "/slow/opinion/1/quick",
            "A quick FATF note",
            1,
            ["The FATF grey list again. " + FILLER * 3],
            now,
        )
        slow = article("/slow/opinion/2/slow", "A slow page", 1, [FILLER * 3], now)
        site.add_article(quick, "Slow Times")
        site.add_article(slow, "Slow Times")
        site.routes[slow.path].delay = 3.0
        site.add_rss("/slow/feed.xml", "Slow Times", [quick, slow])
        site.add("/robots.txt", Page(b"", status=404))
        config = write_config(
            tmp_path / "m.toml",
            {
                "database": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
                "crawl": {"download_delay": 0, "timeout": "1s", "retries": 0, "extract_workers": 0},
                "email": {"outbox_dir": str(tmp_path / "out")},
                "catalogue": {"include": []},
                "outlets": [
                    {"id": "slow", "name": "Slow Times", "feeds": [site.url("/slow/feed.xml")]}
                ],
            },
        )
        summary = cli_json("--config", str(config), "crawl", "--format", "json")
        [slow_outlet] = summary["outlets"]
        assert slow_outlet["new_articles"] == 1
        assert slow_outlet["error_kinds"] == {"timeout": 1}
    finally:
        site.stop()


def test_the_whole_path_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    """Crawl, store, alert and search with PostgreSQL as the database (as on a server)."""
    site = build()
    try:
        config = write_config(
            tmp_path / "m.toml",
            {
                "database": {"url": pg_url},
                "crawl": {"download_delay": 0, "max_page_mb": 2, "retries": 0},
                "email": {"outbox_dir": str(tmp_path / "outbox")},
                "catalogue": {"include": []},
                "outlets": outlets_config(site),
            },
        )
        first = cli_json("--config", str(config), "crawl", "--format", "json")
        assert first["new_articles"] == 8
        again = cli_json("--config", str(config), "crawl", "--format", "json")
        assert again["new_articles"] == 0
        hits = cli_json(
            "--config", str(config), "search", '"grey list" -Afghanistan', "--format", "json"
        )
        assert hits and all("grey list" in h["snippet"].lower() for h in hits)
        urdu = cli_json("--config", str(config), "search", "تحریک", "--format", "json")
        assert [h["url"] for h in urdu] == [site.url("b2")]
        assert len(list((tmp_path / "outbox").glob("*.eml"))) == first["alerts_queued"] == 5
    finally:
        site.site.stop()


def test_plain_scrapy_crawl_from_a_checkout(tmp_path: Path) -> None:
    """`scrapy crawl outlet -a outlet=ID` in the checkout reads $MEDIAWATCH_CONFIG, crawls
    that outlet, stores its articles, queues their alerts and records the run."""
    import os
    import subprocess
    import sys

    site = build()
    try:
        config = write_config(
            tmp_path / "m.toml",
            {
                "database": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
                "crawl": {"extract_workers": 1, "download_delay": 0, "user_agent": "desk-bot/2"},
                "email": {"outbox_dir": str(tmp_path / "out")},
                "catalogue": {"include": []},
                "outlets": [o for o in outlets_config(site) if o["id"] == "beta"],
            },
        )
        # [crawl] applies (the user agent, no delay); Scrapy's own -s still works on top.
        quick = ["-s", "AUTOTHROTTLE_ENABLED=0"]
        result = subprocess.run(
            [sys.executable, "-m", "scrapy", "crawl", "outlet", "-a", "outlet=beta", *quick],
            cwd=REPO,
            env={**os.environ, "MEDIAWATCH_CONFIG": str(config)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        stored = cli_json("--config", str(config), "search", "--format", "json")
        assert sorted(a["url"] for a in stored) == sorted(
            site.url(key) for key in ("b1", "b2", "b3")
        )
        status = cli_json("--config", str(config), "status", "--format", "json")
        [beta] = status["outlets"]
        assert (beta["result"], beta["new_articles"], beta["articles"]) == ("ok", 3, 3)
        assert status["pending_alerts"] == 3  # cismoa, ttp, fatf: sent by the next `mediawatch`
        assert site.site.user_agents == {"desk-bot/2"}
    finally:
        site.site.stop()


def test_a_page_too_large_for_postgresqls_index_is_fetched_once(
    tmp_path: Path, pg_url: str
) -> None:
    """120,000 distinct words make a tsvector over PostgreSQL's 1 MB: the page cannot be
    stored there. It was fetched and extracted again on every run, a `database` error each
    time; now it is a `too_large` error once, and remembered."""
    from tests.site import FILLER, FixtureSite, article

    now = datetime.now(UTC).replace(microsecond=0)
    site = FixtureSite().start()
    try:
        fine = article("/d/1/fine", "A column on the budget", 2, [FILLER * 3], now)
        dump = article(
            "/d/2/dump", "A data dump", 3, [" ".join(f"w{i:x}" for i in range(120_000))], now
        )
        for a in (fine, dump):
            site.add_article(a, "Dump Daily")
        site.add_rss("/d/feed.xml", "Dump Daily", [fine, dump])
        config = write_config(
            tmp_path / "m.toml",
            {
                "database": {"url": pg_url},
                "crawl": {"download_delay": 0, "retries": 0, "obey_robots": False},
                "email": {"outbox_dir": str(tmp_path / "outbox")},
                "catalogue": {"include": []},
                "outlets": [
                    {"id": "dump", "name": "Dump Daily", "feeds": [site.url("/d/feed.xml")]}
                ],
            },
        )
        first = cli_json("--config", str(config), "crawl", "--format", "json")
        [outlet] = first["outlets"]
        assert outlet["new_articles"] == 1 and outlet["error_kinds"] == {"too_large": 1}
        again = cli_json("--config", str(config), "crawl", "--format", "json")
        assert again["outlets"][0]["error_kinds"] == {}
        assert site.fetch_count("/d/2/dump") == 1
    finally:
        site.stop()
