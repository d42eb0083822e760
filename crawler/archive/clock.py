"""Times for a person: shown in the display zone ([web] timezone, UTC by default) with the zone
named, and dates typed without a zone read in it. The CLI and the web UI both use these, so a
time reads the same on the terminal and in the browser; JSON keeps exact UTC ISO 8601."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from crawler.config import Config

UTC_ZONE = ZoneInfo("UTC")  # the display zone when [web] timezone is left out


def display_zone(config: Config) -> ZoneInfo:
    """The zone the CLI and the web UI show times in and read zoneless dates in."""
    return ZoneInfo(config.web.timezone)


def as_datetime(value: str | datetime | None) -> datetime | None:
    """A stored time (ISO text or datetime) as an aware datetime; naive ones are UTC."""
    if value is None or value == "":
        return None
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def for_person(
    value: str | datetime | None, zone: ZoneInfo, empty: str = "", seconds: bool = False
) -> str:
    """ "2026-11-26 19:30 Asia/Karachi": a time in `zone`, to the minute (or the second), the
    zone named."""
    when = as_datetime(value)
    if when is None:
        return empty
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M{':%S' if seconds else ''}} {zone.key}"


def local_minute(value: str | datetime | None, zone: ZoneInfo) -> str:
    """ "2026-11-26 19:30": a time in `zone` for a column whose heading names the zone."""
    when = as_datetime(value)
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M}" if when else ""


def local_day(value: str | datetime | None, zone: ZoneInfo) -> str:
    """ "2026-11-26": the day a time falls on in `zone`."""
    when = as_datetime(value)
    return f"{when.astimezone(zone):%Y-%m-%d}" if when else ""


def zone_name(when: datetime) -> str:
    """The zone's abbreviation ("PKT", "IST"), or its offset as "UTC+06" where it has none."""
    name = when.strftime("%Z")
    return f"UTC{name}" if name[:1] in "+-" else name


def human_time(value: str | datetime | None, zone: ZoneInfo) -> str:
    """ "26 Nov 2026, 19:30 PKT": a time as a reader of a page reads it, in `zone`."""
    when = as_datetime(value)
    if when is None:
        return ""
    local = when.astimezone(zone)
    return f"{local.day} {local:%b %Y, %H:%M} {zone_name(local)}"
