"""Scrapy crawlers for some outlets in the one asyncio reactor: started, watched, summed up.

Scrapy's reactor cannot be restarted in one process, so a process runs one reactor for its
whole life: `run_in_reactor` for the one-shot commands, the daemon keeps it running.
"""

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO, TypeVar

from scrapy.crawler import AsyncCrawlerRunner, Crawler
from scrapy.settings import Settings

from crawler.middlewares import guard_connections
from crawler.runtime.context import CrawlContext, attach_context, outlet_spider
from crawler.service.stopping import StopOnSignal
from crawler.settings import TWISTED_REACTOR, crawl_settings, discovery_limits, module_settings
from spiders.addresses import NetworkPolicy
from spiders.backfill import Backfill
from spiders.outlet import OutletSpider
from spiders.outlets import Outlet

T = TypeVar("T")
logger = logging.getLogger(__name__)


@dataclass
class OutletResult:
    """What one outlet's crawl gave, for the crawl summary."""

    id: str
    pages_fetched: int = 0
    new_articles: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    # Articles fetched and found older than max_age_days (or --since): not stored.
    too_old: int = 0
    # Canonical links not believed (home page, a section, another article): filed under the
    # URL fetched instead (spiders.identity).
    canonical_ignored: int = 0
    # Child sitemaps and articles left for the next run by this run's caps (max_child_sitemaps,
    # max_articles_per_run), or 1 more when it ended early (run_timeout): a backfill that
    # left none is complete.
    left_for_next_run: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pages_fetched": self.pages_fetched,
            "new_articles": self.new_articles,
            "errors": self.errors,
            "error_kinds": self.error_kinds,
            "too_old": self.too_old,
            "canonical_ignored": self.canonical_ignored,
        }


def _result(outlet: Outlet, crawler: Crawler) -> OutletResult:
    try:
        stats = crawler.stats.get_stats()
    except RuntimeError:  # not started yet: Scrapy sets stats when the crawl begins
        stats = {}
    kinds = {
        k.removeprefix("mediawatch/errors/"): int(v)
        for k, v in stats.items()
        if k.startswith("mediawatch/errors/")
    }
    return OutletResult(
        id=outlet.id,
        pages_fetched=int(stats.get("downloader/response_count", 0)),
        new_articles=int(stats.get("mediawatch/new_articles", 0)),
        errors=sum(kinds.values()),
        error_kinds=kinds,
        too_old=int(stats.get("mediawatch/too_old", 0)),
        canonical_ignored=int(stats.get("mediawatch/canonical_ignored", 0)),
        left_for_next_run=int(stats.get("mediawatch/child_sitemaps_skipped", 0))
        + int(stats.get("mediawatch/postponed", 0))
        # ended early (run_timeout, a signal): what it had not reached is left too
        + (stats.get("finish_reason", "finished") != "finished"),
    )


def _ended(crawler: Crawler) -> bool:
    """Whether this outlet's crawl has run and ended: one not started yet is not crawling
    either, and counting it done made the first line say "2/2 outlets done"."""
    if crawler.crawling:
        return False
    try:
        crawler.engine  # noqa: B018 (set when the crawl starts)
    except RuntimeError:
        return False
    return True


