"""Item pipelines: a fetched page becomes a scored, stored article (and queued alerts).

ExtractPipeline → ArticlePipeline (canonical URL, date, age) → ScorePipeline → StorePipeline.
Expected rejects raise Reject (a DropItem) saying why; CrawlRunRecorder remembers the URL so
it is not fetched again (gone, not_article and challenge: not before their retry time).
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, NoReturn, TypeVar

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from alerts.assessment import assess
from crawler.extraction.page import readable_title
from crawler.extraction.pool import ExtractionFailed
from crawler.runtime.context import CrawlContext, crawl_context, outlet_spider
from crawler.runtime.rechecks import store_recheck
from spiders.diagnosis import looks_like_challenge
from spiders.identity import is_section_like, is_variant
from spiders.items import ArticlePage, DeadLink, PageText
from spiders.recheck import RecheckPage
from spiders.urls import BadURL, clean_url, same_site, url_key
from storage.articles import (
    NewArticle,
    NewMatch,
    insert_article,
    other_article_at,
    record_seen,
)
from storage.db import Database
from storage.statuses import SeenOutcome
from storage.versions import first_recheck

logger = logging.getLogger(__name__)
Job = TypeVar("Job")
Result = TypeVar("Result")
# Clocks and time zones disagree by hours, not days; a later publication date is not believed.
FUTURE_DATE_TOLERANCE = timedelta(days=1)


class DropReason(StrEnum):
    """Why a page is dropped without remembering its URL, so a later crawl may fetch it."""

    EXTRACTION_FAILED = "extraction_failed"  # a worker crashed or timed out
    DUPLICATE_URL = "duplicate_url"  # insert_article remembered its URLs already
    DATABASE_ERROR = "database_error"
    BAD_URL = "bad_url"  # its URL cannot be keyed (spiders.urls.BadURL)
    REDIRECTED = "redirected"  # a re-check that landed on the home page: its version stands


class Reject(DropItem):
    """An expected reason not to store a page; a SeenOutcome is remembered for its URLs (the
    page's, the one asked for and those on the way, or `remember` when given)."""

    def __init__(
        self, reason: SeenOutcome | DropReason, url: str, remember: Sequence[str] | None = None
    ) -> None:
        # Expected, so logged at INFO; real failures are counted and logged as warnings.
        super().__init__(f"{reason}: {url}", log_level="INFO")
        self.outcome = reason if isinstance(reason, SeenOutcome) else None
        self.remember = remember


class _Stage:
    def __init__(self, context: CrawlContext, crawler: Crawler) -> None:
        self.context = context
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:
        return cls(crawl_context(crawler), crawler)

    def _error(self, kind: str, url: str, reason: str) -> None:
        """Count a per-item failure the way the spider counts fetch failures."""
        outlet_spider(self.crawler.spider).record_error(kind, url, reason)

    def _sources(self) -> list[str]:
        """The outlet's feeds, sitemaps and listings: a page there is no article's own."""
        return [url for _, url in outlet_spider(self.crawler.spider).outlet.sources()]


class ExtractPipeline(_Stage):
    """Clean text and metadata out of the HTML, in the worker processes.

    The workers are shared by every outlet: after MAX_OVERRUNS pages of one outlet's run
    have each held a worker until the deadline, the rest of that run is not extracted
    (counted, fetched again next run), so one hostile outlet cannot starve the others.
    """

    MAX_OVERRUNS = 3

    def __init__(self, context: CrawlContext, crawler: Crawler) -> None:
        super().__init__(context, crawler)
        self.overruns = 0

    def _given_up(self) -> bool:
        return self.overruns >= self.MAX_OVERRUNS

    def _skip(self, url: str) -> NoReturn:
        """Count a page not extracted because this run's pages keep overrunning; not
        remembered, so it is fetched again next run."""
        self._error(
            "extraction",
            url,
            f"not extracted: {self.overruns} pages of this outlet ran past the deadline "
            "in this run",
        )
        raise Reject(DropReason.EXTRACTION_FAILED, url)

    def _refuse_redirect_off_article(self, item: ArticlePage) -> None:
        """An article URL redirected to the home page, a section or a feed is not an article
        (a site's glitch, or the article taken down): counted, and its URLs (not the page it
        landed on) remembered as not_article, so they are fetched again on RETRY_SCHEDULE."""
        if not item.redirect_urls:
            return
        try:
            off = is_section_like(item.url, item.requested_url, self._sources())
        except BadURL:
            return  # ArticlePipeline counts a URL that names no place
        if not off:
            return
        if isinstance(item, RecheckPage):
            # A stored article's re-check: the home page is no new version of it (an
            # "Edited:" email about the home page). Dropped; its next re-check looks again.
            reason: SeenOutcome | DropReason = DropReason.REDIRECTED
            said, remember = "the stored version stands", None
        else:
            reason = SeenOutcome.NOT_ARTICLE
            said, remember = "not an article", item.redirect_urls
        self._error(
            "redirected",
            item.requested_url,
            f"redirected to {item.url}, the home page or a section: {said}; fetched again later",
        )
        raise Reject(reason, item.url, remember=remember)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticlePage):
            return item
        self._refuse_redirect_off_article(item)
        if self._given_up():
            self._skip(item.url)
        names = self.context.site_names.get(item.outlet_id, ())
        try:
            item.extracted = await self.context.extractor.extract(
                item.html, item.url, names, give_up=self._given_up
            )
        except ExtractionFailed as exc:
            self.overruns += exc.overran
            if self._given_up() and not exc.overran:
                self._skip(item.url)
            self._error("extraction", item.url, str(exc))
            # A page that ran past the deadline would again: it is remembered (and retried on
            # not_article's schedule) rather than fetched and failed on every run; a crash may
            # be the machine's (memory), so that page stays free to be fetched again.
            reason = SeenOutcome.NOT_ARTICLE if exc.overran else DropReason.EXTRACTION_FAILED
            raise Reject(reason, item.url) from exc
        page, item.html = item.html, ""  # the text is what is kept; free the page early
        if item.extracted is None:
            # A challenge is told apart only when no article came out: real articles may
            # mention "captcha" or "access denied". Both outcomes are retried later.
            if looks_like_challenge(page[:20_000].encode("utf-8", "replace")):
                self._error("challenge", item.url, "article answered with a bot-challenge page")
                raise Reject(SeenOutcome.CHALLENGE, item.url)
            raise Reject(SeenOutcome.NOT_ARTICLE, item.url)
        return item


