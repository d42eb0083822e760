"""More like this: stored articles sharing an article's most distinctive terms, found through
the full-text index (migration 0002), with no external service.

1. The article's terms as the index holds them: its lexemes (PostgreSQL reads them from
   `search_vector`), or its words tokenized as FTS5's unicode61 does (SQLite).
2. Each term's document frequency, read in one indexed query from the snapshot of the
   index's document frequencies (`term_frequencies`, migration 0012), scaled to the archive's
   size now. The snapshot is taken in one pass over the index (FTS5's vocabulary, PostgreSQL's
   ts_stat) by `refresh_term_frequencies`, which the daemon runs when the archive has grown by
   SNAPSHOT_GROWTH or the snapshot is SNAPSHOT_AGE old, never a web request: it takes seconds.
   idf from a somewhat stale snapshot is fine for likeness (it moves little while the archive
   grows by a tenth), and the terms it lacks (new since, or in one article then) are counted
   in the index, where they are rare and cheap. Without a snapshot (a new archive), every
   term is counted in the index: up to SAMPLE_CAP in FTS5, through the GIN index on
   PostgreSQL after dropping the lexemes its own statistics call common, the counts cached an
   hour in the process. Terms in one article only, or in more than MAX_DF of the archive, say
   nothing about likeness and are dropped.
3. The QUERY_TERMS terms with the highest tf-idf, (1 + ln tf) × BM25's idf, while their
   document frequencies add up to at most CANDIDATE_BUDGET (a bound on the work of step 4).
4. The articles holding any of them, best first by the summed tf-idf weights of the terms
   they share (read from the terms' lists of articles in the index, no positions), the newest
   first among equals; on PostgreSQL one GIN index read per term, and ts_rank breaks ties
   among the best. The article itself and its near-duplicates (the same duplicate_of story)
   are left out.
"""

import json
import math
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import regex
from sqlalchemy import TextClause, bindparam, select, text
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import ArticleRow
from storage.state import get_state, set_state
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
# The document-frequency snapshot is refreshed once the archive has grown by a tenth or it is
# a day old: idf moves little in either, and a refresh reads the whole index.
SNAPSHOT_KEY = "similar:term_frequencies"
SNAPSHOT_GROWTH = 0.10
SNAPSHOT_AGE = timedelta(days=1)
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


@dataclass(frozen=True)
class Snapshot:
    """When the document-frequency snapshot was taken, and the archive's size then."""

    articles: int
    taken_at: datetime

    def stale(self, articles: int, now: datetime) -> bool:
        """Due for a refresh: the archive has grown by SNAPSHOT_GROWTH or it is SNAPSHOT_AGE old."""
        grown = articles > self.articles * (1 + SNAPSHOT_GROWTH)
        return grown or now - self.taken_at >= SNAPSHOT_AGE


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
    df = _document_frequencies(
        session, list(tf), n, lambda live: _sqlite_document_frequencies(session, live, n)
    )
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
    df = _document_frequencies(
        session, list(tf), n, lambda live: _postgres_document_frequencies(session, live, n)
    )
    terms = dict(distinctive_terms(tf, df, n))
    if not terms:
        return []
    # Summed in the database: only the best candidates come back. One branch per term, each
    # with its own constant tsquery, so the planner reads each term's articles through the
    # GIN index; joined to an array of terms instead, it could not see how few articles a
    # term has, and at times chose to test every article's tsvector (seconds).
    params: dict[str, Any] = {"story": story, "k": limit * 3}
    branches = []
    for i, (term, weight) in enumerate(terms.items()):
        params[f"q{i}"], params[f"w{i}"] = _tsquery_lexeme(term), weight
        branches.append(
            f"SELECT id, CAST(:w{i} AS float8) AS weight FROM articles "
            f"WHERE search_vector @@ CAST(:q{i} AS tsquery) "
            "AND id != :story AND duplicate_of_id IS DISTINCT FROM :story"
        )
    # A few thousand rows read through the index: parallel workers cost more to start than
    # they save, and on a busy server the query waits for them (twice as slow at 200,000).
    parallel = session.scalar(text("SELECT current_setting('max_parallel_workers_per_gather')"))
    session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    best = [
        (int(i), float(score))
        for i, score in session.execute(
            text(
                f"SELECT id, sum(weight) AS shared FROM ({' UNION ALL '.join(branches)}) hits "
                "GROUP BY id ORDER BY shared DESC, id DESC LIMIT :k"
            ),
            params,
        )
    ]
    session.execute(
        text("SELECT set_config('max_parallel_workers_per_gather', :was, true)"),
        {"was": parallel},
    )
    if not best:
        return []
    query = " | ".join(_tsquery_lexeme(t) for t in terms)
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


