"""What a crawl needs besides Scrapy settings: config, database, rules, extraction workers.

Built once per process and carried by each Scrapy `Crawler` (`attach_context`), so pipelines,
middlewares and extensions read it in `from_crawler` (`crawl_context`): never from Scrapy
settings (which carry Scrapy knobs only) and never from a module global.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scrapy.crawler import Crawler

from alerts.rules import RuleSet
from crawler.config import Config
from crawler.extraction.pool import Extractor
from spiders.outlets import Outlet
from storage.articles import OutletInfo, sync_outlets
from storage.db import Database

_ATTRIBUTE = "mediawatch_context"


def utcnow() -> datetime:
    """The wall clock, in UTC (tests pass their own clock)."""
    return datetime.now(UTC)


@dataclass
class CrawlContext:
    """Everything a crawl shares: config, database, rules, workers, hooks."""

    config: Config
    db: Database
    rules: RuleSet
    extractor: Extractor
    clock: Callable[[], datetime] = field(default=utcnow)
    # Called inside the article's write transaction: (session, article row, now). The alert
    # outbox hooks in here, so an article and its alerts are stored together or not at all.
    on_stored: list[Callable[[Any, Any, datetime], None]] = field(default_factory=list)
    # Outlet names that pages may append to their titles, for title cleaning.
    site_names: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def create(
        cls, config: Config, db: Database | None = None, extra: Sequence[Outlet] = ()
    ) -> "CrawlContext":
        """Open the database (migrating it) and register the outlets in use (and `extra`)."""
        if db is None:
            db = Database(config.database.url)
            db.upgrade()
        outlets = {o.id: o for o in [*config.active_outlets(), *extra]}
        with db.write() as session:
            sync_outlets(
                session,
                [OutletInfo(o.id, o.name, o.country, o.language) for o in outlets.values()],
            )
        return cls(
            config=config,
            db=db,
            rules=RuleSet(config.topics),
            extractor=Extractor(config.crawl.extract_workers),
            site_names={o.id: (o.name,) for o in outlets.values()},
        )

    def close(self) -> None:
        self.extractor.close()
        self.db.dispose()


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
