"""Re-scoring after an edit: who hears about a new version of an article.

An article that now matches a subscription it did not match before gets the ordinary alert
(AlertQueue, once per story as always). A subscription with `on_edit = true` that was already
alerted to the story also gets an "edited" alert, once per version, on the channels its
article alert went to.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.decision import matches_subscription
from alerts.outbox import AlertQueue
from storage.models import AlertRow, ArticleRow
from storage.outbox import Recipient, queue_alerts
from storage.statuses import AlertKind, AlertStatus


@dataclass(frozen=True)
class Matched:
    """What an article's previous version matched: its topics and its score."""

    topics: frozenset[str]
    score: float


class EditSubscriber(Protocol):
    """What edit alerts need of a subscription (crawler.config.Subscription has it)."""

    @property
    def key(self) -> str: ...
    @property
    def on_edit(self) -> bool: ...


def already_alerted(session: Session, story_id: int, keys: set[str]) -> list[Recipient]:
    """The (subscription, channel) pairs among `keys` told about this story (sent, or on its
    way); a failed alert never reached anyone."""
    if not keys:
        return []
    rows = session.execute(
        select(AlertRow.subscription, AlertRow.channel)
        .where(
            AlertRow.kind == AlertKind.ARTICLE,
            AlertRow.story_id == story_id,
            AlertRow.subscription.in_(sorted(keys)),
            AlertRow.status != AlertStatus.FAILED,
        )
        .distinct()
    ).all()
    return [Recipient(subscription, channel) for subscription, channel in sorted(rows)]


class EditAlerts:
    """A re-check hook (CrawlContext.on_edited): queue the alerts a new version calls for."""

    def __init__(self, queue: AlertQueue, subscriptions: Sequence[EditSubscriber]) -> None:
        self.queue = queue
        self.on_edit = {s.key for s in subscriptions if s.on_edit}

    def enqueue_for_edit(
        self,
        session: Session,
        article: ArticleRow,
        version: int,
        now: datetime,
        before: Matched | None = None,
    ) -> None:
        """Edit alerts for those already told (asked before the new article alerts, so a
        subscription the edit newly matches hears once, by the article alert); then article
        alerts for the subscriptions the new version matches and the previous one (`before`)
        did not. A subscription the article matched all along and was never told of (a
        backfill without --alert stored it quietly, or it was stored before the subscription
        existed) is not told now either."""
        story = article.duplicate_of_id or article.id
        told = already_alerted(session, story, self.on_edit)
        queued = queue_alerts(session, article, told, now, kind=AlertKind.EDIT, version=version)
        self.queue.queued += queued
        if before is None:
            self.queue.enqueue_for_article(session, article, now)
        else:
            self.queue.enqueue_for_article(
                session,
                article,
                now,
                unless=lambda s: matches_subscription(s, before.topics, before.score),
            )
