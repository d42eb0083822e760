"""What spiders yield and pipelines fill in, one field group per step."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class TermCount(Protocol):
    """One term's mentions as ScorePipeline records them (alerts.rules.TermMatch has them).

    A Protocol because spiders know nothing of alerts; it says what StorePipeline may read.
    """

    @property
    def topic(self) -> str: ...
    @property
    def term(self) -> str: ...
    @property
    def title_count(self) -> int: ...
    @property
    def text_count(self) -> int: ...


class PageText(Protocol):
    """What extraction found in a page (crawler.extraction.page.Extracted has it)."""

    @property
    def title(self) -> str: ...
    @property
    def author(self) -> str | None: ...
    @property
    def published(self) -> datetime | None: ...
    @property
    def text(self) -> str: ...
    @property
    def language(self) -> str | None: ...
    @property
    def site_name(self) -> str | None: ...
    @property
    def canonical_url(self) -> str | None: ...
    @property
    def simhash(self) -> int: ...
    @property
    def date_declared(self) -> bool: ...


@dataclass
class ArticlePage:
    """A fetched article page, then (filled in by the pipelines) the article made of it."""

    outlet_id: str
    url: str
    requested_url: str
    html: str
    discovered_via: str
    source_url: str
    hint_title: str | None = None
    hint_published: datetime | None = None
    hint_date_source: str | None = None
    redirect_urls: list[str] = field(default_factory=list)
    # the feed, sitemap or listing page that announced it, as the run's SourceLedger names it
    ledger_key: str | None = None
    # the page's validators, sent back when it is re-checked (spiders.recheck)
    etag: str | None = None
    last_modified: str | None = None
    # filled in by ExtractPipeline
    extracted: PageText | None = None
    # filled in by ArticlePipeline: the fetched URL cleaned, and the one the article is filed
    # under (its canonical link's, when believed: spiders.identity)
    own_url: str | None = None
    canonical_url: str | None = None
    canonical_refused: bool = False  # StorePipeline found another article stored there
    url_key: str | None = None
    aliases: list[str] = field(default_factory=list)
    published: datetime | None = None
    date_source: str = "none"
    # filled in by ScorePipeline
    matches: Sequence[TermCount] = ()
    score: float = 0.0


class DeadLinkKind(StrEnum):
    """Why an article URL is dead; the pipeline remembers it under the same word."""

    GONE = "gone"  # HTTP 404 or 410
    TOO_LARGE = "too_large"
    ROBOTS = "robots"  # disallowed by robots.txt


@dataclass
class DeadLink:
    """An article URL that will not work next time either (404, 410, too large, robots.txt).

    Remembered so it is not fetched again; the failure itself is counted by the spider.
    """

    outlet_id: str
    url: str
    outcome: DeadLinkKind
