"""PostgreSQL narrows a search by each article's word and word-pair keys (storage.searchkeys):
an article the matcher finds a term in must hold the term's keys, or search would miss it."""

import asyncio
import random
import signal
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import regex
from alembic import command
from sqlalchemy import create_engine, text

from alerts.query import CompiledQuery
from alerts.rules import RuleSet
from crawler.archive.reader import Archive
from crawler.config import DEFAULT_TOPICS, config_from_dict
from crawler.runtime.context import CrawlContext
from crawler.service import once
from crawler.service.daemon import Daemon
from crawler.service.stopping import StopOnSignal
from storage.articles import NewArticle, OutletInfo, insert_article, sync_outlets
from storage.db import Database
from storage.migrate import alembic_config, upgrade
from storage.queries import ArticleFilter
from storage.searchkeys import (
    KEYED,
    KEYED_BEFORE,
    TO_KEY,
    article_keys,
    articles_without_keys,
    fill_search_keys,
    term_keys,
)
from storage.versions import Refetched, apply_recheck
from tests.conftest import write_config

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
WORDS = [
    "grey",
    "List",
    "FATF",
    "U.S.",
    "Pakistan’s",
    "café",
    "CAFÉ",
    "ﬁnance",
    "straße",
    "İstanbul",
    "ΣΟΦΙΑ",
    "σοφια",
    "کالعدم",
    "تنظیم",
    "हमला",
    "सीमा",
    "covid-19",
    "a_b",
    "x2",
    "buttons",  # words the English stemmer changes have keys of their own
    "Policies",
    "easing",
]
GAPS = [
    " ",
    "  ",
    "-",
    " - ",
    "—",
    "\n",
    ". ",
    ", ",
    " (",
    ") ",
    "/",
    "'",
    " https://e.org/a-b ",
    " www.dawn.com/x ",
]


def _text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(WORDS) + rng.choice(GAPS) for _ in range(n))


def test_an_article_holds_the_keys_of_every_term_the_matcher_finds_in_it() -> None:
    rng = random.Random(5)
    checked = 0
    for _ in range(3000):
        body = _text(rng, 12)
        size = rng.choice([1, 2, 3])
        start = rng.randrange(len(WORDS))
        words = [WORDS[(start + k * rng.randrange(1, 3)) % len(WORDS)] for k in range(size)]
        words = [w.upper() if rng.random() < 0.2 else w for w in words]
        phrase = " ".join(words)
        prefix = rng.random() < 0.2 and regex.fullmatch(r"\w{4,}", words[-1]) is not None
        query = f'"{phrase}"' if not prefix else f"{words[-1][:3]}*"
        term = phrase if not prefix else words[-1][:3]
        if CompiledQuery(query).matches("", body):
            checked += 1
            assert set(term_keys(term, prefix)) <= set(article_keys("", body)), (query, body)
    assert checked > 200  # the table above makes matches common enough to mean something


def test_case_variants_the_matcher_equates_share_a_key() -> None:
    """The matcher ignores case as the `regex` module does; keys fold with str.casefold: every
    pair of characters the one equates, the other must too."""
    cased = [chr(c) for c in range(0x110000) if chr(c).lower() != chr(c).upper()]
    assert len(cased) > 2000
    for c in cased:
        variants = {c.lower(), c.upper(), c.title(), c.casefold(), c.swapcase()}
        variants |= {v.lower() for v in variants} | {v.upper() for v in variants}
        for v in variants:
            if regex.fullmatch(regex.escape(c), v, regex.IGNORECASE):
                assert term_keys(f"{c} x") == term_keys(f"{v} x") != [], (c, v)


def _archive(url: str) -> tuple[Archive, Database]:
    db = Database(url)
    db.upgrade()
    with db.write() as s:
        sync_outlets(s, [OutletInfo("dawn", "Dawn", "PK", "en")])
    return Archive(db, RuleSet(DEFAULT_TOPICS)), db


