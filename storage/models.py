"""SQLAlchemy 2.0 typed models. Uniqueness is the database's job, not the crawler's.

Each index says which query it serves. Schema changes go through Alembic
(storage/migrations); never edit a released migration.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column, relationship
from sqlalchemy.orm.attributes import get_history

from storage.searchkeys import article_keys
from storage.statuses import AlertKind, AlertStatus, CrawlStatus, DigestStatus, SeenOutcome


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def one_of(name: str, column: str, values: type[StrEnum]) -> CheckConstraint:
    """A named CHECK that `column` holds one of the enum's values."""
    allowed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=name)


class Base(DeclarativeBase):
    """The declarative base; datetimes are stored as UTC everywhere."""

    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class OutletRow(Base):
    """Outlets as last configured, so articles and crawl runs can name theirs."""

    __tablename__ = "outlets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(16), default="")
    language: Mapped[str] = mapped_column(String(8), default="")


class ArticleRow(Base):
    """A stored article: text, metadata, score, fingerprint, first copy."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), comment="canonical URL, as shown to users")
    url_key: Mapped[str] = mapped_column(
        String(2048), unique=True, comment="spiders.urls.url_key: one per article"
    )
    outlet_id: Mapped[str] = mapped_column(ForeignKey("outlets.id"))
    title: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(Text)
    published: Mapped[datetime | None]
    date_source: Mapped[str] = mapped_column(String(16), default="none")
    language: Mapped[str | None] = mapped_column(String(8))
    site_name: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text, default="")
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    first_seen: Mapped[datetime]
    simhash: Mapped[int] = mapped_column(BigInteger, default=0, comment="signed 64-bit SimHash")
    sim_band0: Mapped[int] = mapped_column(Integer, default=0)
    sim_band1: Mapped[int] = mapped_column(Integer, default=0)
    sim_band2: Mapped[int] = mapped_column(Integer, default=0)
    sim_band3: Mapped[int] = mapped_column(Integer, default=0)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id"), comment="the first copy of a near-duplicate"
    )
    # edits (storage/versions.py): the page's validators, the version shown, the re-checks
    etag: Mapped[str | None] = mapped_column(String(256), comment="the page's ETag, if it gave one")
    last_modified: Mapped[str | None] = mapped_column(
        String(64), comment="the page's Last-Modified, as sent"
    )
    version: Mapped[int] = mapped_column(
        Integer,
        server_default="1",
        comment="the version title and text hold; article_versions has the earlier ones",
    )
    edited_at: Mapped[datetime | None]
    next_recheck_at: Mapped[datetime | None] = mapped_column(
        comment="when the page is fetched again to look for edits; NULL: never again"
    )
    rechecks: Mapped[int] = mapped_column(
        Integer, server_default="0", comment="[crawl] recheck steps already taken"
    )
    # Used on PostgreSQL only (migration 0015; empty on SQLite): never read back, set from
    # title and text on every insert and edit (_search_keys_of_new and _of_edit below).
    search_keys: Mapped[list[int] | None] = mapped_column(
        ARRAY(Integer), deferred=True, deferred_raiseload=True
    )

    matches: Mapped[list["MatchRow"]] = relationship(
        back_populates="article", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        # "newest first" listings and the digest's "first seen in its period"
        Index("ix_articles_first_seen", "first_seen"),
        Index("ix_articles_published", "published"),
        # --outlet filters
        Index("ix_articles_outlet_first_seen", "outlet_id", "first_seen"),
        # near-duplicate candidates: a SimHash within 3 bits shares at least one 16-bit band
        Index("ix_articles_sim_band0", "sim_band0"),
        Index("ix_articles_sim_band1", "sim_band1"),
        Index("ix_articles_sim_band2", "sim_band2"),
        Index("ix_articles_sim_band3", "sim_band3"),
        Index("ix_articles_duplicate_of", "duplicate_of_id"),
        # trends and spikes: stories per day read from the index alone, never the text;
        # search: a window of candidates ranked from it (score: migration 0013)
        Index(
            "ix_articles_story_dates",
            "id",
            "published",
            "first_seen",
            "duplicate_of_id",
            "outlet_id",
            "language",
            "score",
        ),
        # a crawl's due re-checks: its outlet's articles whose next re-check has come
        Index("ix_articles_recheck", "outlet_id", "next_recheck_at"),
    )


@event.listens_for(ArticleRow, "before_insert")
def _search_keys_of_new(
    mapper: Mapper[ArticleRow], connection: Connection, row: ArticleRow
) -> None:
    """PostgreSQL finds phrases through search_keys (storage.searchkeys), kept in step with
    the title and text here and in _search_keys_of_edit. SQLite has no such column (its FTS5
    index has positions)."""
    if connection.dialect.name == "postgresql":
        row.search_keys = article_keys(row.title, row.text)


@event.listens_for(ArticleRow, "before_update")
def _search_keys_of_edit(
    mapper: Mapper[ArticleRow], connection: Connection, row: ArticleRow
) -> None:
    if connection.dialect.name == "postgresql" and any(
        get_history(row, field).has_changes() for field in ("title", "text")
    ):
        row.search_keys = article_keys(row.title, row.text)


class ArticleVersionRow(Base):
    """One version of an edited article (storage/versions.py): title and text as seen then.

    Written only once an article is edited (its first version with it); an article never
    edited has no rows here, and `articles` always holds the latest version.
    """

    __tablename__ = "article_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer, comment="1 is the first seen")
    seen_at: Mapped[datetime]
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        # an article's versions in order (and one row per version)
        UniqueConstraint("article_id", "version", name="uq_article_versions_article_version"),
    )


class MatchRow(Base):
    """One term of one topic found in one article."""

    __tablename__ = "matches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(64))
    term: Mapped[str] = mapped_column(Text)
    title_count: Mapped[int] = mapped_column(Integer, default=0)
    text_count: Mapped[int] = mapped_column(Integer, default=0)

    article: Mapped[ArticleRow] = relationship(back_populates="matches")

    __table_args__ = (
        UniqueConstraint("article_id", "topic", "term", name="uq_matches_article_topic_term"),
        # --topic filters
        Index("ix_matches_topic_article", "topic", "article_id"),
    )


class SeenUrlRow(Base):
    """Every article URL already dealt with: not fetched again, or not before retry_after."""

    __tablename__ = "seen_urls"

    url_key: Mapped[str] = mapped_column(String(2048), primary_key=True)
    outlet_id: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), comment="stored, too_old, not_article, gone")
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    seen_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(
        Integer,
        server_default="1",
        comment="fetches that gave a transient outcome (gone, not_article, challenge)",
    )
    retry_after: Mapped[datetime | None] = mapped_column(
        comment="when a transient outcome may be fetched again; NULL: for good"
    )

    __table_args__ = (one_of("ck_seen_urls_outcome", "outcome", SeenOutcome),)


class CrawlRunRow(Base):
    """One crawl of one outlet: what it fetched, found and failed at."""

    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outlet_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(32), default=CrawlStatus.RUNNING)
    pages_fetched: Mapped[int] = mapped_column(Integer, default=0)
    items_discovered: Mapped[int] = mapped_column(Integer, default=0)
    new_articles: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    error_kinds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error_samples: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rechecked: Mapped[int] = mapped_column(Integer, server_default="0")
    edited: Mapped[int] = mapped_column(Integer, server_default="0")

    __table_args__ = (
        # `mediawatch status`: the latest runs of each outlet
        Index("ix_crawl_runs_outlet_started", "outlet_id", "started_at"),
        one_of("ck_crawl_runs_status", "status", CrawlStatus),
    )


class SpikeRow(Base):
    """A topic's day with far more stories than its baseline (alerts.spikes decides)."""

    __tablename__ = "spikes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str] = mapped_column(String(64))
    day: Mapped[str] = mapped_column(String(10), comment="YYYY-MM-DD in `zone`")
    zone: Mapped[str] = mapped_column(String(64), comment="IANA time zone the day is counted in")
    stories: Mapped[int] = mapped_column(Integer)
    baseline: Mapped[float] = mapped_column(Float, comment="mean stories a day, previous 14 days")
    detected_at: Mapped[datetime]

    __table_args__ = (
        # one spike per topic and day in one zone; `mediawatch spikes` lists them by day
        UniqueConstraint("topic", "day", "zone", name="uq_spikes_topic_day_zone"),
        Index("ix_spikes_day", "day"),
    )


