"""Alerts to chat and webhook channels (Slack, Teams, json://...) through Apprise.

The outbox names a channel by its key (`storage.outbox.channel_key`), never by its URL: the
URL carries the service's secret. Delivery finds the URL again in the configuration and hands
it here with the rendered email, whose Subject and text part become the notification's title
and body. Apprise's failures are translated where they enter our code:

    unsupported or malformed URL      PermanentDeliveryError (no retry can help)
    HTTP 404 or 410 from the service  PermanentDeliveryError (the webhook is gone), this alert
    anything else (refused, timeout,  TemporaryDeliveryError: the alert stays queued with the
    5xx, 429, 401/403...)             outbox's backoff, as an email would

Nothing Apprise logs reaches our logs unfiltered: its messages may quote parts of the URL,
so they are captured, any URL in them replaced, and only then used in an error.
"""

import contextlib
import logging
import re
from collections.abc import Iterator
from email.message import EmailMessage

import apprise

from alerts.errors import PermanentDeliveryError, TemporaryDeliveryError

GONE_CODES = {404, 410}
_HTTP_CODE = re.compile(r"error=(\d{3})\b")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")
MAX_ANSWER = 300
# A mention in page text would ping people: "@everyone" or "@here" in a Discord, Mattermost or
# Rocket.Chat channel, "@room" in Matrix, "<@123>" or "<@&123>" (a user, a role) in Discord.
# A zero-width space after the "@" (or the "<") leaves the text as it reads and pings nobody;
# an address (desk@example.org) and a link's path (/@author/) are left alone.
_MENTION = re.compile(r"(?<![\w.+/-])@(?=\w)|<(?=[@!#])")
ZWSP = "\u200b"


class _Lines(logging.Handler):
    """Collects Apprise's log lines (WARNING and above) for one call."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.lines.append(record.getMessage())


@contextlib.contextmanager
def _captured() -> Iterator[_Lines]:
    """Apprise's log lines, kept from propagating to ours (they may hold URL parts)."""
    log = logging.getLogger(apprise.LOGGER_NAME)
    handler = _Lines()
    propagate, level = log.propagate, log.level
    log.addHandler(handler)
    log.propagate = False
    if log.getEffectiveLevel() > logging.WARNING:
        log.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        log.propagate, log.level = propagate, level


def scrubbed(text: str) -> str:
    """Apprise's text fit for our logs and the outbox: URLs replaced, one line, bounded."""
    text = " ".join(_URL.sub("<url>", text).split())
    return text if len(text) <= MAX_ANSWER else text[: MAX_ANSWER - 1] + "…"


def service_name(url: str) -> str:
    """The service an Apprise URL is for ("Slack", "JSON"), or its scheme; never the URL."""
    scheme = url.partition("://")[0].lower() if "://" in url else "?"
    with _captured():
        plugin = apprise.Apprise.instantiate(url)
    return str(getattr(plugin, "service_name", "") or scheme)


def notify(url: str, title: str, body: str) -> str:
    """Send one notification to one Apprise URL; return Apprise's answer (for `alerts test`).

    Raises PermanentDeliveryError when no retry can help (an unsupported URL, a webhook the
    service says is gone) and TemporaryDeliveryError for everything else."""
    scheme = url.partition("://")[0].lower() if "://" in url else "?"
    with _captured() as log:
        plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        raise PermanentDeliveryError(
            f"{scheme}://: Apprise cannot use this URL (unsupported or malformed); "
            "fix it in [[subscriptions]] notify"
        )
    name = str(getattr(plugin, "service_name", "") or scheme)
    sender = apprise.Apprise()
    sender.add(plugin)
    with _captured() as log:
        try:
            ok = bool(sender.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT))
        except Exception as exc:  # a plugin's own bug must not end the delivery round
            log.lines.append(f"{type(exc).__name__}: {exc}")
            ok = False
    answer = scrubbed("; ".join(log.lines))
    if ok:
        return answer or f"{name} accepted the notification"
    reason = f"{name} ({scheme}://): " + (answer or "Apprise reported a failure")
    codes = {int(c) for c in _HTTP_CODE.findall(answer)}
    if codes & GONE_CODES:
        raise PermanentDeliveryError(reason + " (the service says this address does not exist)")
    raise TemporaryDeliveryError(reason)


def notification_text(msg: EmailMessage) -> tuple[str, str]:
    """An alert email as (title, body): its Subject and its plain-text part."""
    title = str(msg.get("Subject", "") or "")
    part = msg.get_body(preferencelist=("plain",))
    body = part.get_content() if isinstance(part, EmailMessage) else ""
    return title, str(body).strip() or title


def no_mentions(text: str) -> str:
    """Page text that pings nobody when a chat service reads it (see _MENTION)."""
    return _MENTION.sub(lambda m: m.group() + ZWSP, text)


def send_notification(url: str, msg: EmailMessage) -> None:
    """Deliver a rendered alert to one Apprise URL: Subject as title, text part as body (any
    mention in them defused: they quote page text)."""
    title, body = notification_text(msg)
    notify(url, no_mentions(title), no_mentions(body))
