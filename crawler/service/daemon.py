"""`mediawatch run`: crawl every outlet on its interval, alert within seconds, digest on time.

One asyncio process: APScheduler's AsyncIOScheduler drives `async def` jobs on the loop
that Scrapy's asyncio reactor runs on, and one AsyncCrawlerRunner serves every crawl (the
reactor cannot be restarted, so it is never stopped while the daemon lives). Blocking work
(SMTP, digests) runs in threads. The database is the only memory: a restart, or a kill -9,
loses nothing and repeats nothing.
"""

import asyncio
import logging
import os
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from scrapy.crawler import AsyncCrawlerRunner

from alerts.delivery import deliver_pending
from alerts.digest import DigestResult, send_digests
from alerts.edits import EditAlerts
from alerts.outbox import AlertQueue
from alerts.spike_watch import check_spikes
from crawler.config import Config
from crawler.runtime.context import CrawlContext
from crawler.service.health import HEARTBEAT_KEY, OutletWatch
from crawler.service.jobs import CrawlQueue
from crawler.service.runner import crawl_outlet, run_in_reactor
from spiders.outlets import Outlet
from storage.runs import mark_interrupted
from storage.searchkeys import articles_without_keys, key_older_articles
from storage.similar import refresh_term_frequencies
from storage.state import set_state

logger = logging.getLogger(__name__)
ALERT_EVERY = timedelta(seconds=5)
DIGEST_EVERY = timedelta(seconds=60)
SPIKE_EVERY = timedelta(minutes=15)  # and after each crawl
HEARTBEAT_EVERY = timedelta(seconds=15)
TERM_FREQUENCIES_EVERY = timedelta(minutes=15)  # a check; the refresh itself is rarer
FIRST_CRAWLS_SPREAD = timedelta(seconds=30)
SNAPSHOT_FIRST_AFTER = timedelta(minutes=5)
SEARCH_KEYS_EVERY = timedelta(seconds=30)  # articles without current search keys, keyed
# Once every article is keyed, how long before looking again: an older version still running
# (a worker not yet restarted after an upgrade) writes articles without this version's keys.
SEARCH_KEYS_RECHECK = timedelta(minutes=10)
# A job that starts later than this after its due time is logged: the daemon has more to do
# than one process can (a busy event loop, too many outlets on short intervals).
LATE_START = timedelta(seconds=1)


