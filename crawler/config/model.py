"""mediawatch.toml: one validated model, loaded once and passed explicitly.

Every error names the file, the key path and the fix, and ends as exit code 2 in the CLI.
"""

import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from crawler.config.errors import ConfigError
from spiders.durations import Duration
from spiders.outlets import Outlet, bundled_catalogue, select_outlets

CONFIG_ENV = "MEDIAWATCH_CONFIG"
PASSWORD_ENV = "MEDIAWATCH_SMTP_PASSWORD"
WEB_TOKEN_ENV = "MEDIAWATCH_WEB_TOKEN"
DEFAULT_FILE = "mediawatch.toml"

_DIGEST = re.compile(
    r"^(off|daily@([01]\d|2[0-3]):[0-5]\d|weekly@(mon|tue|wed|thu|fri|sat|sun)@([01]\d|2[0-3]):[0-5]\d)$"
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DatabaseConfig(_Section):
    """[database]: where articles, alerts and crawl runs are kept."""

    url: str = "sqlite:///mediawatch.db"

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        if re.match(r"^postgres(ql)?://", url):
            # libpq's own form; psycopg (3) is the driver we install, so say so for SQLAlchemy.
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        if re.match(r"^postgresql\+(?!psycopg://)", url):
            raise ValueError(
                'uses a PostgreSQL driver mediawatch does not install; write "postgresql+psycopg://"'
            )
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
            raise ValueError(
                'must start with "sqlite:///" or "postgresql+psycopg://", '
                'e.g. "sqlite:///mediawatch.db"'
            )
        try:
            make_url(url)
        except (ArgumentError, ValueError):
            raise ValueError(
                "is not a valid database URL (check the port and %-encode special characters "
                'in the password), e.g. "postgresql+psycopg://user:password@host:5432/mediawatch"'
            ) from None
        return url


class CrawlConfig(_Section):
    """[crawl]: politeness, limits and timings for every outlet."""

    user_agent: str = "mediawatch/0.1 (news monitoring; contact: see [crawl] user_agent)"
    obey_robots: bool = True
    interval: Duration = timedelta(minutes=30)
    max_age_days: int = Field(default=7, ge=1)
    download_delay: float = Field(default=1.0, ge=0)
    concurrency_per_outlet: int = Field(default=4, ge=1, le=64)
    timeout: Duration = timedelta(seconds=30)
    retries: int = Field(default=2, ge=0, le=10)
    max_page_mb: float = Field(default=10.0, gt=0)
    extract_workers: int = Field(default=2, ge=0, le=32)
    extract_deadline: Duration = timedelta(seconds=30)
    run_timeout: Duration = timedelta(minutes=20)
    shutdown_grace: Duration = timedelta(seconds=30)
    # A page must not make the crawler read this machine or its network, unless you say so.
    allow_private_addresses: bool = False
    # What one source may ask for in one run; the rest waits for the next run, newest first.
    max_sitemap_entries: int = Field(default=10_000, ge=1, le=1_000_000)
    max_child_sitemaps: int = Field(default=50, ge=1, le=10_000)
    max_articles_per_run: int = Field(default=500, ge=1, le=1_000_000)


class EmailConfig(_Section):
    """[email]: how alerts and digests leave (SMTP or .eml files)."""

    from_: str = Field(default="mediawatch@localhost", alias="from")
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_timeout: Duration = timedelta(seconds=30)
    outbox_dir: str = "outbox"

    @property
    def smtp_password(self) -> str:
        """The SMTP password comes only from the environment, never from the file."""
        return os.environ.get(PASSWORD_ENV, "")


class CatalogueConfig(_Section):
    """[catalogue]: which bundled outlets are in use."""

    include: list[str] = ["all"]

    @field_validator("include")
    @classmethod
    def _known(cls, include: list[str]) -> list[str]:
        known = (
            {"all"} | {o.id for o in bundled_catalogue()} | {o.country for o in bundled_catalogue()}
        )
        unknown = [i for i in include if i not in known]
        if unknown:
            raise ValueError(
                f'unknown catalogue entries {unknown}; use "all", a country code '
                f"({', '.join(sorted({o.country for o in bundled_catalogue()}))}) or an outlet id "
                "from `mediawatch outlets list`"
            )
        return include


class Topic(_Section):
    """[[topics]]: one keyword rule."""

    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    name: str = Field(min_length=1)
    terms: list[str] = Field(min_length=1)
    context: list[str] = []
    exclude: list[str] = []
    weight: float = Field(default=1.0, gt=0)

    @field_validator("terms", "context", "exclude")
    @classmethod
    def _non_blank(cls, words: list[str]) -> list[str]:
        if any(not w.strip() for w in words):
            raise ValueError("empty strings are not allowed")
        return words


class Subscription(_Section):
    """[[subscriptions]]: who is told about what, and when."""

    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    topics: list[str] | None = None
    min_score: float = Field(default=1.0, ge=0)
    immediate: bool = True
    digest: str = "daily@07:00"
    timezone: str = "UTC"

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        if _DIGEST.match(value):
            return value
        if len(value.split()) == 5:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ValueError(f"not a valid cron expression: {exc}") from None
            return value
        raise ValueError(
            'use "off", "daily@HH:MM", "weekly@mon@HH:MM" or a five-field cron expression'
        )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f'{value!r} is not a time zone; use an IANA name such as "Asia/Karachi"'
            ) from None
        return value


