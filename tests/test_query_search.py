"""One language, one meaning: the same (query, article, expected) table run against the rule
matcher, a topic with that query, and search on SQLite FTS5 and on PostgreSQL."""

import json
import random
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine
from sqlalchemy import text as sql

from alerts.query import CompiledQuery
from alerts.rules import RuleSet
from crawler.archive.reader import Archive
from crawler.config import DEFAULT_TOPICS, Topic, config_from_dict
from crawler.config.errors import QueryError
from storage import querylang
from storage.articles import NewArticle, OutletInfo, insert_article, sync_outlets
from storage.db import Database, open_database
from storage.queries import ArticleFilter
from storage.querylang import QuerySyntaxError, english_prefix
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
        fill(db, DOCS)
        yield Archive(db, RuleSet(DEFAULT_TOPICS))


def fill(db: Database, docs: list[tuple[str, str, str, str]]) -> None:
    """The (key, language, title, text) documents stored as articles, newest first."""
    with db.write() as s:
        sync_outlets(s, [OutletInfo("dawn", "Dawn", "PK", "en")])
        for i, (key, lang, title, text) in enumerate(docs):
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


# Prefixes PostgreSQL's English index stems or drops (stop words), and terms full of the
# characters its query syntax means something by: search must still find what the matcher does.
WORD_DOCS = [
    ("terrorism", "en", "Terror", "A rise in terrorism was reported."),
    ("happyish", "en", "Mood", "A happyish crowd gathered."),
    ("stop", "en", "Which", "Which of these was about it?"),
    ("nation", "en", "Policy", "The nationalization of banks, interoperability tested."),
    ("dying", "en", "Light", "The dying light."),
    ("tokens", "en", "Code", "Tokenized; the flies."),
    (
        "marks",
        "en",
        "Marks",
        r"See a\b and C:\Temp; it's O'Brien's AT&T: x|y, Yahoo! and abc<->def (rare) k:v.",
    ),
    ("urdu", "ur", "Terror", "terrorism in Urdu-language pages is not stemmed."),
]
WORD_CASES = [
    ("terroris*", {"terrorism", "urdu"}),
    ("happy*", {"happyish"}),
    ("whic*", {"stop"}),
    ("thes*", {"stop"}),
    ("abou*", {"stop"}),
    ("nationaliz*", {"nation"}),
    ("interoperab*", {"nation"}),
    ("dyi*", {"dying"}),
    ("tokeniz*", {"tokens"}),
    ("flie*", {"tokens"}),
    ("Yah*", {"marks"}),
    (r"a\b", {"marks"}),
    (r'"C:\Temp"', {"marks"}),
    ("it's", {"marks"}),
    ("\"O'Brien's\"", {"marks"}),
    ("AT&T", {"marks"}),
    ("x|y", {"marks"}),
    ("Yahoo!", {"marks"}),
    ("abc<->def", {"marks"}),
    ("(rare)", {"marks"}),
    ("k:v", {"marks"}),
    ("title:Mood OR k:v", {"happyish", "marks"}),
]
# Never a database error: the same readable error as a topic with the query gets.
WORD_ERRORS = [r"a\b*", "*", "abc:*", "O'Bri*", "abc&def*", "a|b*", "<->", "!", "'", ":"]


@pytest.mark.parametrize(("query", "expected"), WORD_CASES)
def test_the_matcher_on_stemmed_and_marked_words(query: str, expected: set[str]) -> None:
    compiled = CompiledQuery(query)
    assert {d[0] for d in WORD_DOCS if compiled.matches(d[2], d[3])} == expected


def test_search_finds_stemmed_prefixes_and_marked_words(db_url: str) -> None:
    """On PostgreSQL the English index holds 'terror' for "terrorism" and nothing for
    "which": `terroris*` and `whic*` find them all the same, as the matcher does."""
    with open_database(db_url) as db:
        fill(db, WORD_DOCS)
        archive = Archive(db, RuleSet(DEFAULT_TOPICS))
        wrong = {}
        for query, expected in WORD_CASES:
            got = found(archive, query)
            if set(got) != expected or archive.count(ArticleFilter(query=query)) != len(expected):
                wrong[query] = (sorted(got), sorted(expected))
        assert wrong == {}
        for query in WORD_ERRORS:
            with pytest.raises(QuerySyntaxError) as topic_error:
                CompiledQuery(query)
            with pytest.raises(QueryError) as search_error:
                found(archive, query)
            assert str(topic_error.value) in str(search_error.value)


def test_english_prefix_cuts_what_the_stemmer_may_rewrite() -> None:
    assert english_prefix("terror") == "terror"
    assert english_prefix("terroris") == "terror"
    assert english_prefix("nationaliz") == "nat"  # "nationalization": 'nation'
    assert english_prefix("Pak") == "Pak"
    assert english_prefix("flie") == "fl"  # "flies": 'fli'
    assert english_prefix("cryed") == "cr"  # itself stemmed: 'cri'
    assert [english_prefix(p) for p in ("whic", "thes", "abou", "dyi", "eed")] == [None] * 5


def test_english_prefix_against_postgresql_s_stemmer(pg_url: str) -> None:
    """For every prefix (3 letters or more) of every word of the README and of words built
    from the stemmer's suffixes, the English lookup of the prefix finds the word as
    PostgreSQL's English index holds it (or asks nothing: a stop word, or nothing left)."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    words = {w.lower() for w in re.findall(r"[A-Za-z]{3,}", readme)}
    bases = ["nation", "general", "terror", "hope", "happy", "control", "relate", "cry", "hop"]
    suffixes = sorted(querylang._STEMMED_ENDINGS)
    words |= {b + s + t for b in bases for s in suffixes for t in ("", "s", "ly", "ness")}
    pairs = [(w, english_prefix(w[:n])) for w in sorted(words) for n in range(3, len(w) + 1)]
    asked = [(w, p) for w, p in pairs if p is not None]
    assert len(asked) > 0.9 * len(pairs)
    # a prefix whose lookup is a stop word ('t':*) asks nothing: not narrowed, not missed
    missed_sql = (
        "SELECT w, p FROM unnest(CAST(:w AS text[]), CAST(:p AS text[])) AS x(w, p), "
        "to_tsvector('english', w) AS v, to_tsquery('english', quote_literal(p) || ':*') AS q "
        "WHERE v <> '' AND q::text <> '' AND NOT v @@ q"
    )
    stop_sql = "SELECT w FROM unnest(CAST(:w AS text[])) AS w WHERE to_tsvector('english', w) <> ''"
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        missed = conn.execute(
            sql(missed_sql), {"w": [w for w, _ in asked], "p": [p for _, p in asked]}
        ).all()
        stop = conn.execute(sql(stop_sql), {"w": sorted(querylang.ENGLISH_STOP_WORDS)}).all()
    engine.dispose()
    assert missed == [] and stop == []


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
