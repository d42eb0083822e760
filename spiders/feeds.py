"""RSS 2.0, RSS 1.0 and Atom feeds, read by feedparser (which copes with real-world feeds)."""

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

# A DOCTYPE with an internal subset can declare entities ("billion laughs"); feeds never
# need one, so it is removed before parsing. The scan is linear: it runs on the reactor
# thread, and a regex with a lazy subset was quadratic on "<!DOCTYPE[" repeated.
_DOCTYPE_AT = b"<!doctype"
_DOCTYPE_HEAD = 200_000  # a DOCTYPE belongs in the prolog; further on, expat rejects it anyway
_DOCTYPE_STOP = re.compile(rb"[>\[]")
_SUBSET_END = re.compile(rb"\]\s*>")


@dataclass(frozen=True)
class FeedEntry:
    """One article announced by a feed."""

    url: str
    title: str | None
    published: datetime | None


@dataclass(frozen=True)
class ParsedFeed:
    """A feed's entries, and whether it was a feed at all."""

    entries: list[FeedEntry]
    is_feed: bool  # False when the document is not a feed at all (an HTML page, say)


def parse_feed(body: bytes, url: str) -> ParsedFeed:
    """Entries of a feed document, newest information first as the feed gives it."""
    body = _strip_doctypes(body[:_DOCTYPE_HEAD]) + body[_DOCTYPE_HEAD:]
    parsed: Any = feedparser.parse(
        body, response_headers={"content-location": url}, sanitize_html=False
    )
    is_feed = bool(parsed.get("version")) or bool(parsed.entries)
    entries = []
    for entry in parsed.entries:
        link = entry.get("link") or _alternate_link(entry)
        if not link:
            continue
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        published = datetime.fromtimestamp(calendar.timegm(stamp), UTC) if stamp else None
        entries.append(FeedEntry(url=link.strip(), title=entry.get("title"), published=published))
    return ParsedFeed(entries=entries, is_feed=is_feed)


def _strip_doctypes(head: bytes) -> bytes:
    """`head` without its DOCTYPE declarations; an unterminated one ends the document."""
    lower, kept, pos = head.lower(), [], 0
    while (start := lower.find(_DOCTYPE_AT, pos)) >= 0:
        kept.append(head[pos:start])
        stop = _DOCTYPE_STOP.search(head, start + len(_DOCTYPE_AT))
        if stop and stop.group() == b"[":
            stop = _SUBSET_END.search(head, stop.end())
        if stop is None:
            return b"".join(kept)
        pos = stop.end()
    kept.append(head[pos:])
    return b"".join(kept)


def _alternate_link(entry: Any) -> str | None:
    for link in entry.get("links", []):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link["href"])
    return None
