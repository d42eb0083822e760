"""Re-checks: a stored article fetched again to look for edits, conditionally.

The crawler hands the spider its outlet's due re-checks (spiders never read the database);
each becomes a request carrying the page's validators (If-None-Match / If-Modified-Since).
A 304 answer means unchanged and nothing is stored; a page goes through the pipelines as a
RecheckPage, which StorePipeline compares with the stored version.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from scrapy import Request
from scrapy.http import Response

from spiders.items import ArticlePage

# A validator is sent back verbatim in a header: printable ASCII only, and bounded.
_HEADER_SAFE = re.compile(r"^[\x20-\x7e]{1,256}$")
MAX_LAST_MODIFIED = 64


@dataclass(frozen=True)
class Recheck:
    """A stored article to fetch again, with the validators its page last gave."""

    article_id: int
    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class RecheckPage(ArticlePage):
    """A stored article's page fetched again, for the pipelines to compare and store."""

    article_id: int = 0

    @classmethod
    def of(cls, page: ArticlePage, article_id: int) -> "RecheckPage":
        """`page` as the re-check of article `article_id`."""
        values = {f.name: getattr(page, f.name) for f in fields(ArticlePage)}
        return cls(**values, article_id=article_id)


def _header(response: Response, name: str, limit: int) -> str | None:
    raw = response.headers.get(name)
    if not raw:
        return None
    value = raw.decode("latin-1").strip()
    return value if _HEADER_SAFE.match(value) and len(value) <= limit else None


def page_validators(response: Response) -> tuple[str | None, str | None]:
    """The page's ETag and Last-Modified (None when absent or unfit to send back)."""
    return (
        _header(response, "ETag", 256),
        _header(response, "Last-Modified", MAX_LAST_MODIFIED),
    )


def recheck_request(
    recheck: Recheck, callback: Callable[..., Any], errback: Callable[..., Any]
) -> Request:
    """The conditional request for one re-check. It is an ordinary request of the outlet's
    crawl (robots.txt, delays, the network guard, max_articles_per_run all apply); only a
    304 is let through to the callback besides the usual 2xx."""
    headers = {}
    if recheck.etag:
        headers["If-None-Match"] = recheck.etag
    if recheck.last_modified:
        headers["If-Modified-Since"] = recheck.last_modified
    return Request(
        recheck.url,
        callback=callback,
        errback=errback,
        headers=headers,
        # The feed may list the URL again this run; that request is the known-URL check's.
        dont_filter=True,
        meta={
            "handle_httpstatus_list": [304],
            "mediawatch": {
                "role": "recheck",
                "article_id": recheck.article_id,
                "via": "recheck",
                "source": recheck.url,
                "title": None,
                "published": None,
                "date_source": None,
            },
        },
    )
