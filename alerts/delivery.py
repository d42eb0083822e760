"""Sending alerts: email over SMTP (or as .eml files when no SMTP server is configured), and
notify channels through Apprise (alerts.channels).

Alerts are read from the outbox, claimed, sent, and marked sent one by one. A temporary
failure (connection refused, timeout, 4xx, a 5xx to HELO, STARTTLS, AUTH or MAIL FROM, an
outbox folder that cannot be written, a webhook answering 500) ends the round for its channel
and leaves that channel's alerts pending with a later next-try time; other channels go on.
Only a recipient-level 5xx (RCPT TO or DATA), or a webhook the service says is gone, marks
that one alert failed with the server's answer. Nothing is dropped.
"""

import contextlib
import logging
import os
import smtplib
import socket
import ssl
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from sqlalchemy.exc import OperationalError

from alerts.compose import email_article
from alerts.errors import PermanentDeliveryError, TemporaryDeliveryError
from alerts.mail_edit import render_edit_alert
from alerts.mail_spike import render_spike_alert
from alerts.mailcontext import RenderContext
from alerts.render import render_alert
from alerts.rules import RuleSet
from alerts.settings import EmailSettings, MailSettings, Subscriber
from storage.db import Database
from storage.models import AlertRow, ArticleRow
from storage.outbox import (
    channel_key,
    claim_alert,
    due_alerts,
    mark_failed,
    mark_retry,
    mark_sent,
    release_alert,
)
from storage.queries import outlet_names
from storage.statuses import AlertKind

logger = logging.getLogger(__name__)
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=6)
EMAIL = "email"  # the outbox's channel for email; others are Apprise URLs' channel keys
SEND_LEASE = timedelta(minutes=10)  # a claimed alert is due again after this if never marked
RECORD_RETRY = 5  # seconds between tries to record a sent alert in a database that refused it
# 530 STARTTLS/auth required, 534 mechanism too weak, 535 bad credentials, 538 encryption needed
CONFIGURATION_CODES = {530, 534, 535, 538}


class Transport(Protocol):
    """Anything that can hand over an email: SMTP or the .eml outbox."""

    def send(self, msg: EmailMessage) -> None: ...
    def close(self) -> None: ...


