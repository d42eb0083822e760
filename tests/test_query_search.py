"""One language, one meaning: the same (query, article, expected) table run against the rule
matcher, a topic with that query, and search on SQLite FTS5 and on PostgreSQL."""

import json
import random
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from alerts.query import CompiledQuery
from alerts.rules import RuleSet
from crawler.archive.reader import Archive
from crawler.config import DEFAULT_TOPICS, Topic, config_from_dict
from storage.articles import NewArticle, OutletInfo, insert_article, sync_outlets
from storage.db import open_database
from storage.queries import ArticleFilter
from tests.articles import open_db, store
from tests.conftest import run_cli, write_config
from tests.web import http_request, web_server

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)

# key, language, title, text
DOCS = [
    (
        "ttp-attack",
        "en",
        "Attack in Khyber",
        "The TTP claimed the attack on a convoy near Peshawar.",
    ),
    (
        "ttp-far",
        "en",
        "Convoy news",
        "The TTP said on Monday, after a long meeting with elders, that an attack was planned.",
    ),
    (
        "ttp-lower",
        "en",
        "Shipping",
        "The ttp of the vessel was measured after an attack of nerves.",
    ),
    ("ttp-url", "en", "Links", "Read https://example.org/TTP-attack for the attack report."),
    ("ttp-plural", "en", "TTP attacks", "The attacks went on for a week in the valley."),
    ("cricket", "en", "Cricket", "The TTP attack on the cricket ground was condemned."),
    ("fatf-title", "en", "Pakistan leaves the FATF grey list", "The decision came on Friday."),
    ("fatf-body", "en", "Friday decision", "The FATF removed Pakistan from its grey-list."),
    ("terror", "en", "Counter-terrorism push", "Terrorists fled; counterterrorism units followed."),
    ("slash", "en", "Grey and white", "Of the grey and the white, the grey won."),
    (
        "urdu",
        "ur",
        "کالعدم تنظیم",
        "خیبر پختونخوا میں تَحریک طالبان پاکستان کے حملوں میں اضافہ ہوا ہے۔",
    ),
    ("hindi", "hi", "सीमा पर हमला", "पाकिस्तानी तालिबान ने हमारा सीमा चौकी पर हमला किया।"),
    ("dotted", "en", "Forces", "U.S. forces left Kabul in 2021; inflation was 3.5 percent."),
]
KEYS = [d[0] for d in DOCS]

# query, the articles it matches
CASES = [
    # acronyms are case-sensitive and whole words; URLs are not mentions
    ("TTP", {"ttp-attack", "ttp-far", "ttp-plural", "cricket"}),
    ("ttp", {"ttp-attack", "ttp-far", "ttp-lower", "ttp-plural", "cricket"}),
    # NEAR both ways; "attacks" is not "attack" (PostgreSQL's stemmer would say it is)
    ("TTP NEAR/3 attack", {"ttp-attack", "cricket"}),
    ("attack NEAR/3 TTP", {"ttp-attack", "cricket"}),
    ("TTP NEAR/2 attack", {"ttp-attack", "cricket"}),
    ("TTP NEAR/1 attack", {"cricket"}),
    ("TTP NEAR/20 attack", {"ttp-attack", "ttp-far", "cricket"}),
    ("TTP NEAR/3 attack*", {"ttp-attack", "cricket", "ttp-plural"}),
    ("attack", {"ttp-attack", "ttp-far", "ttp-lower", "ttp-url", "cricket"}),
    ("attack*", {"ttp-attack", "ttp-far", "ttp-lower", "ttp-url", "cricket", "ttp-plural"}),
    ("(TTP NEAR/3 attack) -cricket", {"ttp-attack"}),
    ("(TTP OR ttp) NEAR/8 (attack OR nerves) -convoy", {"ttp-lower", "cricket"}),
    ("convoy NEAR/0 near", {"ttp-attack"}),  # lowercase "near" is a word
    # title:
    ("title:FATF", {"fatf-title"}),
    ("FATF", {"fatf-title", "fatf-body"}),
    ("title:attack*", {"ttp-attack", "ttp-plural"}),
    ('title:"grey list" OR title:Cricket', {"fatf-title", "cricket"}),
    ("FATF -title:FATF", {"fatf-body"}),
    # phrases, hyphens, exclusions
    ('"grey list"', {"fatf-title", "fatf-body"}),
    ('"grey list" -removed', {"fatf-title"}),
    ("Pakistan grey", {"fatf-title", "fatf-body"}),
    ("Pak*", {"fatf-title", "fatf-body"}),
    # prefixes start a word
    ("terror*", {"terror"}),
    ("counterterror*", {"terror"}),
    ("Terrorists", {"terror"}),
    # English stop words: PostgreSQL's index has none, the matcher still reads them
    ('"of the" grey', {"slash"}),
    ("the OR Khyber", set(KEYS[:10]) - {"terror"}),
    # other scripts: Urdu letter variants and harakat folded, Hindi whole words
    ("تحريك طالبان", {"urdu"}),
    ("تحریک* NEAR/1 پاکستان", {"urdu"}),
    ("तालिबान", {"hindi"}),
    ("हम", set()),
    # words PostgreSQL's parser keeps whole ("u.s", "3.5") are looked up as it indexed them
    ('"U.S. forces"', {"dotted"}),
    ("U.S. NEAR/3 Kabul", {"dotted"}),
    ("3.5 percent", {"dotted"}),
    ("forces -3.5", set()),
]


def doc(key: str) -> tuple[str, str]:
    _, _, title, text = next(d for d in DOCS if d[0] == key)
    return title, text


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_the_rule_matcher(query: str, expected: set[str]) -> None:
    compiled = CompiledQuery(query)
    assert {k for k in KEYS if compiled.matches(*doc(k))} == expected
    topic = RuleSet([Topic(id="q", name="Q", query=query)])
    assert {k for k in KEYS if topic.match(*doc(k))} == expected


