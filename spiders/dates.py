"""Dates as feeds, sitemaps and pages write them, made timezone-aware."""

from datetime import UTC, datetime

from dateutil import parser as dateparser

# Zone abbreviations South Asian pages print, which dateutil does not know.
TZINFOS = {
    "IST": 19800,
    "PKT": 18000,
    "PST": 18000,
    "BST": 21600,
    "NPT": 20700,
    "AFT": 16200,
    "SLST": 19800,
    "GMT": 0,
    "UTC": 0,
}


def parse_date(value: str | None) -> datetime | None:
    """ISO 8601 / W3C first, then free-form; UTC when no zone is given; None if unreadable."""
    if not value:
        return None
    try:
        parsed = dateparser.isoparse(value)
    except (ValueError, OverflowError):
        try:
            parsed = dateparser.parse(value, tzinfos=TZINFOS)
        except (ValueError, OverflowError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
