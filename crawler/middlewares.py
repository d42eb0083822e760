"""Downloader middleware: never fetch an article URL the database already knows."""

from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler

from crawler.runtime.context import CrawlContext, crawl_context
from spiders.outlet import AlreadySeen
from spiders.urls import url_key
from storage.articles import known_url_keys


class KnownUrlMiddleware:
    """Drops article requests whose URL key is in seen_urls: the database is the memory."""

    def __init__(self, context: CrawlContext, crawler: Crawler) -> None:
        self.context = context
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "KnownUrlMiddleware":
        return cls(crawl_context(crawler), crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> Any:
        if request.meta.get("mediawatch", {}).get("role") != "article":
            return None
        with self.context.db.read() as session:
            if known_url_keys(session, [url_key(request.url)]):
                self.stats.inc_value("mediawatch/skipped_known")
                raise AlreadySeen(f"already fetched: {request.url}")
        return None