def _add(db: Database, key: str, title: str, body: str, age: int) -> int:
    with db.write() as s:
        row = insert_article(
            s,
            NewArticle(
                url=f"https://{key}",
                url_key=key,
                outlet_id="dawn",
                title=title,
                text=body,
                published=NOW - timedelta(hours=age),
                date_source="page",
                score=1.0,
                simhash=random.Random(key).getrandbits(63),
                language="en",
            ),
            NOW,
        )
        assert row is not None
        return int(row.id)


def test_postgresql_finds_a_rare_phrase_of_common_words_edited_and_unkeyed_rows_too(
    pg_url: str,
) -> None:
    archive, db = _archive(pg_url)
    common = "related images of the story were shared by the desk. " * 5
    for i in range(60):  # both words everywhere, never side by side
        _add(db, f"e.org/{i}", f"Report {i}", common + f"Item {i} of the day.", i + 10)
    holds = _add(db, "e.org/holds", "Images", "Several images related reports.", 200)
    edited = _add(db, "e.org/edited", "Later", "Nothing here yet about it.", 300)
    unkeyed = _add(db, "e.org/unkeyed", "Old row", "Old images related, as before.", 400)
    with db.write() as s:
        # As written by a version before migration 0015: found the old way.
        s.execute(text("UPDATE articles SET search_keys = NULL WHERE id = :i"), {"i": unkeyed})
        apply_recheck(
            s, edited, Refetched("Later", "Now it has images—related notes in it.", 1.0), NOW
        )
    found = archive.search(ArticleFilter(query='"images related"', limit=20), NOW)
    assert sorted(a["id"] for a in found) == sorted([holds, edited, unkeyed])
    assert archive.count(ArticleFilter(query='"images related"')) == 3
    # The keys narrowed the candidates to those three (the matcher read no other text).
    with db.read() as s:
        keyed = s.execute(
            text("SELECT count(*) FROM articles WHERE search_keys @> CAST(:k AS integer[])"),
            {"k": term_keys("images related")},
        ).scalar_one()
    assert keyed == 2  # the unkeyed row has none


def test_postgresql_finds_an_english_stop_word_through_its_key(pg_url: str) -> None:
    """The English index leaves "themselves" out; its key narrows the search to the articles
    holding it, whatever their case, a row stored without keys found the old way."""
    archive, db = _archive(pg_url)
    for i in range(40):
        _add(db, f"e.org/{i}", f"Report {i}", "The desk shared the story of the day. " * 5, i)
    holds = [
        _add(db, "e.org/lower", "Talks", "They spoke for themselves at the talks.", 50),
        _add(db, "e.org/title", "THEMSELVES to blame", "A short note.", 60),
    ]
    unkeyed = _add(db, "e.org/unkeyed", "Old", "Leaders themselves said so.", 70)
    _add(db, "e.org/near", "Near", "Them selves, themself and themselveses.", 80)
    assert term_keys("themselves") != [] and term_keys("Themselves") == term_keys("themselves")
    with db.write() as s:
        s.execute(text("UPDATE articles SET search_keys = NULL WHERE id = :i"), {"i": unkeyed})
    with db.read() as s:
        keyed = s.execute(
            text("SELECT id FROM articles WHERE search_keys @> CAST(:k AS integer[])"),
            {"k": term_keys("themselves")},
        ).scalars()
        assert sorted(keyed) == sorted(holds)
    found = archive.search(ArticleFilter(query="themselves", limit=20), NOW)
    assert sorted(a["id"] for a in found) == sorted([*holds, unkeyed])
    assert archive.count(ArticleFilter(query="themselves")) == 3


def test_postgresql_finds_a_word_whose_stem_would_be_stemmed_again(pg_url: str) -> None:
    """ "easing" is indexed 'eas', which the stemmer would make 'ea': the lexemes are asked as
    they are (37 of some 4,000 articles holding "easing" were found at 200,000 articles)."""
    archive, db = _archive(pg_url)
    easing = _add(db, "e.org/1", "Rates", "Monetary easing continued into the spring.", 1)
    pleasing = _add(db, "e.org/2", "Tea", "A pleasing cup, they said.", 2)
    _add(db, "e.org/3", "Ea", "Along the Ea river, a plea.", 3)
    for query, holds in (("easing", easing), ("pleasing", pleasing)):
        found = archive.search(ArticleFilter(query=query, limit=20), NOW, marked=True)
        assert [a["id"] for a in found] == [holds]
        assert f"\x02{query}\x03" in found[0]["snippet_marked"].lower()
        assert archive.count(ArticleFilter(query=query)) == 1