@pytest.fixture
def archive(db_url: str) -> Iterator[Archive]:
    with open_database(db_url) as db:
        with db.write() as s:
            sync_outlets(s, [OutletInfo("dawn", "Dawn", "PK", "en")])
            for i, (key, lang, title, text) in enumerate(DOCS):
                when = NOW - timedelta(hours=i)
                insert_article(
                    s,
                    NewArticle(
                        url=f"https://dawn.example/{key}",
                        url_key=f"dawn.example/{key}",
                        outlet_id="dawn",
                        title=title,
                        text=text,
                        published=when,
                        date_source="page",
                        score=0.0,
                        simhash=random.Random(i).getrandbits(63),
                        language=lang,
                        matches=[],
                    ),
                    when,
                )
        yield Archive(db, RuleSet(DEFAULT_TOPICS))


def found(archive: Archive, query: str, **kw: object) -> list[str]:
    kw.setdefault("limit", 50)
    results = archive.search(ArticleFilter(query=query, **kw), NOW)  # type: ignore[arg-type]
    return [r["url"].rsplit("/", 1)[-1] for r in results]


def test_search_finds_what_the_topic_matches(archive: Archive) -> None:
    """Every case on this database (one archive for all of them: PostgreSQL is slow to set up)."""
    wrong = {}
    for query, expected in CASES:
        got = found(archive, query)
        total = archive.count(ArticleFilter(query=query))
        if set(got) != expected or len(got) != len(set(got)) or total != len(expected):
            wrong[query] = (sorted(got), total, sorted(expected))
    assert wrong == {}


@pytest.mark.parametrize("window", [1000, 10])
def test_paging_fills_pages_with_confirmed_articles(
    db_url: str, window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index finds 40 candidates for "TTP" (case folded); the 8 in capitals come back,
    page after page, in rank order, and the total says 8: in one ranked window, or (window
    10) across four, the total then confirming the newest 20 and counting the rest alike."""
    monkeypatch.setattr("storage.search.WINDOW", window)
    monkeypatch.setattr("storage.search.COUNT_EXACT", 2 * window)
    with open_database(db_url) as db:
        with db.write() as s:
            sync_outlets(s, [OutletInfo("dawn", "Dawn", "PK", "en")])
            for i in range(40):
                word = "TTP" if i % 5 == 0 else "ttp"
                when = NOW - timedelta(hours=40 - i)  # stored in the order of publication
                insert_article(
                    s,
                    NewArticle(
                        url=f"https://dawn.example/{i}",
                        url_key=f"dawn.example/{i}",
                        outlet_id="dawn",
                        title=f"Report {i}",
                        text=f"The {word} was mentioned in report number {i}.",
                        published=when,
                        date_source="page",
                        score=0.0,
                        simhash=random.Random(i).getrandbits(63),
                        language="en",
                        matches=[],
                    ),
                    when,
                )
        archive = Archive(db, RuleSet(DEFAULT_TOPICS))
        pages = [found(archive, "TTP", limit=3, offset=o) for o in (0, 3, 6, 9)]
        assert [len(p) for p in pages] == [3, 3, 2, 0]
        everything = [k for p in pages for k in p]
        assert everything == [str(i) for i in range(35, -1, -5)]  # newest first, equal relevance
        assert archive.count(ArticleFilter(query="TTP")) == 8
        assert len(found(archive, "ttp")) == 40


@pytest.mark.parametrize(
    "query",
    ["(TTP NEAR/3 attack*) -cricket", 'title:FATF OR "grey list"', "terror* OR Khyber"],
)
def test_topic_cli_and_web_agree(db_url: str, tmp_path: Path, query: str) -> None:
    """A topic with the query, stored as a crawl stores articles; then `mediawatch search` and
    /api/articles with the same query list exactly the articles the topic matched."""
    raw = {
        "database": {"url": db_url},
        "catalogue": {"include": []},
        "outlets": [{"id": "dawn", "name": "Dawn", "feeds": ["https://dawn.example/f"]}],
        "topics": [{"id": "q", "name": "Q", "query": query}],
        "subscriptions": [{"email": "desk@example.org", "immediate": False, "digest": "off"}],
        "web": {"token": ""},
    }
    config_path = write_config(tmp_path / "mediawatch.toml", raw)
    config = config_from_dict(raw, str(config_path))
    db = open_db(config)
    ids = {}
    for i, (key, _, title, text) in enumerate(DOCS):
        row = store(
            db, config, "dawn", f"dawn.example/{key}", title, text, NOW - timedelta(hours=i)
        )
        ids[row.id] = key
    db.dispose()
    topic = set(
        json_of(
            run_cli(
                "--config",
                str(config_path),
                "search",
                "--topic",
                "q",
                "--format",
                "json",
                cwd=tmp_path,
            )
        )
    )
    cli = set(
        json_of(
            run_cli("--config", str(config_path), "search", query, "--format", "json", cwd=tmp_path)
        )
    )
    with web_server(config_path) as base:
        status, _, body = http_request(f"{base}/api/articles?q={quote(query)}&limit=100")
    assert status == 200
    web = {ids[r["id"]] for r in json.loads(body)}
    expected = {k for k in KEYS if CompiledQuery(query).matches(*doc(k))}
    assert {ids[i] for i in topic} == {ids[i] for i in cli} == web == expected != set()


def json_of(result: "subprocess.CompletedProcess[str]") -> list[int]:
    assert result.returncode == 0, result.stderr
    return [r["id"] for r in json.loads(result.stdout)]
