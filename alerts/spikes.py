"""Spike detection: is today's number of stories on a topic far above its recent days? Pure:
counts and `today` come in, decisions go out; no clock, no database.

The rule, for each topic, with days counted in one time zone (a subscriber's, else UTC):

- `stories` is the number of distinct stories (an article and its near-duplicates count once)
  matching the topic dated today, by publication date (first seen where a page gives none);
- `baseline` is the mean of the same count over the 14 days before today (a day with no
  story counts 0);
- today is a spike when `stories >= 3` and, were the days' counts Poisson-distributed with
  the baseline as mean, seeing at least `stories` would have probability below 0.001:
  P(X >= stories) = 1 - sum_{i < stories} e^-baseline baseline^i / i! < 0.001.

With a baseline of 0 any 3 stories are a spike; with a baseline of 1 a day needs 6, with 5 it
needs 14, with 20 it needs 36. Days before the archive's first article are not known to be
quiet, so a topic is judged only once the archive covers all 14 days.
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

BASELINE_DAYS = 14
MIN_STORIES = 3
MAX_PROBABILITY = 0.001


@dataclass(frozen=True)
class Spike:
    """A topic's day judged a spike: its stories, the baseline and how unlikely it was."""

    topic: str
    day: date
    stories: int
    baseline: float
    probability: float


def poisson_tail(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean), summed term by term in log space so a large mean
    neither underflows nor overflows."""
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    below = sum(math.exp(-mean + i * math.log(mean) - math.lgamma(i + 1)) for i in range(count))
    return max(0.0, 1.0 - below)


def is_spike(stories: int, baseline: float) -> bool:
    """The rule: at least 3 stories, and fewer than 1 in 1,000 quiet days would have as many."""
    return stories >= MIN_STORIES and poisson_tail(stories, baseline) < MAX_PROBABILITY


def daily_counts(
    stories: Iterable[tuple[str, int, datetime]], zone: str
) -> dict[str, dict[date, int]]:
    """Distinct stories per topic and local day in `zone`, from (topic, story id, aware
    datetime) triples; a story counts once per topic and day."""
    tz = ZoneInfo(zone)
    seen: dict[str, dict[date, set[int]]] = defaultdict(lambda: defaultdict(set))
    for topic, story, at in stories:
        seen[topic][at.astimezone(tz).date()].add(story)
    return {t: {d: len(s) for d, s in days.items()} for t, days in seen.items()}


def detect_spikes(
    counts: Mapping[str, Mapping[date, int]],
    topics: Iterable[str],
    today: date,
    history_start: date | None,
) -> list[Spike]:
    """The topics whose count on `today` is a spike against the 14 days before it.

    `history_start` is the first day the archive holds anything for (None: nothing at all);
    while it is later than the first of the 14 days, no topic is judged.
    """
    first = today - timedelta(days=BASELINE_DAYS)
    if history_start is None or history_start > first:
        return []
    out = []
    for topic in topics:
        days = counts.get(topic, {})
        stories = days.get(today, 0)
        baseline = sum(days.get(first + timedelta(days=i), 0) for i in range(BASELINE_DAYS))
        mean = baseline / BASELINE_DAYS
        if is_spike(stories, mean):
            out.append(Spike(topic, today, stories, mean, poisson_tail(stories, mean)))
    return out


def local_day_bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    """The aware start and end of `day` in `zone` (a DST day may be 23 or 25 hours)."""
    tz = ZoneInfo(zone)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    following = day + timedelta(days=1)
    return start, datetime(following.year, following.month, following.day, tzinfo=tz)
