"""One test email, sent step by step, each step's answer kept with the fix for a refusal.

`mediawatch alerts test` prints these steps. Email setup fails in a handful of known ways (the
wrong port, STARTTLS off where the server wants it, a login refused, a sender the account may
not use); a step named with the server's own answer and the setting to change says which.
Nothing here is used for real deliveries: alerts.delivery has its own transport, and this
module only talks to the server the configuration names.
"""

import smtplib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from alerts.render import header_text
from alerts.settings import EmailSettings

CREDENTIALS = "check [email] smtp_user and $MEDIAWATCH_SMTP_PASSWORD"


@dataclass(frozen=True)
class Step:
    """One step of a test delivery: its name, whether it worked, the answer, the fix."""

    name: str  # connect, STARTTLS, login, sender, recipient, message
    ok: bool
    answer: str
    fix: str = ""
    skipped: bool = False


def probe_message(sender: str, to: str, now: datetime) -> EmailMessage:
    """The test email: says what it is, so nobody mistakes it for an alert."""
    msg = EmailMessage()
    msg["From"] = header_text(sender)
    msg["To"] = header_text(to)
    msg["Subject"] = "[mediawatch] Test message"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid("mediawatch.test", domain=_domain(sender))
    msg.set_content(
        "This is a test message from `mediawatch alerts test`.\n\n"
        f"It was sent at {now.isoformat(timespec='seconds')}. If you can read it, alerts "
        "can reach this address.\n"
    )
    return msg


def _domain(sender: str) -> str:
    domain = sender.rpartition("@")[2].strip("> ")
    return "".join(c for c in domain if c.isalnum() or c in ".-") or "mediawatch.invalid"


def _answer(code: int, text: bytes | str) -> str:
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(raw.split())}".strip()


