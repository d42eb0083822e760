"""What a crawl needs besides Scrapy settings: config, database, rules, extraction workers.

Built once per process and carried by each Scrapy `Crawler` (`attach_context`), so pipelines,
middlewares and extensions read it in `from_crawler` (`crawl_context`): never from Scrapy
settings (which carry Scrapy knobs only) and never from a module global.
"""

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType

from scrapy import Spider
from scrapy.crawler import Crawler
from sqlalchemy.orm import Session

from alerts.rules import RuleSet
from crawler.config import Config
from crawler.extraction.pool import Extractor
from spiders.outlet import OutletSpider
from spiders.outlets import Outlet
from storage.articles import OutletInfo, sync_outlets
from storage.db import Database, open_database
from storage.models import ArticleRow

_ATTRIBUTE = "mediawatch_context"

# Called inside the article's write transaction with (session, the new article's row, now).
StoredHook = Callable[[Session, ArticleRow, datetime], None]


def utcnow() -> datetime:
    """The wall clock, in UTC (tests pass their own clock)."""
    return datetime.now(UTC)


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
    # Outlet names that pages may append to their titles, for title cleaning.
    site_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
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
