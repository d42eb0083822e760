"""Digests: per subscription, the matching articles first seen in its period, sent once.

Near-duplicates are folded into one entry naming every outlet that ran the piece. The
decision of what belongs is alerts.decision.matches_subscription, as for immediate alerts.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from enum import StrEnum
from zoneinfo import ZoneInfo

from alerts.compose import email_article
from alerts.decision import matches_subscription
from alerts.delivery import Transport, make_transport
from alerts.errors import PermanentDeliveryError, TemporaryDeliveryError
from alerts.render import EmailArticle, render_digest
from alerts.rules import RuleSet
from alerts.schedule import Period, latest_period
from alerts.settings import MailSettings, Subscriber
from storage.db import Database
from storage.models import ArticleRow
from storage.outbox import (
    articles_first_seen,
    claim_digest,
    digest_settled,
    finish_digest,
    last_digest_end,
)
from storage.queries import outlet_names
from storage.statuses import DigestStatus

logger = logging.getLogger(__name__)


@dataclass
class Digest:
    """One subscription's digest for one period, rendered and ready to send."""

    subscription: Subscriber
    period: Period
    groups: list[tuple[str, list[EmailArticle]]]
    message: EmailMessage

    @property
    def entries(self) -> int:
        return sum(len(items) for _, items in self.groups)


class DigestResult(StrEnum):
    """What a sending round did with one subscription's digest, as `digest --send` says it."""

    SENT = "sent"
    EMPTY = "empty"  # nothing new in the period: recorded, not sent
    ALREADY_SENT = "already sent"  # settled before, or another sender holds it
    RETRYING = "retrying"
    FAILED = "failed"


@dataclass
class DigestOutcome:
    """What happened to one digest, for logs and `digest --send`."""

    email: str
    period: str
    entries: int
    status: DigestResult


def _primary_topic(row: ArticleRow, wanted: set[str] | None) -> str:
    counts: dict[str, int] = defaultdict(int)
    for m in row.matches:
        if wanted is None or m.topic in wanted:
            counts[m.topic] += m.title_count * 3 + m.text_count
    return max(sorted(counts), key=lambda t: counts[t])


def build_groups(
    rows: list[ArticleRow], sub: Subscriber, rules: RuleSet, names: dict[str, str]
) -> list[tuple[str, list[EmailArticle]]]:
    """Articles for `sub`, one entry per story, grouped by topic, best first."""
    wanted = set(sub.topics) if sub.topics is not None else None
    stories: dict[int, list[ArticleRow]] = defaultdict(list)
    for row in rows:
        if matches_subscription(sub, {m.topic for m in row.matches}, row.score):
            stories[row.duplicate_of_id or row.id].append(row)
    groups: dict[str, list[EmailArticle]] = defaultdict(list)
    for copies in stories.values():
        copies.sort(key=lambda r: r.id)
        main = max(copies, key=lambda r: r.score)
        entry = email_article(main, rules, names)
        entry.also_in = [
            (names.get(r.outlet_id, r.outlet_id), r.url) for r in copies if r is not main
        ]
        groups[_primary_topic(main, wanted)].append(entry)
    order = [t.id for t in rules.topics]
    return [
        (topic, sorted(groups[topic], key=lambda e: (-e.score, e.id)))
        for topic in sorted(groups, key=lambda t: order.index(t) if t in order else len(order))
    ]


def make_digest(
    config: MailSettings,
    db: Database,
    rules: RuleSet,
    sub: Subscriber,
    period: Period,
    now: datetime,
) -> Digest:
    """Collect, group and render one subscription's digest for a period."""
    with db.read() as session:
        rows = articles_first_seen(session, period.start, period.end)
        names = outlet_names(session)
        groups = build_groups(rows, sub, rules, names)
    message = render_digest(
        groups,
        period.title,
        sub.email,
        config.email.from_,
        rules.names(),
        rules.highlight_patterns(),
        now,
        period.start,
        period.end,
        sub.timezone,
    )
    return Digest(sub, period, groups, message)


