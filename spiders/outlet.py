"""One generic spider, driven by an outlet's data: feeds, sitemaps and listing pages."""

import asyncio
import math
import re
import time
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
from spiders.backfill import Backfill, ListingWalk, listing_page_url, reaches_back_to
from spiders.diagnosis import looks_like_challenge, looks_like_html
from spiders.encoding import decode_page
from spiders.feeds import parse_feed
from spiders.items import ArticlePage, DeadLink, DeadLinkKind
from spiders.outlets import Outlet
from spiders.recheck import Recheck, RecheckPage, page_validators, recheck_request
from spiders.sitemaps import (
    MAX_SITEMAP_BYTES,
    SitemapEntry,
    UnreadableSitemap,
    parse_sitemap,
    unpack_sitemap,
)
from spiders.sources import SourceLedger, Validators
from spiders.urls import join_url, url_key

MAX_ERROR_SAMPLES = 20
# Links read from one section page; a real one has a few hundred.
MAX_LISTING_LINKS = 5_000
# Backfill: how long a listing page waits for its articles before the next page is asked for.
PAGE_WAIT = 120.0


class AlreadySeen(IgnoreRequest):
    """Raised by crawler.middlewares for article URLs the database already knows."""

    # Dealt with for good: its source may be skipped while unchanged (spiders.sources).
    for_good = True


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
        backfill: Backfill | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # Filled by the crawler (crawler.extensions) before the first request: spiders never
        # read the database.
        self.ledger = SourceLedger()
        # Stored articles due a re-check for edits, handed over like the ledger.
        self.rechecks: list[Recheck] = []
        self.backfill = backfill
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
            yield self._source_request(url, kind, callbacks[kind], dont_filter=True)
        for recheck in self.rechecks:
            yield recheck_request(recheck, self.parse_recheck, self.on_error)

    def _source_request(self, url: str, role: str, callback: Any, **kw: Any) -> Request:
        """A feed, sitemap or listing request; a feed or sitemap read in full last time is
        asked for conditionally (a backfill reads everything in full)."""
        meta = self._meta(role)
        meta["mediawatch"]["key"] = url  # the ledger's name for it, whatever it redirects to
        headers = {}
        if role in ("feed", "sitemap") and self.backfill is None:
            headers = self.ledger.headers_for(url)
        if headers:
            meta["handle_httpstatus_list"] = [304]
        return Request(
            url, callback=callback, errback=self.on_error, headers=headers, meta=meta, **kw
        )

    @staticmethod
    def _meta(role: str) -> dict[str, Any]:
        # Sitemaps may be far larger than any article page (50 MB is the protocol's limit).
        size = {"download_maxsize": MAX_SITEMAP_BYTES} if role == "sitemap" else {}
        return {"mediawatch": {"role": role}, **size}

    def _answered(self, response: Response) -> str:
        """Note a source's answer in the ledger; its key."""
        key: str = response.meta.get("mediawatch", {}).get("key", response.url)
        if response.status == 304:
            self._count("sources_unchanged")
            self.ledger.unchanged.add(key)
            return key
        if response.meta["mediawatch"]["role"] not in ("feed", "sitemap"):
            return key  # listings are pages: asked for in full every time
        # Sent back verbatim next run: printable ASCII and bounded, as an article's are.
        self.ledger.answered(key, *page_validators(response))
        return key

    # discovery

    # The parsing below runs in a thread: a hostile feed, sitemap or section page must not
    # hold the reactor (and with it every crawl, the scheduler and the heartbeat).

    async def parse_feed(self, response: Response) -> AsyncIterator[Request]:
        self._count("sources_fetched")
        key = self._answered(response)
        if response.status == 304:  # unchanged since the last run: nothing to read
            return
        feed = await asyncio.to_thread(parse_feed, response.body, response.url)
        if not feed.entries:
            self._source_problem(response, "feed")
            return
        for entry in newest_first(feed.entries):
            if (url := self._join(response.url, entry.url, "feed")) is None:
                continue
            for request in self._article_request(
                url, response.url, "feed", entry.title, entry.published, "feed", key
            ):
                yield request

    async def parse_sitemap(self, response: Response) -> AsyncIterator[Request]:
        self._count("sources_fetched")
        key = self._answered(response)
        if self.backfill is not None and response.meta["mediawatch"].get("child"):
            self.backfill.parts_done += 1
        if response.status == 304:
            # Unchanged: nothing to parse. An index's children may have changed all the same
            # (a news sitemap listed by a fixed index): each is asked for again, conditionally.
            children = self.ledger.known.get(key, Validators()).children or ()
            entries = [
                SitemapEntry(url, lastmod, None, "sitemap-lastmod") for url, lastmod in children
            ]
            for request in self._child_sitemaps(response.url, entries):
                yield request
            return
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
            self.ledger.listed_children(key, [(e.url, e.published) for e in sitemap.entries])
            for request in self._child_sitemaps(response.url, sitemap.entries):
                yield request
            return
        if self.backfill is not None and response.meta["mediawatch"].get("child"):
            self.backfill.sitemaps_read.append(key)
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
                key,
            ):
                yield request

    def _child_sitemaps(self, index_url: str, entries: list[SitemapEntry]) -> Iterator[Request]:
        """The index's recent children on the outlet's site, newest first, within this run's
        max_child_sitemaps (over all its indexes)."""
        children = []
        for entry in newest_first(entries):
            if (url := self._join(index_url, entry.url, "sitemap index")) is None:
                continue
            if not self._child_wanted(url, entry.published):
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
        if self.backfill is not None:
            self.backfill.parts_total += len(children)
        for url in children:
            request = self._source_request(url, "sitemap", self.parse_sitemap)
            request.meta["mediawatch"]["child"] = True
            yield request

    def _child_wanted(self, url: str, lastmod: datetime | None) -> bool:
        """A child sitemap that may hold articles this run wants: not changed since before
        the age limit; in a backfill, reaching back to --since and not finished before."""
        if self.backfill is None:
            return not (lastmod and self._too_old(lastmod))
        if url in self.backfill.finished_sitemaps:
            self._count("backfill/sitemaps_done_before")
            return False
        return reaches_back_to(url, lastmod, self.backfill.since)

    async def parse_listing(self, response: Response) -> AsyncIterator[Request]:
        self._count("sources_fetched")
        key = self._answered(response)
        if not isinstance(response, TextResponse):
            self.record_error("parse", response.url, "listing page is not HTML")
            return
        found = await asyncio.to_thread(self._listing_links, response)
        if not found:
            self._source_problem(response, "listing")
        for url in found:
            for request in self._article_request(
                url, response.url, "listing", None, None, None, key
            ):
                yield request
        if self.backfill is not None and self.outlet.listing_pages:
            start = self.backfill.start_page(key)
            if start is None:
                self._count("backfill/listings_done_before")
                return
            walk = self.backfill.walks[key] = ListingWalk(key, start)
            if start > self.outlet.listing_pages_max:
                walk.ended = True
                return
            self.backfill.parts_total += 1
            yield self._listing_page(walk, start)

    def _listing_page(self, walk: ListingWalk, n: int) -> Request:
        """Page `n` of a listing, asked for once the articles already queued are fetched, so
        the pages before it have said whether --since is reached."""
        assert self.outlet.listing_pages
        url = listing_page_url(walk.url, self.outlet.listing_pages, n)
        request = self._source_request(
            url, "listing_page", self.parse_listing_page, priority=-self._horizon() - 3
        )
        # Each page is a fresh start for Scrapy's depth limit (a sitemap-index bound).
        request.meta.update(depth_reset=True)
        request.meta["mediawatch"].update(listing=walk.url, page=n)
        return request

    async def parse_listing_page(self, response: Response) -> AsyncIterator[Request]:
        """A listing page past the first (backfill only): its articles, then the next page
        unless this one is empty or repeats the last, --since is reached, or the cap."""
        self._count("listing_pages_fetched")
        assert self.backfill is not None and self.outlet.listing_pages
        hints = response.meta["mediawatch"]
        walk, n, key = self.backfill.walks[hints["listing"]], hints["page"], hints["key"]
        self.backfill.parts_done += 1
        found = []
        if isinstance(response, TextResponse):
            found = await asyncio.to_thread(self._listing_links, response)
        links = frozenset(found)
        repeated = bool(walk.links) and links == walk.links[-1]
        walk.pages.append(key)
        walk.links.append(links)
        if not links or repeated:
            walk.ended = True
            return
        for url in found:
            for request in self._article_request(
                url, response.url, "listing", None, None, None, key
            ):
                yield request
        if n >= self.outlet.listing_pages_max:
            walk.ended = True
            return
        await self._settled(key)
        if self.backfill.past_since(walk):
            walk.ended = True
            return
        self.backfill.parts_total += 1
        yield self._listing_page(walk, n + 1)

    async def _settled(self, key: str) -> None:
        """Wait until every article `key` announced is dealt with (at most PAGE_WAIT seconds,
        and no longer than the crawl runs), so the next listing page is asked for knowing
        whether this one reached --since."""
        deadline = time.monotonic() + PAGE_WAIT
        while self.ledger.pending[key] > 0 and time.monotonic() < deadline:
            engine = self.crawler.engine if self.crawler else None
            if engine is None or not engine.running:
                return
            await asyncio.sleep(0.2)

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
        ledger_key: str,
    ) -> Iterator[Request]:
        self._count("discovered")
        if (problem := self._refusal(url)) is not None:
            self.record_error("refused", url, f"{via} item of {source}: {problem}")
            return
        if published and self._too_old(published):
            self._count("skipped_old_before_fetch")
            return
        self.ledger.announced(ledger_key)
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
                    "ledger": ledger_key,
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
        return published < self.oldest()

    def oldest(self) -> datetime:
        """Articles published before this are not wanted: --since in a backfill, else
        max_age_days before the run began."""
        return self.backfill.since if self.backfill is not None else self.now - self.max_age

    def _horizon(self) -> int:
        """Hours from the oldest wanted article to now, plus one: the span of priorities."""
        return int((self.now - self.oldest()).total_seconds() // 3600) + 1

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
        horizon = self._horizon()
        if published is None:
            return -horizon - 2
        hours = int((self.now - published).total_seconds() // 3600)
        return -1 - min(max(hours, 0), horizon)

    # fetching

    def parse_article(self, response: Response) -> Iterator[ArticlePage]:
        hints = response.meta["mediawatch"]
        if not isinstance(response, TextResponse):
            self.record_error("parse", response.url, "not an HTML page")
            self.ledger.settled(hints.get("ledger"), for_good=False)
            return
        redirects = list(response.meta.get("redirect_urls", []))
        content_type = response.headers.get("Content-Type")
        etag, last_modified = page_validators(response)
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
            ledger_key=hints.get("ledger"),
            etag=etag,
            last_modified=last_modified,
        )

    def parse_recheck(self, response: Response) -> Iterator[RecheckPage]:
        """A stored article fetched again: unchanged (304, nothing to do) or its page."""
        self._count("rechecked")
        if response.status == 304:
            self._count("recheck_unchanged")
            return
        article_id = response.meta["mediawatch"]["article_id"]
        for page in self.parse_article(response):
            yield RecheckPage.of(page, article_id)

    # failures

    def on_error(self, failure: Failure) -> Iterator[DeadLink]:
        request = failure.request  # type: ignore[attr-defined]
        hints = request.meta.get("mediawatch", {})
        role = hints.get("role", "article")
        if role == "article":
            # Known, or a dead link remembered for good: settled. Anything else (postponed,
            # a timeout, a 404 retried later) waits for a run that reads its source in full.
            seen = failure.check(AlreadySeen) and getattr(failure.value, "for_good", False)
            dead = classify_failure(failure)[0] in ("robots", "too_large")
            self.ledger.settled(hints.get("ledger"), for_good=bool(seen or dead))
        elif self.backfill is not None and hints.get("child"):
            self.backfill.parts_done += 1
        if failure.check(AlreadySeen):
            return
        if failure.check(Postponed):
            self._count("postponed")
            return
        kind, reason = classify_failure(failure)
        if role == "listing_page" and self._pagination_ended(hints, failure):
            return
        self.record_error(kind, request.url, f"{role}: {reason}")
        if role == "article" and kind in set(DeadLinkKind):
            yield DeadLink(self.outlet.id, request.url, DeadLinkKind(kind))

    def _pagination_ended(self, hints: dict[str, Any], failure: Failure) -> bool:
        """A listing page that failed ends its walk; a 404 or 410 past the last page is how
        many sites say so, not an error."""
        if self.backfill is None or (walk := self.backfill.walks.get(hints["listing"])) is None:
            return False
        self.backfill.parts_done += 1
        error: Any = failure.value
        gone = failure.check(HttpError) and error.response.status in (404, 410)
        # On the walk's first page a 404 more likely means a wrong listing_pages template.
        walk.ended = bool(gone and (walk.pages or hints["page"] > 2))
        return walk.ended

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
