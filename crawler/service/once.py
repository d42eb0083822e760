"""`mediawatch crawl`: one crawl cycle, the spike check if it stored something, delivery of
pending alerts, then more like this's term-frequency snapshot if it is stale."""

import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from crawler.config import Config
from crawler.runtime.context import BackfillRun, CrawlContext
from crawler.service.runner import (
    BackfillProgress,
    OutletResult,
    Progress,
    crawl_outlets,
    run_in_reactor,
)
from crawler.service.stopping import StopOnSignal
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
    stop: StopOnSignal | None = None,
    snapshot: bool = True,
) -> CycleSummary:
    """Crawl these outlets once in a fresh reactor (so: once per process).

    A `backfill` reaches back to its date; its articles are stored (digests and trends see
    them) but queue no alerts unless it says so. `stop`, held by the caller from its first
    line (`with StopOnSignal().held() as stop`), so that a signal while the crawl code loads or
    the database opens is not lost: SIGINT/SIGTERM end the crawls cleanly, and the summary
    says so. `snapshot`: the daemon's upkeep of the archive, for `crawl` from cron: retake
    more like this's snapshot when it is stale, and key some articles stored without search
    keys; not in a worker's job (crawler.service.jobs), which has a timeout and runs beside
    other workers' jobs: the daemon that queues the jobs does both.
    """
    if stop is not None and stop.signal is not None:
        # Stopped while the crawl code loaded: nothing is opened, fetched or sent.
        empty = [OutletResult(id=outlet.id) for outlet in outlets]
        return CycleSummary(outlets=empty, alerts_queued=0, stopped_by=stop.signal.name)
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
        results = run_in_reactor(lambda: crawl_outlets(context, outlets, shown, stop))
        step = stop.finishing if stop is not None else lambda step: None
        queued = queue.queued
        if any(r.new_articles for r in results) and (backfill is None or backfill.alert):
            step("the spike check")
            queued += _spike_alerts(config, context)
        from alerts.delivery import deliver_pending

        step("the alerts' delivery")
        try:
            deliver_pending(config, context.db, context.rules, context.clock())
        except SQLAlchemyError as exc:
            # The crawl's summary (database errors counted) matters more; queued alerts wait
            # in the database for the next delivery round.
            logger.error("alerts not delivered now, the database is unavailable: %s", exc)
        if snapshot and not (stop and stop.signal) and any(r.new_articles for r in results):
            step("the refresh of more like this's snapshot")
            _refresh_term_frequencies(context)
        if snapshot and not (stop and stop.signal):
            step("the batch of search keys under way")
            _fill_search_keys(context, stop)
        # Read last: a signal during the spike check, the delivery or the refresh (none of
        # them is cut short) still ends the command as stopped, exit 130/143, not 0.
        stopped = stop.signal.name if stop and stop.signal else None
        return CycleSummary(outlets=results, alerts_queued=queued, stopped_by=stopped)


def _spike_alerts(config: Config, context: CrawlContext) -> int:
    """The daemon's spike check, after a crawl that stored something (so `crawl` from cron
    alerts spikes too); the alerts it queued. It is idempotent: a spike is alerted once per
    topic, day and subscription however often it runs, here or in the daemon."""
    from alerts.spike_watch import check_spikes

    topics = [t.id for t in config.topics]
    # As in the daemon, a failure is logged and the crawl's summary stands: the next check
    # (the daemon's, or the next crawl's) finds the spike again.
    try:
        found = check_spikes(config.subscriptions, topics, context.db, context.clock())
    except SQLAlchemyError as exc:
        logger.error("spikes not checked now, the database is unavailable: %s", exc)
        return 0
    except Exception:
        logger.exception("spike detection failed; the next crawl checks again")
        return 0
    return sum(s.queued for s in found)


def _fill_search_keys(context: CrawlContext, stop: StopOnSignal | None = None) -> None:
    """Key some articles stored without current keys (PostgreSQL), as the daemon does
    continuously, so that `crawl` from cron gets there too: 2,000 a run, a few seconds, a
    signal heeded between batches. A failure is logged and changes nothing of the crawl's
    summary or exit status."""
    from storage.searchkeys import articles_without_keys, key_older_articles

    try:
        keyed, _ = key_older_articles(context.db, lambda: bool(stop and stop.signal))
        if keyed:
            with context.db.read() as session:
                left = articles_without_keys(session)
            logger.info("search keys: %d articles keyed, %d to go", keyed, left)
    except SQLAlchemyError as exc:
        logger.error("search keys not computed now, the database is unavailable: %s", exc)
    except Exception:
        logger.exception("could not compute search keys; the next crawl tries again")


def _refresh_term_frequencies(context: CrawlContext) -> None:
    """The daemon's refresh of more like this's document frequencies, so that `crawl` from
    cron with `web` gets a snapshot too. It does nothing while the snapshot is fresh; a
    failure is logged and changes nothing of the crawl's summary or exit status (the next
    crawl, or the daemon, tries again)."""
    from storage.similar import refresh_term_frequencies

    started = time.monotonic()
    try:
        taken = refresh_term_frequencies(context.db, context.clock())
    except SQLAlchemyError as exc:
        logger.error("term frequencies not refreshed now, the database is unavailable: %s", exc)
        return
    except Exception:
        logger.exception("could not refresh the term frequencies; the next crawl tries again")
        return
    if taken is not None:
        logger.info(
            "term frequencies of %d articles taken in %.1fs",
            taken.articles,
            time.monotonic() - started,
        )