def test_postgresql_finds_a_word_the_stemmer_changes_through_its_key(pg_url: str) -> None:
    """The English index holds "buttons" as 'button', with every "button": the word's own key
    narrows the search to the articles holding "buttons" (the matcher reads no other text), a
    row stored without keys found the old way."""
    archive, db = _archive(pg_url)
    for i in range(40):
        _add(db, f"e.org/{i}", f"Report {i}", "Press the button, the desk said. " * 5, i)
    holds = [
        _add(db, "e.org/lower", "Menus", "Two buttons and a menu.", 50),
        _add(db, "e.org/title", "BUTTONS everywhere", "A short note.", 60),
    ]
    unkeyed = _add(db, "e.org/unkeyed", "Old", "Old buttons, as before.", 70)
    _add(db, "e.org/near", "Near", "Buttonsmith, button-s and buttoned.", 80)
    assert term_keys("buttons") != [] and term_keys("Buttons") == term_keys("buttons")
    assert term_keys("button") == [] and term_keys("buttons", english=False) == []
    with db.write() as s:
        s.execute(text("UPDATE articles SET search_keys = NULL WHERE id = :i"), {"i": unkeyed})
    with db.read() as s:
        keyed = s.execute(
            text("SELECT id FROM articles WHERE search_keys @> CAST(:k AS integer[])"),
            {"k": term_keys("buttons")},
        ).scalars()
        assert sorted(keyed) == sorted(holds)
    found = archive.search(ArticleFilter(query="buttons", limit=20), NOW, marked=True)
    assert sorted(a["id"] for a in found) == sorted([*holds, unkeyed])
    marked = {a["id"]: a["snippet_marked"] for a in found}
    assert "\x02buttons\x03" in marked[holds[0]] and "\x02buttons\x03" in marked[unkeyed]
    assert archive.count(ArticleFilter(query="buttons")) == 3
    assert archive.count(ArticleFilter(query="button")) == 41  # "button-s" holds it too
    assert archive.count(ArticleFilter(query='buttons AND "two buttons"')) == 1


@pytest.mark.parametrize(
    "query",
    ['"of the"', '"the story"', "story", "stories", '"Item 7"', "ite*", "the", "of OR day"],
)
def test_postgresql_and_sqlite_find_the_same_articles(
    pg_url: str, tmp_path: object, query: str
) -> None:
    found = []
    for url in (pg_url, f"sqlite:///{tmp_path}/k.db"):
        archive, db = _archive(url)
        for i in range(30):
            body = f"Item {i} of the day. " + "the story " * i + "stories " * (i % 3)
            _add(db, f"e.org/{i}", f"Report {i}", body, i)
        found.append(
            sorted(a["url"] for a in archive.search(ArticleFilter(query=query, limit=100), NOW))
        )
    assert found[0] == found[1] and found[0]


def _stored_by(url: str, revision: str, bodies: list[str], keys: list[int] | None = None) -> None:
    """Articles 1, 2, ... with these texts, stored as the code of `revision` stored them
    (with these search keys, from revision 0015 on); then the schema upgraded to the head."""
    engine = create_engine(url)
    upgrade(engine, revision)
    held = ", search_keys" if keys is not None else ""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO outlets (id, name, country, language) VALUES ('dawn', 'D', 'PK', 'en')"
            )
        )
        for i, body in enumerate(bodies, 1):
            conn.execute(
                text(
                    "INSERT INTO articles (id, url, url_key, outlet_id, title, text, date_source,"
                    " word_count, score, first_seen, simhash, sim_band0, sim_band1, sim_band2,"
                    f" sim_band3, language{held}) VALUES (:i, :u, :u, 'dawn', 'Old', :t, 'page',"
                    " 4, 1.0, '2026-11-20 08:00:00', :i, 0, 0, 0, 0, 'en'"
                    f"{', CAST(:k AS integer[])' if held else ''})"
                ),
                {"i": i, "u": f"e.org/{i}", "t": body, "k": keys},
            )
    upgrade(engine, "head")
    engine.dispose()