def _extracted(item: ArticlePage) -> PageText:
    """What ExtractPipeline found; the later stages only ever see pages it let through."""
    if item.extracted is None:
        raise RuntimeError(f"{item.url} reached a pipeline stage before extraction")
    return item.extracted


class ArticlePipeline(_Stage):
    """Canonical URL, publication date and the age limit.

    A canonical link files the article under another URL only when it names a variant of the
    fetched one that is not section-like (spiders.identity); StorePipeline then checks that no
    other article is stored there (one stored earlier in this crawl included). One ignored is
    counted (`canonical_ignored`) and the page keeps the URL it was fetched from.
    """

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticlePage):
            return item
        extracted = _extracted(item)
        try:
            item.own_url = clean_url(item.url)
            canonical = item.own_url
            if extracted.canonical_url and self._believed(item, extracted):
                canonical = clean_url(extracted.canonical_url)
            item.canonical_url = canonical
            item.url_key = url_key(item.canonical_url)
            item.aliases = sorted(
                {url_key(u) for u in (item.url, item.requested_url, *item.redirect_urls)}
                - {item.url_key}
            )
        except BadURL as exc:  # a canonical link naming no place; the page is the site's
            self._error("parse", item.url, str(exc))
            raise Reject(DropReason.BAD_URL, item.url) from exc
        # A date more than a day ahead is a mistake or a bid to sort first for ever: neither
        # the page's nor the feed's is trusted then, and first seen stands in when none is.
        latest = self.context.clock() + FUTURE_DATE_TOLERANCE
        page_date = extracted.published if _not_after(extracted.published, latest) else None
        hint_date = item.hint_published if _not_after(item.hint_published, latest) else None
        # A date the page declares beats the feed's; the feed's beats one htmldate inferred
        # from the page's text (which can be any date the article mentions).
        if page_date and (extracted.date_declared or not hint_date):
            item.published, item.date_source = page_date, "page"
        elif hint_date:
            item.published, item.date_source = hint_date, item.hint_date_source or "feed"
        if item.hint_title:  # a feed's title is as long as the feed likes
            item.hint_title = readable_title(item.hint_title) or None
        too_old = item.published and item.published < self._oldest()
        if too_old and not isinstance(item, RecheckPage):  # stored already: kept up to date
            # Counted for the crawl's summary: fetched, then found older than the reach.
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("mediawatch/too_old")
            raise Reject(SeenOutcome.TOO_OLD, item.url)
        return item

    def _believed(self, item: ArticlePage, extracted: PageText) -> bool:
        """Whether the page's canonical link may name the article (class doc); raises BadURL
        for a canonical link that names no place."""
        canonical = extracted.canonical_url or item.url
        if not same_site(canonical, item.url):
            return False
        if url_key(canonical) == url_key(item.url):
            return True
        if not is_variant(canonical, item.url):
            why = "names another page"
        elif is_section_like(canonical, item.url, self._sources()):
            why = "names the home page or a section"
        else:
            return True
        self._ignore_canonical(item.url, canonical, why)
        return False

    def _ignore_canonical(self, url: str, canonical: str, why: str) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("mediawatch/canonical_ignored")
        logger.info("canonical link %s ignored: it %s; filed under %s", canonical, why, url)

    def _oldest(self) -> datetime:
        """The oldest publication date kept: --since in a backfill, else max_age_days ago."""
        backfill = outlet_spider(self.crawler.spider).backfill
        if backfill is not None:
            return backfill.since
        return self.context.clock() - timedelta(days=self.context.config.crawl.max_age_days)


