"""The spike job: count today's stories per topic, let alerts.spikes judge, record each spike
once and queue its alerts through the outbox (the daemon runs it every 15 minutes and after
each crawl; running it again changes nothing already done).
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from alerts.outbox import recipients_of
from alerts.settings import Subscriber
from alerts.spikes import BASELINE_DAYS, daily_counts, detect_spikes, local_day_bounds
from storage.db import Database
from storage.outbox import Recipient, queue_spike_alerts, record_spike
from storage.trends import archive_start, story_times

logger = logging.getLogger(__name__)
UTC_ZONE = "UTC"


class SpikeSubscriber(Subscriber, Protocol):
    """A [[subscriptions]] entry, with its `spikes = true|false`."""

    @property
    def spikes(self) -> bool: ...


@dataclass(frozen=True)
class SpikeOutcome:
    """One spike found in this round, and how many alerts it newly queued."""

    topic: str
    day: str
    zone: str
    stories: int
    baseline: float
    queued: int


def spike_zones(subscriptions: Sequence[SpikeSubscriber]) -> list[str]:
    """The time zones days are counted in: those of the subscriptions that opted in, or UTC
    when none did (so `mediawatch spikes` and the trends chart still have spikes to show)."""
    return sorted({s.timezone for s in subscriptions if s.spikes}) or [UTC_ZONE]


def _recipients(subscriptions: Sequence[SpikeSubscriber], topic: str, zone: str) -> list[Recipient]:
    """Every channel of each opted-in subscription that counts days in `zone` and follows
    `topic` (all topics when it names none)."""
    return [
        r
        for s in subscriptions
        if s.spikes and s.timezone == zone and (s.topics is None or topic in s.topics)
        for r in recipients_of(s)
    ]


def check_spikes(
    subscriptions: Sequence[SpikeSubscriber], topics: Sequence[str], db: Database, now: datetime
) -> list[SpikeOutcome]:
    """Judge today (in each zone in use) for every topic; record spikes and queue their
    alerts, once per (topic, day, subscription) whatever how often this runs."""
    out = []
    for zone in spike_zones(subscriptions):
        today = now.astimezone(ZoneInfo(zone)).date()
        start, _ = local_day_bounds(today - timedelta(days=BASELINE_DAYS), zone)
        _, end = local_day_bounds(today, zone)
        with db.read() as session:
            rows = story_times(session, topics, start, end)
            first = archive_start(session)
        counts = daily_counts(((r.topic, r.story, r.at) for r in rows), zone)
        history = first.astimezone(ZoneInfo(zone)).date() if first else None
        for spike in detect_spikes(counts, topics, today, history):
            with db.write() as session:
                row = record_spike(
                    session,
                    spike.topic,
                    today.isoformat(),
                    zone,
                    spike.stories,
                    spike.baseline,
                    now,
                )
                # The day goes on after the first detection: keep its highest count.
                row.stories = max(row.stories, spike.stories)
                queued = queue_spike_alerts(
                    session, row, _recipients(subscriptions, spike.topic, zone), now
                )
            if queued:
                logger.info(
                    "spike: %s on %s (%s): %d stories against %.1f a day; %d alerts queued",
                    spike.topic,
                    row.day,
                    zone,
                    spike.stories,
                    spike.baseline,
                    queued,
                )
            out.append(SpikeOutcome(spike.topic, row.day, zone, row.stories, row.baseline, queued))
    return out
