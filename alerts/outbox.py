"""Queue immediate alerts in the article's own transaction (the durable outbox)."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from alerts.decision import SubscriptionRule, matches_subscription
from storage.outbox import queue_alerts


class AlertQueue:
    """A StorePipeline hook: for a newly stored article, queue its immediate alerts."""

    def __init__(self, subscriptions: Sequence[SubscriptionRule]) -> None:
        self.subscriptions = [s for s in subscriptions if getattr(s, "immediate", True)]
        self.queued = 0

    def enqueue_for_article(self, session: Any, article: Any, now: datetime) -> None:
        topics = {m.topic for m in article.matches}
        if not topics:
            return
        recipients = [
            s.email.lower()  # type: ignore[attr-defined]
            for s in self.subscriptions
            if matches_subscription(s, topics, article.score)
        ]
        self.queued += queue_alerts(session, article, recipients, now)
