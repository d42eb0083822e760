"""Full-text search, the same cases on SQLite FTS5 and PostgreSQL."""

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, text

from alerts.rules import RuleSet
from crawler.archive.reader import Archive
from crawler.config import DEFAULT_TOPICS
from crawler.config.errors import QueryError
from storage.articles import NewArticle, NewMatch, OutletInfo, insert_article, sync_outlets
from storage.db import open_database
from storage.queries import ArticleFilter
from storage.querylang import (
    MAX_TERMS,
    QuerySyntaxError,
    parse_query,
    plain_terms,
    to_fts5,
    to_tsquery,
)

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
FILL = " The provincial assembly also debated the budget for schools and roads."

DOCS = [
    # key, outlet, language, title, text, topic, score, age (days)
    (
        "fatf-title",
        "dawn",
        "en",
        "Pakistan and the FATF grey list",
        "The FATF grey list decision was welcomed in Islamabad." + FILL * 3,
        "fatf",
        6.0,
        1,
    ),
    (
        "fatf-afghan",
        "hindu",
        "en",
        "Regional finance notes",
        "Kabul and Afghanistan were discussed; the grey list came up once." + FILL * 3,
        "fatf",
        1.0,
        2,
    ),
    (
        "grey-areas",
        "dawn",
        "en",
        "Grey areas of policy",
        "A list of grey areas in the budget was published." + FILL * 3,
        None,
        0.0,
        1,
    ),
    (
        "cismoa",
        "dawn",
        "en",
        "Renewing CISMOA with Washington",
        "Pakistan renewed CISMOA; COMCASA is India's version." + FILL * 3,
        "cismoa",
        5.0,
        3,
    ),
    (
        "urdu",
        "jang",
        "ur",
        "کالعدم تنظیم کے حملے",
        "خیبر پختونخوا میں تَحریک طالبان پاکستان کے حملوں میں اضافہ ہوا ہے اور حکومت نے نئی "
        "حکمت عملی کا اعلان کیا ہے۔ " * 3,
        "ttp",
        3.0,
        1,
    ),
    (
        "hindi",
        "bhaskar",
        "hi",
        "सीमा पर हमला",
        "पाकिस्तानी तालिबान ने हमारा सीमा चौकी पर हमला किया। सरकार ने जांच के आदेश दिए। " * 3,
        "ttp",
        2.0,
        1,
    ),
    (
        "old-fatf",
        "hindu",
        "en",
        "An old FATF story",
        "The FATF grey list, years ago." + FILL * 3,
        "fatf",
        4.0,
        40,
    ),
]


@pytest.fixture
def archive(db_url: str) -> Iterator[Archive]:
    with open_database(db_url) as db:
        with db.write() as s:
            sync_outlets(
                s,
                [
                    OutletInfo(o, o.title(), "PK", "en")
                    for o in ("dawn", "hindu", "jang", "bhaskar")
                ],
            )
            for i, (key, outlet, lang, title, body, topic, score, age) in enumerate(DOCS):
                when = NOW - timedelta(days=age)
                insert_article(
                    s,
                    NewArticle(
                        url=f"https://{outlet}.example/{key}",
                        url_key=f"{outlet}.example/{key}",
                        outlet_id=outlet,
                        title=title,
                        text=body,
                        published=when,
                        date_source="page",
                        score=score,
                        simhash=(i + 1) * 0x0101_0101_0101_0101,
                        language=lang,
                        matches=[NewMatch(topic, topic.upper(), 0, 1)] if topic else [],
                    ),
                    when,
                )
        yield Archive(db, RuleSet(DEFAULT_TOPICS))


