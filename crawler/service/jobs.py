"""Crawl jobs over Redis (RQ), for when one machine is not enough.

With `[queue] url` set, `mediawatch run` schedules as before but hands each outlet's crawl to
an RQ queue instead of running it; any number of `mediawatch worker` processes, on any
machines that reach Redis and the (PostgreSQL) database, take the jobs. RQ forks a fresh
process per job, which is exactly what Scrapy needs (one reactor per process). Alerts and
digests stay with the daemon; workers also deliver what their crawl queued, and the
claim on each alert keeps that from ever sending one twice.

A job carries the outlet id and the configuration file's path, never the configuration: it
would put the web token and the database password into Redis for days. The job loads the
file where it runs.
"""

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis import Redis, RedisError
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.worker import BaseWorker

from crawler.config import Config, load_config
from crawler.config.errors import ConfigError, MediawatchError
from crawler.config.model import redacted_url
from spiders.outlets import Outlet

logger = logging.getLogger(__name__)
BUSY = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
# A worker renews its job's lease this often; a job whose lease lapsed lost its worker.
HEARTBEAT_SECONDS = 10
# RQ's own grace is 60 s past the heartbeat: two missed heartbeats are enough to call a
# crawl's worker dead (kill -9, the OOM killer, a lost machine) and queue the outlet again.
LEASE_GRACE_SECONDS = 2 * HEARTBEAT_SECONDS


def crawl_job(config_path: str, outlet_id: str) -> dict[str, Any]:
    """Run in a worker's job process: crawl one outlet once, then check its health."""
    from crawler.service.health import OutletWatch
    from crawler.service.once import crawl_once
    from storage.db import open_database

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise MediawatchError(
            f"crawl of {outlet_id!r}: the configuration {config_path} can no longer be loaded "
            f"({exc}); fix it on this worker's machine, and the next scheduled crawl runs"
        ) from None
    outlet = config.active_outlet(outlet_id)
    if outlet is None:
        raise MediawatchError(f"outlet {outlet_id!r} is not in the configuration {config_path}")
    # The daemon that queues the jobs retakes more like this's snapshot: here it could
    # outlast the job's timeout, and every worker would take it at once.
    summary = crawl_once(config, [outlet], snapshot=False)
    with open_database(config.database.url) as db:
        OutletWatch(config, db).check(outlet, datetime.now(UTC))
    return summary.as_json()


def connect(config: Config) -> Redis:
    """A Redis client for [queue] url; a ConfigError when it is not set."""
    if not config.queue.url:
        raise ConfigError(
            f"{config.source}: queue.url is empty; set it, e.g. url = 'redis://127.0.0.1:6379/0'"
        )
    return Redis.from_url(config.queue.url)


class CrawlWorker(Worker):
    """RQ's forking worker with a short job lease, so a dead worker's crawl is retaken soon."""

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        interval = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            interval = min(interval, max(int(job.timeout - working_time), 0))
        return int(interval) + LEASE_GRACE_SECONDS


class CrawlQueue:
    """The daemon's side: one job per outlet at a time."""

    def __init__(self, config: Config) -> None:
        self.config = config
        path = Path(config.source)
        if not path.is_file():
            raise ConfigError(
                f"{config.source}: crawl jobs name the configuration file workers load, and "
                "this configuration was not read from one; start with --config PATH"
            )
        # Absolute, so a worker started in another directory finds the same file.
        self.config_path = str(path.resolve())
        self.redis = connect(config)
        self.queue = Queue(config.queue.name, connection=self.redis)

    def submit(self, outlet: Outlet) -> bool:
        """Queue a crawl of `outlet`, unless one is already queued or running."""
        job_id = f"crawl-{outlet.id}"
        # A started job whose worker died holds no lease any more: RQ's cleanup marks it
        # failed (abandoned), so the outlet is not blocked until some worker's maintenance.
        self.queue.started_job_registry.cleanup()
        try:
            existing = Job.fetch(job_id, connection=self.redis)
        except Exception:  # noqa: BLE001 - rq raises NoSuchJobError or a Redis error
            existing = None
        if existing is not None and existing.get_status() in BUSY:
            return False
        timeout = int(self.config.crawl.run_timeout.total_seconds()) + 120
        self.queue.enqueue(
            crawl_job,
            self.config_path,
            outlet.id,
            job_id=job_id,
            job_timeout=timeout,
            result_ttl=3600,
            failure_ttl=7 * 86400,
        )
        return True


def run_worker(config: Config, burst: bool = False) -> None:
    """Take crawl jobs until stopped (SIGTERM finishes the current job first)."""
    redis = connect(config)
    shown = redacted_url(config.queue.url)
    logger.info("worker for queue %s on %s", config.queue.name, shown)
    try:
        worker = CrawlWorker(
            [Queue(config.queue.name, connection=redis)],
            connection=redis,
            job_monitoring_interval=HEARTBEAT_SECONDS,
        )
        worker.work(burst=burst, logging_level="WARNING")
    except RedisError as exc:
        # Redis errors name the host, not the password; the URL we add is redacted.
        raise MediawatchError(
            f"the Redis queue at {shown} cannot be used: {exc}; check [queue] url and that Redis "
            "is running"
        ) from None


def describe_queue(config: Config) -> dict[str, Any]:
    """For `mediawatch status`: jobs waiting, and each worker alive with what it is doing."""
    redis = connect(config)
    queue = Queue(config.queue.name, connection=redis)
    workers = sorted(Worker.all(queue=queue), key=lambda w: w.name)
    return {
        "url": redacted_url(config.queue.url),
        "name": config.queue.name,
        "queued": queue.count,
        "workers": len(workers),
        "worker_details": [_describe_worker(w) for w in workers],
    }


def _describe_worker(worker: BaseWorker) -> dict[str, Any]:
    """One worker as `status` shows it: where it runs, when it was last heard from, its job."""
    seen = worker.last_heartbeat
    if seen is not None and seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)  # RQ keeps UTC without saying so
    job = worker.get_current_job_id()
    return {
        "name": worker.name,
        "host": worker.hostname,
        "pid": worker.pid,
        "state": str(worker.get_state()),
        "last_seen": seen.isoformat() if seen else None,
        # job ids are "crawl-<outlet id>": the outlet it is crawling
        "current_job": job.removeprefix("crawl-") if job else None,
        "jobs_done": worker.successful_job_count,
        "jobs_failed": worker.failed_job_count,
    }
