"""Downloader middlewares: the network guard (with the resolver that checks where each
connection goes), never fetching an article URL the database already knows, and the per-run
article budget."""

import asyncio
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.http import Response
from scrapy.resolver import CachingThreadedResolver, dnscache
from scrapy.utils.datatypes import LocalCache
from scrapy.utils.defer import maybe_deferred_to_future
from sqlalchemy.exc import SQLAlchemyError
from twisted.internet.base import ThreadedResolver
from twisted.internet.defer import fail, succeed
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IResolverSimple
from w3lib.url import canonicalize_url
from zope.interface import implementer

from crawler.runtime.context import CrawlContext, crawl_context, outlet_spider
from spiders.addresses import (
    NetworkPolicy,
    RefusedURL,
    host_port,
    literal_address,
    normalise_host,
)
from spiders.outlet import AlreadySeen, Postponed, RedirectLoop, Refused
from spiders.urls import url_key
from storage.articles import known_url_keys
from storage.statuses import SeenOutcome


class NotCheckedThisRun(AlreadySeen):
    """The database could not say whether the URL is known: skipped for this run (counted as
    a database error), remembered nowhere, so the next run fetches it."""

    for_good = False  # its feed or sitemap must be read in full next run (spiders.sources)


class KnownUrlMiddleware:
    """Drops article requests whose URL key is in seen_urls: the database is the memory."""

    def __init__(self, context: CrawlContext, crawler: Crawler) -> None:
        self.context = context
        self.crawler = crawler
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "KnownUrlMiddleware":
        return cls(crawl_context(crawler), crawler)

    async def process_request(self, request: Request, spider: Spider | None = None) -> Any:
        if request.meta.get("mediawatch", {}).get("role") != "article":
            return None
        # In a thread: a locked SQLite file or an unreachable PostgreSQL host must not stall
        # the reactor (every other crawl, the daemon's scheduler and heartbeat).
        # A backfill reaches further back than max_age_days: pages once too old may not be.
        backfill = outlet_spider(self.crawler.spider).backfill is not None
        try:
            known = await asyncio.to_thread(self._known, url_key(request.url), backfill)
        except SQLAlchemyError as exc:
            spider = self.crawler.spider
            if spider is not None:
                reason = f"{type(exc).__name__}: {exc}"
                outlet_spider(spider).record_error("database", request.url, reason)
            raise NotCheckedThisRun(f"database unavailable, not fetched: {request.url}") from exc
        if known:
            self.stats.inc_value("mediawatch/skipped_known")
            raise AlreadySeen(f"already fetched: {request.url}")
        return None

    def _known(self, key: str, backfill: bool = False) -> bool:
        refetch = [SeenOutcome.TOO_OLD] if backfill else []
        with self.context.db.read() as session:
            return bool(known_url_keys(session, [key], self.context.clock(), refetch))


logger = logging.getLogger(__name__)


class RefusedAddress(DNSLookupError):
    """A name the guarded resolver will not hand to a connection: it resolved to a non-public
    address. A DNSLookupError, because Twisted's resolver interface has no other way to say
    no (and drops these quietly); NetworkGuardMiddleware counts it as `refused`."""


