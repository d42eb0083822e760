"""Canonical links and redirects that name the wrong page do not lose articles: a canonical
naming the home page or another article, and article URLs redirected to the home page for a
while (spiders/identity.py; the attacker review's cases a, b and c).

Real `mediawatch crawl` runs against a fixture outlet on 127.0.0.1; the crawl after the site
is fixed runs with its clock moved forward (test_transient's helper), so nothing sleeps.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from crawler.demo.site import DemoArticle, FixtureSite, Page, article_html, rss
from tests.conftest import cli_json, write_config
from tests.hostile.test_transient import crawl_later
from tests.site import FILLER, article


class Outlet:
    """One outlet ("o", feed /o/feed.xml) whose pages the test writes."""

    def __init__(self, tmp: Path) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.site = FixtureSite().start()
        self.feed: list[DemoArticle] = []
        self.db = f"sqlite:///{tmp / 'mw.db'}"
        self.config = write_config(
            tmp / "mediawatch.toml",
            {
                "database": {"url": self.db},
                "crawl": {"download_delay": 0, "retries": 0, "timeout": "10s", "recheck": []},
                "email": {"outbox_dir": str(tmp / "outbox")},
                "catalogue": {"include": []},
                "outlets": [
                    {
                        "id": "o",
                        "name": "Other Times",
                        "country": "PK",
                        "feeds": [self.site.url("/o/feed.xml")],
                    }
                ],
            },
        )

    def piece(self, path: str, title: str, words: str, hours: float = 1.0) -> DemoArticle:
        """An article of its own text (`words` and filler), not yet on the site."""
        paragraphs = [f"{words} " * 12 + FILLER, f"{title}. " + FILLER * 2]
        return article(path, title, hours, paragraphs, self.now)

    def publish(self, a: DemoArticle, canonical: str | None = None) -> None:
        """The article's page (naming `canonical`, a path, when given) and its feed item."""
        a.canonical = self.site.url(canonical) if canonical else None
        self.site.add_article(a, "Other Times")
        self.announce(a)

    def announce(self, a: DemoArticle) -> None:
        self.feed.insert(0, a)
        body = rss("Other Times", self.site.base, self.feed).encode()
        self.site.add("/o/feed.xml", Page(body, content_type="application/rss+xml"))

    def crawl(self) -> dict[str, Any]:
        [outlet] = cli_json("--config", str(self.config), "crawl", "--format", "json")["outlets"]
        return outlet

    def stored(self) -> dict[str, str]:
        """Stored articles: their URL's path -> title."""
        found = cli_json("--config", str(self.config), "search", "--format", "json")
        return {a["url"].removeprefix(self.site.base): a["title"] for a in found}

    def seen(self) -> dict[str, str]:
        """seen_urls: the URL key's path -> outcome."""
        engine = create_engine(self.db)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT url_key, outcome FROM seen_urls")).all()
        engine.dispose()
        return {"/" + str(key).split("/", 1)[1]: str(outcome) for key, outcome in rows}


@pytest.fixture
def outlet(tmp_path: Path) -> Iterator[Outlet]:
    world = Outlet(tmp_path)
    yield world
    world.site.stop()


def test_a_canonical_naming_the_home_page_files_each_article_under_its_own_url(
    outlet: Outlet,
) -> None:
    first = outlet.piece("/o/opinion/1/budget", "The budget debate", "budget")
    second = outlet.piece("/o/opinion/2/monsoon", "The monsoon again", "monsoon")
    for a in (first, second):
        outlet.publish(a, canonical="/")  # a CMS that names its home page on every page

    run = outlet.crawl()
    assert run["new_articles"] == 2 and run["errors"] == 0
    assert run["canonical_ignored"] == 2
    assert outlet.stored() == {first.path: first.title, second.path: second.title}

    third = outlet.piece("/o/opinion/3/census", "The census results", "census")
    outlet.publish(third, canonical="/")
    assert outlet.crawl()["new_articles"] == 1  # not dropped as a duplicate of "/"
    assert outlet.stored()[third.path] == third.title
    assert "/" not in outlet.seen()


