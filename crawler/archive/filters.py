"""The search filters people type, checked once for the CLI, the web UI and the API.

Every value is bounded here, at the door: an out-of-range number or a control character is one
UsageError naming the parameter, never an OverflowError or a database error further down.
"""

import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo

from sqlalchemy import select

from crawler.archive.since import parse_since
from crawler.config.errors import UsageError
from spiders.outlets import Outlet
from storage.db import Database
from storage.models import ArticleRow
from storage.queries import ArticleFilter

MAX_OFFSET = 1_000_000_000
MAX_ID = 2**63 - 1  # the databases' BIGINT
MAX_TEXT = 200  # topic, outlet and language ids are short
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_text(value: str | None, name: str, limit: int = MAX_TEXT) -> str | None:
    """A short text filter, or None when empty; control characters (NUL...) are refused."""
    if not value:
        return None
    if _CONTROL.search(value):
        raise UsageError(f"{name}: contains a control character; remove it")
    if len(value) > limit:
        raise UsageError(f"{name}: longer than {limit} characters")
    return value


def whole_number(value: str | int, name: str, low: int, high: int) -> int:
    """`value` as an int from `low` to `high`, or a UsageError saying which range."""
    try:
        # int() of a long digit string is slow (and capped by Python); no valid one is long.
        number = int(value) if isinstance(value, int) or len(value) <= 20 else None
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise UsageError(f"{name}: must be a whole number from {low} to {high} (got {value!r:.40})")
    return number


def article_id(value: str | int) -> int:
    """An article id as typed in a URL or on the command line."""
    return whole_number(value, "article id", 1, MAX_ID)


def article_filter(
    now: datetime,
    *,
    query: str | None = None,
    topic: str | None = None,
    outlet: str | None = None,
    since: str | None = None,
    until: str | None = None,
    min_score: float | None = None,
    language: str | None = None,
    limit: int = 20,
    offset: int = 0,
    since_name: str = "--since",
    until_name: str = "--until",
    zone: tzinfo = UTC,
) -> ArticleFilter:
    """An ArticleFilter from what a person typed; UsageError (CLI exit 2, HTTP 400) when a
    value is malformed or out of range."""
    if min_score is not None and not math.isfinite(min_score):
        raise UsageError("min score: must be a finite number")
    if not 0 <= offset <= MAX_OFFSET:
        raise UsageError(f"offset: must be from 0 to {MAX_OFFSET}")
    start = parse_since(clean_text(since, since_name), now, since_name, zone)
    end = parse_since(clean_text(until, until_name), now, until_name, zone)
    if start is not None and end is not None and start >= end:
        # An empty window would list nothing and look like "no articles": say so instead.
        raise UsageError(
            f"{since_name} {since} is not before {until_name} {until}, so nothing can match; "
            "swap them or widen the range"
        )
    return ArticleFilter(
        query=query or None,
        topic=clean_text(topic, "topic"),
        outlet=clean_text(outlet, "outlet"),
        since=start,
        until=end,
        min_score=min_score,
        language=clean_text(language, "language"),
        limit=limit,
        offset=offset,
    )


def one_of(value: str | None, valid: Iterable[str], name: str, what: str) -> str | None:
    """`value` if it is one of `valid`; else a UsageError listing them, since an unknown id
    would otherwise give an empty result that looks like "nothing found"."""
    value = clean_text(value, name)
    if value is None:
        return None
    choices = sorted(set(valid))
    if value in choices:
        return value
    listed = ", ".join(choices[:60]) + (
        f" (and {len(choices) - 60} more)" if len(choices) > 60 else ""
    )
    raise UsageError(
        f"{name}: unknown {what} {value!r:.60}; use one of: {listed or '(none configured)'}"
    )


def known_filters(
    topic: str | None,
    outlet: str | None,
    language: str | None,
    *,
    topics: Iterable[str],
    outlets: Iterable[Outlet],
    stored: Callable[[], tuple[list[str], list[str]]],
    prefix: str = "",
) -> tuple[str | None, str | None, str | None]:
    """The topic, outlet and language filters, each checked with one_of: a configured topic;
    an outlet in use or found in stored articles; one of their languages (lowercased). The
    same for `mediawatch search` (prefix "--") and every web search (no prefix). `stored`
    gives the stored articles' outlet ids and languages; it is called only when an outlet or a
    language is asked for."""
    topic = one_of(topic, topics, f"{prefix}topic", "topic")
    if not outlet and not language:
        return topic, None, None
    stored_outlets, stored_languages = stored()
    outlets = list(outlets)
    outlet = one_of(
        outlet, [*(o.id for o in outlets), *stored_outlets], f"{prefix}outlet", "outlet"
    )
    language = one_of(
        language.lower() if language else None,
        [*(o.language for o in outlets), *stored_languages],
        f"{prefix}language",
        "language code",
    )
    return topic, outlet, language


_LOWER_OPERATOR = re.compile(r"\S\s+(or|not)\s+\S")


def operator_hint(query: str | None) -> str | None:
    """A hint when a query has lowercase `or`/`not` between words, which are searched as
    words: said when nothing was found, the likely reason."""
    if not query:
        return None
    unquoted = re.sub(r'"[^"]*"', '"x"', query)
    found = _LOWER_OPERATOR.search(unquoted)
    if found is None:
        return None
    word = found.group(1)
    return (
        f"hint: lowercase {word!r} is searched as a word; write {word.upper()} for the operator "
        f"(e.g. {'fatf OR cpec' if word == 'or' else 'fatf NOT cricket'})"
    )


def stored_values(db: Database) -> tuple[list[str], list[str]]:
    """The outlet ids and languages of stored articles: valid filters even for an outlet no
    longer in the configuration."""
    with db.read() as session:
        outlets = session.scalars(select(ArticleRow.outlet_id).distinct()).all()
        languages = session.scalars(select(ArticleRow.language).distinct()).all()
    return [o for o in outlets if o], [lang for lang in languages if lang]