def test_articles_stored_before_the_keys_are_found_then_keyed_in_batches(pg_url: str) -> None:
    """Upgrading adds the keys column without computing keys (minutes on a large archive,
    with every writer waiting); the older articles are found the old way, then keyed a batch
    at a time, newest first, by the daemon or `crawl` (storage.searchkeys.fill_search_keys)."""
    _stored_by(pg_url, "0014", [f"Piece {i}: the grey list again." for i in range(1, 8)])
    archive, db = _archive(pg_url)
    query = ArticleFilter(query='"grey list"', limit=20)
    assert len(archive.search(query, NOW)) == 7  # found without keys
    with db.write() as s:
        assert fill_search_keys(s, limit=5) == 5
        assert articles_without_keys(s) == 2
    with db.read() as s:
        keyed = s.execute(
            text("SELECT id FROM articles WHERE search_keys @> CAST(:k AS integer[]) ORDER BY id"),
            {"k": term_keys("grey list")},
        ).scalars()
        assert list(keyed) == [3, 4, 5, 6, 7]  # the newest first
    assert len(archive.search(query, NOW)) == 7  # keyed and unkeyed rows alike
    with db.write() as s:
        assert fill_search_keys(s) == 2
        assert fill_search_keys(s) == 0
        assert articles_without_keys(s) == 0
    assert len(archive.search(query, NOW)) == 7


def test_upgrading_to_stop_word_keys_keys_every_article_again(pg_url: str) -> None:
    """Keys written before revision 0016 hold no stop word: the upgrade empties them (found
    the old way meanwhile), and the articles are keyed again with their stop words."""
    # A pair's key, as revision 0015 wrote them.
    _stored_by(pg_url, "0015", ["They did it themselves."], term_keys("did it"))
    archive, db = _archive(pg_url)
    with db.read() as s:
        assert articles_without_keys(s) == 1
    query = ArticleFilter(query="themselves", limit=20)
    assert [a["id"] for a in archive.search(query, NOW)] == [1]  # found the old way
    with db.write() as s:
        assert fill_search_keys(s) == 1
    with db.read() as s:
        held = s.execute(text("SELECT search_keys FROM articles WHERE id = 1")).scalar_one()
    assert set(term_keys("themselves")) <= set(held) and set(term_keys("did it")) <= set(held)
    assert [a["id"] for a in archive.search(query, NOW)] == [1]


def test_upgrading_to_stemmed_word_keys_keys_every_article_again(pg_url: str) -> None:
    """Keys written before revision 0017 hold no stemmed word: the upgrade empties them (found
    the old way meanwhile), and the articles are keyed again with them."""
    # As revision 0016 wrote them: pairs, stop words, its marker.
    _stored_by(pg_url, "0016", ["Two buttons."], [*term_keys("two buttons"), *KEYED_BEFORE])
    archive, db = _archive(pg_url)
    with db.read() as s:
        assert articles_without_keys(s) == 1
    query = ArticleFilter(query="buttons", limit=20)
    assert [a["id"] for a in archive.search(query, NOW)] == [1]  # found the old way
    with db.write() as s:
        assert fill_search_keys(s) == 1
    with db.read() as s:
        held = s.execute(text("SELECT search_keys FROM articles WHERE id = 1")).scalar_one()
    assert set(term_keys("buttons")) | set(term_keys("two buttons")) <= set(held)
    assert [a["id"] for a in archive.search(query, NOW)] == [1]


