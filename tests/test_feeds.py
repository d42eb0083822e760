"""Atom feeds per topic and per search, read back by feedparser from a real `mediawatch web`."""

import base64
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from lxml import etree

from crawler.config import config_from_dict
from tests.articles import open_db
from tests.conftest import PG_URL, create_database, need_service, write_config
from tests.web import http_request, store_article, two_outlet_archive, web_server

NOW = datetime.now(UTC).replace(microsecond=0)
WORDS = [
    "budget",
    "harbour",
    "monsoon",
    "railway",
    "senate",
    "cotton",
    "tariff",
    "drought",
    "ferry",
    "courier",
    "census",
    "wheat",
    "lantern",
    "copper",
    "garrison",
    "festival",
    "reservoir",
    "cabinet",
    "textile",
    "orchard",
    "pension",
    "highway",
    "tribunal",
    "quarry",
    "glacier",
    "envoy",
    "ledger",
    "turbine",
    "vaccine",
    "bazaar",
]


def filler(seed: int) -> str:
    """Different prose for each article, so no two are near-duplicates by accident."""
    rng = random.Random(seed)
    made_up = ("".join(rng.choice("aeioubdkmrst") for _ in range(6)) for _ in range(80))
    real = rng.choices(WORDS, k=80)  # drawn before the made-up words, which zip draws lazily
    return " ".join(w for pair in zip(made_up, real, strict=True) for w in pair)


def fatf_text(seed: int) -> str:
    return (
        f"The FATF grey list review was discussed. {filler(seed)} "
        "The Financial Action Task Force met."
    )


