"""mediawatch.toml as one validated model, and the errors every command reports.

`model` holds the configuration (loaded once, passed explicitly); `errors` the exception tree
the CLI and web UI turn into one clear line. The names below are the public ones.
"""

from crawler.config.model import (
    CONFIG_ENV,
    DEFAULT_FILE,
    DEFAULT_SUBSCRIPTION,
    DEFAULT_TOPICS,
    PASSWORD_ENV,
    Config,
    Subscription,
    Topic,
    config_from_dict,
    find_config_path,
    load_config,
    starter_config,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_FILE",
    "DEFAULT_SUBSCRIPTION",
    "DEFAULT_TOPICS",
    "PASSWORD_ENV",
    "Config",
    "Subscription",
    "Topic",
    "config_from_dict",
    "find_config_path",
    "load_config",
    "starter_config",
]