class EmlOutbox:
    """Writes each email as an .eml file: the zero-configuration default."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def send(self, msg: EmailMessage) -> None:
        written = _written(msg)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = _file_name(msg)
            # Written under a temporary name, then renamed: a reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(written)
                os.replace(tmp, self.directory / name)
            except BaseException:
                with contextlib.suppress(OSError):  # a full disk leaves no half file behind
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise TemporaryDeliveryError(f"cannot write to {self.directory}: {exc}") from exc

    def close(self) -> None:
        pass


def _written(msg: EmailMessage) -> bytes:
    """The email as it goes out, or PermanentDeliveryError when Python's email package cannot
    write it (a header it cannot encode): that fails the same way every round, and raised as
    it was, it stopped the round, so every alert after it waited for good."""
    try:
        return msg.as_bytes()
    except Exception as exc:
        raise PermanentDeliveryError(
            f"the email cannot be written ({type(exc).__name__}: {exc})"
        ) from exc


def _file_name(msg: EmailMessage) -> str:
    # Built from our own Message-ID hash only: nothing from a web page reaches a file path.
    if msg["Message-ID"] is None:
        return f"mediawatch.{uuid.uuid4().hex}.eml"
    msg_id = str(msg["Message-ID"]).strip("<>").split("@")[0]
    safe = "".join(c for c in msg_id if c.isalnum() or c in ".-")
    return f"{safe}.eml"


class SmtpTransport:
    """One SMTP connection per delivery round, opened on first use.

    Only a recipient-level refusal (5xx to RCPT TO for this message's address, or 5xx after
    its DATA) is permanent for that one email. Anything about the connection, the server or
    our settings (refused, timeout, 421, any 4xx, a 5xx to HELO, STARTTLS, AUTH or MAIL FROM)
    is temporary: every alert would meet it, so none is failed for it.
    """

    def __init__(
        self, host: str, port: int, starttls: bool, user: str, password: str, timeout: float
    ) -> None:
        self.host, self.port, self.starttls = host, port, starttls
        self.user, self.password, self.timeout = user, password, timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is None:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            try:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
            except BaseException:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp

    def send(self, msg: EmailMessage) -> None:
        _written(msg)  # one that cannot be written fails alone, before the server is asked
        try:
            smtp = self._connect()
        except smtplib.SMTPNotSupportedError as exc:
            raise self._temporary(
                str(exc),
                "servers often offer AUTH only after STARTTLS: check [email] smtp_starttls "
                "and smtp_user",
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise self._temporary(
                f"the login was refused ({exc.smtp_code})",
                "check [email] smtp_user and $MEDIAWATCH_SMTP_PASSWORD",
            ) from exc
        except smtplib.SMTPResponseException as exc:  # the greeting (421, 554), STARTTLS, EHLO
            raise self._temporary(
                f"SMTP {exc.smtp_code} on connecting: {_text(exc.smtp_error)}",
                _hint(exc.smtp_code) or "the server does not take mail now",
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused, unreachable, timeout, TLS
            raise self._temporary(f"{exc or type(exc).__name__}") from exc
        try:
            smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            # One recipient per message, so this is this message's address.
            code, text = next(iter(exc.recipients.values()), (550, b"refused"))
            self._per_message(code, "refused the recipient (RCPT TO)", _text(text))
        except smtplib.SMTPDataError as exc:
            self._per_message(exc.smtp_code, "refused the message (DATA)", _text(exc.smtp_error))
        except smtplib.SMTPSenderRefused as exc:
            raise self._temporary(
                f"SMTP {exc.smtp_code} to MAIL FROM {exc.sender}: {_text(exc.smtp_error)}",
                _hint(exc.smtp_code) or "check [email] from; the alerts stay queued",
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            # Only a non-ASCII address the server cannot carry (no SMTPUTF8): this email only.
            raise PermanentDeliveryError(f"{self._where()}: {exc}") from exc
        except smtplib.SMTPResponseException as exc:  # HELO and the like
            raise self._temporary(
                f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}", _hint(exc.smtp_code)
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:  # dropped connection, timeout
            raise self._temporary(f"{exc or type(exc).__name__}") from exc

    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def _temporary(self, text: str, fix: str = "") -> TemporaryDeliveryError:
        """The connection is closed (its state is unknown) and the error says what to fix."""
        self._drop()
        return TemporaryDeliveryError(f"{self._where()}: {text}" + (f" ({fix})" if fix else ""))

    def _per_message(self, code: int, what: str, answer: str) -> None:
        """A refusal of this one message: permanent if 5xx, else temporary. The error ends
        with the server's answer as it gave it (`550 5.1.1 <a@b>: mailbox unknown`)."""
        text = f"{what}: {code} {answer}"
        if code in CONFIGURATION_CODES:
            # The server wants TLS or a login: our settings are wrong, not this alert.
            raise self._temporary(text, _hint(code))
        if 500 <= code < 600:
            raise PermanentDeliveryError(f"{self._where()} {text}")
        raise self._temporary(text)

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._smtp = None


def _text(value: bytes | str) -> str:
    """A server's answer as one line: multi-line replies joined, bytes decoded."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())


def _hint(code: int) -> str:
    if code in CONFIGURATION_CODES:
        return "check [email] smtp_starttls, smtp_user and $MEDIAWATCH_SMTP_PASSWORD"
    return ""


def make_transport(email: EmailSettings) -> Transport:
    """SMTP when [email] smtp_host is set, else .eml files in outbox_dir."""
    if not email.smtp_host:
        return EmlOutbox(email.outbox_dir)
    return SmtpTransport(
        email.smtp_host,
        email.smtp_port,
        email.smtp_starttls,
        email.smtp_user,
        email.smtp_password,
        email.smtp_timeout.total_seconds(),
    )


def backoff(attempts: int) -> timedelta:
    """Wait before the next try: 1, 2, 4... minutes, at most 6 hours."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY)