@implementer(IResolverSimple)
class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, deciding where the connection goes: every answer is checked
    (cached or not) before a connection may use it, and a refused one is never cached.

    Checking in a middleware alone is not enough: the connection looks the name up again
    (another spelling such as `host.`, or after another check dropped the cached answer), and
    that second answer may be 127.0.0.1 (DNS rebinding). Names are normalised (lower-case, no
    trailing dot), so every spelling shares one cache entry.

    Twisted has one resolver per reactor and a process runs one reactor, so this is
    process-wide by Twisted's design, not a global of ours: it is installed with the policy of
    the one configuration the process crawls under (crawler.service.runner), and the crawls'
    own state still rides on each Crawler.
    """

    def __init__(
        self, reactor: Any, policy: NetworkPolicy, cache_size: int = 10_000, timeout: float = 60.0
    ) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.policy = policy
        # name -> why its last answer was refused: a refused connection fails as a plain DNS
        # error, and the guard middleware asks here whether it was a refusal.
        self.refusals: LocalCache[str, str] = LocalCache(1_000)

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Any:
        host = normalise_host(name)
        if host in dnscache:
            return self._checked(dnscache[host], host)
        lookup = ThreadedResolver.getHostByName(self, host, (self.timeout,))  # type: ignore[arg-type]
        return lookup.addCallback(self._checked, host)

    def _checked(self, address: str, host: str) -> Any:
        try:
            self.policy.check_answer(host, address)
        except RefusedURL as exc:
            dnscache.pop(host, None)
            self.refusals[host] = str(exc)
            return fail(RefusedAddress(str(exc)))
        self.refusals.pop(host, None)
        dnscache[host] = address  # LocalCache keeps nothing when the cache is off (size 0)
        return succeed(address)

    def refusal(self, host: str) -> str | None:
        """Why the last answer for `host` was refused, or None."""
        return self.refusals.get(normalise_host(host))


def guard_connections(
    policy: NetworkPolicy, cache_size: int = 10_000, timeout: float = 60.0
) -> GuardedResolver:
    """Install a GuardedResolver for `policy` on the reactor, unless one is there already
    (its cache kept); the reactor must be installed."""
    from twisted.internet import reactor

    current: Any = getattr(reactor, "resolver", None)
    if isinstance(current, GuardedResolver) and current.policy == policy:
        return current
    resolver = GuardedResolver(reactor, policy, cache_size, timeout)
    resolver.install_on_reactor()
    return resolver


class NetworkGuardMiddleware:
    """Refuses every request (redirects and robots.txt included) that is not http(s), or whose
    host resolves to a loopback, private, link-local, reserved or multicast address and is not
    a configured source: a page must not make the crawler read this machine or its network.

    It checks (host, port) before the request is queued; GuardedResolver checks the address
    the connection then uses, so a name cannot pass here and connect elsewhere.
    """

    def __init__(self, context: CrawlContext, crawler: Crawler) -> None:
        self.context = context
        self.crawler = crawler
        self._policy: NetworkPolicy | None = None
        # (host, port) -> the error its requests get (None: allowed); one lookup per crawl.
        self.verdicts: dict[tuple[str, int], Exception | None] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "NetworkGuardMiddleware":
        return cls(crawl_context(crawler), crawler)

    @property
    def policy(self) -> NetworkPolicy:
        # Built on the first request: the spider knows its outlet only once the crawl starts
        # (`scrapy crawl outlet -a outlet=ID` may name one the configuration leaves out).
        if self._policy is None:
            config = self.context.config
            outlets = [*config.active_outlets(), getattr(self.crawler.spider, "outlet", None)]
            urls = [url for o in outlets if o is not None for _, url in o.sources()]
            self._policy = NetworkPolicy.for_sources(urls, config.crawl.allow_private_addresses)
            if not isinstance(self._resolver(), GuardedResolver):
                # Started by Scrapy's own `scrapy crawl` (one crawl per process), not our runner.
                settings = self.crawler.settings
                size = settings.getint("DNSCACHE_SIZE")
                enabled = settings.getbool("DNSCACHE_ENABLED")
                guard_connections(
                    self._policy, size if enabled else 0, settings.getfloat("DNS_TIMEOUT")
                )
        return self._policy

    @staticmethod
    def _resolver() -> Any:
        from twisted.internet import reactor

        return getattr(reactor, "resolver", None)

    async def process_request(self, request: Request) -> None:
        try:
            host, port = self.policy.check_url(request.url)
        except RefusedURL as exc:
            raise Refused(str(exc)) from None
        if not self.policy.needs_resolving(host, port):
            return
        if (host, port) not in self.verdicts:
            self.verdicts[host, port] = await self._verdict(host, port)
        if (problem := self.verdicts[host, port]) is not None:
            raise type(problem)(*problem.args)

    def process_exception(self, request: Request, exception: Exception) -> None:
        """A connection whose answer GuardedResolver refused fails as a DNS error: `refused`."""
        if not isinstance(exception, CannotResolveHostError | DNSLookupError):
            return
        resolver = self._resolver()
        if not isinstance(resolver, GuardedResolver):
            return
        try:
            host, _ = host_port(request.url)
        except RefusedURL:
            return
        if (reason := resolver.refusal(host)) is not None:
            raise Refused(reason)

    async def _verdict(self, host: str, port: int) -> Exception | None:
        address = literal_address(host)
        if address is not None:
            addresses = [str(address)]
        else:
            from twisted.internet import reactor as _reactor

            reactor: Any = _reactor
            # Fresh for each crawl (Scrapy's cache keeps answers for the process's life); the
            # connection reuses this answer, and GuardedResolver checks whatever it uses.
            dnscache.pop(host, None)
            timeout = self.crawler.settings.getfloat("DNS_TIMEOUT", 60.0)
            try:
                resolved = reactor.resolve(host, timeout=(timeout,))
                addresses = [str(await maybe_deferred_to_future(resolved))]
            except RefusedAddress as exc:
                return Refused(str(exc))
            except Exception as exc:  # DNSLookupError, TimeoutError: the host's, not ours
                return CannotResolveHostError(f"{host}: {exc}")
        try:
            self.policy.check_addresses(host, addresses)
        except RefusedURL as exc:
            return Refused(str(exc))
        return None


class ArticleBudgetMiddleware:
    """At most [crawl] max_articles_per_run article fetches per outlet per run; the rest wait
    for the next run. The spider queues articles newest first, so what waits is the oldest.

    It sits before the known-URL check, so once the budget is spent the rest cost no database
    lookup; a request dropped before it is fetched (known, robots.txt) gives its place back.
    """

    _MARK = "mediawatch_budgeted"

    def __init__(self, limit: int, crawler: Crawler) -> None:
        self.limit = limit
        self.crawler = crawler
        self.used = 0
        self.told = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "ArticleBudgetMiddleware":
        return cls(crawl_context(crawler).config.crawl.max_articles_per_run, crawler)

    def process_request(self, request: Request) -> None:
        meta = request.meta
        role = meta.get("mediawatch", {}).get("role")
        # Re-checks for edits are article fetches too (crawler.runtime.rechecks).
        if role not in ("article", "recheck") or _follow_up(request):
            return
        if self.used >= self.limit:
            if not self.told:
                self.told = True
                logger.info(
                    "%s: %d articles fetched this run ([crawl] max_articles_per_run); the "
                    "rest wait for the next run",
                    getattr(self.crawler.spider, "outlet_id", "?"),
                    self.limit,
                )
            raise Postponed(f"over max_articles_per_run, left for the next run: {request.url}")
        self.used += 1
        meta[self._MARK] = True

    def process_exception(self, request: Request, exception: Exception) -> None:
        # Dropped before it was fetched (a later middleware said no): not a fetch after all.
        dropped = isinstance(exception, IgnoreRequest) and not _follow_up(request)
        if dropped and request.meta.pop(self._MARK, False):
            self.used -= 1


def _follow_up(request: Request) -> bool:
    """A redirect or a retry of a request already counted."""
    return bool(request.meta.get("redirect_times") or request.meta.get("retry_times"))


class RedirectLoopMiddleware:
    """Sees each redirect before Scrapy's RedirectMiddleware follows it. A redirect back to a
    URL already on the way is a loop: refused and counted as `redirect_loop`. Any other is
    followed even to a URL of the same identity (http to https, a www. host), which Scrapy's
    duplicate filter would otherwise drop without a word."""

    def process_response(self, request: Request, response: Response) -> Response:
        location = response.headers.get("Location")
        if response.status not in (301, 302, 303, 307, 308) or not location:
            return response
        target = canonicalize_url(urljoin(request.url, location.decode("latin-1").strip()))
        chain = [*request.meta.get("redirect_urls", []), request.url]
        if target in {canonicalize_url(u) for u in chain}:
            raise RedirectLoop(f"redirect loop: {' -> '.join(chain[-3:])} -> {target}")
        request.dont_filter = True  # Scrapy's RedirectMiddleware copies it to the redirect
        return response