def test_the_stemmer_decides_as_when_the_keys_were_written() -> None:
    """Which words have keys of their own is the stemmer's answer when an article was keyed:
    a release that answers otherwise ("skis" is 'skis' in snowballstemmer 3.0.1, 'ski' in
    3.1.1) would make searches miss the articles keyed before it. Such a release needs a
    migration that keys every article again (and these answers brought up to date)."""
    changed = ["buttons", "skis", "policy", "easing", "scaled", "days", "players", "shows"]
    kept = ["button", "interval", "internal", "evening", "pakistan", "fatf", "ttp", "news"]
    assert all(term_keys(w) for w in changed), [w for w in changed if not term_keys(w)]
    assert not any(term_keys(w) for w in kept), [w for w in kept if term_keys(w)]
    # Words of other alphabets have none: the index holds them as written.
    assert term_keys("کالعدم") == term_keys("हमलों") == term_keys("café") == []


def test_downgrading_puts_back_the_index_the_version_before_reads(pg_url: str) -> None:
    """Revision 0016's code looks for rows without its own marker: after a downgrade, its
    index finds them (a scan of every row's keys on each crawl otherwise)."""
    engine = create_engine(pg_url)
    upgrade(engine)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0016")
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        before = "search_keys IS NULL OR NOT (search_keys @> '{4194320}'::integer[])"
        plan = conn.execute(text(f"EXPLAIN SELECT id FROM articles WHERE {before}")).scalars()
        assert "ix_articles_unkeyed" in "\n".join(plan)
    engine.dispose()


def test_keys_of_this_version_hold_the_markers_before_it(pg_url: str) -> None:
    """A daemon of the version before, still running after the upgrade, looks for rows without
    its own marker to key: rows this version keyed hold it, so it leaves them alone."""
    archive, db = _archive(pg_url)
    _add(db, "e.org/new", "New", "Two buttons.", 1)
    with db.read() as s:
        for marker in (KEYED, *KEYED_BEFORE):
            unmarked = s.execute(
                text("SELECT count(*) FROM articles WHERE NOT (search_keys @> ARRAY[:m])"),
                {"m": marker},
            ).scalar_one()
            assert unmarked == 0, marker


def test_keys_an_older_version_wrote_after_the_upgrade_are_written_again(pg_url: str) -> None:
    """A daemon of the version before, not yet restarted when another command upgraded the
    schema, stores keys without stop words or stemmed words; they lack the version's marker
    and are redone."""
    archive, db = _archive(pg_url)
    current = _add(db, "e.org/new", "New", "They did it themselves.", 1)
    older = _add(db, "e.org/old", "Old", "They said it themselves.", 2)
    stemmed = _add(db, "e.org/0016", "Two", "Two buttons.", 3)
    with db.write() as s:
        s.execute(
            text("UPDATE articles SET search_keys = CAST(:k AS integer[]) WHERE id = :i"),
            {"k": term_keys("said it"), "i": older},  # as revision 0015's code keyed it
        )
        s.execute(
            text("UPDATE articles SET search_keys = CAST(:k AS integer[]) WHERE id = :i"),
            {"k": [*term_keys("two buttons"), *KEYED_BEFORE], "i": stemmed},  # as 0016's did
        )
    # Found the old way meanwhile: their keys are not this version's.
    query = ArticleFilter(query="themselves", limit=20)
    assert sorted(a["id"] for a in archive.search(query, NOW)) == sorted([current, older])
    assert [a["id"] for a in archive.search(ArticleFilter(query="buttons"), NOW)] == [stemmed]
    assert archive.count(ArticleFilter(query="buttons OR themselves")) == 3
    with db.read() as s:
        assert articles_without_keys(s) == 2
        # The index that finds them is the one the query names (migration 0017 spells it).
        s.execute(text("SET LOCAL enable_seqscan = off"))  # a few rows: else a scan is cheaper
        plan = s.execute(text(f"EXPLAIN SELECT id FROM articles WHERE {TO_KEY}")).scalars()
        assert "ix_articles_unkeyed" in "\n".join(plan)
    with db.write() as s:
        assert fill_search_keys(s) == 2
        assert fill_search_keys(s) == 0
    assert sorted(a["id"] for a in archive.search(query, NOW)) == sorted([current, older])
    assert [a["id"] for a in archive.search(ArticleFilter(query="buttons"), NOW)] == [stemmed]


