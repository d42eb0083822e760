"""Queue immediate alerts in the article's own transaction (the durable outbox)."""

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.orm import Session

from alerts.decision import matches_subscription
from alerts.settings import Subscriber
from storage.models import ArticleRow
from storage.outbox import Recipient, channel_key, queue_alerts


def recipients_of(sub: Subscriber) -> list[Recipient]:
    """Every channel of one subscription as outbox recipients: its email (if any), then each
    notify URL by its channel key, so each channel is queued, retried and sent once."""
    channels = (["email"] if sub.email else []) + [channel_key(url) for url in sub.notify]
    return [Recipient(sub.key, channel) for channel in dict.fromkeys(channels)]


class AlertQueue:
    """A StorePipeline hook: for a newly stored article, queue its immediate alerts."""

    def __init__(self, subscriptions: Sequence[Subscriber]) -> None:
        self.subscriptions = [s for s in subscriptions if s.immediate]
        self.queued = 0

    def enqueue_for_article(
        self,
        session: Session,
        article: ArticleRow,
        now: datetime,
        unless: Callable[[Subscriber], bool] | None = None,
    ) -> None:
        """Queue an alert for each immediate subscription this article matches (leaving out
        those `unless` says no to)."""
        topics = {m.topic for m in article.matches}
        if not topics:
            return
        recipients = [
            r
            for s in self.subscriptions
            if matches_subscription(s, topics, article.score) and not (unless and unless(s))
            for r in recipients_of(s)
        ]
        queued = queue_alerts(session, article, recipients, now)
        self.queued += queued
        if queued:
            # Uncounted if the transaction is rolled back: ArticleWriter then writes a failed
            # batch's articles again one by one, and each would be counted twice.
            event.listen(session, "after_rollback", lambda _: self._uncount(queued), once=True)

    def _uncount(self, queued: int) -> None:
        self.queued -= queued
