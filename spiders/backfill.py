"""Backfill (`mediawatch crawl --since DATE`): which child sitemaps and listing pages reach
back to DATE, and what a run finished so the next one continues.

A child sitemap is skipped when its <lastmod>, or the period a date in its name covers
(`sitemap-2024-05.xml`: all of May 2024), ends before DATE. Listing pages follow the outlet's
`listing_pages` template (`?page={n}`) up to `listing_pages_max`.
"""

import re
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit, urlunsplit

# A year (19xx/20xx) not inside a longer number, then optionally a month and a day, separated
# by -, _, / or . or nothing ("2024-05-01", "2024_05", "2024/05/01", "202405").
_DATE_IN_NAME = re.compile(
    r"(?<!\d)((?:19|20)\d\d)(?:[-_/.]?(0[1-9]|1[0-2])(?:[-_/.]?(0[1-9]|[12]\d|3[01]))?)?(?!\d)"
)
# Query-string forms: ?yyyy=2024&mm=05, ?year=2024&month=5
_YEAR_PARAM = re.compile(r"[?&](?:yyyy|year|y)=((?:19|20)\d\d)(?!\d)", re.I)
_MONTH_PARAM = re.compile(r"[?&](?:mm|month|m)=(0?[1-9]|1[0-2])(?!\d)", re.I)


def period_in_name(url: str) -> tuple[datetime, datetime] | None:
    """The [start, end) period a date in a sitemap's URL names (a day, a month or a year), in
    UTC; None when its path and query name no date. The last date in the path wins."""
    parts = urlsplit(url)
    query = "?" + parts.query if parts.query else ""
    if year_match := _YEAR_PARAM.search(query):
        month_match = _MONTH_PARAM.search(query)
        return _period(int(year_match.group(1)), int(month_match.group(1)) if month_match else None)
    matches = list(_DATE_IN_NAME.finditer(parts.path))
    if not matches:
        return None
    year, month, day = matches[-1].groups()
    return _period(int(year), int(month) if month else None, int(day) if day else None)


def _period(year: int, month: int | None, day: int | None = None) -> tuple[datetime, datetime]:
    if month is None:
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    if day is None or day > monthrange(year, month)[1]:
        start = datetime(year, month, 1, tzinfo=UTC)
        return start, start + timedelta(days=monthrange(year, month)[1])
    start = datetime(year, month, day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def reaches_back_to(url: str, lastmod: datetime | None, since: datetime) -> bool:
    """Whether a child sitemap may hold articles from `since` on: its lastmod (the newest
    change in it) is not before `since`, and the period its name gives does not end before."""
    if lastmod is not None and lastmod < since:
        return False
    period = period_in_name(url)
    # A day of slack either side: sites name their sitemaps in their own time zone.
    return period is None or period[1] + timedelta(days=1) > since


def listing_page_url(listing: str, template: str, n: int) -> str:
    """Page `n` of a listing: a template starting with ? or & adds to the query string
    (`?page={n}`), any other is a path relative to the listing's path (`page/{n}/`), and the
    listing's query string is kept either way: `https://e.org/opinion?cat=3` with `page/{n}/`
    is `https://e.org/opinion/page/2/?cat=3`, the same filter on its second page."""
    filled = template.replace("{n}", str(n))
    parts = urlsplit(listing)
    if filled[0] in "?&":
        return urlunsplit(parts._replace(query=_and(parts.query, filled[1:]), fragment=""))
    page = urlsplit(filled)
    # Joined to the path alone: joined to the whole URL, "page/2/" would replace the last
    # segment of a listing with a query string ("opinion?cat=3") instead of going under it.
    base = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit(
        parts._replace(
            path=urljoin(base, page.path), query=_and(parts.query, page.query), fragment=""
        )
    )


def _and(query: str, more: str) -> str:
    """Two query strings as one, either possibly empty."""
    return "&".join(q for q in (query, more) if q)


@dataclass
class ListingWalk:
    """One listing's pagination in this run: pages read, and why it stopped."""

    url: str
    first_page: int  # the page this run started at (2, or where the last run got to)
    pages: list[str] = field(default_factory=list)  # page URLs read, in order, from first_page
    links: list[frozenset[str]] = field(default_factory=list)  # article links per page read
    ended: bool = False  # the end was found (empty page, repeated page, since reached, cap)


@dataclass
class Backfill:
    """A backfill run for one outlet: the date it reaches back to and what earlier runs
    finished (for a date no later than this one)."""

    since: datetime
    finished_sitemaps: set[str] = field(default_factory=set)
    listing_pages_done: dict[str, int] = field(default_factory=dict)
    listings_complete: set[str] = field(default_factory=set)
    alert: bool = False
    # filled in by the run
    sitemaps_read: list[str] = field(default_factory=list)  # child sitemaps read in full
    walks: dict[str, ListingWalk] = field(default_factory=dict)
    too_old: dict[str, int] = field(default_factory=dict)  # page URL -> articles before since
    in_range: dict[str, int] = field(default_factory=dict)  # page URL -> articles from since
    parts_total: int = 0  # child sitemaps and listing pages planned (for the progress bar)
    parts_done: int = 0

    def start_page(self, listing: str) -> int | None:
        """The listing page this run starts at, or None when earlier runs completed it."""
        if listing in self.listings_complete:
            return None
        return max(2, self.listing_pages_done.get(listing, 1) + 1)

    def past_since(self, walk: ListingWalk) -> bool:
        """A page of this walk gave only articles from before `since`: the older pages after
        it would too (listings run newest first)."""
        return any(self.too_old.get(p, 0) and not self.in_range.get(p, 0) for p in walk.pages)
