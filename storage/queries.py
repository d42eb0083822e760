"""Reading articles back: listing, simple search and one article with its matches."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from storage.models import ArticleRow, MatchRow, OutletRow


@dataclass(frozen=True)
class ArticleFilter:
    """The filters `search`, the web UI and the API share."""

    query: str | None = None
    topic: str | None = None
    outlet: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_score: float | None = None
    language: str | None = None
    limit: int = 20
    offset: int = 0


def filter_clauses(f: ArticleFilter) -> list[ColumnElement[bool]]:
    """WHERE clauses for the filters (not the query), shared by listing and search."""
    clauses: list[ColumnElement[bool]] = []
    if f.topic:
        clauses.append(
            exists().where(MatchRow.article_id == ArticleRow.id, MatchRow.topic == f.topic)
        )
    if f.outlet:
        clauses.append(ArticleRow.outlet_id == f.outlet)
    if f.since:
        clauses.append(
            or_(
                ArticleRow.published >= f.since,
                (ArticleRow.published.is_(None)) & (ArticleRow.first_seen >= f.since),
            )
        )
    if f.until:
        clauses.append(
            or_(
                ArticleRow.published < f.until,
                (ArticleRow.published.is_(None)) & (ArticleRow.first_seen < f.until),
            )
        )
    if f.min_score is not None:
        clauses.append(ArticleRow.score >= f.min_score)
    if f.language:
        clauses.append(ArticleRow.language == f.language)
    return clauses


def list_articles(session: Session, f: ArticleFilter) -> list[ArticleRow]:
    """Articles matching the filters (not the query: see storage.search), newest first:
    by publication date, or by first seen for an article whose page gave no date."""
    # Both columns hold UTC in one format on each backend (UTCDateTime), so they compare alike.
    newest = func.coalesce(ArticleRow.published, ArticleRow.first_seen)
    stmt = (
        select(ArticleRow).where(*filter_clauses(f)).order_by(newest.desc(), ArticleRow.id.desc())
    )
    return list(session.scalars(stmt.limit(f.limit).offset(f.offset)))


def count_articles(session: Session, f: ArticleFilter) -> int:
    """How many articles pass the filters (not the query), for "1–20 of 347"."""
    stmt = select(func.count()).select_from(ArticleRow).where(*filter_clauses(f))
    return int(session.scalar(stmt) or 0)


def get_article(session: Session, article_id: int) -> ArticleRow | None:
    """One article by id, or None."""
    return session.get(ArticleRow, article_id)


def near_duplicates(session: Session, article: ArticleRow) -> list[ArticleRow]:
    """Other stored copies of the same piece (syndicated or republished)."""
    root = article.duplicate_of_id or article.id
    stmt = (
        select(ArticleRow)
        .where(
            or_(ArticleRow.id == root, ArticleRow.duplicate_of_id == root),
            ArticleRow.id != article.id,
        )
        .order_by(ArticleRow.id)
    )
    return list(session.scalars(stmt))


def outlet_names(session: Session) -> dict[str, str]:
    """Outlet ids to display names."""
    return {row.id: row.name for row in session.execute(select(OutletRow.id, OutletRow.name))}
