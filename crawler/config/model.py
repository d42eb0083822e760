"""mediawatch.toml: one validated model, loaded once and passed explicitly.

Every error names the file, the key path and the fix, and ends as exit code 2 in the CLI.
"""

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from crawler.config.errors import ConfigError, describe
from crawler.config.notify import check_apprise_url, notify_key
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
    # strict: a boolean is true or false and a number is a number, never "yes" or "25" coerced;
    # every key added to a section is held to it. Durations are the one exception: text with a
    # unit ("30m"), which spiders.durations.Duration turns into a timedelta first.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


_LOCAL_PART = re.compile(r"^[^\s@<>()\[\]\\,;:\"]+$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def email_problem(address: str) -> str | None:
    """What is wrong with `address` as an email address (local@domain), in words; None if
    nothing. A domain without a dot is allowed ("mediawatch@localhost" on the machine itself)."""
    local, at, domain = address.rpartition("@")
    if not at:
        return "is not an email address: it has no @"
    if not local:
        return "is not an email address: nothing comes before the @"
    if not _LOCAL_PART.match(local) or ".." in local or local[0] == "." or local[-1] == ".":
        return "is not an email address: the part before the @ has spaces or signs it cannot have"
    try:
        ascii_domain = domain.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        ascii_domain = ""
    labels = ascii_domain.split(".")
    if not ascii_domain or len(ascii_domain) > 253 or not all(map(_DOMAIN_LABEL.match, labels)):
        return "is not an email address: the part after the @ is not a domain name"
    return None


def email_address(value: str) -> str:
    """`value` if it is an email address; else a ValueError with the fix."""
    problem = email_problem(value.strip())
    if problem:
        raise ValueError(f'{problem}. Fix: write a full address such as "desk@example.org"')
    return value.strip()


def email_or_empty(value: str) -> str:
    """An email address, or "" for none."""
    return email_address(value) if value.strip() else ""


def sender_address(value: str) -> str:
    """[email] from: an address, or a name and an address ("Mediawatch <mw@example.org>")."""
    name, address = parseaddr(value)
    if "<" in value and address:
        email_address(address)
        return value.strip()
    return email_address(value)


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
                "uses a PostgreSQL driver mediawatch does not install. "
                'Fix: start it with "postgresql+psycopg://"'
            )
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
            raise ValueError(
                'must start with "sqlite:///" or "postgresql+psycopg://". Fix: write e.g. '
                '"sqlite:///mediawatch.db" or "postgresql+psycopg://mediawatch@/mediawatch"'
            )
        try:
            make_url(url)
        except (ArgumentError, ValueError):
            raise ValueError(
                "is not a valid database URL. Fix: check the port and %-encode special "
                'characters in the password: "postgresql+psycopg://user:password@host:5432/db"'
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
    # Stored articles are fetched again this long after first seen, to catch edits; [] is off.
    recheck: list[Duration] = Field(
        default_factory=lambda: [timedelta(hours=1), timedelta(hours=6), timedelta(days=1)],
        max_length=20,
    )

    @field_validator("recheck")
    @classmethod
    def _recheck(cls, steps: list[timedelta]) -> list[timedelta]:
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise ValueError(
                'list the times after first seen from the shortest up, e.g. ["1h", "6h", "24h"]'
            )
        return steps


class EmailConfig(_Section):
    """[email]: how alerts and digests leave (SMTP or .eml files)."""

    from_: Annotated[str, AfterValidator(sender_address)] = Field(
        default="mediawatch@localhost", alias="from"
    )
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
    """[[topics]]: one keyword rule: terms (with context and exclusions), a query, or both."""

    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    name: str = Field(min_length=1)
    terms: list[str] = []
    context: list[str] = []
    exclude: list[str] = []
    # The search query language (README "Topic queries"); matches on its own, beside `terms`.
    query: str | None = None
    weight: float = Field(default=1.0, gt=0)

    @field_validator("terms", "context", "exclude")
    @classmethod
    def _non_blank(cls, words: list[str]) -> list[str]:
        if any(not w.strip() for w in words):
            raise ValueError('holds an empty string "". Fix: remove it from the list')
        return words

    @field_validator("query")
    @classmethod
    def _query(cls, query: str | None) -> str | None:
        from storage.querylang import QuerySyntaxError, parse_query

        if query is None:
            return None
        if not query.strip():
            raise ValueError("is empty; write a query or leave the key out")
        try:
            parse_query(query)
        except QuerySyntaxError as exc:
            raise ValueError(f"is not a valid query: {exc}") from None
        return query

    @model_validator(mode="after")
    def _terms_or_query(self) -> "Topic":
        if not self.terms and self.query is None:
            raise ValueError(
                f'topic {self.id!r} has neither terms nor a query; add terms = ["..."] '
                'or query = "..."'
            )
        return self


class Subscription(_Section):
    """[[subscriptions]]: who is told about what, and when."""

    # Optional when `notify` is given; a subscription needs at least one of the two.
    email: Annotated[str, AfterValidator(email_or_empty)] = ""
    # Apprise URLs (chat, webhooks): checked at load, never printed (crawler.config.notify).
    notify: list[Annotated[str, AfterValidator(check_apprise_url)]] = []
    topics: list[str] | None = None
    min_score: float = Field(default=1.0, ge=0)
    immediate: bool = True
    on_edit: bool = False  # also an "Edited:" alert when an article already alerted changes
    spikes: bool = False  # also a "Spike:" alert when a topic has far more stories today
    digest: str = "daily@07:00"
    timezone: str = "UTC"

    @property
    def key(self) -> str:
        """The outbox's name for this subscription: its email (lower case), else a hash of
        its first notify URL (never the URL: it holds the secret)."""
        return self.email.lower() if self.email else notify_key(self.notify)

    @model_validator(mode="after")
    def _channels(self) -> "Subscription":
        if not self.email and not self.notify:
            raise ValueError('needs "email", "notify" (Apprise URLs) or both')
        if not self.email:
            if "digest" in self.model_fields_set and self.digest != "off":
                raise ValueError('digests are emails: add "email" or set digest = "off"')
            if not self.immediate:
                raise ValueError(
                    'without "email" only immediate alerts reach the notify channels: '
                    "remove immediate = false or add an email"
                )
            self.digest = "off"
        return self

    @field_validator("topics")
    @classmethod
    def _some_topics(cls, topics: list[str] | None) -> list[str] | None:
        # "All topics" is leaving the key out; [] would match no article ever, without a word.
        return refuse_empty(
            topics,
            "selects no topic, so this subscription would get nothing",
            'list topic ids (topics = ["cismoa"]), or remove the key for every topic',
        )

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
            'is not a digest schedule. Fix: write "off", "daily@HH:MM", "weekly@mon@HH:MM" or '
            'a five-field cron expression ("0 7 * * 1-5")'
        )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return iana_zone(value)


