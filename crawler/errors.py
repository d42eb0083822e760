"""The exceptions mediawatch raises, so callers catch ours and never a library's.

    MediawatchError
     ├── ConfigError          bad configuration file, key or value (CLI exit 2)
     ├── UsageError           bad command-line input such as a malformed date (CLI exit 2)
     ├── NotFoundError        no article, outlet or subscription with that id (CLI exit 1)
     ├── QueryError           a search query that cannot be parsed (CLI exit 2)
     └── DeliveryError        an email could not be handed over
          ├── TemporaryDeliveryError   worth retrying later (connection refused, 4xx, timeout)
          └── PermanentDeliveryError   the server said no for good (5xx)

Third-party errors are translated where they enter our code; the CLI turns each of these
into one line on stderr and an exit code.
"""


class MediawatchError(Exception):
    """Base of every error mediawatch raises on purpose."""

    exit_code = 1


class ConfigError(MediawatchError):
    """The configuration file, a key in it or a value is wrong; the message says how to fix it."""

    exit_code = 2


class UsageError(MediawatchError):
    """A command-line argument is wrong."""

    exit_code = 2


class NotFoundError(MediawatchError):
    """The thing asked for does not exist."""


class QueryError(MediawatchError):
    """A search query could not be parsed."""

    exit_code = 2


class DeliveryError(MediawatchError):
    """An email could not be delivered."""


class TemporaryDeliveryError(DeliveryError):
    """Delivery failed for now; the alert stays queued and is retried."""


class PermanentDeliveryError(DeliveryError):
    """Delivery was refused for good; the alert is marked failed."""
