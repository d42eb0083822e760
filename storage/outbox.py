"""The alert outbox and the digest record: rows written with the article, read by delivery."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import AlertRow, ArticleRow, DigestRow, SpikeRow
from storage.statuses import AlertKind, AlertStatus, DigestStatus

# a digest in one of these states is not sent again for its period
DONE = (DigestStatus.SENT, DigestStatus.EMPTY)


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


@dataclass(frozen=True)
class Recipient:
    """Who an alert goes to: a subscription's key, on one of its channels."""

    subscription: str
    channel: str = "email"


def channel_key(url: str) -> str:
    """The outbox's name for an Apprise URL: a hash, since the URL holds secrets."""
    return "notify:" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def dedupe_key(
    kind: AlertKind, thing: int, subscription: str, channel: str, version: int = 0
) -> str:
    """The outbox's exactly-once key: one row per (thing, subscription, channel).

    The thing is a story for kind article, a story's version for kind edit, a spike row for
    kind spike. Rows queued before kinds existed have 'article:<story>:<subscription>:email'.
    """
    middle = f"{thing}:{version}" if kind == AlertKind.EDIT else f"{thing}"
    return f"{kind}:{middle}:{subscription}:{channel}"


def _recipients(recipients: Sequence[str | Recipient]) -> list[Recipient]:
    return [r if isinstance(r, Recipient) else Recipient(r) for r in recipients]


def _queue(session: Session, rows: list[dict[str, Any]], now: datetime) -> int:
    if not rows:
        return 0
    for row in rows:
        row.update(status=AlertStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now)
    stmt = _insert(session)(AlertRow).values(rows).on_conflict_do_nothing()
    result = session.execute(stmt.returning(AlertRow.id))
    return len(result.all())


def queue_alerts(
    session: Session,
    article: ArticleRow,
    recipients: Sequence[str | Recipient],
    now: datetime,
    *,
    kind: AlertKind = AlertKind.ARTICLE,
    version: int = 0,
) -> int:
    """Queue one alert per recipient; one already queued for the same key is skipped.

    A plain string is a subscription's key on the email channel. Returns how many were newly
    queued. The unique dedupe_key makes a second alert for the same story (kind article) or
    the same version of it (kind edit) impossible, whatever the caller does, across restarts
    and syndicated copies.
    """
    story = article.duplicate_of_id or article.id
    rows = [
        {
            "kind": kind,
            "article_id": article.id,
            "story_id": story,
            "version": version,
            "subscription": r.subscription,
            "channel": r.channel,
            "dedupe_key": dedupe_key(kind, story, r.subscription, r.channel, version),
        }
        for r in _recipients(recipients)
    ]
    return _queue(session, rows, now)


def record_spike(
    session: Session, topic: str, day: str, zone: str, stories: int, baseline: float, now: datetime
) -> SpikeRow:
    """The spike of `topic` on `day` (in `zone`), recorded once (insert or get): an existing
    row is returned as it is; the caller may raise its count as the day goes on."""
    stmt = (
        _insert(session)(SpikeRow)
        .values(
            topic=topic, day=day, zone=zone, stories=stories, baseline=baseline, detected_at=now
        )
        .on_conflict_do_nothing()
    )
    session.execute(stmt)
    return session.scalars(
        select(SpikeRow).where(SpikeRow.topic == topic, SpikeRow.day == day, SpikeRow.zone == zone)
    ).one()


def queue_spike_alerts(
    session: Session, spike: SpikeRow, recipients: Sequence[str | Recipient], now: datetime
) -> int:
    """Queue one spike alert per recipient: once per (spike, subscription, channel)."""
    rows = [
        {
            "kind": AlertKind.SPIKE,
            "spike_id": spike.id,
            "subscription": r.subscription,
            "channel": r.channel,
            "dedupe_key": dedupe_key(AlertKind.SPIKE, spike.id, r.subscription, r.channel),
        }
        for r in _recipients(recipients)
    ]
    return _queue(session, rows, now)


def lease_clock(now: datetime) -> datetime:
    """The time leases are taken and judged by: the later of `now` and the wall clock.

    A round's `now` is when it began; a round that has been sending for longer than the lease
    would otherwise take claims that are already over, and another sender could take the
    alert it is about to send. The wall clock keeps a long round's claims alive; a `now` in
    the future (tests, a caller simulating time) still ends leases as it should.
    """
    wall = datetime.now(UTC)
    return max(now, wall if now.tzinfo else wall.replace(tzinfo=None))


def _unclaimed(now: datetime) -> Any:
    """No sender holds the alert, or its sender's lease has ended (the sender died)."""
    clock = lease_clock(now)
    return or_(AlertRow.claimed_until.is_(None), AlertRow.claimed_until <= clock)


