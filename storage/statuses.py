"""The statuses the database stores, one StrEnum per column; each column has a CHECK for its set.

The values are the strings earlier releases wrote, so every listing, JSON and email reads as
before. A value added here needs a migration that widens the column's CHECK constraint.
"""

from enum import StrEnum


class AlertStatus(StrEnum):
    """alerts.status: queued, delivered, or refused for good."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class AlertKind(StrEnum):
    """alerts.kind: what an outbox row tells its subscriber about."""

    ARTICLE = "article"  # a new article matches (one per story)
    EDIT = "edit"  # an article already alerted changed (one per version)
    SPIKE = "spike"  # a topic's stories today far above its baseline (one per spike)


class DigestStatus(StrEnum):
    """digests.status: a claimed digest is "sending" until its sender records how it ended."""

    PENDING = "pending"  # a temporary failure: the next round tries again
    SENDING = "sending"
    SENT = "sent"
    EMPTY = "empty"  # nothing new in the period: recorded, no email
    FAILED = "failed"


class CrawlStatus(StrEnum):
    """crawl_runs.status: ours, then Scrapy's close reasons other than "finished", kept as-is."""

    RUNNING = "running"
    OK = "ok"  # Scrapy's "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # left "running" by a process that died
    START_ERROR = "start_error"
    SHUTDOWN = "shutdown"
    CANCELLED = "cancelled"
    CLOSESPIDER_TIMEOUT = "closespider_timeout"
    CLOSESPIDER_TIMEOUT_NO_ITEM = "closespider_timeout_no_item"
    CLOSESPIDER_ITEMCOUNT = "closespider_itemcount"
    CLOSESPIDER_PAGECOUNT = "closespider_pagecount"
    CLOSESPIDER_PAGECOUNT_NO_ITEM = "closespider_pagecount_no_item"
    CLOSESPIDER_ERRORCOUNT = "closespider_errorcount"


class SeenOutcome(StrEnum):
    """seen_urls.outcome: why a URL is not fetched again (a TRANSIENT one: not yet)."""

    STORED = "stored"
    TOO_OLD = "too_old"
    NOT_ARTICLE = "not_article"
    GONE = "gone"  # HTTP 404 or 410
    TOO_LARGE = "too_large"
    ROBOTS = "robots"  # disallowed by robots.txt
    CHALLENGE = "challenge"  # a bot-challenge page served in place of the article


# Outcomes a site may change its mind about (an article published a minute late, a challenge
# page shown once): fetched again on RETRY_SCHEDULE before they are remembered for good.
TRANSIENT = frozenset({SeenOutcome.GONE, SeenOutcome.NOT_ARTICLE, SeenOutcome.CHALLENGE})
