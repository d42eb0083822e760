"""Atom 1.0 feeds of the archive: one per topic, one per search, for any feed reader.

`GET /feeds/topics/{id}.atom` and `GET /feeds/search.atom?q=...&topic=...` (the search page's
parameters): the newest stories first, by publication date (first seen where a page gives
none), at most MAX_ENTRIES, a story and its near-duplicates once; an entry's `updated` is its
article's last edit, so a reader shows an edited piece again. The XML is built by lxml,
never by pasting strings, so a hostile title cannot close a tag; characters XML cannot hold
(NUL and other controls) are dropped. With a `[web] token` the feeds ask for it like every
page, and a feed reader can give it as a basic-auth password with any user name.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from lxml import etree
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from alerts.query import CompiledQuery
from alerts.render import safe_link
from alerts.rules import RuleSet
from alerts.snippets import snippet
from crawler.archive.clock import display_zone
from crawler.archive.filters import article_filter
from crawler.archive.reader import Archive
from crawler.config import Config
from crawler.config.errors import MediawatchError
from crawler.web.params import SEARCH_PARAMS, KnownFilters, search_filter
from storage.models import ArticleRow
from storage.queries import ArticleFilter, count_articles, list_articles
from storage.querylang import QuerySyntaxError, parse_query
from storage.search import WINDOW, count_matches, search

ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
MAX_ENTRIES = 50
BATCH = 200  # rows read at a time while collecting stories (copies collapse to one)
# XML 1.0 has no place for most control characters: a page's NUL would make lxml refuse.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def search_feed_url(params: Mapping[str, str]) -> str:
    """The Atom feed of a search page: its search parameters (not its page or limit)."""
    kept = [(k, params[k]) for k in SEARCH_PARAMS if params.get(k)]
    return "/feeds/search.atom" + (f"?{urlencode(kept)}" if kept else "")


def xml_text(value: str | None) -> str:
    """Text fit for XML 1.0 (lxml escapes <, & and quotes itself)."""
    return _NOT_XML.sub("", value or "")


def story_of(row: ArticleRow) -> int:
    """The story an article belongs to: its first copy's id."""
    return row.duplicate_of_id or row.id


def newest(row: ArticleRow) -> datetime:
    """What "newest first" sorts by: the publication date, else when it was first seen."""
    return row.published or row.first_seen


def last_changed(row: ArticleRow) -> datetime:
    """An entry's Atom `updated`: when the article was last edited (storage/versions.py keeps
    the versions), else its publication date or when it was first seen."""
    return row.edited_at or newest(row)


def newest_stories(rows: list[ArticleRow], limit: int = MAX_ENTRIES) -> list[ArticleRow]:
    """One article per story (its earliest stored copy among `rows`, so the entry does not
    change when another copy turns up), newest first, at most `limit`."""
    first: dict[int, ArticleRow] = {}
    for row in rows:
        story = story_of(row)
        if story not in first or row.id < first[story].id:
            first[story] = row
    ordered = sorted(first.values(), key=lambda r: (newest(r), r.id), reverse=True)
    return ordered[:limit]


def feed_articles(session: Session, f: ArticleFilter, now: datetime) -> list[ArticleRow]:
    """The feed's articles, newest MAX_ENTRIES stories.

    Without a query: the filters' newest rows, read in batches until that many stories are
    held. With one, the rule matcher decides, as for every search; which rows it reads depends
    on how common the query is in the archive. A common one is read like the above,
    newest first, keeping what the matcher confirms: 50 stories come within a few batches. A
    rare one is asked of the full-text index, whose candidates are few; reading newest first
    would pass over many rows for each match."""
    node = parse_query(f.query) if f.query and f.query.strip() else None
    if node is None:
        return _newest_rows(session, f)
    confirm = CompiledQuery(node).matches
    # How common the query is, from the index's count over the whole archive (unconfirmed and
    # unfiltered: cheap on both databases; a filtered count can take a second on SQLite).
    everything = ArticleFilter(limit=1)
    candidates = count_matches(session, node, everything)
    if candidates * WINDOW >= MAX_ENTRIES * count_articles(session, everything):
        rows = _newest_rows(session, f, confirm)
        if len(rows) >= MAX_ENTRIES:
            return rows
    hits = search(session, node, replace(f, limit=WINDOW, offset=0), now, confirm)
    return newest_stories([hit.article for hit in hits])


def _newest_rows(
    session: Session, f: ArticleFilter, confirm: Callable[[str, str], bool] | None = None
) -> list[ArticleRow]:
    """The newest stories passing the filters (and `confirm`), from at most WINDOW rows."""
    rows: list[ArticleRow] = []
    for offset in range(0, WINDOW, BATCH):
        batch = list_articles(session, replace(f, query=None, limit=BATCH, offset=offset))
        rows.extend(r for r in batch if confirm is None or confirm(r.title or "", r.text or ""))
        # Rows come newest first: once MAX_ENTRIES stories are held, later rows are older
        # than every one of them and cannot displace any.
        if len(batch) < BATCH or len(newest_stories(rows)) >= MAX_ENTRIES:
            break
    return newest_stories(rows)


