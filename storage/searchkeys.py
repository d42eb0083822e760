"""Word-pair keys of an article, so that PostgreSQL finds a phrase through an index.

PostgreSQL's text index narrows a search by stems without positions: a phrase of two common
words ("images related") narrowed to every article holding both words, and the matcher then
read tens of thousands of texts to find the 20 that hold the phrase (8-15 s at 200,000
articles). Its phrase operator cannot stand in: it keeps at most 255 positions of a word and
none past 16,383, and gives "grey.list" or a URL's words no position of their own, so it
misses what the matcher finds.

So each article also holds these keys (articles.search_keys, migration 0015, GIN-indexed): a
hash of every two words that follow each other, the words split as the matcher splits them
(runs of letters, marks, digits and `_`), folded as it folds them (NFKC, Urdu letter variants,
case), URLs blanked as it blanks them. A phrase's own keys are then held by every article the
matcher finds it in: the phrase's words are the matched text's words, one after another.
Keys are KEY_BITS-bit hashes: a few articles share a key by chance, and the matcher drops
them. Most single words need no keys (the text index finds them), except:

- English stop words (migration 0016): the English index leaves them out, so a search for
  "themselves" narrowed to nothing and the matcher read texts until 20 held it (1,700 texts,
  200-300 ms at 200,000 articles);
- words the English stemmer changes (migration 0017): the index holds "buttons" as 'button',
  so a search for "buttons" narrowed to every article holding "button", and the matcher read
  200-2,000 texts (48 µs each from PostgreSQL) to find the 20 that hold "buttons".

A single word's key is the hash of the word alone (a pair's holds a space). Which words the
stemmer changes is asked of snowballstemmer's English stemmer (its pure-Python one, never
PyStemmer's, whose Snowball may be another release), the algorithm PostgreSQL's 'english'
configuration runs, by the same function when an article is keyed and when a term is looked
up. The two agree as long as the stemmer does: snowballstemmer is pinned to one release, since
its minor releases change words ("skis" is 'skis' in 3.0.1, 'ski' in 3.1.1), and
tests/test_search_keys.py checks its answers on such words, so that a new release comes with
a migration that keys the articles again. Where PostgreSQL's copy differs and ours leaves the
word as it is ("evening"), the word is looked up through the text index as before. SQLite's
FTS5 keeps positions and needs none of this.
"""

import threading
from collections.abc import Callable
from itertools import pairwise
from zlib import crc32

from snowballstemmer.english_stemmer import EnglishStemmer
from sqlalchemy import text
from sqlalchemy.orm import Session

from storage.db import Database
from storage.querylang import ENGLISH_STOP_WORDS
from storage.textnorm import fold, prepare, split_words

KEY_BITS = 22
_MASK = (1 << KEY_BITS) - 1
# Held by every article keyed as this version keys (with stemmed words, migration 0017),
# and outside the hashes' range: an article a version before it keyed after the upgrade (a
# daemon not yet restarted) lacks it, and is keyed again (fill_search_keys).
KEYED = (1 << KEY_BITS) + 17
# The markers of the versions before (stop words, migration 0016): keys now are a superset of
# theirs, and a daemon of such a version, still running, takes them for its own rather than
# keying the article again.
KEYED_BEFORE = ((1 << KEY_BITS) + 16,)
# Articles to key: ix_articles_unkeyed's predicate, spelled as the index spells it, so that
# the planner reads that index.
TO_KEY = f"search_keys IS NULL OR NOT (search_keys @> '{{{KEYED}}}'::integer[])"


def _words(text: str) -> list[str]:
    """The text's words as the matcher reads them, case folded: through capitals first, since
    the matcher takes "ı" for "I" and "I" for "i", and "İ" for "i" too, which str.casefold
    makes "i" and a dot (tests/test_search_keys.py and test_search_keys_edges.py)."""
    return [w.upper().casefold().replace("i\u0307", "i") for w in split_words(text)[1::2]]


_STEMMER = EnglishStemmer()
_STEMMER_LOCK = threading.Lock()  # a stemmer object keeps the word it works on
# Whether each word of ASCII letters seen has a key of its own in English rows (_alone): the
# stemmer takes 40-75 µs a word, and an archive's words repeat. Emptied past _ALONE_CAP words.
_ALONE: dict[str, bool] = {}
_ALONE_CAP = 1 << 18


def _stem_differs(word: str) -> bool:
    """Whether the English stemmer changes `word` (a folded word of ASCII letters), so that
    the text index holds it with others ("buttons" as 'button', "policy" as 'polici'): such a
    word has a key of its own."""
    with _STEMMER_LOCK:
        return bool(_STEMMER.stemWord(word) != word)