def _not_after(value: datetime | None, latest: datetime) -> bool:
    return value is not None and value <= latest


class ScorePipeline(_Stage):
    """Match the topics' terms and compute the relevance score (pure, cheap)."""

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticlePage):
            return item
        extracted = _extracted(item)
        title = extracted.title or item.hint_title or ""
        assessment = assess(title, extracted.text, self.context.rules)
        item.matches, item.score = assessment.matches, assessment.total
        return item


class ArticleWriter(Generic[Job, Result]):
    """Group commit: the articles that arrive while one write transaction runs are stored
    together in the next, each by `store(session, job)`, instead of one transaction each.

    Nothing is remembered before it is stored: an article and its URLs' "seen" rows are
    written in the same transaction, and `write()` returns only once it is committed; a
    crash before that loses the transaction, and the page is fetched again. The writes run
    in a thread, never on the event loop. When a transaction fails for one article's sake
    (a constraint, a hook's error), the batch is written again one article per transaction,
    so the others are stored and only that one fails, as if each had been alone; a database
    that cannot be written at all (OperationalError: locked, gone) fails the whole batch,
    but not one article's PostgreSQL program limit (_one_articles).
    """

    MAX_BATCH = 64

    def __init__(self, db: Database, store: Callable[[Session, Job], Result]) -> None:
        self.db = db
        self.store = store
        self._pending: list[tuple[Job, asyncio.Future[Result]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def write(self, job: Job) -> Result:
        """Store `job` (with whatever else is waiting); its result once committed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Result] = loop.create_future()
        self._pending.append((job, done))
        if self._writing is None:
            self._writing = loop.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.MAX_BATCH]
                del self._pending[: self.MAX_BATCH]
                try:
                    outcomes = await asyncio.to_thread(self._write, [job for job, _ in batch])
                except BaseException:  # cancelled (the loop is closing): nobody is left hanging
                    for _, done in [*batch, *self._pending]:
                        done.cancel()
                    self._pending.clear()
                    raise
                for (_, done), outcome in zip(batch, outcomes, strict=True):
                    if done.done():
                        continue
                    if isinstance(outcome, _Failed):
                        done.set_exception(outcome.error)
                    else:
                        done.set_result(outcome)
        finally:
            self._writing = None

    def _write(self, jobs: list[Job]) -> "list[Result | _Failed]":
        try:
            with self.db.write() as session:
                return [self.store(session, job) for job in jobs]
        except OperationalError as exc:
            if len(jobs) == 1 or not _one_articles(exc):
                return [_Failed(exc)] * len(jobs)
        except Exception as exc:
            if len(jobs) == 1:
                return [_Failed(exc)]
        outcomes: list[Result | _Failed] = []
        for job in jobs:
            try:
                with self.db.write() as session:
                    outcomes.append(self.store(session, job))
            except Exception as exc:
                outcomes.append(_Failed(exc))
        return outcomes


def _one_articles(exc: OperationalError) -> bool:
    """Whether the error is one article's, not the database's: a PostgreSQL program limit
    (SQLSTATE class 54: a page of a million characters of distinct words is too much for
    one tsvector), which psycopg reports as an OperationalError like a lost connection."""
    return str(getattr(exc.orig, "sqlstate", None) or "").startswith("54")


@dataclass(frozen=True)
class _Failed:
    error: Exception


class StorePipeline(_Stage):
    """Write the article, its matches, its URL aliases and its alerts in one transaction
    (with the other articles waiting to be written: ArticleWriter)."""

    def __init__(self, context: CrawlContext, crawler: Crawler) -> None:
        super().__init__(context, crawler)
        self.writer = ArticleWriter(context.db, self._store)

    async def process_item(self, item: Any) -> Any:
        try:
            if isinstance(item, DeadLink):
                try:
                    key = url_key(item.url)
                except BadURL as exc:
                    self._error("parse", item.url, str(exc))
                    return item
                await asyncio.to_thread(self._record_dead, item, key)
                return item
            if isinstance(item, RecheckPage):
                if await asyncio.to_thread(store_recheck, self.context, item) is not None:
                    assert self.crawler.stats is not None
                    self.crawler.stats.inc_value("mediawatch/edited")
                return item
            if isinstance(item, ArticlePage):
                stored = await self.writer.write(item)
                if item.canonical_refused:
                    assert self.crawler.stats is not None
                    self.crawler.stats.inc_value("mediawatch/canonical_ignored")
                if stored:
                    assert self.crawler.stats is not None
                    self.crawler.stats.inc_value("mediawatch/new_articles")
                else:
                    raise Reject(DropReason.DUPLICATE_URL, item.url)
        except SQLAlchemyError as exc:
            one = isinstance(exc, OperationalError) and _one_articles(exc)
            if one and isinstance(item, ArticlePage):
                # Beyond a PostgreSQL limit (a tsvector over 1 MB), as it would be on every
                # run: remembered as too large, so it is not fetched and extracted again.
                reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
                self._error("too_large", item.url, f"too large to index for search: {reason}")
                raise Reject(SeenOutcome.TOO_LARGE, item.url) from exc
            self._error("database", getattr(item, "url", "?"), f"{type(exc).__name__}: {exc}")
            raise Reject(DropReason.DATABASE_ERROR, getattr(item, "url", "?")) from exc
        return item

    def _record_dead(self, item: DeadLink, key: str) -> None:
        with self.context.db.write() as session:
            outcome = SeenOutcome(item.outcome)  # the spider's word for it, as storage keeps it
            record_seen(session, [key], item.outlet_id, outcome, self.context.clock())

    def _store(self, session: Session, item: ArticlePage) -> bool:
        x = _extracted(item)
        assert item.canonical_url and item.url_key and item.own_url
        if item.canonical_url != item.own_url and other_article_at(
            session, item.url_key, x.simhash
        ):
            # Its canonical link names another stored article: filed under its own URL, and
            # that article's URL is not made an alias of this one.
            logger.info(
                "canonical link %s ignored: another article is stored there; filed under %s",
                item.canonical_url,
                item.url,
            )
            item.canonical_url = item.own_url
            item.url_key = url_key(item.own_url)
            item.aliases = [k for k in item.aliases if k != item.url_key]
            item.canonical_refused = True
        new = NewArticle(
            url=item.canonical_url,
            url_key=item.url_key,
            outlet_id=item.outlet_id,
            title=x.title or item.hint_title or "",
            text=x.text,
            published=item.published,
            date_source=item.date_source,
            score=item.score,
            simhash=x.simhash,
            author=x.author,
            language=x.language,
            site_name=x.site_name,
            matches=[NewMatch(m.topic, m.term, m.title_count, m.text_count) for m in item.matches],
            aliases=item.aliases,
            etag=item.etag,
            last_modified=item.last_modified,
        )
        now = self.context.clock()
        if outlet_spider(self.crawler.spider).backfill is None:  # a backfill's are old: no edits
            new.next_recheck_at = first_recheck(now, self.context.config.crawl.recheck)
        row = insert_article(session, new, now)
        if row is None:
            return False
        for hook in self.context.on_stored:
            hook(session, row, now)
        return True
