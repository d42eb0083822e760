"""Sitemaps, sitemap indexes and Google News sitemaps, parsed without entity expansion.

Scrapy's own sitemap parser drops the `news:` children (publication date and title), which
are the best hints a news site gives before its page is fetched.
"""

import gzip
import io
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from spiders.dates import parse_date

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


def parse_sitemap(body: bytes, max_entries: int | None = None) -> ParsedSitemap:
    """A <urlset> gives article entries, a <sitemapindex> child sitemaps; else "invalid".

    Read incrementally, each entry dropped from the tree once read (a 50 MB sitemap never
    becomes a tree in memory), stopping after `max_entries`; no entity expansion, no DTD, no
    network. What a broken document gave before its error is kept.
    """
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
    try:
        for event, el in events:
            if root is None:
                root = el
                kind, child = _KINDS.get(_localname(el), ("invalid", ""))
                if kind == "invalid":
                    return ParsedSitemap("invalid", [])
                continue
            if event != "end" or el.getparent() is not root:
                continue
            if _localname(el) == child and (entry := _entry(el)):
                if max_entries is not None and len(entries) >= max_entries:
                    return ParsedSitemap(kind, entries, truncated=True)
                entries.append(entry)
            el.clear()
            while el.getprevious() is not None:
                del root[0]
    except etree.XMLSyntaxError:
        pass  # even recover=True gives up on some documents: keep what was read
    return ParsedSitemap(kind, entries)


def _localname(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _entry(node: etree._Element) -> SitemapEntry | None:
    loc = lastmod = news_date = news_title = None
    for el in node.iter():
        if not isinstance(el.tag, str):
            continue
        name = etree.QName(el).localname
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


def read_sitemap_body(body: bytes) -> bytes | None:
    """The sitemap's XML, gunzipped when it is a .gz file (Scrapy only undoes Content-Encoding);
    None when the gzip is broken or unpacks past MAX_SITEMAP_BYTES."""
    if not body.startswith(b"\x1f\x8b"):
        return body
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as f:
            data = f.read(MAX_SITEMAP_BYTES + 1)
    except (OSError, EOFError):
        return None
    return data if len(data) <= MAX_SITEMAP_BYTES else None