def _alone(words: set[str]) -> set[str]:
    """Those of `words` (folded) that have a key of their own in English rows: the English
    stop words and the words the stemmer changes. Other languages' rows need none: their
    index holds every word as written."""
    # The stemmer's alphabet only: Urdu or Hindi words would fill the cache for nothing.
    found = {w: _ALONE.get(w) for w in words if w.isascii() and w.isalpha()}
    for w, known in found.items():
        if known is None:
            found[w] = _ALONE[w] = w in ENGLISH_STOP_WORDS or _stem_differs(w)
    if len(_ALONE) > _ALONE_CAP:
        _ALONE.clear()
    return {w for w, alone in found.items() if alone}


def _pairs(words: list[str]) -> set[int]:
    return {crc32(f"{a} {b}".encode()) & _MASK for a, b in pairwise(words)}


def _keys(words: list[str]) -> set[int]:
    """Every pair's key, and the key of every word that has one of its own (_alone)."""
    return _pairs(words) | {crc32(w.encode()) & _MASK for w in _alone(set(words))}


def article_keys(title: str | None, text: str | None) -> list[int]:
    """The keys of an article's title and text (a pair never spans the two), and the
    markers (KEYED, KEYED_BEFORE)."""
    markers = {KEYED, *KEYED_BEFORE}
    return sorted(_keys(_words(prepare(title))) | _keys(_words(prepare(text))) | markers)


def term_keys(term: str, prefix: bool = False, english: bool = True) -> list[int]:
    """Keys every article the matcher finds `term` in holds (a prefix term's last word is
    unfinished: only the words before it count); [] for a single word without a key of its
    own (_alone: in `english` rows, a stop word or a word the stemmer changes). A term's
    URLs are not blanked: the matcher does not blank them, and the text it matches has none
    there ("p www.- r" finds "p www. r", whose words are p, www and r)."""
    words = _words(fold(term))
    words = words[:-1] if prefix else words
    if len(words) == 1 and not (english and _alone({words[0]})):
        return []
    # A phrase is found by its pairs alone (its words' own keys would narrow no further).
    return sorted(_keys(words) if len(words) == 1 else _pairs(words))


KEY_BATCH = 500  # articles keyed in one transaction by fill_search_keys: about a second
KEY_BATCHES = 4  # batches in one run of key_older_articles: a few seconds


def fill_search_keys(session: Session, limit: int = KEY_BATCH) -> int:
    """Key up to `limit` articles stored without keys (before migration 0015, emptied by
    0016 and 0017) or keyed by an older version, newest first; how many. PostgreSQL only;
    elsewhere 0. Rows another transaction holds are skipped."""
    if session.get_bind().dialect.name != "postgresql":
        return 0
    rows = session.execute(
        text(
            f"SELECT id, title, text FROM articles WHERE {TO_KEY} "
            "ORDER BY id DESC LIMIT :n FOR UPDATE SKIP LOCKED"
        ),
        {"n": limit},
    ).all()
    if rows:
        session.execute(
            text("UPDATE articles SET search_keys = :keys WHERE id = :id"),
            [{"id": i, "keys": article_keys(title, body)} for i, title, body in rows],
        )
    return len(rows)


def key_older_articles(
    db: Database, stopped: Callable[[], bool], batches: int = KEY_BATCHES
) -> tuple[int, bool]:
    """Key up to `batches` batches of the articles stored without keys, each batch its own
    transaction, none begun once `stopped()`: (articles keyed, whether none is left). The
    daemon runs it every 30 s, `mediawatch crawl` at its end. SQLite has no keys: (0, True)
    without a write transaction (BEGIN IMMEDIATE) for nothing."""
    if db.dialect != "postgresql":
        return 0, True
    keyed = 0
    for _ in range(batches):
        if stopped():
            break
        with db.write() as session:
            batch = fill_search_keys(session)
        keyed += batch
        if batch < KEY_BATCH:
            return keyed, True
    return keyed, False


def articles_without_keys(session: Session, cap: int = 1_000_000) -> int:
    """How many articles still lack keys (at most `cap`: a count for a log line)."""
    if session.get_bind().dialect.name != "postgresql":
        return 0
    return int(
        session.scalar(
            text(f"SELECT count(*) FROM (SELECT 1 FROM articles WHERE {TO_KEY} LIMIT :c) c"),
            {"c": cap},
        )
        or 0
    )
