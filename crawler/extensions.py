"""Records each crawl run and remembers rejected URLs, from Scrapy's signals."""

import logging
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from sqlalchemy.exc import SQLAlchemyError

from crawler.context import CrawlContext, context_from_settings
from crawler.items import ArticlePage
from crawler.pipelines import Reject
from crawler.urls import url_key
from storage.articles import record_seen
from storage.runs import finish_run, start_run

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
        return cls(context_from_settings(crawler.settings), crawler)

    def spider_opened(self, spider: Spider) -> None:
        outlet_id: str = spider.outlet.id  # type: ignore[attr-defined]
        with self.context.db.write() as session:
            self.run_id = start_run(session, outlet_id, self.context.clock())

    def item_dropped(
        self, item: Any, response: Any, exception: BaseException, spider: Spider
    ) -> None:
        if not (
            isinstance(exception, Reject) and exception.remember and isinstance(item, ArticlePage)
        ):
            return
        keys = {url_key(u) for u in (item.url, item.requested_url, *item.redirect_urls)}
        if item.url_key:
            keys.add(item.url_key)
        try:
            with self.context.db.write() as session:
                record_seen(session, keys, item.outlet_id, exception.outcome, self.context.clock())
        except SQLAlchemyError as exc:
            logger.error("could not remember %s as %s: %s", item.url, exception.outcome, exc)

    def spider_error(self, failure: Any, response: Any, spider: Spider) -> None:
        """A bug or a page we could not handle: counted for this one item, the crawl goes on."""
        spider.record_error(  # type: ignore[attr-defined]
            "internal",
            getattr(response, "url", "?"),
            f"{type(failure.value).__name__}: {failure.value}",
        )

    def spider_closed(self, spider: Spider, reason: str) -> None:
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
        status = "ok" if reason == "finished" else reason
        if not values.get("mediawatch/sources_fetched") and kinds:
            status = "failed"
        with self.context.db.write() as session:
            finish_run(
                session,
                self.run_id,
                finished_at=self.context.clock(),
                status=status,
                pages_fetched=int(values.get("downloader/response_count", 0)),
                items_discovered=int(values.get("mediawatch/discovered", 0)),
                new_articles=int(values.get("mediawatch/new_articles", 0)),
                error_kinds=kinds,
                error_samples=list(getattr(spider, "error_samples", [])),
            )
