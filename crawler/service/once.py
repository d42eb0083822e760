"""`mediawatch crawl`: one crawl cycle, then delivery of pending alerts."""

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from crawler.config import Config
from crawler.runtime.context import BackfillRun, CrawlContext
from crawler.service.runner import (
    BackfillProgress,
    OutletResult,
    Progress,
    StopOnSignal,
    crawl_outlets,
    run_in_reactor,
)
from spiders.outlets import Outlet

logger = logging.getLogger(__name__)


@dataclass
class CycleSummary:
    """The result of `mediawatch crawl`, in the contract's JSON shape."""

    outlets: list[OutletResult]
    alerts_queued: int
    # SIGINT or SIGTERM stopped the crawls before they finished (`crawl` only).
    stopped_by: str | None = None

    @property
    def new_articles(self) -> int:
        return sum(r.new_articles for r in self.outlets)

    def as_json(self) -> dict[str, Any]:
        return {
            "outlets": [r.as_json() for r in self.outlets],
            "new_articles": self.new_articles,
            "alerts_queued": self.alerts_queued,
        }


def crawl_once(
    config: Config,
    outlets: list[Outlet],
    progress: bool = False,
    backfill: BackfillRun | None = None,
    stop_on_signals: bool = False,
) -> CycleSummary:
    """Crawl these outlets once in a fresh reactor (so: once per process).

    A `backfill` reaches back to its date; its articles are stored (digests and trends see
    them) but queue no alerts unless it says so. `stop_on_signals`: SIGINT/SIGTERM end the
    crawls cleanly, and the summary says so.
    """
    with CrawlContext.create(config, extra=outlets) as context:
        from alerts.edits import EditAlerts
        from alerts.outbox import AlertQueue

        context.backfill = backfill
        queue = AlertQueue(config.subscriptions)
        if backfill is None or backfill.alert:
            context.on_stored.append(queue.enqueue_for_article)
        context.on_edited.append(EditAlerts(queue, config.subscriptions).enqueue_for_edit)
        shown: Progress | None = None
        if progress:
            shown = BackfillProgress(backfill.since.date().isoformat()) if backfill else Progress()
        stop = StopOnSignal() if stop_on_signals else None
        results = run_in_reactor(lambda: crawl_outlets(context, outlets, shown, stop))
        from alerts.delivery import deliver_pending

        try:
            deliver_pending(config, context.db, context.rules, context.clock())
        except SQLAlchemyError as exc:
            # The crawl's summary (database errors counted) matters more; queued alerts wait
            # in the database for the next delivery round.
            logger.error("alerts not delivered now, the database is unavailable: %s", exc)
        stopped = stop.signal.name if stop and stop.signal else None
        return CycleSummary(outlets=results, alerts_queued=queue.queued, stopped_by=stopped)
