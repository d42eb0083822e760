"""More like this (storage.similar) on SQLite and PostgreSQL, and `topics suggest`."""

import asyncio
import random
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from crawler.config import config_from_dict
from crawler.runtime.context import CrawlContext
from crawler.service.daemon import Daemon
from storage.db import Database
from storage.similar import (
    _refresh_postgres,
    _refresh_sqlite,
    refresh_term_frequencies,
    similar_articles,
    snapshot,
)
from tests.articles import open_db, store
from tests.conftest import run_cli, write_config

NOW = datetime.now(UTC)
GWADAR = (
    "Fishermen in Gwadar say the desalination plant promised with the port still does not "
    "deliver water. The Gwadar fishermen's union wants the desalination contract reopened, "
    "and Balochistan's assembly debated the port's water supply on Monday. "
)
CLOSE = (
    "A second desalination plant for Gwadar is planned, officials told fishermen who "
    "protested at the port about water shortages in Balochistan. "
)
FARTHER = "Water shortages hit Quetta; the Balochistan government blames the drought. "
_RNG = random.Random(12)
_SYLLABLES = ["ka", "ro", "mi", "tu", "sel", "dan", "vor", "pli", "gu", "zen", "bra", "os"]
_POOL = sorted({"".join(_RNG.choices(_SYLLABLES, k=4)) for _ in range(6000)})
_RNG.shuffle(_POOL)
# Unrelated articles: made-up words, each article its own (no two share a word).
FILLER = [" ".join(_POOL[i * 40 : (i + 1) * 40] * 2) + "." for i in range(24)]
# A hub sharing one rare word with each of eleven other pieces, for the limit of ten.
_LINKS = _POOL[-11:]
HYDROFOIL = [FILLER[0] + " " + " ".join(_LINKS)] + [
    f"{text} {link}" for text, link in zip(FILLER[1:12], _LINKS, strict=True)
]


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> dict[str, Any]:
    raw = {
        "database": {"url": db_url},
        "catalogue": {"include": []},
        "outlets": [
            {"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/f"]},
            {"id": "hindu", "name": "The Hindu", "feeds": ["https://hindu.example/f"]},
        ],
    }
    path = write_config(tmp_path / "m.toml", raw)
    config = config_from_dict(raw, str(path))
    db = open_db(config)
    at = NOW - timedelta(days=1)
    ids: dict[str, Any] = {}
    ids["target"] = store(db, config, "dawn", "d/gwadar", "Gwadar's thirst", GWADAR * 3, at).id
    ids["copy"] = store(
        db, config, "hindu", "h/gwadar", "Gwadar thirsts", GWADAR * 3 + " Syndicated.", at
    ).id
    ids["close"] = store(db, config, "dawn", "d/close", "Another plant", CLOSE * 2, at).id
    ids["farther"] = store(db, config, "hindu", "h/quetta", "Quetta dry", FARTHER * 2, at).id
    ids["filler"] = [
        store(db, config, "dawn", f"d/filler{i}", f"Filler {i}", text, at).id
        for i, text in enumerate(FILLER[12:])
    ]
    ids["hydrofoil"] = [
        store(db, config, "dawn", f"d/ferry{i}", f"Ferry {i}", text, at).id
        for i, text in enumerate(HYDROFOIL)
    ]
    yield {"db": db, "ids": ids, "path": path, "raw": raw}
    db.dispose()


def _similar(db: Database, article_id: int, limit: int = 10) -> list[int]:
    with db.read() as session:
        return [s.id for s in similar_articles(session, article_id, limit)]


def test_similar_articles_best_first_without_itself_or_its_copies(world: dict[str, Any]) -> None:
    _check_similar(world)


def _check_similar(world: dict[str, Any]) -> None:
    ids = world["ids"]
    found = _similar(world["db"], ids["target"])
    assert found[:2] == [ids["close"], ids["farther"]]
    assert ids["target"] not in found and ids["copy"] not in found
    assert not set(found) & set(ids["filler"])
    # From the copy, the same: its story (the original) and itself are left out.
    assert _similar(world["db"], ids["copy"])[:2] == [ids["close"], ids["farther"]]
    # From elsewhere, the original and its copy both count.
    assert {ids["target"], ids["copy"]} <= set(_similar(world["db"], ids["close"]))
    # Ten at most; none for an article sharing nothing distinctive; none for an unknown id.
    ferry = ids["hydrofoil"][0]
    found = _similar(world["db"], ferry)
    assert len(found) == 10 and set(found) <= set(ids["hydrofoil"][1:])
    assert len(_similar(world["db"], ferry, limit=3)) == 3
    assert _similar(world["db"], 10**9) == []


