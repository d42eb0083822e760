"""Hostile input to the edited-articles and conditional-GET features: a re-fetched page built
to make the word diff quadratic, a ?version= that str.isdigit() accepts but int() refuses,
and feed validators (ETag / Last-Modified) too long or with control characters, which would
be stored and sent back in the next run's request headers."""

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from alerts.wordiff import passages, word_diff
from crawler.config import config_from_dict
from crawler.config.errors import ConfigError
from crawler.demo.site import FixtureSite, Page, rss, sitemap
from storage.models import ArticleRow
from storage.versions import MAX_DIFF_CELLS, Refetched, apply_recheck, measure_change
from tests.articles import open_db, store
from tests.conftest import cli_json, write_config
from tests.site import FILLER, article
from tests.web import http_request, web_server

NOW = datetime.now(UTC).replace(microsecond=0)


def _shuffled_words(n: int) -> tuple[str, str]:
    """Two texts of `n` words from a small vocabulary, one the other reversed: every word
    occurs thousands of times, difflib's worst case (its time grows with n squared)."""
    rng = random.Random(7)
    words = [f"w{rng.randint(0, 50)}" for _ in range(n)]
    return " ".join(words), " ".join(reversed(words))


def test_a_huge_shuffled_rewrite_is_measured_and_diffed_in_bounded_time() -> None:
    # 60,000 words a side: unbounded, difflib takes minutes for each of the two calls.
    old, new = _shuffled_words(60_000)
    started = time.monotonic()
    change = measure_change("T", old, "T", new)
    pieces = word_diff(old, new)
    assert time.monotonic() - started < 15
    # The diff still gives back both versions exactly.
    assert "".join(p.text for p in pieces if p.op != "ins") == old
    assert "".join(p.text for p in pieces if p.op != "del") == new
    assert change.words_changed >= 0 and 0 <= change.similarity <= 1


def test_a_long_article_edited_at_both_ends_is_measured_by_its_changed_words() -> None:
    # The middle left between the two edits is too long for difflib (over MAX_DIFF_CELLS):
    # the coarse measure still counts only the words that changed.
    body = " ".join(f"word{i % 997} filler{i}" for i in range(3_000))
    assert len(body.split()) ** 2 > MAX_DIFF_CELLS
    old = "Opening line. " + body + " Closing line."
    typo = "Opening lines. " + body + " Closing lines."
    assert measure_change("T", old, "T", typo).words_changed == 2
    assert measure_change("T", old, "T", typo).is_edit is False
    added = old + " " + " ".join(f"new{i}" for i in range(30))
    assert measure_change("T", old, "T", added).is_edit is True


@pytest.fixture
def edited_site(tmp_path: Path) -> Iterator[str]:
    """The web UI over an archive holding one article with two versions; its base URL."""
    raw = {
        "database": {"url": f"sqlite:///{tmp_path / 'mw.db'}"},
        "catalogue": {"include": []},
        "outlets": [{"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/f"]}],
    }
    config_path = write_config(tmp_path / "mediawatch.toml", raw)
    config = config_from_dict(raw, str(config_path))
    db = open_db(config)
    row = store(db, config, "dawn", "dawn.example/e", "Talks resume", FILLER * 3, NOW)
    page = Refetched("Talks stall", FILLER * 3 + " Officials said nothing more.", 0.0)
    with db.write() as session:
        assert apply_recheck(session, row.id, page, NOW + timedelta(hours=1)).version == 2
        article = session.get(ArticleRow, row.id)
        assert article is not None and article.version == 2
    db.dispose()
    with web_server(config_path, tmp_path / "web.log") as base:
        yield f"{base}/articles/{row.id}"


@pytest.mark.parametrize("asked", ["\N{SUPERSCRIPT TWO}", "1" * 5000, "-1", "2.0", "0x2"])
def test_a_malformed_version_parameter_shows_the_latest_change(
    edited_site: str, asked: str
) -> None:
    status, _, body = http_request(f"{edited_site}?version={quote(asked)}")
    assert status == 200, body[:300]
    assert "Talks stall" in body.decode()


