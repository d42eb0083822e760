"""What spiders yield and pipelines fill in, one field group per step."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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
    # filled in by ExtractPipeline
    extracted: Any = None
    # filled in by ArticlePipeline
    canonical_url: str | None = None
    url_key: str | None = None
    aliases: list[str] = field(default_factory=list)
    published: datetime | None = None
    date_source: str = "none"
    # filled in by ScorePipeline
    matches: list[Any] = field(default_factory=list)
    score: float = 0.0


@dataclass
class DeadLink:
    """An article URL that will not work next time either (404, 410, too large, robots.txt).

    Remembered so it is not fetched again; the failure itself is counted by the spider.
    """

    outlet_id: str
    url: str
    outcome: str