class AlertsConfig(_Section):
    """[alerts]: telling the operator about unhealthy outlets."""

    operator: str = ""
    unhealthy_after_runs: int = Field(default=6, ge=1)


class QueueConfig(_Section):
    """[queue]: crawl jobs over Redis for worker machines (empty: none)."""

    url: str = ""  # empty: the daemon crawls itself; "redis://host:6379/0": workers do
    name: str = Field(default="mediawatch-crawl", min_length=1)

    @field_validator("url")
    @classmethod
    def _redis(cls, url: str) -> str:
        if url and not re.match(r"^rediss?://", url):
            raise ValueError('must be empty or a Redis URL such as "redis://127.0.0.1:6379/0"')
        return url


class WebConfig(_Section):
    """[web]: where `mediawatch web` listens, which Host names it answers, and whether it asks
    for a token."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    token: str = ""  # $MEDIAWATCH_WEB_TOKEN, when set, wins: keeps the secret out of the file
    # None: localhost, 127.0.0.1, ::1 and `host`. A DNS-rebinding page sends its own name.
    allowed_hosts: list[str] | None = None

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str] | None) -> list[str] | None:
        for h in hosts or []:
            if not h.strip() or "*" in h[1:] or (h.startswith("*") and not h.startswith("*.")):
                raise ValueError(
                    'each entry is a host name or address ("news.example.org", "10.0.0.5"), '
                    '"*.example.org" for its subdomains, or "*" for any host'
                )
        return hosts

    @model_validator(mode="after")
    def _token_from_env(self) -> "WebConfig":
        if env := os.environ.get(WEB_TOKEN_ENV):
            self.token = env
        return self

    def trusted_hosts(self, listening_on: str | None = None) -> list[str]:
        """The Host header values the web UI answers (IPv6 literals in brackets, as sent)."""
        hosts = self.allowed_hosts
        if hosts is None:
            hosts = ["localhost", "127.0.0.1", "::1", self.host, listening_on or self.host]
        out = [f"[{h}]" if ":" in h and not h.startswith("[") else h for h in hosts]
        return list(dict.fromkeys(h.strip().lower() for h in out))


DEFAULT_TOPICS = [
    Topic(
        id="cismoa",
        name="CISMOA",
        terms=[
            "CISMOA",
            "Communication Interoperability and Security Memorandum of Agreement",
            "COMCASA",
        ],
    ),
    Topic(
        id="ttp",
        name="Tehreek-e-Taliban Pakistan",
        terms=[
            "TTP",
            "Tehreek-e-Taliban Pakistan",
            "Tehrik-e-Taliban Pakistan",
            "Tehrik-i-Taliban Pakistan",
            "Pakistani Taliban",
            "تحریک طالبان پاکستان",
        ],
        context=["Taliban", "militant", "terror", "Khyber", "Afghanistan"],
        exclude=["tactics, techniques and procedures"],
    ),
    Topic(
        id="fatf",
        name="FATF",
        terms=["FATF", "Financial Action Task Force", "grey list", "gray list"],
    ),
]

DEFAULT_SUBSCRIPTION = Subscription(email="mediawatch@localhost")


class Config(_Section):
    """The whole of mediawatch.toml, with defaults for everything left out."""

    database: DatabaseConfig = DatabaseConfig()
    crawl: CrawlConfig = CrawlConfig()
    email: EmailConfig = EmailConfig()
    catalogue: CatalogueConfig = CatalogueConfig()
    outlets: list[Outlet] = []
    topics: list[Topic] = Field(default_factory=lambda: list(DEFAULT_TOPICS))
    subscriptions: list[Subscription] = Field(default_factory=lambda: [DEFAULT_SUBSCRIPTION])
    alerts: AlertsConfig = AlertsConfig()
    web: WebConfig = WebConfig()
    queue: QueueConfig = QueueConfig()

    source: str = Field(default="(built-in defaults)", exclude=True)

    @model_validator(mode="after")
    def _cross_checks(self) -> "Config":
        _unique("outlets", [o.id for o in self.outlets])
        _unique("topics", [t.id for t in self.topics])
        topic_ids = {t.id for t in self.topics}
        for i, sub in enumerate(self.subscriptions):
            unknown = [t for t in sub.topics or [] if t not in topic_ids]
            if unknown:
                raise ValueError(
                    f"subscriptions[{i}].topics names unknown topics {unknown}; "
                    f"defined topics are {sorted(topic_ids)}"
                )
        return self

    def active_outlets(self) -> list[Outlet]:
        """Catalogue outlets picked by [catalogue].include, then the user's [[outlets]]."""
        return select_outlets(self.catalogue.include, self.outlets)

    def active_outlet(self, outlet_id: str) -> Outlet | None:
        """The outlet in use with this id, if any."""
        return next((o for o in self.active_outlets() if o.id == outlet_id), None)

    def outlet_interval(self, outlet: Outlet) -> timedelta:
        return outlet.interval or self.crawl.interval


