"""Trends and spikes as the CLI and the web UI show them: the filters checked once, the counts
of storage.trends filled out to every period, share of voice, and the recorded spikes."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from crawler.archive.filters import clean_text, one_of
from crawler.archive.since import parse_since
from crawler.config.errors import UsageError
from storage.db import Database
from storage.trends import GroupBy, Interval, list_spikes, periods, story_counts

DEFAULT_SINCE = "90d"
DEFAULT_SPIKES_SINCE = "30d"
MAX_PERIODS = 3700  # ten years of days: a chart or table beyond that says nothing more


@dataclass(frozen=True)
class TrendQuery:
    """What `mediawatch trends`, /trends and /api/trends were asked for, checked."""

    topics: list[str]
    by: GroupBy
    since: datetime
    until: datetime
    interval: Interval


def trend_query(
    now: datetime,
    configured: list[str],
    topics: list[str] | None = None,
    by: str | None = None,
    since: str | None = None,
    interval: str | None = None,
    since_name: str = "--since",
    zone: tzinfo = UTC,
) -> TrendQuery:
    """A TrendQuery from what a person typed; UsageError (exit 2, HTTP 400) naming the
    parameter and the valid values otherwise. A `since` date without a zone is read in `zone`
    (the display zone), as `search --since` reads it."""
    chosen: list[str] = []
    for typed in topics or []:
        t = one_of(typed, configured, "topic", "topic")
        if t and t not in chosen:
            chosen.append(t)
    group = _choice(by or GroupBy.TOPIC, GroupBy, "by")
    step = _choice(interval or Interval.DAY, Interval, "interval")
    start = parse_since(clean_text(since or DEFAULT_SINCE, since_name), now, since_name, zone)
    assert start is not None
    if start >= now:
        raise UsageError(f"{since_name} {since}: is not in the past, so nothing can be counted")
    days = (now - start) / timedelta(days=7 if step == Interval.WEEK else 1)
    if days > MAX_PERIODS:
        raise UsageError(
            f"{since_name} {since}: more than {MAX_PERIODS} {step.value}s; "
            "shorten it or use --interval week"
        )
    return TrendQuery(chosen or list(configured), group, start, now, step)


def _choice(value: str, kind: type[GroupBy] | type[Interval], name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        valid = ", ".join(k.value for k in kind)
        raise UsageError(f"{name}: {value!r:.40} is not one of {valid}") from None


def trend_rows(db: Database, q: TrendQuery) -> list[dict[str, Any]]:
    """Every period in the window for every key, zeros included (a chart needs the quiet days
    too), period first: [{"period", "key", "stories"}]. Keys: the chosen topics when grouped
    by topic, else every outlet, country or language with a story in the window."""
    with db.read() as session:
        counted = story_counts(session, q.topics, q.by, q.since, q.until, q.interval)
    found = {(r.period, r.key): r.stories for r in counted}
    keys = q.topics if q.by == GroupBy.TOPIC else sorted({r.key for r in counted})
    every = periods(q.since.astimezone(UTC).date(), q.until.astimezone(UTC).date(), q.interval)
    return [{"period": p, "key": k, "stories": found.get((p, k), 0)} for p in every for k in keys]


def share_of_voice(db: Database, q: TrendQuery, by: GroupBy) -> list[dict[str, Any]]:
    """Stories per outlet or country over the whole window, most first, with each one's share
    of their sum (a syndicated story counts for each outlet that ran it)."""
    with db.read() as session:
        counted = story_counts(session, q.topics, by, q.since, q.until, interval=None)
    total = sum(r.stories for r in counted) or 1
    ranked = sorted(counted, key=lambda r: (-r.stories, r.key))
    return [{"key": r.key, "stories": r.stories, "share": r.stories / total} for r in ranked]


def spikes_since(now: datetime, since: str | None, name: str = "--since") -> str:
    """The first day (YYYY-MM-DD) a spike listing shows, from a date or age (default 30
    days); UsageError when malformed, checked before any database is opened."""
    start = parse_since(clean_text(since or DEFAULT_SPIKES_SINCE, name), now, name)
    assert start is not None
    return start.astimezone(UTC).date().isoformat()


def spike_rows(
    db: Database, since_day: str, topics: list[str] | None = None
) -> list[dict[str, Any]]:
    """Recorded spikes on days from `since_day`, newest first: the contract's {"topic", "day",
    "stories", "baseline"}, and the zone the day was counted in under "_zone" (left out of
    the JSON, which has exactly the contract's keys)."""
    with db.read() as session:
        rows = list_spikes(session, since_day, topics)
    return [
        {
            "topic": r.topic,
            "day": r.day,
            "stories": r.stories,
            "baseline": round(r.baseline, 2),
            "_zone": r.zone,
        }
        for r in rows
    ]