class AlertRow(Base):
    """The durable outbox: one row per (thing to tell, subscription, channel).

    The thing is a story (kind article), a story's version (kind edit) or a spike (kind
    spike); dedupe_key spells out that triple, and its unique index is what makes a second
    alert for the same thing impossible, whoever queues it.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), server_default=AlertKind.ARTICLE)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    story_id: Mapped[int | None] = mapped_column(
        Integer, comment="the first copy's id: near-duplicates share it, so alert once"
    )
    version: Mapped[int] = mapped_column(
        Integer, server_default="0", comment="kind edit: the article version it is about"
    )
    spike_id: Mapped[int | None] = mapped_column(ForeignKey("spikes.id", ondelete="CASCADE"))
    subscription: Mapped[str] = mapped_column(String(320), comment="the subscription's key")
    channel: Mapped[str] = mapped_column(
        String(64),
        server_default="email",
        comment='"email", or "notify:" and a hash of the Apprise URL (never the URL)',
    )
    dedupe_key: Mapped[str] = mapped_column(
        String(512), comment="storage.outbox.dedupe_key: one row per thing, subscription, channel"
    )
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None] = mapped_column(
        comment="while a sender holds it: when another sender may take over"
    )
    claimed_by: Mapped[str | None] = mapped_column(
        String(64), comment="the delivery round holding the claim (host, pid, round)"
    )

    __table_args__ = (
        # exactly once per (thing, subscription, channel)
        UniqueConstraint("dedupe_key", name="uq_alerts_dedupe_key"),
        # delivery: pending alerts whose time has come
        Index("ix_alerts_status_next", "status", "next_attempt_at"),
        one_of("ck_alerts_status", "status", AlertStatus),
        one_of("ck_alerts_kind", "kind", AlertKind),
    )


class DigestRow(Base):
    """A digest sent for one subscription and period; the unique key stops a second one."""

    __tablename__ = "digests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription: Mapped[str] = mapped_column(String(320))
    period: Mapped[str] = mapped_column(String(64), comment="e.g. 2026-11-26")
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    entries: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=DigestStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None] = mapped_column(
        comment="while status is 'sending': when another sender may take over"
    )

    __table_args__ = (
        UniqueConstraint("subscription", "period", name="uq_digests_subscription_period"),
        one_of("ck_digests_status", "status", DigestStatus),
    )


class StateRow(Base):
    """Small named values the daemon keeps, such as its last heartbeat."""

    __tablename__ = "state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime]


class TermFrequencyRow(Base):
    """How many articles held a term of the full-text index when more like this last took
    its snapshot (storage/similar.py); the archive size then is in `state`."""

    __tablename__ = "term_frequencies"

    term: Mapped[str] = mapped_column(Text, primary_key=True)
    documents: Mapped[int] = mapped_column(Integer)

    # one article's terms are looked up by key: no rowid to go through on SQLite
    __table_args__ = {"sqlite_with_rowid": False}


class RelevanceLabelRow(Base):
    """A reader's mark: this article is (or is not) relevant to this topic (`rules eval`)."""

    __tablename__ = "relevance_labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(64))
    relevant: Mapped[bool]
    labelled_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("article_id", "topic", name="uq_relevance_labels_article_topic"),
        # `rules eval --topic`: every mark of one topic
        Index("ix_relevance_labels_topic", "topic", "article_id"),
    )