def _reset_postgres() -> str:
    need_service("PostgreSQL", 5432)
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return PG_URL


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def feeds(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """60 FATF stories (one also syndicated, one with no date, one with a hostile title) and
    two CISMOA ones, served by `mediawatch web`."""
    tmp = tmp_path_factory.mktemp("feeds")
    url = f"sqlite:///{tmp / 'mw.db'}" if request.param == "sqlite" else _reset_postgres()
    path, config, db = two_outlet_archive(tmp, url)
    fatf: dict[int, Any] = {}
    # Stored in an order unlike their dates: the feed must sort by publication date.
    for n in random.Random(7).sample(range(60), 60):
        outlet = "dawn" if n % 2 else "hindu"
        fatf[n] = store_article(
            db,
            config,
            outlet,
            f"{outlet}.example/fatf-{n}",
            f"FATF story {n}",
            fatf_text(n),
            NOW - timedelta(hours=200 - n),  # story 59 is the newest
            published=NOW - timedelta(hours=100 - n),
        )
    copy = store_article(
        db,
        config,
        "hindu",
        "hindu.example/fatf-58-syndicated",
        "FATF story 58 (syndicated)",
        fatf_text(58) + " Syndicated.",
        NOW - timedelta(minutes=5),
        published=NOW - timedelta(minutes=5),
    )
    undated = store_article(
        db,
        config,
        "dawn",
        "dawn.example/undated",
        "FATF undated",
        fatf_text(1000),
        NOW - timedelta(minutes=30),  # no publication date: sorted by first seen
        published=None,
    )
    hostile = store_article(
        db,
        config,
        "dawn",
        "dawn.example/hostile",
        "FATF </title><script>alert(1)</script> & \x0b\x1b done",
        fatf_text(2000),
        NOW - timedelta(hours=500),
        published=NOW - timedelta(hours=500),  # the oldest: not among the newest 50
    )
    cismoa = [
        store_article(
            db,
            config,
            "dawn",
            f"dawn.example/cismoa-{n}",
            f"CISMOA story {n}",
            f"CISMOA was renewed. {filler(5000 + n)}",
            NOW - timedelta(hours=n),
        )
        for n in range(2)
    ]
    db.dispose()
    assert copy.duplicate_of_id == fatf[58].id  # the fixture really has a near-duplicate
    with web_server(path) as base:
        yield {
            "base": base,
            "fatf": fatf,
            "copy": copy,
            "undated": undated,
            "hostile": hostile,
            "cismoa": cismoa,
        }


def parse(url: str, **kwargs: Any) -> Any:
    status, headers, body = http_request(url, **kwargs)
    assert status == 200, body[:300]
    assert headers["Content-Type"].startswith("application/atom+xml")
    etree.fromstring(body)  # well-formed XML, whatever feedparser forgives
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def test_topic_feed_newest_fifty_stories_once(feeds: dict[str, Any]) -> None:
    feed = parse(feeds["base"] + "/feeds/topics/fatf.atom")
    fatf = feeds["fatf"]
    # The undated article (first seen 30 minutes ago) is the newest, then stories 59, 58...;
    # story 58 once, as its first copy, though a syndicated copy is newer.
    expected = [feeds["undated"]] + [fatf[n] for n in range(59, 59 - 49, -1)]
    assert len(feed.entries) == 50
    assert [e.link for e in feed.entries] == [a.url for a in expected]
    assert [e.title for e in feed.entries][:3] == ["FATF undated", "FATF story 59", "FATF story 58"]
    assert feeds["copy"].url not in {e.link for e in feed.entries}
    updated = [e.updated_parsed for e in feed.entries]
    assert updated == sorted(updated, reverse=True)
    entry = feed.entries[1]
    assert entry.published.startswith((NOW - timedelta(hours=41)).strftime("%Y-%m-%dT%H"))
    assert "FATF grey list" in entry.summary and entry.summary.startswith("Dawn: ")
    assert entry.id == f"tag:mediawatch,2026:story/{fatf[59].id}"
    assert any(t.term == "fatf" for t in entry.tags)
    assert feed.feed.title == "mediawatch: FATF"
    links = {link.rel: link.href for link in feed.feed.links}
    assert links["self"] == feeds["base"] + "/feeds/topics/fatf.atom"
    assert links["alternate"] == feeds["base"] + "/?topic=fatf"


def test_search_feed_filters_and_escapes(feeds: dict[str, Any]) -> None:
    feed = parse(feeds["base"] + "/feeds/search.atom?q=CISMOA")
    assert [e.link for e in feed.entries] == [a.url for a in feeds["cismoa"]]
    # A query with more matches than a feed holds: still newest first, 50, each story once.
    feed = parse(feeds["base"] + "/feeds/search.atom?q=%22grey+list%22")
    fatf = feeds["fatf"]
    expected = [feeds["undated"]] + [fatf[n] for n in range(59, 59 - 49, -1)]
    assert [e.link for e in feed.entries] == [a.url for a in expected]
    feed = parse(feeds["base"] + "/feeds/search.atom?q=%22grey+list%22&outlet=dawn")
    links = [e.link for e in feed.entries]
    odd = [fatf[n].url for n in range(59, -1, -1) if n % 2]
    assert links == [feeds["undated"].url, *odd, feeds["hostile"].url]
    hostile = next(e for e in feed.entries if e.link == feeds["hostile"].url)
    assert hostile.title == "FATF </title><script>alert(1)</script> &  done"
    # since filters like the search page; a bad parameter is a 400 naming it
    feed = parse(feeds["base"] + "/feeds/search.atom?topic=fatf&since=2d")
    recent = [feeds["undated"].url] + [fatf[n].url for n in range(59, 52, -1)]  # 48 hours
    assert [e.link for e in feed.entries] == recent
    status, _, body = http_request(feeds["base"] + "/feeds/search.atom?q=%22open")
    assert status == 400 and b"closing quote" in body
    status, _, body = http_request(feeds["base"] + "/feeds/search.atom?topic=nope")
    assert status == 400 and b"unknown topic" in body


def test_unknown_topic_is_404_and_feeds_are_in_openapi(feeds: dict[str, Any]) -> None:
    status, _, body = http_request(feeds["base"] + "/feeds/topics/nope.atom")
    assert status == 404 and b"fatf" in body
    spec = json.loads(http_request(feeds["base"] + "/openapi.json")[2])
    assert {"/feeds/topics/{id}.atom", "/feeds/search.atom"} <= set(spec["paths"])


def test_search_page_links_its_feed(feeds: dict[str, Any]) -> None:
    _, _, body = http_request(feeds["base"] + "/?q=FATF&outlet=dawn&page=2")
    html = body.decode()
    href = "/feeds/search.atom?q=FATF&amp;outlet=dawn"
    head = '<link rel="alternate" type="application/atom+xml" title="Atom feed of this search"'
    assert f'{head} href="{href}">' in html
    assert f'<a href="{href}" type="application/atom+xml">Atom feed</a>' in html


def test_feeds_take_the_web_token_as_a_basic_auth_password(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    config = write_config(
        tmp_path / "m.toml",
        {"database": {"url": db}, "catalogue": {"include": []}, "web": {"token": "s3cret"}},
    )
    create_database(db)

    def basic(user: str, password: str) -> dict[str, str]:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}

    with web_server(config) as base:
        url = base + "/feeds/topics/fatf.atom"
        status, headers, _ = http_request(url)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
        assert http_request(url, basic("reader", "wrong"))[0] == 401
        assert http_request(base + "/feeds/search.atom?q=x", basic("", "wrong"))[0] == 401
        feed = parse(url, headers=basic("any-name", "s3cret"))
        assert feed.entries == []
        parse(base + "/feeds/search.atom?q=FATF", headers=basic("feedreader", "s3cret"))
        parse(url, token="s3cret")  # the UI's bearer token works as well


def test_an_edited_article_is_updated_at_its_last_edit(tmp_path: Path) -> None:
    """`updated` is the last edit (the versions table's newest), `published` stays, and the
    feed's own `updated` is its latest change: a feed reader shows the edited piece again."""
    from alerts.assessment import assess
    from alerts.rules import RuleSet
    from storage.versions import Refetched, VersionMatch, apply_recheck

    raw = {
        "database": {"url": f"sqlite:///{tmp_path / 'mw.db'}"},
        "catalogue": {"include": []},
        "outlets": [{"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/f"]}],
        "web": {"token": ""},
    }
    path = write_config(tmp_path / "mediawatch.toml", raw)
    config = config_from_dict(raw, str(path))
    db = open_db(config)
    published = NOW - timedelta(days=2)
    edited = store_article(
        db, config, "dawn", "dawn.example/e", "FATF story", fatf_text(1), published
    )
    later = store_article(
        db, config, "dawn", "dawn.example/l", "FATF later", fatf_text(2), NOW - timedelta(days=1)
    )
    new_text = "The FATF grey list review was postponed. " + filler(3)
    a = assess("FATF story, corrected", new_text, RuleSet(config.topics))
    page = Refetched(
        "FATF story, corrected",
        new_text,
        a.total,
        [VersionMatch(m.topic, m.term, m.title_count, m.text_count) for m in a.matches],
    )
    edit_time = NOW - timedelta(hours=3)
    with db.write() as session:
        assert apply_recheck(session, edited.id, page, edit_time).version == 2
    db.dispose()
    with web_server(path) as base:
        feed = parse(base + "/feeds/topics/fatf.atom")
    entries = {e.link: e for e in feed.entries}
    assert set(entries) == {edited.url, later.url}
    entry = entries[edited.url]
    assert entry.title == "FATF story, corrected"
    assert entry.updated == edit_time.isoformat().replace("+00:00", "Z")
    assert entry.published == published.isoformat().replace("+00:00", "Z")
    assert entries[later.url].updated == entries[later.url].published
    assert feed.feed.updated == entry.updated
