"""Scrapy extensions: the crawl-run recorder (each run, and rejected URLs remembered, from
Scrapy's signals) and the add-on that lets plain `scrapy crawl outlet -a outlet=ID` run."""

import asyncio
import logging
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.settings import Settings
from sqlalchemy.exc import SQLAlchemyError

from alerts.edits import EditAlerts
from alerts.outbox import AlertQueue
from crawler.config import Config, load_config
from crawler.pipelines import DropReason, Reject
from crawler.runtime.context import (
    CrawlContext,
    attach_context,
    crawl_context,
    has_context,
    outlet_spider,
)
from crawler.settings import config_settings, discovery_limits
from spiders.items import ArticlePage
from spiders.urls import url_key
from storage.articles import record_seen
from storage.runs import finish_run, start_run
from storage.statuses import TRANSIENT, CrawlStatus, SeenOutcome

logger = logging.getLogger(__name__)


class CrawlRunRecorder:
    """One crawl_runs row per outlet crawl: started, finished, fetched, new, errors by kind."""

    def __init__(self, context: CrawlContext, crawler: Crawler) -> None:
        self.context = context
        self.crawler = crawler
        self.run_id: int | None = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "CrawlRunRecorder":
        return cls(crawl_context(crawler), crawler)

    # The handlers below reach the database in a thread (Scrapy awaits async signal handlers):
    # a locked SQLite file or an unreachable PostgreSQL host must not stall the reactor.

    async def spider_opened(self, spider: Spider) -> None:
        outlet_id = outlet_spider(spider).outlet.id
        try:
            self.run_id = await asyncio.to_thread(self._start, outlet_id)
        except SQLAlchemyError as exc:
            _database_error(spider, f"outlet {outlet_id}", exc)

    def _start(self, outlet_id: str) -> int:
        with self.context.db.write() as session:
            return start_run(session, outlet_id, self.context.clock())

    async def item_dropped(
        self, item: Any, response: Any, exception: BaseException, spider: Spider
    ) -> None:
        if not isinstance(exception, Reject) or not isinstance(item, ArticlePage):
            return
        outcome = exception.outcome
        if outcome is None:
            return
        if exception.remember is not None:
            keys = {url_key(u) for u in exception.remember}
        else:
            keys = {url_key(u) for u in (item.url, item.requested_url, *item.redirect_urls)}
            if item.url_key:
                keys.add(item.url_key)
        try:
            await asyncio.to_thread(self._remember, keys, item.outlet_id, outcome)
        except SQLAlchemyError as exc:
            # Not remembered, so the next run fetches the page again: nothing is lost.
            _database_error(spider, item.url, exc)

    def _remember(self, keys: set[str], outlet_id: str, outcome: SeenOutcome) -> None:
        with self.context.db.write() as session:
            record_seen(session, keys, outlet_id, outcome, self.context.clock())

    def spider_error(self, failure: Any, response: Any, spider: Spider) -> None:
        """A bug or a page we could not handle: counted for this one item, the crawl goes on."""
        outlet_spider(spider).record_error(
            "internal",
            getattr(response, "url", "?"),
            f"{type(failure.value).__name__}: {failure.value}",
        )

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.run_id is None:
            return
        stats = self.crawler.stats
        assert stats is not None
        values = stats.get_stats()
        kinds = {
            k.removeprefix("mediawatch/errors/"): v
            for k, v in values.items()
            if k.startswith("mediawatch/errors/")
        }
        status = run_status(reason)
        if kinds.get("database") or (not values.get("mediawatch/sources_fetched") and kinds):
            # What the database could not take is fetched again next run; say so in `status`.
            status = CrawlStatus.FAILED
        try:
            await asyncio.to_thread(
                self._finish,
                status=status,
                pages_fetched=int(values.get("downloader/response_count", 0)),
                items_discovered=int(values.get("mediawatch/discovered", 0)),
                new_articles=int(values.get("mediawatch/new_articles", 0)),
                error_kinds=kinds,
                error_samples=list(getattr(spider, "error_samples", [])),
                rechecked=int(values.get("mediawatch/rechecked", 0)),
                edited=int(values.get("mediawatch/edited", 0)),
            )
        except SQLAlchemyError as exc:
            # The row stays "running" until the daemon's next start marks it interrupted.
            logger.error("could not record the end of crawl run %s: %s", self.run_id, exc)

    def _finish(self, **counts: Any) -> None:
        assert self.run_id is not None
        with self.context.db.write() as session:
            finish_run(session, self.run_id, finished_at=self.context.clock(), **counts)


