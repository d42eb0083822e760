"""Queue immediate alerts in the article's own transaction (the durable outbox)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from alerts.decision import matches_subscription
from alerts.settings import Subscriber
from storage.models import ArticleRow
from storage.outbox import queue_alerts


class AlertQueue:
    """A StorePipeline hook: for a newly stored article, queue its immediate alerts."""

    def __init__(self, subscriptions: Sequence[Subscriber]) -> None:
        self.subscriptions = [s for s in subscriptions if s.immediate]
        self.queued = 0

    def enqueue_for_article(self, session: Session, article: ArticleRow, now: datetime) -> None:
        """Queue an alert for each immediate subscription this article matches."""
        topics = {m.topic for m in article.matches}
        if not topics:
            return
        recipients = [
            s.email.lower()
            for s in self.subscriptions
            if matches_subscription(s, topics, article.score)
        ]
        self.queued += queue_alerts(session, article, recipients, now)
