"""`mediawatch status`: per-outlet health from the crawl runs, the alert queue, the heartbeat
and the Redis queue."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from crawler.archive.clock import UTC_ZONE, for_person
from crawler.archive.rulestate import DRIFT_MESSAGE, rules_changed, rules_fingerprint
from crawler.config import Config
from crawler.config.model import redacted_url
from crawler.service.health import HEARTBEAT_KEY, Health, health, recent_runs
from crawler.service.jobs import describe_queue
from storage.db import Database
from storage.outbox import alert_counts
from storage.runs import OutletStatus, outlet_statuses
from storage.state import get_state
from storage.statuses import AlertStatus


@dataclass
class StatusReport:
    """What `mediawatch status` shows."""

    outlets: list[tuple[OutletStatus, Health]]
    alerts: dict[str, int]
    heartbeat: str | None
    queue: dict[str, Any] | None = None
    # the stored articles were scored with other topics than the configured ones
    rules_changed: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "outlets": [
                {
                    "id": s.outlet_id,
                    "health": h,
                    "last_crawl": s.last_started.isoformat() if s.last_started else None,
                    "last_finished": s.last_finished.isoformat() if s.last_finished else None,
                    "result": s.last_status,
                    "pages_fetched": s.last_pages,
                    "new_articles": s.last_new,
                    "errors": s.last_errors,
                    "error_kinds": s.last_error_kinds,
                    "runs_without_new": s.runs_without_new,
                    "articles": s.articles,
                }
                for s, h in self.outlets
            ],
            "alerts": self.alerts,
            "pending_alerts": self.alerts.get(AlertStatus.PENDING, 0),
            "daemon_heartbeat": self.heartbeat,
            "queue": self.queue,
            "rules_changed": self.rules_changed,
        }

    def as_text(self, zone: ZoneInfo = UTC_ZONE) -> str:
        """The report for a person; its times (last crawls, heartbeat, workers last seen) in
        `zone` (the display zone), the zone named."""
        lasts = [for_person(s.last_started, zone, "-") for s, _ in self.outlets]
        # "2026-11-26 19:30 UTC" fits 20 characters; a longer zone name widens the column.
        wide = max([20, *map(len, lasts)])
        lines = [
            f"{'OUTLET':22} {'HEALTH':13} {'LAST CRAWL':{wide}} {'RESULT':8} {'PAGES':>5} "
            f"{'NEW':>4} {'ERR':>4} {'STORED':>6}"
        ]
        for (s, h), last in zip(self.outlets, lasts, strict=True):
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(s.last_error_kinds.items()))
            lines.append(
                f"{s.outlet_id:22} {h:13} {last:{wide}} {s.last_status or '-':8} {s.last_pages:>5} "
                f"{s.last_new:>4} {s.last_errors:>4} {s.articles:>6}"
                + (f"  ({kinds})" if kinds else "")
            )
        a = self.alerts
        lines.append(
            f"alerts: {a.get('pending', 0)} pending, {a.get('sent', 0)} sent, "
            f"{a.get('failed', 0)} failed"
        )
        lines.append(f"daemon heartbeat: {_heartbeat_text(self.heartbeat, zone)}")
        if self.rules_changed:
            lines.append(f"topics changed: {DRIFT_MESSAGE}")
        if self.queue is not None:
            lines.extend(_queue_lines(self.queue, zone))
        return "\n".join(lines)


def _heartbeat_text(heartbeat: str | None, zone: ZoneInfo) -> str:
    """The last heartbeat to the second in `zone`; a stored value we cannot read, as it is."""
    if not heartbeat:
        return "never (mediawatch run has not run)"
    try:
        return for_person(heartbeat, zone, seconds=True)
    except ValueError:
        return heartbeat


def _queue_lines(q: dict[str, Any], zone: ZoneInfo = UTC_ZONE) -> list[str]:
    """The Redis queue: its length, then one line per worker (host, pid, last seen in `zone`
    to the second, job)."""
    if "error" in q:
        return [f"queue {q['url']}: {q['error']}"]
    jobs, workers = q["queued"], q["workers"]
    lines = [
        f"queue {q['url']}: {jobs} job{'' if jobs == 1 else 's'} waiting, "
        f"{workers} worker{'' if workers == 1 else 's'}"
    ]
    for w in q.get("worker_details", []):
        seen = for_person(w["last_seen"], zone, "never", seconds=True)
        job = f"crawling {w['current_job']}" if w["current_job"] else "idle"
        lines.append(
            f"  worker {w['host']} pid {w['pid']}: {job}, last seen {seen}, "
            f"{w['jobs_done']} job{'' if w['jobs_done'] == 1 else 's'} done, "
            f"{w['jobs_failed']} failed"
        )
    return lines


def status_report(config: Config, now: datetime, db: Database) -> StatusReport:
    """Outlet health, alert counts and heartbeat read from the open database `db`, and the
    queue."""
    with db.read() as session:
        ids = [o.id for o in config.active_outlets()]
        statuses = outlet_statuses(session, ids, recent_runs(config))
        alerts = alert_counts(session)
        heartbeat = get_state(session, HEARTBEAT_KEY)
        changed = rules_changed(session, rules_fingerprint(config.topics))
    after = config.alerts.unhealthy_after_runs
    queue = queue_status(config) if config.queue.url else None
    return StatusReport(
        [(s, health(s, after)) for s in statuses], alerts, heartbeat, queue, changed
    )


def queue_status(config: Config) -> dict[str, Any]:
    """Jobs waiting and workers alive on the Redis queue, or why it cannot be read."""
    try:
        return describe_queue(config)
    except Exception as exc:  # noqa: BLE001 - Redis down is a status to show, not a crash
        # Redis errors name the host, never the password, but the URL shown must hide it too.
        error = f"{type(exc).__name__}: {exc}".replace(
            config.queue.url, redacted_url(config.queue.url)
        )
        return {"url": redacted_url(config.queue.url), "error": error}
