"""How search ranks by text: phrases, and words found in most of the archive."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from alerts.rules import RuleSet
from crawler.archive.reader import Archive
from crawler.config import DEFAULT_TOPICS
from storage.articles import NewArticle, OutletInfo, insert_article, sync_outlets
from storage.db import open_database
from storage.queries import ArticleFilter

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
FILL = " Traders in Karachi watched the rupee, and farmers in Sindh waited for rain."

# key, title, text, score: every article has the same date; only text and score differ.
DOCS = [
    ("in-title", "The grey list again", "Officials met in Paris." + FILL * 4, 2.0),
    ("in-text", "Officials meet in Paris", "Talk of the grey list went on." + FILL * 4, 2.0),
    ("words-apart", "A grey morning", "The list of names was long." + FILL * 4, 2.0),
    *[
        (f"other-{i}", f"Market report {i}", "Cotton prices held." + FILL * 4, 2.0)
        for i in range(5)
    ],
    # "rupee" is in every article: five times here, once elsewhere, but this one scores low.
    ("rupee-often", "Rupee, rupee", "The rupee fell; the rupee rose." + FILL * 4, 0.5),
    ("rupee-scored", "Cotton exports", "Cotton left the port." + FILL * 4, 9.0),
]


@pytest.fixture
def archive(db_url: str) -> Iterator[Archive]:
    with open_database(db_url) as db:
        with db.write() as s:
            sync_outlets(s, [OutletInfo("dawn", "Dawn", "PK", "en")])
        with db.write() as s:
            for i, (key, title, body, score) in enumerate(DOCS):
                insert_article(
                    s,
                    NewArticle(
                        url=f"https://dawn.example/{key}",
                        url_key=f"dawn.example/{key}",
                        outlet_id="dawn",
                        title=title,
                        text=body,
                        published=NOW - timedelta(days=1),
                        date_source="page",
                        score=score,
                        simhash=(i + 1) * 0x0101_0101_0101_0101,
                        language="en",
                        matches=[],
                    ),
                    NOW - timedelta(days=1),
                )
        yield Archive(db, RuleSet(DEFAULT_TOPICS))


def find(archive: Archive, query: str) -> list[str]:
    results = archive.search(ArticleFilter(query=query, limit=50), NOW)
    return [r["url"].rsplit("/", 1)[-1] for r in results]


def test_a_phrase_in_the_title_ranks_first_and_words_apart_do_not_match(
    archive: Archive,
) -> None:
    assert find(archive, '"grey list"') == ["in-title", "in-text"]
    assert find(archive, 'paris AND "grey list"') == ["in-title", "in-text"]


def test_a_word_in_most_articles_ranks_by_topic_and_recency(archive: Archive, db_url: str) -> None:
    """SQLite leaves a word found in more than half of the newest articles out of the text
    ranking (bm25 gives it no weight, and counting its articles is a pass over all of them),
    so the best-scored article comes first however often it says the word."""
    if db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's ts_rank weighs every word by its occurrences")
    ranked = find(archive, "rupee")
    assert len(ranked) == len(DOCS) and ranked[0] == "rupee-scored"