def keys(results: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [r["url"].rsplit("/", 1)[-1] for r in results]


def find(archive: Archive, query: str | None, **kw: object) -> list[str]:
    return keys(archive.search(ArticleFilter(query=query, limit=50, **kw), NOW))  # type: ignore[arg-type]


def test_words_phrases_or_and_exclusion(archive: Archive) -> None:
    assert set(find(archive, "grey list")) == {
        "fatf-title",
        "fatf-afghan",
        "grey-areas",
        "old-fatf",
    }
    assert set(find(archive, '"grey list"')) == {"fatf-title", "fatf-afghan", "old-fatf"}
    assert set(find(archive, '"grey list" -Afghanistan')) == {"fatf-title", "old-fatf"}
    assert set(find(archive, "cismoa OR kabul")) == {"cismoa", "fatf-afghan"}
    assert set(find(archive, "(cismoa OR comcasa) pakistan")) == {"cismoa"}
    assert find(archive, "nothingmatchesthis") == []


def test_urdu_and_hindi(archive: Archive) -> None:
    assert find(archive, "تحریک طالبان") == ["urdu"]  # the text has a zabar on the first word
    assert find(archive, "تحريك") == ["urdu"]  # Arabic kaf and yeh fold to Urdu's
    assert find(archive, "तालिबान") == ["hindi"]
    assert find(archive, "हम") == []  # not inside हमारा or हमला


def test_filters(archive: Archive) -> None:
    assert set(find(archive, "grey", outlet="hindu")) == {"fatf-afghan", "old-fatf"}
    assert set(find(archive, "grey", topic="fatf")) == {"fatf-title", "fatf-afghan", "old-fatf"}
    assert set(find(archive, "grey", since=NOW - timedelta(days=7))) == {
        "fatf-title",
        "fatf-afghan",
        "grey-areas",
    }
    assert set(find(archive, "grey", min_score=4)) == {"fatf-title", "old-fatf"}
    assert find(archive, None, language="ur") == ["urdu"]


def test_ranking_title_score_recency(archive: Archive) -> None:
    ranked = find(archive, '"grey list"')
    assert ranked[0] == "fatf-title"  # in the title, higher score, recent
    budget = find(archive, "budget")
    assert budget[0] == "fatf-title" and budget.index("cismoa") < budget.index("old-fatf")


def test_rank_formula() -> None:
    from storage.search import rank_value

    week, month = NOW - timedelta(days=7), NOW - timedelta(days=30)
    assert rank_value(1.0, 2.0, week, NOW) > rank_value(1.0, 2.0, month, NOW)  # recency
    assert rank_value(1.0, 8.0, week, NOW) > rank_value(1.0, 2.0, week, NOW)  # topic score
    assert rank_value(1.0, 2.0, month, NOW) > rank_value(0.6, 2.0, week, NOW)  # text first


def test_no_query_lists_newest_first(archive: Archive) -> None:
    assert find(archive, None)[-1] == "old-fatf"
    assert len(find(archive, None)) == len(DOCS)
    assert len(find(archive, None, offset=5)) == len(DOCS) - 5


def test_snippets_show_the_match(archive: Archive) -> None:
    [hit] = archive.search(ArticleFilter(query="COMCASA"), NOW, marked=True)
    assert "COMCASA" in hit["snippet"] and "\x02" not in hit["snippet"]
    assert "\x02COMCASA\x03" in hit["snippet_marked"]


@pytest.mark.parametrize(
    "query",
    [
        '"open phrase',
        "(unclosed",
        "closed)",
        "-only",
        "a OR",
        "OR a",
        "()",
        '""',
        "-a -b",
        "a OR -b",
    ],
)
def test_malformed_queries_are_clear_errors(archive: Archive, query: str) -> None:
    with pytest.raises(QueryError) as error:
        archive.search(ArticleFilter(query=query), NOW)
    assert query in str(error.value)


def test_hostile_input_is_only_ever_a_search(archive: Archive) -> None:
    for query in ["'; DROP TABLE articles; --", "title:secret", "NEAR(a b)", "a* ^b", "\x00"]:
        with contextlib.suppress(QueryError):
            archive.search(ArticleFilter(query=query), NOW)
    with archive.db.read() as s:
        assert s.execute(text("SELECT count(*) FROM articles")).scalar() == len(DOCS)


QUERY_PIECES = [
    "(",
    ")",
    '"',
    "-",
    " ",
    "OR",
    "NOT",
    "AND",
    "FATF",
    "grey",
    "list",
    "_",
    "*",
    ":",
    "\x00",
    "'",
    "\\",
    "تحریک",
    "पाकिस्तानी",
    "ک",
    "\u0301",
    "NEAR/2",
    "NEAR",
    "title:",
    "terror*",
]
queries = st.one_of(st.text(max_size=60), st.lists(st.sampled_from(QUERY_PIECES)).map("".join))


@given(queries)
@settings(max_examples=1000, deadline=None)
def test_the_parser_raises_only_its_own_error(query: str) -> None:
    """Any string is a tree that renders for both databases, or a QuerySyntaxError."""
    try:
        node = parse_query(query)
    except QuerySyntaxError:
        return
    to_fts5(node), to_tsquery(node), plain_terms(node)


@given(queries)
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_any_query_is_results_or_a_query_error(archive: Archive, query: str) -> None:
    """On the real databases too: never a database error, only results or a QueryError."""
    with contextlib.suppress(QueryError):
        archive.search(ArticleFilter(query=query), NOW)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("x NOT (NOT a)", "excluded group"),
        ("x NOT ((-a))", "excluded group"),
        ("(" * 3000 + "a" + ")" * 3000, "nested more than 32 deep"),
        ("x " + "NOT (" * 1500 + "a" + ")" * 1500, "nested more than 32 deep"),
        ("a " * 6000, "longer than 10000 characters"),
    ],
)
def test_double_exclusion_and_deep_nesting_are_clear_errors(
    archive: Archive, query: str, words: str
) -> None:
    with pytest.raises(QueryError, match=words) as error:
        archive.search(ArticleFilter(query=query), NOW)
    assert len(str(error.value)) < 300  # one line, not the query echoed back whole


