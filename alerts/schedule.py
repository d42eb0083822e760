"""Digest schedules ("daily@07:00", "weekly@mon@07:00", cron) as periods in a time zone."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

_DAILY = re.compile(r"^daily@(\d\d):(\d\d)$")
_WEEKLY = re.compile(r"^weekly@(mon|tue|wed|thu|fri|sat|sun)@(\d\d):(\d\d)$")
MAX_LOOKBACK = timedelta(days=400)  # two firings of a monthly or quarterly cron


def trigger(schedule: str, timezone: str) -> CronTrigger | None:
    """The cron trigger for a digest schedule; None for "off"."""
    tz = ZoneInfo(timezone)
    if schedule == "off":
        return None
    if m := _DAILY.match(schedule):
        return CronTrigger(hour=int(m[1]), minute=int(m[2]), timezone=tz)
    if m := _WEEKLY.match(schedule):
        return CronTrigger(day_of_week=m[1], hour=int(m[2]), minute=int(m[3]), timezone=tz)
    return CronTrigger.from_crontab(schedule, timezone=tz)


@dataclass(frozen=True)
class Period:
    """The span of first-seen times one digest covers."""

    start: datetime
    end: datetime
    key: str  # the digest's unique record: one digest per subscription and key
    label: str = ""  # the date in the subject and X-Mediawatch-Digest (default: key)

    @property
    def title(self) -> str:
        return self.label or self.key


def fire_times_until(trig: CronTrigger, now: datetime, count: int = 2) -> list[datetime]:
    """The last `count` fire times at or before `now`, oldest first.

    Looks back an hour, then twice as far each time, so a every-minute cron costs as
    little as a weekly one.
    """
    lookback = timedelta(hours=1)
    while True:
        times = _fire_times(trig, now - lookback, now, count)
        if len(times) >= count or lookback >= MAX_LOOKBACK:
            return times
        lookback = min(lookback * 4, MAX_LOOKBACK)


def _fire_times(trig: CronTrigger, since: datetime, now: datetime, count: int) -> list[datetime]:
    cursor = since
    times: list[datetime] = []
    previous: datetime | None = None
    while True:
        nxt = trig.get_next_fire_time(previous, cursor)
        if nxt is None or nxt > now:
            break
        times = [*times[-(count - 1) :], nxt] if count > 1 else [nxt]
        previous, cursor = nxt, nxt + timedelta(seconds=1)
    return times


def latest_period(schedule: str, timezone: str, now: datetime) -> Period | None:
    """The most recent completed period of a schedule: from one firing to the next."""
    trig = trigger(schedule, timezone)
    if trig is None:
        return None
    times = fire_times_until(trig, now)
    if len(times) < 2:
        return None
    start, end = times
    local = end.astimezone(ZoneInfo(timezone))
    once_a_day = bool(_DAILY.match(schedule) or _WEEKLY.match(schedule))
    key = local.strftime("%Y-%m-%d") if once_a_day else local.strftime("%Y-%m-%d %H:%M")
    return Period(start, end, key)
