"""Re-checks for edits, the crawl's side: hand the spider its outlet's due re-checks, and
store what a re-fetched page turned out to be (storage/versions.py decides if it is an edit).

Re-checks share [crawl] max_articles_per_run with new articles: at most half of it goes to
re-checks in one run (the longest waiting first), so new articles always have the rest.
"""

import asyncio
import logging

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from sqlalchemy.exc import SQLAlchemyError

from alerts.edits import Matched
from crawler.runtime.context import CrawlContext, crawl_context, outlet_spider
from spiders.recheck import Recheck, RecheckPage
from storage.models import ArticleRow
from storage.versions import Refetched, VersionMatch, apply_recheck, claim_due_rechecks

logger = logging.getLogger(__name__)


def recheck_budget(max_articles_per_run: int) -> int:
    """How many re-checks one run of an outlet may make."""
    return max(1, max_articles_per_run // 2)


class RecheckHandOver:
    """Scrapy extension: when an outlet's crawl opens, give its spider the due re-checks.

    Scrapy awaits spider_opened before the spider's start requests are read, so the list is
    there when `OutletSpider.start` yields them after the sources.
    """

    def __init__(self, context: CrawlContext, crawler: Crawler) -> None:
        self.context = context
        self.crawler = crawler
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "RecheckHandOver":
        return cls(crawl_context(crawler), crawler)

    async def spider_opened(self, spider: Spider) -> None:
        crawl = outlet_spider(spider)
        if getattr(crawl, "backfill", None) is not None:
            return  # a backfill reads the past; re-checks wait for the regular runs
        try:
            crawl.rechecks = await asyncio.to_thread(self._claim, crawl.outlet.id)
        except SQLAlchemyError as exc:
            # Nothing was claimed: the re-checks stay due for the next run.
            crawl.record_error("database", crawl.outlet.id, f"re-checks: {exc}")
            return
        if crawl.rechecks:
            logger.info(
                "%s: %d articles re-checked for edits", crawl.outlet.id, len(crawl.rechecks)
            )

    def _claim(self, outlet_id: str) -> list[Recheck]:
        crawl = self.context.config.crawl
        with self.context.db.write() as session:
            due = claim_due_rechecks(
                session,
                outlet_id,
                crawl.recheck,
                self.context.clock(),
                recheck_budget(crawl.max_articles_per_run),
            )
        return [Recheck(d.article_id, d.url, d.etag, d.last_modified) for d in due]


def store_recheck(context: CrawlContext, item: RecheckPage) -> int | None:
    """Compare a re-fetched page with its article and store it if it is an edit; run the
    context's on_edited hooks (alerts) in the same transaction. The new version, or None."""
    extracted = item.extracted
    if extracted is None:
        raise RuntimeError(f"{item.url} reached StorePipeline before extraction")
    page = Refetched(
        title=extracted.title or item.hint_title or "",
        text=extracted.text,
        score=item.score,
        matches=[VersionMatch(m.topic, m.term, m.title_count, m.text_count) for m in item.matches],
        etag=item.etag,
        last_modified=item.last_modified,
    )
    now = context.clock()
    with context.db.write() as session:
        stored = session.get(ArticleRow, item.article_id)
        # what the version before this one matched: only a subscription it did not match is
        # told of the article as new (an article a backfill stored quietly stays quiet)
        before = (
            Matched(frozenset(m.topic for m in stored.matches), stored.score)
            if stored is not None
            else Matched(frozenset(), 0.0)
        )
        result = apply_recheck(session, item.article_id, page, now)
        if result.article is None or result.version is None:
            return None
        for hook in context.on_edited:
            hook(session, result.article, result.version, now, before)
        return result.version
