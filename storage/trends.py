"""Stories over time: how many matching stories each topic, outlet, country or language had per
day or week, counted by one grouped query (the trends page, `mediawatch trends`, spike alerts).

A story is an article and its near-duplicates (`articles.duplicate_of_id`), so it is counted
as its first copy's id: a piece syndicated by three outlets counts once per topic, and once per
outlet when grouped by outlet. An article's date is its publication date, or when it was first
seen where its page gave none, in UTC.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from storage.models import ArticleRow, MatchRow, OutletRow, SpikeRow


class GroupBy(StrEnum):
    """What a count is per: the `key` of a trend row."""

    TOPIC = "topic"
    OUTLET = "outlet"
    COUNTRY = "country"
    LANGUAGE = "language"


class Interval(StrEnum):
    """The length of one period: a UTC day, or a week from Monday."""

    DAY = "day"
    WEEK = "week"


@dataclass(frozen=True)
class TrendRow:
    """Stories for one key in one period (period: the interval's first day, YYYY-MM-DD)."""

    period: str
    key: str
    stories: int


@dataclass(frozen=True)
class StoryTime:
    """One story matching one topic, with its article's date: what spike detection buckets."""

    topic: str
    story: int
    at: datetime


def story_id() -> ColumnElement[int]:
    """The story an article belongs to: its first copy's id."""
    return func.coalesce(ArticleRow.duplicate_of_id, ArticleRow.id)


def in_window(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    """Articles dated in [since, until), written as two ranges (published, or first seen when
    published is NULL) so each can use its own index (ix_articles_published,
    ix_articles_first_seen) instead of a coalesce no index covers."""
    clauses: list[ColumnElement[bool]] = []
    if since is not None:
        clauses.append(
            or_(
                ArticleRow.published >= since,
                and_(ArticleRow.published.is_(None), ArticleRow.first_seen >= since),
            )
        )
    if until is not None:
        clauses.append(
            or_(
                ArticleRow.published < until,
                and_(ArticleRow.published.is_(None), ArticleRow.first_seen < until),
            )
        )
    return clauses


def _period(dialect: str, interval: Interval) -> ColumnElement[str]:
    """The first day (YYYY-MM-DD, UTC) of the period an article's date falls in."""
    dated = func.coalesce(ArticleRow.published, ArticleRow.first_seen)
    if dialect == "postgresql":
        unit = "week" if interval == Interval.WEEK else "day"  # date_trunc's weeks start Monday
        utc = func.timezone("UTC", dated)
        return func.to_char(func.date_trunc(unit, utc), "YYYY-MM-DD")
    # SQLite keeps UTC as "YYYY-MM-DD HH:MM:SS.ffffff"; "weekday 0" moves on to Sunday (or
    # stays on one), six days back is that week's Monday.
    if interval == Interval.WEEK:
        return func.date(dated, "weekday 0", "-6 days")
    return func.date(dated)


def _candidates(topics: Sequence[str], since: datetime | None) -> Any:
    """(article_id, topic) of the topics' matches that may be dated since `since`, read from
    ix_matches_topic_article without touching the matches of older articles.

    Articles are stored in order, so the first article first seen since `since` (`first`)
    bounds the ids of every later one: any article first seen since then has an id of at
    least `first`, by its definition as the smallest. The one other way into the window is a
    publication date later than the first sighting (an old article backfilled, a page
    re-dated); those with an id below `first` are found through ix_articles_published. The
    union is exact, not a guess, and each part is an index range.
    """
    if since is None:
        return (
            select(MatchRow.article_id, MatchRow.topic)
            .where(MatchRow.topic.in_(topics))
            .subquery("candidates")
        )
    newest, seen, dated = (aliased(ArticleRow) for _ in range(3))
    past_end = select(func.coalesce(func.max(newest.id), 0) + 1).scalar_subquery()
    # `id + 0`, not `id`: SQLite answers min(id) by walking the table in id order until a row
    # passes the filter (reading each row's text); an expression makes it range over
    # ix_articles_first_seen instead.
    first = (
        select(func.coalesce(func.min(seen.id + 0), past_end))
        .where(seen.first_seen >= since)
        .scalar_subquery()
    )
    late = select(dated.id).where(dated.published >= since, dated.id < first)
    return union_all(
        select(MatchRow.article_id, MatchRow.topic).where(
            MatchRow.topic.in_(topics), MatchRow.article_id >= first
        ),
        select(MatchRow.article_id, MatchRow.topic).where(
            MatchRow.topic.in_(topics), MatchRow.article_id.in_(late)
        ),
    ).subquery("candidates")


def _keyed(by: GroupBy, topics: Sequence[str], since: datetime | None) -> tuple[Any, Select[Any]]:
    """The key column for `by`, and the FROM/WHERE it needs: the topics' candidate matches
    joined to their articles by primary key. Every grouping starts from the matches, so an
    article with several matched terms or topics is met more than once; COUNT(DISTINCT
    story) makes that harmless."""
    matches = _candidates(topics, since)
    base = (
        select(literal(1))
        .select_from(matches)
        .join(ArticleRow, ArticleRow.id == matches.c.article_id)
    )
    if by == GroupBy.TOPIC:
        return matches.c.topic, base
    if by == GroupBy.OUTLET:
        return ArticleRow.outlet_id, base
    if by == GroupBy.LANGUAGE:
        return func.coalesce(ArticleRow.language, cast(literal(""), String)), base
    # A scalar subquery, not a join: joined, the planner may start from the 40-odd outlets and
    # read every article of each, text and all.
    country = select(OutletRow.country).where(OutletRow.id == ArticleRow.outlet_id)
    return func.coalesce(country.scalar_subquery(), cast(literal(""), String)), base


def story_counts(
    session: Session,
    topics: Sequence[str],
    by: GroupBy = GroupBy.TOPIC,
    since: datetime | None = None,
    until: datetime | None = None,
    interval: Interval | None = Interval.DAY,
) -> list[TrendRow]:
    """Distinct stories per (period, key) among articles matching any of `topics`, dated in
    [since, until); only pairs with stories. With `interval` None, one total per key over the
    whole window (period "").

    One query: COUNT(DISTINCT story) grouped by key and period.
    """
    if not topics:
        return []
    key, base = _keyed(by, topics, since)
    stories = func.count(story_id().distinct())
    if interval is None:
        totals = base.with_only_columns(key, stories).group_by(key)
        return [
            TrendRow("", k or "", int(n))
            for k, n in session.execute(totals.where(*in_window(since, until)))
        ]
    period = _period(session.get_bind().dialect.name, interval)
    stmt = base.with_only_columns(period, key, stories).group_by(period, key)
    rows = session.execute(stmt.where(*in_window(since, until)).order_by(period, key))
    return [TrendRow(str(p), k or "", int(n)) for p, k, n in rows]


def story_times(
    session: Session, topics: Sequence[str], since: datetime, until: datetime
) -> list[StoryTime]:
    """Every (topic, story) matching `topics` with its article's date in [since, until): spike
    detection counts them per day in a subscriber's time zone, which SQLite cannot do itself.
    A story with copies on several dates is listed once per date."""
    if not topics:
        return []
    dated = func.coalesce(ArticleRow.published, ArticleRow.first_seen)
    matches = _candidates(topics, since)
    stmt = (
        select(matches.c.topic, story_id(), dated)
        .select_from(matches)
        .join(ArticleRow, ArticleRow.id == matches.c.article_id)
        .where(*in_window(since, until))
        .distinct()
    )
    out = []
    for topic, story, at in session.execute(stmt):
        # coalesce() hides the column type from SQLAlchemy: SQLite hands back its text.
        when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
        out.append(
            StoryTime(topic, int(story), when.replace(tzinfo=UTC) if not when.tzinfo else when)
        )
    return out


def archive_start(session: Session) -> datetime | None:
    """The earliest date the archive knows of (publication or first seen): days before it have
    no history, so they cannot count as quiet. Two index lookups (min of each indexed column)."""
    published = session.scalar(select(func.min(ArticleRow.published)))
    first_seen = session.scalar(select(func.min(ArticleRow.first_seen)))
    known = [d for d in (published, first_seen) if d is not None]
    return min(known) if known else None


def periods(start: date, end: date, interval: Interval) -> list[str]:
    """Every period's first day from the one holding `start` to the one holding `end`."""
    step = timedelta(days=7 if interval == Interval.WEEK else 1)
    if interval == Interval.WEEK:
        start -= timedelta(days=start.weekday())
    out = []
    while start <= end:
        out.append(start.isoformat())
        start += step
    return out


def list_spikes(
    session: Session, since_day: str, topics: Sequence[str] | None = None
) -> list[SpikeRow]:
    """Recorded spikes on days from `since_day` (YYYY-MM-DD), newest day first."""
    stmt = select(SpikeRow).where(SpikeRow.day >= since_day)
    if topics is not None:
        stmt = stmt.where(SpikeRow.topic.in_(topics))
    return list(session.scalars(stmt.order_by(SpikeRow.day.desc(), SpikeRow.topic, SpikeRow.zone)))


def top_stories(
    session: Session, topic: str, since: datetime, until: datetime, limit: int = 5
) -> list[tuple[ArticleRow, int]]:
    """The best-scoring stories matching `topic` dated in [since, until): each story's first
    copy in the window with how many copies it had there, best score first."""
    matching = (
        select(MatchRow.id)
        .where(MatchRow.article_id == ArticleRow.id, MatchRow.topic == topic)
        .exists()
    )
    stmt = (
        select(ArticleRow)
        .where(matching, *in_window(since, until))
        .order_by(ArticleRow.score.desc(), ArticleRow.id)
    )
    best: dict[int, list[ArticleRow]] = {}
    for row in session.scalars(stmt):
        best.setdefault(row.duplicate_of_id or row.id, []).append(row)
    ranked = sorted(best.values(), key=lambda rows: (-rows[0].score, min(r.id for r in rows)))
    return [(min(rows, key=lambda r: r.id), len(rows)) for rows in ranked[:limit]]