class Progress:
    """A one-line live summary on a terminal; silent when stderr is not one."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def show(self, crawlers: list[tuple[Outlet, Crawler]]) -> None:
        if not self.enabled:
            return
        done = sum(1 for _, c in crawlers if _ended(c))
        pages = new = errors = 0
        for outlet, crawler in crawlers:
            r = _result(outlet, crawler)
            pages, new, errors = pages + r.pages_fetched, new + r.new_articles, errors + r.errors
        self.stream.write(
            f"\r\033[Kcrawling: {done}/{len(crawlers)} outlets done · {pages} pages · "
            f"{new} new articles · {errors} errors"
        )
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


class BackfillProgress(Progress):
    """A backfill's progress: a bar over the child sitemaps and listing pages planned so far
    on a terminal; otherwise a plain line now and then (every PLAIN_EVERY seconds at most)."""

    WIDTH = 24
    PLAIN_EVERY = 10.0

    def __init__(self, since: str, stream: TextIO = sys.stderr) -> None:
        super().__init__(stream)
        self.since = since
        self.last_line = ""
        self.last_at = -self.PLAIN_EVERY

    def line(self, crawlers: list[tuple[Outlet, Crawler]]) -> tuple[str, int, int]:
        done = total = pages = new = errors = 0
        for outlet, crawler in crawlers:
            backfill = _backfill_of(crawler)
            if backfill is not None:
                done, total = done + backfill.parts_done, total + backfill.parts_total
            r = _result(outlet, crawler)
            pages, new, errors = pages + r.pages_fetched, new + r.new_articles, errors + r.errors
        return (
            f"{done}/{total} sitemaps and listing pages · {pages} pages · {new} new articles · "
            f"{errors} errors",
            done,
            total,
        )

    def show(self, crawlers: list[tuple[Outlet, Crawler]]) -> None:
        text, done, total = self.line(crawlers)
        if self.enabled:
            filled = self.WIDTH * done // total if total else 0
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.stream.write(f"\r\033[Kbackfill since {self.since} [{bar}] {text}")
            self.stream.flush()
            return
        now = time.monotonic()
        outlets_done = all(_ended(c) for _, c in crawlers)
        if text != self.last_line and (now - self.last_at >= self.PLAIN_EVERY or outlets_done):
            self.stream.write(f"backfill since {self.since}: {text}\n")
            self.stream.flush()
            self.last_line, self.last_at = text, now

    def finish(self) -> None:
        super().finish()


def _backfill_of(crawler: Crawler) -> Backfill | None:
    try:
        return outlet_spider(crawler.spider).backfill
    except RuntimeError:  # not started yet
        return None


def _guard(context: CrawlContext, outlets: list[Outlet]) -> None:
    """Give the reactor's resolver the network policy of this process's crawls: the sources
    of every outlet in use (and of those crawled, which a one-shot crawl may add)."""
    config = context.config
    in_use = [*config.active_outlets(), *outlets]
    urls = [url for outlet in in_use for _, url in outlet.sources()]
    policy = NetworkPolicy.for_sources(urls, config.crawl.allow_private_addresses)
    # Scrapy's DNS knobs, read as Scrapy's own CrawlerProcess reads them for its resolver.
    settings = Settings(module_settings())
    size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
    guard_connections(policy, size, settings.getfloat("DNS_TIMEOUT"))


def _start(
    runner: AsyncCrawlerRunner, context: CrawlContext, outlet: Outlet, now: datetime
) -> tuple[Crawler, "asyncio.Task[None]"]:
    """Start one outlet's crawl on `runner`: its own Crawler, its own Scrapy settings."""
    crawler = Crawler(OutletSpider, crawl_settings(context.config, outlet))
    attach_context(crawler, context)
    # The progress of earlier backfills is read when the spider opens (crawler.extensions).
    backfill = Backfill(since=context.backfill.since) if context.backfill else None
    task = runner.crawl(
        crawler,
        outlet=outlet,
        max_age_days=context.config.crawl.max_age_days,
        now=now,
        limits=discovery_limits(context.config),
        backfill=backfill,
    )
    return crawler, task


async def crawl_outlets(
    context: CrawlContext,
    outlets: list[Outlet],
    progress: Progress | None = None,
    stop: StopOnSignal | None = None,
) -> list[OutletResult]:
    """Crawl each outlet once, all at the same time, and say what each one gave; `stop`
    (held by the caller) lets SIGINT/SIGTERM end the crawls early, or not start them."""
    if stop is not None and stop.signal is not None:
        stop.enforce()  # says so
        return [OutletResult(id=outlet.id) for outlet in outlets]
    runner = AsyncCrawlerRunner()
    crawlers: list[tuple[Outlet, Crawler]] = []
    now = context.clock()
    _guard(context, outlets)
    for outlet in outlets:
        crawler, _ = _start(runner, context, outlet, now)
        crawlers.append((outlet, crawler))
        if stop is not None:
            stop.watch(crawler)
    joined = asyncio.ensure_future(runner.join())
    while not joined.done():
        if progress:
            progress.show(crawlers)
        if stop is not None:
            stop.enforce()
        await asyncio.wait([joined], timeout=0.5)
    if progress:
        progress.show(crawlers)
        progress.finish()
    joined.result()
    return [_result(outlet, crawler) for outlet, crawler in crawlers]


async def crawl_outlet(
    runner: AsyncCrawlerRunner, context: CrawlContext, outlet: Outlet, timeout: float
) -> OutletResult:
    """Crawl one outlet with a long-lived runner (the daemon's); stop it after `timeout`."""
    _guard(context, [outlet])
    crawler, task = _start(runner, context, outlet, context.clock())
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        logger.error("%s: crawl still running after %.0fs; stopping it", outlet.id, timeout)
        await crawler.stop_async()
        await task
    return _result(outlet, crawler)


def run_in_reactor(main: Callable[[], Awaitable[T]]) -> T:
    """Install Scrapy's asyncio reactor, run `main` to completion in it, return its result."""
    from scrapy.utils.reactor import install_reactor

    install_reactor(TWISTED_REACTOR)
    from twisted.internet import reactor as _reactor
    from twisted.internet.defer import Deferred

    reactor: Any = _reactor
    # A caching resolver, as Scrapy's own CrawlerProcess installs, that refuses every
    # non-public answer until a crawl names its sources (`_guard`): nothing connects to a
    # private address by a name the network guard has not allowed (DNS rebinding).
    guard_connections(NetworkPolicy())

    outcome: dict[str, Any] = {}

    async def wrapper() -> None:
        try:
            outcome["value"] = await main()
        except BaseException as exc:  # handed back to the caller below
            outcome["error"] = exc
        finally:
            reactor.callLater(0, reactor.stop)

    reactor.callWhenRunning(lambda: Deferred.fromFuture(asyncio.ensure_future(wrapper())))
    reactor.run(installSignalHandlers=False)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return, unused-ignore]
