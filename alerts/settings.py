"""What alerts/ needs of the configuration, as Protocols: alerts/ never imports crawler/.

crawler.config's pydantic models satisfy these structurally; mypy checks that they do where
the crawler hands its configuration over. Read-only properties, so frozen models fit too.
"""

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from alerts.decision import SubscriptionRule


class EmailSettings(Protocol):
    """[email]: how alerts and digests leave (SMTP, or .eml files when no host is set)."""

    @property
    def from_(self) -> str: ...
    @property
    def smtp_host(self) -> str: ...
    @property
    def smtp_port(self) -> int: ...
    @property
    def smtp_starttls(self) -> bool: ...
    @property
    def smtp_user(self) -> str: ...
    @property
    def smtp_password(self) -> str: ...
    @property
    def smtp_timeout(self) -> timedelta: ...
    @property
    def outbox_dir(self) -> str: ...


class Subscriber(SubscriptionRule, Protocol):
    """[[subscriptions]]: who is told, about what (SubscriptionRule), and when."""

    @property
    def email(self) -> str: ...  # "" when the subscription has only notify channels
    @property
    def notify(self) -> Sequence[str]: ...  # Apprise URLs (alerts.channels sends to them)
    @property
    def key(self) -> str: ...  # the outbox's name for it: the email, else a hash of a URL
    @property
    def immediate(self) -> bool: ...
    @property
    def digest(self) -> str: ...
    @property
    def timezone(self) -> str: ...


class MailSettings(Protocol):
    """The parts of the configuration that sending alerts and digests reads."""

    @property
    def email(self) -> EmailSettings: ...
    @property
    def subscriptions(self) -> Sequence[Subscriber]: ...
