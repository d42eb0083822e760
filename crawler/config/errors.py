"""The exceptions mediawatch raises, so callers catch ours and never a library's.

    MediawatchError
     ├── ConfigError          bad configuration file, key or value (CLI exit 2)
     ├── UsageError           bad command-line input such as a malformed date (CLI exit 2)
     ├── NotFoundError        no article, outlet or subscription with that id (CLI exit 1)
     └── QueryError           a search query that cannot be parsed (CLI exit 2)

Email delivery has its own small tree, `alerts.errors.DeliveryError`, below this package
(alerts/ imports nothing of crawler/); the CLI reports both the same way.

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