class Daemon:
    """The long-running process behind `mediawatch run`, on a crawl context it does not own
    (`run_daemon` opens and closes it)."""

    def __init__(self, config: Config, context: CrawlContext) -> None:
        self.config = config
        self.context = context
        self.queue = AlertQueue(config.subscriptions)
        self.context.on_stored.append(self.queue.enqueue_for_article)
        self.context.on_edited.append(EditAlerts(self.queue, config.subscriptions).enqueue_for_edit)
        self.outlets = config.active_outlets()
        self.watch = OutletWatch(config, self.context.db)
        self.stopping = asyncio.Event()
        self.runner: AsyncCrawlerRunner | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.jobs: set[asyncio.Task[Any]] = set()
        self.queue_out: CrawlQueue | None = CrawlQueue(config) if config.queue.url else None
        self.jobs_started = 0
        self.keys_done_at: datetime | None = None  # when every article had its search keys
        self.keys_runs = 0  # runs of _search_keys that keyed something, for its log lines
        self.latest_start = timedelta(0)  # the largest delay between a job's due time and start

    def now(self) -> datetime:
        return self.context.clock()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        with self.context.db.write() as session:
            if n := mark_interrupted(session, self.now()):
                logger.warning("%d crawl runs were interrupted by the last shutdown", n)
        self.runner = AsyncCrawlerRunner()
        self.scheduler = self._schedule(loop)
        self.scheduler.start()
        logger.info(
            "mediawatch running: %d outlets, %d subscriptions, database %s",
            len(self.outlets),
            len(self.config.subscriptions),
            self.context.db.engine.url.render_as_string(hide_password=True),
        )
        await self.stopping.wait()
        await self._shutdown()
        return 0

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(
            event_loop=loop,
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        now = self.now()
        spread = FIRST_CRAWLS_SPREAD / max(len(self.outlets), 1)
        for i, outlet in enumerate(self.outlets):
            interval = self.config.outlet_interval(outlet)
            scheduler.add_job(
                self._crawl,
                IntervalTrigger(
                    seconds=interval.total_seconds(), jitter=min(interval.total_seconds() * 0.1, 60)
                ),
                args=[outlet],
                id=f"crawl:{outlet.id}",
                name=f"crawl {outlet.id}",
                next_run_time=now + spread * i,
                # a run that could not start on time still runs once, late, not never
                misfire_grace_time=int(max(interval.total_seconds(), 60)),
            )
        housekeeping = [
            (self._alerts, ALERT_EVERY, timedelta(minutes=1)),
            (self._digests, DIGEST_EVERY, timedelta(minutes=5)),
            (self._spikes, SPIKE_EVERY, timedelta(minutes=15)),
            (self._heartbeat, HEARTBEAT_EVERY, timedelta(minutes=1)),
            (self._term_frequencies, TERM_FREQUENCIES_EVERY, timedelta(minutes=15)),
            (self._search_keys, SEARCH_KEYS_EVERY, timedelta(minutes=1)),
        ]
        scheduler.add_listener(self._on_job_submitted, EVENT_JOB_SUBMITTED)
        for job, every, grace in housekeeping:
            # The snapshot's first check waits for the first crawls: on a large PostgreSQL
            # archive taking it costs about a minute of the database's time.
            first = now + (SNAPSHOT_FIRST_AFTER if job == self._term_frequencies else timedelta())
            scheduler.add_job(
                job,
                IntervalTrigger(seconds=every.total_seconds()),
                id=job.__name__.strip("_"),
                next_run_time=first,
                misfire_grace_time=int(grace.total_seconds()),
            )
        return scheduler

    def _on_job_submitted(self, event: JobSubmissionEvent) -> None:
        """Measure how late each job starts after its due time; warn past LATE_START."""
        late = datetime.now(UTC) - max(event.scheduled_run_times)
        self.jobs_started += 1
        self.latest_start = max(self.latest_start, late)
        if late > LATE_START:
            logger.warning(
                "job %s started %.1fs after its due time: the daemon has more work than it can "
                "start on time (fewer outlets, longer intervals, or workers: see [queue])",
                event.job_id,
                late.total_seconds(),
            )

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.stopping.is_set():
            logger.warning("second %s: stopping now", sig.name)
            os._exit(1)
        logger.info("%s received: finishing current work, then stopping", sig.name)
        self.stopping.set()

    def _track(self) -> None:
        """Remember the running job, so shutdown can wait for it instead of cancelling it."""
        task = asyncio.current_task()
        if task is not None:
            self.jobs.add(task)
            task.add_done_callback(self.jobs.discard)

    async def _crawl(self, outlet: Outlet) -> None:
        if self.stopping.is_set() or self.runner is None:
            return
        self._track()
        if self.queue_out is not None:
            try:
                if not await asyncio.to_thread(self.queue_out.submit, outlet):
                    logger.info("%s: previous crawl job still queued or running", outlet.id)
            except Exception:
                logger.exception("%s: could not queue the crawl job; will try again", outlet.id)
            return
        timeout = self.config.crawl.run_timeout.total_seconds() + 60
        try:
            result = await crawl_outlet(self.runner, self.context, outlet, timeout)
        except Exception:
            logger.exception("%s: crawl failed", outlet.id)
            return
        logger.info(
            "%s: %d pages, %d new articles, %d errors",
            outlet.id,
            result.pages_fetched,
            result.new_articles,
            result.errors,
        )
        try:
            await asyncio.to_thread(self.watch.check, outlet, self.now())
        except Exception:
            logger.exception("%s: health check failed", outlet.id)
        if result.new_articles:
            await self._spikes()

    async def _alerts(self) -> None:
        self._track()
        try:
            await asyncio.to_thread(
                deliver_pending, self.config, self.context.db, self.context.rules, self.now()
            )
        except Exception:
            logger.exception("alert delivery failed; will try again")

    async def _digests(self) -> None:
        self._track()
        try:
            for o in await asyncio.to_thread(
                send_digests, self.config, self.context.db, self.context.rules, self.now()
            ):
                if o.status != DigestResult.ALREADY_SENT:
                    logger.info(
                        "digest %s for %s: %d entries, %s", o.period, o.email, o.entries, o.status
                    )
        except Exception:
            logger.exception("digest delivery failed; will try again")

    async def _spikes(self) -> None:
        """Judge today's stories per topic; record spikes and queue their alerts (once)."""
        self._track()
        topics = [t.id for t in self.config.topics]
        try:
            await asyncio.to_thread(
                check_spikes, self.config.subscriptions, topics, self.context.db, self.now()
            )
        except Exception:
            logger.exception("spike detection failed; will try again")

    async def _heartbeat(self) -> None:
        self._track()

        def beat() -> None:
            with self.context.db.write() as session:
                set_state(session, HEARTBEAT_KEY, self.now().isoformat(), self.now())

        try:
            await asyncio.to_thread(beat)
        except Exception:
            logger.exception("could not record the heartbeat")

    async def _term_frequencies(self) -> None:
        """Refresh more like this's document-frequency snapshot once it is stale (seconds at
        200,000 articles, in a thread: web requests never wait for it)."""
        self._track()
        started = self.now()
        try:
            taken = await asyncio.to_thread(refresh_term_frequencies, self.context.db, started)
        except Exception:
            logger.exception("could not refresh the term frequencies; will try again")
            return
        if taken is not None:
            logger.info(
                "term frequencies of %d articles taken in %.0fs",
                taken.articles,
                (self.now() - started).total_seconds(),
            )

    async def _search_keys(self) -> None:
        """Key the articles without current keys (before 0015, emptied by 0016 or 0017), a few
        batches a run (in a thread), so that their phrases and single-word keys are found through
        the index too; a line every tenth run says how many are left. Once none is left, it
        looks again every SEARCH_KEYS_RECHECK."""
        if self.stopping.is_set():
            return
        if self.keys_done_at is not None and self.now() - self.keys_done_at < SEARCH_KEYS_RECHECK:
            return
        self._track()
        db = self.context.db
        try:
            keyed, done = await asyncio.to_thread(key_older_articles, db, self.stopping.is_set)
            self.keys_done_at = self.now() if done else None
            if keyed and (self.keys_runs % 10 == 0 or done):
                left = await asyncio.to_thread(self._articles_without_keys)
                logger.info("search keys: %d articles keyed, %d to go", keyed, left)
        except Exception:
            logger.exception("could not compute search keys; will try again")
            return
        if keyed:
            self.keys_runs += 1

    def _articles_without_keys(self) -> int:
        with self.context.db.read() as session:
            return articles_without_keys(session)

    async def _shutdown(self) -> None:
        """Pause the scheduler, let running crawls stop (or give up after the grace period),
        deliver what is queued, then shut the scheduler down: in that order, since shutting
        the scheduler down first would cancel crawls half-way."""
        assert self.scheduler is not None and self.runner is not None
        self.scheduler.pause()
        grace = self.config.crawl.shutdown_grace.total_seconds()
        if self.runner.crawlers:
            logger.info(
                "stopping %d running crawls (grace %.0fs)", len(self.runner.crawlers), grace
            )
            try:
                await asyncio.wait_for(self.runner.stop(), grace)
                await asyncio.wait_for(self.runner.join(), grace)
            except TimeoutError:
                logger.warning("crawls did not stop within %.0fs; leaving them", grace)
        if self.jobs:
            await asyncio.wait(set(self.jobs), timeout=grace)
        await self._alerts()
        self.scheduler.shutdown(wait=False)
        logger.info(
            "scheduler: %d jobs started, the latest %.2fs after its due time",
            self.jobs_started,
            self.latest_start.total_seconds(),
        )


def run_daemon(config: Config) -> int:
    """Run until SIGTERM or SIGINT; the exit status."""

    async def main() -> int:
        with CrawlContext.create(config) as context:
            status = await Daemon(config, context).run()
        logger.info("mediawatch stopped")
        return status

    return run_in_reactor(main)
