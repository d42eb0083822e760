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
# Digits are capped so int() of a match stays cheap; see valid_charrefs.
_CHARREF = re.compile(rb"&#([xX][0-9a-fA-F]{1,16}|[0-9]{1,20});")


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
    """Entries of a feed document, newest information first as the feed gives it.

    Never raises, whatever the bytes: what cannot be read is no entries (and, when nothing
    was read, not a feed), which the spider counts.
    """
    body = valid_charrefs(strip_doctypes(body))
    try:
        parsed: Any = feedparser.parse(
            body, response_headers={"content-location": url}, sanitize_html=False
        )
    except Exception:  # noqa: BLE001 - feedparser's loose parser on hostile bytes; see _CHARREF
        return ParsedFeed(entries=[], is_feed=False)
    is_feed = bool(parsed.get("version")) or bool(parsed.entries)
    entries = []
    for entry in parsed.entries:
        link = entry.get("link") or _alternate_link(entry)
        if not link:
            continue
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        published = _timestamp(stamp) if stamp else None
        entries.append(FeedEntry(url=link.strip(), title=entry.get("title"), published=published))
    return ParsedFeed(entries=entries, is_feed=is_feed)


def valid_charrefs(body: bytes) -> bytes:
    """`body` with each character reference no parser can decode (past U+10FFFF, or to a
    surrogate) turned into U+FFFD: feedparser raises on them, lxml keeps bytes that are not
    UTF-8 and then raises on reading the element."""
    return _CHARREF.sub(_valid_charref, body) if b"&#" in body else body


def _valid_charref(match: re.Match[bytes]) -> bytes:
    digits = match.group(1)
    code = int(digits[1:], 16) if digits[:1] in (b"x", b"X") else int(digits)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return b"&#xFFFD;"
    return match.group()


def _timestamp(stamp: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(calendar.timegm(stamp), UTC)
    except (ValueError, OverflowError, OSError):  # a year the platform cannot represent
        return None


def strip_doctypes(body: bytes) -> bytes:
    """`body` without the DOCTYPE declarations in its head, where entities ("billion laughs",
    external ones) would be declared; feeds and sitemaps never need one."""
    head = body[:_DOCTYPE_HEAD]
    if _DOCTYPE_AT not in head.lower():
        return body  # the usual case: no copy of a 50 MB sitemap
    return _strip_doctypes(head) + body[_DOCTYPE_HEAD:]


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
