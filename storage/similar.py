"""More like this: stored articles sharing an article's most distinctive terms, found through
the full-text index (migration 0002), with no external service.

1. The article's terms as the index holds them: its lexemes (PostgreSQL reads them from
   `search_vector`), or its words tokenized as FTS5's unicode61 does (SQLite).
2. Each term's document frequency from the index itself: counted up to SAMPLE_CAP in FTS5
   (and cached an hour in the process); a capped count through the GIN index on PostgreSQL,
   after dropping the lexemes PostgreSQL's own statistics call common. Terms in one article
   only, or in more than MAX_DF of the archive, say nothing about likeness and are dropped.
3. The QUERY_TERMS terms with the highest tf-idf, (1 + ln tf) × BM25's idf, while their
   document frequencies add up to at most CANDIDATE_BUDGET (a bound on the work of step 4).
4. The articles holding any of them, best first by the summed tf-idf weights of the terms
   they share (read from the terms' lists of articles in the index, no positions), the newest
   first among equals; on PostgreSQL ts_rank breaks ties. The article itself and its
   near-duplicates (the same duplicate_of story) are left out.
"""

import json
import math
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import regex
from sqlalchemy import TextClause, bindparam, select, text
from sqlalchemy.orm import Session

from storage.models import ArticleRow
from storage.textnorm import fold

QUERY_TERMS = 16
MAX_DF = 0.05  # a term in more than 5 % of the archive is not distinctive...
MIN_DF_CAP = 10  # ...unless in 10 articles or fewer (a small archive)
CANDIDATE_BUDGET = 8_000
# SQLite: document frequencies are counted to SAMPLE_CAP (a term found that often is too common
# to be among an article's most distinctive at any archive size worth the cost) and cached
SAMPLE_CAP = 600
DF_TTL = 3600.0
DF_CACHE_SIZE = 500_000
_DF_CACHE: dict[str, dict[str, tuple[int, float]]] = {}
MIN_TERM_LENGTH = 3
# FTS5's unicode61 tokenizer with categories 'L* N* Co M*' (migration 0002)
_TOKEN = regex.compile(r"[\p{L}\p{N}\p{Co}\p{M}]+")
STOPWORDS = frozenset(
    """about above after again against all also among and any are around because been before
    being below between both but can could did does doing down during each even every few for
    from further had has have having her here hers him his how however into its itself just
    last like made many may more most much must new not now off once one only other our ours
    out over own said same says she should since some still such than that the their theirs
    them then there these they this those though through too two under until upon very was
    way well were what when where whether which while who whom whose why will with within
    without would year years yet you your""".split()  # noqa: SIM905 - a word list reads as words
)


@dataclass(frozen=True)
class SimilarArticle:
    """One similar stored article, as the article page lists it."""

    id: int
    title: str
    outlet: str
    published: datetime | None
    similarity: float


def _strip_latin_diacritics(word: str) -> str:
    # unicode61's remove_diacritics folds Latin letters only; other scripts keep their marks.
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", word):
        if unicodedata.combining(ch) and out and out[-1] < "\u0250":
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def index_terms(title: str, body: str) -> Counter[str]:
    """An article's words as SQLite's full-text index tokenizes them, with their counts."""
    words = _TOKEN.findall(fold(f"{title}\n{body}").lower())
    return Counter(_strip_latin_diacritics(w) for w in words)


def _useful(term: str) -> bool:
    return (
        len(term) >= MIN_TERM_LENGTH
        and not term.isdigit()
        and term not in STOPWORDS
        and _TOKEN.fullmatch(term) is not None
    )