def _connect_fix(exc: BaseException, email: EmailSettings) -> str:
    where = f"{email.smtp_host}:{email.smtp_port}"
    if isinstance(exc, socket.gaierror):
        return f"[email] smtp_host {email.smtp_host!r} is not a host name this machine knows"
    if isinstance(exc, ConnectionRefusedError):
        return (
            f"nothing accepts connections at {where}: check [email] smtp_host and smtp_port "
            "(587 with smtp_starttls = true for most providers, 25 for a local relay)"
        )
    if isinstance(exc, TimeoutError | socket.timeout):
        return (
            f"{where} did not answer within {email.smtp_timeout.total_seconds():g}s: a firewall "
            "or the provider may block this port (try 587), or raise [email] smtp_timeout"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected) and email.smtp_port == 465:
        return (
            "the server closed the connection: port 465 wants TLS from the start, which "
            "mediawatch does not speak; use port 587 with smtp_starttls = true"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return (
            f"something at {where} took the connection but sent no SMTP greeting (another "
            "service, or one that wants TLS from the first byte): check [email] smtp_port, "
            "587 with smtp_starttls = true for most providers, 25 for a local relay"
        )
    return f"check [email] smtp_host and smtp_port ({where})"


def smtp_steps(email: EmailSettings, msg: EmailMessage) -> Iterator[Step]:
    """Send `msg` over the configured SMTP server one command at a time, yielding each step;
    the first failed step is the last one yielded."""
    sender, to = str(msg["From"]), str(msg["To"])
    try:
        smtp = smtplib.SMTP(timeout=email.smtp_timeout.total_seconds())
        code, banner = smtp.connect(email.smtp_host, email.smtp_port)
        smtp.ehlo_or_helo_if_needed()
    except (OSError, smtplib.SMTPException) as exc:
        answer = (
            _answer(exc.smtp_code, exc.smtp_error)
            if isinstance(exc, smtplib.SMTPResponseException)
            else f"{type(exc).__name__}: {exc}"
        )
        yield Step("connect", False, answer, _connect_fix(exc, email))
        return
    try:
        yield Step("connect", True, _answer(code, banner))
        yield from _session(smtp, email, sender, to, msg)
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _session(
    smtp: smtplib.SMTP, email: EmailSettings, sender: str, to: str, msg: EmailMessage
) -> Iterator[Step]:
    offers_tls = smtp.has_extn("starttls")
    if email.smtp_starttls:
        try:
            code, text = smtp.starttls(context=ssl.create_default_context())
        except smtplib.SMTPNotSupportedError:
            fix = (
                "the server does not offer STARTTLS: set [email] smtp_starttls = false, or use "
                "port 587"
            )
            yield Step("STARTTLS", False, "not offered by the server", fix)
            return
        except ssl.SSLCertVerificationError as exc:
            fix = (
                f"the server's certificate is not trusted for {email.smtp_host!r}: use the host "
                "name the certificate is for, or install its CA on this machine"
            )
            yield Step("STARTTLS", False, str(exc.verify_message or exc), fix)
            return
        except (OSError, smtplib.SMTPException) as exc:
            yield Step("STARTTLS", False, f"{type(exc).__name__}: {exc}", "check smtp_port")
            return
        yield Step("STARTTLS", True, _answer(code, text))
    else:
        hint = " (the server offers it: set smtp_starttls = true to encrypt)" if offers_tls else ""
        yield Step("STARTTLS", True, "not used: [email] smtp_starttls = false" + hint, skipped=True)
    if email.smtp_user:
        try:
            code, text = smtp.login(email.smtp_user, email.smtp_password)
        except smtplib.SMTPNotSupportedError:
            fix = (
                "the server offers no login here; many offer AUTH only after STARTTLS: set "
                "[email] smtp_starttls = true"
                if not email.smtp_starttls
                else "the server takes no login: leave [email] smtp_user empty"
            )
            yield Step("login", False, "AUTH not offered by the server", fix)
            return
        except smtplib.SMTPAuthenticationError as exc:
            password = "is empty" if not email.smtp_password else "is set"
            fix = (
                f"{CREDENTIALS} (user {email.smtp_user!r}; the password {password}); Gmail and "
                "Outlook want an app password, not the account's own"
            )
            yield Step("login", False, _answer(exc.smtp_code, exc.smtp_error), fix)
            return
        except smtplib.SMTPException as exc:
            yield Step("login", False, f"{type(exc).__name__}: {exc}", CREDENTIALS)
            return
        yield Step("login", True, _answer(code, text))
    else:
        yield Step("login", True, "not used: [email] smtp_user is empty", skipped=True)
    try:
        yield from _envelope(smtp, sender, to, msg)
    except (OSError, smtplib.SMTPException) as exc:
        fix = "the server dropped the connection: see its log, or try again"
        yield Step("message", False, f"{type(exc).__name__}: {exc}", fix)


def _envelope(smtp: smtplib.SMTP, sender: str, to: str, msg: EmailMessage) -> Iterator[Step]:
    code, text = smtp.mail(sender)
    if code != 250:
        yield Step("sender", False, _answer(code, text), _refusal_fix(code, "sender"))
        return
    yield Step("sender", True, _answer(code, text))
    code, text = smtp.rcpt(to)
    if code not in (250, 251):
        yield Step("recipient", False, _answer(code, text), _refusal_fix(code, "recipient"))
        return
    yield Step("recipient", True, _answer(code, text))
    code, text = smtp.data(msg.as_bytes())
    if code != 250:
        yield Step("message", False, _answer(code, text), _refusal_fix(code, "message"))
        return
    yield Step("message", True, _answer(code, text))


def _refusal_fix(code: int, step: str) -> str:
    """What to change when the server refuses the sender, the recipient or the message."""
    if code in (530, 534, 538):
        return "the server wants a login (and maybe STARTTLS): set smtp_user, " + (
            "$MEDIAWATCH_SMTP_PASSWORD and smtp_starttls = true"
        )
    if code == 535:
        return CREDENTIALS
    if 400 <= code < 500:
        return "the server refused for now (greylisting, rate limit): try again in a few minutes"
    if step == "sender":
        return (
            "the server does not let this account send as [email] from: use the address of "
            "the account you log in with"
        )
    if step == "recipient":
        return (
            "the server will not deliver to this address: check its spelling, or, for an outside "
            "address, that the server relays for you (it usually needs a login)"
        )
    return "the server refused the message itself: see its answer"
