"""Source health: the verdict for one outlet, and after each crawl, telling the operator when an
outlet goes quiet or is blocked."""

import logging
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from enum import StrEnum

from alerts.delivery import make_transport
from alerts.errors import DeliveryError
from crawler.config import Config
from spiders.outlets import Outlet
from storage.db import Database
from storage.runs import OutletStatus, outlet_statuses
from storage.state import get_state, set_state
from storage.statuses import CrawlStatus

logger = logging.getLogger(__name__)
HEARTBEAT_KEY = "daemon_heartbeat"


class Health(StrEnum):
    """An outlet's verdict, as `status` shows it; the last one is kept in state as health:ID."""

    OK = "ok"
    NEVER_CRAWLED = "never crawled"
    BLOCKED = "blocked"
    FAILING = "failing"
    STALE = "stale"  # no new article for N runs
    EMPTY = "empty"  # stale, and nothing ever stored


UNHEALTHY = {Health.BLOCKED, Health.FAILING, Health.STALE, Health.EMPTY}


def health(s: OutletStatus, unhealthy_after: int) -> Health:
    """The verdict `status` shows: never crawled, blocked, failing, empty, stale or ok."""
    if s.last_status is None:
        return Health.NEVER_CRAWLED
    kinds = s.last_error_kinds
    if kinds.get("blocked") or kinds.get("challenge"):
        return Health.BLOCKED
    if s.last_status == CrawlStatus.FAILED:
        return Health.FAILING
    if s.articles == 0 and s.last_new == 0 and s.last_errors:
        # Nothing stored ever, and the last run's requests failed or were refused (every
        # article on another host than the feed's, say): not "ok" until a run stores one.
        return Health.FAILING
    if s.runs_without_new >= unhealthy_after and s.articles == 0:
        return Health.EMPTY
    if s.runs_without_new >= unhealthy_after:
        return Health.STALE
    return Health.OK


def recent_runs(config: Config) -> int:
    """The runs to look back over for an outlet's health: 20, or enough to see
    unhealthy_after_runs of them (more than 20 never found an outlet stale)."""
    return max(20, config.alerts.unhealthy_after_runs)


class OutletWatch:
    """Logs every health change; emails [alerts] operator when an outlet turns unhealthy."""

    def __init__(self, config: Config, db: Database) -> None:
        self.config = config
        self.db = db

    def check(self, outlet: Outlet, now: datetime) -> Health:
        key = f"health:{outlet.id}"
        with self.db.read() as session:
            [status] = outlet_statuses(session, [outlet.id], recent_runs(self.config))
            before = get_state(session, key) or Health.OK
        state = health(status, self.config.alerts.unhealthy_after_runs)
        if state == before:
            return state
        with self.db.write() as session:
            set_state(session, key, state, now)
        if state in UNHEALTHY:
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(status.last_error_kinds.items()))
            detail = (
                f"{outlet.name} ({outlet.id}) is {state}: last run {status.last_status}, "
                f"{status.runs_without_new} runs without a new article"
                + (f", errors: {kinds}" if kinds else "")
            )
            logger.warning("%s", detail)
            self._tell_operator(outlet, state, detail)
        else:
            logger.info("%s is %s again", outlet.id, state)
        return state

    def _tell_operator(self, outlet: Outlet, state: Health, detail: str) -> None:
        operator = self.config.alerts.operator
        if not operator:
            return
        msg = EmailMessage()
        msg["From"] = self.config.email.from_
        msg["To"] = operator
        msg["Subject"] = f"[mediawatch] outlet {outlet.id} is {state}"
        msg["Message-ID"] = make_msgid("mediawatch.health")
        msg.set_content(
            detail + "\n\nRun `mediawatch outlets check " + outlet.id + "` to diagnose.\n"
        )
        transport = make_transport(self.config.email)
        try:
            transport.send(msg)
        except DeliveryError as exc:
            logger.error("could not tell the operator about %s: %s", outlet.id, exc)
        finally:
            transport.close()