def _idf(df: int, n: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def distinctive_terms(tf: Counter[str], df: dict[str, int], n: int) -> list[tuple[str, float]]:
    """The query terms and their weights: highest tf-idf first, within CANDIDATE_BUDGET."""
    cap = max(MAX_DF * n, MIN_DF_CAP)
    scored = sorted(
        (
            ((1 + math.log(count)) * _idf(df[t], n), t)
            for t, count in tf.items()
            if 2 <= df.get(t, 0) <= cap
        ),
        reverse=True,
    )
    chosen: list[tuple[str, float]] = []
    spent = 0
    for weight, term in scored:
        if len(chosen) == QUERY_TERMS:
            break
        if spent + df[term] > CANDIDATE_BUDGET:
            continue
        spent += df[term]
        chosen.append((term, weight))
    return chosen


def similar_articles(session: Session, article_id: int, limit: int = 10) -> list[SimilarArticle]:
    """Up to `limit` stored articles most like this one, best first (see the module doc)."""
    row = session.get(ArticleRow, article_id)
    if row is None:
        return []
    story = row.duplicate_of_id or row.id
    if session.get_bind().dialect.name == "postgresql":
        ranked = _postgres_similar(session, article_id, story, limit)
    else:
        ranked = _sqlite_similar(session, row, story, limit)
    if not ranked:
        return []
    rows = {
        r.id: r
        for r in session.execute(
            select(
                ArticleRow.id, ArticleRow.title, ArticleRow.outlet_id, ArticleRow.published
            ).where(ArticleRow.id.in_([i for i, _ in ranked]))
        )
    }
    return [
        SimilarArticle(i, rows[i].title, rows[i].outlet_id, rows[i].published, round(score, 4))
        for i, score in ranked
        if i in rows
    ]


def _article_count(session: Session) -> int:
    return int(session.scalar(text("SELECT max(id) FROM articles")) or 0)


def _sqlite_similar(
    session: Session, row: ArticleRow, story: int, limit: int
) -> list[tuple[int, float]]:
    tf = Counter({t: c for t, c in index_terms(row.title, row.text).items() if _useful(t)})
    if not tf:
        return []
    n = _article_count(session)
    df = _sqlite_document_frequencies(session, list(tf), n)
    terms = distinctive_terms(tf, df, n)
    if not terms:
        return []
    # Ranked by the summed tf-idf weights of the terms they share, summed inside SQLite from
    # the terms' rowid lists (no position lists). FTS5's bm25() would rank the same candidates
    # but recomputes every phrase's idf from its doclist and positions in each statement: it
    # alone took 200+ ms at 200,000 articles.
    found = session.execute(
        text(
            "SELECT articles_fts.rowid AS id, sum(json_extract(t.value, '$[1]')) AS shared "
            "FROM json_each(:terms) AS t, articles_fts "
            "WHERE articles_fts MATCH '\"' || json_extract(t.value, '$[0]') || '\"' "
            "AND articles_fts.rowid NOT IN "
            "(SELECT id FROM articles WHERE id = :story OR duplicate_of_id = :story) "
            "GROUP BY articles_fts.rowid ORDER BY shared DESC, articles_fts.rowid DESC "
            "LIMIT :limit"
        ),
        {"terms": json.dumps(terms), "story": story, "limit": limit},
    ).all()
    return [(int(i), float(score)) for i, score in found]


def _cached_frequencies(
    session: Session,
    terms: list[str],
    n: int,
    count: TextClause,
    encode: Callable[[list[str]], Any],
) -> dict[str, int]:
    """Each term's document frequency, counted to at most SAMPLE_CAP by `count` (one
    statement for all the terms not cached, so the loop runs in the database), and kept
    DF_TTL seconds in this process: the terms of one article recur in the next."""
    now = time.monotonic()
    cache = _DF_CACHE.setdefault(str(session.get_bind().engine.url), {})
    if len(cache) > DF_CACHE_SIZE:
        cache.clear()
    df: dict[str, int] = {}
    missing = []
    for term in terms:
        hit = cache.get(term)
        if hit is not None and now - hit[1] < DF_TTL:
            df[term] = hit[0]
        else:
            missing.append(term)
    if missing:
        for term, seen in session.execute(count, {"terms": encode(missing), "cap": SAMPLE_CAP}):
            # At the cap the term is common: counted as in every article, so it is dropped.
            value = n if int(seen) >= SAMPLE_CAP else int(seen)
            df[str(term)] = value
            cache[str(term)] = (value, now)
    return df


def _sqlite_document_frequencies(session: Session, terms: list[str], n: int) -> dict[str, int]:
    """Document frequencies from FTS5, which stops reading a doclist at the cap, so a common
    term costs no more than a rare one (fts5vocab would read each term's whole doclist:
    seconds per article at 200,000)."""
    count = text(
        "SELECT t.value, (SELECT count(*) FROM (SELECT rowid FROM articles_fts "
        "WHERE articles_fts MATCH '\"' || t.value || '\"' LIMIT :cap)) "
        "FROM json_each(:terms) AS t"
    )
    return _cached_frequencies(session, terms, n, count, json.dumps)


def _postgres_similar(
    session: Session, article_id: int, story: int, limit: int
) -> list[tuple[int, float]]:
    tf = Counter(
        {
            lexeme: count
            for lexeme, count in session.execute(
                text(
                    "SELECT lexeme, coalesce(array_length(positions, 1), 1) FROM unnest("
                    "(SELECT search_vector FROM articles WHERE id = :id))"
                ),
                {"id": article_id},
            )
            if _useful(lexeme)
        }
    )
    n = _article_count(session)
    cap = SAMPLE_CAP
    # PostgreSQL's statistics already know the common lexemes: no need to count those.
    df = {lexeme: n if found >= cap else found for lexeme, found in _known_lexemes(session, n, tf)}
    unknown = [t for t in tf if t not in df]
    count = text(
        "SELECT t, (SELECT count(*) FROM (SELECT 1 FROM articles "
        "WHERE search_vector @@ quote_literal(t)::tsquery LIMIT :cap) hits) "
        "FROM unnest(CAST(:terms AS text[])) AS t"
    )
    df.update(_cached_frequencies(session, unknown, n, count, list))
    terms = dict(distinctive_terms(tf, df, n))
    if not terms:
        return []
    # Summed in the database: only the best candidates come back.
    best = [
        (int(i), float(score))
        for i, score in session.execute(
            text(
                "SELECT a.id, sum(t.weight) AS shared "
                "FROM unnest(CAST(:terms AS text[]), CAST(:weights AS float8[])) "
                "AS t(term, weight) "
                "JOIN articles a ON a.search_vector @@ quote_literal(t.term)::tsquery "
                "WHERE a.id != :story AND a.duplicate_of_id IS DISTINCT FROM :story "
                "GROUP BY a.id ORDER BY shared DESC, a.id DESC LIMIT :k"
            ),
            {
                "terms": list(terms),
                "weights": list(terms.values()),
                "story": story,
                "k": limit * 3,
            },
        )
    ]
    if not best:
        return []
    query = " | ".join("'" + t.replace("'", "''").replace("\\", "") + "'" for t in terms)
    tie = {
        int(i): float(r)
        for i, r in session.execute(
            text(
                "SELECT id, ts_rank(search_vector, CAST(:q AS tsquery)) FROM articles "
                "WHERE id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"q": query, "ids": [i for i, _ in best]},
        )
    }
    ranked = sorted(best, key=lambda pair: (-(pair[1] + tie.get(pair[0], 0.0)), -pair[0]))
    return [(i, s + tie.get(i, 0.0)) for i, s in ranked[:limit]]


def _known_lexemes(session: Session, n: int, wanted: Counter[str]) -> list[tuple[str, int]]:
    """Of the `wanted` lexemes, those PostgreSQL's statistics of the column list among its
    most common elements (ANALYZE's, none before the first), with their estimated document
    frequencies."""
    row = session.execute(
        text(
            "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
            "WHERE tablename = 'articles' AND attname = 'search_vector' "
            "AND schemaname = current_schema()"
        )
    ).first()
    if row is None or row[0] is None:
        return []
    return [
        (str(e), max(round(f * n), 1))
        for e, f in zip(row[0], row[1], strict=False)
        if str(e) in wanted
    ]


def document_counts(session: Session, phrases: list[str], cap: int) -> dict[str, int]:
    """How many stored articles hold each word or phrase (as search finds it), counting at
    most `cap`: a common phrase costs no more than a rare one."""
    counts: dict[str, int] = {}
    if session.get_bind().dialect.name == "postgresql":
        count = text(
            "SELECT count(*) FROM (SELECT 1 FROM articles WHERE "
            "search_vector @@ phraseto_tsquery('english', :p) OR "
            "search_vector @@ phraseto_tsquery('simple', :p) LIMIT :cap) hits"
        )
        for phrase in phrases:
            counts[phrase] = int(session.scalar(count, {"p": phrase, "cap": cap}) or 0)
        return counts
    count = text(
        "SELECT count(*) FROM (SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q "
        "LIMIT :cap)"
    )
    for phrase in phrases:
        quoted = '"' + fold(phrase).replace('"', '""') + '"'
        counts[phrase] = int(session.scalar(count, {"q": quoted, "cap": cap}) or 0)
    return counts


def article_count(session: Session) -> int:
    """The number of stored articles (the highest id: an upper bound, read from the index)."""
    return _article_count(session)
