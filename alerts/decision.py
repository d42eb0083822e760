"""The one answer to "does this article go to this subscription?", used by every path."""

from collections.abc import Iterable
from typing import Protocol


class SubscriptionRule(Protocol):
    """What the decision needs of a subscription (crawler.config.Subscription has it)."""

    topics: list[str] | None
    min_score: float


def matches_subscription(
    sub: SubscriptionRule, article_topics: Iterable[str], score: float
) -> bool:
    """True when the article matches one of the subscription's topics and scores enough.

    Immediate alerts and digests both ask this; `immediate` only decides *when* to tell.
    """
    topics = set(article_topics)
    wanted = topics if sub.topics is None else topics & set(sub.topics)
    return bool(wanted) and score >= sub.min_score
