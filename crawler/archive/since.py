"""Dates on the command line: "7d", "12h", "2026-03-01" or a full ISO 8601 timestamp."""

from datetime import UTC, datetime, tzinfo

from dateutil import parser as dateparser

from crawler.config.errors import UsageError
from spiders.durations import parse_duration


def parse_since(
    value: str | None, now: datetime, option: str = "--since", zone: tzinfo = UTC
) -> datetime | None:
    """An aware datetime for a relative ("7d") or absolute ("2026-03-01") point in time. A date
    or time written without a zone is read in `zone` (the display zone, [web] timezone): the
    day a person means is the day where they are."""
    if not value:
        return None
    shown = value if len(value) <= 40 else value[:40] + "…"
    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    except OverflowError:
        raise UsageError(f"{option} {shown!r}: reaches back before the year 1") from None
    try:
        parsed = dateparser.isoparse(value)
        # Stored times are UTC: a date that cannot be one (0001-01-01+05:00) is refused here.
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
        parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise UsageError(
            f"{option} {shown!r}: use a date (2026-03-01), a timestamp (2026-03-01T08:00:00+05:00) "
            "or an age such as 7d, 12h or 30m"
        ) from None
    return parsed
