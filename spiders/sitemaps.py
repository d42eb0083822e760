"""Sitemaps, sitemap indexes and Google News sitemaps, parsed without entity expansion.

Scrapy's own sitemap parser drops the `news:` children (publication date and title), which
are the best hints a news site gives before its page is fetched.
"""

import gzip
import io
import zlib
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from spiders.dates import parse_date
from spiders.feeds import strip_doctypes, valid_charrefs

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemap protocol's own limit, uncompressed
_NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"


@dataclass(frozen=True)
class SitemapEntry:
    """One URL in a sitemap, with the best date it gives."""

    url: str
    published: datetime | None
    title: str | None
    date_source: str  # "sitemap-news" or "sitemap-lastmod"


@dataclass(frozen=True)
class ParsedSitemap:
    """A sitemap's entries, or its child sitemaps for an index."""

    kind: str  # "urlset", "index", or "invalid"
    entries: list[SitemapEntry]
    truncated: bool = False  # it had more than max_entries: the rest was not read


_KINDS = {"urlset": ("urlset", "url"), "sitemapindex": ("index", "sitemap")}


# A news sitemap's <url> holds about eight elements (loc, lastmod, news:*); each gives two
# parser events. Past this many events per wanted entry, what is left is junk.
EVENTS_PER_ENTRY = 40


def parse_sitemap(body: bytes, max_entries: int | None = None) -> ParsedSitemap:
    """A <urlset> gives article entries, a <sitemapindex> child sitemaps; else "invalid".

    Read incrementally, each entry dropped from the tree once read (a 50 MB sitemap never
    becomes a tree in memory), stopping after `max_entries`; no entity expansion, no DTD, no
    network. What a broken document gave before its error is kept.
    """
    # libxml2 stops reading (silently, with recover=True) at a "billion laughs" reference,
    # which lost every entry after it; without the DOCTYPE the reference is just dropped.
    body = valid_charrefs(strip_doctypes(body))
    events = etree.iterparse(
        io.BytesIO(body),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        recover=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        load_dtd=False,
    )
    root: etree._Element | None = None
    kind, child = "invalid", ""
    entries: list[SitemapEntry] = []
    # Every element read counts, not only good entries: 50 MB of empty or nested junk would
    # otherwise be read to its end (tens of seconds) for nothing.
    budget = None if max_entries is None else max_entries * EVENTS_PER_ENTRY
    try:
        for read, (event, el) in enumerate(events):
            if budget is not None and read >= budget:
                return ParsedSitemap(kind, entries, truncated=True)
            if root is None:
                root = el
                kind, child = _KINDS.get(_localname(el), ("invalid", ""))
                if kind == "invalid":
                    return ParsedSitemap("invalid", [])
                continue
            if event != "end" or el.getparent() is not root:
                continue
            if max_entries is not None and len(entries) >= max_entries:
                return ParsedSitemap(kind, entries, truncated=True)
            if _localname(el) == child and (entry := _entry_or_none(el)):
                entries.append(entry)
            el.clear()
            while el.getprevious() is not None:
                del root[0]
    except (etree.XMLSyntaxError, UnicodeDecodeError):
        pass  # even recover=True gives up on some documents: keep what was read
    return ParsedSitemap(kind, entries)


def _localname(el: etree._Element) -> str:
    # By hand: recover=True lets through tags (":", "a:") that etree.QName raises on.
    return el.tag.rpartition("}")[2] if isinstance(el.tag, str) else ""


def _entry_or_none(node: etree._Element) -> SitemapEntry | None:
    try:
        return _entry(node)
    except UnicodeDecodeError:  # recover=True keeps bytes that are not UTF-8: skip the entry
        return None


def _entry(node: etree._Element) -> SitemapEntry | None:
    loc = lastmod = news_date = news_title = None
    for el in node.iter():
        if not isinstance(el.tag, str):
            continue
        name = _localname(el)
        text = (el.text or "").strip()
        if name == "loc" and loc is None:
            loc = text
        elif name == "lastmod":
            lastmod = text
        elif el.tag == f"{_NEWS}publication_date":
            news_date = text
        elif el.tag == f"{_NEWS}title":
            news_title = text
    if not loc:
        return None
    if news_date and (published := parse_date(news_date)):
        return SitemapEntry(loc, published, news_title or None, "sitemap-news")
    return SitemapEntry(loc, parse_date(lastmod), news_title or None, "sitemap-lastmod")


class UnreadableSitemap(ValueError):
    """A .gz sitemap that is broken (counted as `parse`) or a gzip bomb (`too_large`)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def unpack_sitemap(body: bytes) -> bytes:
    """The sitemap's XML, gunzipped when it is a .gz file (Scrapy only undoes Content-Encoding),
    never more than MAX_SITEMAP_BYTES of it in memory."""
    if not body.startswith(b"\x1f\x8b"):
        return body
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as f:
            data = f.read(MAX_SITEMAP_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:  # zlib.error: a corrupt deflate stream
        raise UnreadableSitemap("parse", f"gzip sitemap could not be read: {exc}") from exc
    if len(data) > MAX_SITEMAP_BYTES:
        raise UnreadableSitemap(
            "too_large",
            f"gzip sitemap unpacks past {MAX_SITEMAP_BYTES // (1024 * 1024)} MB "
            f"({len(body)} bytes packed)",
        )
    return data


def read_sitemap_body(body: bytes) -> bytes | None:
    """unpack_sitemap, or None when the gzip is broken or unpacks past MAX_SITEMAP_BYTES."""
    try:
        return unpack_sitemap(body)
    except UnreadableSitemap:
        return None
