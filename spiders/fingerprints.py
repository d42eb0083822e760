"""One request per article per crawl, however many feeds, sitemaps and listings name it.

Scrapy's duplicate filter compares request fingerprints; this fingerprinter gives every
spelling of one article URL (tracking parameters, fragments, www., a trailing slash) the
same fingerprint, so a page linked from the RSS feed, the Atom feed and the section page is
fetched once even when the three requests are in flight together.
"""

import hashlib
from typing import Any

from scrapy import Request
from scrapy.utils.request import RequestFingerprinter

from spiders.urls import url_key


class ArticleFingerprinter:
    """Article requests fingerprinted by URL key; everything else as Scrapy does."""

    def __init__(self, crawler: Any = None) -> None:
        self._default = RequestFingerprinter(crawler)

    @classmethod
    def from_crawler(cls, crawler: Any) -> "ArticleFingerprinter":
        return cls(crawler)

    def fingerprint(self, request: Request) -> bytes:
        if request.meta.get("mediawatch", {}).get("role") == "article":
            return hashlib.sha1(b"article:" + url_key(request.url).encode()).digest()
        return self._default.fingerprint(request)
