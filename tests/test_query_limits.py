"""A query's size: repeats merged (same results), and at most MAX_TERMS terms, refused with a
one-line message by the CLI, the web UI, the API, the search feed and the configuration."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from alerts.query import CompiledQuery
from alerts.rules import RuleSet
from crawler.archive.reader import Archive
from crawler.config.errors import QueryError
from storage.queries import ArticleFilter
from storage.querylang import MAX_TERMS, parse_query
from tests.articles import store
from tests.conftest import CISMOA_OPED, run_cli, write_config
from tests.web import http_request, two_outlet_archive, web_server

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
# Distinct made-up words, none a stop word, none in an article.
WORDS = [f"zq{i:03d}x" for i in range(MAX_TERMS + 1)]
OVER = " ".join(WORDS)  # MAX_TERMS + 1 distinct terms, about 1,600 characters
DOCS = [
    ("cismoa", "Renewing CISMOA", "Pakistan renewed CISMOA with Washington this week."),
    ("fatf", "The FATF grey list", "Pakistan left the FATF grey list; the banks are relieved."),
    ("both", "CISMOA and FATF", "The CISMOA talks and the FATF plenary met in the same week."),
    ("grey", "Grey areas", "A list of grey areas in the budget, and a word on the terrorists."),
    ("terror", "Terrorism report", "The terrorism report names the TTP in Khyber."),
]


@pytest.fixture
def archive(db_url: str, tmp_path: Path) -> Iterator[Archive]:
    _, config, db = two_outlet_archive(tmp_path, db_url)
    for i, (key, title, body) in enumerate(DOCS):
        text = body + " The assembly also debated schools and roads." * 3
        store(db, config, "dawn", f"dawn.example/{key}", title, text, NOW - timedelta(days=i))
    yield Archive(db, RuleSet(config.topics))
    db.dispose()


def results(archive: Archive, query: str) -> list[tuple[str, str | None]]:
    found = archive.search(ArticleFilter(query=query, limit=50), NOW)
    return [(r["url"].rsplit("/", 1)[-1], r["snippet"]) for r in found]


@pytest.mark.parametrize(
    ("query", "repeated"),
    [
        ("CISMOA", "CISMOA " * 1400),
        ("the", "the " * 2400),
        ("grey list", "grey grey list grey list list AND grey"),
        ("CISMOA OR FATF", "CISMOA OR FATF OR CISMOA OR FATF OR FATF"),
        (
            'title:CISMOA OR "grey list" OR terror*',
            '(title:CISMOA OR "grey list" OR terror*) ' * 50,
        ),
        ('title:CISMOA "grey list"', 'title:CISMOA "grey list" title:CISMOA "grey list"'),
        ("Pakistan -grey", "Pakistan -grey Pakistan -grey -grey"),
        ("(CISMOA OR FATF) Pakistan", "(CISMOA OR FATF) Pakistan (CISMOA OR FATF) Pakistan"),
        ("CISMOA NEAR/5 Pakistan", "(CISMOA NEAR/5 Pakistan) " * 20),
    ],
)
def test_repeated_terms_find_the_same_articles_and_snippets(
    archive: Archive, query: str, repeated: str
) -> None:
    """On SQLite and PostgreSQL alike: the same articles, in the same order, the same snippets."""
    assert results(archive, repeated) == results(archive, query)
    assert archive.count(ArticleFilter(query=repeated)) == archive.count(ArticleFilter(query=query))


def test_repeats_merge_in_and_and_or_but_not_other_terms() -> None:
    assert parse_query("CISMOA " * 1400) == parse_query("CISMOA")
    assert parse_query("a OR b OR a OR b") == parse_query("a OR b")
    # A different flag or case is another term, kept: a prefix, the title, an acronym.
    assert parse_query("terror terror* title:terror TERROR terror") == parse_query(
        "terror terror* title:terror TERROR"
    )
    assert CompiledQuery("grey " * 500 + "list").matches("", "the grey list")


def test_a_query_of_the_cap_searches_and_one_more_term_is_a_query_error(
    archive: Archive,
) -> None:
    assert results(archive, " OR ".join(WORDS[:MAX_TERMS])) == []
    with pytest.raises(QueryError, match=f"more than {MAX_TERMS} terms") as error:
        archive.search(ArticleFilter(query=OVER), NOW)
    assert "split the query" in str(error.value) and len(str(error.value)) < 300
    with pytest.raises(QueryError, match=f"more than {MAX_TERMS} terms"):
        archive.count(ArticleFilter(query=OVER))


@pytest.mark.parametrize(
    "query",
    [
        "a NEAR/1 " * 1100 + "a",  # a NEAR chain, one word: was a RecursionError
        "(" + " ".join(WORDS[:150]) + ") (" + " ".join(reversed(WORDS[:150])) + ")",
        " OR ".join(f"({a} {b})" for a, b in zip(WORDS[:110], WORDS[1:111], strict=True)),
        '"' + " ".join(WORDS[:201]) + '"',  # one phrase: each of its words counts
        '"' + " ".join(WORDS[:150]) + '" ' + " ".join(WORDS[150:210]),
    ],
)
def test_terms_are_counted_across_groups_and_near(query: str) -> None:
    with pytest.raises(ValueError, match=f"more than {MAX_TERMS} terms"):
        parse_query(query)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("query-limits")
    config_path, config, db = two_outlet_archive(tmp, f"sqlite:///{tmp / 'mw.db'}")
    store(db, config, "dawn", "dawn.example/a", "Renewing CISMOA", CISMOA_OPED, datetime.now(UTC))
    db.dispose()
    with web_server(config_path) as base:
        yield {"base": base, "config": config_path}


def test_cli_search_over_the_cap_exits_2_with_one_line(site: dict[str, Any]) -> None:
    result = run_cli("--config", str(site["config"]), "search", OVER)
    assert result.returncode == 2, result.stderr
    assert f"more than {MAX_TERMS} terms" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    repeated = run_cli(
        "--config", str(site["config"]), "search", "CISMOA " * 1400, "--format", "json"
    )
    assert repeated.returncode == 0 and len(json.loads(repeated.stdout)) == 1


def test_web_api_export_and_feed_over_the_cap_are_a_400(site: dict[str, Any]) -> None:
    q = quote(OVER)
    status, headers, body = http_request(f"{site['base']}/api/articles?q={q}")
    assert status == 400 and headers["Content-Type"].startswith("application/json")
    assert f"more than {MAX_TERMS} terms" in json.loads(body)["error"]
    for path in (f"/export.csv?q={q}", f"/feeds/search.atom?q={q}"):
        status, _, body = http_request(site["base"] + path)
        assert status == 400 and f"more than {MAX_TERMS} terms".encode() in body, path
    status, _, body = http_request(f"{site['base']}/?q={q}")
    assert f"more than {MAX_TERMS} terms".encode() in body
    status, _, body = http_request(f"{site['base']}/api/articles?q={quote('CISMOA ' * 1400)}")
    assert status == 200 and len(json.loads(body)) == 1


def test_a_topic_query_over_the_cap_is_a_configuration_error(tmp_path: Path) -> None:
    """The same cap as search: a topic's query must stay a query search can run."""
    path = write_config(
        tmp_path / "mediawatch.toml", {"topics": [{"id": "big", "name": "Big", "query": OVER}]}
    )
    result = run_cli("--config", str(path), "outlets", "list")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(path) in result.stderr and "topics[0] (id 'big').query" in result.stderr, (
        result.stderr
    )
    assert f"more than {MAX_TERMS} terms" in result.stderr
