"""How the pages show values to a person: dates in the reader's zone (worded by
crawler.archive.clock, as on the terminal), where a date came from, the daemon's heartbeat, and
each language's name and writing direction."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from crawler.archive.clock import as_datetime, human_time

# The daemon records a heartbeat every 15 s (crawler.service.daemon.HEARTBEAT_EVERY): a few
# missed beats in a row mean it has stopped, not that it is busy.
DAEMON_STOPPED_AFTER = timedelta(minutes=2)

# ISO 639-1 codes of the languages written right to left.
RTL = frozenset({"ar", "dv", "fa", "he", "ks", "ku", "ps", "sd", "ug", "ur", "yi"})
LANGUAGE_NAMES = {
    "as": "Assamese",
    "bn": "Bengali",
    "dv": "Dhivehi",
    "en": "English",
    "fa": "Persian",
    "gu": "Gujarati",
    "hi": "Hindi",
    "kn": "Kannada",
    "ml": "Malayalam",
    "mr": "Marathi",
    "ne": "Nepali",
    "or": "Odia",
    "pa": "Punjabi",
    "ps": "Pashto",
    "sd": "Sindhi",
    "si": "Sinhala",
    "ta": "Tamil",
    "te": "Telugu",
    "ur": "Urdu",
}
DATE_SOURCES = {
    "page": "date from the article's page",
    "feed": "date from the outlet's feed",
    "sitemap-news": "date from the outlet's news sitemap",
    "sitemap-lastmod": "date the outlet's sitemap last changed the page (may be an update)",
}


def time_element(value: str | datetime | None, zone: ZoneInfo, empty: str = "") -> Markup:
    """<time datetime="exact ISO time">26 Nov 2026, 19:30 PKT</time>, or `empty` as text."""
    when = as_datetime(value)
    if when is None:
        return Markup(escape(empty))
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        when.isoformat(),
        when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        human_time(when, zone),
    )


def age(value: str | datetime | None, now: datetime) -> str:
    """ "3 hours ago": how long before `now`, in the largest whole unit."""
    when = as_datetime(value)
    if when is None:
        return ""
    seconds = max(int((now - when).total_seconds()), 0)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def date_source(source: str | None) -> str:
    """Where an article's date came from, in words."""
    return DATE_SOURCES.get(source or "", "no date given by the outlet")


def language_name(code: str | None) -> str:
    """ "Urdu" for "ur"; the code itself for a language without a name here."""
    return LANGUAGE_NAMES.get(code or "", code or "unknown language")


def text_direction(code: str | None) -> str:
    """ "rtl" for a language written right to left (Urdu, Arabic, Persian...), else "ltr"."""
    return "rtl" if (code or "").split("-")[0].lower() in RTL else "ltr"


@dataclass(frozen=True)
class DaemonState:
    """Whether `mediawatch run` is alive, from its last heartbeat."""

    running: bool
    last_beat: datetime | None


def daemon_state(heartbeat: str | None, now: datetime) -> DaemonState:
    """Running when the last heartbeat is recent; stopped (or never run) otherwise."""
    try:
        last = as_datetime(heartbeat)
    except ValueError:  # a heartbeat we cannot read tells nothing: as if never run
        last = None
    return DaemonState(last is not None and now - last <= DAEMON_STOPPED_AFTER, last)


def page_numbers(page: int, last: int) -> list[int | None]:
    """The page links to show: the first, the last, and two either side of `page`, with None
    where pages are left out ("1 … 4 5 6 7 8 … 18")."""
    shown = sorted({1, last, *range(max(page - 2, 1), min(page + 2, last) + 1)})
    out: list[int | None] = []
    for n in shown:
        if out and n - (out[-1] or 0) == 2:
            out.append(n - 1)  # one missing page: its number is as short as the gap mark
        elif out and n - (out[-1] or 0) > 2:
            out.append(None)
        out.append(n)
    return out


def lang_attributes(code: str | None) -> Markup:
    """` lang="ur" dir="rtl"` for text in a known language; ` dir="auto"` (the browser reads
    the direction from the text) when the language is unknown."""
    if not code:
        return Markup(' dir="auto"')
    return Markup(' lang="{}" dir="{}"').format(code, text_direction(code))
