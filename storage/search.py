"""Full-text search in the database (SQLite FTS5 or PostgreSQL), best first.

Ranking, documented in the README:

    final = 0.60 × relevance + 0.25 × topic + 0.15 × recency

relevance is the text match (FTS5 bm25 with the title weighted 3×, or PostgreSQL ts_rank)
scaled to (0, 1] over the candidates; topic is min(score, 10) / 10; recency halves every
14 days since publication. Text ranking cost grows with the number of hits, so on both
databases only the WINDOW newest hits that pass the filters are ranked (finding them
newest-first is cheap at any hit count): a word found in most of the archive ranks its
recent matches, which is what a monitoring desk wants.
"""

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    case,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from storage.models import ArticleRow
from storage.queries import ArticleFilter, filter_clauses
from storage.querylang import Node, to_fts5, to_tsquery

WINDOW = 1000
HALF_LIFE_DAYS = 14.0
MARK_START, MARK_END = "\x02", "\x03"


@dataclass
class Hit:
    """One search result: the article, its marked snippet, its rank."""

    article: ArticleRow
    snippet: str | None  # with MARK_START / MARK_END around matched words
    rank: float


def rank_value(relevance: float, score: float, published: datetime | None, now: datetime) -> float:
    """The documented ranking formula (see the module docstring)."""
    topic = min(score, 10.0) / 10.0
    if published is None:
        recency = 0.0
    else:
        age_days = max((now - published).total_seconds() / 86400, 0.0)
        recency = math.pow(0.5, age_days / HALF_LIFE_DAYS)
    return 0.60 * relevance + 0.25 * topic + 0.15 * recency


def search(session: Session, query: Node, f: ArticleFilter, now: datetime) -> list[Hit]:
    """Articles matching `query` and the filters, best first, with marked snippets."""
    if session.get_bind().dialect.name == "postgresql":
        candidates = _postgres_candidates(session, query, f)
    else:
        candidates = _sqlite_candidates(session, query, f)
    if not candidates:
        return []
    top = max(c.relevance for c in candidates) or 1.0
    ranked = sorted(
        (
            (c.id, rank_value(c.relevance / top, c.score, c.published or c.first_seen, now))
            for c in candidates
        ),
        key=lambda pair: (-pair[1], -pair[0]),
    )[f.offset : f.offset + f.limit]
    ids = [i for i, _ in ranked]
    rows = {r.id: r for r in session.scalars(select(ArticleRow).where(ArticleRow.id.in_(ids)))}
    snippets = _snippets(session, query, ids)
    return [Hit(rows[i], snippets.get(i), rank) for i, rank in ranked if i in rows]


def _sqlite_candidates(session: Session, query: Node, f: ArticleFilter) -> list[Any]:
    """The WINDOW newest matches passing the filters, with what ranking needs; one pass of
    the index, newest first, so bm25 is computed for at most WINDOW rows."""
    fts = table("articles_fts", column("rowid", Integer))
    relevance = (-func.bm25(literal_column("articles_fts"), 3.0, 1.0)).label("relevance")
    stmt = (
        select(
            ArticleRow.id, relevance, ArticleRow.score, ArticleRow.published, ArticleRow.first_seen
        )
        .select_from(fts.join(ArticleRow, ArticleRow.id == fts.c.rowid))
        .where(text("articles_fts MATCH :q").bindparams(q=to_fts5(query)))
        .where(*filter_clauses(f))
        .order_by(fts.c.rowid.desc())
        .limit(max(WINDOW, f.offset + f.limit))
    )
    return list(session.execute(stmt).all())


def _postgres_candidates(session: Session, query: Node, f: ArticleFilter) -> list[Any]:
    """The WINDOW newest matches passing the filters, with ts_rank; English rows are stemmed,
    others (Urdu, Hindi...) not.

    Two planner traps, measured at 30,000 articles: the tsvector is TOASTed, so the planner
    thinks a sequential scan is cheap when it detoasts every row (233 ms for a one-hit word
    against 4 ms through the GIN index), hence enable_seqscan off for this transaction; and
    ts_rank over every hit of a common word detoasts them all, hence the window, ordered by
    `id + 0` so that the planner cannot walk the primary key backwards instead.
    """
    session.execute(text("SET LOCAL enable_seqscan = off"))
    tsq: Any = bindparam("q", to_tsquery(query))
    english = func.to_tsquery(literal_column("'english'::regconfig"), tsq)
    simple = func.to_tsquery(literal_column("'simple'::regconfig"), tsq)
    vector: Any = literal_column("articles.search_vector")
    is_english = ArticleRow.language == "en"
    match = or_(
        and_(is_english, vector.op("@@")(english)),
        and_(ArticleRow.language.is_distinct_from("en"), vector.op("@@")(simple)),
    )
    newest = (
        select(ArticleRow.id)
        .where(match, *filter_clauses(f))
        .order_by((ArticleRow.id + 0).desc())
        .limit(max(WINDOW, f.offset + f.limit))
        .subquery("newest")
    )
    relevance = func.ts_rank(vector, case((is_english, english), else_=simple)).label("relevance")
    stmt = select(
        ArticleRow.id, relevance, ArticleRow.score, ArticleRow.published, ArticleRow.first_seen
    ).join(newest, newest.c.id == ArticleRow.id)
    return list(session.execute(stmt).all())


def _snippets(session: Session, query: Node, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text(
                "SELECT id, ts_headline(CASE WHEN language = 'en' THEN 'english'::regconfig "
                "ELSE 'simple'::regconfig END, text, CASE WHEN language = 'en' THEN "
                "to_tsquery('english', :q) ELSE to_tsquery('simple', :q) END, "
                "'StartSel=\x02, StopSel=\x03, MaxWords=35, MinWords=15, MaxFragments=1') "
                "FROM articles WHERE id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"q": to_tsquery(query), "ids": ids},
        ).all()
    else:
        rows = session.execute(
            text(
                "SELECT rowid, snippet(articles_fts, -1, :start, :end, '…', 32) FROM articles_fts "
                "WHERE articles_fts MATCH :q AND rowid IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"q": to_fts5(query), "ids": ids, "start": MARK_START, "end": MARK_END},
        ).all()
    return {int(i): str(s) for i, s in rows}
