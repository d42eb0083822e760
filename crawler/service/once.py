"""`mediawatch crawl`: one crawl cycle, then delivery of pending alerts."""

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from crawler.config import Config
from crawler.runtime.context import CrawlContext
from crawler.service.runner import OutletResult, Progress, crawl_outlets, run_in_reactor
from spiders.outlets import Outlet

logger = logging.getLogger(__name__)


@dataclass
class CycleSummary:
    """The result of `mediawatch crawl`, in the contract's JSON shape."""

    outlets: list[OutletResult]
    alerts_queued: int

    @property
    def new_articles(self) -> int:
        return sum(r.new_articles for r in self.outlets)

    def as_json(self) -> dict[str, Any]:
        return {
            "outlets": [r.as_json() for r in self.outlets],
            "new_articles": self.new_articles,
            "alerts_queued": self.alerts_queued,
        }


def crawl_once(config: Config, outlets: list[Outlet], progress: bool = False) -> CycleSummary:
    """Crawl these outlets once in a fresh reactor (so: once per process)."""
    with CrawlContext.create(config, extra=outlets) as context:
        from alerts.outbox import AlertQueue

        queue = AlertQueue(config.subscriptions)
        context.on_stored.append(queue.enqueue_for_article)
        results = run_in_reactor(
            lambda: crawl_outlets(context, outlets, Progress() if progress else None)
        )
        from alerts.delivery import deliver_pending

        try:
            deliver_pending(config, context.db, context.rules, context.clock())
        except SQLAlchemyError as exc:
            # The crawl's summary (database errors counted) matters more; queued alerts wait
            # in the database for the next delivery round.
            logger.error("alerts not delivered now, the database is unavailable: %s", exc)
        return CycleSummary(outlets=results, alerts_queued=queue.queued)
