"""The email commands (`alerts list`, `alerts flush`, `digest`) over the alerts package."""

from datetime import UTC, datetime
from typing import Any

from alerts.delivery import DeliveryReport, deliver_pending
from alerts.digest import preview_digests, send_digests
from alerts.rules import RuleSet
from crawler.archive.shapes import iso
from crawler.archive.since import parse_since
from crawler.config import Config
from storage.db import open_database
from storage.outbox import list_alerts


def list_alert_rows(config: Config, status: str | None, limit: int) -> list[dict[str, Any]]:
    """The outbox for `alerts list`, newest first."""
    with open_database(config.database.url) as db, db.read() as session:
        return [
            {
                "id": a.id,
                "status": a.status,
                "subscription": a.subscription,
                "article_id": a.article_id,
                "title": a.title,
                "url": a.url,
                "attempts": a.attempts,
                "last_error": a.last_error,
                "created_at": iso(a.created_at),
                "sent_at": iso(a.sent_at),
                "next_attempt_at": iso(a.next_attempt_at),
            }
            for a in list_alerts(session, status, limit)
        ]


def flush_alerts(config: Config, now: datetime | None = None) -> DeliveryReport:
    """Deliver every pending alert, also those whose next try is later (the user asked)."""
    far = datetime.max.replace(tzinfo=UTC)
    with open_database(config.database.url) as db:
        return deliver_pending(
            config, db, RuleSet(config.topics), now or datetime.now(UTC), due_before=far
        )


def digests_now(
    config: Config, since_text: str | None, send: bool, now: datetime | None = None
) -> list[str]:
    """`mediawatch digest`: preview or send every subscription's digest."""
    now = now or datetime.now(UTC)
    since = parse_since(since_text, now)
    with open_database(config.database.url) as db:
        rules = RuleSet(config.topics)
        if send:
            outcomes = send_digests(config, db, rules, now, since)
            return [
                f"{o.email}: digest {o.period}: {o.entries} entries: {o.status}" for o in outcomes
            ] or ["no digests due (every subscription has digest = off?)"]
        lines = []
        for d in preview_digests(config, db, rules, now, since):
            text = d.message.get_body(("plain",))
            lines.append(f"To: {d.subscription.email}\nSubject: {d.message['Subject']}\n")
            lines.append(text.get_content() if text else "")
        return lines or ["no digests due (every subscription has digest = off?)"]
