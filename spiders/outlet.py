"""One generic spider, driven by an outlet's data: feeds, sitemaps and listing pages."""

import asyncio
import math
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from scrapy import Request, Spider
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from spiders.addresses import RefusedURL, host_port
from spiders.diagnosis import looks_like_challenge, looks_like_html
from spiders.encoding import decode_page
from spiders.feeds import parse_feed
from spiders.items import ArticlePage, DeadLink, DeadLinkKind
from spiders.outlets import Outlet
from spiders.sitemaps import (
    MAX_SITEMAP_BYTES,
    SitemapEntry,
    UnreadableSitemap,
    parse_sitemap,
    unpack_sitemap,
)
from spiders.urls import join_url, url_key

MAX_ERROR_SAMPLES = 20
# Links read from one section page; a real one has a few hundred.
MAX_LISTING_LINKS = 5_000


class AlreadySeen(IgnoreRequest):
    """Raised by crawler.middlewares for article URLs the database already knows."""


class Refused(IgnoreRequest):
    """A request mediawatch will not make (a private address, a scheme other than http(s));
    counted as a `refused` error."""


class RedirectLoop(IgnoreRequest):
    """A redirect back to a URL already on the way (counted as `redirect_loop`)."""


class Postponed(IgnoreRequest):
    """An article request past this run's max_articles_per_run: the next run makes it."""


@dataclass(frozen=True)
class DiscoveryLimits:
    """How much one run reads from an outlet's sources ([crawl] keys of the same names)."""

    max_sitemap_entries: int = 10_000
    max_child_sitemaps: int = 50