def digest_period(
    db: Database, sub: Subscriber, now: datetime, since: datetime | None
) -> Period | None:
    """--since: from then to now. Else the latest scheduled period, from the last digest sent."""
    if since is not None:
        fmt = "%Y-%m-%d %H:%M"
        key = f"{since.astimezone(_tz(sub)):{fmt}} to {now.astimezone(_tz(sub)):{fmt}}"
        return Period(since, now, key, label=now.astimezone(_tz(sub)).strftime("%Y-%m-%d"))
    period = latest_period(sub.digest, sub.timezone, now)
    if period is None:
        return None
    with db.read() as session:
        last_end = last_digest_end(session, sub.email.lower())
    if last_end is not None and last_end < period.start:
        return Period(last_end, period.end, period.key, period.label)  # catch up after downtime
    return period


def _tz(sub: Subscriber) -> ZoneInfo:
    return ZoneInfo(sub.timezone)


def preview_digests(
    config: MailSettings,
    db: Database,
    rules: RuleSet,
    now: datetime,
    since: datetime | None = None,
) -> list[Digest]:
    """Every subscription's current digest, rendered but not sent. With `since`, also the
    subscriptions whose digest is "off": a preview shows what they would get."""
    digests = []
    for sub in config.subscriptions:
        if not sub.email or (since is None and sub.digest == "off"):
            continue  # digests are emails: a notify-only subscription has none
        period = digest_period(db, sub, now, since)
        if period is not None:
            digests.append(make_digest(config, db, rules, sub, period, now))
    return digests


def send_digests(
    config: MailSettings,
    db: Database,
    rules: RuleSet,
    now: datetime,
    since: datetime | None = None,
    transport: Transport | None = None,
) -> list[DigestOutcome]:
    """Send each subscription's digest for its period, unless that period's was sent.

    A subscription with digest = "off" is never sent one, with `since` or without. The
    digest record is checked (and claimed) before the digest is built, so the daemon's
    every-minute check costs one small query per subscription once a period is done.
    """
    outcomes: list[DigestOutcome] = []
    transport = transport or make_transport(config.email)
    try:
        for sub in config.subscriptions:
            if sub.digest == "off":
                continue
            period = digest_period(db, sub, now, since)
            if period is None:
                continue
            if outcomes and outcomes[-1].status == DigestResult.RETRYING:
                # The server or the outbox failed for the last one: the rest wait for the next
                # round, unclaimed and unbuilt, instead of each waiting out smtp_timeout.
                outcomes.append(
                    DigestOutcome(sub.email.lower(), period.key, 0, DigestResult.RETRYING)
                )
                continue
            outcomes.append(_send_one(config, db, rules, sub, period, transport, now))
    finally:
        transport.close()
    return outcomes


def _send_one(
    config: MailSettings,
    db: Database,
    rules: RuleSet,
    sub: Subscriber,
    period: Period,
    transport: Transport,
    now: datetime,
) -> DigestOutcome:
    email = sub.email.lower()
    outcome = DigestOutcome(email, period.key, 0, DigestResult.ALREADY_SENT)
    with db.read() as session:
        if digest_settled(session, email, period.key, now):
            return outcome  # sent, recorded empty, failed, or another sender holds it
    with db.write() as session:
        row = claim_digest(session, email, period.key, period.start, period.end, 0, now)
        digest_id = row.id if row else None
    if digest_id is None:
        return outcome
    try:
        digest = make_digest(config, db, rules, sub, period, now)
    except Exception:
        with db.write() as session:  # let the next round try, not wait for the lease
            finish_digest(session, digest_id, DigestStatus.PENDING, now, "could not be built")
        raise
    outcome.entries = digest.entries
    if not digest.entries:
        status, error = DigestStatus.EMPTY, None
    else:
        try:
            transport.send(digest.message)
            status, error = DigestStatus.SENT, None
        except TemporaryDeliveryError as exc:
            status, error = DigestStatus.PENDING, str(exc)
        except PermanentDeliveryError as exc:
            status, error = DigestStatus.FAILED, str(exc)
    with db.write() as session:
        finish_digest(session, digest_id, status, now, error, entries=digest.entries)
    if error:
        logger.warning("digest %s for %s: %s", period.key, email, error)
    outcome.status = (
        DigestResult.RETRYING if status == DigestStatus.PENDING else DigestResult(status.value)
    )
    return outcome