class DeliveryOutcome(StrEnum):
    """What became of one alert in a delivery round; DeliveryReport counts each."""

    SENT = "sent"
    RETRYING = "retrying"  # failed for now, tried again later
    FAILED = "failed"
    GONE = "gone"  # the article was deleted meanwhile


@dataclass
class DeliveryReport:
    """How one delivery round went, for logs and `alerts flush`."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    gone: int = 0

    def count(self, outcome: DeliveryOutcome) -> None:
        """One more alert with this outcome."""
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)


def deliver_pending(
    config: MailSettings,
    db: Database,
    rules: RuleSet,
    now: datetime,
    transport: Transport | None = None,
    due_before: datetime | None = None,
) -> DeliveryReport:
    """Send every alert whose next try is due (by `due_before`, default now); say what happened.

    Each alert is claimed before anything else is done with it, so an alert another sender
    holds is left alone. After a temporary failure (the server, the connection or our settings:
    any alert on that channel would meet it) the rest of the round on that channel is not
    tried but rescheduled with the same backoff and the same reason, so `alerts list` shows
    why; other channels go on (a dead webhook does not hold up email). Only a refusal of this
    one alert (a recipient-level 5xx, a webhook that is gone) fails it.
    """
    report = DeliveryReport()
    transport = transport or make_transport(config.email)
    subscribers = {s.key: s for s in config.subscriptions}
    # Apprise URLs by (subscription key, channel key): the outbox stores only the hash.
    urls = {(s.key, channel_key(url)): url for s in config.subscriptions for url in s.notify}
    claimer = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    with db.read() as session:
        due = [
            (a.id, a.subscription, a.channel, a.attempts)
            for a in due_alerts(session, now, due_before=due_before)
        ]
        ctx = RenderContext(config, rules, outlet_names(session), now)
    stopped: dict[str, str] = {}  # channel -> why the round ended early on it
    try:
        for alert_id, key, channel, attempts in due:
            due_by = due_before or now
            gone = _unconfigured(subscribers, urls, key, channel)
            if gone or channel in stopped:
                # Claimed and settled in one transaction: nothing to send, only to record.
                with db.write() as session:
                    if not claim_alert(session, alert_id, now, SEND_LEASE, due_by, claimer):
                        continue  # another process (daemon, `alerts flush`, a worker) has it
                    if gone:
                        outcome = DeliveryOutcome.FAILED
                        mark_failed(session, alert_id, gone, claimer, now)
                    else:
                        outcome = DeliveryOutcome.RETRYING
                        reason = f"not tried this round: {stopped[channel]}"
                        mark_retry(session, alert_id, reason, now + backoff(attempts + 1), claimer)
            else:
                with db.write() as session:
                    if not claim_alert(session, alert_id, now, SEND_LEASE, due_by, claimer):
                        continue
                # Recording it as sent is tried until shortly before the lease ends.
                record_by = time.monotonic() + SEND_LEASE.total_seconds() * 0.8
                sub = subscribers[key]
                to = sub.email or key
                try:
                    msg = _render(db, ctx, alert_id, to)
                except PermanentDeliveryError as exc:  # this alert cannot be written, ever
                    logger.error("alert %s to %s failed for good: %s", alert_id, to, exc)
                    with db.write() as session:
                        mark_failed(session, alert_id, str(exc), claimer, now)
                    report.count(DeliveryOutcome.FAILED)
                    continue
                if msg is None:
                    outcome = DeliveryOutcome.GONE
                    with db.write() as session:
                        release_alert(session, alert_id, claimer)
                else:
                    send = transport.send if channel == EMAIL else _notifier(urls[key, channel])
                    outcome, error = _send(
                        db, send, msg, alert_id, to, attempts, now, claimer, record_by
                    )
                    if outcome == DeliveryOutcome.RETRYING:
                        stopped[channel] = error
            report.count(outcome)
    finally:
        transport.close()
    if report.sent or report.retrying or report.failed:
        logger.info(
            "alerts: %d sent, %d to retry, %d failed", report.sent, report.retrying, report.failed
        )
    return report


def _unconfigured(
    subscribers: Mapping[str, Subscriber],
    urls: Mapping[tuple[str, str], str],
    key: str,
    channel: str,
) -> str:
    """Why an alert can no longer be sent (its subscription or channel left the
    configuration), or "" when it can."""
    sub = subscribers.get(key)
    if sub is None:
        return "subscription no longer in the configuration"
    if channel == EMAIL and not sub.email:
        return "the subscription no longer has an email address"
    if channel != EMAIL and (key, channel) not in urls:
        return "notify URL no longer in the subscription (removed or changed)"
    return ""


def _notifier(url: str) -> Callable[[EmailMessage], None]:
    """Sends an alert to one Apprise URL (Apprise is imported only when a channel is used)."""
    from alerts.channels import send_notification

    return lambda msg: send_notification(url, msg)


def _render(db: Database, ctx: RenderContext, alert_id: int, to: str) -> EmailMessage | None:
    """The claimed alert's email, by its kind; None when what it is about is gone."""
    with db.read() as session:
        alert = session.get(AlertRow, alert_id)
        if alert is None:
            return None
        if alert.kind == AlertKind.EDIT:
            return render_edit_alert(session, alert, to, ctx)
        if alert.kind == AlertKind.SPIKE:
            return render_spike_alert(session, alert, to, ctx)
        row = session.get(ArticleRow, alert.article_id) if alert.article_id else None
        if row is None:
            return None
        return render_alert(
            email_article(row, ctx.rules, ctx.outlet_names),
            to,
            ctx.config.email.from_,
            ctx.rules.names(),
            ctx.rules.highlight_patterns(),
            ctx.now,
            _zone_of(ctx.config, to),
        )


