"""What a crawl needs besides Scrapy settings: config, database, rules, extraction workers.

Built once per process and carried by each Scrapy `Crawler` (`attach_context`), so pipelines,
middlewares and extensions read it in `from_crawler` (`crawl_context`): never from Scrapy
settings (which carry Scrapy knobs only) and never from a module global.
"""

import logging
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType

from scrapy import Spider
from scrapy.crawler import Crawler
from sqlalchemy.orm import Session

from alerts.edits import Matched
from alerts.rules import RuleSet
from crawler.archive.rulestate import DRIFT_MESSAGE, note_crawl_rules, rules_fingerprint
from crawler.config import Config
from crawler.extraction.pool import Extractor
from spiders.backfill import Backfill
from spiders.outlet import OutletSpider
from spiders.outlets import Outlet
from spiders.sources import SourceLedger, Validators
from storage.articles import OutletInfo, sync_outlets
from storage.db import Database, open_database
from storage.models import ArticleRow
from storage.sources import (
    SourceProgress,
    StoredValidators,
    load_progress,
    load_validators,
    note_max_age,
    save_progress,
    save_validators,
)

logger = logging.getLogger(__name__)
_ATTRIBUTE = "mediawatch_context"

# Called inside the article's write transaction with (session, the new article's row, now).
StoredHook = Callable[[Session, ArticleRow, datetime], None]
# Called inside the re-check's write transaction with (session, the edited article's row, its
# new version, now, what the previous version matched): crawler.runtime.rechecks.
EditedHook = Callable[[Session, ArticleRow, int, datetime, Matched], None]


