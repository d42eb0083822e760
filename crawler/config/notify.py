"""`[[subscriptions]] notify`: Apprise URLs checked when the file is loaded, never printed.

An Apprise URL carries its secret in plain sight (a Slack webhook's tokens are its path), so
nothing here ever echoes one: an error names the key (`subscriptions[0].notify[1]`), at
most the URL's scheme, and the fix. `${NAME}` in an entry is read from the environment, so
the secret can stay out of the file as the SMTP password does.
"""

import hashlib
import logging
import os
import re

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
WIKI = "https://github.com/caronc/apprise/wiki"


def expand_env(url: str) -> str:
    """`url` with each `${NAME}` replaced by that environment variable; a ValueError names
    a variable that is not set."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ValueError(
                f"${{{name}}} is not set in the environment; export it or write the URL"
            )
        return os.environ[name]

    return _ENV.sub(value, url)


def check_apprise_url(url: str) -> str:
    """`url` (its `${NAME}`s expanded) if Apprise can load it; else a ValueError that shows
    the scheme at most, never the URL (it holds the secret)."""
    import apprise
    from apprise.manager_plugins import NotificationManager

    url = expand_env(url.strip())
    found = _SCHEME.match(url)
    if found is None:
        raise ValueError(
            'not an Apprise URL; write one such as "slack://TokenA/TokenB/TokenC", '
            f'"msteams://...", or "json://host/path" (services: {WIKI})'
        )
    scheme = found.group(1).lower()
    if scheme not in NotificationManager():
        raise ValueError(f"{scheme}:// is not a service Apprise knows; see {WIKI} for the list")
    # Apprise logs why a URL does not load, quoting parts of it: kept out of our output.
    log = logging.getLogger(apprise.LOGGER_NAME)
    was_disabled, log.disabled = log.disabled, True
    try:
        plugin = apprise.Apprise.instantiate(url)
    finally:
        log.disabled = was_disabled
    if plugin is None:
        raise ValueError(
            f"this {scheme}:// URL is incomplete or malformed (Apprise cannot load it); "
            f"compare it with the {scheme} page of {WIKI}"
        )
    return url


def notify_key(urls: list[str]) -> str:
    """A subscription key for a subscription without email: a hash of its first URL, so the
    key stays the same when more channels are added and never shows the secret."""
    return "notify:" + hashlib.sha256(urls[0].encode("utf-8")).hexdigest()[:16]
