"""The email commands (`alerts list`, `flush`, `retry`, `digest`) over the alerts package."""

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerts.delivery import DeliveryReport, deliver_pending
from alerts.digest import preview_digests, send_digests
from alerts.rules import RuleSet
from crawler.archive.clock import UTC_ZONE, as_datetime, display_zone, local_minute
from crawler.archive.shapes import iso
from crawler.archive.since import parse_since
from crawler.config import Config
from storage.db import open_database
from storage.outbox import list_alerts, retry_failed
from storage.statuses import AlertStatus


def list_alert_rows(config: Config, status: str | None, limit: int) -> list[dict[str, Any]]:
    """The outbox for `alerts list`, newest first."""
    with open_database(config.database.url, create=False) as db, db.read() as session:
        return [
            {
                "id": a.id,
                "kind": a.kind,
                "status": a.status,
                "subscription": a.subscription,
                "channel": a.channel,
                "article_id": a.article_id,
                "title": a.title,
                "url": a.url,
                "attempts": a.attempts,
                "last_error": readable_error(a.last_error),
                "created_at": iso(a.created_at),
                "sent_at": iso(a.sent_at),
                "failed_at": iso(a.next_attempt_at) if a.status == AlertStatus.FAILED else None,
                "next_attempt_at": (
                    iso(a.next_attempt_at) if a.status == AlertStatus.PENDING else None
                ),
                "claimed_until": _live_claim(a.status, a.claimed_until),
            }
            for a in list_alerts(session, status, limit)
        ]


def _live_claim(status: str, until: datetime | None) -> str | None:
    """Until when a sender holds a pending alert (being sent now, or its sender died
    mid-send and it is taken again after), while that is still ahead; else None."""
    held = as_datetime(until)
    live = status == AlertStatus.PENDING and held is not None and held > datetime.now(UTC)
    return iso(held) if live else None


# How releases before this one recorded a refused recipient: smtplib's dict, as Python wrote it.
_OLD_REFUSAL = re.compile(r"""\{'[^']*': \((\d{3}), b?(['"])(.*)\2\)\}""", re.DOTALL)


def readable_error(error: str | None) -> str | None:
    """The last error as one line a person reads: the server's answer, not a Python repr."""
    if not error:
        return error
    old = _OLD_REFUSAL.search(error)
    if old:
        answer = f"{old.group(1)} {old.group(3)}".replace("\\n", " ")
        error = error[: old.start()] + answer + error[old.end() :]
    return " ".join(error.split())


def alert_when(row: dict[str, Any], now: datetime, zone: ZoneInfo = UTC_ZONE) -> str:
    """The time that matters for an alert's status: sent, failed, or its next try, in `zone`
    (the column heading names it)."""
    if row["status"] == AlertStatus.SENT and row["sent_at"]:
        return f"sent {local_minute(row['sent_at'], zone)}"
    if row["status"] == AlertStatus.FAILED and row["failed_at"]:
        return f"failed {local_minute(row['failed_at'], zone)}"
    held = as_datetime(row.get("claimed_until"))
    if held and held > now:
        return f"being sent (to {local_minute(held, zone)[-5:]})"
    due = row["next_attempt_at"]
    if not due or datetime.fromisoformat(due) <= now:
        return "due now"
    return f"next try {local_minute(due, zone)}"


def retry_alerts(
    config: Config, alert_ids: list[int] | None, now: datetime | None = None
) -> tuple[list[int], list[tuple[int, str | None]]]:
    """`alerts retry`: failed alerts (these, or all) due again now."""
    with open_database(config.database.url) as db, db.write() as session:
        return retry_failed(session, alert_ids, now or datetime.now(UTC))


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
    since = parse_since(since_text, now, zone=display_zone(config))
    # A preview only reads; sending records the digest, so it may start the database.
    with open_database(config.database.url, create=send) as db:
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