def test_nesting_up_to_the_bound_still_searches(archive: Archive) -> None:
    deep = "(" * 32 + "CISMOA" + ")" * 32
    assert find(archive, deep) == ["cismoa"]
    assert find(archive, "CISMOA NOT (grey -list)") == ["cismoa"]


def test_newest_first_is_by_publication_date(db_url: str) -> None:
    """With no query, the newest piece comes first by its date, not by when we found it; an
    undated one by when it was first seen (issue 14: a piece of 11-26 came after 10-29 ones)."""
    karachi = timezone(timedelta(hours=5))
    pieces = [
        # key, published, first seen: found late (a sitemap backfill) or found early.
        ("backfilled", datetime(2026, 10, 29, 9, 0, tzinfo=UTC), NOW),
        ("fresh", NOW - timedelta(hours=2), NOW - timedelta(hours=1, minutes=30)),
        ("undated-recent", None, NOW - timedelta(hours=2, minutes=30)),
        (
            "karachi-morning",
            datetime(2026, 11, 26, 10, 0, tzinfo=karachi),
            NOW - timedelta(hours=1),
        ),
        ("undated-old", None, NOW - timedelta(days=6)),
    ]
    with open_database(db_url) as db:
        with db.write() as s:
            sync_outlets(s, [OutletInfo("dawn", "Dawn", "PK", "en")])
            for i, (key, published, seen) in enumerate(pieces):
                insert_article(
                    s,
                    NewArticle(
                        url=f"https://dawn.example/{key}",
                        url_key=f"dawn.example/{key}",
                        outlet_id="dawn",
                        title=f"Piece {key}",
                        text=f"Opinion piece number {i} on provincial budgets." + FILL * (i + 2),
                        published=published,
                        date_source="page" if published else "none",
                        score=0.0,
                        simhash=(i + 3) * 0x0F0F_0F0F_0F0F_0F0F,
                        language="en",
                        matches=[],
                    ),
                    seen,
                )
        archive = Archive(db, RuleSet(DEFAULT_TOPICS))
        expected = ["fresh", "undated-recent", "karachi-morning", "undated-old", "backfilled"]
        assert find(archive, None) == expected
        # Paging walks the same order.
        page2 = archive.search(ArticleFilter(limit=2, offset=2), NOW)
        assert keys(page2) == expected[2:4]


