"""Bounded work per source, through real `mediawatch crawl`s: entries read per sitemap, child
sitemaps per index and article requests per outlet per run are capped ([crawl] keys); what is
left waits for the next run, newest first. A 5,000-item feed of dead links costs one run no
more than its article budget."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crawler.demo.site import DemoArticle, FixtureSite, Page, rss
from tests.conftest import cli_json, write_config
from tests.site import FILLER, article

CAPS = {"max_sitemap_entries": 100, "max_child_sitemaps": 3, "max_articles_per_run": 40}
FEED_ITEMS = 60
DEAD_ITEMS = 5000


def piece(path: str, hours: float, now: datetime) -> DemoArticle:
    text = f"Column {path}: the provincial assembly met again on the budget. " + FILLER * 3
    return article(path, f"Column {path}", hours, [text], now)


def urlset(entries: list[tuple[str, datetime]]) -> Page:
    body = "".join(
        f"<url><loc>{u}</loc><lastmod>{d.isoformat()}</lastmod></url>" for u, d in entries
    )
    xml = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>'
    return Page(xml.encode(), content_type="application/xml")


@dataclass
class Bounds:
    site: FixtureSite
    now: datetime
    config: Path
    runs: list[dict[str, Any]] = field(default_factory=list)
    fetched: list[dict[str, int]] = field(default_factory=list)  # site requests after each run

    def paths(self, run: int, prefix: str) -> set[str]:
        return {p for p, n in self.fetched[run].items() if p.startswith(prefix) and n}


def build(tmp: Path) -> Bounds:
    now = datetime.now(UTC).replace(microsecond=0)
    site = FixtureSite().start()
    b = Bounds(site, now, tmp / "bounds.toml")

    # A sitemap of 150 entries: 99 too old, then the one good article, then 50 recent ones
    # past max_sitemap_entries that must never be read.
    old = now - timedelta(days=30)
    entries = [(site.url(f"/sm/old-{i}"), old) for i in range(99)]
    site.add_article(piece("/sm/good", 1, now), "Bounds")
    entries.append((site.url("/sm/good"), now - timedelta(hours=1)))
    entries += [(site.url(f"/sm/unread-{i}"), now) for i in range(50)]
    site.add("/sm/sitemap.xml", urlset(entries))

    # An index of 6 children, listed oldest first: only the 3 newest are read.
    children = []
    for i in range(6):
        a = piece(f"/ix/article-{i}", i + 1, now)
        site.add_article(a, "Bounds")
        site.add(f"/ix/child-{i}.xml", urlset([(site.url(a.path), a.published)]))
        children.append((site.url(f"/ix/child-{i}.xml"), now - timedelta(hours=i + 1)))
    index = "".join(
        f"<sitemap><loc>{u}</loc><lastmod>{d.isoformat()}</lastmod></sitemap>"
        for u, d in reversed(children)
    )
    site.add(
        "/ix/index.xml",
        Page(
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{index}'
            "</sitemapindex>".encode(),
            content_type="application/xml",
        ),
    )

    # A feed of 60 articles an hour apart, listed oldest first: 40 this run, 20 the next.
    items = [piece(f"/feed/a-{i}", i, now) for i in range(FEED_ITEMS)]
    for a in items:
        site.add_article(a, "Bounds")
    site.add_rss("/feed/rss.xml", "Bounds", list(reversed(items)))

    # 5,000 dead links a minute apart (none has a page: every one is a 404).
    dead = [article(f"/dead/{i}", f"Dead {i}", i / 60, ["x"], now) for i in range(DEAD_ITEMS)]
    site.add("/dead/rss.xml", Page(rss("Dead", site.base, dead).encode()))

    write_config(
        b.config,
        {
            "database": {"url": f"sqlite:///{tmp / 'bounds.db'}"},
            "crawl": {"download_delay": 0, "retries": 0, "timeout": "5s", **CAPS},
            "catalogue": {"include": []},
            "outlets": [
                {"id": "b-sitemap", "name": "B Sitemap", "sitemaps": [site.url("/sm/sitemap.xml")]},
                {"id": "b-index", "name": "B Index", "sitemaps": [site.url("/ix/index.xml")]},
                {"id": "b-feed", "name": "B Feed", "feeds": [site.url("/feed/rss.xml")]},
                {"id": "b-dead", "name": "B Dead", "feeds": [site.url("/dead/rss.xml")]},
            ],
        },
    )
    return b


@pytest.fixture(scope="module")
def bounds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bounds]:
    b = build(tmp_path_factory.mktemp("bounds"))
    # The second run needs only the capped feed (the 5,000 dead links cost time, not news).
    for outlets in ([], ["b-feed"]):
        b.runs.append(cli_json("--config", str(b.config), "crawl", *outlets, "--format", "json"))
        with b.site._lock:
            b.fetched.append(dict(b.site.requests))
    yield b
    b.site.stop()


def outlet(summary: dict[str, Any], outlet_id: str) -> dict[str, Any]:
    return next(o for o in summary["outlets"] if o["id"] == outlet_id)


def test_a_sitemap_is_read_up_to_max_sitemap_entries(bounds: Bounds) -> None:
    assert bounds.paths(0, "/sm/") == {"/sm/sitemap.xml", "/sm/good"}
    first = outlet(bounds.runs[0], "b-sitemap")
    assert first["new_articles"] == 1 and first["error_kinds"] == {}


def test_an_index_gives_at_most_max_child_sitemaps_newest_first(bounds: Bounds) -> None:
    read = bounds.paths(0, "/ix/child-")
    assert read == {"/ix/child-0.xml", "/ix/child-1.xml", "/ix/child-2.xml"}
    assert bounds.paths(0, "/ix/article-") == {f"/ix/article-{i}" for i in range(3)}
    assert outlet(bounds.runs[0], "b-index")["new_articles"] == 3


def test_articles_per_run_are_capped_newest_first_and_the_rest_come_next_run(
    bounds: Bounds,
) -> None:
    first = bounds.paths(0, "/feed/a-")
    assert first == {f"/feed/a-{i}" for i in range(CAPS["max_articles_per_run"])}
    assert outlet(bounds.runs[0], "b-feed")["new_articles"] == CAPS["max_articles_per_run"]
    assert outlet(bounds.runs[0], "b-feed")["error_kinds"] == {}
    second = bounds.paths(1, "/feed/a-") - first
    assert second == {f"/feed/a-{i}" for i in range(CAPS["max_articles_per_run"], FEED_ITEMS)}
    assert outlet(bounds.runs[1], "b-feed")["new_articles"] == FEED_ITEMS - len(first)
    assert all(n == 1 for p, n in bounds.fetched[1].items() if p.startswith("/feed/a-"))


def test_five_thousand_dead_links_cost_one_budget_per_run(bounds: Bounds) -> None:
    dead = outlet(bounds.runs[0], "b-dead")
    assert dead["error_kinds"] == {"gone": CAPS["max_articles_per_run"]}
    fetched = {int(p.rsplit("/", 1)[1]) for p in bounds.paths(0, "/dead/") if p != "/dead/rss.xml"}
    assert len(fetched) == CAPS["max_articles_per_run"]
    # Newest first: the links fetched are (within one hour's bucket) the most recent ones.
    assert max(fetched) < 60