def test_b_a_canonical_naming_another_article_neither_overwrites_nor_swallows_it(
    outlet: Outlet,
) -> None:
    decoy = outlet.piece("/o/1/decoy", "A decoy", "decoy", hours=0.5)
    scoop = outlet.piece("/o/2/real-scoop", "The real scoop", "scoop", hours=1)
    outlet.publish(decoy, canonical=scoop.path)
    outlet.publish(scoop)

    run = outlet.crawl()
    assert run["new_articles"] == 2 and run["canonical_ignored"] == 1
    assert outlet.stored() == {decoy.path: decoy.title, scoop.path: scoop.title}

    # A later page in the AMP form of the stored scoop's URL, with other text: another
    # article, filed under its own URL; the genuine AMP copy of it is merged, not stored.
    other = outlet.piece("/o/2/real-scoop/amp", "Not the scoop", "other")
    outlet.publish(other, canonical=scoop.path)
    amp = outlet.piece("/o/2/real-scoop.amp", scoop.title, "scoop", hours=1)
    amp.paragraphs = scoop.paragraphs
    outlet.publish(amp, canonical=scoop.path)
    later = outlet.crawl()
    assert later["new_articles"] == 1 and later["canonical_ignored"] == 1
    stored = outlet.stored()
    assert stored[other.path] == other.title and stored[scoop.path] == scoop.title
    assert amp.path not in stored and outlet.site.fetch_count(amp.path) == 1
    assert outlet.seen()[amp.path] == "stored"  # an alias of the scoop


def test_c_articles_redirected_to_the_home_page_are_fetched_again_once_fixed(
    outlet: Outlet,
) -> None:
    home = outlet.piece("/", "Other Times: today's news", "headlines")
    outlet.site.add("/", Page(article_html(home, "Other Times", outlet.site.base).encode()))
    pieces = [
        outlet.piece("/o/opinion/1/budget", "The budget debate", "budget"),
        outlet.piece("/o/opinion/2/monsoon", "The monsoon again", "monsoon"),
    ]
    for a in pieces:  # a glitch: every article URL answers 302 to the home page
        outlet.site.add(a.path, Page(b"", status=302, headers={"Location": "/"}))
        outlet.announce(a)

    run = outlet.crawl()
    assert run["new_articles"] == 0
    assert run["error_kinds"] == {"redirected": 2}  # counted: health is not "ok"
    assert outlet.stored() == {}
    seen = outlet.seen()
    assert {seen[a.path] for a in pieces} == {"not_article"} and "/" not in seen

    for a in pieces:  # the site is fixed
        outlet.site.add_article(a, "Other Times")
    [fixed] = crawl_later(outlet.config, outlet.now, 11.0)  # past the first retry
    assert fixed["new_articles"] == 2 and fixed["errors"] == 0
    assert outlet.stored() == {a.path: a.title for a in pieces}


def test_a_canonical_may_add_or_drop_the_slug_after_an_articles_number() -> None:
    """News sites link /news/1789012 and name /news/1789012/budget-talks canonical (or the
    other way): one article, one URL. A year or a section above the article is no article."""
    from spiders.identity import is_section_like, is_variant

    short, slugged = "https://www.dawn.com/news/1789012", "https://www.dawn.com/news/1789012/talks"
    assert is_variant(short, slugged) and is_variant(slugged, short)
    joined = "https://www.dawn.com/news/1789012-budget-talks"
    assert is_variant(short, joined) and is_variant(joined, short)
    assert not is_variant("https://x.org/news/2024", "https://x.org/news/2024-review")
    assert not is_section_like(short, slugged, [])
    assert not is_variant("https://x.org/news/2024", "https://x.org/news/2024/other-piece")
    assert is_section_like("https://x.org/opinion", "https://x.org/opinion/piece-1", [])
    assert not is_variant("https://x.org/o/2/real-scoop", "https://x.org/o/1/decoy")