def due_alerts(
    session: Session, now: datetime, limit: int = 500, due_before: datetime | None = None
) -> list[AlertRow]:
    """Pending alerts whose next try has come (by `due_before`, default now) and that no
    sender holds, oldest first."""
    return list(
        session.scalars(
            select(AlertRow)
            .where(
                AlertRow.status == AlertStatus.PENDING,
                AlertRow.next_attempt_at <= (due_before or now),
                _unclaimed(now),
            )
            .order_by(AlertRow.id)
            .limit(limit)
        )
    )


def claim_alert(
    session: Session,
    alert_id: int,
    now: datetime,
    lease: timedelta,
    due_before: datetime,
    claimer: str = "",
) -> bool:
    """Take a pending alert for sending; False if another sender holds it or it is done.

    Why nothing is sent twice: the claim is its own column (claimed_until, claimed_by), set
    by one conditional UPDATE that succeeds only while no live claim exists, so of two
    senders (the daemon, `alerts flush`, a worker) exactly one wins, whatever due time each
    asks for; the others skip the alert. Why nothing is lost: a sender that dies mid-send
    leaves its claim to expire at the end of the lease, and the alert, still pending, is
    taken again. Only a crash between the server's acceptance and mark_sent repeats an
    email, with the same Message-ID.
    """
    claimable = (
        AlertRow.id == alert_id,
        AlertRow.status == AlertStatus.PENDING,
        AlertRow.next_attempt_at <= due_before,
        _unclaimed(now),
    )
    if session.get_bind().dialect.name == "postgresql":
        # Many senders (the daemon, workers, `alerts flush`) on one PostgreSQL: a row another
        # sender is claiming right now is skipped, not waited for (FOR UPDATE SKIP LOCKED).
        locked = session.scalar(
            select(AlertRow.id).where(*claimable).with_for_update(skip_locked=True)
        )
        if locked is None:
            return False
    result = session.execute(
        update(AlertRow)
        .where(*claimable)
        .values(claimed_until=lease_clock(now) + lease, claimed_by=claimer[:64] or None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _held(session: Session, alert_id: int, claimer: str) -> AlertRow | None:
    """The alert, if it is still pending and `claimer` holds it (its lease was not taken over)."""
    row = session.get(AlertRow, alert_id, with_for_update=True)
    if row is None or row.status != AlertStatus.PENDING:
        return None
    return row if (row.claimed_by or "") == claimer[:64] else None


def mark_sent(session: Session, alert_id: int, now: datetime) -> None:
    """The server took it: recorded whoever held the claim, since the email is out."""
    row = session.get(AlertRow, alert_id, with_for_update=True)
    if row:
        row.status, row.sent_at, row.attempts = AlertStatus.SENT, now, row.attempts + 1
        row.last_error, row.claimed_until, row.claimed_by = None, None, None


def mark_retry(
    session: Session, alert_id: int, error: str, next_at: datetime, claimer: str = ""
) -> None:
    """Not delivered for now; try again at `next_at`, and release the claim."""
    row = _held(session, alert_id, claimer)
    if row:
        row.attempts += 1
        row.last_error, row.next_attempt_at = error[:1000], next_at
        row.claimed_until, row.claimed_by = None, None


def mark_failed(
    session: Session, alert_id: int, error: str, claimer: str = "", now: datetime | None = None
) -> None:
    """Refused for good; kept with the reason for `alerts list`. A failed alert is never
    tried again, so next_attempt_at keeps when it failed (`alerts list` shows it)."""
    row = _held(session, alert_id, claimer)
    if row:
        row.status, row.attempts = AlertStatus.FAILED, row.attempts + 1
        row.last_error, row.claimed_until, row.claimed_by = error[:1000], None, None
        if now is not None:
            row.next_attempt_at = now


def retry_failed(
    session: Session, alert_ids: Sequence[int] | None, now: datetime
) -> tuple[list[int], list[tuple[int, str | None]]]:
    """Failed alerts (these, or every one) pending again and due `now`; returns the ids
    queued again and, for named ids that were not, their status (None: no such alert)."""
    query = select(AlertRow.id, AlertRow.status)
    if alert_ids is not None:
        query = query.where(AlertRow.id.in_(list(alert_ids)))
    else:
        query = query.where(AlertRow.status == AlertStatus.FAILED)
    found = dict(session.execute(query).tuples().all())
    chosen = [i for i, status in found.items() if status == AlertStatus.FAILED]
    if chosen:
        # The attempts and last error stay: they are the alert's history.
        session.execute(
            update(AlertRow)
            .where(AlertRow.id.in_(chosen), AlertRow.status == AlertStatus.FAILED)
            .values(
                status=AlertStatus.PENDING,
                next_attempt_at=now,
                claimed_until=None,
                claimed_by=None,
            )
        )
    skipped = [(i, found.get(i)) for i in (alert_ids or []) if found.get(i) != AlertStatus.FAILED]
    return sorted(chosen), skipped


def release_alert(session: Session, alert_id: int, claimer: str) -> None:
    """Give a claimed alert back untried (its article was deleted, or the round stopped)."""
    row = _held(session, alert_id, claimer)
    if row:
        row.claimed_until, row.claimed_by = None, None


def alert_counts(session: Session) -> dict[str, int]:
    """How many alerts are pending, sent and failed."""
    counts = session.execute(select(AlertRow.status, func.count()).group_by(AlertRow.status)).all()
    return {status: int(n) for status, n in counts}


@dataclass(frozen=True)
class AlertListing:
    """One alert with its article's title and URL, for `alerts list`."""

    id: int
    status: str
    subscription: str
    article_id: int | None
    title: str
    url: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime
    kind: str = AlertKind.ARTICLE
    channel: str = "email"
    claimed_until: datetime | None = None  # a sender holds it (live while in the future)


def list_alerts(
    session: Session, status: str | None = None, limit: int = 100
) -> list[AlertListing]:
    """Alerts newest first, optionally of one status."""
    stmt = (
        select(AlertRow, ArticleRow.title, ArticleRow.url, SpikeRow)
        .outerjoin(ArticleRow, ArticleRow.id == AlertRow.article_id)
        .outerjoin(SpikeRow, SpikeRow.id == AlertRow.spike_id)
        .order_by(AlertRow.id.desc())
        .limit(limit)
    )
    if status:
        stmt = stmt.where(AlertRow.status == status)
    return [
        AlertListing(
            a.id,
            a.status,
            a.subscription,
            a.article_id,
            title or (f"{spike.topic} on {spike.day}: {spike.stories} stories" if spike else ""),
            url or "",
            a.attempts,
            a.last_error,
            a.created_at,
            a.sent_at,
            a.next_attempt_at,
            a.kind,
            a.channel,
            a.claimed_until,
        )
        for a, title, url, spike in session.execute(stmt).all()
    ]


def claim_digest(
    session: Session,
    subscription: str,
    period: str,
    start: datetime,
    end: datetime,
    entries: int,
    now: datetime,
    lease: timedelta = timedelta(minutes=10),
) -> DigestRow | None:
    """Take the digest for (subscription, period) for sending; None if it was sent already or
    another sender holds it. A sender that dies loses its claim when the lease ends."""
    row = session.scalars(
        select(DigestRow).where(DigestRow.subscription == subscription, DigestRow.period == period)
    ).first()
    if row is None:
        row = DigestRow(
            subscription=subscription,
            period=period,
            period_start=start,
            period_end=end,
            entries=entries,
            status=DigestStatus.SENDING,
            attempts=0,
            created_at=now,
            claimed_until=lease_clock(now) + lease,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # another sender created it a moment ago
            return None
        return row
    taken = session.execute(
        update(DigestRow)
        .where(
            DigestRow.id == row.id,
            or_(
                DigestRow.status == DigestStatus.PENDING,
                (DigestRow.status == DigestStatus.SENDING)
                & (DigestRow.claimed_until <= lease_clock(now)),
            ),
        )
        .values(
            status=DigestStatus.SENDING,
            claimed_until=lease_clock(now) + lease,
            entries=entries,
            period_end=end,
        )
    ).rowcount  # type: ignore[attr-defined]
    if not taken:
        return None
    session.refresh(row)
    return row


def digest_settled(session: Session, subscription: str, period: str, now: datetime) -> bool:
    """Whether (subscription, period) needs no sender now: sent, recorded empty, failed for
    good, or held by a live claim. A read, so a sender can skip building the digest."""
    row = session.execute(
        select(DigestRow.status, DigestRow.claimed_until).where(
            DigestRow.subscription == subscription, DigestRow.period == period
        )
    ).first()
    if row is None:
        return False
    status, claimed_until = row
    if status == DigestStatus.SENDING:
        return claimed_until is not None and claimed_until > lease_clock(now)
    return bool(status != DigestStatus.PENDING)


def finish_digest(
    session: Session,
    digest_id: int,
    status: DigestStatus,
    now: datetime,
    error: str | None = None,
    entries: int | None = None,
) -> None:
    """Record how sending a claimed digest ended, and release the claim."""
    row = session.get(DigestRow, digest_id)
    if row:
        row.status, row.attempts, row.last_error = status, row.attempts + 1, error
        if entries is not None:
            row.entries = entries
        row.claimed_until = None
        if status in DONE:
            row.sent_at = now


def last_digest_end(session: Session, subscription: str) -> datetime | None:
    """Where the subscription's last digest sent (or recorded empty) ended."""
    return session.scalar(
        select(func.max(DigestRow.period_end)).where(
            DigestRow.subscription == subscription, DigestRow.status.in_(DONE)
        )
    )


def articles_first_seen(session: Session, start: datetime, end: datetime) -> list[ArticleRow]:
    """Articles first seen in [start, end), oldest first."""
    return list(
        session.scalars(
            select(ArticleRow)
            .where(ArticleRow.first_seen >= start, ArticleRow.first_seen < end)
            .order_by(ArticleRow.first_seen, ArticleRow.id)
        )
    )
