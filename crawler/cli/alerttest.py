"""`mediawatch alerts test [ADDRESS|APPRISE_URL]`: one test message, each step printed.

Email goes through the configured transport: SMTP step by step (alerts.probe), or an .eml file
when no SMTP server is set. An Apprise URL gets one notification and Apprise's answer. With
no argument, every channel of the first subscription is tried. An Apprise URL is never
printed (it holds the secret): only its service and scheme are.
"""

from collections.abc import Callable
from datetime import UTC, datetime

from alerts.channels import notify, service_name
from alerts.delivery import EmlOutbox
from alerts.errors import DeliveryError, PermanentDeliveryError
from alerts.probe import Step, probe_message, smtp_steps
from crawler.config import Config
from crawler.config.errors import UsageError
from crawler.config.notify import check_apprise_url

Echo = Callable[[str], None]
APPRISE_FIX = {
    PermanentDeliveryError: (
        "the service says this webhook or channel does not exist (deleted?): make a new one "
        "and put its URL in notify"
    ),
    DeliveryError: (
        "a connection error means the host cannot be reached from this machine (proxy, "
        "firewall); a 401/403 means the service refused the token in the URL; a 5xx is the "
        "service's own trouble: try again later"
    ),
}


def targets(config: Config, target: str | None) -> list[str]:
    """What to test: the argument, else the first subscription's email and notify URLs."""
    if target:
        return [target]
    if not config.subscriptions:
        raise UsageError("no [[subscriptions]] configured: name an address or an Apprise URL")
    first = config.subscriptions[0]
    return ([first.email] if first.email else []) + list(first.notify)


def run_test(config: Config, target: str | None, echo: Echo, now: datetime | None = None) -> bool:
    """Send one test message to each target, printing every step; True when all arrived."""
    now = now or datetime.now(UTC)
    results = [
        _apprise(t, echo) if "://" in t else _email(config, t, echo, now)
        for t in targets(config, target)
    ]
    return all(results)


def _email(config: Config, to: str, echo: Echo, now: datetime) -> bool:
    if "@" not in to or any(c.isspace() for c in to):
        raise UsageError(
            f"{to!r:.80} is neither an email address nor an Apprise URL: give one such as "
            "desk@example.org or json://host/path"
        )
    email = config.email
    msg = probe_message(email.from_, to, now)
    if not email.smtp_host:
        outbox = EmlOutbox(email.outbox_dir)
        before = set(outbox.directory.glob("*.eml"))
        try:
            outbox.send(msg)
        except DeliveryError as exc:
            echo(f"  write     FAILED  {exc}")
            echo("            fix: make [email] outbox_dir a folder mediawatch can write to")
            return False
        written = sorted(set(outbox.directory.glob("*.eml")) - before) or [outbox.directory]
        echo(
            "No SMTP server is configured ([email] smtp_host is empty), so alerts are .eml "
            f"files: wrote the test message to {written[0].resolve()}"
        )
        echo("Set [email] smtp_host (and smtp_port, smtp_user) to send real email.")
        return True
    echo(f"Test email to {to} through {email.smtp_host}:{email.smtp_port}, from {email.from_}")
    last: Step | None = None
    for step in smtp_steps(email, msg):
        _print_step(step, echo)
        last = step
    delivered = last is not None and last.ok and last.name == "message"
    echo(
        f"Delivered: the server took the message for {to}."
        if delivered
        else f"Not delivered: the {last.name if last else 'connect'} step failed."
    )
    return delivered


def _print_step(step: Step, echo: Echo) -> None:
    state = "skipped" if step.skipped else "ok" if step.ok else "FAILED"
    echo(f"  {step.name:<10}{state:<8}{step.answer}")
    if step.fix:
        echo(f"  {'':<10}fix: {step.fix}")


def _apprise(url: str, echo: Echo) -> bool:
    scheme = url.partition("://")[0].lower()
    try:
        url = check_apprise_url(url)
    except ValueError as exc:
        echo(f"Test notification ({scheme}://)")
        echo(f"  {'load':<10}{'FAILED':<8}{exc}")
        return False
    name = service_name(url)
    echo(f"Test notification through Apprise: {name} ({scheme}://)")
    try:
        answer = notify(
            url,
            "[mediawatch] Test message",
            "This is a test message from `mediawatch alerts test`: alerts can reach this channel.",
        )
    except DeliveryError as exc:
        echo(f"  {'notify':<10}{'FAILED':<8}{exc}")
        fix = APPRISE_FIX[
            PermanentDeliveryError if isinstance(exc, PermanentDeliveryError) else DeliveryError
        ]
        echo(f"  {'':<10}fix: {fix}")
        echo(f"Not delivered: {name} refused or could not be reached.")
        return False
    echo(f"  {'notify':<10}{'ok':<8}{answer}")
    echo(f"Delivered: {name} accepted the notification.")
    return True
