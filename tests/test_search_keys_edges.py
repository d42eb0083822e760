"""PostgreSQL narrows phrases by word-pair keys (storage.searchkeys): every article the matcher
finds a phrase in must hold the phrase's keys, or PostgreSQL search misses what SQLite finds.
These are the inputs that once broke that."""

import unicodedata

import pytest
import regex

from alerts.query import CompiledQuery
from storage.queries import ArticleFilter
from storage.searchkeys import article_keys, term_keys
from storage.textnorm import fold
from tests.test_search_keys import NOW, _add, _archive


def _found_with_keys(phrase: str, title: str, body: str) -> bool:
    assert CompiledQuery(f'"{phrase}"').matches(title, body), (phrase, title, body)
    return set(term_keys(phrase)) <= set(article_keys(title, body))


@pytest.mark.parametrize(
    ("phrase", "body"),
    [
        ("istanbul news", "İstanbul news"),  # the matcher takes "i" for "İ"
        ("news istanbul", "News İSTANBUL today"),
        ("İzmir port", "izmir port"),
    ],
)
def test_dotted_capital_i_and_i_share_keys(phrase: str, body: str) -> None:
    assert _found_with_keys(phrase, "", body)
    assert _found_with_keys(phrase, body, "")


@pytest.mark.parametrize(
    ("phrase", "body"),
    [
        ("p www.- r", "p www. r"),  # not a URL in the text: the matcher reads its words
        ("see www.- now", "See WWW. now"),
        ("a http://- b", "a http:// b"),
    ],
)
def test_a_phrase_that_looks_like_a_url_keeps_its_words(phrase: str, body: str) -> None:
    assert _found_with_keys(phrase, "", body)


def test_every_pair_of_characters_the_matcher_equates_shares_keys() -> None:
    """The equal pairs as the `regex` module itself finds them (not str.lower and upper's),
    among characters Python's own Unicode tables know (str.casefold cannot fold the others)."""
    cased = regex.compile(r"[\p{Cased}\p{Changes_When_Casefolded}\p{Changes_When_Casemapped}]")
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    # Python's tables (Unicode 14 in 3.11) may be older than regex's: Garay, say, is unknown.
    chars = [c for c in chars if cased.match(c) and unicodedata.category(c) != "Cn"]
    chars = [c for c in chars if fold(c) == c]
    every = "".join(chars)
    checked = 0
    for c in chars:
        for m in regex.finditer(regex.escape(c), every, regex.IGNORECASE):
            if m.group() != c:
                checked += 1
                assert term_keys(f"{c} x") == term_keys(f"{m.group()} x"), (c, m.group())
    assert checked > 2000


@pytest.mark.parametrize("query", ['"istanbul news"', '"istanbul news" OR "p www.- r"'])
def test_postgresql_finds_what_sqlite_finds(pg_url: str, tmp_path: object, query: str) -> None:
    found = []
    for url in (pg_url, f"sqlite:///{tmp_path}/r.db"):
        archive, db = _archive(url)
        for i in range(5):
            _add(db, f"e.org/{i}", f"Report {i}", "Istanbul and news, apart. " * 3, i)
        _add(db, "e.org/tr", "Port", "İstanbul news of the day.", 10)
        _add(db, "e.org/www", "Links", "Type p www. r to see.", 11)
        found.append(
            sorted(a["url"] for a in archive.search(ArticleFilter(query=query, limit=50), NOW))
        )
    assert found[0] == found[1]
    assert "https://e.org/tr" in found[0]
