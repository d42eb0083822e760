"""Conditional requests for feeds and sitemaps, and the ledger that says when it is safe to
skip an unchanged source next time.

A source may be answered 304 next run only if every article it announced this run was dealt
with for good (stored, known, too old, a permanent dead link). An article postponed by the
per-run budget, a timeout or a page that could not be stored is still waiting: its source keeps
no validators, so the next run reads it in full and finds that article again. The crawler
(not the spider) loads and saves validators; the spider only reads and fills this ledger.
"""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from spiders.dates import parse_date


@dataclass(frozen=True)
class Validators:
    """What a source's last full answer gave: ETag, Last-Modified, and a sitemap index's
    children (url, lastmod) to read again when the index answers 304."""

    etag: str | None = None
    last_modified: str | None = None
    children: tuple[tuple[str, datetime | None], ...] | None = None

    def headers(self) -> dict[str, str]:
        """The conditional request headers these validators allow."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers

    def children_as_json(self) -> list[list[str | None]] | None:
        if self.children is None:
            return None
        return [[url, d.isoformat() if d else None] for url, d in self.children]

    @staticmethod
    def children_from_json(data: object) -> tuple[tuple[str, datetime | None], ...] | None:
        """Children as stored; anything malformed is no children (the index is read in full)."""
        if not isinstance(data, list):
            return None
        out = []
        for item in data:
            if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
                out.append((item[0], parse_date(item[1]) if isinstance(item[1], str) else None))
        return tuple(out)


class SourceLedger:
    """Per run: the validators a crawl starts from, what each source answered, and whether the
    articles each source announced were all settled."""

    def __init__(self, known: Mapping[str, Validators] | None = None) -> None:
        self.known: dict[str, Validators] = dict(known or {})
        self.fetched: dict[str, Validators] = {}  # answered in full (200)
        self.unchanged: set[str] = set()  # answered 304
        self.pending: Counter[str] = Counter()  # article requests not yet settled
        self.unsettled: set[str] = set()  # an article of theirs is still waiting

    def headers_for(self, url: str) -> dict[str, str]:
        """Conditional headers for `url`, if the last run left validators for it."""
        known = self.known.get(url)
        return known.headers() if known else {}

    def answered(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """`url` was read in full; its new validators (if it gave any)."""
        self.fetched[url] = Validators(etag or None, last_modified or None)

    def listed_children(self, url: str, children: list[tuple[str, datetime | None]]) -> None:
        """The sitemap index at `url` listed these children, remembered for a 304 next run."""
        if url in self.fetched:
            old = self.fetched[url]
            self.fetched[url] = Validators(old.etag, old.last_modified, tuple(children))

    def announced(self, source: str) -> None:
        """`source` announced one more article, fetched (or dropped) later."""
        self.pending[source] += 1

    def settled(self, source: str | None, for_good: bool) -> None:
        """One article of `source` is dealt with; `for_good` False when a later run must find it
        again (postponed, failed, not stored)."""
        if source is None:
            return
        self.pending[source] -= 1
        if not for_good:
            self.unsettled.add(source)

    def is_settled(self, source: str) -> bool:
        """Every article `source` announced this run is dealt with for good."""
        return self.pending[source] <= 0 and source not in self.unsettled

    def to_remember(self) -> dict[str, Validators]:
        """Validators worth keeping: sources read in full whose articles are all settled and
        that gave an ETag or a Last-Modified."""
        return {
            url: v
            for url, v in self.fetched.items()
            if self.is_settled(url) and (v.etag or v.last_modified)
        }

    def to_forget(self) -> set[str]:
        """Sources whose stored validators must go: read in full with something left waiting
        (or with no validators to keep)."""
        return set(self.fetched) - set(self.to_remember())