def _zone_of(config: MailSettings, to: str) -> str:
    """The time zone of the subscription an alert goes to: its emails show times in it."""
    return next(
        (s.timezone for s in config.subscriptions if to.lower() in (s.email.lower(), s.key)),
        "UTC",
    )


def _send(
    db: Database,
    send: Callable[[EmailMessage], None],
    msg: EmailMessage,
    alert_id: int,
    to: str,
    attempts: int,
    now: datetime,
    claimer: str,
    record_by: float,
) -> tuple[DeliveryOutcome, str]:
    """Send one claimed alert and record the outcome (sent, retrying or failed) and the error;
    a sent one until `record_by` (time.monotonic()) if the database refuses at first."""
    try:
        send(msg)
    except PermanentDeliveryError as exc:
        logger.error("alert %s to %s failed for good: %s", alert_id, to, exc)
        with db.write() as session:
            mark_failed(session, alert_id, str(exc), claimer, now)
        return DeliveryOutcome.FAILED, str(exc)
    except TemporaryDeliveryError as exc:
        logger.warning("alert %s to %s not delivered, will retry: %s", alert_id, to, exc)
        with db.write() as session:
            mark_retry(session, alert_id, str(exc), now + backoff(attempts + 1), claimer)
        return DeliveryOutcome.RETRYING, str(exc)
    _record_sent(db, alert_id, to, now, record_by)
    return DeliveryOutcome.SENT, ""


def _record_sent(db: Database, alert_id: int, to: str, now: datetime, deadline: float) -> None:
    """Record a sent alert as sent. The email has gone: a database locked past its busy
    timeout (another command's long write) or briefly unreachable is tried again until
    `deadline`, most of the lease taken when it was claimed, since an alert left unrecorded
    is sent again once its lease ends."""
    while True:
        try:
            with db.write() as session:
                mark_sent(session, alert_id, now)
            return
        except OperationalError as exc:
            if time.monotonic() >= deadline:
                raise
            logger.warning(
                "alert %s to %s is sent but not yet recorded (%s); trying again in %d s",
                alert_id,
                to,
                str(exc).splitlines()[0],
                RECORD_RETRY,
            )
            time.sleep(RECORD_RETRY)