class OutletSpider(Spider):
    """Crawl one outlet once: discover article URLs, skip old and known ones, fetch the rest."""

    name = "outlet"
    outlet: Outlet

    def __init__(
        self,
        outlet: Outlet | str | None = None,
        max_age_days: int | str | None = None,
        now: datetime | None = None,
        limits: DiscoveryLimits | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if outlet is None:
            raise ValueError("OutletSpider needs an outlet: scrapy crawl outlet -a outlet=ID")
        self.now = now or datetime.now(UTC)
        self.error_samples: list[dict[str, str]] = []
        self.requested_max_age_days = int(max_age_days) if max_age_days else None
        self.limits = limits or DiscoveryLimits()
        self.child_sitemaps_left = self.limits.max_child_sitemaps
        if isinstance(outlet, str):
            # `scrapy crawl outlet -a outlet=ID`: spiders never read the configuration; the
            # crawler's add-on (crawler.extensions.StandaloneCrawl) looks the id up and calls
            # use_outlet before the crawl starts.
            self.outlet_id = outlet
        else:
            self.use_outlet(outlet, self.requested_max_age_days or 7)

    def use_outlet(
        self, outlet: Outlet, max_age_days: int, limits: DiscoveryLimits | None = None
    ) -> None:
        """Crawl `outlet`, skipping articles older than `max_age_days`."""
        if limits is not None:
            self.limits = limits
            self.child_sitemaps_left = limits.max_child_sitemaps
        self.outlet = outlet
        self.outlet_id = outlet.id
        self.max_age = timedelta(days=max_age_days)
        self.article_pattern = re.compile(outlet.article_url_pattern or r".")
        # Sources bypass the duplicate filter, so an index listing itself (or another index
        # listing it back) would be read again: every sitemap is read once per run.
        self.sitemaps_read = {url_key(u) for kind, u in outlet.sources() if kind == "sitemap"}

    async def start(self) -> AsyncIterator[Request]:
        callbacks = {
            "feed": self.parse_feed,
            "sitemap": self.parse_sitemap,
            "listing": self.parse_listing,
        }
        for kind, url in self.outlet.sources():
            yield Request(
                url,
                callback=callbacks[kind],
                errback=self.on_error,
                dont_filter=True,
                meta=self._meta(kind),
            )

    @staticmethod
    def _meta(role: str) -> dict[str, Any]:
        # Sitemaps may be far larger than any article page (50 MB is the protocol's limit).
        size = {"download_maxsize": MAX_SITEMAP_BYTES} if role == "sitemap" else {}
        return {"mediawatch": {"role": role}, **size}

    # discovery

    # The parsing below runs in a thread: a hostile feed, sitemap or section page must not
    # hold the reactor (and with it every crawl, the scheduler and the heartbeat).

    async def parse_feed(self, response: Response) -> AsyncIterator[Request]:
        self._count("sources_fetched")
        feed = await asyncio.to_thread(parse_feed, response.body, response.url)
        if not feed.entries:
            self._source_problem(response, "feed")
            return
        for entry in newest_first(feed.entries):
            if (url := self._join(response.url, entry.url, "feed")) is None:
                continue
            for request in self._article_request(
                url, response.url, "feed", entry.title, entry.published, "feed"
            ):
                yield request

    async def parse_sitemap(self, response: Response) -> AsyncIterator[Request]:
        self._count("sources_fetched")
        try:
            body = await asyncio.to_thread(unpack_sitemap, response.body)
        except UnreadableSitemap as exc:
            self.record_error(exc.kind, response.url, str(exc))
            return
        sitemap = await asyncio.to_thread(parse_sitemap, body, self.limits.max_sitemap_entries)
        if sitemap.kind == "invalid" or not sitemap.entries:
            self._source_problem(response, "sitemap", body)
            return
        if sitemap.truncated:
            self._count("sitemaps_truncated")
            self.logger.info(
                "read the first %d entries of %s ([crawl] max_sitemap_entries)",
                self.limits.max_sitemap_entries,
                response.url,
            )
        if sitemap.kind == "index":
            for request in self._child_sitemaps(response.url, sitemap.entries):
                yield request
            return
        for entry in newest_first(sitemap.entries):
            if (url := self._join(response.url, entry.url, "sitemap")) is None:
                continue
            for request in self._article_request(
                url,
                response.url,
                "sitemap",
                entry.title,
                entry.published,
                entry.date_source,
            ):
                yield request

    def _child_sitemaps(self, index_url: str, entries: list[SitemapEntry]) -> Iterator[Request]:
        """The index's recent children on the outlet's site, newest first, within this run's
        max_child_sitemaps (over all its indexes)."""
        children = []
        for entry in newest_first(entries):
            if (url := self._join(index_url, entry.url, "sitemap index")) is None:
                continue
            if entry.published and self._too_old(entry.published):
                continue
            if (problem := self._refusal(url)) is not None:
                self.record_error("refused", url, f"child sitemap of {index_url}: {problem}")
                continue
            if url_key(url) in self.sitemaps_read:
                self.logger.info("%s lists %s, already read this run", index_url, url[:200])
                continue
            children.append(url)
        if len(children) > self.child_sitemaps_left:
            skipped = len(children) - self.child_sitemaps_left
            self._count("child_sitemaps_skipped", skipped)
            self.logger.info(
                "%s: %d child sitemaps not read this run ([crawl] max_child_sitemaps = %d)",
                index_url,
                skipped,
                self.limits.max_child_sitemaps,
            )
            children = children[: self.child_sitemaps_left]
        self.child_sitemaps_left -= len(children)
        self.sitemaps_read.update(map(url_key, children))
        for url in children:
            yield Request(
                url, callback=self.parse_sitemap, errback=self.on_error, meta=self._meta("sitemap")
            )

    async def parse_listing(self, response: Response) -> AsyncIterator[Request]:
        self._count("sources_fetched")
        if not isinstance(response, TextResponse):
            self.record_error("parse", response.url, "listing page is not HTML")
            return
        found = await asyncio.to_thread(self._listing_links, response)
        if not found:
            self._source_problem(response, "listing")
        for url in found:
            for request in self._article_request(url, response.url, "listing", None, None, None):
                yield request

    def _listing_links(self, response: TextResponse) -> list[str]:
        """The article links of a section page, read from at most MAX_LISTING_LINKS links."""
        hrefs = response.css("a::attr(href)").getall()[:MAX_LISTING_LINKS]
        # A broken link on a section page is as normal as one elsewhere: left out.
        joined = (join_url(response.url, h.strip()) for h in hrefs)
        links = {u for u in joined if u is not None}
        # Links elsewhere are normal on a section page: left out, not counted as refused.
        found = [
            u for u in sorted(links) if self.article_pattern.search(u) and self.outlet.on_site(u)
        ]
        return found

    def _article_request(
        self,
        url: str,
        source: str,
        via: str,
        title: str | None,
        published: datetime | None,
        date_source: str | None,
    ) -> Iterator[Request]:
        self._count("discovered")
        if (problem := self._refusal(url)) is not None:
            self.record_error("refused", url, f"{via} item of {source}: {problem}")
            return
        if published and self._too_old(published):
            self._count("skipped_old_before_fetch")
            return
        yield Request(
            url,
            callback=self.parse_article,
            errback=self.on_error,
            priority=self._priority(published),
            meta={
                "mediawatch": {
                    "role": "article",
                    "via": via,
                    "source": source,
                    "title": title,
                    "published": published,
                    "date_source": date_source,
                }
            },
        )

    def _join(self, base: str, href: str, via: str) -> str | None:
        """`href` made absolute; None, counted as a `parse` error, when it is no URL at all."""
        url = join_url(base, href)
        if url is None:
            self.record_error("parse", href[:200], f"{via} item of {base}: not a URL")
        return url

    def _too_old(self, published: datetime) -> bool:
        return published < self.now - self.max_age

    def _refusal(self, url: str) -> str | None:
        """Why an article or child sitemap URL is not fetched (scheme, other site), or None."""
        try:
            host_port(url)
        except RefusedURL as exc:
            return str(exc)
        if not self.outlet.on_site(url):
            return (
                f"{url[:200]}: not on the outlet's own site; add its host to the outlet's "
                "hosts = [...] to fetch it"
            )
        return None

    def _priority(self, published: datetime | None) -> int:
        # Scrapy's scheduler serves higher priorities first: sources and child sitemaps (0)
        # before articles, then articles newest first by the hour, undated ones last, so
        # max_articles_per_run leaves the oldest for the next run.
        horizon = int(self.max_age.total_seconds() // 3600) + 1
        if published is None:
            return -horizon - 2
        hours = int((self.now - published).total_seconds() // 3600)
        return -1 - min(max(hours, 0), horizon)

    # fetching

    def parse_article(self, response: Response) -> Iterator[ArticlePage]:
        hints = response.meta["mediawatch"]
        if not isinstance(response, TextResponse):
            self.record_error("parse", response.url, "not an HTML page")
            return
        redirects = list(response.meta.get("redirect_urls", []))
        content_type = response.headers.get("Content-Type")
        yield ArticlePage(
            outlet_id=self.outlet.id,
            url=response.url,
            requested_url=redirects[0] if redirects else response.url,
            redirect_urls=redirects,
            html=decode_page(
                response.body, content_type.decode("latin-1") if content_type else None
            ),
            discovered_via=hints["via"],
            source_url=hints["source"],
            hint_title=hints["title"],
            hint_published=hints["published"],
            hint_date_source=hints["date_source"],
        )

    # failures

    def on_error(self, failure: Failure) -> Iterator[DeadLink]:
        request = failure.request  # type: ignore[attr-defined]
        role = request.meta.get("mediawatch", {}).get("role", "article")
        if failure.check(AlreadySeen):
            return
        if failure.check(Postponed):
            self._count("postponed")
            return
        kind, reason = classify_failure(failure)
        self.record_error(kind, request.url, f"{role}: {reason}")
        if role == "article" and kind in set(DeadLinkKind):
            yield DeadLink(self.outlet.id, request.url, DeadLinkKind(kind))

    def _source_problem(self, response: Response, role: str, body: bytes | None = None) -> None:
        body = response.body if body is None else body
        if looks_like_challenge(body):
            self.record_error(
                "challenge", response.url, f"{role} answered with a bot-challenge page"
            )
        elif role == "feed" and looks_like_html(body):
            self.record_error("parse", response.url, "feed URL returned an HTML page")
        elif role == "sitemap" and looks_like_html(body):
            self.record_error(
                "parse", response.url, "sitemap URL returned an HTML page, not a sitemap"
            )
        elif role == "sitemap" and not body.strip().startswith(b"<"):
            self.record_error("parse", response.url, "sitemap is not XML")
        else:
            self.record_error("empty", response.url, f"{role} lists no articles")

    def _count(self, key: str, n: int = 1) -> None:
        if self.crawler:
            self.crawler.stats.inc_value(f"mediawatch/{key}", n)

    def record_error(self, kind: str, url: str, reason: str) -> None:
        """Count one failed item by kind, keep a sample for `status`, log it; go on."""
        self.logger.warning("%s: %s (%s)", kind, reason, url)
        if self.crawler:
            self.crawler.stats.inc_value("mediawatch/errors")
            self.crawler.stats.inc_value(f"mediawatch/errors/{kind}")
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append({"kind": kind, "url": url, "reason": reason})


def classify_failure(failure: Failure) -> tuple[str, str]:
    """(kind, reason) for a failed request, in the kinds `mediawatch status` counts."""
    error: Any = failure.value
    if failure.check(HttpError):
        status = error.response.status
        if 300 <= status < 400:
            # Scrapy follows redirects to http(s) only: this one pointed elsewhere (file:...).
            location = error.response.headers.get("Location", b"").decode("latin-1")[:200]
            return "refused", f"HTTP {status} redirect to {location or 'nowhere'}"
        if status in (404, 410):
            return "gone", f"HTTP {status}"
        if status in (401, 403, 429, 451):
            return "blocked", f"HTTP {status}"
        return ("http_5xx" if status >= 500 else "http_4xx"), f"HTTP {status}"
    if failure.check(Refused):
        return "refused", str(failure.value)
    if failure.check(RedirectLoop):
        return "redirect_loop", str(failure.value)
    if failure.check(IgnoreRequest):
        message = str(failure.value)
        if "DOWNLOAD_MAXSIZE" in message:  # HttpCompressionMiddleware's gzip bomb guard
            return "too_large", "page unpacks past the size limit (max_page_mb)"
        if message == "max redirections reached":  # Scrapy's words, REDIRECT_MAX_TIMES
            return "redirect_loop", "too many redirects (a redirect loop?)"
        if "robots.txt" in message:
            return "robots", "disallowed by robots.txt"
        return "ignored", message or "request ignored"
    if failure.check(CannotResolveHostError):
        return "dns", str(failure.value)
    if failure.check(DownloadConnectionRefusedError):
        return "connection", "connection refused"
    if failure.check(DownloadTimeoutError):
        return "timeout", "timed out"
    if failure.check(DownloadCancelledError):
        return "too_large", "page larger than the size limit"
    if failure.check(ResponseDataLossError, DownloadFailedError):
        return "connection", str(failure.value)
    return "connection", f"{type(error).__name__}: {error}"


class _Dated(Protocol):
    @property
    def published(self) -> datetime | None: ...


D = TypeVar("D", bound=_Dated)


def newest_first(entries: Iterable[D]) -> list[D]:
    """Entries by their feed or sitemap date, newest first; undated ones after, in order."""
    return sorted(entries, key=lambda e: -e.published.timestamp() if e.published else math.inf)
