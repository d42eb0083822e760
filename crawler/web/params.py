"""The search parameters of a web request (the search page, the JSON API, the CSV export and
the search feed), read in one place so that a URL means the same search everywhere and the
same as `mediawatch search`: dates without a zone are read in the display zone."""

import time
from collections.abc import Mapping
from datetime import datetime, tzinfo

from crawler.archive.filters import article_filter, known_filters, stored_values, whole_number
from crawler.config import Config
from crawler.config.errors import UsageError
from storage.db import Database
from storage.queries import ArticleFilter

SEARCH_PARAMS = ("q", "topic", "outlet", "since", "until", "min_score", "language")
MAX_PAGE = 1_000_000
MAX_LIMIT = 500


def search_filter(
    params: Mapping[str, str], now: datetime, zone: tzinfo, limit: int, paged: bool = True
) -> ArticleFilter:
    """An ArticleFilter from a query string; UsageError (a 400) for any malformed value.

    `zone` is the display zone ([web] timezone). With `paged`, `page` and `limit` are read
    too (`limit` is then the default page size); a feed takes `limit` rows from the first."""
    min_score = params.get("min_score")
    try:
        score = float(min_score[:40]) if min_score else None
    except ValueError:
        raise UsageError("min_score: must be a number") from None
    offset = 0
    if paged:
        page = whole_number(params.get("page") or 1, "page", 1, MAX_PAGE)
        limit = whole_number(params.get("limit") or limit, "limit", 1, MAX_LIMIT)
        offset = (page - 1) * limit
    return article_filter(
        now,
        query=params.get("q"),
        topic=params.get("topic"),
        outlet=params.get("outlet"),
        since=params.get("since"),
        until=params.get("until"),
        min_score=score,
        language=params.get("language"),
        limit=limit,
        offset=offset,
        since_name="since",
        until_name="until",
        zone=zone,
    )


class KnownFilters:
    """A request's topic, outlet and language, checked as `mediawatch search` checks them: an
    unknown one is a UsageError (a 400) naming it and the valid values, since a typo in a
    bookmark would otherwise find nothing and look like an empty archive.

    The stored articles' outlet ids and languages (two DISTINCT scans) are read at most once
    every STORED_MAX_AGE seconds, and read again before a value not among them is refused
    (at most once every FRESH_AT_MOST seconds: a stream of bogus values is not a stream of
    full scans), so one stored a moment ago is valid within seconds."""

    STORED_MAX_AGE = 60.0
    FRESH_AT_MOST = 5.0

    def __init__(self, config: Config, db: Database) -> None:
        self.db = db
        self.topics = [t.id for t in config.topics]
        self.outlets = config.active_outlets()
        self._stored: tuple[float, list[str], list[str]] = (float("-inf"), [], [])

    def stored(self, max_age: float = STORED_MAX_AGE) -> tuple[list[str], list[str]]:
        """The stored articles' outlet ids and languages, at most `max_age` seconds old."""
        read_at, outlets, languages = self._stored
        if time.monotonic() - read_at > max_age:
            outlets, languages = stored_values(self.db)
            self._stored = (time.monotonic(), outlets, languages)
        return outlets, languages

    def check(self, params: Mapping[str, str]) -> dict[str, str]:
        """`params` with its topic, outlet and language checked (the language lowercased)."""
        asked = params.get("topic"), params.get("outlet"), params.get("language")
        try:
            checked = self._check(*asked, fresh=False)
        except UsageError:
            checked = self._check(*asked, fresh=True)
        names = ("topic", "outlet", "language")
        return {**params, **{k: v for k, v in zip(names, checked, strict=True) if v}}

    def _check(
        self, topic: str | None, outlet: str | None, language: str | None, fresh: bool
    ) -> tuple[str | None, str | None, str | None]:
        return known_filters(
            topic,
            outlet,
            language,
            topics=self.topics,
            outlets=self.outlets,
            stored=lambda: self.stored(self.FRESH_AT_MOST if fresh else self.STORED_MAX_AGE),
        )
