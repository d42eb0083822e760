"""Sending email: over SMTP, or as .eml files when no SMTP server is configured.

Alerts are read from the outbox, sent, and marked sent one by one. A temporary failure
(connection refused, timeout, 4xx) leaves the alert pending with a later next-try time;
a permanent one (5xx) marks it failed with the server's answer. Nothing is dropped.
"""

import contextlib
import logging
import os
import smtplib
import ssl
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from alerts.compose import email_article
from alerts.errors import PermanentDeliveryError, TemporaryDeliveryError
from alerts.render import render_alert
from alerts.rules import RuleSet
from alerts.settings import EmailSettings, MailSettings
from storage.db import Database
from storage.models import ArticleRow
from storage.outbox import claim_alert, due_alerts, mark_failed, mark_retry, mark_sent
from storage.queries import outlet_names

logger = logging.getLogger(__name__)
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=6)
SEND_LEASE = timedelta(minutes=10)  # a claimed alert is due again after this if never marked
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
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = _file_name(msg)
            # Written under a temporary name, then renamed: a reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(msg.as_bytes())
            os.replace(tmp, self.directory / name)
        except OSError as exc:
            raise TemporaryDeliveryError(f"cannot write to {self.directory}: {exc}") from exc

    def close(self) -> None:
        pass


def _file_name(msg: EmailMessage) -> str:
    # Built from our own Message-ID hash only: nothing from a web page reaches a file path.
    if msg["Message-ID"] is None:
        return f"mediawatch.{uuid.uuid4().hex}.eml"
    msg_id = str(msg["Message-ID"]).strip("<>").split("@")[0]
    safe = "".join(c for c in msg_id if c.isalnum() or c in ".-")
    return f"{safe}.eml"


class SmtpTransport:
    """One SMTP connection per delivery round, opened on first use."""

    def __init__(
        self, host: str, port: int, starttls: bool, user: str, password: str, timeout: float
    ) -> None:
        self.host, self.port, self.starttls = host, port, starttls
        self.user, self.password, self.timeout = user, password, timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is None:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password)
            self._smtp = smtp
        return self._smtp

    def send(self, msg: EmailMessage) -> None:
        try:
            self._connect().send_message(msg)
        except smtplib.SMTPNotSupportedError as exc:
            self._drop()
            raise TemporaryDeliveryError(
                f"{self.host}:{self.port}: {exc} (servers often offer AUTH only after STARTTLS: "
                "check [email] smtp_starttls and smtp_user)"
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            # Our configuration is wrong, not the alert: keep it queued until it is fixed.
            self._drop()
            raise TemporaryDeliveryError(
                f"{self.host}:{self.port} refused the login ({exc.smtp_code}): check "
                "[email] smtp_user and $MEDIAWATCH_SMTP_PASSWORD"
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            self._raise(min(codes) if codes else 550, str(exc.recipients))
        except smtplib.SMTPResponseException as exc:
            self._raise(
                exc.smtp_code,
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error),
            )
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise TemporaryDeliveryError(
                f"{self.host}:{self.port}: {exc or type(exc).__name__}"
            ) from exc

    def _raise(self, code: int, text: str) -> None:
        message = f"SMTP {code} from {self.host}:{self.port}: {text}"
        if code in CONFIGURATION_CODES:
            # The server wants TLS or a login: our settings are wrong, not this alert.
            self._drop()
            raise TemporaryDeliveryError(
                message + " (check [email] smtp_starttls, smtp_user and $MEDIAWATCH_SMTP_PASSWORD)"
            )
        if code >= 500:
            raise PermanentDeliveryError(message)
        self._drop()
        raise TemporaryDeliveryError(message)

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


@dataclass
class DeliveryReport:
    """How one delivery round went, for logs and `alerts flush`."""

    sent: int = 0
    retrying: int = 0  # failed for now, tried again later
    failed: int = 0
    gone: int = 0  # the article was deleted meanwhile


def deliver_pending(
    config: MailSettings,
    db: Database,
    rules: RuleSet,
    now: datetime,
    transport: Transport | None = None,
    due_before: datetime | None = None,
) -> DeliveryReport:
    """Send every alert whose next try is due (by `due_before`, default now); say what happened.

    After a temporary failure the rest of the round is not tried (the server is unlikely to
    take the next one) but rescheduled with the same backoff, so `alerts list` shows why.
    """
    report = DeliveryReport()
    transport = transport or make_transport(config.email)
    subscribers = {s.email.lower() for s in config.subscriptions}
    with db.read() as session:
        due = [
            (a.id, a.article_id, a.subscription, a.attempts)
            for a in due_alerts(session, due_before or now)
        ]
        names = outlet_names(session)
    server_down = False
    try:
        for alert_id, article_id, to, attempts in due:
            if to not in subscribers:
                outcome = "failed"
                with db.write() as session:
                    mark_failed(session, alert_id, "subscription no longer in the configuration")
            elif server_down:
                outcome = "retrying"
                with db.write() as session:
                    mark_retry(
                        session,
                        alert_id,
                        "not tried: server unreachable this round",
                        now + backoff(attempts + 1),
                    )
            else:
                with db.write() as session:
                    if not claim_alert(session, alert_id, now, SEND_LEASE, due_before or now):
                        continue  # another process (daemon, `alerts flush`) is sending it
                msg = _render(db, config, rules, names, article_id, to, now)
                outcome = _send(db, transport, msg, alert_id, to, attempts, now) if msg else "gone"
                server_down = outcome == "retrying"
            setattr(report, outcome, getattr(report, outcome) + 1)
    finally:
        transport.close()
    if report.sent or report.retrying or report.failed:
        logger.info(
            "alerts: %d sent, %d to retry, %d failed", report.sent, report.retrying, report.failed
        )
    return report


def _render(
    db: Database,
    config: MailSettings,
    rules: RuleSet,
    names: dict[str, str],
    article_id: int,
    to: str,
    now: datetime,
) -> EmailMessage | None:
    with db.read() as session:
        row = session.get(ArticleRow, article_id)
        if row is None:
            return None
        return render_alert(
            email_article(row, rules, names),
            to,
            config.email.from_,
            rules.names(),
            rules.highlight_patterns(),
            now,
        )


def _send(
    db: Database,
    transport: Transport,
    msg: EmailMessage,
    alert_id: int,
    to: str,
    attempts: int,
    now: datetime,
) -> str:
    """Send one alert and record the outcome: "sent", "retrying" or "failed"."""
    try:
        transport.send(msg)
    except PermanentDeliveryError as exc:
        logger.error("alert %s to %s failed for good: %s", alert_id, to, exc)
        with db.write() as session:
            mark_failed(session, alert_id, str(exc))
        return "failed"
    except TemporaryDeliveryError as exc:
        logger.warning("alert %s to %s not delivered, will retry: %s", alert_id, to, exc)
        with db.write() as session:
            mark_retry(session, alert_id, str(exc), now + backoff(attempts + 1))
        return "retrying"
    with db.write() as session:
        mark_sent(session, alert_id, now)
    return "sent"
