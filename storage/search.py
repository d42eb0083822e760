"""Full-text search in the database (SQLite FTS5 or PostgreSQL), best first.

Ranking, documented in the README:

    final = 0.60 × relevance + 0.25 × topic + 0.15 × recency

relevance is the text match (FTS5 bm25 with the title weighted 3×, or PostgreSQL ts_rank)
scaled to (0, 1] over the candidates; topic is min(score, 10) / 10; recency halves every
14 days since publication. Text ranking cost grows with the number of hits, so on SQLite
only the WINDOW newest hits are ranked (newest-first by rowid is cheap at any hit count):
a word found in most of the archive ranks its recent matches, which is what a monitoring
desk wants.
"""

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, bindparam, column, text
from sqlalchemy.orm import Session

from storage.models import ArticleRow
from storage.queries import ArticleFilter, _filtered
from storage.querylang import Node, to_fts5, to_tsquery

WINDOW = 5000
CANDIDATES = 200
HALF_LIFE_DAYS = 14.0
MARK_START, MARK_END = "\x02", "\x03"


@dataclass
class Hit:
    article: ArticleRow
    snippet: str | None  # with MARK_START / MARK_END around matched words
    rank: float


def rank_value(relevance: float, score: float, published: datetime | None, now: datetime) -> float:
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
        scored = _postgres_candidates(session, query, f)
    else:
        scored = _sqlite_candidates(session, query, f)
    if not scored:
        return []
    top = max(r for _, r in scored) or 1.0
    ranked = sorted(
        (
            (row, rank_value(r / top, row.score, row.published or row.first_seen, now))
            for row, r in scored
        ),
        key=lambda pair: (-pair[1], -pair[0].id),
    )[f.offset : f.offset + f.limit]
    snippets = _snippets(session, query, [row.id for row, _ in ranked])
    return [Hit(row, snippets.get(row.id), rank) for row, rank in ranked]


def _candidate_count(f: ArticleFilter) -> int:
    return max(CANDIDATES, f.offset + f.limit)


def _sqlite_candidates(
    session: Session, query: Node, f: ArticleFilter
) -> list[tuple[ArticleRow, float]]:
    match = to_fts5(query)
    floor = session.execute(
        text(
            "SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q "
            "ORDER BY rowid DESC LIMIT 1 OFFSET :skip"
        ),
        {"q": match, "skip": WINDOW - 1},
    ).scalar()
    hits = (
        text(
            "SELECT rowid AS id, -bm25(articles_fts, 3.0, 1.0) AS relevance FROM articles_fts "
            "WHERE articles_fts MATCH :q AND rowid >= :floor"
        )
        .bindparams(q=match, floor=floor or 0)
        .columns(column("id", Integer), column("relevance", Float))
        .subquery("hits")
    )
    stmt: Any = (
        _filtered(f)
        .join(hits, hits.c.id == ArticleRow.id)
        .add_columns(hits.c.relevance)
        .order_by(hits.c.relevance.desc())
        .limit(_candidate_count(f))
    )
    return [(row, float(r)) for row, r in session.execute(stmt).all()]


def _pg_match() -> str:
    return (
        "((articles.language = 'en' AND articles.search_vector @@ to_tsquery('english', :q)) OR "
        "(articles.language IS DISTINCT FROM 'en' AND "
        "articles.search_vector @@ to_tsquery('simple', :q)))"
    )


def _pg_rank() -> str:
    return (
        "ts_rank(articles.search_vector, CASE WHEN articles.language = 'en' "
        "THEN to_tsquery('english', :q) ELSE to_tsquery('simple', :q) END)"
    )


def _postgres_candidates(
    session: Session, query: Node, f: ArticleFilter
) -> list[tuple[ArticleRow, float]]:
    tsq = to_tsquery(query)
    stmt: Any = (
        _filtered(f)
        .where(text(_pg_match()).bindparams(q=tsq))
        .add_columns(text(f"{_pg_rank()} AS relevance").bindparams(q=tsq))
        .order_by(text("relevance DESC"))
        .limit(_candidate_count(f))
    )
    return [(row, float(r)) for row, r in session.execute(stmt).all()]


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