class SourceMemory:
    """Hands each crawl the validators (and, in a backfill, the progress) its outlet's earlier
    runs left, settles each article against the source that announced it, and at the end
    remembers what may be skipped next time (spiders.sources explains the rule)."""

    def __init__(self, context: CrawlContext, crawler: Crawler) -> None:
        self.context = context
        self.crawler = crawler
        for handler, signal in (
            (self.spider_opened, signals.spider_opened),
            (self.spider_closed, signals.spider_closed),
            (self.item_scraped, signals.item_scraped),
            (self.item_dropped, signals.item_dropped),
            (self.item_error, signals.item_error),
            (self.request_dropped, signals.request_dropped),
            (self.spider_error, signals.spider_error),
        ):
            crawler.signals.connect(handler, signal=signal)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "SourceMemory":
        return cls(crawl_context(crawler), crawler)

    async def spider_opened(self, spider: Spider) -> None:
        crawl = outlet_spider(spider)
        try:
            if crawl.backfill is not None:
                crawl.backfill = await asyncio.to_thread(
                    self.context.backfill_for, crawl.outlet.id, crawl.backfill.since
                )
            else:
                crawl.ledger.known = await asyncio.to_thread(
                    self.context.source_validators, crawl.outlet.id
                )
        except SQLAlchemyError as exc:
            # Every source is read in full (or the backfill starts over): slower, nothing lost.
            _database_error(spider, f"outlet {crawl.outlet.id}", exc)

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        crawl = outlet_spider(spider)
        try:
            if crawl.backfill is not None:
                await asyncio.to_thread(
                    self.context.remember_backfill, crawl.outlet.id, crawl.backfill, crawl.ledger
                )
            else:
                await asyncio.to_thread(
                    self.context.remember_sources, crawl.outlet.id, crawl.ledger
                )
        except SQLAlchemyError as exc:
            # Nothing remembered: the next run reads every source in full (or continues from
            # the progress recorded before).
            logger.error("%s: could not remember its sources: %s", crawl.outlet.id, exc)

    def _settle(self, item: Any, for_good: bool, *, in_range: bool | None = None) -> None:
        if not isinstance(item, ArticlePage):
            return
        crawl = outlet_spider(self.crawler.spider)
        crawl.ledger.settled(item.ledger_key, for_good)
        if crawl.backfill is not None and in_range is not None and item.ledger_key:
            counts = crawl.backfill.in_range if in_range else crawl.backfill.too_old
            counts[item.ledger_key] = counts.get(item.ledger_key, 0) + 1

    def item_scraped(self, item: Any, response: Any, spider: Spider) -> None:
        self._settle(item, True, in_range=True)

    def item_dropped(
        self, item: Any, response: Any, exception: BaseException, spider: Spider
    ) -> None:
        if not isinstance(exception, Reject):
            self._settle(item, False)
            return
        outcome = exception.outcome
        duplicate = str(exception).startswith(f"{DropReason.DUPLICATE_URL}:")
        for_good = duplicate or (outcome is not None and outcome not in TRANSIENT)
        self._settle(
            item,
            for_good,
            in_range=False if outcome == SeenOutcome.TOO_OLD else (True if duplicate else None),
        )

    def item_error(self, item: Any, response: Any, spider: Spider, failure: Any) -> None:
        self._settle(item, False)

    def request_dropped(self, request: Any, spider: Spider) -> None:
        # The scheduler's duplicate filter: another request for the same article is on its way.
        hints = request.meta.get("mediawatch", {})
        if hints.get("role") == "article":
            outlet_spider(spider).ledger.settled(hints.get("ledger"), True)

    def spider_error(self, failure: Any, response: Any, spider: Spider) -> None:
        hints = getattr(response, "meta", {}).get("mediawatch", {})
        if hints.get("role") == "article":
            outlet_spider(spider).ledger.settled(hints.get("ledger"), False)


def _database_error(spider: Spider, url: str, exc: SQLAlchemyError) -> None:
    """Count a database failure for one item like any other per-item error; the crawl goes on."""
    outlet_spider(spider).record_error("database", url, f"{type(exc).__name__}: {exc}")


def run_status(reason: str) -> CrawlStatus:
    """A crawl run's status from Scrapy's close reason: "finished" is ok, the others are kept.

    A reason we do not know (a CloseSpider raised with its own words) is recorded as failed:
    the run did not finish, and crawl_runs.status only takes CrawlStatus values.
    """
    if reason == "finished":
        return CrawlStatus.OK
    try:
        return CrawlStatus(reason)
    except ValueError:
        return CrawlStatus.FAILED


class StandaloneCrawl:
    """Scrapy add-on for `scrapy crawl outlet -a outlet=ID` run from a checkout.

    mediawatch's runner attaches a context to every crawler it starts; a crawler started by
    Scrapy's own command has none, so this builds one from the usual configuration
    (`--config` is not available there: `$MEDIAWATCH_CONFIG` or ./mediawatch.toml) and looks
    the outlet id up in it. It does nothing for crawls that already carry a context.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.config: Config | None = None
        if has_context(crawler):
            return
        config = self.config = load_config()
        context = CrawlContext.create(config)
        # As `mediawatch crawl` does: alerts are queued with the article, or never.
        queue = AlertQueue(config.subscriptions)
        context.on_stored.append(queue.enqueue_for_article)
        context.on_edited.append(EditAlerts(queue, config.subscriptions).enqueue_for_edit)
        attach_context(crawler, context)
        crawler.signals.connect(context.close, signal=signals.engine_stopped)
        spider: Any = crawler.spider
        if spider is not None and not hasattr(spider, "outlet"):
            outlet = config.active_outlet(spider.outlet_id)
            if outlet is None:
                raise ValueError(
                    f"unknown outlet {spider.outlet_id!r}; see `mediawatch outlets list`"
                )
            max_age_days = spider.requested_max_age_days or config.crawl.max_age_days
            spider.use_outlet(outlet, max_age_days, discovery_limits(config))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "StandaloneCrawl":
        return cls(crawler)

    def update_settings(self, settings: Settings) -> None:
        """The configuration's [crawl] knobs (user agent, robots.txt, delays, limits), above
        the settings module's defaults and below `scrapy crawl -s NAME=VALUE`."""
        if self.config is not None:
            settings.setdict(config_settings(self.config), priority="spider")