class SourceValidatorRow(Base):
    """A feed's or sitemap's ETag and Last-Modified, sent back so an unchanged one answers 304."""

    __tablename__ = "source_validators"

    outlet_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048), comment="the source URL as requested")
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(String(64), comment="the header, verbatim")
    children: Mapped[list[Any] | None] = mapped_column(
        JSON, comment="a sitemap index's children as [url, lastmod or null], read on a 304"
    )
    updated_at: Mapped[datetime]

    # the crawl's start: one outlet's validators (the key's first column)
    __table_args__ = (PrimaryKeyConstraint("outlet_id", "url", name="pk_source_validators"),)


class BackfillProgressRow(Base):
    """What a backfill (`crawl --since`) has finished per outlet, so a second run continues."""

    __tablename__ = "backfill_progress"

    outlet_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(2048), comment="child sitemap or listing URL")
    kind: Mapped[str] = mapped_column(String(16), comment="sitemap or listing")
    since: Mapped[datetime] = mapped_column(comment="finished for every article from this date")
    pages_done: Mapped[int] = mapped_column(Integer, default=0, comment="listing: last page done")
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]

    # a backfill's start: one outlet's progress (the key's first column)
    __table_args__ = (
        PrimaryKeyConstraint("outlet_id", "source", name="pk_backfill_progress"),
        CheckConstraint("kind IN ('sitemap', 'listing')", name="ck_backfill_progress_kind"),
    )