def _unique(section: str, ids: list[str]) -> None:
    seen = sorted({i for i in ids if ids.count(i) > 1})
    if seen:
        raise ValueError(f"[[{section}]] ids must be unique; repeated: {seen}")


def find_config_path(explicit: str | None) -> Path | None:
    """--config, else $MEDIAWATCH_CONFIG, else ./mediawatch.toml, else None (defaults)."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{path}: no such configuration file (given with --config)")
        return path
    if env := os.environ.get(CONFIG_ENV):
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"{path}: no such configuration file (named by ${CONFIG_ENV})")
        return path
    local = Path(DEFAULT_FILE)
    return local if local.is_file() else None


def load_config(explicit: str | None = None) -> Config:
    """Find and validate the configuration; raise ConfigError naming file, key and fix."""
    path = find_config_path(explicit)
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}. Fix the syntax at that line.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    return _relative_to(config_from_dict(data, str(path)), path.parent)


def _relative_to(config: Config, base: Path) -> Config:
    """Relative file paths in a configuration file mean the file's own directory, so
    `--config /etc/mediawatch/mediawatch.toml` finds the same database from anywhere."""
    url = make_url(config.database.url)
    database = config.database
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database).expanduser()
        if not path.is_absolute():
            resolved = url.set(database=str(base / path))
            database = database.model_copy(
                update={"url": resolved.render_as_string(hide_password=False)}
            )
    email = config.email
    if not Path(email.outbox_dir).expanduser().is_absolute():
        email = email.model_copy(update={"outbox_dir": str(base / email.outbox_dir)})
    return config.model_copy(update={"database": database, "email": email})


def config_from_dict(data: dict[str, Any], source: str) -> Config:
    """Validate parsed TOML; `source` names the file in error messages."""
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(error, data) for error in exc.errors()]
        raise ConfigError(f"{source}: " + "\n  ".join(["invalid configuration:", *lines])) from None
    return config.model_copy(update={"source": source})


def _describe(error: Any, data: dict[str, Any]) -> str:
    loc = error["loc"]
    key = _key_path(loc, data)
    kind = error["type"]
    msg = error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return (
            f"{key}: unknown key. Fix: remove it or correct its spelling (see `mediawatch init`)."
        )
    if kind == "missing":
        return f"{key}: required key is missing. Fix: add it."
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) or _secret(key, got) else f" (got {got!r})"
    # A validator may quote the bad URL itself; its password never reaches a terminal or log.
    msg = _URL_PASSWORD.sub(r"\1***@", msg)
    return f"{key}: {msg}{shown}. Fix: change this value."


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@/\s]+@")


def _secret(key: str, value: Any) -> bool:
    """Whether a bad value may hold a secret, so an error message must not echo it (a token,
    a password, or any URL, which may carry one as user:password@)."""
    last = key.rsplit(".", 1)[-1].lower()
    return any(word in last for word in ("token", "password", "secret", "url", "notify")) or (
        isinstance(value, str) and "://" in value
    )


def redacted_url(url: str) -> str:
    """`url` fit to print or log: any password replaced by ***."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "(an unreadable URL)"
    if not password:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _key_path(loc: tuple[Any, ...], data: Any) -> str:
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node):
                node = node[item]
                if isinstance(node, dict) and isinstance(node.get("id"), str):
                    label = f"[{item}] (id {node['id']!r})"
            parts.append(label)
        else:
            if item in ("function-after[_cross_checks()]",):
                continue
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def starter_config() -> str:
    """The commented starter file `mediawatch init` writes."""
    from importlib import resources

    return resources.files("crawler.config").joinpath("starter.toml").read_text(encoding="utf-8")