def refuse_empty(items: list[str] | None, outcome: str, fix: str) -> list[str] | None:
    """`items`, unless it is [] for a key where an empty list would silently select nothing."""
    if items == []:
        raise ValueError(f"an empty list {outcome}. Fix: {fix}")
    return items


def iana_zone(value: str) -> str:
    """`value` if it names an IANA time zone ("Asia/Karachi", "UTC"), else a plain ValueError."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'{value!r} is not a time zone; use an IANA name such as "Asia/Karachi"'
        ) from None
    return value


class AlertsConfig(_Section):
    """[alerts]: telling the operator about unhealthy outlets."""

    operator: Annotated[str, AfterValidator(email_or_empty)] = ""  # "": nobody is told
    unhealthy_after_runs: int = Field(default=6, ge=1)


class QueueConfig(_Section):
    """[queue]: crawl jobs over Redis for worker machines (empty: none)."""

    url: str = ""  # empty: the daemon crawls itself; "redis://host:6379/0": workers do
    name: str = Field(default="mediawatch-crawl", min_length=1)

    @field_validator("url")
    @classmethod
    def _redis(cls, url: str) -> str:
        if url and not re.match(r"^rediss?://", url):
            raise ValueError(
                'is not a Redis URL. Fix: write one such as "redis://127.0.0.1:6379/0", or "" '
                "for no queue"
            )
        return url


class WebConfig(_Section):
    """[web]: where `mediawatch web` listens, which Host names it answers, and whether it asks
    for a token."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    token: str = ""  # $MEDIAWATCH_WEB_TOKEN, when set, wins: keeps the secret out of the file
    # None: localhost, 127.0.0.1, ::1 and `host`. A DNS-rebinding page sends its own name.
    allowed_hosts: list[str] | None = None
    timezone: str = "UTC"  # the IANA zone the pages show dates in ("Asia/Karachi")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return iana_zone(value)

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str] | None) -> list[str] | None:
        # Starlette's TrustedHostMiddleware answers no Host at all for [], so every page would
        # be a 400: not what a user writing [] for "no restriction" expects.
        refuse_empty(
            hosts,
            "answers no host name, so the web UI would refuse every request",
            'list host names (allowed_hosts = ["news.example.org"]), "*" for any host, or '
            "remove the key for the default (localhost and `host`)",
        )
        for h in hosts or []:
            if not h.strip() or "*" in h[1:] or (h.startswith("*") and not h.startswith("*.")):
                raise ValueError(
                    "has an entry that is not a host name. Fix: write each as a host name or "
                    'address ("news.example.org", "10.0.0.5"), "*.example.org" for its '
                    'subdomains, or "*" for any host'
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
    def _cross_checks(self, info: ValidationInfo) -> "Config":
        # config_from_dict checks the parsed file itself, beside the per-key errors.
        if info.context and info.context.get(_ENTRIES_CHECKED):
            return self
        problems = entry_problems(self.model_dump(include={"outlets", "topics", "subscriptions"}))
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    def active_outlets(self) -> list[Outlet]:
        """Catalogue outlets picked by [catalogue].include, then the user's [[outlets]]."""
        return select_outlets(self.catalogue.include, self.outlets)

    def active_outlet(self, outlet_id: str) -> Outlet | None:
        """The outlet in use with this id, if any."""
        return next((o for o in self.active_outlets() if o.id == outlet_id), None)

    def outlet_interval(self, outlet: Outlet) -> timedelta:
        return outlet.interval or self.crawl.interval


_ENTRIES_CHECKED = "entries_checked"


def entry_problems(data: Mapping[str, Any]) -> list[str]:
    """Every problem across entries, each a line naming its keys and the fix: two [[outlets]]
    or [[topics]] with one id, one address subscribed twice, a subscription naming an unknown
    topic. Read from the parsed file as written, whatever else is wrong in it, so one run
    reports these with the per-key errors (pydantic runs a model's own checks only once every
    key in it is valid)."""
    outlets, topics, subs = (_entries(data, s) for s in ("outlets", "topics", "subscriptions"))
    problems = [
        *_duplicates("outlets", "id", [o.get("id") for o in outlets], "give each its own id"),
        *_duplicates("topics", "id", [t.get("id") for t in topics], "give each its own id"),
        *_duplicates(
            "subscriptions",
            "email",
            [e.strip().lower() if isinstance(e := s.get("email"), str) else None for s in subs],
            "merge them into one [[subscriptions]] (one address gets one alert per article; "
            "list every topic it wants in topics) or remove all but one",
        ),
    ]
    defined = {t.get("id") for t in topics} if "topics" in data else {t.id for t in DEFAULT_TOPICS}
    topic_ids = sorted(i for i in defined if isinstance(i, str))
    for i, sub in enumerate(subs):
        wanted = sub.get("topics")
        names = wanted if isinstance(wanted, list) else []
        unknown = [t for t in names if isinstance(t, str) and t not in topic_ids]
        if unknown:
            problems.append(
                f"subscriptions[{i}].topics: names unknown topics {_quoted(unknown)}; "
                f"the topics defined are {_quoted(topic_ids)}. Fix: correct the names, or add "
                "a [[topics]] entry for each (a file with [[topics]] replaces the three default "
                "topics, so write those out too if you want them)."
            )
    return problems


def _entries(data: Mapping[str, Any], section: str) -> list[Mapping[str, Any]]:
    """The tables of [[section]] as written; anything else (pydantic reports it) as empty."""
    value = data.get(section)
    if not isinstance(value, list):
        return []
    return [entry if isinstance(entry, Mapping) else {} for entry in value]


def _duplicates(section: str, key: str, values: list[Any], fix: str) -> list[str]:
    """One line per value of `key` that more than one [[section]] has, naming every one."""
    where: dict[str, list[int]] = {}
    for i, value in enumerate(values):
        if isinstance(value, str) and value:
            where.setdefault(value, []).append(i)
    lines = []
    for value, places in where.items():
        if len(places) < 2:
            continue
        keys = [f"{section}[{i}].{key}" for i in places]
        both = "both" if len(keys) == 2 else "all"
        lines.append(
            f'{", ".join(keys[:-1])} and {keys[-1]} are {both} "{value}": each [[{section}]] '
            f"needs its own {key}. Fix: {fix}."
        )
    return lines


def _quoted(items: list[str]) -> str:
    return ", ".join(f'"{i}"' for i in items)


def _keys_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys the table holding the key at `loc` accepts (for "did you mean ...?")."""
    model: Any = Config
    for item in loc[:-1]:
        if not isinstance(item, str):
            continue
        fields = getattr(model, "model_fields", {})
        field = fields.get(item) or next((f for f in fields.values() if f.alias == item), None)
        if field is None:
            return []
        kind = field.annotation
        while getattr(kind, "__args__", None) and not (
            isinstance(kind, type) and issubclass(kind, BaseModel)
        ):
            kind = next((a for a in kind.__args__ if a is not type(None)), None)
        model = kind
    fields = getattr(model, "model_fields", {}) if isinstance(model, type) else {}
    return [f.alias or name for name, f in fields.items() if name != "source"]


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
    lines: list[str] = []
    try:
        config = Config.model_validate(data, context={_ENTRIES_CHECKED: True})
    except ValidationError as exc:
        lines = [describe(error, data, _keys_at(error["loc"])) for error in exc.errors()]
    # Checked here, not only in Config: with the per-key errors, not in a run after them.
    lines += entry_problems(data)
    if lines:
        raise ConfigError(f"{source}: " + "\n  ".join(["invalid configuration:", *lines]))
    return config.model_copy(update={"source": source})


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


def starter_config() -> str:
    """The commented starter file `mediawatch init` writes."""
    from importlib import resources

    return resources.files("crawler.config").joinpath("starter.toml").read_text(encoding="utf-8")
