"""The search parameters of a web request (the search page, the JSON API, the CSV export and
the search feed), read in one place so that a URL means the same search everywhere and the
same as `mediawatch search`: dates without a zone are read in the display zone."""

from collections.abc import Mapping
from datetime import datetime, tzinfo

from crawler.archive.filters import article_filter, whole_number
from crawler.config.errors import UsageError
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