def test_a_piece_dated_decades_ago_ranks_last_without_an_error(db_url: str) -> None:
    """Recency halves every 14 days: 56 years make it too small for a float, which
    PostgreSQL's power() reports as an underflow error rather than 0 (as Python does)."""
    with open_database(db_url) as db:
        with db.write() as s:
            sync_outlets(s, [OutletInfo("dawn", "Dawn", "PK", "en")])
            for key, published in (("epoch", datetime(1970, 1, 1, tzinfo=UTC)), ("now", NOW)):
                insert_article(
                    s,
                    NewArticle(
                        url=f"https://dawn.example/{key}",
                        url_key=f"dawn.example/{key}",
                        outlet_id="dawn",
                        title=f"Budget piece {key}",
                        text="The provincial budget was passed. " + FILL * 3,
                        published=published,
                        date_source="page",
                        score=0.0,
                        simhash=hash(key) & 0x7FFF_FFFF,
                        language="en",
                        matches=[],
                    ),
                    NOW,
                )
        archive = Archive(db, RuleSet(DEFAULT_TOPICS))
        found = archive.search(ArticleFilter(query="budget", limit=20), NOW)
        assert keys(found) == ["now", "epoch"]
        assert found[1]["rank"] < found[0]["rank"]


def test_snippets_of_long_texts_show_the_match_deep_inside(db_url: str) -> None:
    """PostgreSQL marks a stretch of the text, not all of it: the stretch holds the match,
    also when the text spells the word unlike its stem ("happy", stemmed 'happi')."""
    bodies = {
        "accord": FILL * 30 + " The COMCASA accord was signed on Friday." + FILL * 30,
        "mood": FILL * 30 + " Officials were happy with the outcome." + FILL * 30,
    }
    with open_database(db_url) as db:
        with db.write() as s:
            sync_outlets(s, [OutletInfo("dawn", "Dawn", "PK", "en")])
            for i, (key, body) in enumerate(bodies.items()):
                insert_article(
                    s,
                    NewArticle(
                        url=f"https://dawn.example/{key}",
                        url_key=f"dawn.example/{key}",
                        outlet_id="dawn",
                        title=f"Notes {i}",
                        text=body,
                        published=NOW,
                        date_source="page",
                        score=0.0,
                        simhash=(i + 5) * 0x0F0F_0F0F_0F0F_0F0F,
                        language="en",
                        matches=[],
                    ),
                    NOW,
                )
        archive = Archive(db, RuleSet(DEFAULT_TOPICS))
        for query, marked in [("COMCASA", "\x02COMCASA\x03"), ("happy", "\x02happy\x03")]:
            [hit] = archive.search(ArticleFilter(query=query), NOW, marked=True)
            assert marked in hit["snippet_marked"]
            assert len(hit["snippet"]) < 600


def test_a_pasted_paragraph_is_one_search_not_a_count_per_word(archive: Archive) -> None:
    """A query of as many words as a query may hold (a paragraph pasted into the box) ranks
    by its first words: the database is asked a bounded number of statements, not one per
    word."""
    words = [f"word{i}" for i in range(MAX_TERMS - 1)]
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(archive.db.engine, "before_cursor_execute", count)
    try:
        found = find(archive, " OR ".join(["FATF", *words]))
    finally:
        event.remove(archive.db.engine, "before_cursor_execute", count)
    assert found and all(
        k in keys(archive.search(ArticleFilter(query="FATF", limit=50), NOW)) for k in found
    )
    assert len(statements) < 60