def test_feed_validators_unfit_for_a_header_are_not_kept(tmp_path: Path, db_url: str) -> None:
    site = FixtureSite().start()
    try:
        piece = article("/n/1/piece", "Budget piece", 1, [FILLER * 3], NOW)
        site.add_article(piece, "Delta")
        feed = rss("Delta", site.base, [piece]).encode()
        good_date = format_datetime(NOW - timedelta(days=1), usegmt=True)
        headers = {
            # A 3,000-character ETag, and one with a control character: dropped.
            "/long.xml": {"ETag": '"' + "a" * 3000 + '"', "Last-Modified": good_date},
            "/ctl.xml": {"ETag": '"v1\x01x"'},
            # A Last-Modified longer than its column (String(64) on PostgreSQL): dropped, so
            # the source's good ETag is still remembered.
            "/date.xml": {"ETag": '"ok"', "Last-Modified": good_date + " x" * 100},
        }
        for path, h in headers.items():
            site.add(path, Page(feed, content_type="application/rss+xml", headers=h))
        # A sitemap index listing a child whose URL is longer than the column that would
        # remember it (2,048): on PostgreSQL it would fail the outlet's whole save.
        long_child = site.url("/child.xml?pad=" + "a" * (2060 - len(site.url("/child.xml?pad="))))
        index = (
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{long_child}</loc></sitemap></sitemapindex>"
        )
        site.add("/index.xml", Page(index.encode(), content_type="application/xml"))
        child = sitemap(site.base, [piece], news=False).encode()
        site.add("/child.xml", Page(child, content_type="application/xml", headers={"ETag": '"c"'}))
        config = write_config(
            tmp_path / "mediawatch.toml",
            {
                "database": {"url": db_url},
                "crawl": {"download_delay": 0, "retries": 0},
                "email": {"outbox_dir": str(tmp_path / "outbox")},
                "catalogue": {"include": []},
                "outlets": [
                    {
                        "id": "delta",
                        "name": "Delta",
                        "feeds": [site.url(p) for p in headers],
                        "sitemaps": [site.url("/index.xml")],
                    }
                ],
            },
        )
        cli_json("--config", str(config), "crawl", "--format", "json")
        assert site.fetch_count(long_child.removeprefix(site.base)) == 1
    finally:
        site.stop()
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT url, etag, last_modified FROM source_validators")
            ).all()
    finally:
        engine.dispose()
    kept = {url.rsplit("/", 1)[1]: (etag, modified) for url, etag, modified in rows}
    assert kept == {"long.xml": (None, good_date), "date.xml": ('"ok"', None)}


def test_the_edit_email_quotes_a_bounded_part_of_a_huge_change() -> None:
    # A whole page added to the article, and an edit to every other word of a long one: the
    # passages an edit email quotes stay a few hundred kilobytes at most.
    base = " ".join(f"w{i}" for i in range(50_000))
    added = base + " " + "x" * 5_000_000
    every_other = " ".join(f"w{i}" if i % 2 else f"v{i}" for i in range(50_000))
    for new in (added, every_other):
        quoted = passages(word_diff(base, new))
        assert quoted and sum(len(p.text) for passage in quoted for p in passage) < 500_000


@pytest.mark.parametrize("template", ["//evil.example/page/{n}", " //evil.example/{n}"])
def test_a_listing_pages_template_cannot_lead_to_another_host(template: str) -> None:
    outlet = {
        "id": "delta",
        "name": "Delta",
        "listings": ["https://delta.example/news/"],
        "listing_pages": template,
    }
    with pytest.raises(ConfigError, match="listing_pages"):
        config_from_dict({"catalogue": {"include": []}, "outlets": [outlet]}, "t.toml")
