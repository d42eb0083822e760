"""Unchanged outlets nearly free: feeds and sitemaps are asked for conditionally (ETag and
Last-Modified remembered per source URL), a 304 parses nothing and is a healthy fetch."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import cli_json, write_config
from tests.site import FILLER, ConditionalSite, article

FEED, INDEX = "/delta/feed.xml", "/delta/sitemap_index.xml"
NEWS, POSTS = "/delta/news-sitemap.xml", "/delta/sitemap-posts.xml"
SOURCES = (FEED, INDEX, NEWS, POSTS)


class Delta:
    """One outlet with a feed and a sitemap index of two children, on a conditional server."""

    def __init__(self, tmp: Path, db_url: str, **crawl: Any) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.site = ConditionalSite().start()
        self.feed = [self.piece(i, hours=i + 1) for i in range(3)]
        self.news = [self.piece(10 + i, hours=i + 2) for i in range(2)]
        self.posts = [self.piece(20, hours=5)]
        self.site.add_rss(FEED, "Delta Daily", self.feed)
        self.site.add_sitemap(NEWS, self.news, news=True)
        self.site.add_sitemap(POSTS, self.posts)
        self.site.add_sitemap_index(INDEX, [NEWS, POSTS])
        self.db_url = db_url
        self.config = write_config(
            tmp / "mediawatch.toml",
            {
                "database": {"url": db_url},
                "crawl": {"download_delay": 0, "retries": 0, **crawl},
                "email": {"outbox_dir": str(tmp / "outbox")},
                "catalogue": {"include": []},
                "outlets": [
                    {
                        "id": "delta",
                        "name": "Delta Daily",
                        "feeds": [self.site.url(FEED)],
                        "sitemaps": [self.site.url(INDEX)],
                    }
                ],
            },
        )

    def piece(self, n: int, hours: float) -> Any:
        a = article(
            f"/delta/opinion/{n}/piece", f"Piece {n} on the budget", hours, [FILLER * 3], self.now
        )
        self.site.add_article(a, "Delta Daily")
        return a

    def crawl(self) -> dict[str, Any]:
        return cli_json("--config", str(self.config), "crawl", "--format", "json")

    def counts(self) -> dict[str, int]:
        with self.site._lock:
            return dict(self.site.requests)

    def last_run(self) -> dict[str, Any]:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                row = conn.execute(
                    text(
                        "SELECT status, pages_fetched, items_discovered, errors FROM crawl_runs"
                        " ORDER BY id DESC LIMIT 1"
                    )
                ).one()
        finally:
            engine.dispose()
        return dict(row._mapping)


@pytest.fixture
def delta(tmp_path: Path, db_url: str) -> Iterator[Delta]:
    d = Delta(tmp_path, db_url)
    yield d
    d.site.stop()


def test_an_unchanged_outlet_costs_four_304s_and_a_changed_feed_is_read(delta: Delta) -> None:
    site = delta.site
    first = delta.crawl()
    assert first["new_articles"] == 6 and first["outlets"][0]["errors"] == 0
    before = delta.counts()
    bytes_before = sum(site.body_bytes.values())

    second = delta.crawl()
    assert second["new_articles"] == 0 and second["outlets"][0]["errors"] == 0
    after = delta.counts()
    asked = {p: after.get(p, 0) - before.get(p, 0) for p in set(after) | set(before)}
    # The feed, the index and both children: one request each, each answered 304...
    assert {p: n for p, n in asked.items() if n} == {p: 1 for p in SOURCES} | {"/robots.txt": 1}
    assert all(site.not_modified[p] == 1 for p in SOURCES)
    # ...so not one byte of a body crossed the wire, nothing was parsed, no article fetched.
    assert sum(site.body_bytes.values()) == bytes_before + len(
        b"<html><body><h1>Not found</h1></body></html>"
    )
    run = delta.last_run()
    assert run == {"status": "ok", "pages_fetched": 5, "items_discovered": 0, "errors": 0}
    # A 304 is a healthy fetch, not an error or an empty outlet.
    status = cli_json("--config", str(delta.config), "status", "--format", "json")
    [outlet] = status["outlets"]
    assert outlet["health"] == "ok" and not outlet["error_kinds"]

    # The feed changes: it is read in full, its new article fetched, the rest still 304.
    fresh = delta.piece(3, hours=0.5)
    delta.feed.insert(0, fresh)
    site.add_rss(FEED, "Delta Daily", delta.feed)
    third = delta.crawl()
    assert third["new_articles"] == 1
    final = delta.counts()
    assert site.not_modified[FEED] == 1 and site.requests[FEED] == 3
    assert all(site.not_modified[p] == 2 for p in (INDEX, NEWS, POSTS))
    assert final[fresh.path] == 1
    for a in [*delta.feed[1:], *delta.news, *delta.posts]:
        assert final[a.path] == 1, f"{a.path} fetched again"
    assert delta.last_run()["items_discovered"] == 4  # the whole feed was parsed


def test_a_source_with_articles_left_waiting_is_read_in_full_next_time(
    tmp_path: Path,
) -> None:
    """An article postponed by max_articles_per_run keeps its feed from being skipped: the
    next run reads the feed in full and fetches it."""
    d = Delta(tmp_path, f"sqlite:///{tmp_path / 'mw.db'}", max_articles_per_run=4)
    try:
        first = d.crawl()
        assert first["new_articles"] == 4
        second = d.crawl()
        assert second["new_articles"] == 2
        assert d.site.not_modified[FEED] + d.site.not_modified[NEWS] < 2
        third = d.crawl()
        assert third["new_articles"] == 0
        assert all(d.site.not_modified[p] >= 1 for p in (FEED, INDEX, NEWS, POSTS))
    finally:
        d.site.stop()