def test_the_daemon_keys_the_older_articles(pg_url: str, tmp_path: Path) -> None:
    raw = {
        "database": {"url": pg_url},
        "catalogue": {"include": []},
        "outlets": [{"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/f"]}],
    }
    config = config_from_dict(raw, str(write_config(tmp_path / "m.toml", raw)))
    _, db = _archive(pg_url)
    for i in range(1200):
        _add(db, f"e.org/{i}", f"Report {i}", "The grey list again.", i)
    with db.write() as s:  # as an older version wrote them
        s.execute(text("UPDATE articles SET search_keys = NULL"))

    clock = [NOW]
    unkeyed = "SELECT count(*) FROM articles WHERE search_keys IS NULL"

    async def run() -> list[int]:
        left = []
        with CrawlContext.create(config) as context:
            context.clock = lambda: clock[0]
            daemon = Daemon(config, context)
            assert daemon._schedule(asyncio.get_running_loop()).get_job("search_keys")
            await daemon._search_keys()  # 1,200 articles: 3 of the 4 batches a run may take
            with db.write() as s:  # a worker of the older version, not yet restarted, writes
                s.execute(text("UPDATE articles SET search_keys = NULL WHERE id <= 3"))
            for minutes in (0, 5, 11):  # looked for again SEARCH_KEYS_RECHECK after done
                clock[0] = NOW + timedelta(minutes=minutes)
                await daemon._search_keys()
                with db.read() as s:
                    left.append(s.scalar(text(unkeyed)))
        return left

    assert asyncio.run(run()) == [3, 3, 0]


def test_articles_without_keys_are_counted_once_for_a_phrase_or_a_word(pg_url: str) -> None:
    archive, db = _archive(pg_url)
    for i in range(6):
        _add(db, f"e.org/{i}", f"Report {i}", "Pakistan again." if i % 2 else "The grey list.", i)
    with db.write() as s:  # as an older version wrote them
        s.execute(text("UPDATE articles SET search_keys = NULL WHERE id % 3 <> 0"))
    query = ArticleFilter(query='"grey list" OR pakistan', limit=20)
    assert len(archive.search(query, NOW)) == 6
    assert archive.count(query) == 6


def _context_config(url: str, tmp_path: Path) -> Any:
    raw = {
        "database": {"url": url},
        "catalogue": {"include": []},
        "outlets": [{"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/f"]}],
    }
    return config_from_dict(raw, str(write_config(tmp_path / "m.toml", raw)))


def test_a_crawl_keys_older_articles_until_a_signal(pg_url: str, tmp_path: Path) -> None:
    _, db = _archive(pg_url)
    for i in range(3):
        _add(db, f"e.org/{i}", f"Report {i}", "The grey list again.", i)
    with db.write() as s:  # as an older version wrote them
        s.execute(text("UPDATE articles SET search_keys = NULL"))
    stop = StopOnSignal()
    stop.signal = signal.SIGTERM
    with CrawlContext.create(_context_config(pg_url, tmp_path)) as context:
        once._fill_search_keys(context, stop)  # stopped: the crawl's command ends now
        with db.read() as s:
            assert s.scalar(text("SELECT count(*) FROM articles WHERE search_keys IS NULL")) == 3
        once._fill_search_keys(context)
        with db.read() as s:
            assert s.scalar(text("SELECT count(*) FROM articles WHERE search_keys IS NULL")) == 0


def test_a_crawl_on_sqlite_does_not_wait_for_the_write_lock_for_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    with CrawlContext.create(_context_config(url, tmp_path)) as context:
        other = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # a daemon writing (30 s busy timeout otherwise)
        started = time.monotonic()
        once._fill_search_keys(context)
        assert time.monotonic() - started < 5
        other.execute("ROLLBACK")
        other.close()