def utcnow() -> datetime:
    """The wall clock, in UTC (tests pass their own clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class BackfillRun:
    """`crawl --since`: reach back to `since` (max_age_days does not apply); alert only when
    `alert` (the articles are stored, so digests and trends see them either way)."""

    since: datetime
    alert: bool = False


@dataclass
class CrawlContext:
    """Everything a crawl shares: config, database, rules, workers, hooks.

    It owns its database and extraction workers: `create()` opens them and `close()` (or
    the end of a `with` block) releases them, once.
    """

    config: Config
    db: Database
    rules: RuleSet
    extractor: Extractor
    clock: Callable[[], datetime] = field(default=utcnow)
    # The alert outbox hooks in here, so an article and its alerts are stored together or
    # not at all.
    on_stored: list[StoredHook] = field(default_factory=list)
    # Re-scoring after an edit hooks in here (alerts for the new version), likewise.
    on_edited: list[EditedHook] = field(default_factory=list)
    # Outlet names that pages may append to their titles, for title cleaning.
    site_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    backfill: BackfillRun | None = None
    _resources: ExitStack = field(default_factory=ExitStack, repr=False, compare=False)

    @classmethod
    def create(cls, config: Config, extra: Sequence[Outlet] = ()) -> "CrawlContext":
        """Open the database (migrating it), register the outlets in use (and `extra`) and
        start the extraction workers."""
        with ExitStack() as resources:
            db = resources.enter_context(open_database(config.database.url))
            outlets = {o.id: o for o in [*config.active_outlets(), *extra]}
            with db.write() as session:
                sync_outlets(
                    session,
                    [OutletInfo(o.id, o.name, o.country, o.language) for o in outlets.values()],
                )
                if note_crawl_rules(session, rules_fingerprint(config.topics), utcnow()):
                    logger.warning(DRIFT_MESSAGE)
                if forgotten := note_max_age(session, config.crawl.max_age_days, utcnow()):
                    logger.info(
                        "max_age_days is now %d: %d pages once too old are fetched again "
                        "when their outlets list them",
                        config.crawl.max_age_days,
                        forgotten,
                    )
            extractor = Extractor(
                config.crawl.extract_workers, config.crawl.extract_deadline.total_seconds()
            )
            resources.callback(extractor.close)
            return cls(
                config=config,
                db=db,
                rules=RuleSet(config.topics),
                extractor=extractor,
                site_names={o.id: (o.name,) for o in outlets.values()},
                _resources=resources.pop_all(),
            )

    # What crawls remember about their sources (spiders never read the database themselves).

    def source_validators(self, outlet_id: str) -> dict[str, Validators]:
        """The validators the outlet's last runs left, for conditional requests."""
        with self.db.read() as session:
            stored = load_validators(session, outlet_id)
        return {
            url: Validators(v.etag, v.last_modified, Validators.children_from_json(v.children))
            for url, v in stored.items()
        }

    def remember_sources(self, outlet_id: str, ledger: SourceLedger) -> None:
        """Keep the validators of sources whose articles are all settled; forget the others'."""
        keep = {
            url: StoredValidators(v.etag, v.last_modified, v.children_as_json())
            for url, v in ledger.to_remember().items()
        }
        with self.db.write() as session:
            save_validators(session, outlet_id, keep, ledger.to_forget(), self.clock())

    def backfill_for(self, outlet_id: str, since: datetime) -> Backfill:
        """A backfill to `since`, knowing what earlier runs finished for `since` or earlier."""
        backfill = Backfill(since=since)
        with self.db.read() as session:
            marks = load_progress(session, outlet_id)
        for mark in marks:
            if mark.since > since:  # finished for later articles only: read again
                continue
            if mark.kind == "sitemap" and mark.complete:
                backfill.finished_sitemaps.add(mark.source)
            elif mark.kind == "listing":
                backfill.listing_pages_done[mark.source] = mark.pages_done
                if mark.complete:
                    backfill.listings_complete.add(mark.source)
        return backfill

    def remember_backfill(self, outlet_id: str, backfill: Backfill, ledger: SourceLedger) -> None:
        """Record the child sitemaps and listing pages this run finished (every article they
        gave settled), so the next run with the same --since continues after them."""
        since = backfill.since
        marks = [
            SourceProgress(url, "sitemap", since, 1, True)
            for url in backfill.sitemaps_read
            if ledger.is_settled(url)
        ]
        for walk in backfill.walks.values():
            done = walk.first_page - 1
            for page in walk.pages:
                if not ledger.is_settled(page):
                    break
                done += 1
            complete = walk.ended and done == walk.first_page - 1 + len(walk.pages)
            if done >= walk.first_page or complete:
                marks.append(SourceProgress(walk.url, "listing", since, done, complete))
        with self.db.write() as session:
            save_progress(session, outlet_id, marks, self.clock())

    def close(self) -> None:
        """Stop the extraction workers, then dispose of the database."""
        self._resources.close()

    def __enter__(self) -> "CrawlContext":
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()


def outlet_spider(spider: Spider | None) -> OutletSpider:
    """The crawl's spider: every mediawatch crawl runs one outlet's OutletSpider, which counts
    per-item errors (`record_error`) for the run and `status`."""
    if not isinstance(spider, OutletSpider):
        raise RuntimeError(f"mediawatch's Scrapy components need an OutletSpider, not {spider!r}")
    return spider


def attach_context(crawler: Crawler, context: CrawlContext) -> None:
    """Give `crawler` the context its components will read in from_crawler."""
    setattr(crawler, _ATTRIBUTE, context)


def has_context(crawler: Crawler) -> bool:
    """Whether `crawler` already carries a context."""
    return isinstance(getattr(crawler, _ATTRIBUTE, None), CrawlContext)


def crawl_context(crawler: Crawler) -> CrawlContext:
    """The context `crawler` carries; mediawatch's runner and the standalone add-on attach one."""
    context = getattr(crawler, _ATTRIBUTE, None)
    if not isinstance(context, CrawlContext):
        raise RuntimeError(
            "this Scrapy crawler carries no mediawatch crawl context: start crawls with "
            "crawler.service.runner, or `scrapy crawl outlet -a outlet=ID` (whose add-on adds one)"
        )
    return context
