"""More like this (storage.similar) on SQLite and PostgreSQL, and `topics suggest`."""

import random
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crawler.config import config_from_dict
from storage.db import Database
from storage.similar import similar_articles
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