def test_suggest_prints_a_block_that_loads(world: dict[str, Any], tmp_path: Path) -> None:
    ids = world["ids"]
    result = run_cli(
        "topics", "suggest", str(ids["target"]), str(ids["close"]), "--config", str(world["path"])
    )
    assert result.returncode == 0, result.stderr
    block = result.stdout
    assert "[[topics]]" in block and "gwadar" in block.lower()
    suggested = tomllib.loads(block)["topics"][0]
    words = " ".join([*suggested["terms"], suggested.get("query", "")]).lower()
    assert "gwadar" in words and "desalination" in words and "fishermen" in words
    assert suggested["id"] == suggested["terms"][0].lower()
    # Pasted into the configuration, it loads and matches the examples.
    pasted = world["path"].read_text("utf-8") + "\n" + block
    (tmp_path / "pasted.toml").write_text(pasted, encoding="utf-8")
    config = config_from_dict(tomllib.loads(pasted), str(tmp_path / "pasted.toml"))
    assert [t.id for t in config.topics] == [suggested["id"]]
    from alerts.rules import RuleSet

    rules = RuleSet(config.topics)
    assert rules.match("Gwadar's thirst", GWADAR) and rules.match("Another plant", CLOSE)
    assert not rules.match("Filler", FILLER[0]) and not rules.match("Quetta dry", FARTHER)
    missing = run_cli("topics", "suggest", "999999", "--config", str(world["path"]))
    assert missing.returncode == 1 and "no article with id 999999" in missing.stderr


def _frequency(db: Database, term: str) -> int | None:
    with db.read() as session:
        return session.scalar(
            text("SELECT documents FROM term_frequencies WHERE term = :t"), {"t": term}
        )


def test_document_frequencies_from_a_snapshot_refreshed_when_stale(world: dict[str, Any]) -> None:
    db, ids = world["db"], world["ids"]
    config = config_from_dict(world["raw"], str(world["path"]))
    with db.read() as session:
        assert snapshot(session) is None  # a new archive: terms are counted in the index
    taken = refresh_term_frequencies(db, NOW)
    assert taken is not None and taken.articles == ids["hydrofoil"][-1]
    assert _frequency(db, "gwadar") == 3  # the target, its copy and the close piece
    _check_similar(world)  # the same answers from the snapshot
    # The snapshot is what is read: made to call every term common, it finds nothing.
    with db.write() as session:
        session.execute(text("UPDATE term_frequencies SET documents = 1000000"))
    assert _similar(db, ids["target"]) == []
    assert _similar(db, ids["hydrofoil"][0]) == []
    assert refresh_term_frequencies(db, NOW + timedelta(hours=1)) is None  # still fresh
    assert refresh_term_frequencies(db, NOW + timedelta(days=1)) is not None  # a day old
    _check_similar(world)
    # A word new since the snapshot is counted in the index: its articles find each other.
    at = NOW - timedelta(hours=1)
    news = [
        store(db, config, "dawn", f"d/new{i}", f"New {i}", " ".join(_POOL[a : a + 40]), at).id
        for i, a in enumerate([2000, 2040])
    ]
    assert refresh_term_frequencies(db, NOW + timedelta(days=1)) is None  # grown by 2 of 28
    with db.write() as session:
        for article_id in news:
            session.execute(
                text("UPDATE articles SET text = text || ' zeppelin' WHERE id = :id"),
                {"id": article_id},
            )
    assert _frequency(db, "zeppelin") is None
    assert _similar(db, news[0]) == [news[1]]
    # Grown by more than a tenth: refreshed, and the new word is in.
    more = store(db, config, "hindu", "h/more", "Gwadar again", GWADAR + " zeppelin", at).id
    taken = refresh_term_frequencies(db, NOW + timedelta(days=1))
    assert taken is not None and taken.articles == more
    assert _frequency(db, "gwadar") == 4 and _frequency(db, "zeppelin") == 3


def test_a_refresh_that_finds_a_fresh_snapshot_once_it_holds_the_lock_does_nothing(
    world: dict[str, Any],
) -> None:
    """Two crawls from cron in the same minute (or a crawl and the daemon) both see a stale
    snapshot, and the second to get the lock finds the first's fresh one: one refresh."""
    db = world["db"]
    first = refresh_term_frequencies(db, NOW)
    assert first is not None
    with db.write() as session:
        session.execute(text("UPDATE term_frequencies SET documents = 7 WHERE term = 'gwadar'"))
    refresh = _refresh_postgres if db.dialect == "postgresql" else _refresh_sqlite
    assert refresh(db, NOW + timedelta(minutes=1), False) is None
    assert _frequency(db, "gwadar") == 7  # the snapshot there was kept, not taken again
    assert refresh(db, NOW + timedelta(minutes=1), True) is not None  # unless forced
    assert _frequency(db, "gwadar") == 3


def test_the_daemon_takes_the_snapshot(world: dict[str, Any]) -> None:
    config = config_from_dict(world["raw"], str(world["path"]))

    async def run() -> None:
        with CrawlContext.create(config) as context:
            daemon = Daemon(config, context)
            scheduler = daemon._schedule(asyncio.get_running_loop())
            assert scheduler.get_job("term_frequencies") is not None
            await daemon._term_frequencies()

    asyncio.run(run())
    with world["db"].read() as session:
        taken = snapshot(session)
    assert taken is not None and taken.articles == world["ids"]["hydrofoil"][-1]
    assert _frequency(world["db"], "gwadar") == 3