def entry_summary(row: ArticleRow, rules: RuleSet) -> str:
    """A short plain-text window of the article around what its topics matched."""
    topics = sorted({m.topic for m in row.matches})
    return snippet(row.text, rules.highlight_patterns(topics))


def _aware(value: datetime) -> datetime:
    """A stored time as an aware one (SQLite gives them back naive; they are UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    """RFC 3339, as Atom wants (stored times are UTC)."""
    return _aware(value).astimezone(UTC).isoformat().replace("+00:00", "Z")


def atom_feed(
    *,
    feed_id: str,
    title: str,
    self_url: str,
    page_url: str,
    rows: list[ArticleRow],
    snippet: Callable[[ArticleRow], str],
    outlets: dict[str, str],
    topics: dict[str, str],
    base_url: str,
    now: datetime,
) -> bytes:
    """The Atom 1.0 document for `rows` (already newest first)."""
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})

    def add(parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
        element = etree.SubElement(
            parent, f"{{{ATOM}}}{tag}", {k: xml_text(v) for k, v in attrs.items()}
        )
        if text is not None:
            element.text = xml_text(text)
        return element

    add(feed, "id", feed_id)
    add(feed, "title", title)
    add(feed, "updated", _iso(max((last_changed(r) for r in rows), key=_aware, default=now)))
    add(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    add(feed, "link", rel="alternate", type="text/html", href=page_url)
    add(add(feed, "author"), "name", "mediawatch")
    add(feed, "generator", "mediawatch")
    for row in rows:
        entry = add(feed, "entry")
        add(entry, "id", f"tag:mediawatch,2026:story/{story_of(row)}")
        add(entry, "title", row.title or row.url)
        add(entry, "updated", _iso(last_changed(row)))
        if row.published:
            add(entry, "published", _iso(row.published))
        local = f"{base_url}/articles/{row.id}"
        add(entry, "link", rel="alternate", type="text/html", href=safe_link(row.url) or local)
        add(entry, "link", rel="related", type="text/html", href=local)
        outlet = outlets.get(row.outlet_id, row.outlet_id)
        add(add(entry, "author"), "name", row.author or outlet)
        for topic in sorted({m.topic for m in row.matches}):
            add(entry, "category", term=topic, label=topics.get(topic, topic))
        add(entry, "summary", f"{outlet}: {snippet(row)}", type="text")
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8")


class Feeds:
    """The two feed routes over one Archive (handlers run in Starlette's thread pool)."""

    def __init__(self, config: Config, archive: Archive, known: KnownFilters) -> None:
        self.archive = archive
        self.known = known
        self.zone = display_zone(config)
        self.topic_names = {t.id: t.name for t in config.topics}
        self.outlets = {o.id: o.name for o in config.active_outlets()}

    def routes(self) -> list[Route | Mount]:
        """The feed routes, added to the web UI's."""
        return [
            Route("/feeds/topics/{topic_id}.atom", self.topic_feed),
            Route("/feeds/search.atom", self.search_feed),
        ]

    def topic_feed(self, request: Request) -> Response:
        """`/feeds/topics/{id}.atom`: the topic's newest stories; 404 for an unknown topic."""
        topic = request.path_params["topic_id"]
        if topic not in self.topic_names:
            known = ", ".join(sorted(self.topic_names)) or "(none configured)"
            return PlainTextResponse(f"no such topic; topics are: {known}", status_code=404)
        now = datetime.now(UTC)
        f = article_filter(now, topic=topic, limit=BATCH)
        return self._feed(
            request,
            f,
            now,
            f"tag:mediawatch,2026:topic/{topic}",
            f"mediawatch: {self.topic_names[topic]}",
            f"/?topic={topic}",
        )

    def search_feed(self, request: Request) -> Response:
        """`/feeds/search.atom`: a search's newest stories; 400 for a malformed parameter."""
        now = datetime.now(UTC)
        params = {k: v for k in SEARCH_PARAMS if (v := request.query_params.get(k))}
        try:
            params = self.known.check(params)
            f = search_filter(params, now, self.zone, BATCH, paged=False)
        except MediawatchError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        query = urlencode(sorted(params.items()))
        described = ", ".join(f"{k} {v}" for k, v in params.items()) or "all articles"
        return self._feed(
            request,
            f,
            now,
            f"tag:mediawatch,2026:search?{query}",
            f"mediawatch: {described}",
            f"/?{query}",
        )

    def _feed(
        self,
        request: Request,
        f: ArticleFilter,
        now: datetime,
        feed_id: str,
        title: str,
        page: str,
    ) -> Response:
        base = str(request.base_url).rstrip("/")
        rules = self.archive.rules
        try:
            with self.archive.db.read() as session:
                body = atom_feed(
                    feed_id=feed_id,
                    title=title,
                    self_url=str(request.url),
                    page_url=base + page,
                    rows=feed_articles(session, f, now),
                    snippet=lambda row: entry_summary(row, rules),
                    outlets=self.outlets,
                    topics=self.topic_names,
                    base_url=base,
                    now=now,
                )
        except QuerySyntaxError as exc:
            return PlainTextResponse(f"search query {f.query!r:.80}: {exc}", status_code=400)
        return Response(body, media_type=MEDIA_TYPE)
