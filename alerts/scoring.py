"""Relevance score from term matches. Pure code, no I/O.

For each matched topic t with weight w:

    topic_score(t) = w * (log2(1 + body mentions) + TITLE_WEIGHT * log2(1 + title mentions))

and the article's score is the sum over matched topics, times a bonus for breadth:

    score = sum(topic_score) * (1 + TOPIC_BONUS * (matched topics - 1))

So one body mention of one topic scores 1.0 (the default `min_score`), a mention in the
title adds 2.0, each further mention adds less than the one before, and two topics score
more than either alone. No match scores 0.
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from alerts.rules import TermMatch

TITLE_WEIGHT = 2.0
TOPIC_BONUS = 0.25


@dataclass(frozen=True)
class TopicScore:
    """One topic's share of an article's score, for `rules explain`."""

    topic: str
    weight: float
    title_mentions: int
    body_mentions: int
    score: float


@dataclass(frozen=True)
class Score:
    """An article's score and how it was reached."""

    total: float
    topics: list[TopicScore]
    bonus: float

    @property
    def topic_ids(self) -> list[str]:
        return [t.topic for t in self.topics]


def score_matches(matches: Iterable[TermMatch], weights: Mapping[str, float]) -> Score:
    """Combine term matches into per-topic scores and the article's total."""
    title: dict[str, int] = defaultdict(int)
    body: dict[str, int] = defaultdict(int)
    for m in matches:
        title[m.topic] += m.title_count
        body[m.topic] += m.text_count
    topics = []
    for topic in sorted(set(title) | set(body)):
        w = weights.get(topic, 1.0)
        s = w * (math.log2(1 + body[topic]) + TITLE_WEIGHT * math.log2(1 + title[topic]))
        topics.append(TopicScore(topic, w, title[topic], body[topic], s))
    bonus = 1 + TOPIC_BONUS * (len(topics) - 1) if topics else 0.0
    total = round(sum(t.score for t in topics) * bonus, 4)
    return Score(total=total, topics=topics, bonus=bonus)