def _tsquery_lexeme(lexeme: str) -> str:
    """A lexeme as tsquery's input reads it: quoted, quotes doubled, backslashes escaped."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _postgres_document_frequencies(session: Session, terms: list[str], n: int) -> dict[str, int]:
    """Document frequencies counted through the GIN index, to at most SAMPLE_CAP."""
    if not terms:
        return {}
    cap = SAMPLE_CAP
    # PostgreSQL's statistics already know the common lexemes: no need to count those.
    df = {
        lexeme: n if found >= cap else found
        for lexeme, found in _known_lexemes(session, n, set(terms))
    }
    unknown = [t for t in terms if t not in df]
    count = text(
        "SELECT t, (SELECT count(*) FROM (SELECT 1 FROM articles "
        "WHERE search_vector @@ quote_literal(t)::tsquery LIMIT :cap) hits) "
        "FROM unnest(CAST(:terms AS text[])) AS t"
    )
    df.update(_cached_frequencies(session, unknown, n, count, list))
    return df


def _known_lexemes(session: Session, n: int, wanted: set[str]) -> list[tuple[str, int]]:
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


def _document_frequencies(
    session: Session, terms: list[str], n: int, live: Callable[[list[str]], dict[str, int]]
) -> dict[str, int]:
    """Each term's document frequency from the snapshot, scaled from the archive's size then
    to `n`; the terms it lacks (or every term, without a snapshot) counted by `live`."""
    taken = snapshot(session)
    if taken is None:
        return live(terms)
    scale = n / taken.articles if taken.articles else 1.0
    if session.get_bind().dialect.name == "postgresql":
        lookup = text(
            "SELECT term, documents FROM term_frequencies WHERE term = ANY(CAST(:terms AS text[]))"
        ).bindparams(terms=terms)
    else:
        lookup = text(
            "SELECT term, documents FROM term_frequencies "
            "WHERE term IN (SELECT value FROM json_each(:terms))"
        ).bindparams(terms=json.dumps(terms))
    df = {
        str(term): max(round(int(documents) * scale), 1)
        for term, documents in session.execute(lookup)
    }
    df.update(live([t for t in terms if t not in df]))
    return df


def snapshot(session: Session) -> Snapshot | None:
    """The document-frequency snapshot's date and archive size; None before the first."""
    value = get_state(session, SNAPSHOT_KEY)
    if value is None:
        return None
    taken = json.loads(value)
    return Snapshot(int(taken["articles"]), datetime.fromisoformat(taken["taken_at"]))


def refresh_term_frequencies(db: Database, now: datetime, force: bool = False) -> Snapshot | None:
    """Take a new document-frequency snapshot if there is none yet, or it is stale (or
    `force`); the new snapshot, or None if the one there is still fresh. Seconds at 200,000
    articles: for the daemon or a command, not a web request. Readers go on reading the old
    snapshot until the new one is committed."""
    with db.read() as session:
        taken = snapshot(session)
        if taken is not None and not force and not taken.stale(_article_count(session), now):
            return None
    if db.dialect == "postgresql":
        return _refresh_postgres(db, now, force)
    return _refresh_sqlite(db, now, force)


def _taken_meanwhile(session: Session, now: datetime) -> bool:
    """Whether another process took a fresh snapshot while this one waited for the lock (two
    crawls from cron in the same minute, or a crawl and the daemon): one refresh is enough."""
    taken = snapshot(session)
    return taken is not None and not taken.stale(_article_count(session), now)


def _record(session: Session, articles: int, now: datetime) -> Snapshot:
    value = json.dumps({"articles": articles, "taken_at": now.isoformat()})
    set_state(session, SNAPSHOT_KEY, value, now)
    return Snapshot(articles, now)


def _refresh_sqlite(db: Database, now: datetime, force: bool) -> Snapshot | None:
    """FTS5's vocabulary is read into a temporary table first, in a read transaction, so the
    write lock (which the crawler's inserts wait on) is held only for the copy."""
    with db.engine.connect() as conn:
        try:
            with conn.begin():
                articles = int(conn.scalar(text("SELECT max(id) FROM articles")) or 0)
                conn.execute(
                    text(
                        "CREATE VIRTUAL TABLE temp.articles_fts_terms "
                        "USING fts5vocab(main, articles_fts, 'row')"
                    )
                )
                conn.execute(
                    text(
                        "CREATE TABLE temp.term_frequencies_new AS SELECT term, doc AS documents "
                        "FROM temp.articles_fts_terms WHERE doc >= 2"
                    )
                )
            # A write as the first statement takes the write lock at once, as BEGIN IMMEDIATE
            # would, waiting out the busy timeout behind a crawl's insert.
            with conn.begin(), Session(bind=conn) as session:
                session.execute(text("DELETE FROM term_frequencies WHERE 0"))  # takes the lock
                if not force and _taken_meanwhile(session, now):
                    return None
                session.execute(text("DELETE FROM term_frequencies"))
                session.execute(
                    text(
                        "INSERT INTO term_frequencies (term, documents) "
                        "SELECT term, documents FROM temp.term_frequencies_new"
                    )
                )
                taken = _record(session, articles, now)
                session.flush()
        finally:
            with conn.begin():
                conn.execute(text("DROP TABLE IF EXISTS temp.term_frequencies_new"))
                conn.execute(text("DROP TABLE IF EXISTS temp.articles_fts_terms"))
    return taken


def _refresh_postgres(db: Database, now: datetime, force: bool) -> Snapshot | None:
    """ts_stat reads every article's tsvector once; readers and the crawler's inserts go on
    meanwhile (the lock only keeps two refreshes apart)."""
    with db.write() as session:
        session.execute(text("LOCK TABLE term_frequencies IN EXCLUSIVE MODE"))
        if not force and _taken_meanwhile(session, now):
            return None
        articles = _article_count(session)
        session.execute(text("DELETE FROM term_frequencies"))
        session.execute(
            text(
                "INSERT INTO term_frequencies (term, documents) SELECT word, ndoc "
                "FROM ts_stat('SELECT search_vector FROM articles') WHERE ndoc >= 2"
            )
        )
        taken = _record(session, articles, now)
    with db.engine.begin() as conn:  # the planner should know the table is no longer empty
        conn.execute(text("ANALYZE term_frequencies"))
    return taken


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
