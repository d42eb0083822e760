"""What a fetched feed, sitemap or listing page says about the health of its source.

Shared by the spider (in every crawl) and `mediawatch outlets check` (on demand), so both
call the same thing blocked, a challenge, empty or stale.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from spiders.feeds import parse_feed
from spiders.sitemaps import parse_sitemap
from spiders.urls import join_url

_CHALLENGE = re.compile(
    rb"(cf-chl|challenge-platform|Just a moment\.\.\.|Attention Required!|captcha|"
    rb"Access denied|DDoS protection|_Incapsula_|Request unsuccessful)",
    re.IGNORECASE,
)
_HREF = re.compile(rb"""<a\s[^>]*href\s*=\s*["']([^"'#]+)""", re.IGNORECASE)


def looks_like_challenge(body: bytes) -> bool:
    """A bot-challenge or WAF page served with status 200 instead of the content."""
    return bool(_CHALLENGE.search(body[:20000]))


def looks_like_html(body: bytes) -> bool:
    """An HTML page where a feed or sitemap was expected."""
    return b"<html" in body[:2000].lower()


@dataclass(frozen=True)
class SourceItems:
    """What a source lists: how many items and the newest date."""

    count: int
    newest: datetime | None
    parse_problem: str | None  # why the body is not what the source kind promises


def read_items(kind: str, body: bytes, url: str, article_pattern: str | None) -> SourceItems:
    """Count a source's items (feed entries, sitemap URLs, article links) and the newest date.

    Never raises on the body (hostile bytes); `article_pattern` is configuration, validated
    when it is loaded.
    """
    if kind == "feed":
        feed = parse_feed(body, url)
        dates = [e.published for e in feed.entries if e.published]
        problem = None if feed.is_feed else "not a feed"
        return SourceItems(len(feed.entries), max(dates, default=None), problem)
    if kind == "sitemap":
        sitemap = parse_sitemap(body)
        dates = [e.published for e in sitemap.entries if e.published]
        problem = "not a sitemap" if sitemap.kind == "invalid" else None
        return SourceItems(len(sitemap.entries), max(dates, default=None), problem)
    pattern = re.compile(article_pattern or ".")
    links = {join_url(url, m.decode("utf-8", "replace")) for m in _HREF.findall(body)}
    return SourceItems(sum(1 for u in links if u and pattern.search(u)), None, None)


def diagnose(
    status: int | None,
    body: bytes,
    items: SourceItems | None,
    moved_to: str | None,
    now: datetime,
    max_age: timedelta,
    error: str | None = None,
) -> str:
    """One word for the source: ok, unreachable, blocked, challenge, gone, error, moved,
    invalid, empty or stale."""
    if error:
        return "unreachable"
    if status in (401, 403, 429, 451):
        return "blocked"
    if status in (404, 410):
        return "gone"
    if status is None or status >= 400:
        return "error"
    if looks_like_challenge(body) and (items is None or items.count == 0):
        return "challenge"
    if items is not None and items.parse_problem:
        return "invalid"
    if items is not None and items.count == 0:
        return "empty"
    if items is not None and items.newest is not None and items.newest < now - max_age:
        return "stale"
    if moved_to:
        return "moved"
    return "ok"
