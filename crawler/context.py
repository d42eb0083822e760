"""What a crawl needs besides Scrapy settings: config, database, rules, extraction workers.

Built once per process and handed to Scrapy components through the crawler's settings
(`MEDIAWATCH_CONTEXT`), so pipelines are built in from_crawler and never from a global.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alerts.rules import RuleSet
from crawler.config import Config
from crawler.outlets import Outlet
from crawler.workers import Extractor
from storage.articles import OutletInfo, sync_outlets
from storage.db import Database

SETTING = "MEDIAWATCH_CONTEXT"


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

    def __deepcopy__(self, memo: dict[int, Any]) -> "CrawlContext":
        # Scrapy deep-copies settings; the context is shared by design (one DB, one pool).
        return self

    def close(self) -> None:
        self.extractor.close()
        self.db.dispose()


_standalone: CrawlContext | None = None


def context_from_settings(settings: Any) -> CrawlContext:
    """The context a component should use.

    mediawatch always passes one; under plain `scrapy crawl outlet -a outlet=ID` there is
    none, so one is built from the usual configuration, once per process.
    """
    global _standalone
    context: CrawlContext | None = settings.get(SETTING)
    if context is not None:
        return context
    if _standalone is None:
        from crawler.config import load_config

        _standalone = CrawlContext.create(load_config())
    return _standalone
