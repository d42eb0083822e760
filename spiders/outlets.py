"""Outlets as typed, validated data: the bundled catalogue plus the user's own.

An outlet is checked when it is loaded, not when the daemon first crawls it at 3 a.m.
"""

import re
import tomllib
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from spiders.addresses import literal_address
from spiders.durations import Duration

if TYPE_CHECKING:
    import tldextract


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{url!r} is not an http(s) URL. Fix: write the full address, starting with "
            '"https://" or "http://"'
        )
    return url


_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


@cache
def _suffixes() -> "tldextract.TLDExtract":
    """The bundled Public Suffix List snapshot, never fetched: a crawl makes no request of its
    own. Loaded on first use (tldextract brings requests: 0.1 s on every command otherwise)."""
    import tldextract

    return tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
    )


def _check_host(host: str) -> str:
    name = host.strip().lower().rstrip(".")
    is_name = len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))
    if not (is_name or literal_address(name.strip("[]"))):
        raise ValueError(
            f"{host!r} is not a host name; write the host alone, without scheme, port or "
            'path, e.g. "cdn.example.org"'
        )
    return name.strip("[]")


@lru_cache(maxsize=4096)
def site_of(host: str) -> str:
    """A host's registrable domain ("www.dawn.com" → "dawn.com"); the host itself for an
    address or a single-label name, without "www." and "m."."""
    host = host.lower().rstrip(".")
    if literal_address(host.strip("[]")):
        return host.strip("[]")
    return _suffixes()(host).top_domain_under_public_suffix or host.removeprefix(
        "www."
    ).removeprefix("m.")


class Outlet(BaseModel):
    """One news site: where its articles are announced and how often to look."""

    # strict, as mediawatch.toml's sections are: enabled = "yes" is an error, not coerced.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field(pattern=r"^[a-z0-9-]+$", max_length=64)
    name: str = Field(min_length=1)
    country: str = Field(
        default="",
        pattern=r"^([A-Z]{2}|regional)?$",
        description="ISO 3166 alpha-2 code, or 'regional' for region-wide analysis sites",
    )
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}$")
    feeds: list[str] = []
    sitemaps: list[str] = []
    listings: list[str] = []
    article_url_pattern: str | None = None
    listing_pages: str | None = Field(
        default=None,
        description='backfill: page n of each listing, "?page={n}" or "page/{n}/"',
    )
    listing_pages_max: int = Field(default=50, ge=2, le=10_000)
    hosts: list[str] = Field(
        default=[],
        description="other hosts its articles and sitemaps may be on (and their subdomains)",
    )
    interval: Duration | None = None
    enabled: bool = Field(default=True, description="false: listed, crawled only when named by id")
    confirmed: str = Field(default="", description="where the URLs were seen or confirmed")

    @field_validator("feeds", "sitemaps", "listings")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        return [_check_url(u) for u in urls]

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        return [_check_host(h) for h in hosts]

    @field_validator("article_url_pattern")
    @classmethod
    def _pattern(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"is not a valid regular expression ({exc}). Fix: correct it, and in TOML "
                    'write a backslash twice ("/opinion/\\\\d+/") or use single quotes'
                ) from None
        return pattern

    @field_validator("listing_pages")
    @classmethod
    def _pages(cls, template: str | None) -> str | None:
        if template is not None and (
            template.count("{n}") != 1
            or not template.strip()
            or "://" in template
            or template.lstrip().startswith(("//", "\\"))  # another host, scheme-relative
        ):
            raise ValueError(
                'must hold {n} once and be a query ("?page={n}") or a path relative to each '
                'listing ("page/{n}/")'
            )
        return template

    @model_validator(mode="after")
    def _has_source(self) -> "Outlet":
        if not (self.feeds or self.sitemaps or self.listings):
            raise ValueError(
                "an outlet needs at least one of feeds, sitemaps or listings. Fix: add "
                'feeds = ["https://..."], sitemaps = [...] or listings = [...]'
            )
        if self.listing_pages and not self.listings:
            raise ValueError("listing_pages needs listings = [...] to page through")
        return self

    def sources(self) -> list[tuple[str, str]]:
        """Every (kind, url) this outlet is discovered from."""
        return (
            [("feed", u) for u in self.feeds]
            + [("sitemap", u) for u in self.sitemaps]
            + [("listing", u) for u in self.listings]
        )

    def on_site(self, url: str) -> bool:
        """True when `url` is on this outlet's own site (the registrable domain of one of its
        sources, ignoring www. and m.) or on one of its `hosts` or their subdomains."""
        host = (_hostname(url) or "").rstrip(".")
        if not host:
            return False
        if any(host == h or host.endswith("." + h) for h in self.hosts):
            return True
        return site_of(host) in self._sites()

    def _sites(self) -> frozenset[str]:
        return _source_sites(tuple(url for _, url in self.sources()))


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url.strip()).hostname
    except ValueError:
        return None


@lru_cache(maxsize=1024)
def _source_sites(urls: tuple[str, ...]) -> frozenset[str]:
    return frozenset(site_of(h) for u in urls if (h := _hostname(u)))


class _Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outlets: list[Outlet]


@cache
def bundled_catalogue() -> tuple[Outlet, ...]:
    """The outlets shipped with mediawatch (spiders/catalogue.toml), validated once."""
    text = resources.files("spiders").joinpath("catalogue.toml").read_text(encoding="utf-8")
    outlets = _Catalogue.model_validate(tomllib.loads(text)).outlets
    ids = [o.id for o in outlets]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"catalogue.toml: duplicate outlet ids {duplicates}")
    return tuple(outlets)


def select_outlets(include: list[str], own: list[Outlet]) -> list[Outlet]:
    """The outlets in use: catalogue entries named by `include`, then the user's own.

    `include` items are "all", a country code, or an outlet id. A user outlet with a
    catalogue id replaces the catalogue entry (so a moved feed can be fixed locally).
    """
    chosen: dict[str, Outlet] = {}
    for outlet in bundled_catalogue():
        by_group = outlet.enabled and ("all" in include or outlet.country in include)
        if by_group or outlet.id in include:
            chosen[outlet.id] = outlet
    for outlet in own:
        chosen[outlet.id] = outlet
    return list(chosen.values())


def catalogue_markdown() -> str:
    """The README's table of bundled outlets (tests fail when the README drifts from it)."""
    rows = [
        "| id | outlet | country | language | sources | every | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in bundled_catalogue():
        sources = ", ".join(
            f"{len(urls)} {kind}"
            for kind, urls in (
                ("feeds", o.feeds),
                ("sitemaps", o.sitemaps),
                ("listings", o.listings),
            )
            if urls
        )
        every = _every(o)
        status = "enabled" if o.enabled else "disabled (unconfirmed)"
        rows.append(
            f"| `{o.id}` | {o.name} | {o.country} | {o.language} | {sources} | {every} | {status} |"
        )
    return "\n".join(rows)


def _every(outlet: Outlet) -> str:
    from spiders.durations import format_duration

    return format_duration(outlet.interval) if outlet.interval else "default"
